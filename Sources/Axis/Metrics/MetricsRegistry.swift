// Metrics: the counters, gauges and histograms axisd serves on /metrics, in the Prometheus text
// exposition format, version 0.0.4.
//
// Why our own and not swift-metrics + swift-prometheus: Axis takes no package dependencies
// (Package.swift). Those two packages would bring a global `MetricsSystem` factory, string-keyed
// lookups on every call and a second package's release cadence, for what axisd needs: three metric
// types, labelled families, gauges computed at scrape time, histograms with fixed buckets and one
// output format. That fits in four small files.
//
// Format reference:
//   https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format  (0.0.4)
//   https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels          (name rules)
//
//   # HELP axis_accept_seconds Time from request to receipt.       ← `\` and line feed escaped
//   # TYPE axis_accept_seconds histogram
//   axis_accept_seconds_bucket{le="0.005"} 3                        ← cumulative, `le` = "≤"
//   axis_accept_seconds_bucket{le="+Inf"} 4                         ← always present, equals _count
//   axis_accept_seconds_sum 0.0123
//   axis_accept_seconds_count 4
//   axis_documents_rejected_total{reason="signature"} 2             ← `\`, `"`, line feed escaped
//
// Bad input: every name is checked when the metric is registered, and registration throws
// `AxisError(.metricsRegistration)` for an invalid metric or label name (`le` and names starting with
// `__` are reserved), an empty help text, bad buckets, or a name already taken by a different metric
// (including a histogram's `_bucket`, `_sum`, `_count`). Registering the same metric again (same
// name, type, help, labels and buckets) returns the existing one, so two components may share it.
// Nothing is checked on the hot path except a family's label count (a programmer error: precondition).
//
// Output order is stable: families in registration order; the children of a family sorted by their
// label values; no timestamps. Numbers: integral values without exponent or ".0", otherwise the
// shortest text that reads back as the same Double; `+Inf`, `-Inf`, `NaN`.

extension AxisError.Code {
    /// A metric could not be registered: bad name, label, help text or buckets, or a name clash.
    public static let metricsRegistration = AxisError.Code(rawValue: "metrics_registration")
}

/// The set of metrics one process exposes, and their rendering as Prometheus text.
///
/// Register metrics once at start-up and keep the returned objects; updating them is lock-free
/// (`Counter`, `Gauge`, `Histogram` are atomics). The registry's own lock is taken only to register,
/// to look up a labelled child the first time, and to snapshot the list of families at scrape time.
public final class MetricsRegistry: Sendable {
    /// The `Content-Type` of `render()`'s output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let state = Locked(State())

    public init() {}

    // MARK: Registration

    /// A counter without labels.
    public func counter(_ name: String, help: String) throws -> Counter {
        try register(Descriptor(name: name, help: help, type: .counter), make: { Counter() },
                     wrap: Source.counter, unwrap: { if case .counter(let m) = $0 { m } else { nil } })
    }

    /// A counter family; `family.labels(["signature"])` gives the child for those label values.
    public func counterFamily(_ name: String, help: String, labels: [String]) throws -> CounterFamily {
        try register(Descriptor(name: name, help: help, type: .counter, labelNames: labels),
                     make: { CounterFamily(labelNames: labels, make: { Counter() }) },
                     wrap: Source.counterFamily, unwrap: { if case .counterFamily(let m) = $0 { m } else { nil } })
    }

    /// A gauge without labels that the caller sets.
    public func gauge(_ name: String, help: String) throws -> Gauge {
        try register(Descriptor(name: name, help: help, type: .gauge), make: { Gauge() },
                     wrap: Source.gauge, unwrap: { if case .gauge(let m) = $0 { m } else { nil } })
    }

    /// A gauge family the caller sets.
    public func gaugeFamily(_ name: String, help: String, labels: [String]) throws -> GaugeFamily {
        try register(Descriptor(name: name, help: help, type: .gauge, labelNames: labels),
                     make: { GaugeFamily(labelNames: labels, make: { Gauge() }) },
                     wrap: Source.gaugeFamily, unwrap: { if case .gaugeFamily(let m) = $0 { m } else { nil } })
    }

    /// A gauge computed at scrape time, e.g. `{ Double(server.connectionCount) }`.
    ///
    /// `sample` runs on the scraping thread with no registry lock held; keep it short. A computed
    /// gauge cannot be registered twice (there is nothing to return), so a second call throws.
    public func gauge(_ name: String, help: String, sample: @escaping @Sendable () -> Double) throws {
        try registerComputed(Descriptor(name: name, help: help, type: .gauge), sample: { [([], sample())] })
    }

    /// A labelled gauge computed at scrape time: `sample` returns (label values, value) pairs, e.g.
    /// `[(["queued"], 12), (["leased"], 3)]`.
    ///
    /// Pairs with the wrong number of label values, and repeats of a label set already returned, are
    /// left out rather than written, so one faulty closure cannot make the whole page unparsable.
    public func gauge(_ name: String, help: String, labels: [String],
                      sample: @escaping @Sendable () -> [([String], Double)]) throws {
        try registerComputed(Descriptor(name: name, help: help, type: .gauge, labelNames: labels), sample: sample)
    }

    /// A histogram without labels. `buckets` are the finite upper bounds, strictly increasing;
    /// `+Inf` is always added and must not be listed.
    public func histogram(_ name: String, help: String, buckets: [Double]) throws -> Histogram {
        try register(Descriptor(name: name, help: help, type: .histogram, upperBounds: buckets),
                     make: { Histogram(upperBounds: buckets) },
                     wrap: Source.histogram, unwrap: { if case .histogram(let m) = $0 { m } else { nil } })
    }

