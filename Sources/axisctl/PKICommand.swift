import Axis

/// `axisctl pki init DIR`: a development PKI for demos and tests (see `DevelopmentPKI`).
/// Exit 0 created, 1 refused or failed (the directory is left as it was), 64 usage.
enum PKICommand {
    static let initSpec = CommandSpec(
        "init",
        summary: "Create a development PKI (NOT FOR PRODUCTION): root, Agencies CA, CRLs, axis and agency certificates.",
        options: [jsonFlag],
        positionals: [.required("dir", help: "Where to create it: a new directory, or an empty one.")],
        examples: ["axisctl pki init ./dev-pki", "axisctl pki init /tmp/axis-pki --json"])

    static func initialize(_ command: ParsedCommand) throws -> Int32 {
        let directory = command.positional("dir") ?? ""
        let pki: DevelopmentPKI
        do {
            pki = try DevelopmentPKI.create(at: directory, now: SystemClock().now())
        } catch let error as AxisError where error.code != .usage {
            err("axisctl: no development PKI was created: \(error)")
            return 1
        }
        if command.flag("json") {
            out(json(pki).encoded())
        } else {
            for line in text(pki) { out(line) }
        }
        return 0
    }

    static func text(_ pki: DevelopmentPKI) -> [String] {
        let width = max(6, pki.agencies.map(\.code.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines = [
            "\(DevelopmentPKI.banner): created in \(pki.directory) (keys are unencrypted; see \(pki.readmePath))",
            "root CA:      \(pki.rootCertificatePath)",
            "agencies CA:  \(pki.intermediateCertificatePath)",
            "CRLs:         \(pki.rootCRLPath), \(pki.agenciesCRLPath)",
            "axis signer:  \(pki.axisCertificatePath)  \(pki.axis.algorithm)  sha256 \(pki.axis.fingerprint.hex)",
            pad("AGENCY", width) + "  ALGORITHM  SHA-256 FINGERPRINT",
        ]
        lines += pki.agencies.map { pad($0.code, width) + "  " + pad($0.algorithm, 9) + "  " + $0.fingerprint.hex }
        lines += [
            "revoked test: \(pki.revoked.certificatePath) (\(pki.revoked.code); listed in \(pki.agenciesCRLPath))",
            "expired test: \(pki.expired.certificatePath) (\(pki.expired.code))",
            "verify with:  axisctl verify FILE --signature FILE.p7s --trust \(pki.trustConfiguration.anchorsDirectory ?? "")"
                + " --intermediates \(pki.trustConfiguration.intermediatesDirectory ?? "")"
                + " --crl-dir \(pki.trustConfiguration.crlDirectory ?? "")",
            "NOT FOR PRODUCTION: never trust this root, or register these certificates, outside development and tests.",
        ]
        return lines
    }

    static func json(_ pki: DevelopmentPKI) -> JSONValue {
        func credential(_ c: DevelopmentPKI.Credential) -> JSONValue {
            .object([("code", .string(c.code)), ("certificate", .string(c.certificatePath)), ("key", .string(c.keyPath)),
                     ("algorithm", .string(c.algorithm)), ("sha256", .string(c.fingerprint.hex))])
        }
        let trust = pki.trustConfiguration
        return .object([
            ("warning", .string(DevelopmentPKI.banner)),
            ("directory", .string(pki.directory)),
            ("readme", .string(pki.readmePath)),
            ("trust", .object([("anchorsDirectory", .string(trust.anchorsDirectory ?? "")),
                               ("intermediatesDirectory", .string(trust.intermediatesDirectory ?? "")),
                               ("crlDirectory", .string(trust.crlDirectory ?? ""))])),
            ("rootCertificate", .string(pki.rootCertificatePath)),
            ("intermediateCertificate", .string(pki.intermediateCertificatePath)),
            ("crls", .array([.string(pki.rootCRLPath), .string(pki.agenciesCRLPath)])),
            ("axis", credential(pki.axis)),
            ("axisChain", .string(pki.axisChainPath)),
            ("agencies", .array(pki.agencies.map(credential))),
            ("revoked", credential(pki.revoked)),
            ("expired", credential(pki.expired)),
        ])
    }
}
