// axisctl's agency and system commands: the directory of agencies (who they are, push or pull,
// which system hosts them, which signing certificates are bound) and of client systems (their TLS
// identity, the agencies they host, their VDXP credentials). axisctl asks axisd over the admin
// socket; axisd checks the change and journals it with the caller's uid and the reason.
// Exit codes: 0 ok, 1 failed (unknown target, exists already, not recorded), 64 usage or a value
// axisd refused (the message names the field), 69 axisd unavailable.
import Foundation
import Axis

enum DirectoryCommands {
    static let socket = AdminCommands.socket, data = AdminCommands.data, config = AdminCommands.config
    static let importBytesMax = 32 << 20

    // MARK: Specs

    static func agencyOptions(update: Bool) -> [OptionSpec] {
        var options: [OptionSpec] = [
            socket, data, config, jsonFlag,
            .value("name", valueName: "NAME", help: "The agency's official name" + (update ? "." : " (required).")),
            .value("parent", valueName: "CODE", help: "The parent agency (must exist; '' for none)."),
            .value("email", valueName: "EMAIL", help: "The records office's e-mail address ('' for none)."),
            .value("endpoint", valueName: "URL", help: "Push delivery to this https URL."),
            .flag("pull", help: "Pull delivery: the agency's system fetches from its inbox (no endpoint)."),
            .value("system", valueName: "ID", help: "The client system hosting the agency (must exist; '' for none)."),
            .repeatable("cert", valueName: "FILE.pem", help: update
                ? "Bind this signing certificate too (its SHA-256 fingerprint is sent)."
                : "Bind this signing certificate (its SHA-256 fingerprint is sent)."),
            .value("subject-rule", valueName: "RULE", help: "Bind every certificate whose subject has these attributes, e.g. 'O=Bộ Tài chính, OU=000.00.00.G17' ('' for none)."),
            .value("reason", valueName: "TEXT", help: "Why (kept in the journal)."),
        ]
        if update {
            options.append(.repeatable("remove-cert", valueName: "FILE.pem|SHA256",
                                       help: "Unbind this certificate (a PEM file or its fingerprint)."))
        }
        return options
    }

    static let codeArgument = PositionalSpec.required("code", help: "The agency code, e.g. 000.00.00.G22.")
    static let reasonRequired = OptionSpec.value("reason", valueName: "TEXT", help: "Why (required; kept in the journal).")

    static let agencySpec = CommandSpec("agency", summary: "The agency directory: add, update, list, show, disable, enable, import.", subcommands: [
        CommandSpec("add", summary: "Add an agency: code, name, parent, delivery (push URL or pull), hosting system, signing certificates.",
                    options: agencyOptions(update: false), positionals: [codeArgument],
                    examples: ["axisctl agency add 000.00.00.G17 --name 'Bộ Tài chính' --pull --system mof-edoc --cert mof-signer.pem",
                               "axisctl agency add 000.01.00.G17 --name 'Tổng cục Thuế' --parent 000.00.00.G17 "
                                + "--endpoint https://edoc.gdt.gov.vn/axis/inbox --reason 'ticket 4411'"]),
        CommandSpec("update", summary: "Change an agency: only the options given change (--cert adds a certificate, --remove-cert removes one).",
                    options: agencyOptions(update: true), positionals: [codeArgument],
                    examples: ["axisctl agency update 000.00.00.G17 --endpoint https://edoc.mof.gov.vn/axis/inbox",
                               "axisctl agency update 000.00.00.G17 --pull --reason 'endpoint retired'",
                               "axisctl agency update 000.00.00.G17 --cert signer-2025.pem --remove-cert signer-2022.pem --reason rotation"]),
        CommandSpec("list", summary: "Every agency, as a table (or --json: {\"agencies\":[…]}, importable again).",
                    options: [socket, data, config, jsonFlag], examples: ["axisctl agency list", "axisctl agency list --json > agencies.json"]),
        CommandSpec("show", summary: "One agency: every field, its certificates' fingerprints and the systems hosting it.",
                    options: [socket, data, config, jsonFlag], positionals: [codeArgument],
                    examples: ["axisctl agency show 000.00.00.G17", "axisctl agency show 000.00.00.G17 --json"]),
        CommandSpec("disable", summary: "Disable an agency: documents from or to it are refused until it is enabled.",
                    options: [socket, data, config, jsonFlag, reasonRequired], positionals: [codeArgument],
                    examples: ["axisctl agency disable 000.00.00.H41 --reason 'merged into 000.00.00.H29'"]),
        CommandSpec("enable", summary: "Enable a disabled agency again.",
                    options: [socket, data, config, jsonFlag, reasonRequired], positionals: [codeArgument],
                    examples: ["axisctl agency enable 000.00.00.H41 --reason 'merger cancelled'"]),
        CommandSpec("import", summary: "Add or update many agencies from a JSON file, all or nothing (format: docs/OPERATIONS.md).",
                    options: [socket, data, config, jsonFlag, .flag("dry-run", help: "Check the file and print what would change; change nothing."),
                              .value("reason", valueName: "TEXT", help: "Why (kept in the journal with every change).")],
                    positionals: [.required("file", help: "A JSON list of agency objects, or {\"agencies\":[…]} as agency list --json prints.")],
                    examples: ["axisctl agency import agencies.json --dry-run", "axisctl agency import agencies.json --reason 'directory 2025-06'"]),
    ])

