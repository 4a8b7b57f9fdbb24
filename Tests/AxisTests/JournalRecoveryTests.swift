import Foundation
import XCTest
import Axis

/// Recovery of a damaged journal: what is refused (damage in history, with the segment and offset
/// named), what is repaired (a torn tail, a segment whose header never landed), what `salvage` does,
/// how write failures (fsync, a full disk) end the journal without losing an acknowledged record,
/// and that a read-only scan changes nothing.
///
/// Byte-flipping runs on real files (`PosixStorage` in a temporary directory); failures and crashes
/// on `SimulatedStorage`.
final class JournalRecoveryTests: XCTestCase {
    /// Segments roll at 64 KiB; 2–3 KiB records put about 25 in a segment.
    private static let options: JournalOptions = {
        var o = JournalOptions()
        o.segmentBytesMax = 1 << 16
        o.recordBytesMax = 4096
        o.batchBytesMax = 64 << 10
        // Plain segment files, so a test can append bytes right after the last record; prepared
        // (zero-filled) segments have tests of their own in JournalPreallocationTests.
        o.preallocation = .off
        return o
    }()

    private static var salvageOptions: JournalOptions {
        var o = options
        o.salvage = true
        return o
    }

    // MARK: - Helpers

    private struct Written {
        var receipts: [AppendReceipt]
        var bodies: [[UInt8]]
    }

    private static func body(_ i: Int, size: Int? = nil) -> [UInt8] {
        var rng = SeededRandom(seed: UInt64(i) &* 7919 &+ 1)
        let count = size ?? (2000 + (i * 389) % 1000)
        var b = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
        withUnsafeBytes(of: UInt64(i).littleEndian) { for k in 0..<8 where k < b.count { b[k] = $0[k] } }
        return b
    }

    /// Appends `count` records one at a time (so each is its own batch), starting at record number `from`.
    @discardableResult
    private func append(_ journal: Journal, count: Int, from: Int = 0, size: Int? = nil) throws -> Written {
        var written = Written(receipts: [], bodies: [])
        for i in from..<(from + count) {
            let b = Self.body(i, size: size)
            written.receipts.append(try journal.appendAndWait(.opaque, b))
            written.bodies.append(b)
        }
        return written
    }

    private func open(_ directory: String, storage: any Storage = PosixStorage(), options: JournalOptions = options,
                      corrupt: String? = nil) throws -> (Journal, RecoveryReport, [JournalEntry]) {
        var entries: [JournalEntry] = []
        let (journal, report) = try Journal.open(directory: directory, corruptDirectory: corrupt, storage: storage,
                                                 options: options, replay: { entries.append($0) })
        return (journal, report, entries)
    }

    /// A closed journal of `count` records in a fresh temporary directory.
    private func makeJournal(count: Int, size: Int? = nil) throws -> (root: String, directory: String, written: Written) {
        let root = try makeTempDirectory(self, "axis-journal-recovery")
        let directory = PathJoin.join(root, "journal")
        let (journal, report, entries) = try open(directory)
        XCTAssertTrue(report.created)
        XCTAssertTrue(entries.isEmpty)
        let written = try append(journal, count: count, size: size)
        journal.close()
        return (root, directory, written)
    }

