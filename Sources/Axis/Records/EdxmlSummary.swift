/// The edXML header facts the axis keeps with a document that arrived as edXML (VDXP API): what
/// senders and recipients see in their lists (`getSentEdocList`'s notation, the edXML DocumentId) and
/// what links revocations, updates and statuses to the document they are about. The document bytes
/// themselves stay exactly as received; this is only an index of them.
public struct EdxmlSummary: Equatable, Sendable {
    /// MessageHeader/DocumentId (`<OrganId>,<yyyy/MM/dd>,<Number>/<Notation>` by convention); empty for statuses.
    public var documentID: String
    public var codeNumber: String
    public var codeNotation: String
    public var promulgationDate: String
    /// Whether the enveloped XMLDSig `Signature` was present (its cryptographic check is not done by the axis).
    public var signaturePresent: Bool

    public init(documentID: String = "", codeNumber: String = "", codeNotation: String = "", promulgationDate: String = "",
                signaturePresent: Bool = false) {
        self.documentID = documentID
        self.codeNumber = codeNumber
        self.codeNotation = codeNotation
        self.promulgationDate = promulgationDate
        self.signaturePresent = signaturePresent
    }

    /// `CodeNumber/CodeNotation` as offices write a document's number ("7816/VPCP-TTĐT"), or whichever is present.
    public var notation: String {
        [codeNumber, codeNotation].filter { !$0.isEmpty }.joined(separator: "/")
    }

    func encode(into w: inout ByteWriter) {
        w.string(documentID); w.string(codeNumber); w.string(codeNotation); w.string(promulgationDate); w.bool(signaturePresent)
    }

    init(from r: inout ByteReader) throws {
        documentID = try r.text("edXML document id"); codeNumber = try r.text("edXML code number")
        codeNotation = try r.text("edXML code notation"); promulgationDate = try r.text("edXML promulgation date")
        signaturePresent = try r.bool("edXML signature present")
    }
}
