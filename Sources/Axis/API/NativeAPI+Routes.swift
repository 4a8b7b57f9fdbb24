import Dispatch
import Foundation

// The native API's routes. Each `plan…` runs on the connection's loop thread at the request head:
// it checks what can be checked without the body (headers, directory, authorization) and refuses at
// once, or returns the handler that takes the body. Work that waits for disk or CPU runs elsewhere.
extension NativeAPI {
    // MARK: POST /v1/documents

    func planSubmit(_ head: HTTPRequestHead, caller: APICaller) -> HTTPRequestPlan {
        let plan = planSubmitChecked(head, caller: caller)
        if case .refuse(let error) = plan { submitObserver.rejected(error.code.rawValue) }
        return plan
    }

    private func planSubmitChecked(_ head: HTTPRequestHead, caller: APICaller) -> HTTPRequestPlan {
        // Refused here rather than by the server's body limit so that it is counted like any refusal.
        if case .contentLength(let declared) = head.bodyFraming, declared > options.documentBytesMax {
            return .refuse(.bodyTooLarge(declared: declared, limit: options.documentBytesMax))
        }
        let submission: Submission
        switch Submission.parse(head.headers) {
        case .failure(let error): return .refuse(error)
        case .success(let parsed): submission = parsed
        }
        guard caller.hosts(submission.sender) else {
            return .refuse(HTTPError(.forbidden, HTTPError.Code("not_your_agency"),
                "system \(caller.system.id) does not host \(submission.sender), so it cannot send as it "
                + "(it hosts \(caller.system.agencies.map(\.rawValue).joined(separator: ", ")))"))
        }
        let unknown = core.withState { state in submission.recipients.filter { state.agencies[$0]?.enabled != true } }
        guard unknown.isEmpty else { return .refuse(Ingress.unknownRecipients(unknown)) }
        let handler = SubmitHandler(api: self, submission: submission, caller: caller)
        return .accept(bodyLimit: options.documentBytesMax, handler: handler)
    }

    // MARK: GET /v1/inbox

    func planInbox(_ query: Query, caller: APICaller) -> HTTPRequestPlan {
        let limit: Int64, wait: Int64
        switch query.integer("limit", default: Int64(options.inboxLimitDefault), in: 1...Int64(options.inboxLimitMax)) {
        case .failure(let error): return .refuse(error)
        case .success(let value): limit = value
        }
        switch query.integer("wait", default: 0, in: 0...options.waitSecondsMax) {
        case .failure(let error): return .refuse(error)
        case .success(let value): wait = value
        }
        var agencies = caller.system.agencies
        if let named = query["agency"] {
            guard let code = try? AgencyCode(named), caller.hosts(code) else {
                return .refuse(HTTPError(.forbidden, HTTPError.Code("not_your_agency"),
                    "system \(caller.system.id) does not host '\(named.prefix(64))'; its inbox is not yours to read"))
            }
            agencies = [code]
        }
        return .accept(bodyLimit: 0, handler: InboxPoll(inbox: inbox, agencies: agencies, limit: Int(limit), waitMillis: wait * 1000))
    }

    // MARK: POST /v1/inbox/{id}/ack and /nack

