import Dispatch
import XCTest
@testable import Axis

/// The metrics library writes exactly the Prometheus text it should (golden strings, checked again by
/// the strict parser), counts exactly under contention, and refuses bad names at registration; the
/// test-side parser refuses malformed texts.
final class MetricsTests: XCTestCase {
    // MARK: Rendering

    func testCountersRenderHelpTypeAndChildrenSortedByLabelValues() throws {
        let registry = MetricsRegistry()
        let accepted = try registry.counter("axis_documents_accepted_total", help: "Documents accepted and journaled.")
        let rejected = try registry.counterFamily("axis_documents_rejected_total", help: "Documents refused, by reason.",
                                                  labels: ["reason"])
        _ = try registry.counterFamily("axis_unused_total", help: "A family whose children were never used.",
                                       labels: ["kind", "outcome"])
        let attempts = try registry.counterFamily("axis_delivery_attempts_total", help: "Delivery attempts by outcome.",
                                                  labels: ["agency_kind", "outcome"])
        accepted.increment()
        accepted.increment(by: 41)
        rejected.labels(["signature"]).increment()
        rejected.labels(["policy"]).increment(by: 2)
        attempts.labels(["ministry", "timeout"]).increment()
        attempts.labels(["court", "delivered"]).increment(by: 7)

        let text = registry.render()
        XCTAssertEqual(text, """
            # HELP axis_documents_accepted_total Documents accepted and journaled.
            # TYPE axis_documents_accepted_total counter
            axis_documents_accepted_total 42
            # HELP axis_documents_rejected_total Documents refused, by reason.
            # TYPE axis_documents_rejected_total counter
            axis_documents_rejected_total{reason="policy"} 2
            axis_documents_rejected_total{reason="signature"} 1
            # HELP axis_unused_total A family whose children were never used.
            # TYPE axis_unused_total counter
            # HELP axis_delivery_attempts_total Delivery attempts by outcome.
            # TYPE axis_delivery_attempts_total counter
            axis_delivery_attempts_total{agency_kind="court",outcome="delivered"} 7
            axis_delivery_attempts_total{agency_kind="ministry",outcome="timeout"} 1

            """)
        let parsed = try PrometheusText.parse(text)
        XCTAssertEqual(parsed.value("axis_documents_accepted_total"), 42)
        XCTAssertEqual(parsed.value("axis_documents_rejected_total", ["reason": "signature"]), 1)
        XCTAssertEqual(parsed.value("axis_delivery_attempts_total", ["agency_kind": "court", "outcome": "delivered"]), 7)
        XCTAssertNil(parsed.value("axis_delivery_attempts_total", ["outcome": "delivered"]))
        XCTAssertEqual(parsed.family("axis_unused_total"),
                       PrometheusText.Family(name: "axis_unused_total", help: "A family whose children were never used.",
                                             type: "counter"))
        XCTAssertTrue(rejected.labels(["signature"]) === rejected.labels(["signature"]), "a child is created once")
    }

