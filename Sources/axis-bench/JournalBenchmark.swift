@preconcurrency import Glibc
import Axis
import COpenSSL
import Foundation

/// `axis-bench journal`: durable append throughput and latency under N closed-loop appenders, then
/// recovery (replay) speed of a large journal.
///
/// Every append run uses a fresh journal in a fresh temporary directory, real `fdatasync`, and the
/// default `JournalOptions`. Each appender is one OS thread calling `appendAndWait` in a loop; the
/// latency of an append is measured around that call with the monotonic clock, and every sample is
/// kept, so percentiles are exact. Appends that start during the warm-up or end after the window
/// are not counted. Temporary directories are removed at the end (not between runs: see `run`),
/// also after a failure.
struct JournalBenchmark {
    struct Config: Codable, Sendable {
        var baseDirectory: String
        var recordBytes: Int
        var appenders: [Int]
        var seconds: Double
        var warmupSeconds: Double
        var replayRecords: Int
        var replayRecordBytes: Int
        var coldReplay: Bool
        /// Keep the replay journal (for `journal-replay` or a profiler) instead of removing it.
        var keepReplayJournal: Bool
        /// How the appending journals make their next segment: background, off or inline.
        var preallocation: String
    }

    static let spec = CommandSpec(
        "journal",
        summary: "Durable appends/s, MB/s and latency percentiles for each appender count (fresh journal per run), then the time to replay a journal of --replay-records records.",
        options: [
            .value("dir", valueName: "DIR", default: "/tmp", help: "Where the temporary journals go."),
            .value("record-bytes", valueName: "N", default: "4096", help: "Record body size."),
            .value("appenders", valueName: "LIST", default: "1,16,64", help: "Appender thread counts, comma-separated."),
            .value("seconds", valueName: "S", default: "5", help: "Measured window per appender count."),
            .value("warmup-seconds", valueName: "S", default: "0.5", help: "Unmeasured warm-up before the window."),
            .value("replay-records", valueName: "N", default: "1000000", help: "Records in the replay journal (0 skips replay)."),
            .value("replay-record-bytes", valueName: "N", default: "4096", help: "Record body size in the replay journal."),
            .value("preallocation", valueName: "MODE", default: "background",
                   help: "How segments are made: background (prepared zero-filled files), off (plain files), inline."),
            .flag("no-cold-replay", help: "Skip the replay after dropping the page cache."),
            .flag("keep", help: "Leave the replay journal in place and print its directory."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench journal", "axis-bench journal --appenders 64 --seconds 1 --replay-record-bytes 256"])

    static func config(from args: ParsedCommand) throws -> Config {
        let recordBytesMax = JournalOptions().recordBytesMax
        let preallocation = try args.required("preallocation")
        guard preallocations[preallocation] != nil else {
            throw args.usageError("option '--preallocation' must be background, off or inline, got '\(preallocation)'.")
        }
        return Config(
            baseDirectory: try args.required("dir"),
            recordBytes: try args.requiredInt("record-bytes", in: BenchRecordBody.headerBytes...recordBytesMax),
            appenders: try args.intList("appenders", in: 1...4096),
            seconds: try args.double("seconds", in: 0.1...3600),
            warmupSeconds: try args.double("warmup-seconds", in: 0...600),
            replayRecords: try args.requiredInt("replay-records", in: 0...100_000_000),
            replayRecordBytes: try args.requiredInt("replay-record-bytes", in: BenchRecordBody.headerBytes...recordBytesMax),
            coldReplay: !args.flag("no-cold-replay"),
            keepReplayJournal: args.flag("keep"),
            preallocation: preallocation)
    }

    static let preallocations: [String: SegmentPreallocation] = ["background": .background, "off": .off, "inline": .inline]


    // MARK: - Results

    struct Machine: Codable, Sendable {
        var date: String
        var processors: Int
        var kernel: String
        var filesystem: String
        var openSSL: String
    }

    struct AppendRun: Codable, Sendable {
        var appenders: Int
        var recordBytes: Int
        var windowSeconds: Double
        var appends: Int
        var appendsPerSecond: Double
        /// Record bodies only, 10^6 bytes.
        var payloadMBPerSecond: Double
        /// Frames as written to the segment (56-byte header + body), 10^6 bytes.
        var journalMBPerSecond: Double
        var latency: LatencySummary
        var batches: UInt64
        var recordsPerBatchMean: Double
        var fdatasyncMillisMean: Double
        /// Process CPU seconds per wall second during the window (2.0 = both cores busy on a 2-core box).
        var cpuCoresBusy: Double
        /// Cores other processes kept busy during the window (from /proc/stat): a run taken while
        /// something else ran is marked by this, not hidden.
        var otherCoresBusy: Double
    }

    struct ReplayMeasurement: Codable, Sendable {
        var name: String
        var seconds: Double
        var records: Int
        var bytesScanned: UInt64
        var recordsPerSecond: Double
        var mbPerSecond: Double
        var cpuSeconds: Double
        /// Cores other processes kept busy meanwhile (see `AppendRun.otherCoresBusy`).
        var otherCoresBusy: Double
    }

    struct ReplayRun: Codable, Sendable {
        var records: Int
        var recordBytes: Int
        var segments: Int
        var bytesOnDisk: UInt64
        var buildSeconds: Double
        var measurements: [ReplayMeasurement]
    }

    struct Report: Codable, Sendable {
        var benchmark = "journal"
        var command: String
        var machine: Machine
        var config: Config
        var appendRuns: [AppendRun]
        var replay: ReplayRun?
    }

    let config: Config
    let command: String

    func run(progress: (String) -> Void) throws -> Report {
        var report = Report(command: command, machine: Self.machine(directory: config.baseDirectory),
                            config: config, appendRuns: [], replay: nil)
        // Journals of finished runs are removed only at the end: deleting hundreds of MiB on a
        // `discard` mount issues discards that would slow the next run's fdatasync.
        var finished: [TempDirectory] = []
        defer { for t in finished { t.remove() } }
        for n in config.appenders {
            progress("append: \(n) appender(s), \(config.recordBytes)-byte records, \(fixed(config.warmupSeconds, 1)) s warm-up + \(fixed(config.seconds, 1)) s …")
            let temp = try TempDirectory(under: config.baseDirectory, prefix: "axis-bench-journal")
            finished.append(temp)
            sync()  // start from a clean page cache: no earlier dirty data competes with this run
            report.appendRuns.append(try runAppenders(n, directory: PathJoin.join(temp.path, "journal")))
        }
        if config.replayRecords > 0 {
            report.replay = try runReplay(progress: progress)
        }
        return report
    }

    // MARK: - Appends

    private struct Window: Sendable {
        var before: Journal.Stats
        var after: Journal.Stats
        var cpuSeconds: Double
        var systemBusyCores: Double
    }

    private func runAppenders(_ count: Int, directory: String) throws -> AppendRun {
        var options = JournalOptions()
        options.preallocation = Self.preallocations[config.preallocation] ?? .background
        let (journal, _) = try Journal.open(directory: directory, options: options)
        // Content does not change the cost of CRC or SHA-256, so every append reuses one body.
        let body = BenchRecordBody.make(epoch: 0, appender: 0, counter: 0, bytes: config.recordBytes)

        let start = SystemClock.monotonicNanos()
        let from = start + UInt64(config.warmupSeconds * 1e9)
        let until = from + UInt64(config.seconds * 1e9)
        let failure = Locked<AxisError?>(nil)

        // The observer takes the journal's counters at both edges of the window.
        let window = Locked<Window?>(nil)
        let observed = Latch(count: 1)
        Thread {
            sleep(untilMonotonicNanos: from)
            let before = journal.statistics
            let cpu0 = processCPUSeconds()
            let system0 = SystemCPU.sample()
            sleep(untilMonotonicNanos: until)
            let after = journal.statistics
            let cpu1 = processCPUSeconds()
            let system1 = SystemCPU.sample()
            let busy = SystemCPU.busyCores(from: system0, to: system1, seconds: Double(until - from) / 1e9)
            window.update { $0 = Window(before: before, after: after, cpuSeconds: cpu1 - cpu0, systemBusyCores: busy) }
            observed.countDown()
        }.start()

        let perThread: [[UInt64]] = ThreadGroup.run(count: count, name: "bench-appender") { _ in
            var samples: [UInt64] = []
            while true {
                let t0 = SystemClock.monotonicNanos()
                do {
                    _ = try journal.appendAndWait(.opaque, body)
                } catch {
                    let e = error as? AxisError ?? AxisError(.storageIO, "\(error)")
                    failure.update { $0 = $0 ?? e }
                    break
                }
                let t1 = SystemClock.monotonicNanos()
                if t1 >= until { break }
                if t0 >= from { samples.append(t1 - t0) }
            }
            return samples
        }
        observed.wait()
        journal.close()
        if let error = failure.read({ $0 }) { throw error }
        guard let w = window.read({ $0 }) else { preconditionFailure("the observer stores its window before counting down") }

        let latencies = perThread.flatMap { $0 }
        let seconds = Double(until - from) / 1e9
        let batches = w.after.batches - w.before.batches
        let records = w.after.records - w.before.records
        let syncNanos = w.after.syncNanosTotal - w.before.syncNanosTotal
        return AppendRun(
            appenders: count, recordBytes: config.recordBytes, windowSeconds: seconds,
            appends: latencies.count,
            appendsPerSecond: Double(latencies.count) / seconds,
            payloadMBPerSecond: Double(latencies.count * config.recordBytes) / seconds / 1e6,
            journalMBPerSecond: Double(w.after.bytes - w.before.bytes) / seconds / 1e6,
            latency: LatencySummary(nanos: latencies),
            batches: batches,
            recordsPerBatchMean: batches > 0 ? Double(records) / Double(batches) : 0,
            fdatasyncMillisMean: batches > 0 ? Double(syncNanos) / Double(batches) / 1e6 : 0,
            cpuCoresBusy: w.cpuSeconds / seconds,
            otherCoresBusy: max(0, w.systemBusyCores - w.cpuSeconds / seconds))
    }

    // MARK: - Replay

    private func runReplay(progress: (String) -> Void) throws -> ReplayRun {
        let records = config.replayRecords
        let bytes = config.replayRecordBytes
        let frameBytes = UInt64(JournalFormat.frameHeaderSize + bytes)
        let needed = UInt64(records) * frameBytes
        let available = Self.freeBytes(config.baseDirectory)
        guard needed + needed / 10 < available else {
            throw AxisError(.storageFull, """
                the replay journal needs about \(needed >> 20) MiB but '\(config.baseDirectory)' has \(available >> 20) MiB free: \
                pass a smaller --replay-records or another --dir
                """)
        }
        let temp = try TempDirectory(under: config.baseDirectory, prefix: "axis-bench-replay")
        let directory = PathJoin.join(temp.path, "journal")
        defer {
            if config.keepReplayJournal {
                progress("replay: kept the journal in \(directory)")
            } else {
                temp.remove()
            }
        }

        sync()
        progress("replay: writing \(grouped(records)) records of \(bytes) bytes (\(needed >> 20) MiB) …")
        let buildStart = SystemClock.monotonicNanos()
        try Self.build(directory: directory, records: records, recordBytes: bytes)
        let buildSeconds = Double(SystemClock.monotonicNanos() - buildStart) / 1e9

        var measurements: [ReplayMeasurement] = []
        var shape = (segments: 0, bytes: UInt64(0))

        progress("replay: Journal.open with a replay closure (page cache warm) …")
        let (openWarm, warmReport) = try Self.timedOpen(directory: directory, name: "Journal.open + replay (warm cache)",
                                                        expecting: records)
        measurements.append(openWarm)
        shape = (warmReport.scan.segments.count, warmReport.scan.bytes)

        progress("replay: JournalScanner.scan without a callback …")
        measurements.append(try Self.timedScan(directory: directory, name: "JournalScanner.scan, no callback (warm)",
                                               callback: false, expecting: records))
        progress("replay: JournalScanner.scan with a callback …")
        measurements.append(try Self.timedScan(directory: directory, name: "JournalScanner.scan + callback (warm)",
                                               callback: true, expecting: records))
        if config.coldReplay {
            progress("replay: evicting the segments from the page cache, then Journal.open again …")
            try Self.evictFromPageCache(directory: directory)
            measurements.append(try Self.timedOpen(directory: directory, name: "Journal.open + replay (cold cache)",
                                                   expecting: records).0)
        }
        return ReplayRun(records: records, recordBytes: bytes, segments: shape.segments, bytesOnDisk: shape.bytes,
                         buildSeconds: buildSeconds, measurements: measurements)
    }

    /// Writes `records` records as fast as the journal takes them: many records per `append` call
    /// and several calls in flight, so each group-commit batch fills up to `batchBytesMax`.
    private static func build(directory: String, records: Int, recordBytes: Int) throws {
        let (journal, _) = try Journal.open(directory: directory)
        defer { journal.close() }
        let frameBytes = JournalFormat.frameHeaderSize + recordBytes
        let perCall = max(1, min(JournalFormat.batchRecordsLimit, journal.options.batchBytesMax / frameBytes / 2))
        let body = BenchRecordBody.make(epoch: 0, appender: 0, counter: 0, bytes: recordBytes)
        let calls = (records + perCall - 1) / perCall
        let inFlight = Gate(limit: 8)
        let finished = Latch(count: calls)
        let failure = Locked<AxisError?>(nil)
        var written = 0
        while written < records {
            let n = min(perCall, records - written)
            let batch = [(RecordKind, [UInt8])](repeating: (.opaque, body), count: n)
            inFlight.enter()
            journal.append(batch) { result in
                if case .failure(let error) = result { failure.update { $0 = $0 ?? error } }
                inFlight.leave()
                finished.countDown()
            }
            written += n
        }
        finished.wait()
        if let error = failure.read({ $0 }) { throw error }
    }

    /// Touches every replayed entry the way a fold would: reads its sequence, kind and body.
    private final class Touch {
        var records = 0
        var bodyBytes = 0
        var mix: UInt64 = 0
        func touch(_ e: JournalEntry) {
            records += 1
            bodyBytes += e.body.count
            mix = mix &+ e.sequence ^ UInt64(e.kind.rawValue) ^ UInt64(e.body.last ?? 0)
        }
    }

    static func timedOpen(directory: String, name: String, expecting expected: Int?) throws
        -> (ReplayMeasurement, RecoveryReport) {
        let touch = Touch()
        let system0 = SystemCPU.sample()
        let cpu0 = processCPUSeconds()
        let t0 = SystemClock.monotonicNanos()
        let (journal, report) = try Journal.open(directory: directory, replay: { touch.touch($0) })
        let t1 = SystemClock.monotonicNanos()
        let cpu1 = processCPUSeconds()
        let system1 = SystemCPU.sample()
        journal.close()
        let records = touch.records
        if let expected, records != expected {
            throw AxisError(.journalCorrupt, "replay returned \(records) records where \(expected) were written")
        }
        return (measurement(name: name, nanos: t1 - t0, records: records, bytes: report.scan.bytes, cpu: cpu1 - cpu0,
                            system: (system0, system1)), report)
    }

    static func timedScan(directory: String, name: String, callback: Bool, expecting expected: Int?) throws
        -> ReplayMeasurement {
        let touch = Touch()
        let system0 = SystemCPU.sample()
        let cpu0 = processCPUSeconds()
        let t0 = SystemClock.monotonicNanos()
        let report = try JournalScanner.scan(directory: directory, storage: PosixStorage(),
                                             onRecord: callback ? { touch.touch($0) } : nil)
        let t1 = SystemClock.monotonicNanos()
        let cpu1 = processCPUSeconds()
        let system1 = SystemCPU.sample()
        let records = report.records
        guard records == expected ?? records, report.problems.isEmpty else {
            throw AxisError(.journalCorrupt, "scan found \(records) records and \(report.problems.count) problem(s) where \(expected ?? records) clean records were written")
        }
        return measurement(name: name, nanos: t1 - t0, records: records, bytes: report.bytes, cpu: cpu1 - cpu0,
                           system: (system0, system1))
    }

    private static func measurement(name: String, nanos: UInt64, records: Int, bytes: UInt64, cpu: Double,
                                    system: (SystemCPU?, SystemCPU?)) -> ReplayMeasurement {
        let seconds = Double(nanos) / 1e9
        let busy = SystemCPU.busyCores(from: system.0, to: system.1, seconds: seconds)
        return ReplayMeasurement(name: name, seconds: seconds, records: records, bytesScanned: bytes,
                                 recordsPerSecond: Double(records) / seconds, mbPerSecond: Double(bytes) / seconds / 1e6,
                                 cpuSeconds: cpu, otherCoresBusy: max(0, busy - cpu / seconds))
    }

    /// Drops the segments' (clean, already synced) pages from the page cache, without root.
    /// On a VM the host may still cache the disk, so "cold" means cold in this kernel only.
    static func evictFromPageCache(directory: String) throws {
        for name in try JournalScanner.segmentNames(in: directory, storage: PosixStorage()) {
            let fd = open(PathJoin.join(directory, name), O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw AxisError(.storageIO, "cannot open '\(name)' to evict it from the page cache", errno: errno) }
            defer { close(fd) }
            _ = fdatasync(fd)
            let rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            guard rc == 0 else { throw AxisError(.storageIO, "posix_fadvise(DONTNEED) on '\(name)' failed", errno: rc) }
        }
    }

    // MARK: - Machine facts

    static func machine(directory: String) -> Machine {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        let formatter = ISO8601DateFormatter()
        return Machine(date: formatter.string(from: Date()),
                       processors: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                       kernel: "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))",
                       filesystem: filesystem(of: directory),
                       openSSL: String(cString: OpenSSL_version(OPENSSL_VERSION)))
    }

    /// The mount holding `path`, from /proc/self/mounts (longest matching mount point wins).
    static func filesystem(of path: String) -> String {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return "unknown" }
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? path
        var best: (point: String, text: String)?
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 4 else { continue }
            let point = String(f[1])
            let inside = resolved == point || resolved.hasPrefix(point == "/" ? "/" : point + "/")
            if inside && point.count >= (best?.point.count ?? -1) {
                best = (point, "\(f[0]) on \(point) type \(f[2]) (\(f[3]))")
            }
        }
        return best?.text ?? "unknown"
    }

    static func freeBytes(_ path: String) -> UInt64 {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return 0 }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }

