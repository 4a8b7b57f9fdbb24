import Dispatch

// The receiving side: what waits for the caller's agencies, fetching it (which leases it, as a pull
// from the native inbox does), and updateStatus, which acknowledges, gives back or keeps the lease.
extension VdxpAPI {
    /// One document (or status message) waiting for one of the caller's agencies.
    struct Waiting {
        let document: QueueState.Document
        let recipient: AgencyCode
        let state: QueueState.DeliveryState
    }

    /// What waits for the caller's agencies, oldest first: deliveries not yet acknowledged, held or
    /// ended, fetched (leased) ones included so a client that lost its place sees them again. One item
    /// per document, for the first hosted recipient (a call acts on all the caller's recipients of it).
    static func waiting(for caller: Caller, messageType: DocumentAccepted.MessageType, limit: Int,
                        in state: QueueState) -> (items: [Waiting], total: Int) {
        var items: [Waiting] = []
        var seen = Set<DocumentID>()
        var total = 0
        for agency in caller.system.agencies {
            guard let queue = state.open[agency] else { continue }
            for id in queue {
                guard let delivery = state.delivery(id, agency), isWaiting(delivery.state),
                      let document = state.documents[id], document.accepted.messageType == messageType,
                      seen.insert(id).inserted else { continue }
                total += 1
                if limit > 0 { items.append(Waiting(document: document, recipient: agency, state: delivery.state)) }
            }
        }
        // Each agency's queue is in order already; several agencies' are merged.
        if caller.system.agencies.count > 1 { items.sort { $0.document.sequence < $1.document.sequence } }
        return (Array(items.prefix(limit)), total)
    }

    static func isWaiting(_ state: QueueState.DeliveryState) -> Bool {
        switch state {
        case .queued, .leased, .deferred, .inFlight: return true
        case .held, .delivered, .acknowledged, .expired, .deleted: return false
        }
    }

    static func wireMessageType(_ type: DocumentAccepted.MessageType) -> String { type == .status ? "status" : "edoc" }

    // MARK: getReceivedEdocList, countReceiveEdoc, countReceiveStatus

    func planReceivedList(_ parameters: VdxpParameters, _ caller: Caller) -> HTTPRequestPlan {
        let type: DocumentAccepted.MessageType
        switch messageType(parameters) {
        case .failure(let failure): return refuse(failure)
        case .success(let value): type = value
        }
        return small { [self] _, responder in
            let now = core.clock.now()
            let found = core.withState { Self.waiting(for: caller, messageType: type, limit: options.listMax, in: $0) }
            let data: [JSONValue] = found.items.map { item in
                let d = item.document.accepted
                let leased: Bool
                if case .leased(let until) = item.state, until > now { leased = true } else { leased = false }
                return VdxpReply.item([
                    ("docId", .string(d.id.hex)),
                    ("serviceType", .string("eDoc")),
                    ("messageType", .string(Self.wireMessageType(d.messageType))),
                    ("created_time", .string(d.acceptedAt.description)),
                    ("updated_time", .string((item.document.events.last?.at ?? d.acceptedAt).description)),
                    ("from", .string(d.sender.rawValue)),
                    ("to", .string(item.recipient.rawValue)),
                    ("status", .string(leased ? "processing" : "initial")),
                    ("status_desc", .string(leased ? "fetched; send updateStatus done once stored, or fail to give it back"
                                                   : "waiting to be fetched")),
                ])
            }
            responder.respond(VdxpReply.ok([("data", .array(data))]))
        }
    }

    func planCount(messageType type: DocumentAccepted.MessageType, _ caller: Caller) -> HTTPRequestPlan {
        small { [self] _, responder in
            let total = core.withState { Self.waiting(for: caller, messageType: type, limit: 0, in: $0).total }
            responder.respond(VdxpReply.ok([("count", .int(Int64(total)))]))
        }
    }

    // MARK: getEdoc, downloadEdoc

    /// The exact stored bytes: base64 in `data` (getEdoc) or the raw body (downloadEdoc). Fetching
    /// leases the caller's deliveries that are ready, as a native inbox pull does; the sender may read
    /// what it sent without leasing anything.
    func planGetEdoc(_ parameters: VdxpParameters, _ caller: Caller, raw: Bool) -> HTTPRequestPlan {
        let document: QueueState.Document
        switch self.document(parameters) {
        case .failure(let failure): return refuse(failure)
        case .success(let found): document = found
        }
        let d = document.accepted
        let hosted = d.recipients.filter(caller.hosts)
        guard !hosted.isEmpty || caller.hosts(d.sender) else {
            return refuse(VdxpFailure(.forbidden, "not_your_document", "document \(d.id) was neither sent by nor addressed to an "
                + "agency system \(caller.system.vdxpSystemID) hosts"))
        }
        return small { [self] _, responder in
            let now = core.clock.now()
            let until = Timestamp(millis: now.millis + inbox.leaseMillis)
            let leases: [JournalRecord] = core.withState { state in
                hosted.compactMap { recipient in
                    guard let delivery = state.delivery(d.id, recipient), QueueState.isReady(delivery.state, at: now) else { return nil }
                    return .deliveryLeased(DeliveryLeased(document: d.id, recipient: recipient, at: now, until: until,
                                                          actor: .agency(recipient)))
                }
            }
            let answer: @Sendable () -> Void = { [self] in
                let bytes: [UInt8]
                do {
                    bytes = try core.payloads.read(d.payload)
                } catch {
                    return responder.respond(VdxpReply.fail(VdxpFailure(.serviceUnavailable, "storage_unavailable",
                        "the document's bytes could not be read (\(error)); retry later")))
                }
                if raw {
                    var headers = HTTPHeaders()
                    headers.add("Content-Type", d.contentType)
                    headers.add("Content-Disposition", "attachment; filename=\"\(d.id.hex).edxml\"")
                    responder.respond(HTTPResponse(status: .ok, headers: headers, body: bytes))
                } else {
                    responder.respond(VdxpReply.ok([("data", .string(Base64.encode(bytes)))]))
                }
            }
            guard !leases.isEmpty else { return answer() }
            core.record(leases) { result in
                if case .failure(let error) = result {
                    return responder.respond(VdxpReply.fail(Self.storageFailure(error, "the document was not handed out")))
                }
                answer()
            }
        }
    }