    func planAcknowledge(_ document: QueueState.Document, _ recipient: AgencyCode, caller: APICaller) -> HTTPRequestPlan {
        .accept(bodyLimit: options.smallBodyBytesMax, handler: CollectBody(workers: workers) { [self] body, responder in
            let id = document.accepted.id
            let delivery = core.withState { $0.delivery(id, recipient) }
            switch RecipientRequestDecision.acknowledge(delivery, document: id, recipient: recipient) {
            case .refuse(let error): return responder.respond(HTTPResponse(error: error))
            case .alreadyDone: return responder.respond(.json(.ok, Self.deliveryReply(id, recipient, "acknowledged", note: "already acknowledged")))
            case .record: break
            }
            var kept: PayloadRef?
            if !body.isEmpty {
                do {
                    let receipt = try Self.receiptBytes(body)
                    let report = try checkRecipientReceipt(receipt, document: document, recipient: recipient)
                    guard report.isTrusted else {
                        let reasons = report.failures.map(\.description)
                        return responder.respond(HTTPResponse(error: HTTPError(.unprocessableContent, HTTPError.Code("receipt_rejected"),
                            "the receipt does not hold: " + reasons.joined(separator: "; "), details: reasons)))
                    }
                    kept = try core.payloads.storeAndWait(receipt)
                } catch let error as HTTPError {
                    return responder.respond(HTTPResponse(error: error))
                } catch let error as AxisError where error.code == .storageIO || error.code == .payloadCorrupt {
                    return responder.respond(HTTPResponse(error: Ingress.storageError(error, what: "the acknowledgement was not recorded")))
                } catch {
                    return responder.respond(HTTPResponse(error: HTTPError(.unprocessableContent, HTTPError.Code("receipt_unreadable"),
                        "the receipt could not be checked: \(error)")))
                }
            }
            let receiptRef = kept
            let record = DeliveryAcknowledged(document: id, recipient: recipient, at: core.clock.now(), actor: .agency(recipient),
                                              receipt: receiptRef)
            core.record([.deliveryAcknowledged(record)]) { result in
                switch result {
                case .failure(let error):
                    responder.respond(HTTPResponse(error: Ingress.storageError(error, what: "the acknowledgement was not recorded")))
                case .success: responder.respond(.json(.ok, Self.deliveryReply(id, recipient, "acknowledged",
                                                                               note: receiptRef == nil ? "" : "receipt verified and kept")))
                }
            }
        })
    }

    func planRelease(_ document: QueueState.Document, _ recipient: AgencyCode, caller: APICaller) -> HTTPRequestPlan {
        .accept(bodyLimit: options.smallBodyBytesMax, handler: CollectBody(workers: workers) { [self] body, responder in
            let id = document.accepted.id
            let delivery = core.withState { $0.delivery(id, recipient) }
            switch RecipientRequestDecision.release(delivery, document: id, recipient: recipient) {
            case .refuse(let error): return responder.respond(HTTPResponse(error: error))
            case .alreadyDone:
                return responder.respond(.json(.ok, Self.deliveryReply(id, recipient, delivery?.state.name ?? "queued", note: "was not leased")))
            case .record: break
            }
            let reason = String(decoding: body.prefix(512), as: UTF8.self)
            let record = DeliveryReleased(document: id, recipient: recipient, at: core.clock.now(), actor: .agency(recipient),
                                          reason: reason.isEmpty ? "nack" : "nack: \(reason)")
            core.record([.deliveryReleased(record)]) { result in
                switch result {
                case .failure(let error):
                    responder.respond(HTTPResponse(error: Ingress.storageError(error, what: "the item was not released")))
                case .success: responder.respond(.json(.ok, Self.deliveryReply(id, recipient, "queued", note: "")))
                }
            }
        })
    }

    static func deliveryReply(_ id: DocumentID, _ recipient: AgencyCode, _ state: String, note: String) -> JSONValue {
        var fields: [(String, JSONValue)] = [("id", .string(id.hex)), ("recipient", .string(recipient.rawValue)), ("state", .string(state))]
        if !note.isEmpty { fields.append(("note", .string(note))) }
        return .object(fields)
    }

