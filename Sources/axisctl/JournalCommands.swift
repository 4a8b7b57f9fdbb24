@preconcurrency import Glibc
import Axis

/// `axisctl journal check|dump`: offline, read-only.
enum JournalCommands {
    static func check(_ command: ParsedCommand) throws -> Int32 {
        let dir = try JournalInspection.journalDirectory(for: command.positional("data-dir") ?? "")
        let showProgress = isatty(STDERR_FILENO) == 1
        let report = try JournalScanner.scan(directory: dir, storage: PosixStorage(), progress: { p in
            if showProgress && p.segmentCount > 1 {
                err("checked segment \(p.segmentIndex + 1)/\(p.segmentCount): \(p.records) records, \(p.bytes >> 20) MiB")
            }
        })
        out(command.flag("json") ? JournalInspection.checkJSON(report).encoded() : JournalInspection.checkText(report))
        return report.damage.isEmpty ? 0 : 1
    }

    static func dump(_ command: ParsedCommand) throws -> Int32 {
        let dir = try JournalInspection.journalDirectory(for: command.positional("data-dir") ?? "")
        let from = UInt64(try command.int("from", in: 1...Int.max) ?? 1)
        let limit = try command.int("limit", in: 0...Int.max) ?? Int.max
        let known = Dictionary(uniqueKeysWithValues: RecordKind.names.map { ($1, $0) })
        var kinds = Set<RecordKind>()
        for name in command.values("kind") {
            guard let kind = known[name] else {
                throw command.usageError("unknown record kind '\(name)'; kinds: \(known.keys.sorted().joined(separator: ", "))")
            }
            kinds.insert(kind)
        }
        let json = command.flag("json")
        var printed = 0
        struct Done: Error {}
        let report: JournalScanReport
        do {
            report = try JournalScanner.scan(directory: dir, storage: PosixStorage(), onRecord: { entry in
                guard entry.sequence >= from, kinds.isEmpty || kinds.contains(entry.kind) else { return }
                guard printed < limit else { throw Done() }
                out(json ? JournalInspection.dumpJSON(entry).encoded() : JournalInspection.dumpText(entry))
                printed += 1
            })
        } catch is Done {
            return 0
        }
        for problem in report.damage { err("axisctl: journal damage: \(problem)") }
        if let torn = report.tornTail { err("axisctl: note: \(torn)") }
        return report.damage.isEmpty ? 0 : 1
    }
}
