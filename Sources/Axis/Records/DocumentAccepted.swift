/// A document was verified and accepted: the record whose durability the sender's receipt promises.
public struct DocumentAccepted: Equatable, Sendable {
    /// `event`: a notice the axis itself sends a document's sender about one of its deliveries
    /// (`delivered` by push, or `expired`), so senders learn outcomes from their inbox.
    public enum MessageType: UInt8, Sendable { case document = 0, status = 1, event = 2 }
    /// edXML BussinessDocType: what the document does to an earlier one.
    public enum BusinessType: UInt8, Sendable { case new = 0, revoke = 1, update = 2, replace = 3 }
    /// `axis`: made by the axis itself (delivery events).
    public enum Ingress: UInt8, Sendable { case native = 0, vdxp = 1, admin = 2, axis = 3 }

    public var id: DocumentID
    public var sender: AgencyCode
    public var recipients: [AgencyCode]
    /// The sender's own id for the document: with `sender`, the idempotency key.
    public var senderDocumentID: String
    public var subject: String
    public var messageType: MessageType
    public var businessType: BusinessType
    /// Earlier documents this one revokes, updates, replaces or answers.
    public var refersTo: [DocumentID]
    /// edXML StatusCode for status messages ("01"…"16"); the event (`delivered`, `expired`) for
    /// delivery events; empty for documents.
    public var statusCode: String
    public var contentType: String
    public var payload: PayloadRef
    /// The detached CMS signature as received.
    public var signature: PayloadRef?
    /// SHA-256 fingerprint of the signer's certificate, and its subject, as verified at acceptance.
    public var signerFingerprint: Digest256?
    public var signerSubject: String
    public var ingress: Ingress
    public var submittedBy: SystemID?
    public var acceptedAt: Timestamp
    /// The edXML header facts, for documents and statuses that arrived as edXML (body version 2).
    public var edxml: EdxmlSummary?

    public init(id: DocumentID, sender: AgencyCode, recipients: [AgencyCode], senderDocumentID: String,
                subject: String = "", messageType: MessageType = .document, businessType: BusinessType = .new,
                refersTo: [DocumentID] = [], statusCode: String = "", contentType: String = "application/octet-stream",
                payload: PayloadRef, signature: PayloadRef? = nil, signerFingerprint: Digest256? = nil,
                signerSubject: String = "", ingress: Ingress = .native, submittedBy: SystemID? = nil,
                acceptedAt: Timestamp, edxml: EdxmlSummary? = nil) {
        self.id = id
        self.sender = sender
        self.recipients = recipients
        self.senderDocumentID = senderDocumentID
        self.subject = subject
        self.messageType = messageType
        self.businessType = businessType
        self.refersTo = refersTo
        self.statusCode = statusCode
        self.contentType = contentType
        self.payload = payload
        self.signature = signature
        self.signerFingerprint = signerFingerprint
        self.signerSubject = signerSubject
        self.ingress = ingress
        self.submittedBy = submittedBy
        self.acceptedAt = acceptedAt
        self.edxml = edxml
    }

    func encode(into w: inout ByteWriter) {
        w.document(id)
        w.agency(sender)
        w.array(recipients) { $0.agency($1) }
        w.string(senderDocumentID)
        w.string(subject)
        w.u8(messageType.rawValue)
        w.u8(businessType.rawValue)
        w.array(refersTo) { $0.document($1) }
        w.string(statusCode)
        w.string(contentType)
        payload.encode(into: &w)
        w.optional(signature) { $1.encode(into: &$0) }
        w.optional(signerFingerprint) { $0.digest($1) }
        w.string(signerSubject)
        w.u8(ingress.rawValue)
        w.optional(submittedBy) { $0.system($1) }
        w.time(acceptedAt)
        w.optional(edxml) { $1.encode(into: &$0) }  // version 2
    }

    /// `version` 1 records end before the edXML summary.
    init(from r: inout ByteReader, version: UInt8) throws {
        id = try r.document()
        sender = try r.agency("sender")
        recipients = try r.array("recipients", max: Limits.recipientsMax) { try $0.agency("recipient") }
        senderDocumentID = try r.text("sender document id")
        subject = try r.string("subject", max: Limits.subjectBytesMax)
        guard let mt = MessageType(rawValue: try r.u8("message type")) else { throw AxisError(.malformed, "unknown message type") }
        messageType = mt
        guard let bt = BusinessType(rawValue: try r.u8("business type")) else { throw AxisError(.malformed, "unknown business type") }
        businessType = bt
        refersTo = try r.array("refers-to", max: Limits.listMax) { try $0.document() }
        statusCode = try r.text("status code")
        contentType = try r.text("content type")
        payload = try PayloadRef.decode(from: &r)
        signature = try r.optional("signature") { try PayloadRef.decode(from: &$0) }
        signerFingerprint = try r.optional("signer fingerprint") { try $0.digest() }
        signerSubject = try r.text("signer subject")
        guard let ing = Ingress(rawValue: try r.u8("ingress")) else { throw AxisError(.malformed, "unknown ingress") }
        ingress = ing
        submittedBy = try r.optional("submitted by") { try $0.system() }
        acceptedAt = try r.time("accepted at")
        edxml = version >= 2 ? try r.optional("edXML summary") { try EdxmlSummary(from: &$0) } : nil
    }
}
