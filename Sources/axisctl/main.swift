// axisctl — the administrator's and auditor's command line.
//
// The journal commands work offline on a data directory, read-only, without the daemon (like
// Postfix's postcat); `status` and `queue …` ask the running axisd over its admin socket, which
// records every change with the caller's uid. Exit codes: 0 ok, 1 failed (e.g. damage found),
// 2 partial (some targets left alone), 64 usage, 69 axisd unavailable.
@preconcurrency import Glibc
import Axis

let jsonFlag = OptionSpec.flag("json", help: "Print JSON (one document, with the schema in docs/OPERATIONS.md).")
let dumpJSONFlag = OptionSpec.flag("json", help: "Print JSON: one object per record, one per line.")

let spec = CommandSpec(
    "axisctl",
    summary: "Inspect and steer Axis: queues, agencies, the journal, signatures.",
    subcommands: [
        AdminCommands.statusSpec,
        AdminCommands.queueSpec,
        DirectoryCommands.agencySpec,
        DirectoryCommands.systemSpec,
        CommandSpec("journal", summary: "The journal: check and dump (offline, read-only) and compact (asks axisd).", subcommands: [
            CommandSpec("check", summary: "Scan every segment: checksums, sequence, hash chain; report damage.",
                        options: [jsonFlag],
                        positionals: [.required("data-dir", help: "The axisd data directory (holding journal/).")],
                        examples: ["axisctl journal check /var/lib/axis", "axisctl journal check /var/lib/axis --json"]),
            CommandSpec("dump", summary: "List journal records, oldest first (like postcat).",
                        options: [dumpJSONFlag,
                                  .value("from", valueName: "SEQ", help: "Start at this sequence number."),
                                  .value("limit", valueName: "N", help: "Print at most N records."),
                                  .repeatable("kind", valueName: "KIND", help: "Only records of this kind (e.g. document-accepted).")],
                        positionals: [.required("data-dir", help: "The axisd data directory (holding journal/).")],
                        examples: ["axisctl journal dump /var/lib/axis", "axisctl journal dump /var/lib/axis --kind document-accepted --json"]),
            CompactCommand.spec,
        ]),
        VerifyCommand.spec,
        ExportCommand.spec,
        CommandSpec("pki", summary: "Development PKI tools (NOT FOR PRODUCTION).", subcommands: [PKICommand.initSpec]),
        Completion.spec,
    ],
    examples: ["axisctl status", "axisctl queue list --state deferred", "axisctl queue hold 01a20edd3d2dbab2576e60e0c5eb78db --reason check",
               "axisctl journal check /var/lib/axis"])

/// Writes to stdout with write(2) and fails cleanly when stdout is gone (e.g. `| head`).
func out(_ text: String) {
    var line = text
    line += "\n"
    let ok = line.utf8CString.withUnsafeBufferPointer { buf -> Bool in
        guard let base = buf.baseAddress else { return true }
        var done = 0
        let total = buf.count - 1
        while done < total {
            let n = write(STDOUT_FILENO, base + done, total - done)
            if n <= 0 { return false }
            done += n
        }
        return true
    }
    if !ok { exit(1) }
}

func err(_ text: String) { FileDescriptorLogSink.standardError.write(line: text + "\n") }

signal(SIGPIPE, SIG_IGN)
let parser = ArgumentParser(spec)
do {
    switch try parser.parse(Array(CommandLine.arguments.dropFirst())) {
    case .help(_, let text):
        out(String(text.dropLast(text.hasSuffix("\n") ? 1 : 0)))
        exit(0)
    case .run(let command):
        switch command.subcommandPath {
        case ["completion"]:
            exit(try Completion.run(command, root: spec))
        case ["status"]:
            exit(try AdminCommands.status(command))
        case ["queue", "list"]:
            exit(try AdminCommands.list(command))
        case ["queue", "shape"]:
            exit(try AdminCommands.shape(command))
        case ["queue", "show"]:
            exit(try AdminCommands.show(command))
        case let path where path.count == 2 && path[0] == "queue"
            && DeliveryControl.Action.allCases.contains(where: { $0.description == path[1] }):
            let action = DeliveryControl.Action.allCases.first { $0.description == path[1] } ?? .hold
            exit(try AdminCommands.act(command, action))
        case let path where path.count == 2 && path[0] == "agency":
            exit(try DirectoryCommands.agency(command, path[1]))
        case let path where path.count == 2 && path[0] == "system":
            exit(try DirectoryCommands.system(command, path[1]))
        case ["journal", "check"]:
            exit(try JournalCommands.check(command))
        case ["journal", "dump"]:
            exit(try JournalCommands.dump(command))
        case ["journal", "compact"]:
            exit(try CompactCommand.run(command))
        case ["verify"]:
            exit(try VerifyCommand.run(command))
        case ["pki", "init"]:
            exit(try PKICommand.initialize(command))
        case ["export"]:
            exit(try ExportCommand.run(command))
        default:
            let text = parser.helpText(for: command.path)
            err(String(text.dropLast(text.hasSuffix("\n") ? 1 : 0)))
            exit(64)
        }
    }
} catch let unavailable as AdminCommands.Unavailable {
    err("axisctl: \(unavailable.message)")
    exit(AdminCommands.exitUnavailable)
} catch let error as AxisError where error.code == .usage {
    err("axisctl: \(error.message)")
    exit(64)
} catch {
    err("axisctl: \(error)")
    exit(1)
}
