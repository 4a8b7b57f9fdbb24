// Writing the registry as Prometheus text exposition format 0.0.4 (see MetricsRegistry.swift).

extension MetricsRegistry {
    /// Every family as Prometheus text: `# HELP`, `# TYPE`, then its samples, one per line, each line
    /// ending in a line feed. Serve it with `MetricsRegistry.contentType`.
    public func render() -> String {
        var writer = ExpositionWriter()
        for registration in registrations {
            writer.write(registration)
        }
        return writer.text
    }
}

/// Builds the exposition text; internal so tests can check number formatting and escaping directly.
struct ExpositionWriter {
    private(set) var text = ""

    init() {
        text.reserveCapacity(4096)
    }

    mutating func write(_ registration: MetricsRegistry.Registration) {
        let d = registration.descriptor
        text += "# HELP \(d.name) \(Self.escapeHelp(d.help))\n"
        text += "# TYPE \(d.name) \(d.type.rawValue)\n"
        switch registration.source {
        case .counter(let counter):
            sample(d.name, [], [], String(counter.value))
        case .counterFamily(let family):
            for child in family.sortedChildren {
                sample(d.name, d.labelNames, child.labelValues, String(child.metric.value))
            }
        case .gauge(let gauge):
            sample(d.name, [], [], Self.format(gauge.value))
        case .gaugeFamily(let family):
            for child in family.sortedChildren {
                sample(d.name, d.labelNames, child.labelValues, Self.format(child.metric.value))
            }
        case .computed(let compute):
            var seen = Set<[String]>()
            let samples = compute()
                .filter { $0.0.count == d.labelNames.count && seen.insert($0.0).inserted }
                .sorted { $0.0.lexicographicallyPrecedes($1.0) }
            for (labelValues, value) in samples {
                sample(d.name, d.labelNames, labelValues, Self.format(value))
            }
        case .histogram(let histogram):
            write(histogram, d.name, [], [])
        case .histogramFamily(let family):
            for child in family.sortedChildren {
                write(child.metric, d.name, d.labelNames, child.labelValues)
            }
        }
    }

    private mutating func write(_ histogram: Histogram, _ name: String, _ labelNames: [String], _ labelValues: [String]) {
        let counts = histogram.cumulativeCounts
        let bucketLabels = labelNames + ["le"]
        for (index, count) in counts.enumerated() {
            let bound = index < histogram.upperBounds.count ? Self.format(histogram.upperBounds[index]) : "+Inf"
            sample(name + "_bucket", bucketLabels, labelValues + [bound], String(count))
        }
        sample(name + "_sum", labelNames, labelValues, Self.format(histogram.sum))
        // _count is the +Inf bucket, read once: the two always agree.
        sample(name + "_count", labelNames, labelValues, String(counts.last ?? 0))
    }

    private mutating func sample(_ name: String, _ labelNames: [String], _ labelValues: [String], _ value: String) {
        text += name
        if !labelNames.isEmpty {
            text += "{"
            for (index, (label, value)) in zip(labelNames, labelValues).enumerated() {
                if index > 0 { text += "," }
                text += label
                text += "=\""
                text += Self.escapeLabelValue(value)
                text += "\""
            }
            text += "}"
        }
        text += " "
        text += value
        text += "\n"
    }

    /// A sample value or `le` bound: integral values as integers (`3`, not `3.0` or `3e+00`), others as
    /// Swift's shortest round-trip form (`0.005`, `1e-05`, `1.5e+20`), which Go's ParseFloat reads.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        // An integral Double below 2^63 is exactly an Int64, and its digits read back as the same Double.
        if value == value.rounded(.towardZero) && abs(value) < 9_223_372_036_854_775_808 {
            return String(Int64(value))
        }
        return value.description
    }

    /// `\` → `\\`, `"` → `\"`, line feed → `\n`.
    static func escapeLabelValue(_ value: String) -> String {
        escape(value, quote: true)
    }

    /// `\` → `\\`, line feed → `\n` (a `"` stays as it is in HELP text).
    static func escapeHelp(_ help: String) -> String {
        escape(help, quote: false)
    }

    private static func escape(_ string: String, quote: Bool) -> String {
        guard string.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || (quote && $0 == UInt8(ascii: "\"")) })
        else { return string }
        var out = ""
        out.reserveCapacity(string.utf8.count + 8)
        for character in string.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quote: out += "\\\""
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
