import Foundation
import XCTest

@testable import Axis

/// A clock that always reads 2026-11-24T09:44:00.123Z.
private struct FixedLogClock: TimeSource {
    func now() -> Timestamp { Timestamp(millis: 1_795_513_440_123) }
    func monotonicNanos() -> UInt64 { 0 }
}

/// A clock that moves one millisecond each time it is read, so reading order shows in the lines.
private final class SteppingLogClock: TimeSource, @unchecked Sendable {
    private let lock = NSLock()
    private var millis: Int64 = 1_795_513_440_000
    func now() -> Timestamp {
        lock.withLock {
            millis += 1
            return Timestamp(millis: millis)
        }
    }
    func monotonicNanos() -> UInt64 { 0 }
}

/// Records how many `write(line:)` calls were ever in progress at once.
private final class OverlapDetectingSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var inside = 0
    private var insideMax = 0
    private var stored: [String] = []

    func write(line: String) {
        lock.withLock {
            inside += 1
            insideMax = max(insideMax, inside)
        }
        // Widen the window in which an unserialised second caller would be seen.
        for _ in 0..<50 { sched_yield() }
        lock.withLock {
            stored.append(line)
            inside -= 1
        }
    }

    var result: (insideMax: Int, lines: [String]) { lock.withLock { (insideMax, stored) } }
}

final class LoggerTests: XCTestCase {
    /// Values that exercise every quoting and escaping rule.
    static let trickyValues: [String] = [
        "", " ", "plain", "two words", "a=b", "say \"hi\"", "back\\slash", "line1\nline2", "cr\rtab\t",
        "\u{1b}[31mred", "nul\u{0}byte", "del\u{7f}", "c1\u{85}", "bidi\u{202e}txt", "sep\u{2028}x", "zero\u{200b}width",
        "tag\u{e0001}", "e\u{301}", "日本語", "👍🏽", "non\u{a0}breaking", "/var/lib/axis/journal",
    ]

    private func makeLogger(
        _ format: LogFormat, minimumLevel: LogLevel = .debug, fieldValueBytesMax: Int = 8_192
    ) -> (Logger, InMemoryLogSink) {
        let sink = InMemoryLogSink()
        let logger = Logger(
            format: format, minimumLevel: minimumLevel, clock: FixedLogClock(), sink: sink,
            fieldValueBytesMax: fieldValueBytesMax)
        return (logger, sink)
    }

