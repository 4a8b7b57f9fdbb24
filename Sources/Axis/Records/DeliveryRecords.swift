/// Records about one (document, recipient) delivery. Each names the delivery and when it happened.

/// The recipient's client listed or fetched the item: it is leased to that client until `until`;
/// an unacknowledged lease expires and the item is ready again.
public struct DeliveryLeased: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    public var until: Timestamp
    public var actor: Actor

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, until: Timestamp, actor: Actor) {
        (self.document, self.recipient, self.at, self.until, self.actor) = (document, recipient, at, until, actor)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.time(until); w.actor(actor)
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); until = try r.time("lease until")
        actor = try r.actor()
    }
}

/// A push attempt to the recipient's endpoint started.
public struct DeliveryAttempted: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    /// 1 for the first attempt.
    public var attempt: UInt32
    public var endpoint: String

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, attempt: UInt32, endpoint: String) {
        (self.document, self.recipient, self.at, self.attempt, self.endpoint) = (document, recipient, at, attempt, endpoint)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.u32(attempt); w.string(endpoint)
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); attempt = try r.u32("attempt")
        endpoint = try r.text("endpoint")
    }
}

/// An attempt failed; the item is deferred until `retryAt`.
public struct DeliveryFailed: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    public var attempt: UInt32
    public var reason: String
    public var retryAt: Timestamp

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, attempt: UInt32, reason: String, retryAt: Timestamp) {
        (self.document, self.recipient, self.at, self.attempt, self.reason, self.retryAt) =
            (document, recipient, at, attempt, reason, retryAt)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.u32(attempt); w.string(reason); w.time(retryAt)
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); attempt = try r.u32("attempt")
        reason = try r.text("reason"); retryAt = try r.time("retry at")
    }
}

/// A lease or in-flight attempt was given back (a client's nack, or a push interrupted by shutdown):
/// the item is ready again at once.
public struct DeliveryReleased: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    public var actor: Actor
    public var reason: String

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, actor: Actor, reason: String) {
        (self.document, self.recipient, self.at, self.actor, self.reason) = (document, recipient, at, actor, reason)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.actor(actor); w.string(reason)
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); actor = try r.actor()
        reason = try r.text("reason")
    }
}

/// The recipient's endpoint answered 2xx to a push.
public struct DeliveryDelivered: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    public var endpoint: String

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, endpoint: String) {
        (self.document, self.recipient, self.at, self.endpoint) = (document, recipient, at, endpoint)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.string(endpoint)
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); endpoint = try r.text("endpoint")
    }
}

/// The recipient acknowledged the document, optionally with its own CMS-signed receipt.
public struct DeliveryAcknowledged: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    public var actor: Actor
    public var receipt: PayloadRef?

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, actor: Actor, receipt: PayloadRef? = nil) {
        (self.document, self.recipient, self.at, self.actor, self.receipt) = (document, recipient, at, actor, receipt)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.actor(actor)
        w.optional(receipt) { $1.encode(into: &$0) }
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); actor = try r.actor()
        receipt = try r.optional("receipt") { try PayloadRef.decode(from: &$0) }
    }
}

/// A recipient reported its processing status (edXML codes 01–06, 13, 15, 16) for a document.
public struct RecipientStatus: Equatable, Sendable {
    public var document: DocumentID
    public var recipient: AgencyCode
    public var at: Timestamp
    public var code: String
    public var description: String
    /// The status message routed back to the sender, when one was created.
    public var statusDocument: DocumentID?

    public init(document: DocumentID, recipient: AgencyCode, at: Timestamp, code: String, description: String,
                statusDocument: DocumentID? = nil) {
        (self.document, self.recipient, self.at, self.code, self.description, self.statusDocument) =
            (document, recipient, at, code, description, statusDocument)
    }

    func encode(into w: inout ByteWriter) {
        w.document(document); w.agency(recipient); w.time(at); w.string(code); w.string(description)
        w.optional(statusDocument) { $0.document($1) }
    }

    init(from r: inout ByteReader) throws {
        document = try r.document(); recipient = try r.agency(); at = try r.time(); code = try r.text("status code")
        description = try r.text("status description")
        statusDocument = try r.optional("status document") { try $0.document() }
    }
}

/// An administrator or a policy held, released, retried, deleted or expired deliveries.
public struct DeliveryControl: Equatable, Sendable {
    public enum Action: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case hold = 0, release = 1, retry = 2, delete = 3, expire = 4
        public var description: String { ["hold", "release", "retry", "delete", "expire"][Int(rawValue)] }
    }

    public var action: Action
    public var document: DocumentID
    /// nil: every recipient of the document.
    public var recipient: AgencyCode?
    public var at: Timestamp
    public var actor: Actor
    public var reason: String

    public init(action: Action, document: DocumentID, recipient: AgencyCode?, at: Timestamp, actor: Actor, reason: String) {
        (self.action, self.document, self.recipient, self.at, self.actor, self.reason) =
            (action, document, recipient, at, actor, reason)
    }

    func encode(into w: inout ByteWriter) {
        w.u8(action.rawValue); w.document(document); w.optional(recipient) { $0.agency($1) }; w.time(at); w.actor(actor)
        w.string(reason)
    }

    init(from r: inout ByteReader) throws {
        guard let a = Action(rawValue: try r.u8("control action")) else { throw AxisError(.malformed, "unknown control action") }
        action = a
        document = try r.document(); recipient = try r.optional("recipient") { try $0.agency() }; at = try r.time()
        actor = try r.actor(); reason = try r.text("reason")
    }
}

/// The axis issued its signed receipt for an accepted document.
public struct ReceiptIssued: Equatable, Sendable {
    public var document: DocumentID
    public var at: Timestamp
    public var receipt: PayloadRef

    public init(document: DocumentID, at: Timestamp, receipt: PayloadRef) {
        (self.document, self.at, self.receipt) = (document, at, receipt)
    }

    func encode(into w: inout ByteWriter) { w.document(document); w.time(at); receipt.encode(into: &w) }

    init(from r: inout ByteReader) throws {
        document = try r.document(); at = try r.time(); receipt = try PayloadRef.decode(from: &r)
    }
}

/// A marker in the log: daemon start/stop, or a point later compaction starts a new chain epoch from.
public struct Checkpoint: Equatable, Sendable {
    public var at: Timestamp
    public var note: String

    public init(at: Timestamp, note: String) { (self.at, self.note) = (at, note) }

    func encode(into w: inout ByteWriter) { w.time(at); w.string(note) }

    init(from r: inout ByteReader) throws { at = try r.time(); note = try r.text("note") }
}