    /// A histogram family; every child has the same buckets.
    public func histogramFamily(_ name: String, help: String, labels: [String],
                                buckets: [Double]) throws -> HistogramFamily {
        try register(Descriptor(name: name, help: help, type: .histogram, labelNames: labels, upperBounds: buckets),
                     make: { HistogramFamily(labelNames: labels, make: { Histogram(upperBounds: buckets) }) },
                     wrap: Source.histogramFamily, unwrap: { if case .histogramFamily(let m) = $0 { m } else { nil } })
    }

    // MARK: Internals

    enum MetricType: String, Sendable {
        case counter, gauge, histogram
    }

    /// Everything that identifies a registration; two registrations are "the same metric" when equal.
    struct Descriptor: Equatable, Sendable {
        var name: String
        var help: String
        var type: MetricType
        var labelNames: [String] = []
        var upperBounds: [Double] = []

        /// The family name and every sample name it writes: these must not clash with another family's.
        var reservedNames: [String] {
            switch type {
            case .counter, .gauge: [name]
            case .histogram: [name, name + "_bucket", name + "_sum", name + "_count"]
            }
        }
    }

    enum Source: Sendable {
        case counter(Counter)
        case counterFamily(CounterFamily)
        case gauge(Gauge)
        case gaugeFamily(GaugeFamily)
        case computed(@Sendable () -> [([String], Double)])
        case histogram(Histogram)
        case histogramFamily(HistogramFamily)
    }

    struct Registration: Sendable {
        let descriptor: Descriptor
        let source: Source
    }

    struct State {
        var registrations: [Registration] = []
        /// Family and sample names in use → the family that uses them.
        var reserved: [String: String] = [:]
    }

    private func register<Metric>(_ descriptor: Descriptor, make: () -> Metric, wrap: (Metric) -> Source,
                                  unwrap: (Source) -> Metric?) throws -> Metric {
        try Self.validate(descriptor)
        // `Locked.update` does not rethrow: carry the outcome out as a Result.
        let outcome: Result<Metric, AxisError> = state.update { state in
            if let existing = state.registrations.first(where: { $0.descriptor.name == descriptor.name }),
               existing.descriptor == descriptor, let metric = unwrap(existing.source) {
                return .success(metric)
            }
            if let clash = Self.reserve(descriptor, in: &state) { return .failure(clash) }
            let metric = make()
            state.registrations.append(Registration(descriptor: descriptor, source: wrap(metric)))
            return .success(metric)
        }
        return try outcome.get()
    }

    private func registerComputed(_ descriptor: Descriptor,
                                  sample: @escaping @Sendable () -> [([String], Double)]) throws {
        try Self.validate(descriptor)
        let clash: AxisError? = state.update { state in
            if let clash = Self.reserve(descriptor, in: &state) { return clash }
            state.registrations.append(Registration(descriptor: descriptor, source: .computed(sample)))
            return nil
        }
        if let clash { throw clash }
    }

    /// Claims the descriptor's names, or returns the error if another family holds one of them.
    private static func reserve(_ descriptor: Descriptor, in state: inout State) -> AxisError? {
        for name in descriptor.reservedNames {
            if let owner = state.reserved[name] {
                return AxisError(.metricsRegistration,
                                 "metric '\(descriptor.name)' clashes with the already registered '\(owner)' on the name "
                                     + "'\(name)': give one of them another name (or register identical metrics only)")
            }
        }
        for name in descriptor.reservedNames { state.reserved[name] = descriptor.name }
        return nil
    }

    /// Snapshot of the registrations, taken under the lock; rendering happens outside it so that
    /// computed gauges may take their own locks without ordering against ours.
    var registrations: [Registration] { state.read { $0.registrations } }

    // MARK: Validation

    static func validate(_ d: Descriptor) throws {
        func refuse(_ what: String) -> AxisError {
            AxisError(.metricsRegistration, "cannot register metric '\(d.name)': \(what)")
        }
        guard isValidMetricName(d.name) else {
            throw refuse("a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*")
        }
        guard !d.help.isEmpty else { throw refuse("the help text is empty; say what is counted or measured") }
        var seen = Set<String>()
        for label in d.labelNames {
            guard isValidLabelName(label) else {
                throw refuse("label name '\(label)' must match [a-zA-Z_][a-zA-Z0-9_]* and not start with '__'")
            }
            guard seen.insert(label).inserted else { throw refuse("label name '\(label)' is listed twice") }
            // Prometheus reserves `le` only in histograms; we refuse it everywhere, so that a reader can
            // take any `le` label for a bucket bound.
            if label == "le" { throw refuse("'le' is reserved for histogram bucket bounds") }
        }
        for (index, bound) in d.upperBounds.enumerated() {
            guard bound.isFinite else {
                throw refuse("bucket bound \(bound) is not finite (+Inf is always added; leave it out)")
            }
            if index > 0 && !(d.upperBounds[index - 1] < bound) {
                throw refuse("bucket bounds must be strictly increasing, but \(bound) follows \(d.upperBounds[index - 1])")
            }
        }
    }

    static func isValidMetricName(_ name: String) -> Bool {
        isValidName(name, allowsColon: true)
    }

    static func isValidLabelName(_ name: String) -> Bool {
        isValidName(name, allowsColon: false) && !name.hasPrefix("__")
    }

    private static func isValidName(_ name: String, allowsColon: Bool) -> Bool {
        guard !name.isEmpty else { return false }
        for (index, byte) in name.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
                continue
            case UInt8(ascii: ":") where allowsColon:
                continue
            case UInt8(ascii: "0")...UInt8(ascii: "9") where index > 0:
                continue
            default:
                return false
            }
        }
        return true
    }
}
