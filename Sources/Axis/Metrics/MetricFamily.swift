/// Metrics of one name told apart by label values, such as
/// `axis_delivery_attempts_total{outcome="delivered"}`.
///
/// `labels(_:)` takes a lock and hashes the values, and creates the child on first use; callers on a
/// hot path look their children up once and keep them:
///
/// ```swift
/// let rejected = try registry.counterFamily("axis_documents_rejected_total", help: "…", labels: ["reason"])
/// let rejectedSignature = rejected.labels(["signature"])   // at start-up
/// rejectedSignature.increment()                           // per document: one atomic add
/// ```
///
/// Children are never removed: label values must come from a small fixed set (reasons, outcomes,
/// states), never from request data such as agency codes or document IDs.
public final class MetricFamily<Metric: AnyObject & Sendable>: Sendable {
    public let labelNames: [String]
    private let make: @Sendable () -> Metric
    private let children = Locked<[[String]: Metric]>([:])

    init(labelNames: [String], make: @escaping @Sendable () -> Metric) {
        self.labelNames = labelNames
        self.make = make
    }

    /// The child for these label values, in the order of `labelNames`.
    ///
    /// The number of values must equal the number of label names: a mismatch is a programming error
    /// and stops the process (precondition), like an index out of range.
    public func labels(_ values: [String]) -> Metric {
        precondition(values.count == labelNames.count,
                     "metric family with labels \(labelNames) given \(values.count) label values \(values)")
        return children.update { children in
            if let child = children[values] { return child }
            let child = make()
            children[values] = child
            return child
        }
    }

    /// The children sorted by label values, so that the output order does not depend on which thread
    /// used a label set first.
    var sortedChildren: [(labelValues: [String], metric: Metric)] {
        children.read { children in children.map { (labelValues: $0.key, metric: $0.value) } }
            .sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
    }
}

public typealias CounterFamily = MetricFamily<Counter>
public typealias GaugeFamily = MetricFamily<Gauge>
public typealias HistogramFamily = MetricFamily<Histogram>
