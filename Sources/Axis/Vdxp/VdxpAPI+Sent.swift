// getSentEdocList: the per-recipient delivery state of what the caller's agencies sent.
extension VdxpAPI {
    /// With `docId`: that document, one item per recipient. Without: the caller's most recent
    /// `listMax` documents of the message type, newest first.
    func planSentList(_ parameters: VdxpParameters, _ caller: Caller) -> HTTPRequestPlan {
        let type: DocumentAccepted.MessageType
        switch messageType(parameters) {
        case .failure(let failure): return refuse(failure)
        case .success(let value): type = value
        }
        let named: QueueState.Document?
        switch parameters.value("docId") {
        case .failure(let failure):
            return refuse(failure)
        case .success(let text) where text?.isEmpty == false:
            switch document(parameters) {
            case .failure(let failure): return refuse(failure)
            case .success(let found): named = found
            }
            if let named, !caller.hosts(named.accepted.sender) {
                return refuse(VdxpFailure(.forbidden, "not_your_document", "document \(named.accepted.id) was not sent by an agency "
                    + "system \(caller.system.vdxpSystemID) hosts"))
            }
        case .success:
            named = nil
        }
        return small { [self] _, responder in
            let data: [JSONValue] = core.withState { state in
                let documents: [QueueState.Document]
                if let named {
                    documents = [state.documents[named.accepted.id] ?? named]
                } else {
                    documents = state.documents.values
                        .filter { caller.hosts($0.accepted.sender) && $0.accepted.messageType == type }
                        .sorted { $0.sequence > $1.sequence }
                        .prefix(options.listMax).map { $0 }
                }
                return documents.flatMap { document in
                    document.accepted.recipients.map { Self.sentItem(document.accepted, recipient: $0, state: state) }
                }
            }
            responder.respond(VdxpReply.ok([("data", .array(data))]))
        }
    }

    static func sentItem(_ d: DocumentAccepted, recipient: AgencyCode, state: QueueState) -> JSONValue {
        let delivery = state.delivery(d.id, recipient)
        let (status, description, receivedAt) = receiveStatus(delivery)
        var fields: [(String, JSONValue)] = [
            ("senderDocId", .string(d.id.hex)),
            // One document, one id: the recipient fetches it under the same id.
            ("receiverDocId", .string(d.id.hex)),
            ("fromCode", .string(d.sender.rawValue)),
            ("toCode", .string(recipient.rawValue)),
            ("sendStatus", .string("done")),
            ("sendStatusDesc", .string("accepted by the axis (journal sequence \(state.documents[d.id]?.sequence ?? 0))")),
            ("receiveStatus", .string(status)),
            ("receiveStatusDesc", .string(description)),
            ("sentTime", .string(d.acceptedAt.description)),
        ]
        if let receivedAt { fields.append(("receivedTime", .string(receivedAt.description))) }
        fields += [
            ("title", .string(d.subject)),
            ("notation", .string(d.edxml?.notation ?? "")),
            ("serviceType", .string("eDoc")),
            ("messageType", .string(wireMessageType(d.messageType))),
        ]
        return VdxpReply.item(fields)
    }

    /// The SDK's receive status (initial, processing, done, fail) of one delivery, in words, and when
    /// it was received.
    static func receiveStatus(_ delivery: QueueState.Delivery?) -> (String, String, Timestamp?) {
        guard let delivery else { return ("fail", "unknown delivery", nil) }
        let last = delivery.lastStatus.isEmpty ? "" : "; the recipient's last status is \(delivery.lastStatus)"
        switch delivery.state {
        case .queued, .deferred, .inFlight: return ("initial", "waiting for the recipient" + last, nil)
        case .held: return ("initial", "held by the axis operator" + last, nil)
        case .leased: return ("processing", "fetched by the recipient, not yet confirmed" + last, nil)
        case .delivered(let at): return ("done", "delivered to the recipient's endpoint" + last, at)
        case .acknowledged(let at): return ("done", "received and confirmed by the recipient" + last, at)
        case .expired: return ("fail", "expired: the recipient did not take it within its lifetime" + last, nil)
        case .deleted: return ("fail", "deleted by the axis operator" + last, nil)
        }
    }
}
