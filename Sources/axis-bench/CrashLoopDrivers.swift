@preconcurrency import Glibc
import Axis
import Foundation

/// The crash loop's traffic: submitter threads that send signed documents at a fixed rate, one
/// puller thread per agency that long-polls its inbox, checks every item's bytes and acknowledges
/// it, and the coordinator's trace checks. Each driver talks to the generation the gate hands it and
/// records everything in the ledger; a failure while its generation is closed is the kill's doing.
struct CrashLoopDrivers: Sendable {
    /// A demo agency as the driver uses it: its code and the TLS identity of the system hosting it.
    struct Agency: Sendable {
        var code: String
        var algorithm: String
        var tls: TLSContext
    }

    let plan: CrashLoopPlan
    let ledger: CrashLoopLedger
    let gate: CrashLoopGate
    let pacer: CrashLoopPacer
    let agencies: [Agency]
    /// Items per inbox poll, and how long a poll waits when nothing is ready.
    let pollLimit = 50
    let pollWaitSeconds = 1

    func connect(_ agency: Int, port: UInt16) throws -> HTTPClient {
        try HTTPClient(host: "127.0.0.1", port: port, tls: agencies[agency].tls, serverName: "localhost", timeoutMillis: 60_000)
    }

    // MARK: Submitting

    /// A submitter thread: takes the next document (cut-off ones first), waits for its slot, sends
    /// it as its sender, and records the answer, until the final phase has nothing left.
    func submit() {
        var generation = 0
        while case let (g, port)? = gate.awaitLive(after: generation) {
            generation = g
            var clients: [Int: HTTPClient] = [:]
            sending: while gate.isLive(g) {
                let index: Int, signature: String
                switch ledger.take() {
                case .done: return
                case .idle: break sending
                case .document(let i, let s): (index, signature) = (i, s)
                }
                pacer.waitForSlot()
                guard gate.isLive(g) else {
                    ledger.notSent(index)
                    break sending
                }
                let document = plan.document(index)
                let request = HTTPClientRequest.post("/v1/documents", headers: [
                    ("Axis-From", agencies[document.sender].code),
                    ("Axis-To", document.recipients.map { agencies[$0].code }.joined(separator: ",")),
                    ("Axis-Document-Id", document.senderDocumentID),
                    ("Axis-Signature", signature),
                    ("Content-Type", "application/octet-stream"),
                ], body: plan.body(document))
                do {
                    let client: HTTPClient
                    if let open = clients[document.sender], open.isOpen {
                        client = open
                    } else {
                        client = try connect(document.sender, port: port)
                        clients[document.sender] = client
                    }
                    let reply = try client.send(request)
                    switch reply.status {
                    case 200, 201:
                        let object = Self.json(reply.body)
                        guard let id = (object?["id"] as? String).flatMap(DocumentID.init(hex:)) else {
                            ledger.refused(index, "HTTP \(reply.status) without an axis id: \(reply.bodyText.prefix(300))")
                            continue
                        }
                        ledger.answered(index, id: id, sha256: (object?["sha256"] as? String).flatMap(Digest256.init(hex:)),
                                        created: reply.status == 201)
                    case 503:
                        ledger.unavailable(index)
                    default:
                        ledger.refused(index, "HTTP \(reply.status): \(reply.bodyText.prefix(300))")
                    }
                } catch {
                    clients[document.sender] = nil
                    let byKill = !gate.isLive(g)
                    ledger.cutOff(index, byKill: byKill, error: "\(error)")
                    if byKill { break sending }
                }
            }
        }
    }

    // MARK: Pulling