    func testGaugesRenderSetValuesAndValuesComputedAtScrapeTime() throws {
        let registry = MetricsRegistry()
        let connections = Locked(3)
        let queue = Locked<[String: Int]>(["queued": 12, "leased": 2])
        let inflight = try registry.gauge("axis_inflight", help: "Requests being served.")
        let ratio = try registry.gaugeFamily("axis_ratio", help: "Assorted values.", labels: ["case"])
        try registry.gauge("axis_http_open_connections", help: "Open HTTP connections.") {
            Double(connections.read { $0 })
        }
        try registry.gauge("axis_queue_deliveries", help: "Deliveries by state.", labels: ["state"]) {
            // Unsorted, one with the wrong label count and one repeat: the last two are left out.
            let current: [([String], Double)] = queue.read { state in state.map { ([$0.key], Double($0.value)) } }
            return current + [(["a", "b"], 1), (["queued"], 99)]
        }
        inflight.set(3)
        inflight.add(2.5)
        inflight.decrement()
        ratio.labels(["half"]).set(0.5)
        ratio.labels(["nan"]).set(.nan)
        ratio.labels(["negative"]).set(-3)
        ratio.labels(["plus_inf"]).set(.infinity)
        ratio.labels(["minus_inf"]).set(-.infinity)
        ratio.labels(["tiny"]).set(1e-05)

        XCTAssertEqual(registry.render(), """
            # HELP axis_inflight Requests being served.
            # TYPE axis_inflight gauge
            axis_inflight 4.5
            # HELP axis_ratio Assorted values.
            # TYPE axis_ratio gauge
            axis_ratio{case="half"} 0.5
            axis_ratio{case="minus_inf"} -Inf
            axis_ratio{case="nan"} NaN
            axis_ratio{case="negative"} -3
            axis_ratio{case="plus_inf"} +Inf
            axis_ratio{case="tiny"} 1e-05
            # HELP axis_http_open_connections Open HTTP connections.
            # TYPE axis_http_open_connections gauge
            axis_http_open_connections 3
            # HELP axis_queue_deliveries Deliveries by state.
            # TYPE axis_queue_deliveries gauge
            axis_queue_deliveries{state="leased"} 2
            axis_queue_deliveries{state="queued"} 12

            """)

        connections.update { $0 = 250 }
        queue.update { $0["queued"] = 0 }
        let parsed = try PrometheusText.parse(registry.render())
        XCTAssertEqual(parsed.value("axis_http_open_connections"), 250, "computed when rendered")
        XCTAssertEqual(parsed.value("axis_queue_deliveries", ["state": "queued"]), 0)
        XCTAssertEqual(parsed.value("axis_ratio", ["case": "plus_inf"]), .infinity)
        XCTAssertEqual(parsed.value("axis_ratio", ["case": "nan"])?.isNaN, true)
    }

    func testHistogramRendersCumulativeBucketsSumAndCount() throws {
        let registry = MetricsRegistry()
        let accept = try registry.histogram("axis_accept_seconds", help: "Time from request to receipt.",
                                            buckets: [0.25, 0.5, 1, 2.5])
        let batch = try registry.histogram("axis_journal_batch_records", help: "Records per journal sync.",
                                           buckets: [1, 8, 64])
        let delivery = try registry.histogramFamily("axis_delivery_seconds", help: "Delivery time by outcome.",
                                                    labels: ["outcome"], buckets: [1])
        for value in [0.25, 0.375, 0.5, 2.5, 10] { accept.observe(value) }
        batch.observe(1)
        batch.observe(64)
        delivery.labels(["failed"]).observe(.milliseconds(1500))
        delivery.labels(["delivered"]).observe(.milliseconds(250))

        let text = registry.render()
        XCTAssertEqual(text, """
            # HELP axis_accept_seconds Time from request to receipt.
            # TYPE axis_accept_seconds histogram
            axis_accept_seconds_bucket{le="0.25"} 1
            axis_accept_seconds_bucket{le="0.5"} 3
            axis_accept_seconds_bucket{le="1"} 3
            axis_accept_seconds_bucket{le="2.5"} 4
            axis_accept_seconds_bucket{le="+Inf"} 5
            axis_accept_seconds_sum 13.625
            axis_accept_seconds_count 5
            # HELP axis_journal_batch_records Records per journal sync.
            # TYPE axis_journal_batch_records histogram
            axis_journal_batch_records_bucket{le="1"} 1
            axis_journal_batch_records_bucket{le="8"} 1
            axis_journal_batch_records_bucket{le="64"} 2
            axis_journal_batch_records_bucket{le="+Inf"} 2
            axis_journal_batch_records_sum 65
            axis_journal_batch_records_count 2
            # HELP axis_delivery_seconds Delivery time by outcome.
            # TYPE axis_delivery_seconds histogram
            axis_delivery_seconds_bucket{outcome="delivered",le="1"} 1
            axis_delivery_seconds_bucket{outcome="delivered",le="+Inf"} 1
            axis_delivery_seconds_sum{outcome="delivered"} 0.25
            axis_delivery_seconds_count{outcome="delivered"} 1
            axis_delivery_seconds_bucket{outcome="failed",le="1"} 0
            axis_delivery_seconds_bucket{outcome="failed",le="+Inf"} 1
            axis_delivery_seconds_sum{outcome="failed"} 1.5
            axis_delivery_seconds_count{outcome="failed"} 1

            """)
        let parsed = try PrometheusText.parse(text)
        XCTAssertEqual(parsed.value("axis_accept_seconds_bucket", ["le": "0.5"]), 3)
        XCTAssertEqual(parsed.value("axis_delivery_seconds_count", ["outcome": "failed"]), 1)
        XCTAssertEqual(accept.count, 5)
        XCTAssertEqual(accept.sum, 13.625)
    }

