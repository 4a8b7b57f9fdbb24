/// The JSON shapes of the native API (documented field by field in docs/API.md and docs/openapi.yaml).
/// Field order is fixed: replies are stable for people and for golden tests.
enum APIJSON {
    static func acceptance(id: DocumentID, sha256: Digest256, acceptedAt: Timestamp, sequence: UInt64, chain: Digest256,
                           receipt: [UInt8]) -> JSONValue {
        .object([
            ("id", .string(id.hex)),
            ("sha256", .string(sha256.hex)),
            ("acceptedAt", .string(acceptedAt.description)),
            ("sequence", .int(Int64(sequence))),
            ("chainHash", .string(chain.hex)),
            ("receipt", .string(Base64.encode(receipt))),
        ])
    }

    /// The facts every view of a document starts with; `recipient` (an inbox item's) goes after `kind`.
    static func documentFields(_ d: DocumentAccepted, recipient: AgencyCode? = nil) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [
            ("id", .string(d.id.hex)),
            ("kind", .string(kind(d.messageType))),
        ]
        if let recipient { fields.append(("recipient", .string(recipient.rawValue))) }
        return fields + [
            ("from", .string(d.sender.rawValue)),
            ("to", .array(d.recipients.map { .string($0.rawValue) })),
            ("senderDocumentId", .string(d.senderDocumentID)),
            ("subject", .string(d.subject)),
            ("contentType", .string(d.contentType)),
            ("size", .int(Int64(d.payload.length))),
            ("sha256", .string(d.payload.sha256.hex)),
            ("acceptedAt", .string(d.acceptedAt.description)),
        ]
    }

    static func kind(_ type: DocumentAccepted.MessageType) -> String {
        switch type {
        case .document: return "document"
        case .status: return "status"
        case .event: return "event"
        }
    }

    static func businessName(_ type: DocumentAccepted.BusinessType) -> String {
        switch type {
        case .new: return "new"
        case .revoke: return "revoke"
        case .update: return "update"
        case .replace: return "replace"
        }
    }

    /// The edXML header facts kept with a document that arrived as edXML.
    static func edxmlFields(_ e: EdxmlSummary) -> JSONValue {
        .object([
            ("documentId", .string(e.documentID)), ("notation", .string(e.notation)),
            ("promulgationDate", .string(e.promulgationDate)), ("signaturePresent", .bool(e.signaturePresent)),
        ])
    }

    /// `statusCode` for status messages, `event` for delivery events.
    static func typeFields(_ d: DocumentAccepted) -> [(String, JSONValue)] {
        switch d.messageType {
        case .document: return []
        case .status: return [("statusCode", .string(d.statusCode))]
        case .event: return [("event", .string(d.statusCode))]
        }
    }

    static func inboxItem(_ item: InboxItem) -> JSONValue {
        let d = item.document.accepted
        var fields = documentFields(d, recipient: item.recipient) + [
            ("leaseUntil", .string(item.leaseUntil.description)),
            ("content", .string("/v1/documents/\(d.id.hex)/content")),
        ]
        fields += typeFields(d)
        if !d.refersTo.isEmpty { fields.append(("refersTo", .array(d.refersTo.map { .string($0.hex) }))) }
        return .object(fields)
    }

    static func trace(_ document: QueueState.Document, state: QueueState) -> JSONValue {
        let d = document.accepted
        let recipients: [JSONValue] = d.recipients.map { recipient in
            let delivery = state.delivery(d.id, recipient)
            var fields: [(String, JSONValue)] = [
                ("agency", .string(recipient.rawValue)),
                ("state", .string(delivery?.state.name ?? "unknown")),
            ]
            if let delivery {
                switch delivery.state {
                case .leased(let until), .deferred(let until): fields.append(("until", .string(until.description)))
                case .delivered(let at), .acknowledged(let at), .expired(let at), .deleted(let at): fields.append(("at", .string(at.description)))
                case .inFlight(let since): fields.append(("since", .string(since.description)))
                case .queued, .held: break
                }
                fields.append(("attempts", .int(Int64(delivery.attempts))))
                if !delivery.lastStatus.isEmpty { fields.append(("lastStatus", .string(delivery.lastStatus))) }
                if !delivery.lastError.isEmpty { fields.append(("lastError", .string(delivery.lastError))) }
                fields.append(("recipientReceipt", .bool(delivery.receipt != nil)))
            }
            return .object(fields)
        }
        let events: [JSONValue] = document.events.map { e in
            var fields: [(String, JSONValue)] = [
                ("sequence", .int(Int64(e.sequence))),
                ("at", .string(e.at.description)),
                ("event", .string(e.event)),
            ]
            if let recipient = e.recipient { fields.append(("recipient", .string(recipient.rawValue))) }
            fields += [("actor", .string(e.actor.description)), ("detail", .string(e.detail))]
            return .object(fields)
        }
        var fields = documentFields(d) + [
            ("sequence", .int(Int64(document.sequence))),
            ("chainHash", .string(document.chain.hex)),
            ("signer", .string(d.signerSubject)),
        ]
        fields += typeFields(d)
        if d.businessType != .new { fields.append(("businessType", .string(businessName(d.businessType)))) }
        if !d.refersTo.isEmpty { fields.append(("refersTo", .array(d.refersTo.map { .string($0.hex) }))) }
        if let edxml = d.edxml { fields.append(("edxml", edxmlFields(edxml))) }
        fields += [("recipients", .array(recipients)), ("events", .array(events))]
        return .object(fields)
    }
}
