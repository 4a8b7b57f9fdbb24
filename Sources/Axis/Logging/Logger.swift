// A structured logger: one line per event, in one of two formats chosen at construction.
//
//     key-value:  ts=2026-11-24T09:44:00.123Z level=info event=journal.open segments=3 path="/var/lib/axis"
//     json:       {"ts":"2026-11-24T09:44:00.123Z","level":"info","event":"journal.open","segments":"3"}
//
// Fields keep the order the caller gives. Every value is a string.
//
// Key-value quoting: a value (the event name included) is written bare unless it is empty or
// contains whitespace, '"', '=', '\' or a non-printable character; then it is written as a JSON
// string literal, so `"`, `\`, newlines and other control, format (bidi overrides, zero-width
// characters) and line/paragraph separators are escaped (`\"`, `\\`, `\n`, `\u202e`, surrogate
// pairs above U+FFFF). A reader decodes a quoted value with any JSON string decoder. Key-value keys
// are reduced to `[A-Za-z0-9_./-]` (anything else becomes `_`).
//
// JSON: keys and values use the same escaping, which is valid JSON and keeps terminal control
// sequences out of the log.
//
// A field named `ts`, `level` or `event` is written as `_ts`, `_level`, `_event` so it cannot be
// mistaken for (or, in JSON, duplicate) the fixed keys. A value longer than `fieldValueBytesMax`
// UTF-8 bytes is cut at a character boundary and ends in `…(truncated)`.
//
// Logging never fails the caller: a line the sink cannot write is dropped.

@preconcurrency import Glibc

/// How severe an event is. A logger writes events at or above its minimum level.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug
    case info
    case warning
    case error

    private var severity: Int {
        switch self {
        case .debug: 0
        case .info: 1
        case .warning: 2
        case .error: 3
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.severity < b.severity }
}

/// The line format, fixed for a logger's life so a log file never mixes formats.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=… level=… event=… key=value …`, for people and `grep`.
    case keyValue = "key-value"
    /// One JSON object per line, for log shippers.
    case json
}

/// Where finished lines go.
public protocol LogSink: Sendable {
    /// Writes one complete line, ending in "\n". The logger calls this with its lock held, so
    /// calls never overlap and lines arrive in timestamp order.
    func write(line: String)
}

/// Writes each line to a file descriptor with one `write(2)` (more only if the kernel accepts
/// part of it, and still under the logger's lock, so lines never interleave).
public struct FileDescriptorLogSink: LogSink {
    public let fileDescriptor: Int32

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    public static let standardError = FileDescriptorLogSink(fileDescriptor: STDERR_FILENO)

    public func write(line: String) {
        var line = line
        line.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fileDescriptor, base + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // A logger has nowhere to report its own failure; the line is lost.
                }
            }
        }
    }
}

/// Keeps lines in memory, for tests.
///
/// `@unchecked Sendable`: `stored` is only touched with `lock` held.
public final class InMemoryLogSink: LogSink, @unchecked Sendable {
    private let lock = ConditionLock()
    private var stored: [String] = []

    public init() {}

    public func write(line: String) {
        lock.withLock { stored.append(line) }
    }

    /// The lines written so far, each without its final newline.
    public var lines: [String] {
        lock.withLock { stored.map { String($0.dropLast()) } }
    }
}

/// A structured logger. Copies share one sink and one lock.
///
/// ```swift
/// let log = Logger(format: .keyValue, minimumLevel: .info)
/// log.info("journal.open", ["segments": "3", "path": dataDirectory])
/// ```
public struct Logger: Sendable {
    public let format: LogFormat
    public let minimumLevel: LogLevel
    /// Longest field value written, in UTF-8 bytes; longer values are cut.
    public let fieldValueBytesMax: Int
    private let clock: any TimeSource
    private let output: LoggerOutput

    public init(
        format: LogFormat = .keyValue, minimumLevel: LogLevel = .info, clock: any TimeSource = SystemClock(),
        sink: any LogSink = FileDescriptorLogSink.standardError, fieldValueBytesMax: Int = 8_192
    ) {
        precondition(fieldValueBytesMax > 0, "fieldValueBytesMax must be positive")
        self.format = format
        self.minimumLevel = minimumLevel
        self.fieldValueBytesMax = fieldValueBytesMax
        self.clock = clock
        self.output = LoggerOutput(sink: sink)
    }

