/// A document as a sender submits it, before anything is checked against the directory: who sends it,
/// to whom, under which of the sender's own ids, and the detached signature. Parsed from the native
/// API's `Axis-*` headers by `Submission.parse`; the VDXP API (#8) builds the same value from its own.
public struct Submission: Sendable, Equatable {
    public static let senderDocumentIDBytesMax = 128
    /// Prefixes of the sender document ids the axis gives the messages it creates itself.
    public static let reservedDocumentIDPrefixes = ["status:", "event:", "edxml:"]
    /// Base64 of this many bytes fits the server's 32 KiB header section with room for the rest:
    /// enough for a signature carrying a chain of several RSA-4096 certificates.
    public static let signatureBytesMax = 16 << 10

    public var sender: AgencyCode
    public var recipients: [AgencyCode]
    /// The sender's own id: with `sender`, the idempotency key.
    public var senderDocumentID: String
    public var subject: String
    public var contentType: String
    /// Detached CMS SignedData (DER) over the body; empty for edXML (see `verification`).
    public var signature: [UInt8]
    /// How the sender's signature is checked: the detached CMS (native API), or, for edXML from the
    /// VDXP API, the enveloped XMLDSig's presence, which the VDXP layer judged against its policy
    /// before submitting (the axis does not verify XMLDSig).
    public var verification: Verification = .cms
    public var messageType: DocumentAccepted.MessageType = .document
    public var businessType: DocumentAccepted.BusinessType = .new
    /// Earlier documents this one revokes, updates, replaces or answers.
    public var refersTo: [DocumentID] = []
    public var statusCode: String = ""
    public var edxml: EdxmlSummary?
    /// A status message that reports on a document the axis carried: also journal a
    /// `RecipientStatus` on that document, in the same batch as the acceptance.
    public var statusReport: StatusReport?

    public enum Verification: Sendable, Equatable { case cms, edxmlEnvelope }

    public struct StatusReport: Sendable, Equatable {
        public var document: DocumentID
        /// The recipient of `document` whose processing status this is.
        public var recipient: AgencyCode
        public var description: String
        public init(document: DocumentID, recipient: AgencyCode, description: String) {
            (self.document, self.recipient, self.description) = (document, recipient, description)
        }
    }

    public init(sender: AgencyCode, recipients: [AgencyCode], senderDocumentID: String, subject: String = "",
                contentType: String = "application/octet-stream", signature: [UInt8]) {
        self.sender = sender
        self.recipients = recipients
        self.senderDocumentID = senderDocumentID
        self.subject = subject
        self.contentType = contentType
        self.signature = signature
    }

    /// Reads the native API's headers. Every problem is a 400 naming the header and what to send.
    public static func parse(_ headers: HTTPHeaders) -> Result<Submission, HTTPError> {
        func bad(_ header: String, _ message: String) -> Result<Submission, HTTPError> {
            .failure(HTTPError(.badRequest, HTTPError.Code("invalid_" + String(header.lowercased().map { $0 == "-" ? "_" : $0 })),
                               "\(header): \(message)"))
        }
        guard let from = headers["Axis-From"], !from.isEmpty else {
            return bad("Axis-From", "missing; send the sending agency's code, e.g. Axis-From: 000.00.00.G22")
        }
        guard let sender = try? AgencyCode(from) else { return bad("Axis-From", "'\(from)' is not an agency code") }

        guard let to = headers["Axis-To"], !to.isEmpty else {
            return bad("Axis-To", "missing; send the recipients' agency codes, comma-separated")
        }
        var recipients: [AgencyCode] = []
        var seen = Set<AgencyCode>()
        for part in to.split(separator: ",", omittingEmptySubsequences: false) {
            let text = part.trimmingSpaces
            guard let code = try? AgencyCode(text) else { return bad("Axis-To", "'\(text)' is not an agency code") }
            guard seen.insert(code).inserted else { return bad("Axis-To", "\(code) is listed twice") }
            recipients.append(code)
        }
        guard recipients.count <= Limits.recipientsMax else {
            return bad("Axis-To", "\(recipients.count) recipients; at most \(Limits.recipientsMax) per document")
        }

        guard let documentID = headers["Axis-Document-Id"], !documentID.isEmpty else {
            return bad("Axis-Document-Id", "missing; send your own id for the document (it makes resubmission safe)")
        }
        guard documentID.utf8.count <= senderDocumentIDBytesMax,
              documentID.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return bad("Axis-Document-Id", "must be 1–\(senderDocumentIDBytesMax) visible ASCII characters without spaces "
                + "(percent-encode anything else)")
        }
        // The axis names the status messages and delivery events it makes this way; a submitted id
        // must not take one of those names (the idempotency index is shared).
        if let reserved = reservedDocumentIDPrefixes.first(where: { documentID.lowercased().hasPrefix($0) }) {
            return bad("Axis-Document-Id", "must not start with \"\(reserved)\", which the axis uses for the status messages and "
                + "delivery events it creates and the edXML messages of the VDXP API; choose another id")
        }

