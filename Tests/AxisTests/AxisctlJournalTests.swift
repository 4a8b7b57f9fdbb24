import Foundation
import XCTest
@testable import Axis

/// `axisctl journal check|dump` as an operator runs them: output, JSON schema and exit codes.
final class AxisctlJournalTests: XCTestCase {
    /// A journal with a few known records, written through the library.
    func makeJournal() throws -> String {
        let data = try makeTempDirectory(self)
        // The real clock: the demo signs with OpenSSL, which stamps the real signing time.
        let core = try AxisCore(layout: AxisCore.Layout(data: data))
        let setup = try Demo.prepare(core)
        _ = try Demo.seedDirectory(core, setup: setup)
        _ = try Demo.exchangeOneDocument(core, setup: setup)
        core.close()
        return data
    }

    func axisctl(_ args: String...) throws -> (code: Int32, out: String, err: String) {
        try ProductProcess.run(try productPath("axisctl"), args)
    }

    func testCheckOfHealthyJournalPrintsTableAndExitsZero() throws {
        let data = try makeJournal()
        let r = try axisctl("journal", "check", data)
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "journal \(data)/journal")
        XCTAssertEqual(lines[1], "SEGMENT                   FIRST SEQ  RECORDS  BYTES  PREPARED  STATUS")
        XCTAssertTrue(lines[2].hasPrefix("00000000000000000001.axj          1       12  "), lines[2])
        XCTAssertTrue(lines[2].contains("         0  ok"), "the first segment is a plain file: \(lines[2])")
        XCTAssertTrue(lines[2].hasSuffix("  ok"), lines[2])
        XCTAssertTrue(lines.contains("torn tail: none"))
        let id = try String(contentsOfFile: data + "/journal/JOURNAL_ID", encoding: .utf8).dropLast()
        XCTAssertTrue(lines.contains("journal id: \(id)"), r.out)
        XCTAssertEqual(lines.last, "status: healthy")
    }

    func testCheckJSONFollowsTheDocumentedSchema() throws {
        let data = try makeJournal()
        let r = try axisctl("journal", "check", data, "--json")
        XCTAssertEqual(r.code, 0)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual(object["healthy"] as? Bool, true)
        XCTAssertEqual((object["journalId"] as? String)?.count, 32)
        // 4 agencies and their 4 systems, accepted, receipt issued, leased, acknowledged.
        XCTAssertEqual(object["records"] as? Int, 12)
        XCTAssertEqual(object["lastSequence"] as? Int, 12)
        XCTAssertEqual((object["chainHead"] as? String)?.count, 64)
        XCTAssertTrue(object["tornTail"] is NSNull)
        XCTAssertEqual((object["problems"] as? [Any])?.count, 0)
        let segment = try XCTUnwrap((object["segments"] as? [[String: Any]])?.first)
        XCTAssertEqual(segment["name"] as? String, "00000000000000000001.axj")
        XCTAssertEqual(segment["status"] as? String, "ok")
        XCTAssertEqual(segment["preparedBytes"] as? Int, 0)
    }

    func testCheckReportsTornTailWithoutCallingItDamage() throws {
        let data = try makeJournal()
        let segment = data + "/journal/00000000000000000001.axj"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data([0x41, 0x58, 0x4A, 0x52, 0xFF]))  // the start of a frame, cut short
        handle.closeFile()
        let before = try XCTUnwrap(FileManager.default.contents(atPath: segment))
        let r = try axisctl("journal", "check", data)
        XCTAssertEqual(r.code, 0, r.out)
        XCTAssertTrue(r.out.contains("torn tail: 00000000000000000001.axj offset"), r.out)
        XCTAssertEqual(try XCTUnwrap(FileManager.default.contents(atPath: segment)), before, "check never writes")
    }

    func testCheckOfTamperedRecordExitsOneNamingSegmentAndOffset() throws {
        let data = try makeJournal()
        let dir = data + "/journal"
        // Rewrite the body of record 2 and recompute its CRC: only the chain can tell.
        var offset = UInt64(0)
        _ = try JournalScanner.scan(directory: dir, storage: PosixStorage()) { if $0.sequence == 2 { offset = $0.offset } }
        let path = dir + "/00000000000000000001.axj"
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let o = Int(offset)
        bytes[o + JournalFormat.frameHeaderSize + 5] ^= 0x01
        var crc = bytes[(o + 4)..<(o + 8)].withUnsafeBytes { CRC32C.update(0, $0) }
        let length = Int(bytes[o + 4]) | Int(bytes[o + 5]) << 8
        crc = bytes[(o + 12)..<(o + JournalFormat.frameHeaderSize + length)].withUnsafeBytes { CRC32C.update(crc, $0) }
        for i in 0..<4 { bytes[o + 8 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        try bytes.write(to: URL(fileURLWithPath: path))

        let r = try axisctl("journal", "check", data)
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.out.contains("DAMAGE damaged: 00000000000000000001.axj offset \(offset): chain hash mismatch at sequence 2"), r.out)
        XCTAssertTrue(r.out.contains("status: DAMAGED"), r.out)
    }

    func testDumpListsRecordsAndFiltersByKind() throws {
        let data = try makeJournal()
        let all = try axisctl("journal", "dump", data)
        XCTAssertEqual(all.code, 0)
        let lines = all.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        XCTAssertTrue(lines[0].hasPrefix("sequence=1 kind=agency-changed agency=000.00.00.G22 "), String(lines[0]))
        let accepted = try axisctl("journal", "dump", data, "--kind", "document-accepted", "--json")
        let objects = try accepted.out.split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(objects.count, 1)
        XCTAssertEqual(objects[0]["kind"] as? String, "document-accepted")
        XCTAssertEqual(objects[0]["sender"] as? String, "000.00.00.G22")
        XCTAssertEqual(objects[0]["recipients"] as? [String], ["000.00.00.H29"])
        let limited = try axisctl("journal", "dump", data, "--from", "3", "--limit", "2")
        XCTAssertEqual(limited.out.split(separator: "\n").map { $0.prefix(11) }, ["sequence=3 ", "sequence=4 "])
    }

    func testUsageErrorsExit64WithAHint() throws {
        let missing = try axisctl("journal", "check", "/nonexistent/axis")
        XCTAssertEqual(missing.code, 64)
        XCTAssertTrue(missing.err.contains("no journal at '/nonexistent/axis'"), missing.err)
        let kind = try axisctl("journal", "dump", try makeJournal(), "--kind", "nope")
        XCTAssertEqual(kind.code, 64)
        XCTAssertTrue(kind.err.contains("unknown record kind 'nope'"), kind.err)
        let help = try axisctl("journal", "check", "--help")
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.out.contains("axisctl journal check"), help.out)
    }
}