    // MARK: updateStatus

    /// `done`: acknowledged (the item leaves the list); `fail`: given back to the queue; `processing`:
    /// the lease is extended. Applies to each of the caller's recipients of the document; repeating a
    /// call (the SDK retries) changes nothing more and answers OK.
    func planUpdateStatus(_ parameters: VdxpParameters, _ caller: Caller) -> HTTPRequestPlan {
        let document: QueueState.Document
        switch self.document(parameters) {
        case .failure(let failure): return refuse(failure)
        case .success(let found): document = found
        }
        let status: String
        switch parameters.value("status") {
        case .failure(let failure): return refuse(failure)
        case .success(let value): status = value?.lowercased() ?? ""
        }
        guard ["done", "fail", "processing"].contains(status) else {
            return refuse(VdxpFailure(.badRequest, "invalid_status", "status '\(status.prefix(32))' must be done, fail or processing"))
        }
        let d = document.accepted
        let hosted = d.recipients.filter(caller.hosts)
        guard !hosted.isEmpty else {
            return refuse(VdxpFailure(.forbidden, "not_your_document", "document \(d.id) is not addressed to an agency system "
                + "\(caller.system.vdxpSystemID) hosts"))
        }
        return small { [self] _, responder in
            let now = core.clock.now()
            let planned: Result<[JournalRecord], VdxpFailure> = core.withState { state in
                Self.statusRecords(status, document: d.id, recipients: hosted, system: caller.system.vdxpSystemID,
                                   now: now, leaseUntil: Timestamp(millis: now.millis + inbox.leaseMillis), state: state)
            }
            switch planned {
            case .failure(let failure):
                responder.respond(VdxpReply.fail(failure))
            case .success(let records) where records.isEmpty:
                responder.respond(VdxpReply.ok())
            case .success(let records):
                core.record(records) { result in
                    switch result {
                    case .failure(let error): responder.respond(VdxpReply.fail(Self.storageFailure(error, "the status was not recorded")))
                    case .success: responder.respond(VdxpReply.ok())
                    }
                }
            }
        }
    }

    /// The records an updateStatus call writes (none when it repeats one already applied). Pure.
    /// When none of the caller's deliveries of the document waits any more: OK for a repeated `done`,
    /// else the reason the first one's state gives.
    static func statusRecords(_ status: String, document: DocumentID, recipients: [AgencyCode], system: String, now: Timestamp,
                              leaseUntil: Timestamp, state: QueueState) -> Result<[JournalRecord], VdxpFailure> {
        var records: [JournalRecord] = []
        // A document addressed to several of the caller's agencies is listed while any of their
        // deliveries waits: act on those, and leave alone the ones already done, held or ended.
        let waiting = recipients.filter { state.delivery(document, $0).map { isWaiting($0.state) } ?? false }
        // Nothing waits: a repeated done is answered OK if any of them was received; otherwise the
        // first delivery's state says why the call cannot apply.
        if waiting.isEmpty, status == "done", recipients.contains(where: { recipient in
            switch state.delivery(document, recipient)?.state {
            case .acknowledged?, .delivered?: return true
            default: return false
            }
        }) {
            return .success([])
        }
        for recipient in waiting.isEmpty ? Array(recipients.prefix(1)) : waiting {
            let delivery = state.delivery(document, recipient)
            let decision: RecipientRequestDecision
            switch status {
            case "done": decision = .acknowledge(delivery, document: document, recipient: recipient)
            case "fail": decision = .release(delivery, document: document, recipient: recipient)
            default:
                guard let delivery else { decision = .refuse(RecipientRequestDecision.notAddressed(document, recipient)); break }
                switch delivery.state {
                case .queued, .leased, .deferred: decision = .record
                case .acknowledged, .delivered: decision = .alreadyDone
                default:
                    decision = .refuse(HTTPError(.conflict, HTTPError.Code("delivery_not_open"),
                        "the delivery of \(document) to \(recipient) is \(delivery.state.name); it cannot be kept in processing"))
                }
            }
            switch decision {
            case .alreadyDone:
                continue
            case .refuse(let error):
                return .failure(VdxpFailure(error.status, error.code.rawValue, error.message))
            case .record:
                switch status {
                case "done":
                    records.append(.deliveryAcknowledged(DeliveryAcknowledged(document: document, recipient: recipient, at: now,
                                                                              actor: .agency(recipient))))
                case "fail":
                    records.append(.deliveryReleased(DeliveryReleased(document: document, recipient: recipient, at: now,
                        actor: .agency(recipient), reason: "updateStatus fail (VDXP system \(system))")))
                default:
                    records.append(.deliveryLeased(DeliveryLeased(document: document, recipient: recipient, at: now, until: leaseUntil,
                                                                  actor: .agency(recipient))))
                }
            }
        }
        return .success(records)
    }
}
