/// The read-only journal tools behind `axisctl journal check` and `axisctl journal dump` (the
/// `postcat` of Axis). They never write: they use `JournalScanner`, which only opens files read-only,
/// so they are safe to run next to a live axisd or on a copy of a damaged data directory.
public enum JournalInspection {
    /// `<data>/journal` when it exists, else `path` itself when it holds segments.
    public static func journalDirectory(for path: String, storage: any Storage = PosixStorage()) throws -> String {
        let nested = PathJoin.join(path, "journal")
        if storage.fileExists(nested) { return nested }
        if storage.fileExists(path),
           let names = try? storage.listDirectory(path), names.contains(where: { JournalFormat.firstSequence(ofSegmentNamed: $0) != nil }) {
            return path
        }
        throw AxisError(.usage, "no journal at '\(path)': give the data directory axisd uses (the one holding journal/), e.g. /var/lib/axis")
    }

    // MARK: check

    public static func checkJSON(_ report: JournalScanReport) -> JSONValue {
        .object([
            ("directory", .string(report.directory)),
            ("journalId", report.journalID.map { .string(Hex.encode($0)) } ?? .null),
            ("healthy", .bool(report.damage.isEmpty)),
            ("segments", .array(report.segments.map { seg in
                .object([("name", .string(seg.name)),
                         ("firstSequence", .int(Int64(seg.header?.firstSequence ?? seg.firstSequenceFromName))),
                         ("records", .int(Int64(seg.records))), ("bytes", .int(Int64(seg.fileSize))),
                         ("validBytes", .int(Int64(seg.validEnd))),
                         ("preparedBytes", .int(Int64(seg.preallocatedBytes))),
                         ("status", .string(status(of: seg, in: report)))])
            })),
            ("records", .int(Int64(report.records))),
            ("bytes", .int(Int64(report.bytes))),
            ("lastSequence", report.lastSequence.map { .int(Int64($0)) } ?? .null),
            ("chainHead", .string(report.headChain.hex)),
            ("tornTail", report.tornTail.map(problemJSON) ?? .null),
            ("problems", .array(report.damage.map(problemJSON))),
        ])
    }

    static func problemJSON(_ p: JournalScanReport.Problem) -> JSONValue {
        .object([("kind", .string(p.kind.rawValue)), ("segment", .string(p.segment)),
                 ("offset", .int(Int64(p.offset))), ("message", .string(p.message))])
    }

    static func status(of seg: SegmentScan, in report: JournalScanReport) -> String {
        if let p = report.problems.first(where: { $0.segment == seg.name }) { return p.kind.rawValue }
        return "ok"
    }

    public static func checkText(_ report: JournalScanReport) -> String {
        var lines = ["journal \(report.directory)"]
        let rows = report.segments.map { seg in
            [seg.name, String(seg.header?.firstSequence ?? seg.firstSequenceFromName), String(seg.records),
             String(seg.fileSize), String(seg.preallocatedBytes), status(of: seg, in: report)]
        }
        // PREPARED: zeros after the last record, space made ready for records not yet written.
        lines += TextTable.render(header: ["SEGMENT", "FIRST SEQ", "RECORDS", "BYTES", "PREPARED", "STATUS"], rows: rows,
                                  rightAligned: [1, 2, 3, 4])
        lines.append("records: \(report.records)  segments: \(report.segments.count)  bytes: \(report.bytes)")
        lines.append("journal id: \(report.journalID.map { Hex.encode($0) } ?? "unknown")")
        if let last = report.lastSequence {
            lines.append("chain head: sequence \(last)  \(report.headChain.hex)")
        } else {
            lines.append("chain head: empty journal")
        }
        if let torn = report.tornTail {
            lines.append("torn tail: \(torn) — not damage: the last write before a crash; axisd truncates it on its next start")
        } else {
            lines.append("torn tail: none")
        }
        if report.damage.isEmpty {
            lines.append("status: healthy")
        } else {
            for p in report.damage { lines.append("DAMAGE \(p.kind.rawValue): \(p)") }
            lines.append("status: DAMAGED — \(report.damage.count) problem(s). axisd will not start on this journal: restore the data "
                         + "directory from a backup, or start axisd once with --salvage to move the damaged segments aside")
        }
        return lines.joined(separator: "\n")
    }

    // MARK: dump

    /// One record as a JSON object: position, then the record's own fields.
    public static func dumpJSON(_ entry: JournalEntry) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("sequence", .int(Int64(entry.sequence))), ("kind", .string(entry.kind.description)),
            ("segment", .string(JournalFormat.segmentName(firstSequence: entry.segment))),
            ("offset", .int(Int64(entry.offset))), ("chain", .string(entry.chain.hex)),
        ]
        do {
            fields += try JournalRecord.decode(kind: entry.kind, body: entry.body).fields
        } catch {
            fields.append(("decodeError", .string("\(error)")))
        }
        return .object(fields)
    }

    /// One record as a line of `key=value` pairs.
    public static func dumpText(_ entry: JournalEntry) -> String {
        guard case .object(let fields) = dumpJSON(entry) else { return "" }
        return fields.filter { $0.0 != "chain" && $0.0 != "segment" && $0.0 != "offset" }
            .map { "\($0.0)=\(plain($0.1))" }.joined(separator: " ")
    }

    private static func plain(_ v: JSONValue) -> String {
        switch v {
        case .string(let s):
            return s.isEmpty || s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? v.encoded() : s
        case .array(let items): return "[" + items.map(plain).joined(separator: ",") + "]"
        case .object: return v.encoded()
        default: return v.encoded()
        }
    }
}

/// Aligned columns for people (`axisctl` tables).
public enum TextTable {
    public static func render(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return rightAligned.contains(i) ? pad + cell : (i == cells.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ")
        }
        return [line(header)] + rows.map(line)
    }
}