    /// A puller thread for one agency: long-polls its inbox; for each item checks that it may
    /// exist, reads the content and compares its SHA-256 with what was sent, then acknowledges it.
    func pull(_ agency: Int) {
        let code = agencies[agency].code
        var generation = 0
        while case let (g, port)? = gate.awaitLive(after: generation) {
            generation = g
            var client: HTTPClient?
            polling: while gate.isLive(g) {
                var stage = "poll"
                var current: (index: Int, agency: Int)?
                do {
                    let c: HTTPClient
                    if let open = client, open.isOpen { c = open } else {
                        c = try connect(agency, port: port)
                        client = c
                    }
                    let listed = try c.send(.get("/v1/inbox?limit=\(pollLimit)&wait=\(pollWaitSeconds)&agency=\(code)"))
                    guard listed.status == 200, let items = Self.json(listed.body)?["items"] as? [[String: Any]] else {
                        // Not retried in this generation: a daemon that keeps refusing would only repeat it.
                        ledger.violation("\(code): inbox poll answered HTTP \(listed.status): \(listed.bodyText.prefix(300))")
                        break polling
                    }
                    for item in items {
                        current = nil
                        stage = "content"
                        guard let index = try handle(item, agency: agency, client: c) else { continue }
                        current = (index, agency)
                        stage = "ack"
                        let ack = try c.send(.post("/v1/inbox/\(item["id"] as? String ?? "")/ack?recipient=\(code)", body: []))
                        if ack.status == 200 {
                            ledger.acked(index, agency: agency, already: Self.json(ack.body)?["note"] as? String == "already acknowledged")
                        } else {
                            ledger.violation("\(code): ack of document \(index) answered HTTP \(ack.status): \(ack.bodyText.prefix(300))")
                        }
                    }
                } catch {
                    client = nil
                    if gate.isLive(g) {
                        ledger.violation("\(code): \(stage) failed while axisd was up (no kill): \(error)")
                        continue
                    }
                    switch stage {
                    case "poll": ledger.pollCutOff()
                    case "content": ledger.contentCutOff()
                    default: if let current { ledger.ackCutOff(current.index, agency: current.agency) }
                    }
                    break polling
                }
            }
        }
    }

    /// Checks one inbox item and reads its content. Returns the document index to acknowledge, or
    /// nil when the item is not to be acknowledged (a violation already recorded). axisd's own demo
    /// document is acknowledged without checks beyond its sender.
    private func handle(_ item: [String: Any], agency: Int, client: HTTPClient) throws -> Int? {
        let code = agencies[agency].code
        let idText = item["id"] as? String ?? ""
        let senderDocumentID = item["senderDocumentId"] as? String ?? ""
        guard let id = DocumentID(hex: idText), item["kind"] as? String == "document", item["recipient"] as? String == code else {
            ledger.violation("\(code): unexpected inbox item \(Self.describe(item))")
            return nil
        }
        guard let index = plan.index(of: senderDocumentID) else {
            if senderDocumentID.hasPrefix("demo-") && item["from"] as? String == Demo.agencyCodes[0] {
                ledger.demoItem()
                // Acknowledged under a pseudo index: the ledger is not involved.
                _ = try client.send(.post("/v1/inbox/\(idText)/ack?recipient=\(code)", body: []))
                return nil
            }
            ledger.violation("\(code): inbox listed a document the driver never sent: \(Self.describe(item))")
            return nil
        }
        guard let sha256 = ledger.listed(index, agency: agency, id: id) else { return nil }
        let document = plan.document(index)
        let expectedTo = document.recipients.map { agencies[$0].code }
        if item["from"] as? String != agencies[document.sender].code || item["to"] as? [String] != expectedTo
            || item["sha256"] as? String != sha256.hex {
            ledger.violation("\(code): inbox item for document \(index) has other routing or SHA-256 than sent: \(Self.describe(item))")
        }
        let content = try client.send(.get("/v1/documents/\(idText)/content"))
        guard content.status == 200 else {
            ledger.violation("\(code): content of document \(index) (\(idText)) answered HTTP \(content.status): \(content.bodyText.prefix(300))")
            return nil
        }
        let received = SHA256Hasher.digest(content.body)
        if received != sha256 || content.header("Axis-Id") != idText || content.header("Axis-Document-Id") != senderDocumentID {
            ledger.violation("\(code): content of document \(index) (\(idText)) is not what was sent: \(content.body.count) bytes, "
                + "SHA-256 \(received.hex), expected \(sha256.hex); Axis-Id \(content.header("Axis-Id") ?? "none")")
            return nil
        }
        return index
    }

    // MARK: Checking traces (the coordinator)

