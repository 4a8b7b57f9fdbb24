/// How a signer is tied to the agency it signs for: the agency directory registers certificate
/// fingerprints (exact) and/or a subject rule (every certificate whose subject has these attributes).
public struct AgencyBinding: Sendable, Equatable {
    public let agency: AgencyCode
    public let fingerprints: Set<Digest256>
    /// The rule as written in the directory; empty when none.
    public let subjectRule: String

    public init(agency: AgencyCode, fingerprints: [Digest256] = [], subjectRule: String = "") {
        self.agency = agency
        self.fingerprints = Set(fingerprints)
        self.subjectRule = subjectRule
    }

    public init(_ entry: AgencyEntry) {
        self.init(agency: entry.code, fingerprints: entry.certificateFingerprints, subjectRule: entry.subjectRule)
    }

    /// The binding check's outcome for `certificate`.
    func check(_ certificate: Certificate) -> CheckOutcome {
        if fingerprints.contains(certificate.fingerprint) {
            let (fingerprint, agency) = (certificate.fingerprint, agency)
            return .passed(.agencyBinding, lazy: { "certificate sha256 \(fingerprint.hex) is registered to \(agency)" })
        }
        if !subjectRule.isEmpty {
            switch SubjectRule.parse(subjectRule) {
            case .failure(let error):
                return .failed(.agencyBinding, "agency \(agency) has an invalid subject rule (\(error.message)); fix it with axisctl agency update")
            case .success(let rule):
                if rule.matches(certificate.subject) {
                    let (agency, subjectRule) = (agency, subjectRule)
                    return .passed(.agencyBinding, lazy: { "subject matches \(agency)'s rule \"\(subjectRule)\"" })
                }
            }
        }
        if fingerprints.isEmpty && subjectRule.isEmpty {
            return .failed(.agencyBinding, "agency \(agency) has no signing certificate bound; register one "
                + "(axisctl agency update \(agency) --cert signer.pem) or a subject rule")
        }
        return .failed(.agencyBinding, "signer \(certificate.subject) (sha256 \(certificate.fingerprint.hex)) is not bound to "
            + "agency \(agency): its fingerprint is not registered" + (subjectRule.isEmpty ? "" : " and its subject does not match \"\(subjectRule)\""))
    }
}

/// A subject rule: `ATTR=value` pairs separated by commas (`\,` for a literal comma), every one of
/// which must appear in the certificate subject. Attribute names are OpenSSL short names, matched
/// without regard to case (`O`, `OU`, `CN`, `C`, `serialNumber`, …); values match exactly.
/// Example: `O=Bộ Tài chính, OU=000.00.00.G17`.
public struct SubjectRule: Sendable, Equatable {
    public let attributes: [DistinguishedName.Attribute]

    public static func parse(_ text: String) -> Result<SubjectRule, AxisError> {
        var pairs: [String] = []
        var current = ""
        var escaped = false
        for ch in text {
            if escaped { current.append(ch); escaped = false; continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "," { pairs.append(current); current = ""; continue }
            current.append(ch)
        }
        if escaped { return .failure(AxisError(.config, "subject rule ends with a lone backslash")) }
        pairs.append(current)
        var attributes: [DistinguishedName.Attribute] = []
        for pair in pairs {
            let trimmed = pair.trimmingSpaces
            guard let eq = trimmed.firstIndex(of: "=") else {
                return .failure(AxisError(.config, "subject rule part \"\(trimmed)\" is not ATTR=value (e.g. O=Bộ Tài chính)"))
            }
            let type = String(trimmed[..<eq]).trimmingSpaces
            let value = String(trimmed[trimmed.index(after: eq)...]).trimmingSpaces
            guard !type.isEmpty, !value.isEmpty else {
                return .failure(AxisError(.config, "subject rule part \"\(trimmed)\" needs both an attribute and a value"))
            }
            attributes.append(DistinguishedName.Attribute(type: type, value: value))
        }
        return .success(SubjectRule(attributes: attributes))
    }

    public func matches(_ name: DistinguishedName) -> Bool {
        attributes.allSatisfy { wanted in name.values(of: wanted.type).contains(wanted.value) }
    }
}