    func testHistogramCountsAValueEqualToABoundInThatBucket() throws {
        let registry = MetricsRegistry()
        let bounds = [0.001, 0.01, 0.1, 1, 10]
        let histogram = try registry.histogram("axis_journal_sync_seconds", help: "fdatasync time.", buckets: bounds)
        for (index, bound) in bounds.enumerated() {
            XCTAssertEqual(histogram.bucketIndex(bound), index, "\(bound) is ≤ its own bound")
            XCTAssertEqual(histogram.bucketIndex(bound.nextDown), index, "just below \(bound)")
            XCTAssertEqual(histogram.bucketIndex(bound.nextUp), index + 1, "just above \(bound)")
        }
        XCTAssertEqual(histogram.bucketIndex(0), 0)
        XCTAssertEqual(histogram.bucketIndex(-5), 0, "negative values count in the lowest bucket")
        XCTAssertEqual(histogram.bucketIndex(-.infinity), 0)
        XCTAssertEqual(histogram.bucketIndex(1e9), bounds.count, "+Inf")
        XCTAssertEqual(histogram.bucketIndex(.infinity), bounds.count)
        XCTAssertEqual(histogram.bucketIndex(.nan), bounds.count, "NaN counts only in +Inf, as in the Go client")

        // Through observe and render: one value exactly on each bound, one above the last.
        for bound in bounds { histogram.observe(bound) }
        histogram.observe(10.000001)
        let parsed = try PrometheusText.parse(registry.render())
        for (index, bound) in ["0.001", "0.01", "0.1", "1", "10", "+Inf"].enumerated() {
            XCTAssertEqual(parsed.value("axis_journal_sync_seconds_bucket", ["le": bound]), Double(index + 1), "le=\(bound)")
        }

        // No bounds at all: only the +Inf bucket.
        let only = try registry.histogram("axis_only_inf", help: "No bounds.", buckets: [])
        only.observe(.nan)
        XCTAssertEqual(only.bucketIndex(-1), 0)
        let withNaN = try PrometheusText.parse(registry.render())
        XCTAssertEqual(withNaN.value("axis_only_inf_bucket", ["le": "+Inf"]), 1)
        XCTAssertEqual(withNaN.value("axis_only_inf_sum")?.isNaN, true, "a NaN observation makes the sum NaN")
    }

