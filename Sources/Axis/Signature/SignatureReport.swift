/// The outcome of checking one detached signature: every check that ran, in order, with its outcome
/// and a reason written for a person. A report is a value: verification never throws for a bad
/// signature, only when it could not check at all.

/// The checks, in the order they run. The raw values are stable (they appear in JSON and in API errors).
public enum SignatureCheck: String, CaseIterable, Sendable, Codable {
    /// The bytes are a CMS SignedData, detached, with exactly one signer, within the size limit.
    case structure
    /// Digest, signature algorithm and key are ones Axis accepts.
    case algorithm
    /// The signature is mathematically valid over the exact document bytes.
    case signature
    /// The signed signingTime attribute is readable and not in the future.
    case signingTime = "signing-time"
    /// The signer's certificate chains to a configured trust anchor.
    case chain
    /// Every certificate in the chain was valid at the validation time.
    case validity
    /// The signer's key usage allows digitalSignature or nonRepudiation.
    case keyUsage = "key-usage"
    /// No certificate in the chain is revoked, by current CRLs.
    case revocation
    /// The signer is bound to the sending agency in the agency directory.
    case agencyBinding = "agency-binding"
    /// Receipts only: what the receipt says matches the facts it is checked against (the journal, or
    /// for a recipient's receipt, the document it acknowledges).
    case receiptContent = "receipt-content"
}

public struct CheckOutcome: Sendable, Equatable {
    public enum Status: String, Sendable { case passed, failed, skipped }
    public let check: SignatureCheck
    public let status: Status
    /// The reason, written for a person. Built only when read: at full load most reports of good
    /// signatures are never printed, and formatting them would cost as much as the RSA check itself.
    public var detail: String { render() }
    private let render: @Sendable () -> String

    init(check: SignatureCheck, status: Status, detail: @escaping @Sendable () -> String) {
        (self.check, self.status, self.render) = (check, status, detail)
    }

    public static func passed(_ check: SignatureCheck, _ detail: String) -> CheckOutcome { .init(check: check, status: .passed) { detail } }
    public static func failed(_ check: SignatureCheck, _ detail: String) -> CheckOutcome { .init(check: check, status: .failed) { detail } }
    public static func skipped(_ check: SignatureCheck, _ detail: String) -> CheckOutcome { .init(check: check, status: .skipped) { detail } }
    /// A pass whose text is formatted only if someone reads it (the hot path of verification).
    static func passed(_ check: SignatureCheck, lazy detail: @escaping @Sendable () -> String) -> CheckOutcome {
        .init(check: check, status: .passed, detail: detail)
    }

    public static func == (a: CheckOutcome, b: CheckOutcome) -> Bool {
        a.check == b.check && a.status == b.status && a.detail == b.detail
    }
}

/// One failed check: what failed and why.
public struct SignatureFailure: Sendable, Equatable, CustomStringConvertible {
    public let check: SignatureCheck
    public let reason: String
    public var description: String { "\(check.rawValue): \(reason)" }
}

/// Who signed, as far as the signature and its chain say.
public struct SignerSummary: Sendable, Equatable {
    public let subject: String
    public let issuer: String
    public let serialHex: String
    public let fingerprint: Digest256
    public let notBefore: Timestamp
    public let notAfter: Timestamp
    public let key: String
    /// Subjects from the signer up to the trust anchor (just the signer when no chain was built).
    public let chain: [String]

    init(_ certificate: Certificate, chain: [Certificate]) {
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        serialHex = certificate.serialHex
        fingerprint = certificate.fingerprint
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
        key = certificate.publicKeyDescription
        self.chain = chain.isEmpty ? [subject] : chain.map { $0.subject.description }
    }
}

public enum SignatureVerdict: Sendable, Equatable {
    case trusted(signer: SignerSummary)
    case rejected([SignatureFailure])
}

public struct SignatureReport: Sendable, Equatable {
    /// Which time the chain's validity was checked at.
    public enum TimeBasis: String, Sendable {
        /// The signed signingTime attribute.
        case signingTime = "signing-time"
        /// The time of verification (the signature carries no signing time).
        case verificationTime = "verification-time"
    }

    public let checks: [CheckOutcome]
    public let signer: SignerSummary?
    public let validationTime: Timestamp
    public let timeBasis: TimeBasis
    /// When the check ran.
    public let checkedAt: Timestamp

    public var failures: [SignatureFailure] {
        checks.filter { $0.status == .failed }.map { SignatureFailure(check: $0.check, reason: $0.detail) }
    }

    public var verdict: SignatureVerdict {
        let failed = failures
        if failed.isEmpty, let signer { return .trusted(signer: signer) }
        return .rejected(failed)
    }

    public var isTrusted: Bool {
        if case .trusted = verdict { return true }
        return false
    }

    public func outcome(_ check: SignatureCheck) -> CheckOutcome? { checks.first { $0.check == check } }

    /// This report with one more check appended (e.g. a receipt's content check).
    public func adding(_ outcome: CheckOutcome) -> SignatureReport {
        SignatureReport(checks: checks + [outcome], signer: signer, validationTime: validationTime, timeBasis: timeBasis,
                        checkedAt: checkedAt)
    }

    /// The report as JSON with a stable field order (documented in docs/SIGNATURES.md).
    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("valid", .bool(isTrusted)),
            ("validationTime", .string(validationTime.description)),
            ("timeBasis", .string(timeBasis.rawValue)),
            ("checkedAt", .string(checkedAt.description)),
        ]
        if let signer {
            fields.append(("signer", .object([
                ("subject", .string(signer.subject)), ("issuer", .string(signer.issuer)),
                ("serial", .string(signer.serialHex)), ("sha256", .string(signer.fingerprint.hex)),
                ("notBefore", .string(signer.notBefore.description)), ("notAfter", .string(signer.notAfter.description)),
                ("key", .string(signer.key)), ("chain", .array(signer.chain.map { .string($0) })),
            ])))
        } else {
            fields.append(("signer", .null))
        }
        fields.append(("checks", .array(checks.map {
            .object([("check", .string($0.check.rawValue)), ("status", .string($0.status.rawValue)), ("detail", .string($0.detail))])
        })))
        return .object(fields)
    }
}

extension SignatureReport {
    /// The report for people: the signer, the validation time, then one aligned line per check.
    public var textLines: [String] {
        var lines: [String] = []
        if let signer {
            lines.append("signer:     \(signer.subject)")
            lines.append("            sha256 \(signer.fingerprint.hex), \(signer.key), serial \(signer.serialHex)")
            lines.append("issuer:     \(signer.issuer)")
        } else {
            lines.append("signer:     unknown")
        }
        let basis = timeBasis == .signingTime ? "the signed signingTime" : "no signing time in the signature: the verification time"
        lines.append("checked at: \(validationTime) (\(basis))")
        lines.append("")
        let rows = checks.map { [$0.status == .failed ? "FAILED" : $0.status.rawValue, $0.check.rawValue, $0.detail] }
        lines += TextTable.render(header: ["RESULT", "CHECK", "DETAIL"], rows: rows)
        lines.append("")
        let failed = failures.count
        lines.append(failed == 0 && signer != nil ? "result: VALID" : "result: INVALID (\(failed) check(s) failed)")
        return lines
    }
}