    /// Splits a key-value line into its pairs: a value is bare up to the next space, or a JSON
    /// string literal when it starts with a quote.
    private func parseKeyValueLine(_ line: String, file: StaticString = #filePath, line number: UInt = #line) throws
        -> [(String, String)]
    {
        var pairs: [(String, String)] = []
        var rest = Substring(line)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else {
                XCTFail("no '=' in '\(rest)'", file: file, line: number)
                return pairs
            }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            let value: String
            if rest.first == "\"" {
                var end = rest.index(after: rest.startIndex)
                var escaped = false
                while end < rest.endIndex {
                    if escaped {
                        escaped = false
                    } else if rest[end] == "\\" {
                        escaped = true
                    } else if rest[end] == "\"" {
                        break
                    }
                    end = rest.index(after: end)
                }
                XCTAssertLessThan(end, rest.endIndex, "unterminated quote in '\(line)'", file: file, line: number)
                let literal = rest[...end]
                let decoded = try JSONSerialization.jsonObject(
                    with: Data(literal.utf8), options: [.fragmentsAllowed])
                value = try XCTUnwrap(decoded as? String, file: file, line: number)
                rest = rest[rest.index(after: end)...]
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            pairs.append((key, value))
            if rest.first == " " { rest = rest.dropFirst() }
        }
        return pairs
    }

    // MARK: - Key-value format

    func testKeyValueLineHasTimestampLevelEventThenFieldsInGivenOrder() {
        let (logger, sink) = makeLogger(.keyValue)
        logger.info("journal.open", ["segments": "3", "path": "/var/lib/axis/journal", "a": "1"])
        XCTAssertEqual(
            sink.lines,
            ["ts=2026-11-24T09:44:00.123Z level=info event=journal.open segments=3 path=/var/lib/axis/journal a=1"])
    }

    func testKeyValueQuotesOnlyValuesThatNeedIt() {
        let expectations: [(String, String)] = [
            ("plain", "plain"),
            ("/var/lib/axis", "/var/lib/axis"),
            ("日本語", "日本語"),
            ("e\u{301}", "e\u{301}"),
            ("", "\"\""),
            ("two words", "\"two words\""),
            ("a=b", "\"a=b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("line1\nline2", "\"line1\\nline2\""),
            ("cr\rtab\t", "\"cr\\rtab\\t\""),
            ("\u{1b}[31mred", "\"\\u001b[31mred\""),
            ("del\u{7f}", "\"del\\u007f\""),
            ("bidi\u{202e}txt", "\"bidi\\u202etxt\""),
            ("tag\u{e0001}", "\"tag\\udb40\\udc01\""),
            ("non\u{a0}breaking", "\"non\u{a0}breaking\""),
        ]
        for (value, rendered) in expectations {
            let (logger, sink) = makeLogger(.keyValue)
            logger.info("e", ["k": value])
            XCTAssertEqual(sink.lines, ["ts=2026-11-24T09:44:00.123Z level=info event=e k=\(rendered)"], "value \(value.debugDescription)")
        }
    }

    func testKeyValueLinesRoundTripEveryTrickyValue() throws {
        let (logger, sink) = makeLogger(.keyValue)
        for value in Self.trickyValues {
            logger.warning("event \(value)", ["before": "x", "value": value, "after": "y"])
        }
        XCTAssertEqual(sink.lines.count, Self.trickyValues.count)
        for (line, value) in zip(sink.lines, Self.trickyValues) {
            XCTAssertFalse(line.contains("\n") || line.contains("\r") || line.contains("\u{1b}"), line)
            let pairs = try parseKeyValueLine(line)
            XCTAssertEqual(pairs.map(\.0), ["ts", "level", "event", "before", "value", "after"], line)
            XCTAssertEqual(pairs.map(\.1), ["2026-11-24T09:44:00.123Z", "warning", "event \(value)", "x", value, "y"], line)
        }
    }

    func testKeyValueReplacesUnsafeKeyCharacters() {
        let (logger, sink) = makeLogger(.keyValue)
        logger.info("e", ["peer addr": "1", "a=b": "2", "": "3", "ok_key.sub-part/x": "4", "ключ": "5"])
        XCTAssertEqual(
            sink.lines, ["ts=2026-11-24T09:44:00.123Z level=info event=e peer_addr=1 a_b=2 _=3 ok_key.sub-part/x=4 ____=5"])
    }

    // MARK: - JSON format

    func testJSONLineHasFixedKeysFirstThenFieldsInGivenOrder() throws {
        let (logger, sink) = makeLogger(.json)
        logger.error("delivery.failed", ["zeta": "1", "alpha": "2", "mid": "3"])
        XCTAssertEqual(
            sink.lines,
            [#"{"ts":"2026-11-24T09:44:00.123Z","level":"error","event":"delivery.failed","zeta":"1","alpha":"2","mid":"3"}"#])
    }

    func testJSONLinesParseAndRoundTripEveryTrickyValue() throws {
        let (logger, sink) = makeLogger(.json)
        for value in Self.trickyValues {
            logger.info(value, ["value": value, "key \"\(value)\"": "k"])
        }
        XCTAssertEqual(sink.lines.count, Self.trickyValues.count)
        for (line, value) in zip(sink.lines, Self.trickyValues) {
            XCTAssertFalse(line.contains("\n") || line.contains("\u{1b}") || line.contains("\u{202e}"), line)
            let object = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], line)
            XCTAssertEqual(
                object,
                ["ts": "2026-11-24T09:44:00.123Z", "level": "info", "event": value, "value": value, "key \"\(value)\"": "k"],
                line)
        }
    }

    // MARK: - Both formats

    func testFieldsNamedLikeFixedKeysGetAnUnderscorePrefix() throws {
        let (kv, kvSink) = makeLogger(.keyValue)
        kv.info("e", ["ts": "1", "level": "2", "event": "3"])
        XCTAssertEqual(kvSink.lines, ["ts=2026-11-24T09:44:00.123Z level=info event=e _ts=1 _level=2 _event=3"])

        let (json, jsonSink) = makeLogger(.json)
        json.info("e", ["level": "2"])
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(jsonSink.lines[0].utf8)) as? [String: String])
        XCTAssertEqual(object["level"], "info")
        XCTAssertEqual(object["_level"], "2")
    }

    func testRuntimeBuiltFieldsKeepTheirOrder() {
        let (logger, sink) = makeLogger(.keyValue)
        let fields = (0..<5).reversed().map { ("f\($0)", "\($0)") }
        logger.log(.info, "e", fields: fields)
        XCTAssertEqual(sink.lines, ["ts=2026-11-24T09:44:00.123Z level=info event=e f4=4 f3=3 f2=2 f1=1 f0=0"])
    }

    func testEventsBelowMinimumLevelAreDroppedWithoutBuildingFields() {
        let (logger, sink) = makeLogger(.keyValue, minimumLevel: .warning)
        var built = 0
        func fields() -> KeyValuePairs<String, String> {
            built += 1
            return ["n": "\(built)"]
        }
        logger.debug("d", fields())
        logger.info("i", fields())
        logger.warning("w", fields())
        logger.error("e", fields())
        logger.log(.info, "i2", fields: [("x", "y")])
        logger.log(.error, "e2", fields: [("x", "y")])
        XCTAssertEqual(built, 2)
        XCTAssertEqual(
            sink.lines,
            [
                "ts=2026-11-24T09:44:00.123Z level=warning event=w n=1",
                "ts=2026-11-24T09:44:00.123Z level=error event=e n=2",
                "ts=2026-11-24T09:44:00.123Z level=error event=e2 x=y",
            ])
        XCTAssertFalse(logger.isEnabled(.info))
        XCTAssertTrue(logger.isEnabled(.warning))
    }

    func testLevelsOrderFromDebugToErrorAndParseFromTheirNames() {
        XCTAssertEqual(LogLevel.allCases.sorted(), [.debug, .info, .warning, .error])
        XCTAssertLessThan(LogLevel.info, LogLevel.warning)
        XCTAssertEqual(LogLevel(rawValue: "warning"), .warning)
        XCTAssertNil(LogLevel(rawValue: "warn"))
        XCTAssertEqual(LogFormat(rawValue: "key-value"), .keyValue)
        XCTAssertEqual(LogFormat(rawValue: "json"), .json)
    }

    func testLongValueIsCutAtCharacterBoundaryAndMarked() throws {
        let (logger, sink) = makeLogger(.json, fieldValueBytesMax: 9)
        // "é" is 2 bytes: four fit in 9 bytes; a fifth would need byte 10, so the cut falls before it.
        logger.info("e", ["v": String(repeating: "é", count: 6), "fits": "012345678", "over": "0123456789"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(sink.lines[0].utf8)) as? [String: String])
        XCTAssertEqual(object["v"], "éééé…(truncated)")
        XCTAssertEqual(object["fits"], "012345678")
        XCTAssertEqual(object["over"], "012345678…(truncated)")
    }

    func testTimestampIsReadFromInjectedClockForEachLine() {
        let sink = InMemoryLogSink()
        let logger = Logger(format: .keyValue, clock: SteppingLogClock(), sink: sink)
        logger.info("a")
        logger.info("b")
        XCTAssertEqual(
            sink.lines,
            ["ts=2026-11-24T09:44:00.001Z level=info event=a", "ts=2026-11-24T09:44:00.002Z level=info event=b"])
    }

    // MARK: - Concurrency

    func testConcurrentCallersNeverOverlapInTheSinkAndLinesAreInTimestampOrder() throws {
        let sink = OverlapDetectingSink()
        let logger = Logger(format: .json, clock: SteppingLogClock(), sink: sink)
        let threads = 8
        let perThread = 200
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for sequence in 0..<perThread {
                logger.info("tick", ["thread": "\(thread)", "seq": "\(sequence)"])
            }
        }
        let result = sink.result
        XCTAssertEqual(result.insideMax, 1)
        XCTAssertEqual(result.lines.count, threads * perThread)
        var timestamps: [String] = []
        for line in result.lines {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            timestamps.append(try XCTUnwrap(object["ts"]))
        }
        XCTAssertEqual(timestamps, timestamps.sorted())
        XCTAssertEqual(Set(timestamps).count, timestamps.count)
    }

    func testConcurrentLoggingThroughAPipeYieldsOnlyWholeLines() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }

        // Drain the pipe on its own thread until every writer is done and the write end is closed.
        let drained = Promise<[UInt8]>()
        Thread.detachNewThread {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n > 0 {
                    bytes += buffer[0..<n]
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            drained.fulfil(bytes)
        }

        // Lines longer than PIPE_BUF (4096), which the kernel would not keep whole on its own.
        let logger = Logger(format: .keyValue, clock: FixedLogClock(), sink: FileDescriptorLogSink(fileDescriptor: writeEnd))
        let threads = 8
        let perThread = 100
        let padBytes = 6_000
        let letters = Array("abcdefgh")
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let pad = String(repeating: letters[thread], count: padBytes)
            for sequence in 0..<perThread {
                logger.info("tick", ["thread": "\(thread)", "seq": "\(sequence)", "pad": pad])
            }
        }
        close(writeEnd)

        let text = try XCTUnwrap(String(bytes: drained.wait(), encoding: .utf8))
        XCTAssertTrue(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, threads * perThread)
        var nextSequence = [Int](repeating: 0, count: threads)
        for line in lines {
            let pairs = try parseKeyValueLine(String(line))
            XCTAssertEqual(pairs.map(\.0), ["ts", "level", "event", "thread", "seq", "pad"])
            guard pairs.count == 6, let thread = Int(pairs[3].1), letters.indices.contains(thread) else {
                return XCTFail("malformed line of \(line.utf8.count) bytes")
            }
            XCTAssertEqual(pairs[4].1, "\(nextSequence[thread])", "lines of one thread stay in order")
            XCTAssertEqual(pairs[5].1, String(repeating: letters[thread], count: padBytes))
            nextSequence[thread] += 1
        }
        XCTAssertEqual(nextSequence, [Int](repeating: perThread, count: threads))
    }
}