    private func segmentPath(_ directory: String, _ firstSequence: UInt64) -> String {
        PathJoin.join(directory, JournalFormat.segmentName(firstSequence: firstSequence))
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AxisError(.storageIO, "test cannot read '\(path)'")
        }
        return [UInt8](data)
    }

    private func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    private func editFile(_ path: String, _ edit: (inout [UInt8]) -> Void) throws {
        var bytes = try readFile(path)
        edit(&bytes)
        try writeFile(path, bytes)
    }

    /// Every segment file's bytes, by name (the LOCK file is not journal content).
    private func segmentBytes(_ directory: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for name in try JournalScanner.segmentNames(in: directory, storage: PosixStorage()) {
            out[name] = try readFile(PathJoin.join(directory, name))
        }
        return out
    }

    /// Recomputes the CRC of the frame at `offset` (after the test edited it).
    private static func fixCRC(_ bytes: inout [UInt8], frameAt offset: Int) {
        let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + 4 + $1]) << (8 * $1) }
        let end = offset + JournalFormat.frameHeaderSize + length
        let crc = CRC32C.checksum(Array(bytes[(offset + 4)..<(offset + 8)]) + Array(bytes[(offset + 12)..<end]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[offset + 8 + i] = $0[i] } }
    }

    /// Recomputes the chain value (and CRC) of the frame at `offset` from `previous`; returns the new chain.
    private static func rechain(_ bytes: inout [UInt8], frameAt offset: Int, previous: Digest256) -> Digest256 {
        let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + 4 + $1]) << (8 * $1) }
        let bodyStart = offset + JournalFormat.frameHeaderSize
        let chain = SHA256Hasher.digest(previous.bytes + Array(bytes[(offset + 12)..<(offset + 24)])
                                        + SHA256Hasher.digest(Array(bytes[bodyStart..<(bodyStart + length)])).bytes)
        for (i, b) in chain.bytes.enumerated() { bytes[offset + 24 + i] = b }
        fixCRC(&bytes, frameAt: offset)
        return chain
    }

    private func assertCorrupt(_ directory: String, segment: String, offset: UInt64, mentioning detail: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try open(directory), "the journal opened on damaged history", file: file, line: line) { error in
            guard let error = error as? AxisError else { return XCTFail("not an AxisError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.code, .journalCorrupt, file: file, line: line)
            XCTAssertTrue(error.message.contains("\(PathJoin.join(directory, segment)) at offset \(offset):"),
                          "the message must name the segment and offset: \(error.message)", file: file, line: line)
            XCTAssertTrue(error.message.contains(detail), "expected '\(detail)' in: \(error.message)", file: file, line: line)
            XCTAssertTrue(error.message.contains("--salvage"), "the message must say what to do: \(error.message)",
                          file: file, line: line)
        }
    }

    private func assertEntries(_ entries: [JournalEntry], match written: Written, from index: Int = 0,
                               file: StaticString = #filePath, line: UInt = #line) {
        let slice = Array(entries[index...].prefix(written.receipts.count))
        XCTAssertEqual(slice.count, written.receipts.count, "records missing", file: file, line: line)
        for (entry, (receipt, body)) in zip(slice, zip(written.receipts, written.bodies)) {
            XCTAssertEqual(entry.sequence, receipt.sequence, file: file, line: line)
            XCTAssertEqual(entry.chain, receipt.chain, "sequence \(receipt.sequence)", file: file, line: line)
            XCTAssertEqual(entry.segment, receipt.segment, "sequence \(receipt.sequence)", file: file, line: line)
            XCTAssertEqual(entry.offset, receipt.offset, "sequence \(receipt.sequence)", file: file, line: line)
            XCTAssertTrue(entry.body == body, "sequence \(receipt.sequence): body differs", file: file, line: line)
        }
    }

    // MARK: - Damage in history is refused

    func testRefusesToOpenWhenAnOlderSegmentHasAFlippedByte() throws {
        let (_, directory, written) = try makeJournal(count: 80)
        let segments = Set(written.receipts.map(\.segment)).sorted()
        XCTAssertGreaterThanOrEqual(segments.count, 3, "the fixture should span several segments")
        let victim = try XCTUnwrap(written.receipts.first { $0.segment == segments[0] && $0.sequence == 7 })
        try editFile(segmentPath(directory, segments[0])) { $0[Int(victim.offset) + 60] ^= 0x01 }
        let before = try segmentBytes(directory)
        assertCorrupt(directory, segment: JournalFormat.segmentName(firstSequence: segments[0]), offset: victim.offset,
                      mentioning: "checksum mismatch")
        XCTAssertEqual(try segmentBytes(directory), before, "a refused open must not change the journal")

        // A damaged header of an older segment is refused at offset 0 too.
        try editFile(segmentPath(directory, segments[0])) { $0[Int(victim.offset) + 60] ^= 0x01 }
        try editFile(segmentPath(directory, segments[1])) { $0[30] ^= 0xFF }
        assertCorrupt(directory, segment: JournalFormat.segmentName(firstSequence: segments[1]), offset: 0,
                      mentioning: "segment header checksum mismatch")
    }

    func testRefusesToOpenWhenTheNewestSegmentIsDamagedBeforeLaterBatches() throws {
        let (_, directory, written) = try makeJournal(count: 60)
        let newest = try XCTUnwrap(written.receipts.last?.segment)
        let inNewest = written.receipts.filter { $0.segment == newest }
        XCTAssertGreaterThanOrEqual(inNewest.count, 4)
        let victim = inNewest[inNewest.count / 2]
        try editFile(segmentPath(directory, newest)) { $0[Int(victim.offset) + 100] ^= 0x40 }
        let before = try segmentBytes(directory)
        assertCorrupt(directory, segment: JournalFormat.segmentName(firstSequence: newest), offset: victim.offset,
                      mentioning: "checksum mismatch")
        XCTAssertEqual(try segmentBytes(directory), before, "the later batches must not be cut off as a torn tail")

        // A damaged frame length (it now claims more bytes than follow) is history too, not a torn tail.
        try editFile(segmentPath(directory, newest)) {
            $0[Int(victim.offset) + 100] ^= 0x40
            $0[Int(victim.offset) + 6] ^= 0x01
        }
        assertCorrupt(directory, segment: JournalFormat.segmentName(firstSequence: newest), offset: victim.offset,
                      mentioning: "frame is")
    }

    func testARecordRewrittenWithAValidChecksumIsCaughtByTheChain() throws {
        let (_, directory, written) = try makeJournal(count: 60)
        let victim = written.receipts[10]
        let path = segmentPath(directory, victim.segment)
        try editFile(path) {
            $0[Int(victim.offset) + JournalFormat.frameHeaderSize + 20] ^= 0x10
            Self.fixCRC(&$0, frameAt: Int(victim.offset))
        }
        assertCorrupt(directory, segment: JournalFormat.segmentName(firstSequence: victim.segment), offset: victim.offset,
                      mentioning: "chain hash mismatch at sequence \(victim.sequence)")

        // The last record of the newest segment too: an intact checksum rules out a torn write.
        let (_, directory2, written2) = try makeJournal(count: 5)
        let last = try XCTUnwrap(written2.receipts.last)
        try editFile(segmentPath(directory2, last.segment)) {
            $0[Int(last.offset) + JournalFormat.frameHeaderSize] ^= 0x10
            Self.fixCRC(&$0, frameAt: Int(last.offset))
        }
        assertCorrupt(directory2, segment: JournalFormat.segmentName(firstSequence: last.segment), offset: last.offset,
                      mentioning: "chain hash mismatch at sequence \(last.sequence)")
    }

    func testHistoryRewrittenWithRecomputedChainsIsCaughtAtTheNextSegmentHeader() throws {
        let (_, directory, written) = try makeJournal(count: 60)
        let first = written.receipts.filter { $0.segment == 1 }
        let next = try XCTUnwrap(written.receipts.first { $0.segment != 1 }?.segment)
        try editFile(segmentPath(directory, 1)) { bytes in
            bytes[Int(first[3].offset) + JournalFormat.frameHeaderSize + 1] ^= 0x01
            var previous = first[2].chain
            for receipt in first[3...] { previous = Self.rechain(&bytes, frameAt: Int(receipt.offset), previous: previous) }
        }
        assertCorrupt(directory, segment: JournalFormat.segmentName(firstSequence: next), offset: 0,
                      mentioning: "previous-chain value does not match the end of \(JournalFormat.segmentName(firstSequence: 1))")
    }

    // MARK: - What recovery repairs

    func testTruncatesATornTailReportsItAndAppendsAfterIt() throws {
        let (_, directory, written) = try makeJournal(count: 30)
        let newest = try XCTUnwrap(written.receipts.last?.segment)
        let path = segmentPath(directory, newest)
        let size = UInt64(try readFile(path).count)
        // The start of the next frame, then garbage: what a crash in the middle of a write leaves.
        let partial = Array(FrameCodec.encode(kind: RecordKind.opaque.rawValue, sequence: 31, body: Self.body(31),
                                              previousChain: written.receipts[29].chain).bytes.prefix(700))
        let torn = partial + [UInt8](repeating: 0xA5, count: 333)
        try editFile(path) { $0 += torn }

        let (journal, report, entries) = try open(directory)
        let cut = try XCTUnwrap(report.truncatedTail, "a torn tail must be reported")
        XCTAssertEqual(cut.segment, JournalFormat.segmentName(firstSequence: newest))
        XCTAssertEqual(cut.offset, size)
        XCTAssertEqual(cut.bytes, UInt64(torn.count))
        XCTAssertTrue(report.summary.contains("truncated_tail=\(cut.segment)@\(size)+\(torn.count)B"), report.summary)
        XCTAssertEqual(entries.count, 30)
        assertEntries(entries, match: written)
        XCTAssertEqual(UInt64(try readFile(path).count), size, "the tail is cut off on disk")

        let more = try append(journal, count: 3, from: 30)
        XCTAssertEqual(more.receipts.map(\.sequence), [31, 32, 33])
        XCTAssertEqual(more.receipts[0].offset, size, "appends continue where the good part ended")
        journal.close()
        let (again, report2, entries2) = try open(directory)
        defer { again.close() }
        XCTAssertNil(report2.truncatedTail)
        assertEntries(entries2, match: written)
        assertEntries(entries2, match: more, from: 30)
    }

    func testRemovesANewestSegmentWhoseHeaderIsTorn() throws {
        for length in [0, 1, 40, JournalFormat.segmentHeaderSize - 1] {
            let (_, directory, written) = try makeJournal(count: 3)
            let last = try XCTUnwrap(written.receipts.last)
            let header = SegmentHeader(journalID: Array(repeating: 1, count: 16), firstSequence: 4,
                                       createdAt: Timestamp(millis: 0), previousChain: last.chain)
            let name = JournalFormat.segmentName(firstSequence: 4)
            try writeFile(PathJoin.join(directory, name), Array(header.encoded().prefix(length)))

            let (journal, report, entries) = try open(directory)
            XCTAssertEqual(report.removedIncompleteSegments, [name], "header of \(length) bytes")
            XCTAssertTrue(report.summary.contains("removed_incomplete=\(name)"), report.summary)
            XCTAssertFalse(FileManager.default.fileExists(atPath: PathJoin.join(directory, name)))
            assertEntries(entries, match: written)
            let receipt = try journal.appendAndWait(.opaque, [1, 2, 3])
            XCTAssertEqual(receipt.sequence, 4)
            XCTAssertEqual(receipt.segment, last.segment, "the append lands in the last complete segment")
            journal.close()
        }
    }

    func testADamagedLastBatchOfTheNewestSegmentIsTreatedAsATornTail() throws {
        // Documents a limit of the format: bit rot in the last batch looks exactly like a torn write
        // (no later batch proves it was complete), so that acknowledged record is cut off — and reported.
        let (_, directory, written) = try makeJournal(count: 10)
        let last = try XCTUnwrap(written.receipts.last)
        try editFile(segmentPath(directory, last.segment)) { $0[Int(last.offset) + 200] ^= 0x01 }
        let (journal, report, entries) = try open(directory)
        defer { journal.close() }
        XCTAssertEqual(report.truncatedTail?.offset, last.offset)
        XCTAssertEqual(entries.count, 9)
    }

    func testASecondJournalCannotOpenALockedDirectory() throws {
        let (_, directory, _) = try makeJournal(count: 1)
        let (journal, _, _) = try open(directory)
        XCTAssertThrowsError(try open(directory)) { XCTAssertEqual(($0 as? AxisError)?.code, .journalLocked) }
        journal.close()
        let (again, _, entries) = try open(directory)
        again.close()
        XCTAssertEqual(entries.count, 1, "close releases the lock")
    }

    // MARK: - Salvage

    func testSalvageMovesTheDamagedSegmentAsideAndTheJournalOpensAgainWithoutIt() throws {
        let (root, directory, written) = try makeJournal(count: 80)
        let segments = Set(written.receipts.map(\.segment)).sorted()
        let damagedName = JournalFormat.segmentName(firstSequence: segments[0])
        let victim = written.receipts[5]
        try editFile(segmentPath(directory, segments[0])) { $0[Int(victim.offset) + 99] ^= 0x08 }
        let damagedBytes = try readFile(segmentPath(directory, segments[0]))
        assertCorrupt(directory, segment: damagedName, offset: victim.offset, mentioning: "checksum mismatch")

        let corrupt = PathJoin.join(root, "corrupt")
        let (journal, report, entries) = try open(directory, options: Self.salvageOptions, corrupt: corrupt)
        XCTAssertEqual(report.salvagedSegments, [damagedName])
        XCTAssertTrue(report.summary.contains("salvaged=\(damagedName)"), report.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: segmentPath(directory, segments[0])))
        XCTAssertEqual(try readFile(PathJoin.join(corrupt, damagedName)), damagedBytes, "moved aside unchanged")

        // Everything after the damaged segment is still there, then the salvage record.
        let kept = written.receipts.firstIndex { $0.segment == segments[1] } ?? 0
        let keptWritten = Written(receipts: Array(written.receipts[kept...]), bodies: Array(written.bodies[kept...]))
        assertEntries(entries, match: keptWritten)
        XCTAssertEqual(entries.count, keptWritten.receipts.count + 1)
        let salvage = try XCTUnwrap(entries.last)
        XCTAssertEqual(salvage.kind, .salvage)
        XCTAssertEqual(salvage.sequence, UInt64(written.receipts.count + 1))
        let note = try SalvageNote.decode(salvage.body)
        XCTAssertEqual(note.movedSegments, [damagedName])
        XCTAssertTrue(note.resumesAt.contains(segments[1]), "the break left by the move is accepted: \(note)")
        XCTAssertTrue(note.resumesAt.contains(salvage.sequence))
        let after = try journal.appendAndWait(.opaque, [7, 7, 7])
        XCTAssertEqual(after.sequence, salvage.sequence + 1)
        journal.close()

        // A normal open (no salvage) now succeeds, with the same records and the new one.
        let (again, report2, entries2) = try open(directory)
        defer { again.close() }
        XCTAssertTrue(report2.salvagedSegments.isEmpty)
        XCTAssertEqual(entries2.count, entries.count + 1)
        XCTAssertEqual(Array(entries2.prefix(entries.count)), entries)
        XCTAssertEqual(entries2.last?.body, [7, 7, 7])
        let scan = try JournalScanner.scan(directory: directory, storage: PosixStorage())
        XCTAssertTrue(scan.problems.isEmpty, "\(scan.problems)")
    }

    func testSalvageOfTheNewestSegmentNeverReusesItsSequenceNumbers() throws {
        let (root, directory, written) = try makeJournal(count: 40)
        let newest = try XCTUnwrap(written.receipts.last?.segment)
        let inNewest = written.receipts.filter { $0.segment == newest }
        let victim = inNewest[1]
        try editFile(segmentPath(directory, newest)) { $0[Int(victim.offset) + 70] ^= 0x02 }

        let corrupt = PathJoin.join(root, "corrupt")
        let (journal, report, entries) = try open(directory, options: Self.salvageOptions, corrupt: corrupt)
        XCTAssertEqual(report.salvagedSegments, [JournalFormat.segmentName(firstSequence: newest)])
        let salvage = try XCTUnwrap(entries.last)
        XCTAssertEqual(salvage.kind, .salvage)
        // The moved segment held records up to 40 (past the damage): none of those numbers comes back.
        XCTAssertEqual(salvage.sequence, 41)
        XCTAssertEqual(try journal.appendAndWait(.opaque, [1]).sequence, 42)
        journal.close()
        let (again, _, entries2) = try open(directory)
        again.close()
        XCTAssertEqual(entries2.map(\.sequence), Array(1..<newest) + [41, 42])
    }

    func testSalvageInterruptedByACrashNeverOpensWithoutTrace() throws {
        // Whatever point of `--salvage` the power fails at, the next normal open either refuses
        // (the damage is still there) or shows the salvage record; it never opens on a silently
        // shortened log, nor on an empty directory taken for a new journal.
        var outcomes: [String: Int] = [:]
        // The only segment (nothing readable is left), the oldest of several, the middle of the newest.
        for (records, newest) in [(40, false), (100, false), (100, true)] {
            let fixture = SimulatedStorage()
            let directory = "/data/journal"
            let (journal, _, _) = try open(directory, storage: fixture)
            let written = try append(journal, count: records, size: 1500)
            journal.close()
            let inNewest = written.receipts.filter { $0.segment == written.receipts.last?.segment }
            let victim = newest ? inNewest[inNewest.count / 2] : written.receipts[0]
            let path = segmentPath(directory, victim.segment)
            var bytes = try XCTUnwrap(fixture.contents(of: path))
            bytes[Int(victim.offset) + 80] ^= 0x01
            fixture.overwrite(path, with: bytes)
            let highest = try XCTUnwrap(written.receipts.last?.sequence)

            for operations in 1...11 {
                for seed in UInt64(0)..<6 {
                    let storage = fixture.copy()
                    let context = "\(records) records, damage at \(victim.sequence), power off after \(operations) operations, seed \(seed)"
                    storage.powerOff(afterOperations: operations)
                    do {
                        let (salvaged, _, _) = try open(directory, storage: storage, options: Self.salvageOptions,
                                                        corrupt: "/data/corrupt")
                        salvaged.close()
                    } catch let error as AxisError {
                        XCTAssertEqual(error.code, .storageIO, context)
                    }
                    storage.crash(seed: seed)
                    do {
                        let (reopened, report, entries) = try open(directory, storage: storage)
                        reopened.close()
                        XCTAssertFalse(report.created, "\(context): took the directory for a new journal")
                        let salvage = entries.first { $0.kind == .salvage }
                        XCTAssertNotNil(salvage, "\(context): opened without a salvage record, \(entries.count) records")
                        XCTAssertEqual(entries.last?.sequence, salvage?.sequence, "\(context): the salvage record comes last")
                        XCTAssertGreaterThan(salvage?.sequence ?? 0, highest, "\(context): a moved record's sequence is reused")
                        outcomes["salvaged", default: 0] += 1
                    } catch let error as AxisError where error.code == .journalCorrupt {
                        outcomes["refused", default: 0] += 1
                        // Running salvage again finishes the job.
                        let (done, report, entries) = try open(directory, storage: storage, options: Self.salvageOptions,
                                                               corrupt: "/data/corrupt")
                        done.close()
                        XCTAssertNotNil(entries.first { $0.kind == .salvage }, "\(context): \(report.summary)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(outcomes["salvaged", default: 0], 0, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["refused", default: 0], 0, "\(outcomes)")
    }

    // MARK: - Write failures

    func testAFailedFsyncFailsTheAppendRefusesLaterOnesAndKeepsExactlyTheAcknowledged() throws {
        for crashAfterwards in [false, true] {
            let storage = SimulatedStorage()
            let (journal, _, _) = try open("/j", storage: storage)
            let acked = try append(journal, count: 5, size: 300)
            storage.failNextSyncs(1)
            XCTAssertThrowsError(try journal.appendAndWait(.opaque, Self.body(5, size: 300))) {
                XCTAssertEqual(($0 as? AxisError)?.code, .journalFailed)
                XCTAssertTrue(($0 as? AxisError)?.message.contains("fdatasync") ?? false, "\($0)")
            }
            let syncs = storage.fileSyncCount
            XCTAssertThrowsError(try journal.appendAndWait(.opaque, [1])) {
                XCTAssertEqual(($0 as? AxisError)?.code, .journalFailed)
            }
            XCTAssertEqual(storage.fileSyncCount, syncs, "a failed fsync is never retried, nor another one tried")
            guard case .failed(let failure) = journal.health else { return XCTFail("health is \(journal.health)") }
            XCTAssertEqual(failure.code, .journalFailed)
            journal.close()

            storage.clearFaults()
            if crashAfterwards { storage.crash(seed: 42) }
            let (again, _, entries) = try open("/j", storage: storage)
            XCTAssertEqual(entries.count, 5, "crash afterwards: \(crashAfterwards): only acknowledged records come back")
            assertEntries(entries, match: acked)
            XCTAssertEqual(try again.appendAndWait(.opaque, [9]).sequence, 6)
            again.close()
        }
    }

    func testAFailedFsyncUnderConcurrentAppendsKeepsExactlyTheAcknowledged() throws {
        let storage = SimulatedStorage()
        let (journal, _, _) = try open("/j", storage: storage)
        try append(journal, count: 3, size: 100)
        let results = ProgressBox<(acked: [[UInt8]], failed: [AxisError], done: Int)>(([], [], 0))
        let threads = 4
        for t in 0..<threads {
            Thread {
                // Append until the journal fails: only the failure stops an appender.
                var i = 0
                while true {
                    let body = Self.body(100_000 * (t + 1) + i, size: 64)
                    i += 1
                    do {
                        _ = try journal.appendAndWait(.opaque, body)
                        results.update { $0.acked.append(body) }
                    } catch let error as AxisError {
                        results.update { $0.failed.append(error) }
                        break
                    } catch {
                        break
                    }
                }
                results.update { $0.done += 1 }
            }.start()
        }
        // Let the group commit get going, then fail the next sync, whatever batch it is.
        results.wait(until: { $0.acked.count >= 40 })
        storage.failNextSyncs(1)
        results.wait(until: { $0.done == threads })
        let (acked, failed, _) = results.update { $0 }
        XCTAssertEqual(failed.count, threads, "every appender ends with an error")
        XCTAssertTrue(failed.allSatisfy { $0.code == .journalFailed }, "\(failed)")
        XCTAssertEqual(storage.fileSyncFailureCount, 1)
        journal.close()
        storage.clearFaults()
        let (again, _, entries) = try open("/j", storage: storage)
        again.close()
        XCTAssertEqual(entries.count, 3 + acked.count, "records come back that no appender was told are stored")
        XCTAssertTrue(Set(entries.dropFirst(3).map(\.body)) == Set(acked), "the recovered records are not the acknowledged ones")
    }

    func testAFullDiskFailsTheAppendWithStorageFullAndResumesOnceSpaceIsFreed() throws {
        let storage = SimulatedStorage()
        let (journal, _, _) = try open("/j", storage: storage)
        var acked = try append(journal, count: 4, size: 500)
        // Room for part of the next frame only: a partial write, then ENOSPC.
        storage.capacityBytes = storage.usedBytes + 200
        for attempt in 0..<3 {
            XCTAssertThrowsError(try journal.appendAndWait(.opaque, Self.body(4, size: 500)), "attempt \(attempt)") {
                XCTAssertEqual(($0 as? AxisError)?.code, .storageFull)
                XCTAssertTrue(($0 as? AxisError)?.message.contains("resume") ?? false, "\($0)")
            }
        }
        XCTAssertEqual(journal.health, .ok, "a full disk is not a failed journal")

        // Space is freed: the same journal appends again, right after the acknowledged records.
        storage.clearFaults()
        let later = try append(journal, count: 2, from: 5, size: 500)
        XCTAssertEqual(later.receipts.first?.sequence, 5)
        acked.bodies += later.bodies
        journal.close()
        let (again, _, entries) = try open("/j", storage: storage)
        again.close()
        XCTAssertEqual(entries.map(\.body), acked.bodies, "exactly the acknowledged records, nothing of the failed ones")
    }

    func testAFullDiskDuringASegmentRollLeavesNothingBehindAndTheRollSucceedsLater() throws {
        let storage = SimulatedStorage()
        let (journal, _, _) = try open("/j", storage: storage)
        // Fill the first segment up to the roll: the next record no longer fits.
        let frameBytes = JournalFormat.frameHeaderSize + 3000
        let fitting = (Self.options.segmentBytesMax - JournalFormat.segmentHeaderSize) / frameBytes
        let acked = try append(journal, count: fitting, size: 3000)
        XCTAssertEqual(acked.receipts.last?.segment, 1, "the fixture must stop just before the roll")
        storage.capacityBytes = storage.usedBytes + 30  // the new segment's header does not fit
        XCTAssertThrowsError(try journal.appendAndWait(.opaque, Self.body(999, size: 3000))) {
            XCTAssertEqual(($0 as? AxisError)?.code, .storageFull)
        }
        let rolled = JournalFormat.segmentName(firstSequence: UInt64(acked.receipts.count + 1))
        XCTAssertNil(storage.contents(of: PathJoin.join("/j", rolled)), "a segment that could not be created is removed at once")

        storage.clearFaults()
        let next = try journal.appendAndWait(.opaque, Self.body(999, size: 3000))
        XCTAssertEqual(next.sequence, UInt64(acked.receipts.count + 1))
        XCTAssertEqual(next.segment, next.sequence, "the roll happens once there is room")
        journal.close()
        let (again, report, entries) = try open("/j", storage: storage)
        again.close()
        XCTAssertEqual(report.removedIncompleteSegments, [])
        XCTAssertEqual(entries.count, acked.receipts.count + 1)
    }

    func testAFailingWriteFailsTheJournalAndLosesNothingAcknowledged() throws {
        let storage = SimulatedStorage()
        let (journal, _, _) = try open("/j", storage: storage)
        let acked = try append(journal, count: 3, size: 100)
        storage.failWrites(to: segmentPath("/j", 1))
        XCTAssertThrowsError(try journal.appendAndWait(.opaque, [1])) {
            XCTAssertEqual(($0 as? AxisError)?.code, .journalFailed)
        }
        XCTAssertEqual(journal.health, .failed(AxisError(.journalFailed, "")))
        journal.close()
        storage.clearFaults()
        let (again, _, entries) = try open("/j", storage: storage)
        again.close()
        assertEntries(entries, match: acked)
        XCTAssertEqual(entries.count, 3)
    }

    // MARK: - Read-only scan

    func testScanningADamagedJournalChangesNoByte() throws {
        let (_, directory, written) = try makeJournal(count: 80)
        let segments = Set(written.receipts.map(\.segment)).sorted()
        let victim = written.receipts[4]
        try editFile(segmentPath(directory, segments[0])) { $0[Int(victim.offset) + 70] ^= 0x80 }
        try editFile(segmentPath(directory, segments.last ?? 1)) { $0 += [UInt8](repeating: 0x33, count: 123) }
        try writeFile(PathJoin.join(directory, JournalFormat.segmentName(firstSequence: 81)), [0x41, 0x58])
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let before = try segmentBytes(directory)
        let modified = try names.map { try FileManager.default.attributesOfItem(atPath: PathJoin.join(directory, $0))[.modificationDate] as? Date }

        var records = 0
        let report = try JournalScanner.scan(directory: directory, storage: PosixStorage(), onRecord: { _ in records += 1 })
        XCTAssertEqual(report.damage.first?.segment, JournalFormat.segmentName(firstSequence: segments[0]))
        XCTAssertEqual(report.damage.first?.offset, victim.offset)
        XCTAssertEqual(report.damage.first?.kind, .damaged)
        XCTAssertTrue(report.damage.contains { $0.kind == .chainBreak && $0.segment == JournalFormat.segmentName(firstSequence: segments[1]) },
                      "\(report.problems)")
        XCTAssertTrue(report.damage.contains { $0.kind == .damaged && $0.segment == JournalFormat.segmentName(firstSequence: segments.last ?? 1) },
                      "a torn tail is only a torn tail in the newest segment: \(report.problems)")
        XCTAssertEqual(report.tornTail?.segment, JournalFormat.segmentName(firstSequence: 81), "\(report.problems)")
        XCTAssertEqual(records, report.records)

        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), names, "no file added or removed")
        XCTAssertEqual(try segmentBytes(directory), before)
        XCTAssertEqual(try names.map { try FileManager.default.attributesOfItem(atPath: PathJoin.join(directory, $0))[.modificationDate] as? Date },
                       modified)

        // The same on the simulated disk, where every mutating call is counted.
        let storage = SimulatedStorage()
        let (journal, _, _) = try open("/j", storage: storage)
        try append(journal, count: 30, size: 3000)
        journal.close()
        var bytes = try XCTUnwrap(storage.contents(of: segmentPath("/j", 1)))
        bytes[500] ^= 1
        storage.overwrite(segmentPath("/j", 1), with: bytes)
        let snapshot = storage.snapshot()
        let mutations = storage.mutationCount
        let simulated = try JournalScanner.scan(directory: "/j", storage: storage)
        XCTAssertFalse(simulated.damage.isEmpty)
        XCTAssertEqual(storage.mutationCount, mutations, "the scan wrote, synced, created, renamed or removed")
        XCTAssertEqual(storage.snapshot(), snapshot)
    }
}
