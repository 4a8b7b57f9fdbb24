@preconcurrency import Glibc
import Axis
import Foundation

/// Runs `count` OS threads (not tasks: the journal's appenders block) and returns what each one
/// produced, indexed by thread number, once all of them have finished.
enum ThreadGroup {
    static func run<T: Sendable>(count: Int, name: String, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let results = Locked<[Int: T]>([:])
        let latch = Latch(count: count)
        for index in 0..<count {
            let thread = Thread {
                let value = body(index)
                results.update { $0[index] = value }
                latch.countDown()
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
        latch.wait()
        // Every thread stored its value before counting down, so every index is present.
        return results.read { r in (0..<count).compactMap { r[$0] } }
    }
}

/// Counts down to zero; `wait` returns once it gets there.
final class Latch: @unchecked Sendable {
    private let lock = ConditionLock()
    private var remaining: Int  // guarded by `lock`

    init(count: Int) { remaining = count }

    func countDown() {
        lock.withLock {
            remaining -= 1
            if remaining <= 0 { lock.broadcast() }
        }
    }

    func wait() {
        lock.withLock { while remaining > 0 { lock.wait() } }
    }
}

/// A value guarded by its own lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func read<R>(_ body: (Value) -> R) -> R { lock.withLock { body(value) } }
    func update<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}

/// A fresh directory from `mkdtemp`, removed with everything in it by `remove()`.
struct TempDirectory {
    let path: String

    init(under base: String, prefix: String) throws {
        try PosixStorage().createDirectory(base)
        var template = Array(PathJoin.join(base, "\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buf in buf.baseAddress.flatMap { mkdtemp($0) } }
        guard made != nil else {
            throw AxisError(.storageIO, "cannot create a temporary directory under '\(base)': check that it exists and is writable",
                            errno: errno)
        }
        // mkdtemp replaced the X's in place; drop the terminating NUL.
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Process CPU time (user + system) in seconds, from `getrusage`.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Sleeps until the monotonic clock reaches `deadline` (benchmark pacing only; tests wait on events).
func sleep(untilMonotonicNanos deadline: UInt64) {
    while true {
        let now = SystemClock.monotonicNanos()
        if now >= deadline { return }
        let remaining = deadline - now
        var ts = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        nanosleep(&ts, nil)
    }
}

/// Writes to standard error, unbuffered: progress lines must not mix into `--json` output.
func printErr(_ text: String) {
    FileDescriptorLogSink.standardError.write(line: text + "\n")
}

/// Latency percentiles from every sample (nearest-rank on the sorted samples: exact, not bucketed).
struct LatencySummary: Codable, Sendable {
    var samples: Int
    var meanMillis: Double
    var p50Millis: Double
    var p90Millis: Double
    var p99Millis: Double
    var p999Millis: Double
    var maxMillis: Double

    init(nanos: [UInt64]) {
        let sorted = nanos.sorted()
        samples = sorted.count
        func pick(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((p * Double(sorted.count)).rounded(.up))
            return Double(sorted[min(max(rank, 1), sorted.count) - 1]) / 1e6
        }
        meanMillis = sorted.isEmpty ? 0 : Double(sorted.reduce(0, &+)) / Double(sorted.count) / 1e6
        p50Millis = pick(0.50)
        p90Millis = pick(0.90)
        p99Millis = pick(0.99)
        p999Millis = pick(0.999)
        maxMillis = Double(sorted.last ?? 0) / 1e6
    }
}

/// Fixed-width text columns for the human-readable report.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: [String]) { self.headers = headers }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}

func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

func grouped(_ v: Int) -> String {
    let s = String(v)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

/// System-wide CPU time from /proc/stat, to tell how much of the machine *other* processes used
/// during a measurement (this box is shared; a number taken while a compiler ran says so).
struct SystemCPU {
    var busyTicks: UInt64
    var totalTicks: UInt64

    static func sample() -> SystemCPU? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard v.count >= 5 else { return nil }
        let total = v.prefix(8).reduce(0, +)  // user nice system idle iowait irq softirq steal
        return SystemCPU(busyTicks: total - v[3] - v[4], totalTicks: total)
    }

    /// Cores kept busy between two samples by everything on the machine.
    static func busyCores(from a: SystemCPU?, to b: SystemCPU?, seconds: Double) -> Double {
        guard let a, let b, b.busyTicks >= a.busyTicks, seconds > 0 else { return 0 }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return Double(b.busyTicks - a.busyTicks) / hz / seconds
    }
}
