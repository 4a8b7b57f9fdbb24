/// The headers that travel with a document's bytes, wherever the axis sends them: the reply to
/// `GET /v1/documents/{id}/content` and every push to a recipient's endpoint (one list, so the two
/// can never drift apart). Documented in docs/API.md.
enum DocumentHeaders {
    /// `signature` is the detached CMS as stored (sent base64), when the document has one.
    static func fields(_ d: DocumentAccepted, signature: [UInt8]?) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("Content-Type", d.contentType),
            ("Axis-Id", d.id.hex),
            ("Axis-From", d.sender.rawValue),
            ("Axis-To", d.recipients.map(\.rawValue).joined(separator: ",")),
            ("Axis-Document-Id", d.senderDocumentID),
        ]
        if !d.subject.isEmpty { fields.append(("Axis-Subject", PercentEncoding.encode(d.subject))) }
        fields.append(("Axis-Sha256", d.payload.sha256.hex))
        switch d.messageType {
        case .document: break
        case .status: fields.append(("Axis-Status-Code", d.statusCode))
        case .event: fields.append(("Axis-Event", d.statusCode))
        }
        if !d.refersTo.isEmpty { fields.append(("Axis-Refers-To", d.refersTo.map(\.hex).joined(separator: ","))) }
        if let signature { fields.append(("Axis-Signature", Base64.encode(signature))) }
        return fields
    }
}
