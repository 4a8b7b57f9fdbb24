/// A strict reader of the Prometheus text exposition format 0.0.4, for checking what Axis serves on
/// /metrics (unit tests of the metrics library and process tests of axisd).
///
/// Reference: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
///
/// It accepts what a careful producer writes and refuses everything else, with the line number:
/// - every line ends in a line feed; no blank lines, no comments other than `# HELP` and `# TYPE`;
/// - each family has exactly one `# HELP` and one `# TYPE` (counter, gauge, histogram, summary,
///   untyped), both before its first sample, and its lines are contiguous;
/// - metric and label names are valid (`[a-zA-Z_:][a-zA-Z0-9_:]*`, `[a-zA-Z_][a-zA-Z0-9_]*`, no `__`
///   prefix), a sample's name belongs to its family's type (`_bucket`, `_sum`, `_count` for histograms);
/// - labels are `{name="value",…}` with single separators, no trailing comma, no empty `{}`, no
///   repeated label, and only the escapes `\\`, `\"`, `\n` (HELP text: `\\`, `\n`);
/// - a value is a decimal float, `+Inf`, `-Inf` or `NaN`, separated by one space; no timestamps;
/// - no series (name and label set) appears twice; counters are ≥ 0;
/// - each histogram series has buckets with strictly increasing `le`, non-decreasing counts, a last
///   bucket `le="+Inf"` equal to its `_count`, and a `_sum`.
///
/// Stricter than Prometheus in the blank lines, other comments, whitespace and timestamps it refuses:
/// Axis writes none of them, so seeing one means a bug.
struct PrometheusText {
    struct Sample: Equatable, CustomStringConvertible {
        let name: String
        let labels: [String: String]
        let value: Double

        var description: String {
            let labelText = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
            return labels.isEmpty ? "\(name) \(value)" : "\(name){\(labelText)} \(value)"
        }
    }

    struct Family: Equatable {
        let name: String
        let help: String
        let type: String
    }

    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "line \(line): \(message)" }
    }

    /// Samples in the order they appear.
    let samples: [Sample]
    /// Families in the order they appear.
    let families: [Family]

    static func parse(_ text: String) throws -> PrometheusText {
        var parser = Parser()
        try parser.parse(text)
        return PrometheusText(samples: parser.samples, families: parser.familyOrder.compactMap { name in
            parser.families[name].map { Family(name: name, help: $0.help ?? "", type: $0.type ?? "") }
        })
    }

    /// The value of the sample with exactly this name and label set, or nil if there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// All samples with this name.
    func samples(named name: String) -> [Sample] {
        samples.filter { $0.name == name }
    }

    func family(_ name: String) -> Family? {
        families.first { $0.name == name }
    }
}

private struct Parser {
    struct FamilyState {
        var help: String?
        var type: String?
        var hasSamples = false
        var closed = false
    }

    /// One histogram series (its labels without `le`), gathered until its family ends.
    struct HistogramSeries {
        var buckets: [(le: Double, count: Double)] = []
        var sum: Double?
        var count: Double?
        var firstLine: Int
    }

