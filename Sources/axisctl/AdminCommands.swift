// axisctl's commands that ask the running axisd, over its admin socket: status and the queue.
// axisctl never writes the journal: axisd records every change, with the caller's uid and gid.
// Exit codes: 0 ok, 1 failed, 2 partial (some targets left alone), 64 usage, 69 axisd unavailable.
@preconcurrency import Glibc
import Foundation
import Axis

enum AdminCommands {
    static let socket = OptionSpec.value("socket", valueName: "PATH",
                                         help: "axisd's admin socket. Without it: from --data, --config, \(defaultConfig) if it exists, "
                                             + "else /var/lib/axis/admin.sock.")
    static let data = OptionSpec.value("data", valueName: "DIR", help: "The data directory of the axisd to ask (its admin.sock).")
    static let config = OptionSpec.value("config", valueName: "FILE", help: "axisd's configuration file (its admin.socket and data).")
    static let defaultData = "/var/lib/axis"
    static let defaultConfig = "/etc/axis/axisd.json"
    static let exitUnavailable: Int32 = 69

    static let statusSpec = CommandSpec(
        "status", summary: "Uptime, listeners, journal, queue counts by state, the oldest waiting item, failing recipients.",
        options: [socket, data, config, jsonFlag],
        examples: ["axisctl status", "axisctl status --data /tmp/axis-demo --json"])

    static let actionOptions: [OptionSpec] = [
        socket, data, config, jsonFlag,
        .value("recipient", valueName: "CODE", help: "Every delivery to this agency (with ids: only this recipient of them)."),
        .flag("all", help: "Every delivery not in a final state."),
        .value("reason", valueName: "TEXT", help: "Why (kept in the journal, shown in the trace); required for delete and expire."),
        .flag("dry-run", help: "Print what would change; change nothing."),
    ]

    static func actionSpec(_ action: DeliveryControl.Action, _ summary: String) -> CommandSpec {
        CommandSpec(action.description, summary: summary, options: actionOptions,
                    positionals: [.variadic("id", help: "Axis document ids; '-' reads ids from stdin (one per line or space-separated).")],
                    examples: ["axisctl queue \(action) 01a20edd3d2dbab2576e60e0c5eb78db --reason \"wrong recipient\"",
                               "axisctl queue \(action) --recipient 000.00.00.H41 --reason \"endpoint down\" --dry-run",
                               "axisctl queue list --state deferred --json | jq -r '.items[].id' | axisctl queue \(action) - --reason TEXT"])
    }

    static let queueSpec = CommandSpec("queue", summary: "See and steer the queues (asks axisd; every change is journaled with your uid).", subcommands: [
        CommandSpec("list", summary: "Deliveries not yet final (or in the states given), oldest first, as a table.",
                    options: [socket, data, config, jsonFlag,
                              .value("state", valueName: "S[,S…]", help: "Only these states: " + QueueFilter.stateNames.joined(separator: ", ") + "."),
                              .value("recipient", valueName: "CODE", help: "Only deliveries to this agency."),
                              .value("sender", valueName: "CODE", help: "Only documents from this agency."),
                              .value("older-than", valueName: "DUR", help: "Only documents accepted longer ago than this: 90s, 15m, 2h, 3d."),
                              .value("limit", valueName: "N", help: "At most N rows (default 1000).")],
                    examples: ["axisctl queue list", "axisctl queue list --state deferred,held --recipient 000.00.00.H41",
                               "axisctl queue list --older-than 2h --json"]),
        CommandSpec("shape", summary: "What waits, by recipient × age of the document (like qshape): find the blocked destination.",
                    options: [socket, data, config, jsonFlag,
                              .value("state", valueName: "S[,S…]", help: "Only deliveries in these states (default: every state not final).")],
                    examples: ["axisctl queue shape", "axisctl queue shape --state deferred"]),
        CommandSpec("show", summary: "One document: routing, size, digest, signer, per-recipient state and its whole trace.",
                    options: [socket, data, config, jsonFlag], positionals: [.required("id", help: "The axis document id.")],
                    examples: ["axisctl queue show 01a20edd3d2dbab2576e60e0c5eb78db"]),
        actionSpec(.hold, "Hold deliveries: nothing is pushed or listed until released."),
        actionSpec(.release, "Release held deliveries: they are due at once."),
        actionSpec(.retry, "Make deferred deliveries due now instead of at their next retry time."),
        actionSpec(.delete, "Delete deliveries (final; --reason required)."),
        actionSpec(.expire, "Expire deliveries (final; --reason required)."),
    ])

    // MARK: Talking to axisd

    struct Unavailable: Error { let message: String }

