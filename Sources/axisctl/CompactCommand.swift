// `axisctl journal compact`: asks axisd to remove the journal history retention no longer needs,
// and shows its progress. The compaction is axisd's job: interrupting axisctl does not stop it, and
// `--status` shows the running or last one.
@preconcurrency import Glibc
import Foundation
import Axis

enum CompactCommand {
    static let spec = CommandSpec(
        "compact",
        summary: "Remove history of documents finished longer ago than the retention (asks axisd; progress shown).",
        options: [AdminCommands.socket, AdminCommands.data, AdminCommands.config, jsonFlag,
                  .flag("dry-run", help: "Read and judge the segments; print what would be removed; remove nothing."),
                  .value("reason", valueName: "TEXT", help: "Why (kept in the signed compaction record)."),
                  .value("retention-days", valueName: "N",
                         help: "Keep documents finished less than N days ago (default: axisd's journal.retentionDays)."),
                  .flag("status", help: "Only show the running or last compaction.")],
        examples: ["axisctl journal compact --dry-run", "axisctl journal compact --reason \"monthly retention\"",
                   "axisctl journal compact --status --json"])

    /// How often progress is asked for while a compaction runs.
    static let pollMicros: useconds_t = 200_000

    static func run(_ command: ParsedCommand) throws -> Int32 {
        if !command.flag("status") {
            var body: [(String, JSONValue)] = [("dryRun", .bool(command.flag("dry-run"))),
                                               ("reason", .string(command.value("reason") ?? ""))]
            if let text = command.value("retention-days") {
                guard let days = Int(text), (0...36_500).contains(days) else {
                    throw command.usageError("--retention-days must be a whole number of days from 0 to 36500, not '\(text.prefix(20))'")
                }
                body.append(("retentionDays", .int(Int64(days))))
            }
            let started = try AdminCommands.ask(command, .post("/v1/journal/compact", headers: [("Content-Type", "application/json")],
                                                               body: Array(JSONValue.object(body).encoded().utf8)))
            guard started.status == 202 else {
                err("axisctl: \(AdminCommands.refusal(started.body))")
                return started.status == 400 ? 64 : 1
            }
        }
        var printed = 0
        while true {
            let reply = try AdminCommands.ask(command, .get("/v1/journal/compaction"))
            guard reply.status == 200, let job = reply.body["compaction"] as? [String: Any] else {
                err("axisctl: \(AdminCommands.refusal(reply.body))")
                return 1
            }
            let progress = job["progress"] as? [String] ?? []
            if !command.flag("json") {
                for line in progress.dropFirst(printed) { out("  " + line) }
                printed = max(printed, progress.count)
            }
            let state = job["state"] as? String ?? "?"
            if state == "running" && !command.flag("status") {
                usleep(pollMicros)
                continue
            }
            if command.flag("json") {
                out(reply.raw)
            } else {
                summarize(job)
            }
            return state == "failed" ? 1 : 0
        }
    }

    static func summarize(_ job: [String: Any]) {
        let state = job["state"] as? String ?? "?"
        let dry = job["dryRun"] as? Bool ?? false
        if state == "running" {
            out("compaction running since \(job["startedAt"] ?? "?"): \(job["segmentsRead"] ?? 0)/\(job["segmentsTotal"] ?? 0) segments read")
            return
        }
        if state == "failed" {
            err("axisctl: compaction failed: \(job["error"] as? String ?? "unknown error")")
            return
        }
        let o = job["outcome"] as? [String: Any] ?? [:]
        let segments = (o["removedSegments"] as? [String] ?? []).count
        let days = job["retentionDays"] ?? "?"
        if segments == 0 {
            if !dry, let files = o["removedPayloadFiles"] as? Int, files > 0 {
                out("removed \(count(files, "unreferenced payload file")) (\(o["freedPayloadBytes"] ?? 0) bytes)")
            }
            let why = (o["keptBecause"] as? String).map { "the oldest segment stays: \($0)" } ?? "only the segment being written is left"
            out("nothing to remove (retention \(days) days): \(why)")
            return
        }
        out("\(dry ? "would remove" : "removed") \(segments) of \(o["segmentsBefore"] ?? "?") journal segments "
            + "(\(count(o["removedRecords"], "record")), \(count(o["removedDocuments"], "document")), \(o["freedJournalBytes"] ?? 0) bytes); "
            + "history now starts at sequence \(o["firstKept"] ?? "?")")
        if let carried = o["carriedForward"] as? Int, carried > 0 {
            out("\(dry ? "would carry" : "carried") forward \(carried) directory entr\(carried == 1 ? "y" : "ies") whose last change was removed")
        }
        if !dry {
            out("removed \(count(o["removedPayloadFiles"], "payload file")) (\(o["freedPayloadBytes"] ?? 0) bytes); "
                + "compaction record at sequence \(o["compactionSequence"] ?? "?")")
        }
        if let why = o["keptBecause"] as? String { out("kept from there on because \(why)") }
    }

    /// `1 record`, `3 records`.
    static func count(_ value: Any?, _ noun: String) -> String {
        let n = value as? Int ?? 0
        return "\(n) \(noun)\(n == 1 ? "" : "s")"
    }
}
