import XCTest
@testable import Axis

/// /healthz through its states, and /metrics served as given, over a real plain-HTTP listener.
final class OpsServiceTests: XCTestCase {
    func testHealthGoesStartingReadyStoppingAndAFailureIsFinal() throws {
        let ops = OpsService(metrics: { "# HELP axis_x X.\n# TYPE axis_x counter\naxis_x 3\n" })
        let server = HTTPServer(options: HTTPServer.Options(), service: ops)
        let port = try server.start()
        defer { server.stop() }
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        func health() throws -> (Int, String) {
            let response = try client.send(.get("/healthz"))
            return (response.status, response.bodyText)
        }
        XCTAssertEqual(try health().0, 503)
        XCTAssertEqual(try health().1, #"{"status":"starting"}"#)
        ops.setHealth(.ready)
        XCTAssertEqual(try health().0, 200)
        XCTAssertEqual(try health().1, #"{"status":"ready"}"#)
        ops.setHealth(.failed("journal: disk full"))
        XCTAssertEqual(try health().0, 503)
        XCTAssertEqual(try health().1, #"{"status":"failed","reason":"journal: disk full"}"#)
        ops.setHealth(.ready)
        XCTAssertEqual(try health().1, #"{"status":"failed","reason":"journal: disk full"}"#, "only a restart clears a failure")

        let other = OpsService(metrics: { "" })
        other.setHealth(.stopping)
        XCTAssertEqual(other.currentHealth, .stopping)

        let metrics = try client.send(.get("/metrics"))
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(metrics.header("Content-Type"), MetricsRegistry.contentType)
        XCTAssertEqual(try PrometheusText.parse(metrics.bodyText).value("axis_x"), 3)
        XCTAssertEqual(try client.send(.post("/metrics", body: [])).status, 405)
    }
}
