import Foundation
import XCTest
@testable import Axis

/// The epoll HTTP server with a small test service, driven by curl and by raw sockets.
final class HTTPServerTests: XCTestCase {
    /// GET /hello → "hello"; POST /echo (≤ `echoBytesMax`) → the body; GET /async → answered from
    /// another thread; POST /refuse → 403 before the body; GET /whoami → the client certificate's
    /// SHA-256; GET /bye → "bye" with `Connection: close`. The client tests use it too.
    struct TestService: HTTPService {
        var echoBytesMax = 64 << 10
        /// How many body streams were opened and closed (each must be closed once, however it ends).
        let streams = Locked((opened: 0, closed: 0))
        var onStreamClosed: @Sendable () -> Void = {}

        func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
            switch (head.method.rawValue, String(head.path)) {
            case ("GET", "/hello"): return .accept(bodyLimit: 0, handler: Fixed(HTTPResponse(status: .ok, body: Array("hello".utf8))))
            case ("GET", "/async"): return .accept(bodyLimit: 0, handler: Later())
            case ("GET", "/whoami"):
                return .accept(bodyLimit: 0, handler: Fixed(HTTPResponse(status: .ok, body: Array((peer.certificate?.fingerprint.hex ?? "none").utf8))))
            case ("GET", "/bye"):
                var response = HTTPResponse(status: .ok, body: Array("bye".utf8))
                response.head.keepAlive = false
                return .accept(bodyLimit: 0, handler: Fixed(response))
            case ("POST", "/echo"): return .accept(bodyLimit: echoBytesMax, handler: Echo())
            case ("GET", "/stream"):
                // 3,000,000 bytes pulled from a stream, as a stored document is served.
                return .accept(bodyLimit: 0, handler: Fixed(HTTPResponse(status: .ok, length: 3_000_000,
                                                                          stream: PatternStream(length: 3_000_000, log: streams, onClose: onStreamClosed))))
            case ("GET", "/stream-broken"):
                // Declares 1 MiB, fails after 200 KiB: the client must not see a complete response.
                return .accept(bodyLimit: 0, handler: Fixed(HTTPResponse(status: .ok, length: 1 << 20,
                                                                          stream: PatternStream(length: 1 << 20, failAfter: 200 << 10, log: streams,
                                                                                               onClose: onStreamClosed))))
            case ("POST", "/refuse"): return .refuse(HTTPError(.forbidden, HTTPError.Code("forbidden"), "not for you"))
            default: return .refuse(HTTPError(.notFound, HTTPError.Code("not_found"), "no such route"))
            }
        }
    }

    /// A fixed response: the library's own `Reply`.
    typealias Fixed = Reply

    final class Later: HTTPRequestHandler {
        func body(_ chunk: UnsafeRawBufferPointer) throws {}
        func end(_ responder: HTTPResponder) {
            DispatchQueue.global().async { responder.respond(HTTPResponse(status: .ok, body: Array("later".utf8))) }
        }
    }

    /// Byte `i` of a pattern stream: what the client checks it received.
    static func patternByte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 31 &+ i >> 16) }

    final class PatternStream: HTTPBodyStream, @unchecked Sendable {
        let length: Int, failAfter: Int?
        let log: Locked<(opened: Int, closed: Int)>
        let onClose: @Sendable () -> Void
        var position = 0

        init(length: Int, failAfter: Int? = nil, log: Locked<(opened: Int, closed: Int)>, onClose: @escaping @Sendable () -> Void) {
            (self.length, self.failAfter, self.log, self.onClose) = (length, failAfter, log, onClose)
            log.update { $0.opened += 1 }
        }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            if let failAfter, position >= failAfter { throw AxisError(.payloadCorrupt, "test stream fails") }
            let n = min(buffer.count, length - position, 10_000)  // odd-sized pieces
            for i in 0..<n { buffer[i] = HTTPServerTests.patternByte(position + i) }
            position += n
            return n
        }

        func close() {
            log.update { $0.closed += 1 }
            onClose()
        }
    }

    final class Echo: HTTPRequestHandler {
        var received: [UInt8] = []
        func body(_ chunk: UnsafeRawBufferPointer) throws { received.append(contentsOf: chunk) }
        func end(_ responder: HTTPResponder) { responder.respond(HTTPResponse(status: .ok, body: received)) }
    }

    func startServer(_ configure: (inout HTTPServer.Options) -> Void = { _ in }) throws -> (HTTPServer, UInt16) {
        try startServer(TestService(), configure)
    }

    func startServer(_ service: TestService, _ configure: (inout HTTPServer.Options) -> Void = { _ in }) throws -> (HTTPServer, UInt16) {
        var options = HTTPServer.Options()
        configure(&options)
        let server = HTTPServer(options: options, service: service)
        let port = try server.start()
        addTeardownBlock { server.stop() }
        return (server, port)
    }

    // MARK: A raw client

    final class RawClient {
        let fd: Int32
        var parser = HTTPResponseParser()
        var pending: [UInt8] = []

        init(port: UInt16) throws { fd = try Socket.connect(host: "127.0.0.1", port: port) }
        deinit { close(fd) }

        func send(_ text: String) { send(Array(text.utf8)) }
        func send(_ bytes: [UInt8]) {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress?.advanced(by: done), $0.count - done, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                done += n
            }
        }

        /// Reads one response (head and body); nil when the server closed first.
        func response() throws -> (head: HTTPResponseHead, body: [UInt8])? {
            var head: HTTPResponseHead?
            var body: [UInt8] = []
            while true {
                // The parser is called even with nothing pending: the end of a message comes from a call of its own.
                while true {
                    let (event, consumed) = pending.withUnsafeBytes { parser.next($0) }
                    var done = false
                    switch event {
                    case .head(let h)?: head = h
                    case .body(let chunk)?: body += chunk
                    case .end?: done = true
                    case .error(let e)?: throw e
                    case nil: break
                    }
                    pending.removeFirst(consumed)
                    if done, let head { return (head, body) }
                    if event == nil { break }
                }
                var buffer = [UInt8](repeating: 0, count: 65536)
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 {
                    if case .end? = parser.finish(), let head { return (head, body) }
                    return nil
                }
                pending += buffer.prefix(n)
            }
        }

        /// True once the server has closed the connection (reads return 0).
        func closedByServer() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n == 0 { return true }
                if n < 0 { return errno == ECONNRESET }
            }
        }
    }

    // MARK: Tests

    func testCurlKeepAliveAndChunkedUpload() throws {
        let (_, port) = try startServer()
        let url = "http://127.0.0.1:\(port)"
        let twice = try runTool("curl", ["-sv", "\(url)/hello", "\(url)/hello"])
        XCTAssertEqual(twice.status, 0, twice.output)
        XCTAssertEqual(twice.output.components(separatedBy: "< HTTP/1.1 200 OK").count - 1, 2, twice.output)
        XCTAssertEqual(try runTool("curl", ["-s", "\(url)/hello", "\(url)/hello"]).output, "hellohello")
        XCTAssertEqual(twice.output.components(separatedBy: "Connected to").count - 1, 1, "one connection for both: \(twice.output)")
        XCTAssertTrue(twice.output.contains("Re-using existing connection"), twice.output)

        let dir = try makeTempDirectory(self, "http")
        var rng = SeededRandom(seed: 3)
        let payload = (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(payload).write(to: URL(fileURLWithPath: dir + "/payload"))
        let echoed = try runTool("curl", ["-s", "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(dir)/payload",
                                          "-o", "\(dir)/echoed", "-w", "%{http_code}", "\(url)/echo"])
        XCTAssertEqual(echoed.output, "200")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/echoed")), Data(payload))
    }

    func testOversizeBodyIsRefusedWith413BeforeItIsRead() throws {
        let (_, port) = try startServer()
        let client = try RawClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        let response = try XCTUnwrap(try client.response())
        XCTAssertEqual(response.head.status, .contentTooLarge)
        let json = String(decoding: response.body, as: UTF8.self)
        XCTAssertTrue(json.hasPrefix("{\"error\":{\"code\":\"body_too_large\""), json)
        XCTAssertTrue(client.closedByServer())
    }

    func testRefusedRoutesAnswerAtOnceWithJSON() throws {
        let (_, port) = try startServer()
        let client = try RawClient(port: port)
        client.send("POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        let response = try XCTUnwrap(try client.response())
        XCTAssertEqual(response.head.status, .forbidden)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "{\"error\":{\"code\":\"forbidden\",\"message\":\"not for you\"}}")
    }

    func testPipelinedRequestsAndAsyncResponsesKeepTheirOrder() throws {
        let (_, port) = try startServer()
        let client = try RawClient(port: port)
        client.send("GET /async HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(try client.response().map { String(decoding: $0.body, as: UTF8.self) }, "later")
        XCTAssertEqual(try client.response().map { String(decoding: $0.body, as: UTF8.self) }, "hello")
        XCTAssertEqual(try client.response().map { String(decoding: $0.body, as: UTF8.self) }, "abc")
    }

    /// A streamed body arrives byte for byte (3 MB: far more than the socket buffers, so the server
    /// must wait for the client to read and come back), the stream is closed, and the connection
    /// then serves the request pipelined behind it.
    func testStreamedBodyArrivesWholeAndTheConnectionGoesOn() throws {
        let service = TestService()
        let (_, port) = try startServer(service)
        let client = try RawClient(port: port)
        client.parser = HTTPResponseParser(limits: { var l = HTTPLimits(); l.bodyBytesMax = 8 << 20; return l }())
        client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let streamed = try XCTUnwrap(try client.response())
        XCTAssertEqual(streamed.head.status, .ok)
        XCTAssertEqual(streamed.body.count, 3_000_000)
        XCTAssertNil(streamed.body.indices.first { streamed.body[$0] != Self.patternByte($0) }, "every byte as the stream made it")
        XCTAssertEqual(try client.response().map { String(decoding: $0.body, as: UTF8.self) }, "hello")
        XCTAssertEqual(service.streams.read { $0.opened }, 1)
        XCTAssertEqual(service.streams.read { $0.closed }, 1)
    }

    /// A stream that fails half-way ends the connection: the client gets fewer bytes than the
    /// Content-Length promised (never a complete-looking response), and the stream is closed.
    func testAStreamThatFailsEndsTheConnectionShortOfItsLength() throws {
        let service = TestService()
        let (_, port) = try startServer(service)
        let client = try RawClient(port: port)
        client.send("GET /stream-broken HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNil(try client.response(), "the server closes before the body it declared is complete")
        XCTAssertTrue(client.closedByServer())
        XCTAssertEqual(service.streams.read { $0.closed }, 1)
    }

    /// A client that closes while a large body is still going out: the stream is closed too.
    func testAClientLeavingMidStreamClosesTheStream() throws {
        var service = TestService()
        let closed = expectation(description: "the stream is closed")
        service.onStreamClosed = { closed.fulfill() }
        let (_, port) = try startServer(service)
        do {
            let client = try RawClient(port: port)
            client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            var buffer = [UInt8](repeating: 0, count: 1000)
            XCTAssertGreaterThan(read(client.fd, &buffer, buffer.count), 0)
        }  // the client is released: its socket closes with most of the body unread
        wait(for: [closed], timeout: 10)
        XCTAssertEqual(service.streams.read { $0.closed }, 1)
    }

    func testExpectContinue() throws {
        let (_, port) = try startServer()
        let client = try RawClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        var interim = [UInt8](repeating: 0, count: HTTPResponseHead.continueBytes.count)
        var got = 0
        while got < interim.count {
            let n = interim.withUnsafeMutableBytes { read(client.fd, $0.baseAddress?.advanced(by: got), $0.count - got) }
            guard n > 0 else { return XCTFail("closed before 100 Continue") }
            got += n
        }
        XCTAssertEqual(interim, HTTPResponseHead.continueBytes)
        client.send("ping")
        XCTAssertEqual(try client.response().map { String(decoding: $0.body, as: UTF8.self) }, "ping")
    }

    func testSlowHeadersAreCutOffWith408() throws {
        let (_, port) = try startServer { $0.headerTimeoutMillis = 300 }
        let client = try RawClient(port: port)
        client.send("GET /hello HTTP/1.1\r\nHo")  // and then nothing: a slowloris
        let response = try XCTUnwrap(try client.response(), "the server answers before closing")
        XCTAssertEqual(response.head.status, .requestTimeout)
        XCTAssertTrue(client.closedByServer())
    }

    func testAThousandIdleKeepAliveConnectionsAreHeldAndServed() throws {
        // Client and server ends both live in this process: 2,000 descriptors and some.
        guard Socket.raiseDescriptorLimit() >= 2_200 else { throw XCTSkip("the open-file hard limit is below 2,200 (ulimit -Hn)") }
        let (server, port) = try startServer { $0.keepAliveIdleMillis = 600_000 }
        var clients: [RawClient] = []
        for _ in 0..<1000 {
            let client = try RawClient(port: port)
            client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(client)
        }
        for client in clients { XCTAssertEqual(try client.response()?.head.status, .ok) }
        XCTAssertEqual(server.connectionCount, 1000)
        // All idle now; each is still served on its open connection.
        for client in clients.reversed() {
            client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try client.response().map { String(decoding: $0.body, as: UTF8.self) }, "hello")
        }
        XCTAssertEqual(server.connectionCount, 1000)
    }

    func testTLSWithARequiredClientCertificateWithCurl() throws {
        let fixture = try TLSFixture.get()
        let (_, port) = try startServer { $0.tls = try? fixture.requiredClientCertificateServer() }
        let agency = fixture.agency
        let ok = try runTool("curl", ["-s", "--cacert", fixture.pki.rootCertificatePath, "--cert", agency.certificatePath,
                                      "--key", agency.keyPath, "https://localhost:\(port)/whoami", "https://localhost:\(port)/hello"])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertEqual(ok.output, agency.fingerprint.hex + "hello")
        let anonymous = try runTool("curl", ["-s", "--cacert", fixture.pki.rootCertificatePath, "https://localhost:\(port)/hello"])
        XCTAssertNotEqual(anonymous.status, 0, "no client certificate, no answer: \(anonymous.output)")
    }
}
