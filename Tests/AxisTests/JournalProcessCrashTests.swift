@preconcurrency import Glibc
import Axis
import Foundation
import XCTest

/// A real process test of the journal's durability contract: "an append completes only after its
/// record is durable".
///
/// Each round starts `axis-bench journal-child` on the same journal directory with 16 appender
/// threads and 256 KiB segments (so kills also land while a segment is being rolled). The child
/// prints `ACK <sequence> <appender> <counter>` after each append returns. Once a random number of
/// ACK lines (50...2000, from a printed seed) has arrived, the test sends SIGKILL, reads what is left
/// in the pipe (those appends were acknowledged too), reopens the journal in-process — running
/// recovery on a journal that grows round after round — and checks that every record acknowledged
/// in *any* round so far is there with its exact body, and that every other record is one a child
/// wrote (written but not yet acknowledged), never garbage.
///
/// A SIGKILL leaves the page cache alone, so this cannot lose unsynced data the way a power cut
/// does (that is the simulated-storage tests' job); what it does catch is an acknowledgement sent
/// before the write, a recovery that drops or mangles records, and a pwrite cut short by the kill
/// (seen as a torn tail that recovery must cut).
///
/// The test waits only on events: pipe reads (with poll as a safety net against a hung child) and
/// waitpid. Environment: `AXIS_KILL_ROUNDS` (default 15), `AXIS_KILL_SEED` to replay a run.
final class JournalProcessCrashTests: XCTestCase {
    private static let appenders = 16
    private static let recordBytes = 512
    /// Small segments, so the journal rolls every few hundred records and kills also hit rolls.
    private static let segmentBytes = 256 << 10
    /// A child that sends nothing for this long is reported as hung.
    private static let silenceMillisMax: Int32 = 30_000

    private struct Ack {
        var epoch: UInt32
        var appender: UInt32
        var counter: UInt64
    }