    /// Reads the trace of every document in `indexes` as its sender (pipelined, 64 at a time) and
    /// checks: it exists (the receipt was honoured), its facts are what was sent, and every
    /// recipient whose ack was answered 200 before the request shows `acknowledged` (with
    /// `requireAcknowledged`, every recipient must). `onStates` gets each document's recipient
    /// states by agency code. Returns how many were checked.
    @discardableResult
    func checkTraces(_ indexes: [Int], port: UInt16, when: String, requireAcknowledged: Bool = false,
                     onStates: ((Int, [String: String]) -> Void)? = nil) throws -> Int {
        var bySender: [Int: [Int]] = [:]
        for index in indexes { bySender[plan.document(index).sender, default: []].append(index) }
        var checked = 0
        for (sender, list) in bySender.sorted(by: { $0.key < $1.key }) {
            var client = try connect(sender, port: port)
            defer { client.close() }
            var start = 0
            while start < list.count {
                let batch = Array(list[start..<min(start + 64, list.count)])
                start += batch.count
                // Read before the requests: an ack answered by then must show on the trace.
                let entries = batch.map { ledger.entry($0) }
                let requests = entries.map { HTTPClientRequest.get("/v1/documents/\($0.id?.hex ?? "none")") }
                var replies: [HTTPClientResponse]
                do {
                    replies = try client.pipeline(requests)
                } catch {
                    // An error answer (a missing document's 404) closes the connection and leaves the
                    // rest of the batch unanswered: ask again one at a time, reconnecting as needed.
                    replies = []
                    for request in requests {
                        if !client.isOpen { client = try connect(sender, port: port) }
                        replies.append(try client.send(request))
                    }
                }
                for ((index, entry), reply) in zip(zip(batch, entries), replies) {
                    checked += 1
                    if let states = check(index, entry, reply, when: when, requireAcknowledged: requireAcknowledged) {
                        onStates?(index, states)
                    }
                }
            }
        }
        return checked
    }

    private func check(_ index: Int, _ entry: CrashLoopLedger.Entry, _ reply: HTTPClientResponse, when: String,
                       requireAcknowledged: Bool) -> [String: String]? {
        let idText = entry.id?.hex ?? "none"
        guard reply.status == 200, let trace = Self.json(reply.body) else {
            ledger.violation("\(when): document \(index) (\(idText)) was receipted but its trace answers HTTP \(reply.status): "
                + reply.bodyText.prefix(300))
            return nil
        }
        let document = plan.document(index)
        let expectedTo = document.recipients.map { agencies[$0].code }
        if trace["id"] as? String != idText || trace["sha256"] as? String != entry.sha256.hex
            || trace["from"] as? String != agencies[document.sender].code || trace["to"] as? [String] != expectedTo
            || trace["senderDocumentId"] as? String != document.senderDocumentID {
            ledger.violation("\(when): document \(index) (\(idText)) has other facts than were sent: \(reply.bodyText.prefix(400))")
        }
        var states: [String: String] = [:]
        for recipient in trace["recipients"] as? [[String: Any]] ?? [] {
            if let agency = recipient["agency"] as? String { states[agency] = recipient["state"] as? String ?? "" }
        }
        for agency in document.recipients {
            let code = agencies[agency].code
            let state = states[code] ?? "missing"
            if entry.acked & (1 << agency) != 0 && state != "acknowledged" {
                ledger.violation("\(when): document \(index) (\(idText)): \(code)'s ack was answered 200 but the trace shows \(state)")
            } else if requireAcknowledged && state != "acknowledged" {
                ledger.violation("\(when): document \(index) (\(idText)) is \(state) at \(code), not acknowledged")
            } else if state == "missing" || state == "unknown" {
                ledger.violation("\(when): document \(index) (\(idText)) has no delivery for \(code)")
            }
        }
        return states
    }

    // MARK: Helpers

    static func json(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }

    static func describe(_ item: [String: Any]) -> String {
        ["id", "kind", "recipient", "from", "senderDocumentId", "sha256"].map { "\($0)=\(item[$0] ?? "-")" }.joined(separator: " ")
    }
}