    static func systemOptions(update: Bool) -> [OptionSpec] {
        var options: [OptionSpec] = [
            socket, data, config, jsonFlag,
            .value("name", valueName: "NAME", help: "The system's name" + (update ? "." : " (required).")),
            .repeatable("cert", valueName: "FILE.pem", help: "A TLS client certificate the system authenticates with (its SHA-256 is sent)."),
            .value("subject-rule", valueName: "RULE", help: "Identify the system by its TLS certificate's subject, e.g. 'O=MOF, CN=edoc' ('' for none)."),
            .repeatable("agency", valueName: "CODE", help: "An agency the system hosts (sends and fetches for)."),
            .value("vdxp-id", valueName: "ID", help: "The system id its VDXP SDK sends."),
            .value("vdxp-secret-file", valueName: "FILE", help: "A file holding the VDXP secret (never printed; one trailing newline is dropped)."),
            .value("reason", valueName: "TEXT", help: "Why (kept in the journal)."),
        ]
        if update {
            options += [
                .repeatable("remove-cert", valueName: "FILE.pem|SHA256", help: "Stop accepting this TLS certificate."),
                .repeatable("remove-agency", valueName: "CODE", help: "Stop hosting this agency."),
            ]
        }
        return options
    }

    static let idArgument = PositionalSpec.required("id", help: "The system id, e.g. mof-edoc.")

    static let systemSpec = CommandSpec("system", summary: "Client systems: their TLS identity, hosted agencies, VDXP credentials.", subcommands: [
        CommandSpec("add", summary: "Add a client system.", options: systemOptions(update: false), positionals: [idArgument],
                    examples: ["axisctl system add mof-edoc --name 'MOF e-office' --cert mof-edoc-client.pem --agency 000.00.00.G17",
                               "axisctl system add legacy-1 --name 'Legacy VDXP client' --agency 000.00.00.H29 --vdxp-id 000.00.00.H29 "
                                + "--vdxp-secret-file /root/h29.secret"]),
        CommandSpec("update", summary: "Change a system: only the options given change (--cert and --agency add, --remove-… remove).",
                    options: systemOptions(update: true), positionals: [idArgument],
                    examples: ["axisctl system update mof-edoc --agency 000.01.00.G17",
                               "axisctl system update mof-edoc --cert client-2025.pem --remove-cert client-2022.pem --reason rotation"]),
        CommandSpec("list", summary: "Every system, as a table (the VDXP secret shows only as set/unset).",
                    options: [socket, data, config, jsonFlag], examples: ["axisctl system list", "axisctl system list --json"]),
        CommandSpec("show", summary: "One system: TLS fingerprints, subject rule, hosted agencies, VDXP id (never the secret).",
                    options: [socket, data, config, jsonFlag], positionals: [idArgument], examples: ["axisctl system show mof-edoc"]),
        CommandSpec("disable", summary: "Disable a system: its clients can no longer connect or act for its agencies.",
                    options: [socket, data, config, jsonFlag, reasonRequired], positionals: [idArgument],
                    examples: ["axisctl system disable legacy-1 --reason 'decommissioned'"]),
        CommandSpec("enable", summary: "Enable a disabled system again.",
                    options: [socket, data, config, jsonFlag, reasonRequired], positionals: [idArgument],
                    examples: ["axisctl system enable legacy-1 --reason 'back in service'"]),
    ])