    func testEscapesHelpTextAndLabelValues() throws {
        let registry = MetricsRegistry()
        let help = "Line one\nsays \"quoted\" and back\\slash"
        let family = try registry.counterFamily("axis_escaped_total", help: help, labels: ["value"])
        let awkward = "a\"b\\c\nd"
        family.labels([awkward]).increment()
        family.labels(["grüße — ok"]).increment(by: 2)
        family.labels([""]).increment(by: 3)

        let text = registry.render()
        XCTAssertEqual(text, #"""
            # HELP axis_escaped_total Line one\nsays "quoted" and back\\slash
            # TYPE axis_escaped_total counter
            axis_escaped_total{value=""} 3
            axis_escaped_total{value="a\"b\\c\nd"} 1
            axis_escaped_total{value="grüße — ok"} 2

            """#)
        let parsed = try PrometheusText.parse(text)
        XCTAssertEqual(parsed.family("axis_escaped_total")?.help, help, "HELP reads back to the original")
        XCTAssertEqual(parsed.value("axis_escaped_total", ["value": awkward]), 1, "label value reads back to the original")
        XCTAssertEqual(parsed.value("axis_escaped_total", ["value": "grüße — ok"]), 2)
        XCTAssertEqual(parsed.value("axis_escaped_total", ["value": ""]), 3)
    }

    func testFormatsNumbersAsIntegersWhereIntegralAndOtherwiseShortestRoundTrip() throws {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "0"), (1, "1"), (-3, "-3"), (1_000_000, "1000000"), (0.005, "0.005"),
            (1e-05, "1e-05"), (0.1 + 0.2, "0.30000000000000004"), (123_456.789, "123456.789"),
            (9_007_199_254_740_991, "9007199254740991"), (9_007_199_254_740_992, "9007199254740992"),
            (1e18, "1000000000000000000"), (-9_223_372_036_854_775_808, "-9.223372036854776e+18"), (1e19, "1e+19"),
            (1.5e300, "1.5e+300"), (.leastNonzeroMagnitude, "5e-324"), (.infinity, "+Inf"), (-.infinity, "-Inf"), (.nan, "NaN"),
        ]
        for (value, text) in cases {
            XCTAssertEqual(ExpositionWriter.format(value), text, "\(value)")
        }

        // Any double survives render → parse bit for bit.
        var random = SeededRandom(seed: 7)
        let registry = MetricsRegistry()
        let family = try registry.gaugeFamily("axis_random", help: "Random values.", labels: ["i"])
        var values: [String: Double] = [:]
        for index in 0..<500 {
            let value = Double(bitPattern: random.next())
            guard value.isFinite else { continue }
            values[String(index)] = value
            family.labels([String(index)]).set(value)
        }
        let parsed = try PrometheusText.parse(registry.render())
        for (label, value) in values {
            XCTAssertEqual(parsed.value("axis_random", ["i": label])?.bitPattern, value.bitPattern, "seed 7, i=\(label)")
        }
    }

    func testContentTypeIsTextFormatVersion004() {
        XCTAssertEqual(MetricsRegistry.contentType, "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(MetricsRegistry().render(), "", "an empty registry renders nothing")
    }

    // MARK: Concurrency

    func testConcurrentUpdatesFromManyThreadsSumExactly() throws {
        let registry = MetricsRegistry()
        let counter = try registry.counter("axis_c_total", help: "c")
        let family = try registry.counterFamily("axis_f_total", help: "f", labels: ["parity"])
        let gauge = try registry.gauge("axis_g", help: "g")
        let histogram = try registry.histogram("axis_h", help: "h", buckets: [0.5, 1.5, 2.5])
        let threads = 8
        let perThread = 40_000

        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let child = family.labels([thread % 2 == 0 ? "even" : "odd"])
            for index in 0..<perThread {
                counter.increment()
                child.increment()
                gauge.add(index % 2 == 0 ? 2 : -1)
                histogram.observe(Double(index % 4))
            }
        }

        let total = UInt64(threads * perThread)
        XCTAssertEqual(counter.value, total)
        XCTAssertEqual(family.labels(["even"]).value + family.labels(["odd"]).value, total)
        XCTAssertEqual(family.labels(["even"]).value, total / 2)
        XCTAssertEqual(gauge.value, Double(threads * perThread / 2))
        XCTAssertEqual(histogram.count, total)
        XCTAssertEqual(histogram.sum, Double(threads * perThread / 4 * 6))
        XCTAssertEqual(histogram.cumulativeCounts, [total / 4, total / 2, total / 4 * 3, total])
        let parsed = try PrometheusText.parse(registry.render())
        XCTAssertEqual(parsed.value("axis_c_total"), Double(total))
        XCTAssertEqual(parsed.value("axis_h_bucket", ["le": "+Inf"]), Double(total))
    }

    func testRenderingDuringObservationsAlwaysGivesAConsistentHistogram() throws {
        let registry = MetricsRegistry()
        let histogram = try registry.histogram("axis_h", help: "h", buckets: [1, 2])
        let family = try registry.counterFamily("axis_f_total", help: "f", labels: ["k"])
        let failures = Locked<[String]>([])
        let scrapes = Locked(0)

        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            if worker == 0 {
                for _ in 0..<200 {
                    do {
                        // The parser refuses a +Inf bucket that differs from _count, or non-monotonic buckets.
                        _ = try PrometheusText.parse(registry.render())
                        scrapes.update { $0 += 1 }
                    } catch {
                        failures.update { $0.append("\(error)") }
                    }
                }
            } else {
                for index in 0..<20_000 {
                    histogram.observe(Double(index % 3))
                    family.labels(["w\(worker)-\(index % 5)"]).increment()
                }
            }
        }
        XCTAssertEqual(failures.read { $0 }, [])
        XCTAssertEqual(scrapes.read { $0 }, 200)
        XCTAssertEqual(histogram.count, 60_000)
        XCTAssertEqual(try PrometheusText.parse(registry.render()).samples(named: "axis_f_total").count, 15)
    }

    // MARK: Registration

    func testRefusesInvalidNamesHelpAndBuckets() throws {
        let registry = MetricsRegistry()
        for name in ["", "1abc", "axis-docs", "axis docs", "axis.docs", "axïs", "axis_docs{x=\"1\"}"] {
            assertRefused(try registry.counter(name, help: "h"), "metric name '\(name)'")
        }
        for label in ["", "1x", "__reserved", "a-b", "a:b", "ä"] {
            assertRefused(try registry.counterFamily("axis_ok_total", help: "h", labels: [label]), "label '\(label)'")
        }
        assertRefused(try registry.counterFamily("axis_ok_total", help: "h", labels: ["a", "a"]), "repeated label")
        assertRefused(try registry.histogramFamily("axis_ok", help: "h", labels: ["le"], buckets: [1]), "le on a histogram")
        assertRefused(try registry.gaugeFamily("axis_ok", help: "h", labels: ["le"]), "le on a gauge")
        assertRefused(try registry.counter("axis_ok_total", help: ""), "empty help")
        assertRefused(try registry.histogram("axis_ok", help: "h", buckets: [1, 0.5]), "decreasing buckets")
        assertRefused(try registry.histogram("axis_ok", help: "h", buckets: [1, 1]), "repeated bucket")
        assertRefused(try registry.histogram("axis_ok", help: "h", buckets: [1, .infinity]), "+Inf listed")
        assertRefused(try registry.histogram("axis_ok", help: "h", buckets: [.nan]), "NaN bucket")
        assertRefused(try registry.gauge("bad-name", help: "h") { 1 }, "computed gauge with a bad name")
        XCTAssertEqual(registry.render(), "", "nothing refused was registered")

        // Valid edge cases.
        _ = try registry.counter("_:axis:ok_total", help: "h")
        _ = try registry.gaugeFamily("axis_ok", help: "h", labels: ["_x", "A9"])
        XCTAssertNoThrow(try PrometheusText.parse(registry.render()))
    }

    func testRegisteringTheSameMetricAgainReturnsItAndAClashThrows() throws {
        let registry = MetricsRegistry()
        let counter = try registry.counter("axis_documents_accepted_total", help: "Accepted.")
        XCTAssertTrue(try registry.counter("axis_documents_accepted_total", help: "Accepted.") === counter)
        let family = try registry.counterFamily("axis_rejected_total", help: "Rejected.", labels: ["reason"])
        XCTAssertTrue(try registry.counterFamily("axis_rejected_total", help: "Rejected.", labels: ["reason"]) === family)
        let histogram = try registry.histogram("axis_accept_seconds", help: "Accept.", buckets: [0.1, 1])
        XCTAssertTrue(try registry.histogram("axis_accept_seconds", help: "Accept.", buckets: [0.1, 1]) === histogram)
        try registry.gauge("axis_http_open_connections", help: "Open.") { 0 }
        let before = registry.render()

        assertRefused(try registry.gauge("axis_documents_accepted_total", help: "Accepted."), "another type")
        assertRefused(try registry.counter("axis_documents_accepted_total", help: "Other help."), "other help")
        assertRefused(try registry.counterFamily("axis_documents_accepted_total", help: "Accepted.", labels: ["x"]),
                      "counter as a family")
        assertRefused(try registry.counterFamily("axis_rejected_total", help: "Rejected.", labels: ["cause"]), "other labels")
        assertRefused(try registry.histogram("axis_accept_seconds", help: "Accept.", buckets: [0.1, 2]), "other buckets")
        assertRefused(try registry.gauge("axis_accept_seconds_count", help: "Clash."), "a histogram's sample name")
        assertRefused(try registry.gauge("axis_http_open_connections", help: "Open.") { 1 }, "computed twice")
        _ = try registry.counter("axis_later_sum", help: "A counter.")
        assertRefused(try registry.histogram("axis_later", help: "h", buckets: [1]), "a histogram over a counter's name")
        XCTAssertEqual(registry.render(), before + """
            # HELP axis_later_sum A counter.
            # TYPE axis_later_sum counter
            axis_later_sum 0

            """, "refused registrations leave nothing behind")
    }

    private func assertRefused<T>(_ expression: @autoclosure () throws -> T, _ what: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), "\(what) should be refused", file: file, line: line) { error in
            XCTAssertEqual((error as? AxisError)?.code, .metricsRegistration, "\(what): \(error)", file: file, line: line)
        }
    }

    // MARK: The test-side parser

    func testParserReadsWellFormedTextOfEveryType() throws {
        let parsed = try PrometheusText.parse(#"""
            # HELP up Whether the target answers.
            # TYPE up gauge
            up 1
            # TYPE rpc_seconds summary
            # HELP rpc_seconds RPC latency.
            rpc_seconds{quantile="0.5"} 0.012
            rpc_seconds_sum 17.5
            rpc_seconds_count 1.2e3
            # HELP odd_untyped Something \\ with a backslash.
            # TYPE odd_untyped untyped
            odd_untyped{a="x",b="y\"z"} -.5
            # HELP h_seconds h.
            # TYPE h_seconds histogram
            h_seconds_bucket{path="/a",le="0.1"} 1
            h_seconds_bucket{path="/a",le="+Inf"} 2
            h_seconds_count{path="/a"} 2
            h_seconds_sum{path="/a"} 0.3
            h_seconds_bucket{path="/b",le="+Inf"} 0
            h_seconds_sum{path="/b"} 0
            h_seconds_count{path="/b"} 0
            # HELP empty_total Declared, no samples yet.
            # TYPE empty_total counter

            """#)
        XCTAssertEqual(parsed.samples.count, 12)
        XCTAssertEqual(parsed.families.map(\.name), ["up", "rpc_seconds", "odd_untyped", "h_seconds", "empty_total"])
        XCTAssertEqual(parsed.families.map(\.type), ["gauge", "summary", "untyped", "histogram", "counter"])
        XCTAssertEqual(parsed.family("odd_untyped")?.help, #"Something \ with a backslash."#)
        XCTAssertEqual(parsed.value("rpc_seconds_count"), 1200)
        XCTAssertEqual(parsed.value("odd_untyped", ["a": "x", "b": "y\"z"]), -0.5)
        XCTAssertEqual(parsed.value("h_seconds_bucket", ["path": "/a", "le": "+Inf"]), 2)
        XCTAssertNil(parsed.value("h_seconds_bucket", ["path": "/a"]))
        XCTAssertEqual(try PrometheusText.parse("").samples, [])
    }

    func testParserRefusesMalformedTexts() {
        let head = "# HELP a A.\n# TYPE a counter\n"
        let gauge = "# HELP g G.\n# TYPE g gauge\n"
        let histogram = "# HELP h H.\n# TYPE h histogram\n"
        let cases: [(text: String, error: String)] = [
            (head + "a 1", "does not end with a line feed"),
            ("a 1\n", "no family declared"),
            ("# TYPE a counter\na 1\n", "before both HELP and TYPE"),
            ("# HELP a A.\na 1\n", "before both HELP and TYPE"),
            (head + "a 1\n# HELP a Again.\n", "after its samples"),
            (head + "# TYPE a gauge\n", "second TYPE"),
            ("# HELP a A.\n# HELP a B.\n", "second HELP"),
            ("# HELP a A.\n# TYPE a timer\n", "unknown type"),
            ("# HELP 1a A.\n", "invalid metric name"),
            ("# HELP a\n", "expected one space after the name"),
            ("# a comment\n" + head, "a comment other than"),
            (head + "\na 1\n", "blank line"),
            (head + "a{__x=\"1\"} 1\n", "invalid label name '__x'"),
            (head + "a{1x=\"1\"} 1\n", "invalid label name"),
            (head + "a{x=1} 1\n", "expected =\""),
            (head + "a{x=\"1} 1\n", "unterminated value"),
            (head + "a{x=\"1\"b\"} 1\n", "expected ',' or '}'"),
            (head + "a{x=\"1\",} 1\n", "invalid label name ''"),
            (head + "a{} 1\n", "invalid label name ''"),
            (head + "a{x=\"1\" ,y=\"2\"} 1\n", "expected ',' or '}'"),
            (head + "a{x=\"\\t\"} 1\n", "invalid escape"),
            ("# HELP a Tab \\t.\n", "invalid escape"),
            (head + "a{x=\"1\",x=\"2\"} 1\n", "label 'x' repeated"),
            (head + "a 1,5\n", "invalid value"),
            (head + "a 0x10\n", "invalid value"),
            (head + "a inf\n", "invalid value"),
            (head + "a 1e\n", "invalid value"),
            (head + "a 1 1700000000000\n", "invalid value"),
            (head + "a  1\n", "invalid value"),
            (head + "a 1\r\n", "invalid value"),
            (head + "a1\n", "expected one space before the value"),
            (head + "a{x=\"1\"} 1\na{x=\"1\"} 2\n", "duplicate series"),
            (head + "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n", "duplicate series"),
            (head + "a -1\n", "not ≥ 0"),
            (head + "a NaN\n", "not ≥ 0"),
            (head + "a_total 1\n", "no family declared"),
            (head + "a{x=\"1\"} 1\n" + gauge + "g 1\na{x=\"2\"} 2\n", "appear again"),
            (gauge + "g{le=\"1\"} 1\n", "label 'le'"),
            (histogram + "h 1\n", "use h_bucket"),
            (histogram + "h_bucket 1\nh_sum 1\nh_count 1\n", "without an 'le' label"),
            (histogram + "h_bucket{le=\"x\"} 1\n", "not a float"),
            (histogram + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "fewer than the bucket before"),
            (histogram + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n", "increasing order"),
            (histogram + "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "does not end with a bucket le=\"+Inf\""),
            (histogram + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "but _count is 3"),
            (histogram + "h_bucket{le=\"+Inf\"} 2\nh_count 2\n", "has no _sum"),
            (histogram + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\n", "has no _count"),
            (histogram + "h_sum 1\nh_count 0\n", "has no buckets"),
            (histogram + "h_sum{le=\"1\"} 1\n", "carries an 'le' label"),
            (histogram + "h_bucket{le=\"+Inf\"} -1\n", "not ≥ 0"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try PrometheusText.parse(text), "should refuse: \(text.debugDescription)") { error in
                XCTAssertTrue("\(error)".contains(expected),
                              "refused \(text.debugDescription) with '\(error)', expected '\(expected)'")
            }
        }
    }
}
