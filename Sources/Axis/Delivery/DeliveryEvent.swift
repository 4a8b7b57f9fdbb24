/// Delivery events: notices the axis sends a document's sender about one recipient's delivery
/// (`delivered` when the recipient's endpoint took it, `expired` when its lifetime ran out), so a
/// sender learns outcomes from its own inbox — pull, push or long poll — like any other item.
///
/// An event is an accepted message of type `.event` from the recipient it is about to the sender,
/// with a small JSON body; it is journaled in the same batch as the fact it reports, so the two are
/// durable together or not at all. Events are only made about documents, never about status
/// messages or other events (no notice ever triggers another).
public enum DeliveryEvent {
    public enum Kind: String, Sendable, CaseIterable {
        case delivered, expired
    }

    /// Whether a delivery of `document` is reported to its sender.
    public static func isReported(_ document: DocumentAccepted) -> Bool { document.messageType == .document }

    /// The event's body: `{"type":"axis-event","event":…,"document":…,"senderDocumentId":…,"recipient":…,"at":…,"detail":…}`.
    public static func body(_ kind: Kind, about original: DocumentAccepted, recipient: AgencyCode, at: Timestamp,
                            detail: String) -> [UInt8] {
        let value = JSONValue.object([
            ("type", .string("axis-event")), ("event", .string(kind.rawValue)), ("document", .string(original.id.hex)),
            ("senderDocumentId", .string(original.senderDocumentID)), ("recipient", .string(recipient.rawValue)),
            ("at", .string(at.description)), ("detail", .string(detail)),
        ])
        return Array(value.encoded(asciiOnly: true).utf8)
    }

    /// The accepted-message record of an event whose body is stored as `payload`.
    public static func record(_ kind: Kind, id: DocumentID, about original: DocumentAccepted, recipient: AgencyCode,
                              at: Timestamp, detail: String, payload: PayloadRef) -> DocumentAccepted {
        DocumentAccepted(
            id: id, sender: recipient, recipients: [original.sender],
            // Unique per (document, recipient, event): a second identical notice is impossible by key.
            senderDocumentID: "event:\(original.id.hex):\(recipient.rawValue):\(kind.rawValue)",
            subject: String(detail.prefix(200)), messageType: .event, refersTo: [original.id], statusCode: kind.rawValue,
            contentType: "application/json", payload: payload, ingress: .axis, acceptedAt: at)
    }
}