    /// `--socket`, else `--data DIR`'s, else the one `--config FILE` (or the default configuration
    /// file, when it exists) names, else the default data directory's.
    static func socketPath(_ command: ParsedCommand) throws -> String {
        if let path = command.value("socket") { return path }
        if let data = command.value("data") { return PathJoin.join(data, "admin.sock") }
        let file = command.value("config") ?? (access(defaultConfig, R_OK) == 0 ? defaultConfig : nil)
        if let file {
            return try AxisdConfiguration.load(path: file, checkFiles: false).adminSocketPath
        }
        return PathJoin.join(defaultData, "admin.sock")
    }

    /// Sends `request` to axisd; returns the status and the JSON reply.
    static func ask(_ command: ParsedCommand, _ request: HTTPClientRequest) throws -> (status: Int, body: [String: Any], raw: String) {
        let path = try socketPath(command)
        let response: HTTPClientResponse
        do {
            let client = try HTTPClient(unixSocket: path, timeoutMillis: 60_000)
            defer { client.close() }
            response = try client.send(request)
        } catch let error as AxisError {
            let denied = error.errno == EACCES || error.errno == EPERM
            throw Unavailable(message: denied
                ? "cannot connect to \(path): permission denied — the admin socket is for the user axisd runs as (and root); "
                    + "run axisctl as that user (e.g. sudo -u axis axisctl …)"
                : "axisd is not running, or not listening on \(path) (\(error.message)); start it (systemctl start axisd, "
                    + "or axisd --config FILE), or name another instance with --data DIR or --socket PATH")
        }
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, body, response.bodyText)
    }

    /// The error message of a refused request (`{"error":{"code","message"}}`).
    static func refusal(_ body: [String: Any]) -> String {
        let error = body["error"] as? [String: Any]
        return (error?["message"] as? String) ?? "axisd refused the request"
    }

    // MARK: status

    static func status(_ command: ParsedCommand) throws -> Int32 {
        let reply = try ask(command, .get("/v1/status"))
        guard reply.status == 200 else { err("axisctl: \(refusal(reply.body))"); return 1 }
        if command.flag("json") { out(reply.raw); return 0 }
        let b = reply.body
        let journal = b["journal"] as? [String: Any] ?? [:]
        let queue = b["queue"] as? [String: Any] ?? [:]
        let byState = (queue["byState"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        var rows: [[String]] = [
            ["axisd", "pid \(b["pid"] ?? "?"), up \(duration(b["uptimeSeconds"] as? Int ?? 0)) (since \(b["startedAt"] ?? "?"))"],
            ["data", "\(b["data"] ?? "?")"],
            ["listeners", (b["listeners"] as? [String] ?? []).joined(separator: "; ")],
            ["journal", "\(journal["health"] ?? "?"), \(CompactCommand.count(journal["segments"], "segment")), \(journal["bytes"] ?? "?") bytes, "
                + "next sequence \(journal["nextSequence"] ?? "?"), "
                + "chain \(String(describing: journal["chainHead"] ?? "?").prefix(16))…, last sync \(journal["lastSyncMicros"] ?? "?") µs"],
            ["queue", "\(queue["documents"] ?? 0) documents; " + (byState.isEmpty ? "no deliveries" : byState.joined(separator: ", "))],
        ]
        if let oldest = b["oldestWaiting"] as? [String: Any] {
            rows.append(["oldest", "\(oldest["id"] ?? "?") for \(oldest["recipient"] ?? "?"), waiting \(duration(oldest["ageSeconds"] as? Int ?? 0))"])
        } else {
            rows.append(["oldest", "nothing waits"])
        }
        let failing = b["failingRecipients"] as? [[String: Any]] ?? []
        rows.append(["failing", failing.isEmpty ? "none" : ""])
        for f in failing { rows.append(["", "\(f["agency"] ?? "?"): \(f["deferred"] ?? 0) deferred, last error: \(f["lastError"] ?? "")"]) }
        for line in TextTable.render(header: ["", ""], rows: rows).dropFirst() { out(line.trimmingTrailingSpaces) }
        return 0
    }

    // MARK: queue list / show

    static func list(_ command: ParsedCommand) throws -> Int32 {
        var query: [String] = []
        for name in ["state", "recipient", "sender", "limit"] {
            if let value = command.value(name) { query.append("\(name)=\(PercentEncoding.encode(value))") }
        }
        if let text = command.value("older-than") {
            guard let seconds = parseDuration(text) else {
                throw command.usageError("--older-than \(text): give a duration such as 90s, 15m, 2h or 3d")
            }
            query.append("older-than=\(seconds)")
        }
        let reply = try ask(command, .get("/v1/queue" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))))
        guard reply.status == 200 else { err("axisctl: \(refusal(reply.body))"); return reply.status == 400 ? 64 : 1 }
        if command.flag("json") { out(reply.raw); return 0 }
        let items = reply.body["items"] as? [[String: Any]] ?? []
        let rows = items.map { i -> [String] in
            let note = (i["lastError"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? (i["subject"] as? String ?? "")
            return [i["id"] as? String ?? "", i["recipient"] as? String ?? "", i["sender"] as? String ?? "", i["state"] as? String ?? "",
                    "\(i["attempts"] ?? 0)", duration(i["ageSeconds"] as? Int ?? 0), "\(i["size"] ?? 0)", String(note.prefix(60))]
        }
        for line in TextTable.render(header: ["ID", "RECIPIENT", "SENDER", "STATE", "ATTEMPTS", "AGE", "BYTES", "SUBJECT / LAST ERROR"],
                                     rows: rows, rightAligned: [4, 5, 6]) {
            out(line.trimmingTrailingSpaces)
        }
        let truncated = reply.body["truncated"] as? Bool ?? false
        out("\(items.count) deliver\(items.count == 1 ? "y" : "ies")" + (truncated ? " (more match: raise --limit or narrow the filter)" : ""))
        return 0
    }

    static func show(_ command: ParsedCommand) throws -> Int32 {
        let id = command.positional("id") ?? ""
        let reply = try ask(command, .get("/v1/queue/\(PercentEncoding.encode(id))"))
        guard reply.status == 200 else { err("axisctl: \(refusal(reply.body))"); return reply.status == 400 ? 64 : 1 }
        if command.flag("json") { out(reply.raw); return 0 }
        let b = reply.body
        let fields: [(String, String)] = [
            ("id", "\(b["id"] ?? "")"), ("kind", "\(b["kind"] ?? "")"), ("from", "\(b["from"] ?? "")"),
            ("to", (b["to"] as? [String] ?? []).joined(separator: ", ")), ("sender's id", "\(b["senderDocumentId"] ?? "")"),
            ("subject", "\(b["subject"] ?? "")"), ("size", "\(b["size"] ?? 0) bytes, \(b["contentType"] ?? "")"),
            ("sha256", "\(b["sha256"] ?? "")"), ("signer", "\(b["signer"] ?? "")"), ("accepted", "\(b["acceptedAt"] ?? "")"),
            ("journal", "sequence \(b["sequence"] ?? ""), chain \(b["chainHash"] ?? "")"),
        ]
        for line in TextTable.render(header: ["", ""], rows: fields.map { [$0.0, $0.1] }).dropFirst() { out(line.trimmingTrailingSpaces) }
        out("")
        let recipients = (b["recipients"] as? [[String: Any]] ?? []).map { r in
            [r["agency"] as? String ?? "", r["state"] as? String ?? "", (r["until"] ?? r["at"] ?? r["since"]).map { "\($0)" } ?? "",
             "\(r["attempts"] ?? 0)", r["lastStatus"] as? String ?? "", r["lastError"] as? String ?? ""]
        }
        for line in TextTable.render(header: ["RECIPIENT", "STATE", "SINCE/UNTIL", "ATTEMPTS", "STATUS", "LAST ERROR"], rows: recipients,
                                     rightAligned: [3]) {
            out(line.trimmingTrailingSpaces)
        }
        out("")
        let events = (b["events"] as? [[String: Any]] ?? []).map { e in
            ["\(e["sequence"] ?? "")", e["at"] as? String ?? "", e["event"] as? String ?? "", e["recipient"] as? String ?? "",
             e["actor"] as? String ?? "", e["detail"] as? String ?? ""]
        }
        for line in TextTable.render(header: ["SEQ", "AT", "EVENT", "RECIPIENT", "ACTOR", "DETAIL"], rows: events, rightAligned: [0]) {
            out(line.trimmingTrailingSpaces)
        }
        return 0
    }

    // MARK: queue shape

    static func shape(_ command: ParsedCommand) throws -> Int32 {
        let query = command.value("state").map { "?state=\(PercentEncoding.encode($0))" } ?? ""
        let reply = try ask(command, .get("/v1/queue/shape" + query))
        guard reply.status == 200 else { err("axisctl: \(refusal(reply.body))"); return reply.status == 400 ? 64 : 1 }
        if command.flag("json") { out(reply.raw); return 0 }
        let bounds = reply.body["bucketsMinutes"] as? [Int] ?? []
        let header = ["RECIPIENT", "TOTAL"] + bounds.map { "<\($0)m" } + ["\(bounds.last ?? 0)m+"]
        func row(_ name: String, _ object: [String: Any]) -> [String] {
            [name, "\(object["total"] ?? 0)"] + (object["counts"] as? [Int] ?? []).map(String.init)
        }
        var rows = [row("TOTAL", reply.body["total"] as? [String: Any] ?? [:])]
        for r in reply.body["recipients"] as? [[String: Any]] ?? [] { rows.append(row(r["recipient"] as? String ?? "", r)) }
        for line in TextTable.render(header: header, rows: rows, rightAligned: Set(1..<header.count)) { out(line.trimmingTrailingSpaces) }
        return 0
    }

    // MARK: queue hold|release|retry|delete|expire

    static func act(_ command: ParsedCommand, _ action: DeliveryControl.Action) throws -> Int32 {
        var ids = command.positionals("id")
        if ids == ["-"] {
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            ids = input.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard !ids.isEmpty else { throw command.usageError("no ids on stdin") }
        } else if ids.contains("-") {
            throw command.usageError("'-' (ids from stdin) cannot be mixed with ids on the command line")
        }
        let all = command.flag("all"), recipient = command.value("recipient")
        guard !ids.isEmpty || recipient != nil || all else {
            throw command.usageError("name the deliveries: ids (or '-' for stdin), --recipient CODE, or --all")
        }
        guard !(all && (!ids.isEmpty || recipient != nil)) else { throw command.usageError("--all cannot be combined with ids or --recipient") }
        let reason = command.value("reason") ?? ""
        if (action == .delete || action == .expire) && reason.trimmingCharacters(in: .whitespaces).isEmpty {
            throw command.usageError("\(action) needs --reason TEXT (it is kept in the journal and shown in the trace)")
        }
        var body: [(String, JSONValue)] = []
        if !ids.isEmpty { body.append(("ids", .array(ids.map { .string($0) }))) }
        if let recipient { body.append(("recipient", .string(recipient))) }
        if all { body.append(("all", .bool(true))) }
        body += [("reason", .string(reason)), ("dryRun", .bool(command.flag("dry-run")))]
        let reply = try ask(command, .post("/v1/queue/\(action)", headers: [("Content-Type", "application/json")],
                                           body: Array(JSONValue.object(body).encoded().utf8)))
        guard reply.status == 200 || reply.status == 503 else { err("axisctl: \(refusal(reply.body))"); return reply.status == 400 ? 64 : 1 }
        let changed = reply.body["changed"] as? [[String: Any]] ?? []
        let skipped = reply.body["skipped"] as? [[String: Any]] ?? []
        let failure = reply.body["error"] as? String
        if command.flag("json") {
            out(reply.raw)
        } else {
            let dry = command.flag("dry-run")
            out("\(dry ? "would \(action)" : past(action)) \(changed.count) deliver\(changed.count == 1 ? "y" : "ies")"
                + (skipped.isEmpty ? "" : "; \(skipped.count) left alone"))
            for c in changed { out("  \(c["id"] ?? "") \(c["recipient"] ?? "")  \(c["from"] ?? "") → \(c["to"] ?? "")") }
            for s in skipped { out("  skipped \(s["id"] ?? "") \(s["recipient"] as? String ?? "*"): \(s["why"] ?? "")") }
        }
        if let failure { err("axisctl: \(failure)"); return 1 }
        if changed.isEmpty && !skipped.isEmpty { return 1 }
        return skipped.isEmpty ? 0 : 2
    }

    static func past(_ action: DeliveryControl.Action) -> String {
        switch action {
        case .hold: return "held"
        case .release: return "released"
        case .retry: return "made due now"
        case .delete: return "deleted"
        case .expire: return "expired"
        }
    }

    // MARK: Helpers

    /// `90`, `90s`, `15m`, `2h`, `3d` → seconds.
    static func parseDuration(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let last = text.last else { return nil }
        let (digits, unit) = units[last].map { (text.dropLast(), $0) } ?? (Substring(text), 1)
        guard let value = Int64(digits), value >= 0, value <= 10 * 365 * 86_400 / unit else { return nil }
        return value * unit
    }

    /// `3d 4h`, `2h 5m`, `4m 10s`, `12s`.
    static func duration(_ seconds: Int) -> String {
        let d = seconds / 86_400, h = seconds % 86_400 / 3600, m = seconds % 3600 / 60, s = seconds % 60
        if d > 0 { return "\(d)d \(h)h" }
        if h > 0 { return "\(h)h \(m)m" }
        if m > 0 { return "\(m)m \(s)s" }
        return "\(s)s"
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
