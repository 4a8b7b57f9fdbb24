/// Accepting a document: the one place that turns a verified submission into journal facts and a
/// signed receipt. The ingress (native API, VDXP API, demo) verifies first and calls this.
public struct AcceptedDocument: Sendable {
    public let record: DocumentAccepted
    /// Where the acceptance landed in the journal (durable when this value exists).
    public let position: AppendReceipt
    public let receipt: AcceptanceReceipt
    /// The receipt as the axis signed it (CMS, DER, JSON embedded): what the submitter gets back.
    public let signedReceipt: [UInt8]
}

extension AxisCore {
    /// Journals `accepted` (durably: the promise the receipt makes), then signs the receipt, stores it
    /// and journals that it was issued.
    ///
    /// If the process dies after the acceptance is durable but before the receipt is journaled, the
    /// document is still accepted (nothing is lost); a resubmission then gets a freshly signed receipt
    /// over the same facts.
    public func accept(_ accepted: DocumentAccepted, issuer: ReceiptIssuer) throws -> AcceptedDocument {
        let position = try recordAndWait([.documentAccepted(accepted)])[0]
        let (receipt, signed) = try issuer.issue(for: accepted, at: position)
        let stored = try payloads.storeAndWait(signed)
        _ = try recordAndWait([.receiptIssued(ReceiptIssued(document: accepted.id, at: clock.now(), receipt: stored))])
        return AcceptedDocument(record: accepted, position: position, receipt: receipt, signedReceipt: signed)
    }
}
