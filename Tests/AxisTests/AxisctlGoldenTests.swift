import Foundation
import XCTest
@testable import Axis

/// Golden files for what `axisctl` prints: the help texts, and the tables and `--json` of `status`,
/// `queue list|show|shape`, `queue hold` (done and as a dry run), `agency update|list|show` and
/// `system list`, asked of a real `axisd --demo` that holds real signed documents in every waiting
/// state (queued, leased, held, deferred after a failed push) plus one acknowledged.
///
/// Each command's stdout is compared with `Tests/golden/axisctl/NAME` after `GoldenNormalizer` has
/// replaced what differs from run to run (ids, times, ports, paths, pids, sequence numbers, hashes)
/// with placeholders; tables are laid out again around the placeholders, and `--json` is printed
/// with sorted keys, so each golden file shows the layout and the schema.
///
/// After an intended change to the output, regenerate the files and review their diff:
///
///     AXIS_UPDATE_GOLDEN=1 .build/debug/AxisPackageTests.xctest AxisTests.AxisctlGoldenTests
///     AXIS_UPDATE_GOLDEN=1 swift test --filter AxisctlGoldenTests
///
/// Then the tests pass and print which files they rewrote. Without the variable, a missing or
/// different golden file is a failure that shows the diff.
final class AxisctlGoldenTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    let g22 = Demo.agencyCodes[0], g17 = Demo.agencyCodes[1], h29 = Demo.agencyCodes[2], h41 = Demo.agencyCodes[3]

    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("golden/axisctl")
    static let updateVariable = "AXIS_UPDATE_GOLDEN"
    static var updating: Bool { ProcessInfo.processInfo.environment[updateVariable] == "1" }

    // MARK: Help

    func testHelpTexts() throws {
        let pages: [(String, [String])] = [
            ("help.txt", ["--help"]),
            ("queue-help.txt", ["queue", "--help"]),
            ("queue-list-help.txt", ["queue", "list", "--help"]),
            ("queue-hold-help.txt", ["queue", "hold", "--help"]),
            ("agency-help.txt", ["agency", "--help"]),
            ("agency-add-help.txt", ["agency", "add", "--help"]),
            ("system-help.txt", ["system", "--help"]),
            ("journal-help.txt", ["journal", "--help"]),
        ]
        for (name, arguments) in pages {
            let result = try axisctl(arguments)
            XCTAssertEqual(result.code, 0, "axisctl \(arguments.joined(separator: " ")): \(result.err)")
            XCTAssertEqual(result.err, "", "axisctl \(arguments.joined(separator: " ")) wrote to stderr")
            assertGolden(name, result.out, command: arguments)
        }
    }

    // MARK: Against a daemon

    /// One document of the scenario, sent by G22.
    struct Memo {
        let senderID: String
        let subject: String
        let text: String
        let to: [String]
    }

    func testEveryCommandAgainstADaemonWithDocuments() throws {
        let work = try makeTempDirectory(self, "golden")
        // Nothing may change under the test: no retry, no lease running out.
        let config = work + "/axisd.json"
        try #"{"delivery": {"initialBackoffSeconds": 86400, "maxBackoffSeconds": 86400, "jitter": 0}, "api": {"leaseSeconds": 86400}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(self, data: work + "/data", ["--config", config])
        defer { daemon.stop() }
        let d = ["--data", daemon.data]
        let normalizer = GoldenNormalizer(dataDirectory: daemon.data)
        normalizer.addLiteral("127.0.0.1:\(daemon.port)", as: "127.0.0.1:<API-PORT>")
        let status = try axisctl(["status", "--json"] + d)
        let opsPort = try XCTUnwrap(status.out.firstMatch(of: #/ops http://127\.0\.0\.1:(\d+)/#)?.output.1, status.out)
        normalizer.addLiteral("127.0.0.1:\(opsPort)", as: "127.0.0.1:<OPS-PORT>")
        let vdxpPort = try XCTUnwrap(status.out.firstMatch(of: #/vdxp-api http://127\.0\.0\.1:(\d+)/#)?.output.1, status.out)
        normalizer.addLiteral("127.0.0.1:\(vdxpPort)", as: "127.0.0.1:<VDXP-PORT>")

        // G17 is pushed to, at an address where nothing listens: its document is deferred.
        let down = "https://127.0.0.1:1/axis/inbox"
        try golden("agency-update.txt", ["agency", "update", g17, "--endpoint", down, "--reason", "golden test: a recipient that is down"] + d,
                   normalizer)

        let memos = [
            Memo(senderID: "memo-1", subject: "Công văn số 1: lịch họp giao ban",
                 text: "Kính gửi UBND tỉnh Hà Nội: lịch họp tuần 48.\n", to: [h29]),
            Memo(senderID: "memo-2", subject: "Công văn số 2: báo cáo quý IV",
                 text: "Đề nghị các địa phương gửi báo cáo quý IV.\n", to: [h29, h41]),
            Memo(senderID: "memo-3", subject: "Công văn số 3", text: "Kèm theo phụ lục.\n", to: [h41]),
            Memo(senderID: "memo-4", subject: "", text: "Gửi Bộ Tài chính.\n", to: [g17]),
        ]
        var ids: [String] = []
        for memo in memos {
            let id = try submit(daemon, memo, in: work)
            ids.append(id)
            XCTAssertEqual(normalizer.registerDocument(id), "<ID\(ids.count)>")
            normalizer.keepDigest(SHA256Hasher.digest(Array(memo.text.utf8)).hex)
        }
        // The push to G17 failed and is journaled (deferred) before this line is logged.
        let failed = try daemon.process.waitForStderr(containing: "event=delivery.failed")
        XCTAssertTrue(failed.contains(ids[3]), failed)

        // H29 takes its two documents (leased) and acknowledges the second. The first stays leased:
        // the oldest waiting delivery, and the only one of its document (status names one recipient).
        let inbox = try daemon.curl(h29, [], path: "/v1/inbox?agency=\(h29)")
        XCTAssertEqual(inbox.status, 200, inbox.body)
        let leased = (try json(inbox.body)["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(leased), [ids[0], ids[1]], inbox.body)
        let ack = try daemon.curl(h29, ["-X", "POST"], path: "/v1/inbox/\(ids[1])/ack")
        XCTAssertEqual(ack.status, 200, ack.body)
        // An administrator holds the third.
        try golden("queue-hold.txt", ["queue", "hold", ids[2], "--reason", "check the annex"] + d, normalizer)

        try golden("status.txt", ["status"] + d, normalizer)
        try golden("status.json", ["status", "--json"] + d, normalizer)
        try golden("queue-list.txt", ["queue", "list"] + d, normalizer, tables: [.init(rightAligned: [4, 5, 6], varying: [5: "<AGE>"], footer: 1)])
        try golden("queue-list.json", ["queue", "list", "--json"] + d, normalizer)
        let showTables: [GoldenNormalizer.Table] = [.init(rightAligned: [3]), .init(rightAligned: [0], varying: [0: "<SEQ>"])]
        try golden("queue-show.txt", ["queue", "show", ids[1]] + d, normalizer, tables: showTables)
        try golden("queue-show.json", ["queue", "show", ids[1], "--json"] + d, normalizer)
        try golden("queue-show-held.txt", ["queue", "show", ids[2]] + d, normalizer, tables: showTables)
        try golden("queue-shape.txt", ["queue", "shape"] + d, normalizer, tables: [.init(rightAligned: Set(1..<12))])
        try golden("queue-shape.json", ["queue", "shape", "--json"] + d, normalizer)
        // Partial (exit 2): H41's delivery would be held, H29's is acknowledged already.
        try golden("queue-hold-dry-run.txt", ["queue", "hold", ids[1], "--reason", "wrong recipient", "--dry-run"] + d, normalizer,
                   exitCode: 2)
        try golden("queue-hold-dry-run.json", ["queue", "hold", ids[1], "--reason", "wrong recipient", "--dry-run", "--json"] + d,
                   normalizer, exitCode: 2)
        try golden("agency-list.txt", ["agency", "list"] + d, normalizer, tables: [.init(footer: 1)])
        try golden("agency-list.json", ["agency", "list", "--json"] + d, normalizer)
        try golden("agency-show.txt", ["agency", "show", g17] + d, normalizer)
        try golden("agency-show.json", ["agency", "show", h29, "--json"] + d, normalizer)
        try golden("system-list.txt", ["system", "list"] + d, normalizer, tables: [.init(footer: 1)])
        try golden("system-list.json", ["system", "list", "--json"] + d, normalizer)

        // The dry runs changed nothing: the second document is still queued for H41.
        let states = (try json(try axisctl(["queue", "show", ids[1], "--json"] + d).out)["recipients"] as? [[String: Any]] ?? [])
            .map { "\($0["agency"] ?? "") \($0["state"] ?? "")" }
        XCTAssertEqual(states, ["\(h29) acknowledged", "\(h41) queued"])
    }

    // MARK: The normalizer itself

    /// Tables are split by their header, normalized cell by cell and laid out again; a table not laid
    /// out as axisctl does is refused; ids are numbered by first appearance; a port literal leaves a
    /// longer port alone.
    func testNormalizerLaysTablesOutAgainAndRefusesMisalignedOnes() throws {
        let normalizer = GoldenNormalizer(dataDirectory: "/tmp/golden-test/data")
        normalizer.addLiteral("127.0.0.1:4202", as: "127.0.0.1:<API-PORT>")
        let printed = [
            "ID                                STATE   ATTEMPTS    AGE  NOTE",
            "01a20f7fd3fb2de1f3c2b0f12ec71f14  queued         0  1m 4s  at 127.0.0.1:4202",
            "01a20f7fd4253f723b5502f9ebefb6fc  held          12     9s  at 127.0.0.1:42025",
            "01a20f7fd3fb2de1f3c2b0f12ec71f14                 0     9s",
        ]
        let layout = GoldenNormalizer.Table(rightAligned: [2, 3], varying: [3: "<AGE>"])
        XCTAssertEqual(try normalizer.table(printed, layout), [
            "ID     STATE   ATTEMPTS    AGE  NOTE",
            "<ID1>  queued         0  <AGE>  at 127.0.0.1:<API-PORT>",
            "<ID2>  held          12  <AGE>  at 127.0.0.1:42025",
            "<ID1>                 0  <AGE>",
        ])
        var shifted = printed
        shifted[2] = " " + shifted[2]
        XCTAssertThrowsError(try normalizer.table(shifted, layout), "a row one column off is not a table axisctl prints")
        XCTAssertEqual(try normalizer.json(#"{"b":[1,2],"a":{"sequence":17,"at":"2026-11-24T21:39:25.307Z"},"c":[]}"#), """
            {
              "a": {
                "at": "<TIME>",
                "sequence": "<SEQ:int>"
              },
              "b": [1, 2],
              "c": []
            }
            """)
    }

    // MARK: Helpers

    func axisctl(_ arguments: [String]) throws -> (code: Int32, out: String, err: String) {
        try ProductProcess.run(try productPath("axisctl"), arguments)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Submits `memo` signed by G22 over the native API; returns its axis id.
    func submit(_ daemon: Daemon, _ memo: Memo, in directory: String) throws -> String {
        let file = directory + "/\(memo.senderID).txt"
        try memo.text.write(toFile: file, atomically: true, encoding: .utf8)
        var headers = ["-H", "Content-Type: text/plain; charset=utf-8"]
        if !memo.subject.isEmpty {
            let encoded = memo.subject.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? memo.subject
            headers += ["-H", "Axis-Subject: \(encoded)"]
        }
        let reply = try daemon.submit(file, from: g22, to: memo.to, id: memo.senderID,
                                      signature: try daemon.sign(Array(memo.text.utf8), as: g22), extra: headers)
        XCTAssertEqual(reply.status, 201, reply.body)
        return try XCTUnwrap(try json(reply.body)["id"] as? String, reply.body)
    }

    /// Runs axisctl (expecting `exitCode` and nothing on stderr), normalizes its stdout — as JSON when
    /// `--json` was given, else as text whose last `tables.count` blocks (separated by blank lines) are
    /// the tables described, the blocks before them plain text — and compares it with the golden file.
    func golden(_ name: String, _ arguments: [String], _ normalizer: GoldenNormalizer, tables: [GoldenNormalizer.Table] = [],
                exitCode: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try axisctl(arguments)
        let command = normalizer.text(arguments.joined(separator: " "))
        XCTAssertEqual(result.code, exitCode, "axisctl \(command): \(result.err)", file: file, line: line)
        XCTAssertEqual(result.err, "", "axisctl \(command) wrote to stderr", file: file, line: line)
        let normalized = arguments.contains("--json") ? try normalizer.json(result.out) : try normalizer.output(result.out, tables: tables)
        assertGolden(name, normalized, command: arguments.map(normalizer.text), file: file, line: line)
    }

    /// Compares `actual` with the golden file `name`, or rewrites the file when AXIS_UPDATE_GOLDEN=1.
    func assertGolden(_ name: String, _ actual: String, command: [String], file: StaticString = #filePath, line: UInt = #line) {
        let url = Self.goldenDirectory.appendingPathComponent(name)
        let text = actual.hasSuffix("\n") ? actual : actual + "\n"
        let stored = try? String(contentsOf: url, encoding: .utf8)
        if Self.updating {
            guard stored != text else { return }
            do {
                try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
                try text.write(to: url, atomically: true, encoding: .utf8)
                print("AxisctlGoldenTests: \(stored == nil ? "created" : "rewrote") \(url.path)")
            } catch {
                XCTFail("cannot write the golden file \(url.path): \(error)", file: file, line: line)
            }
            return
        }
        let regenerate = "If the new output is intended, regenerate with \(Self.updateVariable)=1 "
            + "(\(Self.updateVariable)=1 .build/debug/AxisPackageTests.xctest AxisTests.AxisctlGoldenTests) and review the diff of "
            + "Tests/golden/axisctl."
        guard let stored else {
            XCTFail("missing golden file \(url.path) for `axisctl \(command.joined(separator: " "))`: create it with "
                + "\(Self.updateVariable)=1 (\(Self.updateVariable)=1 .build/debug/AxisPackageTests.xctest AxisTests.AxisctlGoldenTests), "
                + "then review it.", file: file, line: line)
            return
        }
        guard stored != text else { return }
        let saved = NSTemporaryDirectory() + "axisctl-golden-actual/" + name
        try? FileManager.default.createDirectory(atPath: (saved as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? text.write(toFile: saved, atomically: true, encoding: .utf8)
        let expected = GoldenDiff.lines(stored), got = GoldenDiff.lines(text)
        let first = (0..<min(expected.count, got.count)).first { expected[$0] != got[$0] } ?? min(expected.count, got.count)
        let message = """
            golden file mismatch: \(url.path)
            command: axisctl \(command.joined(separator: " "))
            first difference at line \(first + 1):
              golden: \(first < expected.count ? expected[first] : "(end of file)")
              actual: \(first < got.count ? got[first] : "(end of output)")
            \(GoldenDiff.unified(old: expected, new: got, oldName: "golden \(name)", newName: "actual \(name)"))
            The actual (normalized) output is in \(saved).
            \(regenerate)
            """
        XCTFail(message, file: file, line: line)
    }
}

/// Replaces what differs from run to run in axisctl's output with stable placeholders, so that the
/// rest can be compared byte for byte with a golden file.
///
/// | what varies                                 | example                            | becomes                           |
/// |---------------------------------------------|------------------------------------|-----------------------------------|
/// | the daemon's data directory                 | `/tmp/golden-1A2B3C4D/data`        | `<DATA>`                          |
/// | listener ports (added with `addLiteral`)    | `127.0.0.1:42025`                  | `127.0.0.1:<API-PORT>`            |
/// | timestamps                                  | `2026-11-24T21:39:25.307Z`         | `<TIME>`                          |
/// | document ids (32 hex digits)                | `01a20f7fd3fb2de1f3c2b0f12ec71f14` | `<ID1>`, `<ID2>`…                 |
/// | chain hashes, certificate fingerprints      | 64 hex digits                      | `<HEX64>`                         |
/// | the chain head's prefix in `status`         | `a2428a2702dc16d0…`                | `<HEX16>…`                        |
/// | the daemon's pid                            | `pid 19393`                        | `pid <PID>`                       |
/// | uptime and ages                             | `up 1m 14s`, `waiting 4s`          | `up <UPTIME>`, `waiting <AGE>`    |
/// | journal sequence numbers                    | `sequence 16`                      | `sequence <SEQ>`                  |
/// | the last fsync's duration                   | `last sync 2075 µs`                | `last sync <MICROS> µs`           |
/// | the journal's size on disk in `status`      | `1 segments, 6079 bytes`           | `1 segments, <BYTES> bytes`       |
/// | the caller's uid and gid                    | `admin:uid=0,gid=0`                | `admin:uid=<UID>,gid=<GID>`       |
///
/// Document ids get their numbers in the order they are registered (the test registers the ones it
/// submits), then in order of first appearance, across every output of one normalizer, so the same
/// document has the same placeholder in every golden file. The SHA-256 digests of the test's own
/// documents do not vary and are kept.
///
/// JSON: string values get the text rules above; the numbers under `varyingNumbers`' keys become
/// `"<NAME:int>"` (the type stays visible); it is printed again with sorted keys, two-space
/// indentation, and arrays of plain values on one line.
///
/// Tables: a block printed by `TextTable` (cells padded to the column's width, two spaces between
/// columns, right-aligned columns padded on the left, trailing spaces cut) is split into cells by the
/// header's column positions. The split is checked to give back the exact lines, so a misaligned
/// table fails. Then each cell is normalized (or replaced whole, for columns such as AGE) and the
/// table is laid out again by the same rules, so the golden file shows the real alignment around
/// the placeholders whatever the width of the values this run.
final class GoldenNormalizer {
    /// One table in a command's output.
    struct Table {
        /// Columns padded on the left (numbers).
        var rightAligned: Set<Int> = []
        /// Columns whose every non-empty cell varies as a whole (e.g. ages, sequence numbers): cell → placeholder.
        var varying: [Int: String] = [:]
        /// Lines after the table that are not rows (e.g. "4 deliveries").
        var footer = 0
    }

    struct LayoutError: Error, CustomStringConvertible {
        var description: String
    }

    /// JSON keys whose numbers vary, and their placeholder names.
    static let varyingNumbers = [
        "pid": "PID", "uptimeSeconds": "UPTIME", "ageSeconds": "AGE", "sequence": "SEQ", "nextSequence": "SEQ",
        "recordsSinceStart": "COUNT", "batchesSinceStart": "COUNT", "bytesSinceStart": "BYTES", "bytes": "BYTES", "lastSyncMicros": "MICROS",
    ]

    private var literals: [(text: String, placeholder: String)] = []
    private var documentIDs: [String: String] = [:]
    private var stableDigests: Set<String> = []

    init(dataDirectory: String) {
        literals.append((dataDirectory, "<DATA>"))
    }

    /// Replaces `text` (not followed by a digit) with `placeholder` everywhere, before the other rules.
    func addLiteral(_ text: String, as placeholder: String) {
        literals.append((text, placeholder))
    }

    /// The placeholder of document `id`, numbered now if it has none yet.
    @discardableResult
    func registerDocument(_ id: String) -> String {
        if let known = documentIDs[id] { return known }
        let placeholder = "<ID\(documentIDs.count + 1)>"
        documentIDs[id] = placeholder
        return placeholder
    }

    /// Keeps this 64-hex value as it is (a digest that does not vary).
    func keepDigest(_ hex: String) {
        stableDigests.insert(hex)
    }

    // MARK: Text

    /// `input` with the rules of the table above applied, literals first. Word boundaries (`\b`) are
    /// the simple kind (\w next to \W), so `admin:uid=0` has one before `uid`.
    func text(_ input: String) -> String {
        var result = input
        for (literal, placeholder) in literals { result = Self.replace(literal, with: placeholder, in: result) }
        result = result.replacing(#/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/#, with: "<TIME>")
        result = result.replacing(#/\b[0-9a-f]{64}\b/#.wordBoundaryKind(.simple)) { match in
            self.stableDigests.contains(String(match.output)) ? String(match.output) : "<HEX64>"
        }
        result = result.replacing(#/\b[0-9a-f]{16}…/#.wordBoundaryKind(.simple), with: "<HEX16>…")
        result = result.replacing(#/\b[0-9a-f]{32}\b/#.wordBoundaryKind(.simple)) { match in self.registerDocument(String(match.output)) }
        result = result.replacing(#/\bpid \d+/#.wordBoundaryKind(.simple), with: "pid <PID>")
        result = result.replacing(#/\bup \d+[dhms](?: \d+[dhms])?/#.wordBoundaryKind(.simple), with: "up <UPTIME>")
        result = result.replacing(#/\bwaiting \d+[dhms](?: \d+[dhms])?/#.wordBoundaryKind(.simple), with: "waiting <AGE>")
        result = result.replacing(#/\bsequence \d+/#.wordBoundaryKind(.simple), with: "sequence <SEQ>")
        result = result.replacing(#/\blast sync \d+ µs/#.wordBoundaryKind(.simple), with: "last sync <MICROS> µs")
        result = result.replacing(#/\b(segments?), \d+ bytes/#.wordBoundaryKind(.simple)) { match in "\(match.output.1), <BYTES> bytes" }
        result = result.replacing(#/\buid=\d+,gid=\d+/#.wordBoundaryKind(.simple), with: "uid=<UID>,gid=<GID>")
        return result
    }

    /// Every occurrence of `literal` not followed by a digit (so port 4202 leaves 42025 alone).
    static func replace(_ literal: String, with placeholder: String, in text: String) -> String {
        var result = "", rest = text[...]
        while let range = rest.range(of: literal) {
            let followedByDigit = rest[range.upperBound...].first?.isNumber ?? false
            result += rest[..<range.lowerBound] + (followedByDigit ? rest[range] : placeholder[...])
            rest = rest[range.upperBound...]
        }
        return result + rest
    }

    /// A command's text output, in blocks separated by blank lines: the last `tables.count` blocks
    /// are tables, the ones before them plain text (e.g. `queue show`'s key/value block, `status`).
    func output(_ raw: String, tables: [Table]) throws -> String {
        var blocks = raw.components(separatedBy: "\n\n").map { $0.components(separatedBy: "\n") }
        let plain = max(0, blocks.count - tables.count)
        for index in blocks.indices {
            if index < plain {
                blocks[index] = blocks[index].map(text)
            } else {
                blocks[index] = try table(blocks[index], tables[index - plain])
            }
        }
        return blocks.map { $0.joined(separator: "\n") }.joined(separator: "\n\n")
    }

    // MARK: Tables

    func table(_ lines: [String], _ layout: Table) throws -> [String] {
        let rows = Array(lines.dropLast(layout.footer)), footer = lines.suffix(layout.footer).map(text)
        let cells = try Self.cells(rows, rightAligned: layout.rightAligned)
        let normalized = cells.enumerated().map { number, row in
            number == 0 ? row : row.enumerated().map { column, cell in
                cell.isEmpty ? cell : layout.varying[column] ?? text(cell)
            }
        }
        return Self.render(normalized, rightAligned: layout.rightAligned) + footer
    }

    /// Splits table lines into cells by the header's column positions; throws unless laying the
    /// cells out again gives back exactly `lines`.
    static func cells(_ lines: [String], rightAligned: Set<Int>) throws -> [[String]] {
        guard let headerLine = lines.first else { return [] }
        let names = headerLine.split(separator: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let header = Array(headerLine)
        // Where each header name is: a left-aligned column starts there, a right-aligned one ends there.
        var columns: [Range<Int>] = []
        var cursor = 0
        for name in names {
            let characters = Array(name)
            guard let start = (cursor...max(cursor, header.count - characters.count)).first(where: {
                $0 + characters.count <= header.count && Array(header[$0..<$0 + characters.count]) == characters
            }) else { throw LayoutError(description: "header \(headerLine) has no column \(name)") }
            columns.append(start..<start + characters.count)
            cursor = start + characters.count
        }
        func slice(_ row: [Character], _ from: Int, _ to: Int) -> String {
            let lower = min(max(0, from), row.count), upper = min(max(lower, to), row.count)
            return String(row[lower..<upper])
        }
        var table: [[String]] = [names]
        for line in lines.dropFirst() {
            let row = Array(line)
            var cells: [String] = []
            var position = 0
            for index in columns.indices {
                let last = index == columns.count - 1
                if rightAligned.contains(index) {
                    cells.append(slice(row, position, columns[index].upperBound).trimmingCharacters(in: .whitespaces))
                    position = columns[index].upperBound
                } else if last {
                    cells.append(slice(row, columns[index].lowerBound, row.count))
                } else if !rightAligned.contains(index + 1) {
                    var cell = slice(row, columns[index].lowerBound, columns[index + 1].lowerBound)
                    while cell.last == " " { cell.removeLast() }
                    cells.append(cell)
                    position = columns[index + 1].lowerBound
                } else {
                    // Before a right-aligned column: the cell ends where two spaces begin.
                    let region = slice(row, columns[index].lowerBound, columns[index + 1].upperBound)
                    let cell = region.components(separatedBy: "  ").first ?? ""
                    cells.append(cell)
                    position = columns[index].lowerBound + cell.count
                }
            }
            table.append(cells)
        }
        let again = render(table, rightAligned: rightAligned)
        guard again == lines else {
            throw LayoutError(description: "the table is not laid out as TextTable does (cells padded to the column, two spaces "
                + "between columns, right-aligned columns \(rightAligned.sorted())); printed:\n" + lines.joined(separator: "\n")
                + "\nexpected from its cells:\n" + again.joined(separator: "\n"))
        }
        return table
    }

    /// Lays cells out as axisctl does: each column as wide as its widest cell, two spaces between
    /// columns, right-aligned columns padded on the left, trailing spaces cut.
    static func render(_ table: [[String]], rightAligned: Set<Int>) -> [String] {
        var widths: [Int] = []
        for row in table {
            for (column, cell) in row.enumerated() {
                if column == widths.count { widths.append(0) }
                widths[column] = max(widths[column], cell.count)
            }
        }
        return table.map { row in
            var line = row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    // MARK: JSON

    func json(_ raw: String) throws -> String {
        let value = try StrictJSON.parse(Array(raw.utf8))
        var out = ""
        Self.write(normalized(value, key: nil), indent: "", into: &out)
        return out
    }

    private func normalized(_ value: StrictJSON, key: String?) -> StrictJSON {
        switch value {
        case .number(let lexeme):
            guard let key, let name = Self.varyingNumbers[key] else { return value }
            let integer = lexeme.allSatisfy { $0.isNumber || $0 == "-" }
            return .string("<\(name):\(integer ? "int" : "number")>")
        case .string(let string):
            return .string(text(string))
        case .array(let items):
            return .array(items.map { normalized($0, key: key) })
        case .object(let members):
            return .object(members.map { StrictJSON.Member(key: $0.key, value: normalized($0.value, key: $0.key)) })
        case .null, .bool:
            return value
        }
    }

    private static func write(_ value: StrictJSON, indent: String, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let lexeme): out += lexeme
        case .string(let string): out += JSONValue.string(string).encoded()
        case .array(let items):
            let plain = items.allSatisfy { item in
                switch item {
                case .array, .object: return false
                default: return true
                }
            }
            if items.isEmpty || plain {
                out += "["
                for (index, item) in items.enumerated() {
                    if index > 0 { out += ", " }
                    write(item, indent: indent, into: &out)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (index, item) in items.enumerated() {
                out += indent + "  "
                write(item, indent: indent + "  ", into: &out)
                out += index < items.count - 1 ? ",\n" : "\n"
            }
            out += indent + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            let sorted = members.enumerated().sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }.map(\.element)
            out += "{\n"
            for (index, member) in sorted.enumerated() {
                out += indent + "  " + JSONValue.string(member.key).encoded() + ": "
                write(member.value, indent: indent + "  ", into: &out)
                out += index < sorted.count - 1 ? ",\n" : "\n"
            }
            out += indent + "}"
        }
    }
}

/// A line diff for golden-file failures, in the unified format (3 lines of context).
enum GoldenDiff {
    enum Operation: Equatable {
        case same(String), removed(String), added(String)
    }

    /// The lines of a file's text, without the empty string after its final newline.
    static func lines(_ text: String) -> [String] {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// The shortest edit from `old` to `new` (longest common subsequence; golden files are short).
    static func operations(_ old: [String], _ new: [String]) -> [Operation] {
        let n = old.count, m = new.count
        var common = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                common[i][j] = old[i] == new[j] ? common[i + 1][j + 1] + 1 : max(common[i + 1][j], common[i][j + 1])
            }
        }
        var operations: [Operation] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, old[i] == new[j] {
                operations.append(.same(old[i]))
                i += 1
                j += 1
            } else if i < n, j == m || common[i + 1][j] >= common[i][j + 1] {
                operations.append(.removed(old[i]))
                i += 1
            } else {
                operations.append(.added(new[j]))
                j += 1
            }
        }
        return operations
    }

    static func unified(old: [String], new: [String], oldName: String, newName: String, context: Int = 3, limit: Int = 80) -> String {
        let operations = operations(old, new)
        var keep = Array(repeating: false, count: operations.count)
        for (index, operation) in operations.enumerated() where !operation.isSame {
            for near in max(0, index - context)...min(operations.count - 1, index + context) { keep[near] = true }
        }
        // The 1-based old and new line numbers where each operation starts.
        var starts: [(old: Int, new: Int)] = []
        var oldLine = 1, newLine = 1
        for operation in operations {
            starts.append((oldLine, newLine))
            switch operation {
            case .same: oldLine += 1; newLine += 1
            case .removed: oldLine += 1
            case .added: newLine += 1
            }
        }
        var out = ["--- \(oldName)", "+++ \(newName)"]
        var index = 0
        while index < operations.count {
            guard keep[index] else { index += 1; continue }
            var end = index
            while end < operations.count && keep[end] { end += 1 }
            let hunk = operations[index..<end]
            let oldCount = hunk.filter { if case .added = $0 { return false }; return true }.count
            let newCount = hunk.filter { if case .removed = $0 { return false }; return true }.count
            out.append("@@ -\(starts[index].old),\(oldCount) +\(starts[index].new),\(newCount) @@")
            for operation in hunk {
                switch operation {
                case .same(let line): out.append(" " + line)
                case .removed(let line): out.append("-" + line)
                case .added(let line): out.append("+" + line)
                }
            }
            index = end
        }
        if out.count > limit + 2 { out = Array(out.prefix(limit + 2)) + ["… (\(out.count - limit - 2) more diff lines)"] }
        return out.joined(separator: "\n")
    }
}

extension GoldenDiff.Operation {
    var isSame: Bool {
        if case .same = self { return true }
        return false
    }
}
