import Foundation
import XCTest
@testable import Axis

/// The simulated-crash property test of the journal (SQLite `test6.c` style), and checks of the
/// simulated disk it runs on.
///
/// For each seed: open a journal on `SimulatedStorage` with small segments, let several appender
/// threads append records of random sizes, crash at a random point (the disk loses power after a
/// random number of operations, or the test crashes it while appends are in flight, or after they
/// finished), sometimes crash again during recovery, reopen with replay and check:
///
/// - every append that returned success is recovered byte-exact, with its sequence number, segment,
///   offset and chain value;
/// - nothing is invented: every recovered record is one some appender submitted, at most once, and
///   each appender's records come back as a prefix of what it submitted, in order;
/// - sequence numbers run 1, 2, 3, … without a gap, and what one recovery found survives the next;
/// - a second open finds nothing to repair and replays exactly the same entries.
///
/// `AXIS_CRASH_SEEDS=n` runs n seeds (default 1,000); `AXIS_CRASH_SEED=s` runs seed s alone.
/// Every failure names its seed. Thread interleavings are not replayed by a seed, only the workload,
/// the crash points and the post-crash disk images.
final class JournalCrashTests: XCTestCase {
    static let seedCountDefault = 1_000

    func testEveryAcknowledgedAppendSurvivesSimulatedCrashes() {
        let env = ProcessInfo.processInfo.environment
        let seeds: [UInt64]
        if let one = env["AXIS_CRASH_SEED"].flatMap({ UInt64($0) }) {
            seeds = [one]
        } else {
            let count = env["AXIS_CRASH_SEEDS"].flatMap { Int($0) } ?? Self.seedCountDefault
            seeds = (0..<UInt64(max(1, count))).map { $0 }
        }
        let results = ProgressBox<(failures: [String], stats: CrashStats)>(([], CrashStats()))
        let next = ProgressBox(0)
        let workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let index = next.update { i -> Int in defer { i += 1 }; return i }
                guard index < seeds.count, results.update({ $0.failures.count }) < 20 else { return }
                let seed = seeds[index]
                let scenario = CrashScenario(seed: seed)
                do {
                    try scenario.run()
                    results.update { $0.stats.add(scenario.stats) }
                } catch {
                    let message = "seed \(seed) (replay with AXIS_CRASH_SEED=\(seed)): \(error)"
                    results.update { $0.failures.append(message) }
                }
            }
        }
        let (failures, stats) = results.update { ($0.failures, $0.stats) }
        for failure in failures { XCTFail(failure) }
        print("JournalCrashTests: \(seeds.count) seeds in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: \(stats)")
        guard failures.isEmpty, seeds.count >= 500 else { return }
        // The test is only worth something if the crashes actually hit the interesting places.
        XCTAssertGreaterThan(stats.tornTailsTruncated, 0, "no crash ever left a torn tail: \(stats)")
        XCTAssertGreaterThan(stats.incompleteSegmentsRemoved, 0, "no crash ever hit a segment roll: \(stats)")
        XCTAssertGreaterThan(stats.segmentsRolled, seeds.count / 2, "segments rarely roll: \(stats)")
        XCTAssertGreaterThan(stats.recoveryCrashes, 0, "no crash ever hit recovery: \(stats)")
        XCTAssertGreaterThan(stats.lostUnacknowledged, 0, "no crash ever lost an unacknowledged record: \(stats)")
        XCTAssertGreaterThan(stats.keptUnacknowledged, 0, "no crash ever kept an unacknowledged record: \(stats)")
    }

    // MARK: - The simulated disk itself

    func testSimulatedCrashKeepsSyncedBytesAndAPrefixOfTheRest() throws {
        for seed in UInt64(0)..<200 {
            let storage = SimulatedStorage()
            try storage.createDirectory("/d")
            let file = try storage.open("/d/f", mode: .createExclusive)
            try file.write(Array(repeating: 1, count: 100), at: 0)
            try file.sync()
            try storage.syncDirectory("/d")
            try file.write(Array(repeating: 2, count: 3000), at: 100)
            storage.crash(seed: seed)
            let after = try XCTUnwrap(storage.contents(of: "/d/f"), "seed \(seed): a synced file vanished")
            XCTAssertEqual(Array(after.prefix(100)), Array(repeating: 1, count: 100), "seed \(seed)")
            XCTAssertLessThanOrEqual(after.count, 3100, "seed \(seed): the file grew past what was written")
            XCTAssertEqual(storage.syncedContents(of: "/d/f"), after, "seed \(seed): a crash leaves everything durable")
            XCTAssertThrowsError(try file.size(), "seed \(seed): a handle from before the crash still works") {
                XCTAssertEqual(($0 as? AxisError)?.code, .storageIO)
            }
        }
    }

    func testSimulatedCrashDropsOrKeepsUnsyncedDirectoryEntriesAndReleasesLocks() throws {
        var vanished = 0
        var kept = 0
        for seed in UInt64(0)..<100 {
            let storage = SimulatedStorage()
            try storage.createDirectory("/d")
            let held = try storage.lockExclusive("/d/LOCK")
            XCTAssertThrowsError(try storage.lockExclusive("/d/LOCK")) {
                XCTAssertEqual(($0 as? AxisError)?.code, .journalLocked)
            }
            let durable = try storage.open("/d/durable", mode: .createExclusive)
            try durable.write([1, 2, 3], at: 0)
            try durable.sync()
            try storage.syncDirectory("/d")
            let fresh = try storage.open("/d/fresh", mode: .createExclusive)
            try fresh.write([4, 5, 6], at: 0)
            try fresh.sync()  // the data is durable, the name is not
            try storage.remove("/d/durable")
            storage.crash(seed: seed)
            XCTAssertEqual(storage.contents(of: "/d/durable"), storage.fileExists("/d/durable") ? [1, 2, 3] : nil)
            if storage.fileExists("/d/fresh") {
                kept += 1
                XCTAssertEqual(storage.contents(of: "/d/fresh"), [4, 5, 6], "seed \(seed)")
            } else {
                vanished += 1
            }
            _ = try storage.lockExclusive("/d/LOCK")  // released by the crash, though `held` lives on
            withExtendedLifetime(held) {}
        }
        XCTAssertGreaterThan(vanished, 0)
        XCTAssertGreaterThan(kept, 0)
    }

    func testSimulatedFaultKnobsFailWithTheRightCodes() throws {
        let storage = SimulatedStorage()
        try storage.createDirectory("/d")
        let file = try storage.open("/d/f", mode: .createExclusive)
        try storage.syncDirectory("/d")
        storage.failNextSyncs(2)
        for _ in 0..<2 {
            XCTAssertThrowsError(try file.sync()) {
                XCTAssertEqual(($0 as? AxisError)?.code, .storageIO)
                XCTAssertEqual(($0 as? AxisError)?.errno, EIO)
            }
        }
        XCTAssertNoThrow(try file.sync())
        storage.capacityBytes = 10
        XCTAssertThrowsError(try file.write(Array(repeating: 7, count: 25), at: 0)) {
            XCTAssertEqual(($0 as? AxisError)?.code, .storageFull)
            XCTAssertEqual(($0 as? AxisError)?.errno, ENOSPC)
        }
        XCTAssertEqual(storage.contents(of: "/d/f"), Array(repeating: 7, count: 10), "a partial write fills the disk")
        XCTAssertNoThrow(try file.write([1, 1], at: 0), "overwriting needs no space")
        storage.clearFaults()
        storage.failWrites(to: "/d//f")
        XCTAssertThrowsError(try file.write([1], at: 0)) { XCTAssertEqual(($0 as? AxisError)?.code, .storageIO) }
        storage.clearFaults()
        XCTAssertNoThrow(try file.sync())
        let synced = try XCTUnwrap(storage.contents(of: "/d/f"))
        storage.powerOff(afterOperations: 2)
        XCTAssertNoThrow(try file.write([9], at: 0))
        XCTAssertThrowsError(try file.write([8], at: 1)) { XCTAssertEqual(($0 as? AxisError)?.code, .storageIO) }
        XCTAssertTrue(storage.isPoweredOff)
        XCTAssertThrowsError(try storage.listDirectory("/d"), "the power is off")
        XCTAssertThrowsError(try file.sync(), "the power is off")
        storage.crash(seed: 1)
        XCTAssertFalse(storage.isPoweredOff)
        // Overwritten in place since the last sync: each byte is old or new, the length unchanged.
        let after = try XCTUnwrap(storage.contents(of: "/d/f"))
        XCTAssertEqual(after.count, 10)
        XCTAssertTrue([9, synced[0]].contains(after[0]) && [8, synced[1]].contains(after[1]), "\(after)")
        XCTAssertEqual(Array(after[2...]), Array(synced[2...]))
        XCTAssertEqual(try storage.listDirectory("/d").sorted(), ["f"])
    }
}