    /// Whether an event at `level` would be written; check it before computing costly fields.
    public func isEnabled(_ level: LogLevel) -> Bool { level >= minimumLevel }

    public func debug(_ event: String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]) {
        log(.debug, event, fields())
    }

    public func info(_ event: String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]) {
        log(.info, event, fields())
    }

    public func warning(_ event: String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]) {
        log(.warning, event, fields())
    }

    public func error(_ event: String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]) {
        log(.error, event, fields())
    }

    public func log(_ level: LogLevel, _ event: String, _ fields: @autoclosure () -> KeyValuePairs<String, String>) {
        guard isEnabled(level) else { return }
        write(level, event, fields().map { ($0.key, $0.value) })
    }

    /// For fields built at run time; order is kept.
    public func log(_ level: LogLevel, _ event: String, fields: [(String, String)]) {
        guard isEnabled(level) else { return }
        write(level, event, fields)
    }

    private func write(_ level: LogLevel, _ event: String, _ fields: [(String, String)]) {
        // Everything but the timestamp is formatted outside the lock; the clock is read inside it
        // so lines reach the sink in timestamp order.
        let rest = Self.formatRest(format: format, level: level, event: event, fields: fields, valueBytesMax: fieldValueBytesMax)
        output.lock.withLock {
            let ts = clock.now().description
            switch format {
            case .keyValue: output.sink.write(line: "ts=" + ts + rest)
            case .json: output.sink.write(line: "{\"ts\":\"" + ts + "\"" + rest)
            }
        }
    }

    /// The line after the timestamp, newline included.
    static func formatRest(
        format: LogFormat, level: LogLevel, event: String, fields: [(String, String)], valueBytesMax: Int
    ) -> String {
        var out = ""
        switch format {
        case .keyValue:
            out += " level=" + level.rawValue + " event="
            appendKeyValueValue(event, to: &out)
            for (key, value) in fields {
                out += " " + keyValueKey(fieldKey(key)) + "="
                appendKeyValueValue(truncated(value, bytesMax: valueBytesMax), to: &out)
            }
            out += "\n"
        case .json:
            out += ",\"level\":\"" + level.rawValue + "\",\"event\":"
            appendJSONString(event, to: &out)
            for (key, value) in fields {
                out += ","
                appendJSONString(fieldKey(key), to: &out)
                out += ":"
                appendJSONString(truncated(value, bytesMax: valueBytesMax), to: &out)
            }
            out += "}\n"
        }
        return out
    }

    private static func fieldKey(_ key: String) -> String {
        switch key {
        case "ts", "level", "event": "_" + key
        default: key
        }
    }

    private static func keyValueKey(_ key: String) -> String {
        if key.isEmpty { return "_" }
        var out = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "/", "-": out.unicodeScalars.append(scalar)
            default: out += "_"
            }
        }
        return out
    }

    private static func appendKeyValueValue(_ value: String, to out: inout String) {
        let needsQuotes =
            value.isEmpty
            || value.unicodeScalars.contains {
                $0 == "\"" || $0 == "=" || $0 == "\\" || $0.properties.isWhitespace || isNonPrintable($0)
            }
        if needsQuotes {
            appendJSONString(value, to: &out)
        } else {
            out += value
        }
    }

    /// `value` as a JSON string literal, quotes included, with non-printables escaped.
    static func appendJSONString(_ value: String, to out: inout String) {
        JSONString.append(value, to: &out, escape: isNonPrintable)
    }

    /// Control characters (C0, DEL, C1), format characters (bidi controls, zero-width
    /// characters, BOM) and line/paragraph separators: what could move a terminal's cursor, hide
    /// text or split a line.
    private static func isNonPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    private static func truncated(_ value: String, bytesMax: Int) -> String {
        guard value.utf8.count > bytesMax else { return value }
        var bytes = 0
        var end = value.startIndex
        for index in value.indices {
            let next = value.index(after: index)
            let size = value.utf8.distance(from: index, to: next)
            if bytes + size > bytesMax { break }
            bytes += size
            end = next
        }
        return value[..<end] + "…(truncated)"
    }
}

/// The state copies of a `Logger` share: the sink and the one lock that serialises writes to it.
private final class LoggerOutput: Sendable {
    let lock = ConditionLock()
    let sink: any LogSink

    init(sink: any LogSink) {
        self.sink = sink
    }
}
