import Foundation
import XCTest
@testable import Axis

/// Axis's HTTP client against the project's epoll server (plain and TLS with a client certificate),
/// against a listener that never answers, and its response assembler on hand-written bytes.
final class HTTPClientTests: XCTestCase {
    func startServer(_ configure: (inout HTTPServer.Options) throws -> Void = { _ in }) throws -> (HTTPServer, UInt16) {
        var options = HTTPServer.Options()
        try configure(&options)
        let server = HTTPServer(options: options, service: HTTPServerTests.TestService(echoBytesMax: 2 << 20))
        let port = try server.start()
        addTeardownBlock { server.stop() }
        return (server, port)
    }

    /// Runs `body`, which must throw an `AxisError`, and returns that error.
    func axisError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> AxisError? {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
        } catch let error as AxisError {
            return error
        } catch {
            XCTFail("expected an AxisError, got \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: Keep-alive, pipelining, large bodies

    func testGetAndPostShareOneKeepAliveConnection() throws {
        let (server, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        defer { client.close() }

        let hello = try client.send(.get("/hello"))
        XCTAssertEqual(hello.status, 200)
        XCTAssertEqual(hello.reason, "OK")
        XCTAssertEqual(hello.bodyText, "hello")
        XCTAssertEqual(hello.header("content-LENGTH"), "5", "header lookup ignores case")
        XCTAssertNil(hello.header("X-Missing"))

        let echoed = try client.send(.post("/echo", headers: [("Content-Type", "application/octet-stream")], body: Array("ping".utf8)))
        XCTAssertEqual(echoed.status, 200)
        XCTAssertEqual(echoed.bodyText, "ping")
        let empty = try client.send(.post("/echo", body: []))
        XCTAssertEqual(empty.status, 200)
        XCTAssertEqual(empty.body, [])
        for _ in 0..<3 { XCTAssertEqual(try client.send(.get("/async")).bodyText, "later") }
        XCTAssertTrue(client.isOpen)
        XCTAssertEqual(server.connectionCount, 1, "every request went over the one kept-alive connection")

        let missing = try client.send(.get("/nowhere?x=1"))
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(missing.bodyText.contains("not_found"), missing.bodyText)
        XCTAssertFalse(client.isOpen, "the server closes after refusing a request, and says so")
    }

    func testTenPipelinedRequestsAreAnsweredInOrder() throws {
        let (server, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        defer { client.close() }
        let requests: [HTTPClientRequest] = (0..<10).map { i in
            switch i % 3 {
            case 0: return .get("/async")
            case 1: return .post("/echo", body: Array("body \(i)".utf8))
            default: return .get("/hello")
            }
        }
        let responses = try client.pipeline(requests)
        XCTAssertEqual(responses.map(\.bodyText), (0..<10).map { i in ["later", "body \(i)", "hello"][i % 3] })
        XCTAssertEqual(responses.map(\.status), Array(repeating: 200, count: 10))
        XCTAssertTrue(client.isOpen)
        XCTAssertEqual(server.connectionCount, 1)
        XCTAssertEqual(try client.pipeline([]).count, 0)
    }

    func testPipelinedMebibyteBodiesComeBackInOrder() throws {
        // 8 × 1 MiB each way, more than the socket buffers hold: the client reads responses that arrive
        // while it is still writing the batch.
        let (_, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        defer { client.close() }
        var rng = SeededRandom(seed: 11)
        let base = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let bodies = (0..<8).map { i -> [UInt8] in
            var body = base
            body[0] = UInt8(i)
            body[body.count - 1] = UInt8(i)
            return body
        }
        let responses = try client.pipeline(bodies.map { .post("/echo", body: $0) })
        XCTAssertEqual(responses.count, 8)
        for (i, (response, body)) in zip(responses, bodies).enumerated() { XCTAssertTrue(response.body == body, "response \(i) differs") }
        XCTAssertTrue(client.isOpen)
    }

    func testOneMebibyteBodyIsEchoedWholeAndStreamed() throws {
        let (server, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        defer { client.close() }
        var rng = SeededRandom(seed: 7)
        let payload = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }

        let whole = try client.send(.post("/echo", body: payload))
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(whole.header("Content-Length"), "\(payload.count)")
        XCTAssertTrue(whole.body == payload, "the 1 MiB echo differs")

        let streamed = try client.send(head: HTTPClientRequest(method: .post, target: "/echo"), bodyLength: payload.count) { write in
            try payload.withUnsafeBytes { all in
                for start in stride(from: 0, to: all.count, by: 60_000) {
                    try write(UnsafeRawBufferPointer(rebasing: all[start..<min(start + 60_000, all.count)]))
                }
            }
        }
        XCTAssertTrue(streamed.body == payload, "the streamed 1 MiB echo differs")
        XCTAssertEqual(server.connectionCount, 1)
    }

    func testStreamedBodyShorterThanAnnouncedIsRefusedAndCloses() throws {
        let (_, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        let error = axisError {
            _ = try client.send(head: HTTPClientRequest(method: .post, target: "/echo"), bodyLength: 10) { write in
                try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try write($0) }
            }
        }
        XCTAssertEqual(error?.code, .usage)
        XCTAssertTrue(error?.message.contains("4 of the 10 bytes") ?? false, "\(String(describing: error))")
        XCTAssertFalse(client.isOpen)
    }

    func testResponseBodyOverTheLimitIsRefusedAndCloses() throws {
        let (_, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        client.responseBodyLimit = 1000
        XCTAssertEqual(try client.send(.post("/echo", body: [UInt8](repeating: 7, count: 1000))).body.count, 1000)
        let error = axisError { _ = try client.send(.post("/echo", body: [UInt8](repeating: 7, count: 1001))) }
        XCTAssertEqual(error?.code, .limitExceeded)
        XCTAssertTrue(error?.message.contains("responseBodyLimit (1000 bytes)") ?? false, "\(String(describing: error))")
        XCTAssertFalse(client.isOpen)
    }

    // MARK: Closing

    func testServerClosingMakesTheClientClosedAndTheNextSendFails() throws {
        let (server, port) = try startServer()

        // The server answers with `Connection: close`.
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        let bye = try client.send(.get("/bye"))
        XCTAssertEqual(bye.bodyText, "bye")
        XCTAssertEqual(bye.header("Connection"), "close")
        XCTAssertFalse(bye.keepAlive)
        XCTAssertFalse(client.isOpen)
        let afterBye = axisError { _ = try client.send(.get("/hello")) }
        XCTAssertEqual(afterBye?.code, .connectionClosed)
        XCTAssertTrue(afterBye?.message.contains("127.0.0.1:\(port) is closed") ?? false, "\(String(describing: afterBye))")

        // The caller asks for it with `Connection: close`.
        let asking = try HTTPClient(host: "127.0.0.1", port: port)
        XCTAssertEqual(try asking.send(.get("/hello", headers: [("Connection", "close")])).bodyText, "hello")
        XCTAssertFalse(asking.isOpen)

        // The server goes away while the connection is idle.
        let idle = try HTTPClient(host: "127.0.0.1", port: port)
        XCTAssertEqual(try idle.send(.get("/hello")).bodyText, "hello")
        XCTAssertTrue(idle.isOpen)
        server.stop()
        let afterStop = axisError { _ = try idle.send(.get("/hello")) }
        XCTAssertEqual(afterStop?.code, .connectionClosed)
        XCTAssertTrue(afterStop?.message.contains("while it was idle") ?? false, "\(String(describing: afterStop))")
        XCTAssertFalse(idle.isOpen)

        // And `close()` on our side.
        let (_, port2) = try startServer()
        let closing = try HTTPClient(host: "127.0.0.1", port: port2)
        closing.close()
        closing.close()
        XCTAssertFalse(closing.isOpen)
        XCTAssertEqual(axisError { _ = try closing.pipeline([.get("/hello")]) }?.code, .connectionClosed)
    }

    func testPipelineCutShortByConnectionCloseSaysHowManyWentUnanswered() throws {
        let (_, port) = try startServer()
        let client = try HTTPClient(host: "127.0.0.1", port: port)
        let error = axisError { _ = try client.pipeline([.get("/hello"), .get("/bye"), .get("/hello"), .get("/hello")]) }
        XCTAssertEqual(error?.code, .connectionClosed)
        XCTAssertTrue(error?.message.contains("2 of the 4 requests") ?? false, "\(String(describing: error))")
        XCTAssertFalse(client.isOpen)
    }

    // MARK: Failures and time-outs

    func testServerThatNeverAnswersTimesOut() throws {
        // A listener nobody accepts from: the kernel completes the TCP handshake, then nothing.
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { close(listener) }
        let port = try Socket.localPort(listener)

        let client = try HTTPClient(host: "127.0.0.1", port: port, timeoutMillis: 300)
        let error = axisError { _ = try client.send(.get("/hello")) }
        XCTAssertEqual(error?.code, .timedOut)
        XCTAssertTrue(error?.message.contains("127.0.0.1:\(port) did not respond in time: waiting for the response took longer than 300 ms") ?? false,
                      "\(String(describing: error))")
        XCTAssertFalse(client.isOpen, "a late response must never be read as the answer to a later request")

        let fixture = try TLSFixture.get()
        let handshake = axisError {
            _ = try HTTPClient(host: "127.0.0.1", port: port, tls: try fixture.clientContext(), serverName: "localhost", timeoutMillis: 300)
        }
        XCTAssertEqual(handshake?.code, .timedOut)
        XCTAssertTrue(handshake?.message.contains("the TLS handshake took longer than 300 ms") ?? false, "\(String(describing: handshake))")
    }

    func testNothingListeningIsAConnectionFailure() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        let port = try Socket.localPort(listener)
        close(listener)
        let error = axisError { _ = try HTTPClient(host: "127.0.0.1", port: port, timeoutMillis: 2_000) }
        XCTAssertEqual(error?.code, .connectionFailed)
        XCTAssertEqual(error?.errno, ECONNREFUSED)
        XCTAssertTrue(error?.message.contains("cannot connect to 127.0.0.1:\(port)") ?? false, "\(String(describing: error))")
        XCTAssertEqual(axisError { _ = try HTTPClient(host: "localhost", port: port) }?.code, .config, "IPv4 addresses only")
    }

    func testStartConnectReportsConnectedOrInProgressAndTheOutcome() throws {
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { close(listener) }
        let port = try Socket.localPort(listener)
        let fd: Int32
        switch try Socket.startConnect(host: "127.0.0.1", port: port) {
        case .connected(let socket), .inProgress(let socket): fd = socket
        case .failed(let code): return XCTFail("connect to a listener failed: errno \(code)")
        }
        defer { close(fd) }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        XCTAssertEqual(poll(&p, 1, 10_000), 1)
        XCTAssertEqual(Socket.connectError(fd), 0)
        XCTAssertNotEqual(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "the socket is non-blocking")
    }

    // MARK: TLS

    func testTLSWithAClientCertificateOnOneConnection() throws {
        let fixture = try TLSFixture.get()
        let (server, port) = try startServer { $0.tls = try fixture.requiredClientCertificateServer() }
        let client = try HTTPClient(host: "127.0.0.1", port: port, tls: try fixture.clientContext(), serverName: "localhost")
        defer { client.close() }
        XCTAssertEqual(client.peerCertificate?.subject.values(of: "CN"), ["localhost"])

        let whoami = try client.send(.get("/whoami"))
        XCTAssertEqual(whoami.status, 200)
        XCTAssertEqual(whoami.bodyText, fixture.agency.fingerprint.hex, "the server saw the client's certificate")
        let responses = try client.pipeline([.get("/hello"), .post("/echo", body: Array("over TLS".utf8))])
        XCTAssertEqual(responses.map(\.bodyText), ["hello", "over TLS"])
        XCTAssertEqual(server.connectionCount, 1)

        // The server is checked too: a name its certificate does not carry is refused.
        let wrongName = axisError {
            _ = try HTTPClient(host: "127.0.0.1", port: port, tls: try fixture.clientContext(), serverName: "elsewhere.example")
        }
        XCTAssertEqual(wrongName?.code, .tlsHandshake)
        XCTAssertTrue(wrongName?.message.contains("elsewhere.example") ?? false, "\(String(describing: wrongName))")
    }

    func testTLSWithoutAClientCertificateIsRefusedByTheServer() throws {
        let fixture = try TLSFixture.get()
        let (_, port) = try startServer { $0.tls = try fixture.requiredClientCertificateServer() }
        // Under TLS 1.3 the client finishes its handshake before the server checks for a certificate,
        // so the refusal may come with the handshake or with the first read.
        let error = axisError {
            let client = try HTTPClient(host: "127.0.0.1", port: port, tls: try fixture.anonymousClientContext(), serverName: "localhost",
                                        timeoutMillis: 10_000)
            _ = try client.send(.get("/hello"))
        }
        XCTAssertTrue([.tlsHandshake, .tlsConnection, .connectionClosed, .connectionFailed].contains(error?.code),
                      "\(String(describing: error))")
    }

    // MARK: The assembler, without sockets

    func testAssemblerMatchesHEADInterimAndChunkedResponsesToTheirRequests() throws {
        var assembler = HTTPResponseAssembler(bodyBytesMax: 1 << 20)
        assembler.requestSent(.head)
        assembler.requestSent(.post)
        assembler.requestSent(.get)
        let wire = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"                 // HEAD: no body follows
            + "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"
        // Fed a byte at a time: the result must not depend on how reads cut the stream.
        for byte in Array(wire.utf8) { try [byte].withUnsafeBytes { try assembler.receive($0) } }
        let head = try XCTUnwrap(assembler.takeResponse())
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), "12")
        XCTAssertEqual(head.body, [])
        let created = try XCTUnwrap(assembler.takeResponse())
        XCTAssertEqual(created.status, 201, "the interim 100 is skipped")
        XCTAssertEqual(created.bodyText, "ok")
        let chunked = try XCTUnwrap(assembler.takeResponse())
        XCTAssertEqual(chunked.bodyText, "abcde")
        XCTAssertEqual(chunked.trailers["x-sum"], "5")
        XCTAssertNil(assembler.takeResponse())
        XCTAssertEqual(assembler.awaiting, 0)
        XCTAssertFalse(assembler.isEnded)
        try assembler.peerClosed()
    }

    func testAssemblerEndsReadUntilCloseBodiesAndRefusesWhatNoRequestAsked() throws {
        var untilClose = HTTPResponseAssembler(bodyBytesMax: 100)
        untilClose.requestSent(.get)
        try Array("HTTP/1.1 200 OK\r\n\r\nall of it".utf8).withUnsafeBytes { try untilClose.receive($0) }
        XCTAssertNil(untilClose.takeResponse(), "the body runs until the server closes")
        try untilClose.peerClosed()
        XCTAssertEqual(untilClose.takeResponse()?.bodyText, "all of it")
        XCTAssertTrue(untilClose.isEnded)

        var unasked = HTTPResponseAssembler(bodyBytesMax: 100)
        XCTAssertThrowsError(try Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8).withUnsafeBytes { try unasked.receive($0) }) {
            XCTAssertEqual($0 as? HTTPResponseAssembler.Failure, .unsolicited(status: 200))
        }

        var cut = HTTPResponseAssembler(bodyBytesMax: 100)
        cut.requestSent(.get)
        cut.requestSent(.get)
        try Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab".utf8).withUnsafeBytes { try cut.receive($0) }
        XCTAssertThrowsError(try cut.peerClosed()) {
            guard case .invalid(let error)? = $0 as? HTTPResponseAssembler.Failure else { return XCTFail("\($0)") }
            XCTAssertEqual(error.code, .truncatedMessage)
        }

        var tooLarge = HTTPResponseAssembler(bodyBytesMax: 4)
        tooLarge.requestSent(.get)
        XCTAssertThrowsError(try Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8).withUnsafeBytes { try tooLarge.receive($0) }) {
            guard case .invalid(let error)? = $0 as? HTTPResponseAssembler.Failure else { return XCTFail("\($0)") }
            XCTAssertEqual(error.code, .bodyTooLarge)
        }
    }
}
