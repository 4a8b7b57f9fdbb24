import XCTest
@testable import Axis

/// Endpoint URLs from the directory: plain https URLs only, everything else refused with a reason.
final class PushEndpointTests: XCTestCase {
    func testValidEndpoints() throws {
        XCTAssertEqual(try PushEndpoint.parse("https://docs.example.gov.vn/axis/inbox"),
                       PushEndpoint(host: "docs.example.gov.vn", port: 443, target: "/axis/inbox"))
        XCTAssertEqual(try PushEndpoint.parse("HTTPS://Docs.Example.gov.vn:8443"),
                       PushEndpoint(host: "docs.example.gov.vn", port: 8443, target: "/"))
        XCTAssertEqual(try PushEndpoint.parse("https://10.1.2.3:9000?agency=H29"),
                       PushEndpoint(host: "10.1.2.3", port: 9000, target: "/?agency=H29"))
        XCTAssertEqual(try PushEndpoint.parse("https://h29.example/in?x=1").description, "https://h29.example/in?x=1")
        XCTAssertEqual(try PushEndpoint.parse("https://h29.example:8443/in").description, "https://h29.example:8443/in")
    }

    func testRefusedEndpointsSayWhy() {
        let cases: [(String, String)] = [
            ("http://h29.example/in", "is not an https URL"),
            ("ftp://h29.example/", "is not an https URL"),
            ("https://user:pw@h29.example/", "user information"),
            ("https://h29.example/in#part", "fragment"),
            ("https://h29.example:0/", "port"),
            ("https://h29.example:99999/", "port"),
            ("https://h29.example:abc/", "port"),
            ("https:///in", "no host"),
            ("https://[::1]:8443/", "not a DNS name or IPv4"),
            ("https://h29.example/in put", "spaces"),
            ("https://h29.example/ở", "non-ASCII"),
            ("https://h29.example/" + String(repeating: "a", count: 3000), "longer than"),
        ]
        for (url, reason) in cases {
            XCTAssertThrowsError(try PushEndpoint.parse(url), url) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(reason), "\(url): \(message)")
                XCTAssertTrue(message.contains("correct the agency's endpoint"), "\(url): the fix is named: \(message)")
            }
        }
    }

    func testResolution() throws {
        XCTAssertEqual(try PushEndpoint.parse("https://127.0.0.1:1/").resolveIPv4(), "127.0.0.1")
        XCTAssertEqual(try PushEndpoint.parse("https://localhost:1/").resolveIPv4(), "127.0.0.1")
        XCTAssertThrowsError(try PushEndpoint.parse("https://no-such-host.invalid/").resolveIPv4()) { error in
            XCTAssertTrue("\(error)".contains("could not resolve no-such-host.invalid"), "\(error)")
        }
    }
}