    /// A receipt body: DER, or PEM (`-----BEGIN PKCS7-----` / `CMS`), or base64 of DER.
    static func receiptBytes(_ body: [UInt8]) throws -> [UInt8] {
        if body.first == 0x30 { return body }
        let text = String(decoding: body, as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.filter { !$0.isEmpty && !$0.hasPrefix("-----") }
        if let decoded = Base64.decode(lines.joined()), decoded.first == 0x30 { return decoded }
        throw HTTPError(.badRequest, HTTPError.Code("invalid_receipt"),
                        "the body is not a CMS receipt: send DER (Content-Type: application/pkcs7-signature), PEM or base64")
    }

    private func checkRecipientReceipt(_ receipt: [UInt8], document: QueueState.Document, recipient: AgencyCode) throws -> SignatureReport {
        guard let entry = core.withState({ $0.agencies[recipient] }) else {
            throw HTTPError(.unprocessableContent, HTTPError.Code("unknown_recipient"), "\(recipient) is not in the directory")
        }
        let bytes = try core.payloads.read(document.accepted.payload)
        return try ReceiptVerification.recipientReceipt(receipt, document: bytes, recipient: AgencyBinding(entry),
                                                        verifier: ingress.verifier)
    }

    // MARK: GET /v1/documents/{id}/content

    func planContent(_ document: QueueState.Document) -> HTTPRequestPlan {
        .accept(bodyLimit: 0, handler: CollectBody(workers: workers) { [core] _, responder in
            let d = document.accepted
            do {
                // The document streams from its payload file as the client reads it (a 1 GB document
                // costs one 64 KiB piece of memory); the signature, a few KiB, goes in a header.
                let content = try core.payloads.openReader(d.payload)
                let signature = try d.signature.map { try core.payloads.read($0) }
                var headers = HTTPHeaders()
                for (name, value) in DocumentHeaders.fields(d, signature: signature) { headers.add(name, value) }
                responder.respond(HTTPResponse(status: .ok, headers: headers, length: d.payload.length, stream: content))
            } catch {
                responder.respond(HTTPResponse(error: HTTPError(.internalServerError, HTTPError.Code("payload_unreadable"),
                    "the stored bytes of \(d.id) could not be read (\(error)); an operator must check the data directory")))
            }
        })
    }

    // MARK: POST /v1/documents/{id}/status

    /// The edXML status codes a recipient may report (QCVN 102:2016).
    static let statusCodes: Set<String> = ["01", "02", "03", "04", "05", "06", "13", "15", "16"]

    func planStatus(_ document: QueueState.Document, recipient: AgencyCode, caller: APICaller) -> HTTPRequestPlan {
        guard document.accepted.messageType == .document else {
            return .refuse(HTTPError(.conflict, HTTPError.Code("not_a_document"),
                "\(document.accepted.id) is a status message; report statuses on the document it is about"))
        }
        return .accept(bodyLimit: options.statusBodyBytesMax, handler: CollectBody(workers: workers) { [self] body, responder in
            let status: (code: String, description: String)
            switch Self.parseStatus(body) {
            case .failure(let error): return responder.respond(HTTPResponse(error: error))
            case .success(let parsed): status = parsed
            }
            let original = document.accepted
            let now = core.clock.now()
            var rng = SystemRandomNumberGenerator()
            let statusID = DocumentID.generate(at: now, using: &rng)
            let message = JSONValue.object([
                ("type", .string("axis-status")), ("document", .string(original.id.hex)),
                ("senderDocumentId", .string(original.senderDocumentID)), ("from", .string(recipient.rawValue)),
                ("code", .string(status.code)), ("description", .string(status.description)), ("at", .string(now.description)),
            ])
            core.payloads.store(Array(message.encoded(asciiOnly: true).utf8)) { [core] stored in
                guard case .success(let payload) = stored else {
                    return responder.respond(HTTPResponse(error: Ingress.storageError(AxisError(.storageIO, "status payload not stored"),
                                                                                      what: "the status was not recorded")))
                }
                let statusDocument = DocumentAccepted(
                    id: statusID, sender: recipient, recipients: [original.sender],
                    senderDocumentID: "status:\(original.id.hex):\(status.code):\(now.millis)", subject: status.description,
                    messageType: .status, refersTo: [original.id], statusCode: status.code, contentType: "application/json",
                    payload: payload, ingress: .native, submittedBy: caller.system.id, acceptedAt: now)
                let recorded = RecipientStatus(document: original.id, recipient: recipient, at: now, code: status.code,
                                               description: status.description, statusDocument: statusID)
                core.record([.documentAccepted(statusDocument), .recipientStatus(recorded)]) { result in
                    switch result {
                    case .failure(let error):
                        responder.respond(HTTPResponse(error: Ingress.storageError(error, what: "the status was not recorded")))
                    case .success(let positions):
                        responder.respond(.json(.created, .object([
                            ("id", .string(statusID.hex)), ("document", .string(original.id.hex)),
                            ("recipient", .string(recipient.rawValue)), ("code", .string(status.code)),
                            ("sequence", .int(Int64(positions[0].sequence))),
                        ])))
                    }
                }
            }
        })
    }

    static func parseStatus(_ body: [UInt8]) -> Result<(code: String, description: String), HTTPError> {
        func bad(_ message: String) -> Result<(code: String, description: String), HTTPError> {
            .failure(HTTPError(.badRequest, HTTPError.Code("invalid_status"), message
                + "; send JSON {\"code\":\"03\",\"description\":\"…\"} with an edXML status code (01–06, 13, 15, 16)"))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return bad("the body is not a JSON object") }
        guard let code = object["code"] as? String else { return bad("\"code\" is missing or not a string") }
        guard statusCodes.contains(code) else { return bad("\"\(code.prefix(8))\" is not a status code") }
        let description = object["description"] as? String ?? ""
        guard description.utf8.count <= 4096 else { return bad("\"description\" is longer than 4096 bytes") }
        return .success((code, description))
    }
}

/// Answers a long poll from the inbox.
final class InboxPoll: HTTPRequestHandler {
    let inbox: Inbox
    let agencies: [AgencyCode]
    let limit: Int
    let waitMillis: Int64