    // MARK: Dispatch

    static func agency(_ command: ParsedCommand, _ action: String) throws -> Int32 {
        func code() -> String { command.positional("code") ?? "" }
        switch action {
        case "add", "update":
            return try changeAgency(command, update: action == "update", code: code())
        case "list":
            return try listAgencies(command)
        case "show":
            return try showAgency(command, code: code())
        case "disable", "enable":
            return try setEnabled(command, path: "/v1/agencies/\(PercentEncoding.encode(code()))/\(action)", what: "agency \(code())",
                                  action: action, entryKey: "agency")
        default:
            return try importAgencies(command)
        }
    }

    static func system(_ command: ParsedCommand, _ action: String) throws -> Int32 {
        func id() -> String { command.positional("id") ?? "" }
        switch action {
        case "add", "update":
            return try changeSystem(command, update: action == "update", id: id())
        case "list":
            return try listSystems(command)
        case "show":
            return try showSystem(command, id: id())
        default:
            return try setEnabled(command, path: "/v1/systems/\(PercentEncoding.encode(id()))/\(action)", what: "system \(id())",
                                  action: action, entryKey: "system")
        }
    }

    // MARK: agency add|update

    static func changeAgency(_ command: ParsedCommand, update: Bool, code: String) throws -> Int32 {
        var agency: [(String, JSONValue)] = [("code", .string(code))]
        if let name = command.value("name") { agency.append(("name", .string(name))) }
        if let parent = command.value("parent") { agency.append(("parent", parent.isEmpty ? .null : .string(parent))) }
        if let email = command.value("email") { agency.append(("email", .string(email))) }
        switch (command.value("endpoint"), command.flag("pull")) {
        case (.some, true): throw command.usageError("--endpoint and --pull exclude each other: push to a URL, or let the agency pull")
        case (.some(let url), false): agency.append(("endpoint", .string(url)))
        case (.none, true): agency.append(("endpoint", .string("")))
        case (.none, false): break
        }
        if let system = command.value("system") { agency.append(("system", system.isEmpty ? .null : .string(system))) }
        let certificates = try certificateFingerprints(command, "cert")
        if !certificates.isEmpty {
            agency.append((update ? "addCertificateFingerprints" : "certificateFingerprints", .array(certificates.map { .string($0) })))
        }
        if update {
            let removed = try fingerprintArguments(command, "remove-cert")
            if !removed.isEmpty { agency.append(("removeCertificateFingerprints", .array(removed.map { .string($0) }))) }
        }
        if let rule = command.value("subject-rule") { agency.append(("subjectRule", .string(rule))) }
        if !update && command.value("name") == nil { throw command.usageError("a new agency needs --name NAME") }
        if update && agency.count == 1 { throw command.usageError("nothing to change: give at least one option (see --help)") }
        let body: JSONValue = .object([("mode", .string(update ? "update" : "add")), ("agency", .object(agency)),
                                       ("reason", .string(command.value("reason") ?? ""))])
        return try post(command, "/v1/agencies", body, what: "agency \(code)", entryKey: "agency",
                        done: update ? "updated" : "added")
    }

    // MARK: system add|update

    static func changeSystem(_ command: ParsedCommand, update: Bool, id: String) throws -> Int32 {
        var system: [(String, JSONValue)] = [("id", .string(id))]
        if let name = command.value("name") { system.append(("name", .string(name))) }
        let certificates = try certificateFingerprints(command, "cert")
        if !certificates.isEmpty { system.append((update ? "addTlsFingerprints" : "tlsFingerprints", .array(certificates.map { .string($0) }))) }
        if let rule = command.value("subject-rule") { system.append(("subjectRule", .string(rule))) }
        let agencies = command.values("agency")
        if !agencies.isEmpty { system.append((update ? "addAgencies" : "agencies", .array(agencies.map { .string($0) }))) }
        if update {
            let removed = try fingerprintArguments(command, "remove-cert")
            if !removed.isEmpty { system.append(("removeTlsFingerprints", .array(removed.map { .string($0) }))) }
            let dropped = command.values("remove-agency")
            if !dropped.isEmpty { system.append(("removeAgencies", .array(dropped.map { .string($0) }))) }
        }
        if let vdxp = command.value("vdxp-id") { system.append(("vdxpSystemId", .string(vdxp))) }
        if let file = command.value("vdxp-secret-file") { system.append(("vdxpSecret", .string(try secret(command, file)))) }
        if !update && command.value("name") == nil { throw command.usageError("a new system needs --name NAME") }
        if update && system.count == 1 { throw command.usageError("nothing to change: give at least one option (see --help)") }
        let body: JSONValue = .object([("mode", .string(update ? "update" : "add")), ("system", .object(system)),
                                       ("reason", .string(command.value("reason") ?? ""))])
        return try post(command, "/v1/systems", body, what: "system \(id)", entryKey: "system", done: update ? "updated" : "added")
    }

