/// How audits print: text for people, JSON with a stable schema (docs/SIGNATURES.md) for programs.
public enum EvidenceText {
    public static func auditLines(_ audit: StoredDocumentAudit) -> [String] {
        let a = audit.accepted
        var lines = [
            "document:   \(a.id)  from \(a.sender) to \(a.recipients.map(\.rawValue).joined(separator: ", "))",
            "            sender's id \(a.senderDocumentID), accepted \(a.acceptedAt), journal sequence \(audit.sequence)",
            "            chain \(audit.chain.hex)",
            "journal:    " + (audit.journalDamage.isEmpty ? "chain verified from the first record to the last"
                                                          : "DAMAGED: " + audit.journalDamage.joined(separator: "; ")),
            "stored:     \(audit.storedBytes.status == .passed ? "" : "FAILED ")\(audit.storedBytes.detail)",
            "",
            "== sender's signature",
        ]
        if let signature = audit.signature {
            lines += signature.textLines
            lines.append("acceptance: \(audit.signerMatchesAcceptance.detail)")
        } else {
            lines.append(a.signature == nil ? "none: the document was accepted without a signature (admin or demo ingress)"
                                             : "FAILED: the stored signature could not be read")
        }
        lines += ["", "== axis receipt"]
        if let receipt = audit.receipt {
            lines += receipt.textLines
        } else {
            lines.append(audit.receiptMissing ? "FAILED: no receipt was journaled for this document" : "FAILED: the stored receipt could not be read")
        }
        for r in audit.recipientReceipts {
            lines += ["", "== receipt of \(r.recipient), acknowledged \(r.acknowledgedAt)"]
            lines += r.report.textLines
        }
        lines.append("")
        let problems = audit.problems
        lines.append(problems.isEmpty ? "audit: VALID" : "audit: INVALID (\(problems.count) problem(s))")
        lines += problems.map { "  - \($0)" }
        return lines
    }

    public static func auditJSON(_ audit: StoredDocumentAudit) -> JSONValue {
        let a = audit.accepted
        return .object([
            ("valid", .bool(audit.isValid)),
            ("document", .object([
                ("id", .string(a.id.hex)), ("sender", .string(a.sender.rawValue)),
                ("recipients", .array(a.recipients.map { .string($0.rawValue) })),
                ("senderDocumentId", .string(a.senderDocumentID)), ("acceptedAt", .string(a.acceptedAt.description)),
                ("sha256", .string(a.payload.sha256.hex)), ("size", .int(Int64(a.payload.length))),
                ("sequence", .int(Int64(audit.sequence))), ("chainHash", .string(audit.chain.hex)),
            ])),
            ("journalDamage", .array(audit.journalDamage.map { .string($0) })),
            ("stored", .object([("status", .string(audit.storedBytes.status.rawValue)), ("detail", .string(audit.storedBytes.detail))])),
            ("signature", audit.signature?.json ?? .null),
            ("signerMatchesAcceptance", .object([("status", .string(audit.signerMatchesAcceptance.status.rawValue)),
                                                 ("detail", .string(audit.signerMatchesAcceptance.detail))])),
            ("receipt", audit.receipt?.json ?? .null),
            ("recipientReceipts", .array(audit.recipientReceipts.map {
                .object([("recipient", .string($0.recipient.rawValue)), ("acknowledgedAt", .string($0.acknowledgedAt.description)),
                         ("report", $0.report.json)])
            })),
            ("problems", .array(audit.problems.map { .string($0) })),
        ])
    }
}
