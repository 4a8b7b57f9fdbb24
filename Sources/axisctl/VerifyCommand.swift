@preconcurrency import Glibc
import Axis

/// `axisctl verify`: offline signature checks for compliance staff. Exit 0 valid, 1 invalid,
/// 64 usage, 66 an input file cannot be read, 78 the trust configuration cannot be loaded.
enum VerifyCommand {
    static let spec = CommandSpec(
        "verify",
        summary: "Check a document's detached CMS signature (or a stored document, its signature and its receipt), offline.",
        options: [
            .value("signature", valueName: "P7S", help: "The detached CMS/PKCS#7 signature (DER or PEM) over FILE."),
            .repeatable("trust", valueName: "PATH", help: "Trust anchors: a PEM bundle or a directory of CA certificates."),
            .value("intermediates", valueName: "DIR", help: "A directory of intermediate CA certificates."),
            .value("crl-dir", valueName: "DIR", help: "A directory of CRLs; without it revocation is not checked."),
            .value("data", valueName: "DIR", help: "Check the stored document TARGET in this axisd data directory."),
            jsonFlag,
        ],
        positionals: [.required("target", help: "The document file, or with --data the axis document id.")],
        examples: [
            "axisctl verify report.pdf --signature report.pdf.p7s --trust /etc/axis/trust --crl-dir /etc/axis/crl",
            "axisctl verify --data /var/lib/axis 0192f3a4c5d6e7f8a9b0c1d2e3f40516 --trust /etc/axis/trust --json",
        ])

    static func run(_ command: ParsedCommand) throws -> Int32 {
        let trust: TrustStore
        do {
            trust = try TrustStore.load(try trustConfiguration(command))
        } catch let error as AxisError where error.code != .usage {
            err("axisctl: cannot load the trust configuration: \(error)")
            return 78
        }
        if let data = command.value("data") {
            return try stored(command, data: data, trust: trust)
        }
        guard let signaturePath = command.value("signature") else {
            throw command.usageError("--signature P7S is required to check a file (or use --data DIR to check a stored document)")
        }
        let documentPath = command.positional("target") ?? ""
        let verifier = SignatureVerifier(trust: trust)
        let document: [UInt8], signature: [UInt8]
        do {
            document = try FileBytes.read(documentPath)
            // A signature larger than the policy allows is refused unread (bounded memory): invalid, exit 1.
            signature = try FileBytes.read(signaturePath, limit: verifier.policy.maximumSignatureBytes)
        } catch let error as AxisError where error.code == .limitExceeded {
            err("axisctl: INVALID signature: \(error.message) (a detached CMS signature is normally a few KiB)")
            return 1
        } catch let error as AxisError {
            err("axisctl: \(error)")
            return 66
        }
        let report = try verifier.verify(document: document, signature: signature, binding: nil)
        if command.flag("json") {
            out(JSONValue.object([
                ("document", .object([("path", .string(documentPath)), ("bytes", .int(Int64(document.count))),
                                      ("sha256", .string(SHA256Hasher.digest(document).hex))])),
                ("signature", .object([("path", .string(signaturePath)), ("bytes", .int(Int64(signature.count)))])),
                ("report", report.json),
            ]).encoded())
        } else {
            out("document:   \(documentPath) (\(document.count) bytes, sha256 \(SHA256Hasher.digest(document).hex))")
            out("signature:  \(signaturePath) (\(signature.count) bytes)")
            for line in report.textLines { out(line) }
        }
        return report.isTrusted ? 0 : 1
    }

    /// `--data DIR ID`: the stored document, its signature, the axis receipt and recipient receipts.
    static func stored(_ command: ParsedCommand, data: String, trust: TrustStore) throws -> Int32 {
        if command.isGiven("signature") { throw command.usageError("--signature is for files; with --data the stored signature is used") }
        let target = command.positional("target") ?? ""
        guard let id = DocumentID(hex: target) else {
            throw command.usageError("'\(target)' is not a document id (32 hex digits, as axisctl queue list shows)")
        }
        let audit = try StoredDocumentAudit.run(dataDirectory: data, document: id, verifier: SignatureVerifier(trust: trust))
        if command.flag("json") {
            out(EvidenceText.auditJSON(audit).encoded())
        } else {
            for line in EvidenceText.auditLines(audit) { out(line) }
        }
        return audit.isValid ? 0 : 1
    }

    static func trustConfiguration(_ command: ParsedCommand) throws -> TrustConfiguration {
        var configuration = TrustConfiguration()
        let paths = command.values("trust")
        guard !paths.isEmpty else {
            throw command.usageError("--trust PATH is required: the PEM bundle or directory of CA certificates to trust")
        }
        guard paths.count <= 2 else { throw command.usageError("give --trust at most twice (one bundle file and one directory)") }
        for path in paths {
            var st = stat()
            guard stat(path, &st) == 0 else { throw command.usageError("--trust \(path): no such file or directory") }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                guard configuration.anchorsDirectory == nil else { throw command.usageError("--trust names two directories; give one") }
                configuration.anchorsDirectory = path
            } else {
                guard configuration.anchorsFile == nil else { throw command.usageError("--trust names two files; bundle them into one PEM") }
                configuration.anchorsFile = path
            }
        }
        configuration.intermediatesDirectory = command.value("intermediates")
        configuration.crlDirectory = command.value("crl-dir")
        return configuration
    }
}
