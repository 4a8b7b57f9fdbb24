import Synchronization

// The three metric types. Each is a handful of atomics: updating one never locks and never allocates,
// so they can sit on the accept and delivery paths. Memory order is relaxed throughout: a scrape needs
// each number to be exact eventually, not ordered against other memory.

/// A count that only goes up, such as `axis_documents_accepted_total`.
public final class Counter: Sendable {
    private let count = Atomic<UInt64>(0)

    init() {}

    public func increment() {
        count.wrappingAdd(1, ordering: .relaxed)
    }

    public func increment(by amount: UInt64) {
        count.wrappingAdd(amount, ordering: .relaxed)
    }

    public var value: UInt64 { count.load(ordering: .relaxed) }
}

/// A value that goes up and down, such as the number of open connections.
///
/// Prefer a gauge computed at scrape time (`MetricsRegistry.gauge(_:help:sample:)`) when the value
/// already lives somewhere else: then it cannot drift from the truth.
public final class Gauge: Sendable {
    /// The `Double`'s bit pattern, so that it fits an atomic word.
    private let bits = Atomic<UInt64>(Double(0).bitPattern)

    init() {}

    public func set(_ value: Double) {
        bits.store(value.bitPattern, ordering: .relaxed)
    }

    public func add(_ amount: Double) {
        bits.addDouble(amount)
    }

    public func increment() { add(1) }
    public func decrement() { add(-1) }

    public var value: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }
}

/// A distribution of observed values in fixed buckets, such as `axis_accept_seconds`.
///
/// A value goes into the first bucket whose upper bound is ≥ the value (`le`, "less or equal"), so an
/// observation equal to a bound counts in that bound's bucket. Larger values, and NaN, count only in
/// the implicit `+Inf` bucket (as the Go client does); a NaN also makes the sum NaN.
///
/// Counts are kept per bucket (not cumulative) and summed at scrape time, and `_count` is that sum,
/// so a scrape during observations is always self-consistent: `+Inf` equals `_count`. `_sum` is a
/// separate atomic and may be one observation ahead or behind.
public final class Histogram: Sendable {
    /// Finite, strictly increasing (checked at registration); `+Inf` is implicit.
    public let upperBounds: [Double]
    /// One cell per bound plus one for `+Inf`.
    private let cells: [Cell]
    private let sumBits = Atomic<UInt64>(Double(0).bitPattern)

    private final class Cell: Sendable {
        let count = Atomic<UInt64>(0)
    }

    init(upperBounds: [Double]) {
        self.upperBounds = upperBounds
        self.cells = (0...upperBounds.count).map { _ in Cell() }
    }

    public func observe(_ value: Double) {
        cells[bucketIndex(value)].count.wrappingAdd(1, ordering: .relaxed)
        sumBits.addDouble(value)
    }

    /// Observes a duration in seconds (the unit Prometheus expects for time).
    public func observe(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// The index of the first bound ≥ `value`, or `upperBounds.count` (+Inf) if none; binary search.
    func bucketIndex(_ value: Double) -> Int {
        var low = 0
        var high = upperBounds.count
        while low < high {
            let middle = (low + high) / 2
            if value <= upperBounds[middle] { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Cumulative counts, one per bound and the last for `+Inf` (which is also the total count).
    var cumulativeCounts: [UInt64] {
        var total: UInt64 = 0
        return cells.map { cell in
            total &+= cell.count.load(ordering: .relaxed)
            return total
        }
    }

    public var count: UInt64 { cumulativeCounts.last ?? 0 }
    public var sum: Double { Double(bitPattern: sumBits.load(ordering: .relaxed)) }
}

extension Atomic where Value == UInt64 {
    /// Adds to a `Double` stored as its bit pattern: a compare-and-exchange loop, as no CPU adds
    /// floating point atomically.
    fileprivate func addDouble(_ amount: Double) {
        var current = load(ordering: .relaxed)
        while true {
            let next = (Double(bitPattern: current) + amount).bitPattern
            let (exchanged, original) = weakCompareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
