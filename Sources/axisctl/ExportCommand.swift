import Axis

/// `axisctl export`: an evidence bundle for one stored document, checkable with stock openssl.
enum ExportCommand {
    static let spec = CommandSpec(
        "export",
        summary: "Write a stored document, its signature, the axis receipt, the signer chain and a README with the openssl commands that check them.",
        options: [
            .value("data", valueName: "DIR", help: "The axisd data directory (required)."),
            .value("out", valueName: "DIR", help: "A new or empty directory for the bundle (required)."),
            .repeatable("trust", valueName: "PATH", help: "Also copy these trust anchors (bundle or directory) into the bundle."),
            .value("intermediates", valueName: "DIR", help: "Intermediate CA certificates (to load the trust configuration)."),
            .value("crl-dir", valueName: "DIR", help: "Also copy these CRLs into the bundle."),
        ],
        positionals: [.required("document-id", help: "The axis document id (32 hex digits).")],
        examples: ["axisctl export --data /var/lib/axis 0192f3a4c5d6e7f8a9b0c1d2e3f40516 --out ./evidence --trust /etc/axis/trust"])

    static func run(_ command: ParsedCommand) throws -> Int32 {
        guard let data = command.value("data") else { throw command.usageError("--data DIR is required") }
        guard let output = command.value("out") else { throw command.usageError("--out DIR is required") }
        let target = command.positional("document-id") ?? ""
        guard let id = DocumentID(hex: target) else {
            throw command.usageError("'\(target)' is not a document id (32 hex digits)")
        }
        var trust: TrustStore?
        if !command.values("trust").isEmpty {
            trust = try TrustStore.load(try VerifyCommand.trustConfiguration(command))
        } else if command.isGiven("crl-dir") {
            throw command.usageError("--crl-dir needs --trust too")
        }
        let written = try ExportBundle.write(dataDirectory: data, document: id, to: output, trust: trust)
        out("wrote \(written.files.count) files to \(written.directory): \(written.files.joined(separator: ", "))")
        out("see \(written.directory)/README.txt for the openssl commands that check them")
        return 0
    }
}