    // MARK: - Text output

    static func render(_ report: Report) -> String {
        var out: [String] = []
        let m = report.machine
        out.append("axis-bench journal — \(m.date)")
        out.append("machine: \(m.processors) CPUs, \(m.kernel), \(m.openSSL)")
        out.append("disk:    \(m.filesystem)")
        out.append("command: \(report.command)")
        out.append("")
        if !report.appendRuns.isEmpty {
            out.append("Durable appends (fdatasync per batch), \(report.config.recordBytes)-byte records, "
                       + "\(fixed(report.config.seconds, 1)) s window after \(fixed(report.config.warmupSeconds, 1)) s warm-up, fresh journal per row")
            var t = TextTable(["appenders", "appends/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                               "batches", "rec/batch", "fdatasync ms", "cpu cores", "other load"])
            for r in report.appendRuns {
                t.add([String(r.appenders), grouped(Int(r.appendsPerSecond.rounded())), fixed(r.payloadMBPerSecond, 1),
                       fixed(r.latency.p50Millis, 3), fixed(r.latency.p90Millis, 3), fixed(r.latency.p99Millis, 3),
                       fixed(r.latency.p999Millis, 3), fixed(r.latency.maxMillis, 3), grouped(Int(r.batches)),
                       fixed(r.recordsPerBatchMean, 1), fixed(r.fdatasyncMillisMean, 3), fixed(r.cpuCoresBusy, 2),
                       fixed(r.otherCoresBusy, 2)])
            }
            out.append(t.render())
            out.append("")
        }
        if let r = report.replay {
            out.append("Replay: \(grouped(r.records)) records of \(r.recordBytes) bytes, \(r.segments) segments, "
                       + "\(fixed(Double(r.bytesOnDisk) / 1_073_741_824, 2)) GiB on disk (built in \(fixed(r.buildSeconds, 1)) s)")
            var t = TextTable(["measurement", "seconds", "records/s", "MB/s scanned", "bytes scanned", "cpu s", "other load"])
            for x in r.measurements {
                t.add([x.name, fixed(x.seconds, 3), grouped(Int(x.recordsPerSecond.rounded())), fixed(x.mbPerSecond, 0),
                       grouped(Int(x.bytesScanned)), fixed(x.cpuSeconds, 2), fixed(x.otherCoresBusy, 2)])
            }
            out.append(t.render())
        }
        while out.last == "" { out.removeLast() }
        return out.joined(separator: "\n")
    }
}

/// Lets at most `limit` holders in at once (a counting semaphore on a condition lock).
final class Gate: @unchecked Sendable {
    private let lock = ConditionLock()
    private let limit: Int
    private var inside = 0  // guarded by `lock`

    init(limit: Int) { self.limit = limit }

    func enter() {
        lock.withLock {
            while inside >= limit { lock.wait() }
            inside += 1
        }
    }

    func leave() {
        lock.withLock {
            inside -= 1
            lock.broadcast()
        }
    }
}
