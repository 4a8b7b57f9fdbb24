import XCTest
@testable import Axis

/// The response side: serializing heads, chunked bodies and JSON errors, and the client's parser reading
/// them back.
extension HTTPCodecTests {
    // MARK: Serializer → parser round trip

    private struct Exchange {
        var head: HTTPResponseHead
        var body: [UInt8] = []
        var chunks: [[UInt8]] = []
        var trailers = HTTPHeaders()
    }

    private static let exchanges: [Exchange] = [
        // The first answers a HEAD request: no body although it says how long the GET body would be.
        Exchange(head: HTTPResponseHead(status: .ok, headers: ["Content-Type": "text/plain"], bodyFraming: .noBody)),
        Exchange(head: HTTPResponseHead(status: .continue)),
        Exchange(head: HTTPResponseHead(status: .created, headers: ["Content-Type": "application/json", "Axis-Id": "d-1"],
                                        bodyFraming: .contentLength(12)),
                 body: Array(#"{"id":"d-1"}"#.utf8)),
        Exchange(head: HTTPResponseHead(status: .ok, headers: ["Content-Type": "application/octet-stream"], bodyFraming: .chunked),
                 chunks: [Array("first ".utf8), [UInt8](repeating: 0xFF, count: 300), Array(" last".utf8)],
                 trailers: ["Axis-Sha256": "abc123"]),
        Exchange(head: HTTPResponseHead(status: .noContent)),
        Exchange(head: HTTPResponseHead(status: .notModified, headers: ["ETag": "\"x\""])),
        Exchange(head: HTTPResponseHead(status: .notFound, reasonPhrase: "Nowhere", headers: ["Content-Type": "application/json"],
                                        bodyFraming: .contentLength(2)), body: Array("{}".utf8)),
        Exchange(head: HTTPResponseHead(status: HTTPStatus(299), bodyFraming: .contentLength(0))),
        // The last runs until the server closes.
        Exchange(head: HTTPResponseHead(status: .ok, bodyFraming: .untilClose, keepAlive: false), body: Array("until the end".utf8)),
    ]

    private static func serialize(_ exchanges: [Exchange]) -> [UInt8] {
        var out = [UInt8]()
        for exchange in exchanges {
            exchange.head.write(into: &out)
            out += exchange.body
            for chunk in exchange.chunks { chunk.withUnsafeBytes { HTTPChunkedEncoding.writeChunk($0, into: &out) } }
            if exchange.head.bodyFraming == .chunked { HTTPChunkedEncoding.writeLastChunk(trailers: exchange.trailers, into: &out) }
        }
        return out
    }

    /// The fields a parsed head should have besides those the serializer derives from framing.
    private func visibleFields(_ headers: HTTPHeaders) -> [String] {
        headers.filter { !HTTPMessageFraming.isManagedField($0.nameBytes) }.map { "\($0.name): \($0.value)" }
    }

    func testSerializedResponsesParseBackIdentically() throws {
        let input = Self.serialize(Self.exchanges)
        var parser = HTTPResponseParser()
        parser.setRequestMethod(.head)
        let events = drive(&parser, input, pieces: [0..<input.count])
        XCTAssertEqual(events.map(\.kind), ["head", "end", "head", "end", "head", "body", "end", "head", "body", "end",
                                            "head", "end", "head", "end", "head", "body", "end", "head", "end", "head", "body", "end"])
        let heads = events.compactMap(\.responseHead)
        XCTAssertEqual(heads.count, Self.exchanges.count)
        for (parsed, sent) in zip(heads, Self.exchanges.map(\.head)) {
            XCTAssertEqual(parsed.status, sent.status)
            XCTAssertEqual(parsed.reasonPhrase, sent.reasonPhrase)
            XCTAssertEqual(parsed.version, .http1_1)
            XCTAssertEqual(parsed.bodyFraming, sent.bodyFraming, "\(sent.status)")
            XCTAssertEqual(parsed.keepAlive, sent.keepAlive, "\(sent.status)")
            XCTAssertEqual(visibleFields(parsed.headers), visibleFields(sent.headers))
        }
        let bodies = events.compactMap { event -> [UInt8]? in if case .body(let b) = event { return b } else { return nil } }
        XCTAssertEqual(bodies, [Self.exchanges[2].body, Self.exchanges[3].chunks.flatMap { $0 }, Self.exchanges[6].body,
                                Self.exchanges[8].body])
        let trailers = events.compactMap { event -> HTTPHeaders? in if case .end(let t) = event, !t.isEmpty { return t } else { return nil } }
        XCTAssertEqual(trailers, [Self.exchanges[3].trailers])
        XCTAssertEqual(heads[2].headers["content-length"], "12")
        XCTAssertEqual(heads[3].headers["Transfer-Encoding"], "chunked")
        XCTAssertEqual(heads[8].headers["Connection"], "close")

        for seed in UInt64(1)...200 {
            var rng = SeededRandom(seed: seed)
            var cut = HTTPResponseParser()
            cut.setRequestMethod(.head)
            let pieces = randomPieces(input.count, &rng)
            let again = drive(&cut, input, pieces: pieces)
            if again != events { return XCTFail("seed \(seed), pieces \(pieces): \(again.map(\.kind))") }
        }
        var slow = HTTPResponseParser()
        slow.setRequestMethod(.head)
        XCTAssertEqual(drive(&slow, input, pieces: byteAtATime(input.count)), events)
    }

    func testResponseToHEADHasNoBodyAndTheNextResponseDoes() {
        let input = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc".utf8)
        var parser = HTTPResponseParser()
        parser.setRequestMethod(.head)
        let events = drive(&parser, input, pieces: [0..<input.count])
        XCTAssertEqual(events.map(\.kind), ["head", "end", "head", "body", "end"])
        XCTAssertEqual(events[0].responseHead?.bodyFraming, .noBody)
        XCTAssertEqual(events[3], .body(Array("abc".utf8)))
    }

    func testInterim100KeepsTheRequestMethodForTheFinalResponse() {
        let input = HTTPResponseHead.continueBytes + Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8)
        var parser = HTTPResponseParser()
        parser.setRequestMethod(.head)
        let events = drive(&parser, input, pieces: [0..<input.count])
        XCTAssertEqual(events.map(\.kind), ["head", "end", "head", "end"])
        XCTAssertEqual(events[0].responseHead?.status, .continue)
        XCTAssertEqual(events[2].responseHead?.bodyFraming, .noBody)
    }

    func testHTTP10ResponseWithoutLengthRunsUntilCloseAndDoesNotKeepAlive() {
        let input = Array("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it".utf8)
        var parser = HTTPResponseParser()
        let events = drive(&parser, input, pieces: [0..<4, 4..<30, 30..<input.count])
        XCTAssertEqual(events.map(\.kind), ["head", "body", "end"])
        XCTAssertEqual(events[0].responseHead?.bodyFraming, .untilClose)
        XCTAssertEqual(events[0].responseHead?.keepAlive, false)
        XCTAssertEqual(events[1], .body(Array("all of it".utf8)))
    }

    func testResponseKeepAliveRules() {
        func keepAlive(_ text: String) -> Bool? {
            var parser = HTTPResponseParser()
            let bytes = Array(text.utf8)
            return drive(&parser, bytes, pieces: [0..<bytes.count]).first?.responseHead?.keepAlive
        }
        XCTAssertEqual(keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), true)
        XCTAssertEqual(keepAlive("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), false)
        XCTAssertEqual(keepAlive("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), false)
        XCTAssertEqual(keepAlive("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"), true)
        XCTAssertEqual(keepAlive("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), true, "the reason phrase may be missing")
    }

    func testResponseParserRejectsBadResponsesWith502() {
        let cases: [(String, HTTPError.Code, HTTPLimits)] = [
            ("HTTP/1.1 2OO OK\r\n\r\n", .invalidStatusLine, HTTPLimits()),
            ("HTTP/1.1 200OK\r\n\r\n", .invalidStatusLine, HTTPLimits()),
            ("HTTP/1.1 600 Odd\r\n\r\n", .invalidStatusLine, HTTPLimits()),
            ("HTTP/1.1  200 OK\r\n\r\n", .invalidStatusLine, HTTPLimits()),
            ("ICY 200 OK\r\n\r\n", .invalidStatusLine, HTTPLimits()),
            ("HTTP/1.1 200 OK\n\r\n", .invalidStatusLine, HTTPLimits()),
            ("HTTP/2.0 200 OK\r\n\r\n", .httpVersionNotSupported, HTTPLimits()),
            ("HTTP/1.1 200 " + String(repeating: "O", count: 40) + "\r\n\r\n", .statusLineTooLong, HTTPLimits(startLineBytesMax: 32)),
            ("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", .invalidHeader, HTTPLimits()),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .ambiguousFraming, HTTPLimits()),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferEncoding, HTTPLimits()),
            ("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", .bodyTooLarge, HTTPLimits(bodyBytesMax: 10)),
            ("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "u", count: 11), .bodyTooLarge, HTTPLimits(bodyBytesMax: 10)),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", .truncatedMessage, HTTPLimits()),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", .truncatedMessage, HTTPLimits()),
        ]
        for (text, code, limits) in cases {
            let bytes = Array(text.utf8)
            var whole = HTTPResponseParser(limits: limits)
            let events = drive(&whole, bytes, pieces: [0..<bytes.count])
            XCTAssertEqual(events.last?.error?.code, code, text.debugDescription)
            XCTAssertEqual(events.last?.error?.status, .badGateway, text.debugDescription)
            var slow = HTTPResponseParser(limits: limits)
            XCTAssertEqual(drive(&slow, bytes, pieces: byteAtATime(bytes.count)), events, text.debugDescription)
        }
    }

    func testResponseToHTTP10ClientSaysKeepAliveWhenKept() {
        let head = HTTPResponseHead(status: .ok, bodyFraming: .contentLength(0))
        XCTAssertEqual(String(decoding: head.serialized(peerVersion: .http1_0), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(String(decoding: head.serialized(), as: UTF8.self), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    }

    func testSerializerOwnsFramingAndConnectionFields() {
        let head = HTTPResponseHead(status: .created,
                                    headers: ["Content-Length": "1", "X-A": "a", "transfer-encoding": "gzip", "CONNECTION": "keep-alive"],
                                    bodyFraming: .contentLength(5), keepAlive: false)
        XCTAssertEqual(String(decoding: head.serialized(), as: UTF8.self),
                       "HTTP/1.1 201 Created\r\nX-A: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
    }

    func testChunkedEncodingWritesHexSizesAndNeverAnEmptyChunk() {
        var out = [UInt8]()
        [UInt8]().withUnsafeBytes { HTTPChunkedEncoding.writeChunk($0, into: &out) }
        XCTAssertEqual(out, [])
        [UInt8](repeating: 0x61, count: 255).withUnsafeBytes { HTTPChunkedEncoding.writeChunk($0, into: &out) }
        HTTPChunkedEncoding.writeChunkHeader(byteCount: 4096, into: &out)
        HTTPChunkedEncoding.writeLastChunk(trailers: ["X-T": "1"], into: &out)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertEqual(text, "ff\r\n" + String(repeating: "a", count: 255) + "\r\n1000\r\n0\r\nX-T: 1\r\n\r\n")
    }

    // MARK: Request serializer

    func testSerializedRequestParsesBack() throws {
        let sent = HTTPRequestHead(method: .post, target: "/v1/documents?x=1",
                                   headers: ["Host": "axis:8443", "Axis-From": "000.00.00.G22", "Content-Length": "999", "Expect": "x"],
                                   keepAlive: false, expectsContinue: true, bodyFraming: .contentLength(5))
        let input = sent.serialized() + Array("hello".utf8)
        XCTAssertEqual(String(decoding: sent.serialized(), as: UTF8.self),
                       "POST /v1/documents?x=1 HTTP/1.1\r\nHost: axis:8443\r\nAxis-From: 000.00.00.G22\r\n"
                       + "Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        let events = parse(input)
        XCTAssertEqual(events.map(\.kind), ["head", "body", "end"])
        let head = try XCTUnwrap(events[0].requestHead)
        XCTAssertEqual(head.method, sent.method)
        XCTAssertEqual(head.target, sent.target)
        XCTAssertEqual(head.keepAlive, false)
        XCTAssertEqual(head.expectsContinue, true)
        XCTAssertEqual(head.bodyFraming, .contentLength(5))
        XCTAssertEqual(head.headers["axis-from"], "000.00.00.G22")
    }

    // MARK: JSON errors

    func testErrorJSONBodyIsExact() {
        let error = HTTPError(.contentTooLarge, .bodyTooLarge, "the body exceeds the limit of 10 bytes")
        XCTAssertEqual(String(decoding: error.jsonBody, as: UTF8.self),
                       #"{"error":{"code":"body_too_large","message":"the body exceeds the limit of 10 bytes"}}"#)
        var out = [UInt8]()
        error.writeResponse(into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self),
                       "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 86\r\nConnection: close\r\n\r\n"
                       + #"{"error":{"code":"body_too_large","message":"the body exceeds the limit of 10 bytes"}}"#)
    }

    func testErrorJSONEscapesAndStaysASCII() {
        let error = HTTPError(.unprocessableContent, HTTPError.Code("unknown_recipient"), "recipient \"Café\\01\"\nis unknown")
        XCTAssertEqual(error.jsonBody, Array(#"{"error":{"code":"unknown_recipient","message":"recipient \"Caf\u00e9\\01\"\nis unknown"}}"#.utf8))
        XCTAssertTrue(error.jsonBody.allSatisfy { $0 < 0x80 })
    }

    func testParserErrorBecomesAResponseTheClientReadsBack() throws {
        let refused = parse(lines("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked", "", ""))
        let error = try XCTUnwrap(refused.last?.error)
        var out = [UInt8]()
        error.writeResponse(into: &out, keepAlive: false, peerVersion: .http1_1)
        var client = HTTPResponseParser()
        let events = drive(&client, out, pieces: [0..<out.count])
        XCTAssertEqual(events.map(\.kind), ["head", "body", "end"])
        XCTAssertEqual(events[0].responseHead?.status, .badRequest)
        XCTAssertEqual(events[0].responseHead?.keepAlive, false)
        XCTAssertEqual(events[0].responseHead?.headers["Content-Type"], "application/json")
        XCTAssertEqual(events[1], .body(error.jsonBody))
        let text = String(decoding: error.jsonBody, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"error":{"code":"ambiguous_framing","message":"the message has both Content-Length"#), text)
    }

    // MARK: Headers

    func testHeadersAddSanitizesAndRoundTripsLatin1() {
        var headers = HTTPHeaders()
        headers.add("X-Evil", "a\r\nInjected: yes")
        headers.add("X-Name", "Phélà")
        headers.add("X-Euro", "5 €")
        XCTAssertEqual(headers["x-evil"], "a  Injected: yes")
        XCTAssertEqual(headers.firstValueBytes("X-Name").map(Array.init), [0x50, 0x68, 0xE9, 0x6C, 0xE0])
        XCTAssertEqual(headers["X-Name"], "Phélà")
        XCTAssertEqual(headers.firstValueBytes("X-Euro").map(Array.init), Array("5 €".utf8), "beyond Latin-1: UTF-8")
        let text = String(decoding: HTTPResponseHead(status: .ok, headers: headers).serialized(), as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "\r\n").filter { $0.hasPrefix("Injected") }, [], "no header was injected")
    }

    func testHeadersSetRemoveAndLookup() {
        var headers: HTTPHeaders = ["A": "1", "b": "2", "a": "3"]
        XCTAssertEqual(headers.values("a"), ["1", "3"])
        XCTAssertTrue(headers.contains("B"))
        headers.set("A", "4")
        XCTAssertEqual(headers.map(\.name), ["b", "A"])
        XCTAssertEqual(headers["a"], "4")
        headers.remove("B")
        XCTAssertEqual(headers.map(\.name), ["A"])
        XCTAssertFalse(headers.contains("b"))
        XCTAssertNil(headers["missing"])
    }
}