// MARK: - The scenario

/// Counters summed over all seeds, to show that crashes hit the interesting places.
struct CrashStats: CustomStringConvertible {
    var cycles = 0
    var appendsAcknowledged = 0
    var segmentsRolled = 0
    var tornTailsTruncated = 0
    var incompleteSegmentsRemoved = 0
    var recoveryCrashes = 0
    var lostUnacknowledged = 0
    var keptUnacknowledged = 0
    /// Multi-record appends that came back in part (never acknowledged ones only).
    var partialMultiRecordAppends = 0

    mutating func add(_ other: CrashStats) {
        cycles += other.cycles
        appendsAcknowledged += other.appendsAcknowledged
        segmentsRolled += other.segmentsRolled
        tornTailsTruncated += other.tornTailsTruncated
        incompleteSegmentsRemoved += other.incompleteSegmentsRemoved
        recoveryCrashes += other.recoveryCrashes
        lostUnacknowledged += other.lostUnacknowledged
        keptUnacknowledged += other.keptUnacknowledged
        partialMultiRecordAppends += other.partialMultiRecordAppends
    }

    var description: String {
        "cycles=\(cycles) acked_appends=\(appendsAcknowledged) segments_rolled=\(segmentsRolled) " +
            "torn_tails=\(tornTailsTruncated) incomplete_segments_removed=\(incompleteSegmentsRemoved) " +
            "recovery_crashes=\(recoveryCrashes) unacked_lost=\(lostUnacknowledged) unacked_kept=\(keptUnacknowledged) " +
            "partial_multi_record_appends=\(partialMultiRecordAppends)"
    }
}

