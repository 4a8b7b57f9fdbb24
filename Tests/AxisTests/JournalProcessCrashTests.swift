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
/// waitpid. Environment: `AXIS_KILL_ROUNDS` (default 15), `AXIS_KILL_SEED` to replay a run,
/// `AXIS_BENCH_PATH` to name the child binary explicitly.
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
        let binary = try Self.locateAxisBench()
        let env = ProcessInfo.processInfo.environment
        let rounds = max(1, env["AXIS_KILL_ROUNDS"].flatMap { Int($0) } ?? 15)
        let seed = env["AXIS_KILL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        print("JournalProcessCrashTests: seed \(seed), \(rounds) rounds, child \(binary) (replay with AXIS_KILL_SEED=\(seed))")
        var rng = TestSplitMix64(seed: seed)

        let root = try Self.makeTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let journalDirectory = root + "/journal"

        var acked: [UInt64: Ack] = [:]
        let started = SystemClock.monotonicNanos()
        for round in 1...rounds {
            let epoch = UInt32(round)
            let target = Int.random(in: 50...2000, using: &rng)
            let stderrPath = root + "/child-\(round).stderr"
            let child = try ChildProcess(binary, arguments: [
                "journal-child", "--dir", journalDirectory, "--appenders", String(Self.appenders),
                "--record-bytes", String(Self.recordBytes), "--epoch", String(epoch),
                "--segment-bytes", String(Self.segmentBytes),
            ], stderrPath: stderrPath)
            defer { child.killAndReap() }
            func childStderr() -> String {
                (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "(no stderr)"
            }

            var reader = LineReader(fd: child.stdoutFD)
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
                guard let line = try reader.nextLine(timeoutMillis: Self.silenceMillisMax) else {
                    XCTFail("seed \(seed) round \(round): the child closed its stdout after \(before) of \(target) ACKs; "
                            + "its exit status is \(child.killAndReap()). stderr:\n\(childStderr())")
                    return
                }
                take(line)
                before += 1
            }
            let status = child.killAndReap()
            guard status.signal == SIGKILL else {
                XCTFail("seed \(seed) round \(round): the child was expected to die by SIGKILL but \(status). stderr:\n\(childStderr())")
                return
            }
            // The child is gone, so the pipe ends: everything in it was acknowledged before the kill.
            var after = 0
            while let line = try reader.nextLine(timeoutMillis: Self.silenceMillisMax) {
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
        var state = (UInt64(epoch) << 32 | UInt64(appender)) ^ (counter &* 0xD1B5_4A32_D192_ED03)
        while out.count < bytes {
            let word = TestSplitMix64.next(&state).littleEndian
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

    // MARK: - Finding the child binary

    /// The `axis-bench` executable that `swift build` / `swift test` put in the same products
    /// directory as this test bundle, whatever `--scratch-path` was used.
    static func locateAxisBench(file: String = #filePath) throws -> String {
        let fm = FileManager.default
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["AXIS_BENCH_PATH"], !explicit.isEmpty {
            candidates.append(explicit)
        }
        // Linux: the test runner is an executable in the products directory (…/debug/AxisPackageTests.xctest).
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent + "/axis-bench")
        }
        // macOS: the .xctest bundle is a directory in the products directory.
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("axis-bench").path)
        candidates.append(Bundle(for: JournalProcessCrashTests.self).bundleURL
                            .deletingLastPathComponent().appendingPathComponent("axis-bench").path)
        // Fallback: walk up from this file to the package root and look in every scratch directory.
        var packageRoot: String?
        var dir = (file as NSString).deletingLastPathComponent
        while dir.count > 1 {
            if fm.fileExists(atPath: dir + "/Package.swift") { packageRoot = dir; break }
            dir = (dir as NSString).deletingLastPathComponent
        }
        if let root = packageRoot {
            func subdirectories(_ path: String) -> [String] {
                ((try? fm.contentsOfDirectory(atPath: path)) ?? []).sorted().filter {
                    var isDirectory: ObjCBool = false
                    return fm.fileExists(atPath: "\(path)/\($0)", isDirectory: &isDirectory) && isDirectory.boolValue
                }
            }
            for scratch in subdirectories(root) where scratch.hasPrefix(".build") {
                candidates.append("\(root)/\(scratch)/debug/axis-bench")
                for triple in subdirectories("\(root)/\(scratch)") where triple.contains("-") {
                    candidates.append("\(root)/\(scratch)/\(triple)/debug/axis-bench")
                }
            }
        }
        var seen = Set<String>()
        candidates = candidates.filter { seen.insert($0).inserted }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw CrashTestSetupError("""
                the axis-bench executable was not found (looked in: \(candidates.joined(separator: ", "))). \
                Run `swift build` (with the same --scratch-path as `swift test`) first, or set AXIS_BENCH_PATH
                """)
        }
        // A binary older than the sources may run yesterday's journal code. Only a warning: git
        // checkouts touch files without changing them, and SwiftPM rightly does not relink then.
        if let root = packageRoot, let binaryDate = modificationDate(found) {
            for sub in ["Sources/axis-bench", "Sources/Axis/Journal", "Sources/Axis/Storage", "Sources/Axis/Support"] {
                let path = "\(root)/\(sub)"
                let newer = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter {
                    $0.hasSuffix(".swift") && (modificationDate("\(path)/\($0)") ?? .distantPast) > binaryDate
                }
                if let name = newer.first {
                    print("JournalProcessCrashTests: warning: \(found) is older than \(sub)/\(name); if the journal "
                          + "code changed, run `swift build` (with the same --scratch-path) first")
                    break
                }
            }
        }
        return found
    }

    private static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    private static func makeTempDirectory() throws -> String {
        var template = Array("/tmp/axis-kill-test-XXXXXX".utf8CString)
        let ok = template.withUnsafeMutableBufferPointer { buf in buf.baseAddress.flatMap { mkdtemp($0) } } != nil
        guard ok else { throw AxisError(.storageIO, "mkdtemp under /tmp failed", errno: errno) }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Thrown where the test cannot run at all; the message says how to fix it. (A plain error, so the
/// test *fails*: a missing child binary must never turn into a silent skip.)
private struct CrashTestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Child process plumbing

/// A child started with posix_spawn: stdin from /dev/null, stdout into a pipe, stderr into a file.
private final class ChildProcess {
    struct Status: CustomStringConvertible {
        var signal: Int32?
        var exitCode: Int32?
        var description: String {
            if let signal { return "it was killed by signal \(signal)" }
            return "it exited with status \(exitCode ?? -1)"
        }
    }

    let pid: pid_t
    let stdoutFD: Int32
    private var reaped: Status?

    init(_ path: String, arguments: [String], stderrPath: String) throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw AxisError(.storageIO, "pipe failed", errno: errno) }
        // Close-on-exec, so no other child inherits the write end and keeps the pipe open after a kill.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        // Start the child with no blocked signals and default dispositions, whatever the runner set.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw AxisError(.storageIO, "posix_spawn of '\(path)' failed", errno: rc)
        }
        self.pid = pid
        self.stdoutFD = fds[0]
    }

    /// SIGKILL (if still running) and waitpid; idempotent.
    @discardableResult
    func killAndReap() -> Status {
        if let reaped { return reaped }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WTERMSIG / WEXITSTATUS are C macros Swift cannot import.
        let signal = status & 0x7F
        let result = signal != 0 ? Status(signal: signal, exitCode: nil) : Status(signal: nil, exitCode: (status >> 8) & 0xFF)
        reaped = result
        return result
    }

    deinit {
        killAndReap()
        close(stdoutFD)
    }
}

/// Splits a pipe into lines, waiting with poll(2) so a silent child cannot hang the test forever.
private struct LineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(fd: Int32) { self.fd = fd }

    /// The next line without its newline, or nil once the writer has closed the pipe.
    mutating func nextLine(timeoutMillis: Int32) throws -> String? {
        while true {
            if let nl = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[start..<nl], as: UTF8.self)
                start = nl + 1
                if start > 1 << 16 {
                    buffer.removeFirst(start)
                    start = 0
                }
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let partial = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return partial  // not an ACK line: the caller reports it
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, timeoutMillis)
            if ready < 0 {
                if errno == EINTR { continue }
                throw AxisError(.storageIO, "poll on the child's stdout failed", errno: errno)
            }
            if ready == 0 {
                throw AxisError(.storageIO, "the child wrote nothing for \(timeoutMillis) ms: it looks hung")
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AxisError(.storageIO, "reading the child's stdout failed", errno: errno)
            }
            if n == 0 { atEnd = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }
}

/// splitmix64 (same constants as axis-bench's `SplitMix64`).
private struct TestSplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 { Self.next(&state) }

    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
