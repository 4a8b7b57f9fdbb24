/// Checks of receipts: the axis's own (against the journal's facts) and a recipient's (against the
/// document it acknowledges). Both are signature reports with one more check, `receipt-content`.
public enum ReceiptVerification {
    /// Checks an axis receipt's signature and, when `expected` is given, that it signs exactly the
    /// canonical JSON of those facts.
    public static func axisReceipt(_ signed: [UInt8], expected: AcceptanceReceipt?, verifier: SignatureVerifier) throws -> SignatureReport {
        let (report, content) = try verifier.verifyAttached(signature: signed, binding: nil)
        guard let expected else { return report }
        guard let content else {
            return report.adding(.skipped(.receiptContent, "the receipt's content could not be read"))
        }
        let wanted = expected.canonicalJSON
        if content == wanted {
            return report.adding(.passed(.receiptContent, "matches the journal: document \(expected.document), sequence "
                + "\(expected.sequence), chain \(expected.chainHash.hex.prefix(16))…, sha256 \(expected.sha256.hex.prefix(16))…"))
        }
        return report.adding(.failed(.receiptContent, "the receipt says \(String(decoding: content, as: UTF8.self)) but the journal "
            + "gives \(String(decoding: wanted, as: UTF8.self))"))
    }

    /// Checks a recipient's signed receipt for a document: either a detached signature over the
    /// document's exact bytes, or a signature embedding content that names the document's SHA-256.
    /// The signer must be bound to the recipient agency.
    public static func recipientReceipt(_ signed: [UInt8], document: [UInt8], recipient: AgencyBinding,
                                        verifier: SignatureVerifier) throws -> SignatureReport {
        let attached = signed.withUnsafeBytes { raw in (try? SignedData.parse(raw)).map { !$0.isDetached } ?? false }
        if !attached {
            let report = try verifier.verify(document: document, signature: signed, binding: recipient)
            return report.adding(report.outcome(.signature)?.status == .passed
                ? .passed(.receiptContent, "a detached signature over the acknowledged document's bytes")
                : .failed(.receiptContent, "not a valid signature over the acknowledged document's bytes"))
        }
        let (report, content) = try verifier.verifyAttached(signature: signed, binding: recipient)
        let digest = SHA256Hasher.digest(document).hex
        guard let content else { return report.adding(.skipped(.receiptContent, "the receipt's content could not be read")) }
        let text = String(decoding: content, as: UTF8.self).lowercased()
        return report.adding(text.contains(digest)
            ? .passed(.receiptContent, "names the acknowledged document's SHA-256 \(digest.prefix(16))…")
            : .failed(.receiptContent, "does not name the acknowledged document's SHA-256 \(digest): it acknowledges something else"))
    }
}