    init(inbox: Inbox, agencies: [AgencyCode], limit: Int, waitMillis: Int64) {
        (self.inbox, self.agencies, self.limit, self.waitMillis) = (inbox, agencies, limit, waitMillis)
    }

    func body(_ chunk: UnsafeRawBufferPointer) throws {}

    func end(_ responder: HTTPResponder) {
        // A poll whose client hung up must not lease what arrives next: the inbox drops it.
        inbox.take(agencies: agencies, limit: limit, waitMillis: waitMillis, isAbandoned: { responder.isAbandoned }) { result in
            switch result {
            case .failure(let error): responder.respond(HTTPResponse(error: Ingress.storageError(error, what: "nothing was leased")))
            case .success(let items): responder.respond(.json(.ok, .object([("items", .array(items.map(APIJSON.inboxItem)))])))
            }
        }
    }
}

/// Takes a submitted document's body: kept in memory up to `inlineBytesMax`, streamed into the
/// payload store (with its digests computed on the way) beyond, then handed to the ingress.
final class SubmitHandler: HTTPRequestHandler {
    private let api: NativeAPI
    private let submission: Submission
    private let caller: APICaller
    private var buffer: [UInt8] = []
    private var stream: PayloadStream?
    private var hasher: DocumentHasher?
    /// For `Content-Type: application/edxml+xml`: the edXML header is read as the body streams in.
    private let edxml: EdxmlReader?
    private let startedNanos: UInt64

    /// The content type that asks the native API to read the body as edXML.
    static let edxmlContentType = "application/edxml+xml"

    init(api: NativeAPI, submission: Submission, caller: APICaller) {
        self.api = api
        self.submission = submission
        self.caller = caller
        let mediaType = submission.contentType.split(separator: ";").first.map { $0.trimmingSpaces.lowercased() }
        if mediaType == Self.edxmlContentType {
            var limits = EdxmlLimits()
            limits.bytesMax = api.options.documentBytesMax
            edxml = EdxmlReader(limits: limits)
        } else {
            edxml = nil
        }
        startedNanos = api.core.clock.monotonicNanos()
    }

    static func invalidEdxml(_ error: EdxmlError) -> HTTPError {
        HTTPError(.unprocessableContent, HTTPError.Code("invalid_edxml"), "the body is sent as \(edxmlContentType) but is not a "
            + "valid edXML message: \(error); send well-formed edXML, or another Content-Type to send it as opaque bytes")
    }

