@preconcurrency import Glibc

/// Wall-clock time in milliseconds since the Unix epoch: what records store.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var millis: Int64
    public init(millis: Int64) { self.millis = millis }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millis < b.millis }

    /// ISO 8601 UTC with milliseconds, e.g. `2026-11-24T09:44:00.123Z`.
    public var description: String {
        var t = time_t(millis >= 0 ? millis / 1000 : (millis - 999) / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = Int(((millis % 1000) + 1000) % 1000)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }
}

/// Where time comes from. Injected so that tests can drive it.
public protocol TimeSource: Sendable {
    /// Wall-clock time, for records and display.
    func now() -> Timestamp
    /// Monotonic nanoseconds, for measuring durations.
    func monotonicNanos() -> UInt64
}

public struct SystemClock: TimeSource {
    public init() {}

    public func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(millis: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    public func monotonicNanos() -> UInt64 { Self.monotonicNanos() }

    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
