/// Re-checks one stored document offline, from the data directory alone (no daemon): the journal's
/// integrity up to now, the stored bytes against their recorded SHA-256, the sender's signature
/// (validity judged at the signing time, revocation by today's CRLs), the axis receipt against the
/// journal's facts, and every recipient receipt kept with an acknowledgement.
public struct StoredDocumentAudit: Sendable {
    public struct RecipientReceipt: Sendable {
        public let recipient: AgencyCode
        public let acknowledgedAt: Timestamp
        public let report: SignatureReport
    }

    public let accepted: DocumentAccepted
    public let sequence: UInt64
    public let chain: Digest256
    /// Journal damage found by the scan; when not empty, the chain hashes cannot be relied on.
    public let journalDamage: [String]
    /// The stored bytes read back and matched their SHA-256.
    public let storedBytes: CheckOutcome
    public let signature: SignatureReport?
    /// Whether the signer now is the signer recorded at acceptance.
    public let signerMatchesAcceptance: CheckOutcome
    public let receipt: SignatureReport?
    public let receiptMissing: Bool
    public let recipientReceipts: [RecipientReceipt]

    /// Everything that failed, one line each.
    public var problems: [String] {
        var out = journalDamage.map { "journal: \($0)" }
        if storedBytes.status == .failed { out.append("stored document: \(storedBytes.detail)") }
        if accepted.signature != nil && signature == nil { out.append("signature: the stored signature could not be read") }
        out += (signature?.failures ?? []).map { "signature \($0)" }
        if signerMatchesAcceptance.status == .failed { out.append("signer: \(signerMatchesAcceptance.detail)") }
        if receiptMissing { out.append("receipt: no axis receipt was journaled for this document") }
        out += (receipt?.failures ?? []).map { "receipt \($0)" }
        for r in recipientReceipts { out += r.report.failures.map { "receipt of \(r.recipient) \($0)" } }
        return out
    }

    public var isValid: Bool { problems.isEmpty }

    public static func run(dataDirectory: String, document id: DocumentID, verifier: SignatureVerifier,
                           storage: any Storage = PosixStorage()) throws -> StoredDocumentAudit {
        let layout = AxisCore.Layout(data: dataDirectory)
        let journalDirectory = try JournalInspection.journalDirectory(for: dataDirectory, storage: storage)

        // One pass over the journal: the acceptance, the directory as it stood then, the receipt and acks.
        var agencies: [AgencyCode: AgencyEntry] = [:]
        var found: (record: DocumentAccepted, entry: JournalEntry, agencies: [AgencyCode: AgencyEntry])?
        var receiptRecord: ReceiptIssued?
        var acknowledgements: [DeliveryAcknowledged] = []
        let scan = try JournalScanner.scan(directory: journalDirectory, storage: storage, onRecord: { entry in
            guard let record = try? JournalRecord.decode(kind: entry.kind, body: entry.body) else { return }
            switch record {
            case .agencyChanged(let change): agencies[change.agency.code] = change.agency
            case .documentAccepted(let accepted) where accepted.id == id: found = (accepted, entry, agencies)
            case .receiptIssued(let issued) where issued.document == id: receiptRecord = issued
            case .deliveryAcknowledged(let ack) where ack.document == id && ack.receipt != nil: acknowledgements.append(ack)
            default: break
            }
        })
        guard let found else {
            throw AxisError(.usage, "document \(id) is not in the journal at \(journalDirectory)"
                + (scan.damage.isEmpty ? "" : " (the journal is damaged: run axisctl journal check)"))
        }
        let accepted = found.record

        // The stored bytes.
        var document: [UInt8]?
        let storedBytes: CheckOutcome
        do {
            document = try PayloadStore.read(accepted.payload, directory: layout.payloads, storage: storage)
            storedBytes = .passed(.signature, "\(accepted.payload.length) bytes, sha256 \(accepted.payload.sha256.hex)")
        } catch let error as AxisError {
            storedBytes = .failed(.signature, error.message)
        }

        // The sender's signature, as the agency directory stood at acceptance.
        var signature: SignatureReport?
        var signerMatches = CheckOutcome.skipped(.agencyBinding, "no signer recorded at acceptance")
        if let document, let signatureRef = accepted.signature,
           let signed = try? PayloadStore.read(signatureRef, directory: layout.payloads, storage: storage) {
            let binding = found.agencies[accepted.sender].map(AgencyBinding.init)
                ?? AgencyBinding(agency: accepted.sender)
            let report = try verifier.verify(document: document, signature: signed, binding: binding)
            signature = report
            if let recorded = accepted.signerFingerprint, let now = report.signer?.fingerprint {
                signerMatches = recorded == now
                    ? .passed(.agencyBinding, "the signer is the one recorded at acceptance (sha256 \(recorded.hex.prefix(16))…)")
                    : .failed(.agencyBinding, "the signature's signer \(now.hex) is not the one recorded at acceptance \(recorded.hex)")
            }
        }

        // The axis receipt, against the journal's facts.
        var receipt: SignatureReport?
        if let receiptRecord {
            if let signed = try? PayloadStore.read(receiptRecord.receipt, directory: layout.payloads, storage: storage) {
                let expected = AcceptanceReceipt(accepted: accepted,
                                                 position: AppendReceipt(sequence: found.entry.sequence, chain: found.entry.chain,
                                                                         segment: found.entry.segment, offset: found.entry.offset))
                receipt = try ReceiptVerification.axisReceipt(signed, expected: expected, verifier: verifier)
            }
        }

        var recipientReceipts: [RecipientReceipt] = []
        if let document {
            for ack in acknowledgements {
                guard let ref = ack.receipt else { continue }
                let binding = agencies[ack.recipient].map(AgencyBinding.init) ?? AgencyBinding(agency: ack.recipient)
                let report: SignatureReport
                if let signed = try? PayloadStore.read(ref, directory: layout.payloads, storage: storage) {
                    report = try ReceiptVerification.recipientReceipt(signed, document: document, recipient: binding, verifier: verifier)
                } else {
                    report = SignatureReport(checks: [.failed(.structure, "the stored receipt could not be read back")], signer: nil,
                                             validationTime: ack.at, timeBasis: .verificationTime, checkedAt: ack.at)
                }
                recipientReceipts.append(RecipientReceipt(recipient: ack.recipient, acknowledgedAt: ack.at, report: report))
            }
        }

        return StoredDocumentAudit(
            accepted: accepted, sequence: found.entry.sequence, chain: found.entry.chain,
            journalDamage: scan.damage.map { "\($0)" }, storedBytes: storedBytes, signature: signature,
            signerMatchesAcceptance: signerMatches, receipt: receipt,
            receiptMissing: receiptRecord == nil, recipientReceipts: recipientReceipts)
    }
}