    func body(_ chunk: UnsafeRawBufferPointer) throws {
        do {
            try edxml?.feed(chunk)
        } catch {
            stream?.abort()
            stream = nil
            throw Self.invalidEdxml(error)
        }
        do {
            if stream == nil && buffer.count + chunk.count > api.options.inlineBytesMax {
                var algorithms: Set<DigestAlgorithm> = [.sha256]
                if let named = SignatureVerifier.digestAlgorithm(of: submission.signature) { algorithms.insert(named) }
                let hasher = try DocumentHasher(algorithms)
                let stream = try api.core.payloads.beginStream()
                try stream.write(buffer)
                buffer.withUnsafeBytes { hasher.update($0) }
                buffer = []
                (self.stream, self.hasher) = (stream, hasher)
            }
            if let stream {
                try stream.write(chunk)
                hasher?.update(chunk)
            } else {
                buffer.append(contentsOf: chunk)
            }
        } catch {
            stream?.abort()
            stream = nil
            throw Ingress.storageError(error)
        }
    }

    func end(_ responder: HTTPResponder) {
        let (api, caller, startedNanos) = (self.api, self.caller, self.startedNanos)
        let streamed = UncheckedBox(stream.map { ($0, hasher) })
        let buffer = self.buffer
        var submission = self.submission
        if let edxml {
            let planned = Result<EdxmlFacts, EdxmlError>(catching: { () throws(EdxmlError) -> EdxmlFacts in try edxml.finish() })
                .mapError { Self.invalidEdxml($0) }
                .flatMap { facts in
                    api.core.withState { VdxpSendPlanner.enrich(submission, with: facts, system: caller.system, state: $0) }
                        .mapError { HTTPError($0.status, HTTPError.Code($0.code), $0.message) }
                }
            switch planned {
            case .failure(let refusal):
                stream?.abort()
                stream = nil
                api.submitObserver.rejected(refusal.code.rawValue)
                return responder.respond(HTTPResponse(error: refusal))
            case .success(let enriched):
                submission = enriched
            }
        }
        stream = nil
        let enriched = submission
        // The stream and hasher move to the worker: the loop thread never touches them again.
        let work: @Sendable () -> Void = {
            let submission = enriched
            let body: SubmittedBody
            if let (stream, hasher) = streamed.value {
                do {
                    let ref = try stream.finish()
                    body = .stored(ref, hasher?.finish() ?? DocumentDigests(length: ref.length, values: [:]))
                } catch {
                    let refusal = Ingress.storageError(error)
                    api.submitObserver.rejected(refusal.code.rawValue)
                    return responder.respond(HTTPResponse(error: refusal))
                }
            } else {
                body = .memory(buffer, sha256: SHA256Hasher.digest(buffer))
            }
            api.ingress.submit(submission, body: body, via: .native, by: caller.system.id) { outcome in
                responder.respond(Self.response(outcome))
                switch outcome {
                case .accepted: api.submitObserver.accepted(api.core.clock.monotonicNanos() &- startedNanos)
                case .duplicate: api.submitObserver.duplicate()
                case .refused(let error): api.submitObserver.rejected(error.code.rawValue)
                }
            }
        }
        api.workers.async(execute: work)
    }

    static func response(_ outcome: IngressOutcome) -> HTTPResponse {
        switch outcome {
        case .accepted(let accepted):
            var response = HTTPResponse.json(.created, APIJSON.acceptance(
                id: accepted.record.id, sha256: accepted.record.payload.sha256, acceptedAt: accepted.record.acceptedAt,
                sequence: accepted.position.sequence, chain: accepted.position.chain, receipt: accepted.signedReceipt))
            response.head.headers.add("Location", "/v1/documents/\(accepted.record.id.hex)")
            return response
        case .duplicate(let document, let receipt):
            var response = HTTPResponse.json(.ok, APIJSON.acceptance(
                id: document.accepted.id, sha256: document.accepted.payload.sha256, acceptedAt: document.accepted.acceptedAt,
                sequence: document.sequence, chain: document.chain, receipt: receipt))
            response.head.headers.add("Location", "/v1/documents/\(document.accepted.id.hex)")
            return response
        case .refused(let error):
            return HTTPResponse(error: error)
        }
    }
}

/// Hands a value that is not `Sendable` to another thread that becomes its only user.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
