import Foundation
import XCTest
@testable import Axis

/// Segments prepared as files of zeros (`SegmentPreparer`): rolls use them, the zero end of a
/// segment reads as "no more records", and a torn write into that space is still a torn tail.
final class JournalPreallocationTests: XCTestCase {
    func options(_ mode: SegmentPreallocation) -> JournalOptions {
        var o = JournalOptions()
        o.segmentBytesMax = 1 << 16
        o.preallocation = mode
        return o
    }

    func segments(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".axj") }.sorted()
    }

    func fileSize(_ path: String) throws -> Int {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    func appendRecords(_ journal: Journal, _ count: Int, size: Int = 3000) throws -> [AppendReceipt] {
        try (0..<count).map { i in try journal.appendAndWait(.opaque, [UInt8](repeating: UInt8(i % 251), count: size)) }
    }

    func testRolledSegmentsArePreparedFilesOfFullSizeAndReplayExactly() throws {
        for mode in [SegmentPreallocation.inline, .background] {
            let dir = try makeTempDirectory(self)
            let (journal, _) = try Journal.open(directory: dir, options: options(mode))
            var receipts: [AppendReceipt] = []
            for _ in 0..<4 {
                receipts += try appendRecords(journal, 30)
            }
            journal.close()
            let names = try segments(dir)
            XCTAssertGreaterThan(names.count, 3, "\(mode)")
            // Every segment after the first was a prepared file: full size, records then zeros. (In
            // background mode a roll may find nothing ready yet and fall back to a plain file.)
            let fullSize = try names.dropFirst().filter { try fileSize(dir + "/" + $0) == 1 << 16 }
            if mode == .inline { XCTAssertEqual(fullSize.count, names.count - 1, "\(names)") }
            XCTAssertGreaterThan(fullSize.count, 0, "\(mode)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".prep") }, [],
                           "close removes a prepared file nobody took")
            var seen: [UInt64] = []
            let (again, report) = try Journal.open(directory: dir, options: options(mode)) { seen.append($0.sequence) }
            XCTAssertEqual(seen, receipts.map(\.sequence), "\(mode)")
            XCTAssertTrue(report.scan.problems.isEmpty, "\(report.scan.problems)")
            let more = try again.appendAndWait(.opaque, [1, 2, 3])
            XCTAssertEqual(more.sequence, UInt64(receipts.count + 1))
            XCTAssertEqual(more.offset, report.scan.segments.last?.validEnd, "appends continue after the last record, not at the file's end")
            again.close()
        }
    }

    func testZeroEndOfSegmentIsNoDamageAndIsReportedAsPreparedSpace() throws {
        let dir = try makeTempDirectory(self)
        let (journal, _) = try Journal.open(directory: dir, options: options(.inline))
        _ = try appendRecords(journal, 25)
        journal.close()
        let report = try JournalScanner.scan(directory: dir, storage: PosixStorage())
        XCTAssertTrue(report.problems.isEmpty)
        let newest = try XCTUnwrap(report.segments.last)
        XCTAssertEqual(newest.fileSize, 1 << 16)
        XCTAssertEqual(newest.preallocatedBytes, newest.fileSize - newest.validEnd)
        XCTAssertGreaterThan(newest.preallocatedBytes, 0)
    }

    func testTornWriteIntoPreparedSpaceIsCutAsATornTail() throws {
        let dir = try makeTempDirectory(self)
        let (journal, _) = try Journal.open(directory: dir, options: options(.inline))
        let acked = try appendRecords(journal, 25)
        journal.close()
        let newest = try XCTUnwrap(try segments(dir).last)
        let path = dir + "/" + newest
        let scan = try JournalScanner.scan(directory: dir, storage: PosixStorage())
        let end = Int(try XCTUnwrap(scan.segments.last).validEnd)
        // Half a frame landed in the prepared space: its magic and some bytes, then zeros again.
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let partial = FrameCodec.encode(kind: RecordKind.opaque.rawValue, sequence: acked.count.uint64 + 1,
                                        body: [UInt8](repeating: 7, count: 3000), previousChain: acked[acked.count - 1].chain).bytes
        bytes.replaceSubrange(end..<(end + 1000), with: partial.prefix(1000))
        try bytes.write(to: URL(fileURLWithPath: path))

        var count = 0
        let (again, report) = try Journal.open(directory: dir, options: options(.inline)) { _ in count += 1 }
        defer { again.close() }
        XCTAssertEqual(count, acked.count)
        let cut = try XCTUnwrap(report.truncatedTail)
        XCTAssertEqual(cut.offset, UInt64(end))
        XCTAssertEqual(try again.appendAndWait(.opaque, [9]).sequence, acked.count.uint64 + 1)
    }

    func testNonZeroByteInPreparedSpaceAfterLaterBatchesIsDamage() throws {
        let dir = try makeTempDirectory(self)
        let (journal, _) = try Journal.open(directory: dir, options: options(.inline))
        _ = try appendRecords(journal, 60)  // a few segments; all but the first were prepared files
        journal.close()
        // A stray byte in an older segment's unused prepared space: not a clean end, so it is reported
        // as damage at the end of that segment's records (only the newest segment can have a torn tail).
        let names = try segments(dir)
        XCTAssertGreaterThan(names.count, 2)
        let older = dir + "/" + names[1]
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: older))
        XCTAssertEqual(bytes.count, 1 << 16, "the older segment is a full-size file")
        let scan = try JournalScanner.scan(directory: dir, storage: PosixStorage())
        let end = Int(scan.segments[1].validEnd)
        XCTAssertLessThan(end, bytes.count - 1, "the segment rolled before its prepared space was used up")
        bytes[bytes.count - 1] = 0x5A
        try bytes.write(to: URL(fileURLWithPath: older))
        let damaged = try JournalScanner.scan(directory: dir, storage: PosixStorage())
        XCTAssertEqual(damaged.damage.first?.segment, names[1])
        XCTAssertEqual(damaged.damage.first?.offset, UInt64(end))
    }
}

private extension Int {
    var uint64: UInt64 { UInt64(self) }
}