        var subject = ""
        if let encoded = headers["Axis-Subject"] {
            // Header bytes are Latin-1 on the wire: only ASCII is unambiguous, so UTF-8 must be escaped.
            guard encoded.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }),
                  let decoded = PercentEncoding.decodeUTF8(encoded) else {
                return bad("Axis-Subject", "must be percent-encoded UTF-8 (e.g. C%C3%B4ng%20v%C4%83n for \"Công văn\")")
            }
            guard decoded.utf8.count <= Limits.subjectBytesMax else {
                return bad("Axis-Subject", "\(decoded.utf8.count) bytes once decoded; at most \(Limits.subjectBytesMax)")
            }
            subject = decoded
        }

        guard let signatureText = headers.firstValueBytes("Axis-Signature"), !signatureText.isEmpty else {
            return bad("Axis-Signature", "missing; send the detached CMS signature over the body, DER, base64-encoded "
                + "(openssl cms -sign -binary -outform DER … | base64 -w0)")
        }
        guard signatureText.count <= signatureBytesMax * 4 / 3 + 4, let signature = Base64.decode(signatureText), !signature.isEmpty else {
            return bad("Axis-Signature", "not base64 on one line (standard alphabet, with padding), or larger than \(signatureBytesMax) bytes")
        }
        let contentType = headers["Content-Type"].map { String($0.prefix(200)) } ?? "application/octet-stream"
        return .success(Submission(sender: sender, recipients: recipients, senderDocumentID: documentID, subject: subject,
                                   contentType: contentType, signature: signature))
    }
}

/// What to do with a submission given what the journal already holds under its idempotency key.
/// Pure: the ingress asks it under its reservation for the key, so no two submissions race.
public enum SubmissionDecision: Equatable, Sendable {
    /// Nothing under the key yet: verify and accept.
    case accept
    /// The same bytes again: answer 200 with the original acceptance.
    case duplicate(DocumentID)
    /// Other bytes (or other recipients) under a used id: 409.
    case conflict(DocumentID, reason: String)

    public static func decide(existing: QueueState.Document?, sha256: Digest256, recipients: [AgencyCode]) -> SubmissionDecision {
        guard let existing else { return .accept }
        let earlier = existing.accepted
        guard earlier.payload.sha256 == sha256 else {
            return .conflict(earlier.id, reason: "with other bytes (sha256 \(earlier.payload.sha256.hex))")
        }
        // The same bytes to other recipients is not a retry: answering 200 would suggest they were added.
        guard Set(earlier.recipients) == Set(recipients) else {
            return .conflict(earlier.id, reason: "to other recipients (\(earlier.recipients.map(\.rawValue).joined(separator: ",")))")
        }
        return .duplicate(earlier.id)
    }
}

/// `%XX` decoding to UTF-8 text, strict: a malformed escape or invalid UTF-8 is refused.
public enum PercentEncoding {
    public static func decodeUTF8(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Percent-encodes everything but unreserved ASCII (RFC 3986 §2.3).
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