    static let types: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]

    var samples: [PrometheusText.Sample] = []
    var families: [String: FamilyState] = [:]
    var familyOrder: [String] = []
    var current: String?
    var seriesSeen: Set<String> = []
    var histogram: [String: HistogramSeries] = [:]
    var histogramOrder: [String] = []
    var lineNumber = 0

    func fail(_ message: String) -> PrometheusText.ParseError {
        PrometheusText.ParseError(line: lineNumber, message: message)
    }

    mutating func parse(_ text: String) throws {
        guard !text.isEmpty else { return }
        // Split on the byte, not the Character: "\r\n" is one Character and must not pass as a line end.
        var lines = Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.last?.isEmpty == true else {
            lineNumber = lines.count
            throw fail("the text does not end with a line feed")
        }
        lines.removeLast()
        for line in lines {
            lineNumber += 1
            let bytes = Array(line)
            if bytes.isEmpty { throw fail("blank line") }
            if bytes[0] == UInt8(ascii: "#") {
                try parseComment(bytes)
            } else {
                try parseSample(bytes)
            }
        }
        try closeCurrent()
    }

    // MARK: HELP and TYPE

    mutating func parseComment(_ bytes: [UInt8]) throws {
        var cursor = Cursor(bytes)
        let isHelp: Bool
        if cursor.skip("# HELP ") {
            isHelp = true
        } else if cursor.skip("# TYPE ") {
            isHelp = false
        } else {
            throw fail("a comment other than '# HELP name text' or '# TYPE name type': \(String(decoding: bytes, as: UTF8.self))")
        }
        let name = cursor.take(while: Self.isNameByte)
        guard isValidMetricName(name) else { throw fail("invalid metric name '\(name)' in \(isHelp ? "HELP" : "TYPE")") }
        guard cursor.skip(" ") else { throw fail("expected one space after the name '\(name)'") }
        try enterFamily(name)
        var state = families[name] ?? FamilyState()
        if state.hasSamples { throw fail("\(isHelp ? "HELP" : "TYPE") for '\(name)' after its samples") }
        if isHelp {
            guard state.help == nil else { throw fail("second HELP for '\(name)'") }
            state.help = try unescape(cursor.rest, quoteEscape: false)
        } else {
            let type = String(decoding: cursor.rest, as: UTF8.self)
            guard Self.types.contains(type) else { throw fail("unknown type '\(type)' for '\(name)'") }
            guard state.type == nil else { throw fail("second TYPE for '\(name)'") }
            state.type = type
        }
        families[name] = state
    }

    /// Makes `name` the current family; a family's lines must be contiguous.
    mutating func enterFamily(_ name: String) throws {
        if current == name { return }
        try closeCurrent()
        if families[name]?.closed == true {
            throw fail("lines of family '\(name)' appear again after another family's")
        }
        if families[name] == nil {
            families[name] = FamilyState()
            familyOrder.append(name)
        }
        current = name
    }

    mutating func closeCurrent() throws {
        guard let name = current else { return }
        families[name]?.closed = true
        current = nil
        try checkHistogramSeries(of: name)
    }

    // MARK: Samples

    mutating func parseSample(_ bytes: [UInt8]) throws {
        var cursor = Cursor(bytes)
        let name = cursor.take(while: Self.isNameByte)
        guard isValidMetricName(name) else {
            throw fail("invalid metric name at the start of '\(String(decoding: bytes, as: UTF8.self))'")
        }
        var labels: [String: String] = [:]
        var labelOrder: [String] = []
        if cursor.skip("{") {
            repeat {
                let label = cursor.take(while: { Self.isNameByte($0) && $0 != UInt8(ascii: ":") })
                guard isValidLabelName(label) else { throw fail("invalid label name '\(label)' in '\(name)'") }
                guard cursor.skip("=\"") else { throw fail("expected =\" after label '\(label)' in '\(name)'") }
                guard let raw = cursor.takeQuoted() else { throw fail("unterminated value of label '\(label)' in '\(name)'") }
                guard labels[label] == nil else { throw fail("label '\(label)' repeated in '\(name)'") }
                labels[label] = try unescape(raw, quoteEscape: true)
                labelOrder.append(label)
            } while cursor.skip(",")
            guard cursor.skip("}") else { throw fail("expected ',' or '}' after the labels of '\(name)' (no trailing comma)") }
        }
        guard cursor.skip(" ") else { throw fail("expected one space before the value of '\(name)'") }
        let valueText = String(decoding: cursor.rest, as: UTF8.self)
        guard let value = Self.parseFloat(valueText) else {
            throw fail("invalid value '\(valueText)' for '\(name)' (a float, +Inf, -Inf or NaN; no timestamp)")
        }

        let (familyName, suffix) = try family(ofSample: name)
        try enterFamily(familyName)
        guard var state = families[familyName], let type = state.type, state.help != nil else {
            throw fail("sample '\(name)' before both HELP and TYPE of its family '\(familyName)'")
        }
        state.hasSamples = true
        families[familyName] = state

        let seriesKey = name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
        guard seriesSeen.insert(seriesKey).inserted else { throw fail("duplicate series \(seriesKey)") }

        if type == "counter" && !(value >= 0) { throw fail("counter '\(name)' has value \(valueText), not ≥ 0") }
        if type == "histogram" {
            try addHistogramSample(suffix: suffix, labels: labels, value: value, valueText: valueText, name: name)
        } else if labels["le"] != nil {
            throw fail("label 'le' on '\(name)', which is not a histogram bucket")
        }
        samples.append(PrometheusText.Sample(name: name, labels: labels, value: value))
    }

    /// The family a sample name belongs to, and the suffix it carries (`_bucket`, `_sum`, `_count`, or "").
    func family(ofSample name: String) throws -> (String, String) {
        if let state = families[name], state.type != "histogram" { return (name, "") }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            switch families[base]?.type {
            case "histogram": return (base, suffix)
            case "summary" where suffix != "_bucket": return (base, suffix)
            default: continue
            }
        }
        if families[name]?.type == "histogram" {
            throw fail("sample '\(name)' in histogram family '\(name)': use \(name)_bucket, \(name)_sum or \(name)_count")
        }
        throw fail("sample '\(name)' has no family declared by HELP and TYPE before it")
    }

    mutating func addHistogramSample(suffix: String, labels: [String: String], value: Double, valueText: String,
                                     name: String) throws {
        var seriesLabels = labels
        let le = seriesLabels.removeValue(forKey: "le")
        let key = seriesLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        if histogram[key] == nil {
            histogram[key] = HistogramSeries(firstLine: lineNumber)
            histogramOrder.append(key)
        }
        // Counts are ≥ 0; a sum may be negative or NaN (negative or NaN observations).
        if suffix != "_sum" && !(value >= 0) { throw fail("'\(name)' has value \(valueText), not ≥ 0") }
        switch suffix {
        case "_bucket":
            guard let le else { throw fail("bucket '\(name)' without an 'le' label") }
            guard let bound = Self.parseFloat(le) else { throw fail("bucket '\(name)' has le=\"\(le)\", not a float") }
            if let previous = histogram[key]?.buckets.last {
                guard previous.le < bound else { throw fail("bucket le=\"\(le)\" of '\(name)' does not follow \(previous.le) in increasing order") }
                guard previous.count <= value else { throw fail("bucket le=\"\(le)\" of '\(name)' counts \(valueText), fewer than the bucket before (\(previous.count)): buckets are cumulative") }
            }
            histogram[key]?.buckets.append((bound, value))
        case "_sum":
            guard le == nil else { throw fail("'\(name)' carries an 'le' label") }
            histogram[key]?.sum = value
        default:
            guard le == nil else { throw fail("'\(name)' carries an 'le' label") }
            histogram[key]?.count = value
        }
    }

    mutating func checkHistogramSeries(of family: String) throws {
        defer {
            histogram = [:]
            histogramOrder = []
        }
        for key in histogramOrder {
            guard let series = histogram[key] else { continue }
            let subject = "histogram '\(family)' series {\(key)} (from line \(series.firstLine))"
            guard let last = series.buckets.last else { throw fail("\(subject) has no buckets") }
            guard last.le == .infinity else { throw fail("\(subject) does not end with a bucket le=\"+Inf\"") }
            guard let count = series.count else { throw fail("\(subject) has no _count") }
            guard series.sum != nil else { throw fail("\(subject) has no _sum") }
            guard last.count == count else {
                throw fail("\(subject): the +Inf bucket counts \(last.count) but _count is \(count)")
            }
        }
    }

    // MARK: Tokens

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: ":"):
            true
        default:
            false
        }
    }

    func isValidMetricName(_ name: String) -> Bool {
        guard let first = name.utf8.first else { return false }
        return !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) && name.utf8.allSatisfy(Self.isNameByte)
    }

    func isValidLabelName(_ name: String) -> Bool {
        isValidMetricName(name) && !name.contains(":") && !name.hasPrefix("__")
    }

    /// Decimal floats (`1`, `-0.5`, `.5`, `1e-05`, `1.5E+20`), `+Inf`, `-Inf`, `NaN`; nothing else
    /// (no hex, no `inf`, no spaces).
    static func parseFloat(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: break
        }
        var cursor = Cursor(Array(text.utf8))
        _ = cursor.skip("+") || cursor.skip("-")
        let whole = cursor.take(while: isDigit)
        var fraction = ""
        if cursor.skip(".") { fraction = cursor.take(while: isDigit) }
        guard !(whole.isEmpty && fraction.isEmpty) else { return nil }
        if cursor.skip("e") || cursor.skip("E") {
            _ = cursor.skip("+") || cursor.skip("-")
            guard !cursor.take(while: isDigit).isEmpty else { return nil }
        }
        guard cursor.rest.isEmpty else { return nil }
        return Double(text)
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Resolves `\\`, `\n` and (in label values) `\"`; any other escape is an error.
    func unescape(_ bytes: ArraySlice<UInt8>, quoteEscape: Bool) throws -> String {
        var out: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\\") {
                guard index < bytes.endIndex else { throw fail("a backslash at the end of a text") }
                switch bytes[index] {
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "\"") where quoteEscape: out.append(UInt8(ascii: "\""))
                default: throw fail("invalid escape '\\\(Character(Unicode.Scalar(bytes[index])))'")
                }
                index += 1
            } else if byte == UInt8(ascii: "\"") && quoteEscape {
                throw fail("an unescaped quote in a label value")
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A position in one line's bytes.
private struct Cursor {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var rest: ArraySlice<UInt8> { bytes[index...] }

    /// Consumes `literal` if the line continues with it.
    mutating func skip(_ literal: String) -> Bool {
        let expected = Array(literal.utf8)
        guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else { return false }
        index += expected.count
        return true
    }

    mutating func take(while predicate: (UInt8) -> Bool) -> String {
        let start = index
        while index < bytes.count && predicate(bytes[index]) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// The raw bytes of a label value up to its closing quote (escapes still in place), after which the
    /// cursor stands; nil if the line ends first.
    mutating func takeQuoted() -> ArraySlice<UInt8>? {
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""):
                let value = bytes[start..<index]
                index += 1
                return value
            default: index += 1
            }
        }
        return nil
    }
}