struct CrashInvariantViolation: Error, CustomStringConvertible {
    var description: String
}

/// One seed: a few append / crash / recover cycles on one simulated disk.
final class CrashScenario {
    /// A record's identity, carried in the first 8 bytes of its body.
    struct RecordID: Hashable, CustomStringConvertible {
        var cycle: Int
        var thread: Int
        var ordinal: Int

        var encoded: [UInt8] {
            let v = UInt64(cycle) << 48 | UInt64(thread) << 32 | UInt64(ordinal)
            return withUnsafeBytes(of: v.littleEndian) { Array($0) }
        }

        init(cycle: Int, thread: Int, ordinal: Int) {
            (self.cycle, self.thread, self.ordinal) = (cycle, thread, ordinal)
        }

        init?(body: [UInt8]) {
            guard body.count >= 8 else { return nil }
            let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(body[$1]) << (8 * UInt64($1)) }
            self.init(cycle: Int(v >> 48), thread: Int((v >> 32) & 0xFFFF), ordinal: Int(v & 0xFFFF_FFFF))
        }

        var description: String { "c\(cycle)/t\(thread)/#\(ordinal)" }
    }

    struct Submitted {
        var kind: RecordKind
        var body: [UInt8]
        /// The ordinal of the first record of the append that carried this one, and how many it had.
        var appendFirstOrdinal: Int
        var appendSize: Int
    }

    enum CrashMode: CaseIterable {
        /// The disk loses power after a random number of operations; appends fail from then on.
        case powerLoss
        /// The test crashes the disk once a random number of appends were acknowledged, others in flight.
        case crashWhileAppending
        /// Every append finishes; then the crash (nothing unsynced may be lost).
        case afterQuiesce
        /// The power fails within the first segment roll: creating the file, writing or syncing its
        /// header, syncing the directory, or writing the first batch into it.
        case duringRoll
    }

    static let kinds: [RecordKind] = [.opaque, .documentAccepted, .deliveryLeased, .deliveryDelivered, .receiptIssued]

    let seed: UInt64
    let directory = "/data/journal"
    let storage = SimulatedStorage()
    var stats = CrashStats()
    private var rng: SeededRandom
    private var options = JournalOptions()
    private let recordBytesMax: Int

    private var submitted: [RecordID: Submitted] = [:]
    private var acknowledged: [(RecordID, AppendReceipt)] = []
    /// What the last recovery found: the journal's state the next one must extend.
    private var recovered: [JournalEntry] = []

    init(seed: UInt64) {
        self.seed = seed
        rng = SeededRandom(seed: seed &* 0x2545_F491_4F6C_DD1D &+ 1)
        options.segmentBytesMax = 1 << 16  // the smallest allowed, so segments roll
        // Half the seeds roll into prepared, zero-filled segments (the default format on disk),
        // half into plain files. Prepared inline, so a crash point depends on the seed alone.
        options.preallocation = Bool.random(using: &rng) ? .inline : .off
        // The size limit varies by seed: with 8 KiB records a segment rolls every few batches. Bodies
        // are at least 8 bytes (they carry their RecordID); empty bodies are FrameCodecTests' business.
        recordBytesMax = [1024, 2048, 4096, 8192][Int.random(in: 0..<4, using: &rng)]
        options.recordBytesMax = recordBytesMax
        options.batchBytesMax = Int.random(in: (recordBytesMax + 56)...(4 * recordBytesMax + 400), using: &rng)
    }

    func run() throws {
        let cycles = Int.random(in: 3...5, using: &rng)
        var (journal, report) = try Journal.open(directory: directory, storage: storage, options: options)
        try check(report.created, "a fresh journal is reported as created")
        for cycle in 0..<cycles {
            stats.cycles += 1
            try appendAndCrash(journal, cycle: cycle)
            journal = try recoverAndVerify(after: cycle)
        }
        journal.close()
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw CrashInvariantViolation(description: message()) }
    }

    // MARK: Appending

    private func makeBody(_ id: RecordID) -> [UInt8] {
        let size: Int
        switch Int.random(in: 0..<20, using: &rng) {
        case 0..<10: size = Int.random(in: 8...64, using: &rng)
        case 10..<16: size = Int.random(in: 65...(recordBytesMax / 2), using: &rng)
        default: size = Int.random(in: (recordBytesMax / 2)...recordBytesMax, using: &rng)
        }
        var body = [UInt8](repeating: 0, count: (size + 7) / 8 * 8)
        body.withUnsafeMutableBytes { raw in
            for word in 1..<(raw.count / 8) { raw.storeBytes(of: rng.next(), toByteOffset: 8 * word, as: UInt64.self) }
        }
        body.removeLast(body.count - size)
        body.replaceSubrange(0..<8, with: id.encoded)
        return body
    }

    /// One appender's plan: its appends, each of one or a few records.
    private func makePlan(cycle: Int, thread: Int, appends: Int) -> [[(RecordKind, [UInt8])]] {
        var ordinal = 0
        var plan: [[(RecordKind, [UInt8])]] = []
        for _ in 0..<appends {
            let size = Int.random(in: 0..<6, using: &rng) == 0 ? Int.random(in: 2...3, using: &rng) : 1
            var records: [(RecordKind, [UInt8])] = []
            var bytes = 0
            for _ in 0..<size {
                let id = RecordID(cycle: cycle, thread: thread, ordinal: ordinal)
                let body = makeBody(id)
                guard bytes + body.count + 56 <= options.batchBytesMax else { break }
                bytes += body.count + 56
                ordinal += 1
                let kind = Self.kinds[Int.random(in: 0..<Self.kinds.count, using: &rng)]
                records.append((kind, body))
            }
            for (kind, body) in records {
                guard let id = RecordID(body: body) else { continue }
                submitted[id] = Submitted(kind: kind, body: body, appendFirstOrdinal: ordinal - records.count,
                                          appendSize: records.count)
            }
            plan.append(records)
        }
        return plan
    }

    private func appendAndCrash(_ journal: Journal, cycle: Int) throws {
        let threads = Int.random(in: 1...4, using: &rng)
        let plans = (0..<threads).map { makePlan(cycle: cycle, thread: $0, appends: Int.random(in: 5...40, using: &rng)) }
        let totalAppends = plans.reduce(0) { $0 + $1.count }
        let mode = CrashMode.allCases[Int.random(in: 0..<CrashMode.allCases.count, using: &rng)]
        let crashSeed = rng.next()
        // A batch costs a write and a sync; a roll five more operations.
        let powerOffAfter = Int.random(in: 1...(2 * totalAppends + 6), using: &rng)
        let crashAfterAcks = Int.random(in: 0...totalAppends, using: &rng)
        let rollOperations = Int.random(in: 0...4, using: &rng)
        switch mode {
        case .powerLoss: storage.powerOff(afterOperations: powerOffAfter)
        case .duringRoll:
            // A prepared segment is created under its temporary name, then renamed at the roll.
            let created = options.preallocation == .off ? JournalFormat.segmentSuffix : SegmentPreparer.suffix
            storage.powerOff(whenCreating: created, afterOperations: rollOperations)
        case .crashWhileAppending, .afterQuiesce: break
        }

        struct Progress {
            var acked: [(RecordID, AppendReceipt)] = []
            var ackedAppends = 0
            var finishedThreads = 0
            var unexpected: [String] = []
        }
        let progress = ProgressBox(Progress())
        for (thread, plan) in plans.enumerated() {
            let worker = Thread {
                for records in plan {
                    do {
                        let receipts = try journal.appendAndWait(records)
                        progress.update { p in
                            for (receipt, record) in zip(receipts, records) {
                                if let id = RecordID(body: record.1) { p.acked.append((id, receipt)) }
                            }
                            p.ackedAppends += 1
                        }
                    } catch let error as AxisError where error.code == .journalFailed {
                        break  // the disk went away: this appender stops, as a real submitter would
                    } catch {
                        progress.update { $0.unexpected.append("thread \(thread): \(error)") }
                        break
                    }
                }
                progress.update { $0.finishedThreads += 1 }
            }
            worker.start()
        }
        if mode == .crashWhileAppending {
            progress.wait(until: { $0.ackedAppends >= crashAfterAcks || $0.finishedThreads == threads })
            storage.powerOffNow()  // the crash instant; the appenders in flight see it fail
        }
        progress.wait(until: { $0.finishedThreads == threads })
        let done = progress.update { $0 }
        journal.close()
        storage.cancelPowerOff()  // a roll that never came
        storage.crash(seed: crashSeed)

        try check(done.unexpected.isEmpty, "cycle \(cycle) (\(mode)): unexpected append errors: \(done.unexpected)")
        if mode == .afterQuiesce {
            try check(done.ackedAppends == totalAppends,
                      "cycle \(cycle): \(totalAppends - done.ackedAppends) appends failed without a fault")
        }
        acknowledged += done.acked
        stats.appendsAcknowledged += done.ackedAppends
    }

    // MARK: Recovering

    private func openWithReplay() throws -> (Journal, RecoveryReport, [JournalEntry]) {
        var entries: [JournalEntry] = []
        let (journal, report) = try Journal.open(directory: directory, storage: storage, options: options,
                                                 replay: { entries.append($0) })
        return (journal, report, entries)
    }

    private func recoverAndVerify(after cycle: Int) throws -> Journal {
        // Sometimes the power fails again during recovery (truncating, removing, creating).
        var attempts = 0
        var opened: (Journal, RecoveryReport, [JournalEntry])?
        while opened == nil {
            attempts += 1
            let armed = attempts < 4 && Int.random(in: 0..<4, using: &rng) == 0
            if armed { storage.powerOff(afterOperations: Int.random(in: 1...3, using: &rng)) }
            do {
                opened = try openWithReplay()
                storage.cancelPowerOff()
            } catch let error as AxisError where armed && error.code == .storageIO && storage.isPoweredOff {
                stats.recoveryCrashes += 1
                storage.crash(seed: rng.next())
            }
        }
        guard let (journal, report, entries) = opened else { throw CrashInvariantViolation(description: "unreachable") }
        if report.truncatedTail != nil { stats.tornTailsTruncated += 1 }
        stats.incompleteSegmentsRemoved += report.removedIncompleteSegments.count
        try verify(entries, after: cycle)

        // Recovery is complete: a second open repairs nothing and sees the same records.
        journal.close()
        let (again, report2, entries2) = try openWithReplay()
        try check(report2.truncatedTail == nil && report2.removedIncompleteSegments.isEmpty,
                  "after cycle \(cycle): the second open repaired again: \(report2.summary) (first: \(report.summary))")
        try check(entries2.count == entries.count && zip(entries2, entries).allSatisfy(Self.same),
                  "after cycle \(cycle): the second open replayed \(entries2.count) entries, the first \(entries.count)")
        try check(again.head.nextSequence == UInt64(entries.count + 1),
                  "after cycle \(cycle): head is \(again.head.nextSequence) with \(entries.count) records")
        stats.segmentsRolled = max(stats.segmentsRolled, report2.scan.segments.count - 1)
        recovered = entries
        return again
    }

    private func verify(_ entries: [JournalEntry], after cycle: Int) throws {
        let context = "after cycle \(cycle)"
        for (i, entry) in entries.enumerated() {
            try check(entry.sequence == UInt64(i + 1),
                      "\(context): entry \(i) has sequence \(entry.sequence): sequence numbers must run 1, 2, 3, …")
        }
        // What the last recovery found is on disk: it must all still be here.
        try check(entries.count >= recovered.count,
                  "\(context): \(recovered.count - entries.count) records that an earlier recovery found are gone")
        for (old, new) in zip(recovered, entries) where !Self.same(old, new) {
            throw CrashInvariantViolation(description:
                "\(context): sequence \(old.sequence) changed since the last recovery (segment \(old.segment) → \(new.segment))")
        }
        // Every acknowledged append is there, byte-exact, where its receipt said.
        for (id, receipt) in acknowledged {
            guard receipt.sequence >= 1, receipt.sequence <= UInt64(entries.count) else {
                throw CrashInvariantViolation(description:
                    "\(context): acknowledged record \(id) (sequence \(receipt.sequence)) is lost; \(entries.count) recovered")
            }
            let entry = entries[Int(receipt.sequence - 1)]
            guard let sent = submitted[id], Self.same(entry.body, sent.body), entry.kind == sent.kind else {
                throw CrashInvariantViolation(description:
                    "\(context): sequence \(receipt.sequence) should hold acknowledged record \(id) but holds " +
                    "\(RecordID(body: entry.body).map(String.init(describing:)) ?? "an unknown body") of \(entry.body.count) bytes")
            }
            try check(entry.chain == receipt.chain && entry.segment == receipt.segment && entry.offset == receipt.offset,
                      "\(context): record \(id) at sequence \(receipt.sequence) moved: receipt segment \(receipt.segment) " +
                      "offset \(receipt.offset), found segment \(entry.segment) offset \(entry.offset)")
        }
        // Nothing is invented, nothing duplicated, and each appender's records form a prefix of its plan.
        var seen = Set<RecordID>()
        var nextOrdinal: [[Int]: Int] = [:]
        for entry in entries {
            guard let id = RecordID(body: entry.body), let sent = submitted[id] else {
                throw CrashInvariantViolation(description:
                    "\(context): sequence \(entry.sequence) holds \(entry.body.count) bytes nobody submitted")
            }
            try check(Self.same(sent.body, entry.body) && sent.kind == entry.kind,
                      "\(context): sequence \(entry.sequence) holds record \(id) with different bytes or kind")
            try check(seen.insert(id).inserted, "\(context): record \(id) recovered twice")
            let key = [id.cycle, id.thread]
            try check(id.ordinal == nextOrdinal[key, default: 0],
                      "\(context): record \(id) recovered after ordinal \(nextOrdinal[key, default: 0] - 1) of its appender")
            nextOrdinal[key] = id.ordinal + 1
        }
        // Unacknowledged records of the cycle just crashed: some are lost, some may have survived.
        let ackedIDs = Set(acknowledged.map(\.0))
        let unacked = submitted.keys.filter { $0.cycle == cycle && !ackedIDs.contains($0) }
        let kept = unacked.filter { seen.contains($0) }.count
        stats.keptUnacknowledged += kept
        stats.lostUnacknowledged += unacked.count - kept
        stats.partialMultiRecordAppends += partialAppends(entries, cycle: cycle)
    }

    /// Byte equality without the generic `Array ==` (slow in a debug build, and this runs millions of times).
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard let p = x.baseAddress, let q = y.baseAddress else { return true }  // both empty
                return memcmp(p, q, x.count) == 0
            }
        }
    }

    static func same(_ a: JournalEntry, _ b: JournalEntry) -> Bool {
        a.sequence == b.sequence && a.kind == b.kind && a.chain == b.chain && a.segment == b.segment
            && a.offset == b.offset && same(a.body, b.body)
    }

    /// 1 when the append of `cycle` holding the newest record came back only in part (the log is a
    /// prefix of what was written, so only that append can have been cut).
    private func partialAppends(_ entries: [JournalEntry], cycle: Int) -> Int {
        guard let last = entries.last.flatMap({ RecordID(body: $0.body) }), last.cycle == cycle,
              let sent = submitted[last] else { return 0 }
        return last.ordinal < sent.appendFirstOrdinal + sent.appendSize - 1 ? 1 : 0
    }
}

/// A value guarded by a lock, with waiting for a condition on it (no sleeping).
final class ProgressBox<Value>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    @discardableResult
    func update<R>(_ body: (inout Value) -> R) -> R {
        lock.withLock {
            let r = body(&value)
            lock.broadcast()
            return r
        }
    }

    func wait(until condition: (Value) -> Bool) {
        lock.withLock {
            while !condition(value) { lock.wait() }
        }
    }
}