    func testEveryAcknowledgedAppendSurvivesKillNineAndRecovery() throws {
        let binary = try productPath("axis-bench")
        let env = ProcessInfo.processInfo.environment
        let rounds = max(1, env["AXIS_KILL_ROUNDS"].flatMap { Int($0) } ?? 15)
        let seed = env["AXIS_KILL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        print("JournalProcessCrashTests: seed \(seed), \(rounds) rounds, child \(binary) (replay with AXIS_KILL_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)

        let root = try makeTempDirectory(self, "axis-kill-test")
        let journalDirectory = root + "/journal"

        var acked: [UInt64: Ack] = [:]
        let started = SystemClock.monotonicNanos()
        for round in 1...rounds {
            let epoch = UInt32(round)
            let target = Int.random(in: 50...2000, using: &rng)
            let child = try ProductProcess(binary, [
                "journal-child", "--dir", journalDirectory, "--appenders", String(Self.appenders),
                "--record-bytes", String(Self.recordBytes), "--epoch", String(epoch),
                "--segment-bytes", String(Self.segmentBytes),
            ])
            func killAndReap() -> Int32 {
                child.signal(SIGKILL)
                return child.wait()
            }
            func childStderr() -> String {
                ((try? ProductProcess.drain(&child.stderr, seconds: 5)) ?? ["(stderr unreadable)"]).joined(separator: "\n")
            }
            var before = 0
            var lineErrors: [String] = []
            func take(_ line: String) {
                guard let (sequence, ack) = Self.parseAck(line, epoch: epoch) else {
                    lineErrors.append("unparsable line from the child: '\(line)'")
                    return
                }
                if let earlier = acked[sequence] {
                    lineErrors.append("sequence \(sequence) acknowledged twice: \(earlier) and \(ack)")
                }
                acked[sequence] = ack
            }
            while before < target {
                guard let line = try child.stdout.nextLine(timeoutMillis: Self.silenceMillisMax) else {
                    XCTFail("seed \(seed) round \(round): the child closed its stdout after \(before) of \(target) ACKs; "
                            + "its exit status is \(killAndReap()). stderr:\n\(childStderr())")
                    return
                }
                take(line)
                before += 1
            }
            let status = killAndReap()
            guard status == 128 + SIGKILL else {
                XCTFail("seed \(seed) round \(round): the child was expected to die by SIGKILL but ended with \(status). stderr:\n\(childStderr())")
                return
            }
            // The child is gone, so the pipe ends: everything in it was acknowledged before the kill.
            var after = 0
            while let line = try child.stdout.nextLine(timeoutMillis: Self.silenceMillisMax) {
                take(line)
                after += 1
            }
            XCTAssert(lineErrors.isEmpty, "seed \(seed) round \(round): " + lineErrors.prefix(5).joined(separator: "; "))

            // Recover in-process and look for every record acknowledged in every round so far.
            var found = Set<UInt64>()
            var wrong: [String] = []
            let (journal, report) = try Journal.open(directory: journalDirectory, replay: { entry in
                if let ack = acked[entry.sequence] {
                    found.insert(entry.sequence)
                    let body = Self.expectedBody(epoch: ack.epoch, appender: ack.appender, counter: ack.counter, bytes: Self.recordBytes)
                    if entry.kind != .opaque || entry.body != body {
                        wrong.append("sequence \(entry.sequence) (\(ack)): kind \(entry.kind), \(entry.body.count)-byte body differs")
                    }
                } else if !Self.isWellFormed(entry) {
                    // Records written but not acknowledged before the kill may survive; garbage may not.
                    wrong.append("sequence \(entry.sequence) (not acknowledged) is not a record any child wrote")
                }
            })
            journal.close()

            let missing = acked.keys.filter { !found.contains($0) }.sorted()
            XCTAssert(missing.isEmpty, "seed \(seed) round \(round): \(missing.count) acknowledged record(s) missing after recovery, "
                      + "first \(missing.prefix(10)); journal holds \(report.scan.records) records. \(report.summary)")
            XCTAssert(wrong.isEmpty, "seed \(seed) round \(round): \(wrong.count) record(s) recovered with the wrong body: "
                      + wrong.prefix(5).joined(separator: "; "))
            print("round \(round): \(before) ACKs read before the kill, \(after) after; recovery: \(report.summary)")
            if !missing.isEmpty || !wrong.isEmpty || !lineErrors.isEmpty { return }
        }
        let seconds = Double(SystemClock.monotonicNanos() - started) / 1e9
        print("JournalProcessCrashTests: \(acked.count) acknowledged records verified over \(rounds) kill -9 rounds in "
              + String(format: "%.1f", seconds) + " s")
    }

    // MARK: - The child's record body (a copy of Sources/axis-bench/BenchRecordBody.swift: keep in step)

    /// `| appender u32 | epoch u32 | counter u64 | splitmix64 filler … |`, little-endian.
    static func expectedBody(epoch: UInt32, appender: UInt32, counter: UInt64, bytes: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes)
        withUnsafeBytes(of: appender.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: epoch.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: counter.littleEndian) { out.append(contentsOf: $0) }
        var filler = SeededRandom(seed: (UInt64(epoch) << 32 | UInt64(appender)) ^ (counter &* 0xD1B5_4A32_D192_ED03))
        while out.count < bytes {
            let word = filler.next().littleEndian
            withUnsafeBytes(of: word) { out.append(contentsOf: $0.prefix(bytes - out.count)) }
        }
        return out
    }

    /// Whether `entry` is byte for byte the body its own header fields (appender, epoch, counter) describe.
    private static func isWellFormed(_ entry: JournalEntry) -> Bool {
        guard entry.kind == .opaque, entry.body.count == recordBytes else { return false }
        let (appender, epoch, counter) = entry.body.withUnsafeBytes {
            (UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
             UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
             UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
        return entry.body == expectedBody(epoch: epoch, appender: appender, counter: counter, bytes: recordBytes)
    }

    private static func parseAck(_ line: String, epoch: UInt32) -> (UInt64, Ack)? {
        let f = line.split(separator: " ")
        guard f.count == 4, f[0] == "ACK", let sequence = UInt64(f[1]), let appender = UInt32(f[2]),
              let counter = UInt64(f[3]), appender < appenders else { return nil }
        return (sequence, Ack(epoch: epoch, appender: appender, counter: counter))
    }
}