    /// The VDXP secret from `path`: one trailing newline dropped, never empty, never printed.
    static func secret(_ command: ParsedCommand, _ path: String) throws -> String {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path, limit: 64 << 10) } catch let error as AxisError {
            throw command.usageError("--vdxp-secret-file \(path): \(error.message)")
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        if text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw command.usageError("--vdxp-secret-file \(path) is empty: write the secret into it") }
        return text
    }

    // MARK: disable|enable

    static func setEnabled(_ command: ParsedCommand, path: String, what: String, action: String, entryKey: String) throws -> Int32 {
        let reason = command.value("reason") ?? ""
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw command.usageError("\(action) needs --reason TEXT (it is kept in the journal)")
        }
        return try post(command, path, .object([("reason", .string(reason))]), what: what, entryKey: entryKey,
                        done: action == "enable" ? "enabled" : "disabled")
    }

    /// Sends a change; prints what happened (or the daemon's JSON), warnings on stderr.
    static func post(_ command: ParsedCommand, _ path: String, _ body: JSONValue, what: String, entryKey: String,
                     done: String) throws -> Int32 {
        let reply = try AdminCommands.ask(command, .post(path, headers: [("Content-Type", "application/json")],
                                                          body: Array(body.encoded().utf8)))
        guard reply.status == 200 || reply.status == 503 else { return refused(reply) }
        if command.flag("json") {
            out(reply.raw)
        } else if reply.body["change"] as? String == "unchanged" {
            out("\(what) unchanged: nothing recorded")
        } else {
            let sequence = (reply.body["sequence"] as? Int).map { " (journal sequence \($0))" } ?? ""
            out("\(done) \(what)\(sequence)")
        }
        for warning in reply.body["warnings"] as? [String] ?? [] { err("axisctl: warning: \(warning)") }
        if let failure = reply.body["error"] as? String { err("axisctl: \(failure)"); return 1 }
        return 0
    }

    /// Prints a refusal: the message and every detail; 64 for a value axisd refused (400), else 1.
    static func refused(_ reply: (status: Int, body: [String: Any], raw: String)) -> Int32 {
        err("axisctl: \(AdminCommands.refusal(reply.body))")
        let details = (reply.body["error"] as? [String: Any])?["details"] as? [String] ?? []
        if details.count > 1 { for detail in details { err("  \(detail)") } }  // the message says "listed in details"
        return reply.status == 400 ? 64 : 1
    }

    // MARK: agency list|show

    static func listAgencies(_ command: ParsedCommand) throws -> Int32 {
        let reply = try AdminCommands.ask(command, .get("/v1/agencies"))
        guard reply.status == 200 else { return refused(reply) }
        if command.flag("json") { out(reply.raw); return 0 }
        let agencies = reply.body["agencies"] as? [[String: Any]] ?? []
        let rows = agencies.map { a -> [String] in
            let certificates = (a["certificateFingerprints"] as? [Any] ?? []).count
            let rule = (a["subjectRule"] as? String ?? "").isEmpty ? "" : "+rule"
            return [a["code"] as? String ?? "", a["name"] as? String ?? "", a["parent"] as? String ?? "-", delivery(a),
                    a["system"] as? String ?? "-", "\(certificates)\(rule)", (a["enabled"] as? Bool ?? false) ? "yes" : "no"]
        }
        for line in TextTable.render(header: ["CODE", "NAME", "PARENT", "DELIVERY", "SYSTEM", "CERTS", "ENABLED"], rows: rows) {
            out(line.trimmingTrailingSpaces)
        }
        out("\(agencies.count) agenc\(agencies.count == 1 ? "y" : "ies")")
        return 0
    }

    static func delivery(_ agency: [String: Any]) -> String {
        let endpoint = agency["endpoint"] as? String ?? ""
        return endpoint.isEmpty ? "pull" : endpoint
    }

    static func showAgency(_ command: ParsedCommand, code: String) throws -> Int32 {
        let reply = try AdminCommands.ask(command, .get("/v1/agencies/\(PercentEncoding.encode(code))"))
        guard reply.status == 200 else { return refused(reply) }
        if command.flag("json") { out(reply.raw); return 0 }
        let a = reply.body["agency"] as? [String: Any] ?? [:]
        let endpoint = a["endpoint"] as? String ?? ""
        var rows: [[String]] = [
            ["code", a["code"] as? String ?? ""], ["name", a["name"] as? String ?? ""], ["parent", a["parent"] as? String ?? "-"],
            ["email", a["email"] as? String ?? ""],
            ["delivery", endpoint.isEmpty ? "pull (its system fetches from the inbox)" : "push to \(endpoint)"],
            ["system", a["system"] as? String ?? "-"],
            ["hosted by", (reply.body["hostedBy"] as? [String] ?? []).joined(separator: ", ").nonEmpty ?? "no system lists it"],
        ]
        let fingerprints = a["certificateFingerprints"] as? [String] ?? []
        rows.append(["certificates", fingerprints.isEmpty ? "none bound" : "sha256 \(fingerprints[0])"])
        for fingerprint in fingerprints.dropFirst() { rows.append(["", "sha256 \(fingerprint)"]) }
        rows.append(["subject rule", (a["subjectRule"] as? String ?? "").nonEmpty ?? "none"])
        rows.append(["enabled", (a["enabled"] as? Bool ?? false) ? "yes" : "no (documents from and to it are refused)"])
        for line in TextTable.render(header: ["", ""], rows: rows).dropFirst() { out(line.trimmingTrailingSpaces) }
        return 0
    }

    // MARK: agency import

    static func importAgencies(_ command: ParsedCommand) throws -> Int32 {
        let file = command.positional("file") ?? ""
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(file, limit: importBytesMax) } catch let error as AxisError {
            throw command.usageError("\(file): \(error.message)")
        }
        let list: Any
        do {
            let value = try JSONSerialization.jsonObject(with: Data(bytes))
            if let array = value as? [Any] {
                list = array
            } else if let array = (value as? [String: Any])?["agencies"] as? [Any] {
                list = array
            } else {
                throw command.usageError("\(file) holds no list of agencies: write [{\"code\":…, \"name\":…}, …] or {\"agencies\":[…]}")
            }
        } catch let error as AxisError {
            throw error
        } catch {
            throw command.usageError("\(file) is not JSON: \(error.localizedDescription)")
        }
        let dryRun = command.flag("dry-run")
        let body = try JSONSerialization.data(withJSONObject: ["agencies": list, "dryRun": dryRun,
                                                               "reason": command.value("reason") ?? ""] as [String: Any])
        let reply = try AdminCommands.ask(command, .post("/v1/agencies/import", headers: [("Content-Type", "application/json")],
                                                          body: Array(body)))
        guard reply.status == 200 || reply.status == 503 else { return refused(reply) }
        if command.flag("json") {
            out(reply.raw)
        } else {
            let b = reply.body
            let (created, updated, unchanged) = (b["created"] as? Int ?? 0, b["updated"] as? Int ?? 0, b["unchanged"] as? Int ?? 0)
            let total = created + updated + unchanged
            out("\(dryRun ? "would import" : "imported") \(total) agenc\(total == 1 ? "y" : "ies"): \(created) created, \(updated) updated, "
                + "\(unchanged) unchanged" + (dryRun ? " (dry run: nothing recorded)" : "; \(b["recorded"] as? Int ?? 0) records"))
            for change in b["changes"] as? [[String: Any]] ?? [] {
                out("  \(dryRun ? "would be " : "")\(change["change"] as? String ?? "") \(change["code"] as? String ?? "")")
            }
        }
        for warning in reply.body["warnings"] as? [String] ?? [] { err("axisctl: warning: \(warning)") }
        if let failure = reply.body["error"] as? String { err("axisctl: \(failure)"); return 1 }
        return 0
    }

    // MARK: system list|show

    static func listSystems(_ command: ParsedCommand) throws -> Int32 {
        let reply = try AdminCommands.ask(command, .get("/v1/systems"))
        guard reply.status == 200 else { return refused(reply) }
        if command.flag("json") { out(reply.raw); return 0 }
        let systems = reply.body["systems"] as? [[String: Any]] ?? []
        let rows = systems.map { s -> [String] in
            let agencies = s["agencies"] as? [String] ?? []
            let shown = agencies.prefix(3).joined(separator: ",") + (agencies.count > 3 ? " +\(agencies.count - 3)" : "")
            let rule = (s["subjectRule"] as? String ?? "").isEmpty ? "" : "+rule"
            return [s["id"] as? String ?? "", s["name"] as? String ?? "", shown.nonEmpty ?? "-",
                    "\((s["tlsFingerprints"] as? [Any] ?? []).count)\(rule)", (s["vdxpSystemId"] as? String ?? "").nonEmpty ?? "-",
                    s["vdxpSecret"] as? String ?? "unset", (s["enabled"] as? Bool ?? false) ? "yes" : "no"]
        }
        for line in TextTable.render(header: ["ID", "NAME", "AGENCIES", "TLS CERTS", "VDXP ID", "VDXP SECRET", "ENABLED"], rows: rows) {
            out(line.trimmingTrailingSpaces)
        }
        out("\(systems.count) system\(systems.count == 1 ? "" : "s")")
        return 0
    }

    static func showSystem(_ command: ParsedCommand, id: String) throws -> Int32 {
        let reply = try AdminCommands.ask(command, .get("/v1/systems/\(PercentEncoding.encode(id))"))
        guard reply.status == 200 else { return refused(reply) }
        if command.flag("json") { out(reply.raw); return 0 }
        let s = reply.body["system"] as? [String: Any] ?? [:]
        var rows: [[String]] = [["id", s["id"] as? String ?? ""], ["name", s["name"] as? String ?? ""]]
        let fingerprints = s["tlsFingerprints"] as? [String] ?? []
        rows.append(["tls certificates", fingerprints.isEmpty ? "none" : "sha256 \(fingerprints[0])"])
        for fingerprint in fingerprints.dropFirst() { rows.append(["", "sha256 \(fingerprint)"]) }
        rows.append(["subject rule", (s["subjectRule"] as? String ?? "").nonEmpty ?? "none"])
        rows.append(["agencies", (s["agencies"] as? [String] ?? []).joined(separator: ", ").nonEmpty ?? "none"])
        rows.append(["vdxp system id", (s["vdxpSystemId"] as? String ?? "").nonEmpty ?? "none"])
        rows.append(["vdxp secret", s["vdxpSecret"] as? String ?? "unset"])
        rows.append(["enabled", (s["enabled"] as? Bool ?? false) ? "yes" : "no (its clients are refused)"])
        for line in TextTable.render(header: ["", ""], rows: rows).dropFirst() { out(line.trimmingTrailingSpaces) }
        return 0
    }

    // MARK: Certificates

    /// The SHA-256 fingerprints of the PEM (or DER) certificates named by `option`, each announced on
    /// stdout (unless --json) so the operator can compare it with `openssl x509 -fingerprint -sha256`.
    static func certificateFingerprints(_ command: ParsedCommand, _ option: String) throws -> [String] {
        try command.values(option).map { path in
            let certificates: [Certificate]
            do { certificates = try Certificate.load(file: path) } catch let error as AxisError {
                throw command.usageError("--\(option) \(path): \(error.message)")
            }
            guard let first = certificates.first else { throw command.usageError("--\(option) \(path) holds no certificate") }
            if certificates.count > 1 {
                err("axisctl: note: \(path) holds \(certificates.count) certificates; using the first, \(first.subject)")
            }
            if !command.flag("json") { out("certificate \(path): \(first.subject), sha256 \(first.fingerprint.hex)") }
            return first.fingerprint.hex
        }
    }

    /// Fingerprints given as 64 hex digits (colons allowed) or as certificate files.
    static func fingerprintArguments(_ command: ParsedCommand, _ option: String) throws -> [String] {
        try command.values(option).map { value in
            let hex = value.filter { $0 != ":" }.lowercased()
            if hex.utf8.count == 64, Digest256(hex: hex) != nil { return hex }
            let certificates: [Certificate]
            do { certificates = try Certificate.load(file: value) } catch let error as AxisError {
                throw command.usageError("--\(option) \(value): not a SHA-256 fingerprint (64 hex digits) nor a readable certificate "
                    + "(\(error.message))")
            }
            guard let first = certificates.first else { throw command.usageError("--\(option) \(value) holds no certificate") }
            return first.fingerprint.hex
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
