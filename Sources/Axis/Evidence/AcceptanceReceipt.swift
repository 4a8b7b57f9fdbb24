/// The facts the axis signs when it accepts a document: what it accepted (id, SHA-256, size), from
/// whom, for whom, when, and where in the journal (sequence and chain hash), so the receipt ties the
/// document to one position in a tamper-evident log.
///
/// Who issued it is not a field: the receipt's signer certificate names the axis.
///
/// The signed form is canonical JSON: keys in sorted order, no whitespace, every non-ASCII character
/// escaped as `\uXXXX`. The same facts always give the same bytes, so anyone holding the journal can
/// rebuild the JSON and compare it byte for byte with what the receipt signs.
public struct AcceptanceReceipt: Equatable, Sendable {
    public static let type = "axis-acceptance-receipt"
    public static let version: Int64 = 1

    public var document: DocumentID
    public var sha256: Digest256
    public var size: UInt64
    public var sender: AgencyCode
    public var recipients: [AgencyCode]
    public var senderDocumentID: String
    /// SHA-256 of the sender's detached signature as received; nil when the document came unsigned.
    public var signatureSHA256: Digest256?
    public var acceptedAt: Timestamp
    public var sequence: UInt64
    public var chainHash: Digest256

    public init(document: DocumentID, sha256: Digest256, size: UInt64, sender: AgencyCode,
                recipients: [AgencyCode], senderDocumentID: String, signatureSHA256: Digest256?,
                acceptedAt: Timestamp, sequence: UInt64, chainHash: Digest256) {
        self.document = document
        self.sha256 = sha256
        self.size = size
        self.sender = sender
        self.recipients = recipients
        self.senderDocumentID = senderDocumentID
        self.signatureSHA256 = signatureSHA256
        self.acceptedAt = acceptedAt
        self.sequence = sequence
        self.chainHash = chainHash
    }

    /// The receipt for `accepted`, journaled at `position`.
    public init(accepted: DocumentAccepted, position: AppendReceipt) {
        self.init(document: accepted.id, sha256: accepted.payload.sha256, size: accepted.payload.length,
                  sender: accepted.sender, recipients: accepted.recipients, senderDocumentID: accepted.senderDocumentID,
                  signatureSHA256: accepted.signature?.sha256, acceptedAt: accepted.acceptedAt,
                  sequence: position.sequence, chainHash: position.chain)
    }

    /// The canonical JSON (sorted keys, documented in docs/SIGNATURES.md).
    public var canonicalJSON: [UInt8] {
        var fields: [(String, JSONValue)] = [
            ("acceptedAt", .string(acceptedAt.description)),
            ("chainHash", .string(chainHash.hex)),
            ("document", .string(document.hex)),
            ("recipients", .array(recipients.map { .string($0.rawValue) })),
            ("sender", .string(sender.rawValue)),
            ("senderDocumentId", .string(senderDocumentID)),
            ("sequence", .int(Int64(sequence))),
            ("sha256", .string(sha256.hex)),
        ]
        if let signatureSHA256 { fields.append(("signatureSha256", .string(signatureSHA256.hex))) }
        fields += [("size", .int(Int64(size))), ("type", .string(Self.type)), ("version", .int(Self.version))]
        return Array(JSONValue.object(fields).encoded(asciiOnly: true).utf8)
    }
}
