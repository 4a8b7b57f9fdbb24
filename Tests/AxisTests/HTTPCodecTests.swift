import XCTest
@testable import Axis

/// The HTTP/1.1 codec: request parsing and its strictness rules here; chunked bodies, pipelining,
/// read-size independence and streaming in `HTTPCodecStreamingTests.swift`; the response side, the
/// serializers and the JSON error body in `HTTPCodecResponseTests.swift`.
final class HTTPCodecTests: XCTestCase {
    // MARK: Basic requests

    func testParsesGetWithHeadersInOrderAndCaseInsensitiveLookup() throws {
        let events = parse(lines("GET /v1/inbox?limit=5&wait=30 HTTP/1.1", "Host: axis.example:8443",
                                 "Accept: application/json", "X-Trace:  abc  ", "x-trace: second", "", ""))
        XCTAssertEqual(events.count, 2)
        let head = try XCTUnwrap(events.first?.requestHead)
        XCTAssertEqual(head.method, .get)
        XCTAssertEqual(head.target, "/v1/inbox?limit=5&wait=30")
        XCTAssertEqual(head.path, "/v1/inbox")
        XCTAssertEqual(head.query, "limit=5&wait=30")
        XCTAssertEqual(head.version, .http1_1)
        XCTAssertEqual(head.headers.map(\.name), ["Host", "Accept", "X-Trace", "x-trace"])
        XCTAssertEqual(head.headers["HOST"], "axis.example:8443")
        XCTAssertEqual(head.headers["x-TRACE"], "abc", "the first value, without surrounding whitespace")
        XCTAssertEqual(head.headers.values("X-Trace"), ["abc", "second"])
        XCTAssertNil(head.headers["Content-Length"])
        XCTAssertTrue(head.keepAlive)
        XCTAssertFalse(head.expectsContinue)
        XCTAssertEqual(head.bodyFraming, .noBody)
        XCTAssertEqual(events.last, .end(HTTPHeaders()))
    }

    func testParsesContentLengthBody() throws {
        let events = parse(lines("POST /v1/documents HTTP/1.1", "Host: a", "Content-Length: 11", "", "hello world"))
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events[0].requestHead?.method, .post)
        XCTAssertEqual(events[0].requestHead?.bodyFraming, .contentLength(11))
        XCTAssertEqual(events[1], .body(Array("hello world".utf8)))
        XCTAssertEqual(events[2], .end(HTTPHeaders()))
    }

    func testZeroContentLengthGivesHeadThenEnd() {
        let events = parse(lines("POST /x HTTP/1.1", "Host: a", "Content-Length: 0", "", ""))
        XCTAssertEqual(events.count, 2)
        XCTAssertEqual(events[0].requestHead?.bodyFraming, .contentLength(0))
        XCTAssertEqual(events[1], .end(HTTPHeaders()))
    }

    func testKeepsLatin1HeaderBytesAndDecodesThemAsLatin1() throws {
        var bytes = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Name: Ph".utf8)
        bytes += [0xE9, 0x6C, 0xE0]  // "Phélà" in ISO-8859-1
        bytes += Array("\r\n\r\n".utf8)
        let head = try XCTUnwrap(parse(bytes).first?.requestHead)
        XCTAssertEqual(head.headers.firstValueBytes("x-name").map(Array.init), [0x50, 0x68, 0xE9, 0x6C, 0xE0])
        XCTAssertEqual(head.headers["X-Name"], "Phélà")
    }

    func testAcceptsEmptyValueAndTabsAsWhitespace() throws {
        let head = try XCTUnwrap(parse(lines("GET / HTTP/1.1", "Host: a", "X-Empty:", "X-Tab:\tv\t1\t", "", "")).first?.requestHead)
        XCTAssertEqual(head.headers["X-Empty"], "")
        XCTAssertEqual(head.headers["X-Tab"], "v\t1")
    }

    func testIgnoresEmptyLinesBeforeTheRequestLine() {
        let events = parse(Array("\r\n\r\n".utf8) + lines("GET / HTTP/1.1", "Host: a", "", ""))
        XCTAssertEqual(events.first?.requestHead?.target, "/")
        XCTAssertEqual(events.last, .end(HTTPHeaders()))
        let tooMany = String(repeating: "\r\n", count: HTTPRequestRole.leadingEmptyLinesMax + 1)
        assertRejected(Array(tooMany.utf8) + lines("GET / HTTP/1.1", "Host: a", "", ""), .invalidRequestLine, 400)
    }

    func testAcceptsAbsoluteFormAsteriskForOptionsAndUnknownMethods() throws {
        let absolute = try XCTUnwrap(parse(lines("GET http://axis.example/v1/inbox?limit=2 HTTP/1.1", "Host: axis.example", "", "")).first?.requestHead)
        XCTAssertEqual(absolute.path, "/v1/inbox")
        XCTAssertEqual(absolute.query, "limit=2")
        let bare = try XCTUnwrap(parse(lines("GET http://axis.example HTTP/1.1", "Host: axis.example", "", "")).first?.requestHead)
        XCTAssertEqual(bare.path, "/")
        let options = try XCTUnwrap(parse(lines("OPTIONS * HTTP/1.1", "Host: a", "", "")).first?.requestHead)
        XCTAssertEqual(options.method, .options)
        XCTAssertEqual(options.target, "*")
        let custom = try XCTUnwrap(parse(lines("PROPFIND /x HTTP/1.1", "Host: a", "", "")).first?.requestHead)
        XCTAssertEqual(custom.method, HTTPMethod(rawValue: "PROPFIND"))
    }

    func testTreatsHigherHTTP1MinorVersionAsHTTP11() throws {
        let head = try XCTUnwrap(parse(lines("GET / HTTP/1.2", "Host: a", "", "")).first?.requestHead)
        XCTAssertEqual(head.version, HTTPVersion(major: 1, minor: 2))
        XCTAssertTrue(head.keepAlive)
    }

    // MARK: Request line (400, 505)

    func testRejectsMalformedRequestLinesWith400() {
        let bad = [
            "GET  / HTTP/1.1",        // two spaces after the method
            "GET /  HTTP/1.1",        // two spaces after the target
            "GET / HTTP/1.1 ",        // trailing space
            "GET /",                  // no version (HTTP/0.9 style)
            "GET",                    // method only
            " GET / HTTP/1.1",        // leading space
            "G(T / HTTP/1.1",         // not a token
            "GET\t/ HTTP/1.1",        // tab as separator
            "GET / http/1.1",         // version is case-sensitive
            "GET / HTTP/1.10",        // two-digit minor
            "GET / HTTP/11",          // no dot
            "GET foo HTTP/1.1",       // target not a path
            "GET * HTTP/1.1",         // '*' only for OPTIONS
            "GET /a\u{7F}b HTTP/1.1", // DEL in the target
            "GET /a\rb HTTP/1.1",     // bare CR in the target
        ]
        for line in bad {
            assertRejected(lines(line, "Host: a", "", ""), .invalidRequestLine, 400, "\(line.debugDescription)")
        }
        var nonASCII = Array("GET /caf".utf8)
        nonASCII += [0xC3, 0xA9]
        nonASCII += Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        assertRejected(nonASCII, .invalidRequestLine, 400)
    }

    func testRejectsRequestLineEndingInBareLF() {
        assertRejected(Array("GET / HTTP/1.1\nHost: a\r\n\r\n".utf8), .invalidRequestLine, 400, messageContains: "bare LF")
    }

    func testRejectsUnsupportedVersionsWith505() {
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.1"] {
            assertRejected(lines("GET / \(version)", "Host: a", "", ""), .httpVersionNotSupported, 505, messageContains: version)
        }
    }

    // MARK: Header lines (400)

    func testRejectsMalformedHeaderLinesWith400() {
        let cases: [(String, String)] = [
            ("NoColon", "no colon"),
            ("Name : value", "whitespace between"),
            ("Name\t: value", "whitespace between"),
            (": value", "empty name"),
            ("Na(me: value", "'('"),
            ("X-Null: a\u{0}b", "0x00"),
            ("X-Del: a\u{7F}b", "0x7F"),
            ("X-CR: a\rb", "0x0D"),
            ("X-Ctl: a\u{1}b", "0x01"),
        ]
        for (line, fragment) in cases {
            assertRejected(lines("GET / HTTP/1.1", "Host: a", line, "", ""), .invalidHeader, 400,
                           "\(line.debugDescription)", messageContains: fragment)
        }
    }

    func testRejectsObsoleteLineFolding() {
        assertRejected(lines("GET / HTTP/1.1", "Host: a", "X-Long: part one", " part two", "", ""),
                       .invalidHeader, 400, messageContains: "obsolete line folding")
        assertRejected(lines("GET / HTTP/1.1", "\tHost: a", "", ""), .invalidHeader, 400, messageContains: "obsolete line folding")
    }

    func testRejectsHeaderLineEndingInBareLF() {
        assertRejected(Array("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n".utf8), .invalidHeader, 400, messageContains: "bare LF")
        assertRejected(Array("GET / HTTP/1.1\r\nHost: a\r\n\n".utf8), .invalidHeader, 400, messageContains: "bare LF")
    }

    // MARK: Host (400)

    func testRequiresExactlyOneValidHostInHTTP11() {
        assertRejected(lines("GET / HTTP/1.1", "Accept: */*", "", ""), .invalidHost, 400, messageContains: "needs a Host")
        assertRejected(lines("GET / HTTP/1.1", "Host: a", "Host: b", "", ""), .invalidHost, 400, messageContains: "more than one")
        assertRejected(lines("GET / HTTP/1.0", "Host: a", "host: a", "", ""), .invalidHost, 400)
        assertRejected(lines("GET / HTTP/1.1", "Host: a b", "", ""), .invalidHost, 400)
        assertRejected(lines("GET / HTTP/1.1", "Host: a/b", "", ""), .invalidHost, 400)
        XCTAssertNotNil(parse(lines("GET / HTTP/1.0", "", "")).first?.requestHead, "HTTP/1.0 needs no Host")
        XCTAssertEqual(parse(lines("GET / HTTP/1.1", "Host: [::1]:8443", "", "")).last, .end(HTTPHeaders()))
    }

    // MARK: Framing (400 smuggling, 501)

    func testRejectsContentLengthWithTransferEncoding() {
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Transfer-Encoding: chunked", "", "0", "", ""),
                       .ambiguousFraming, 400, messageContains: "both Content-Length and Transfer-Encoding")
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 5", "", "0", "", ""),
                       .ambiguousFraming, 400)
    }

    func testRejectsConflictingContentLengthsButAcceptsIdenticalOnes() {
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 6", "", "hello"),
                       .ambiguousFraming, 400, messageContains: "differ")
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 6", "", "hello"), .ambiguousFraming, 400)
        for same in [["Content-Length: 5", "Content-Length: 5"], ["Content-Length: 5, 5"], ["Content-Length: 005"]] {
            let events = parse(lines(["POST / HTTP/1.1", "Host: a"] + same + ["", "hello"]))
            XCTAssertEqual(events.first?.requestHead?.bodyFraming, .contentLength(5), "\(same)")
            XCTAssertEqual(events.dropFirst().first, .body(Array("hello".utf8)))
        }
    }

    func testRejectsContentLengthThatIsNotADecimalNumber() {
        for value in ["abc", "-1", "+5", "5.0", "0x10", "5 5", ""] {
            assertRejected(lines("POST / HTTP/1.1", "Host: a", "Content-Length: \(value)", "", "hello"),
                           .invalidContentLength, 400, "\(value.debugDescription)")
        }
    }

    func testRejectsTransferCodingsOtherThanChunkedWith501() {
        for value in ["gzip", "gzip, chunked", "chunked, gzip", "identity", "chunked;q=1"] {
            assertRejected(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: \(value)", "", "0", "", ""),
                           .unsupportedTransferEncoding, 501, "\(value)", messageContains: "only 'chunked'")
        }
    }

    func testRejectsChunkedTwiceAndTransferEncodingInHTTP10() {
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, chunked", "", "0", "", ""),
                       .ambiguousFraming, 400)
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked", "", "0", "", ""),
                       .ambiguousFraming, 400)
        assertRejected(lines("POST / HTTP/1.0", "Transfer-Encoding: chunked", "", "0", "", ""),
                       .ambiguousFraming, 400, messageContains: "HTTP/1.0")
    }

    func testAcceptsChunkedInAnyCase() {
        let events = parse(lines("POST / HTTP/1.1", "Host: a", "transfer-encoding: ChUnKeD", "", "3", "abc", "0", "", ""))
        XCTAssertEqual(events.first?.requestHead?.bodyFraming, .chunked)
        XCTAssertEqual(events.dropFirst().first, .body(Array("abc".utf8)))
    }

    // MARK: Chunk syntax (400)

    func testRejectsInvalidChunkSizes() {
        let bodies: [[String]] = [
            ["zz", "", ""],                  // not hex
            ["", "", ""],                    // empty size line
            ["-5", "hello", "0", "", ""],    // sign
            ["5 x", "hello", "0", "", ""],   // junk after the size
            ["0x5", "hello", "0", "", ""],   // C-style prefix
            [" 5", "hello", "0", "", ""],    // leading whitespace
            ["5;a\u{1}b", "hello", "0", "", ""],  // control byte in an extension
            ["5", "helloXX", "0", "", ""],   // data longer than the size
            ["5", "hell", "0", "", ""],      // data shorter than the size: no CRLF where it should end
        ]
        for body in bodies {
            assertRejected(lines(["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", ""] + body),
                           .invalidChunk, 400, "\(body)")
        }
        assertRejected(Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n".utf8),
                       .invalidChunk, 400, messageContains: "bare LF")
    }

    func testChunkSizeTooLargeForIntIsRefusedAsTooLarge() {
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "FFFFFFFFFFFFFFFFFFFF", "x"),
                       .bodyTooLarge, 413)
    }

    // MARK: Limits (414, 431, 413)

    func testRequestLineLimitIs414AndInclusive() {
        let limits = HTTPLimits(startLineBytesMax: 32)
        let fits = "GET /" + String(repeating: "a", count: 32 - 14) + " HTTP/1.1"
        XCTAssertEqual(fits.utf8.count, 32)
        XCTAssertEqual(parse(lines(fits, "Host: a", "", ""), limits: limits).last, .end(HTTPHeaders()))
        let over = "GET /" + String(repeating: "a", count: 32 - 13) + " HTTP/1.1"
        assertRejected(lines(over, "Host: a", "", ""), .requestLineTooLong, 414, limits: limits, messageContains: "32 bytes")
    }

    func testRequestLineLimitIsEnforcedBeforeTheLineEnds() {
        var parser = HTTPRequestParser(limits: HTTPLimits(startLineBytesMax: 32))
        let start = Array(("GET /" + String(repeating: "a", count: 30)).utf8)  // 35 bytes, no LF yet
        let result = start.withUnsafeBytes { parser.next($0) }
        XCTAssertEqual(result.event?.error?.code, .requestLineTooLong)
        XCTAssertEqual(result.event?.error?.status, .uriTooLong)
        XCTAssertEqual(parser.bufferedByteCount, 0)
        XCTAssertEqual(parser.stage, .failed)
    }

    func testHeaderSectionLimitIs431AndInclusive() {
        // "Host: a\r\n" is 9 bytes; "X: " + n + CRLF is n + 5.
        let limits = HTTPLimits(headerBytesMax: 40)
        let fits = lines("GET / HTTP/1.1", "Host: a", "X: " + String(repeating: "v", count: 26), "", "")
        XCTAssertEqual(parse(fits, limits: limits).last, .end(HTTPHeaders()))
        let over = lines("GET / HTTP/1.1", "Host: a", "X: " + String(repeating: "v", count: 27), "", "")
        assertRejected(over, .headerSectionTooLarge, 431, limits: limits, messageContains: "40 bytes")
        // Caught before the end of the line: the parser never holds more than the limit plus one read.
        var parser = HTTPRequestParser(limits: limits)
        let partial = Array("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "v", count: 100))".utf8)
        XCTAssertEqual(partial.withUnsafeBytes { drain(&parser, $0) }.last?.error?.code, .headerSectionTooLarge)
    }

    func testHeaderCountLimitIs431() {
        let limits = HTTPLimits(headerCountMax: 3)
        XCTAssertEqual(parse(lines("GET / HTTP/1.1", "Host: a", "A: 1", "B: 2", "", ""), limits: limits).last, .end(HTTPHeaders()))
        assertRejected(lines("GET / HTTP/1.1", "Host: a", "A: 1", "B: 2", "C: 3", "", ""), .tooManyHeaders, 431,
                       limits: limits, messageContains: "more than 3 fields")
    }

    func testDeclaredContentLengthOverTheDefaultLimitIs413BeforeAnyBodyByte() throws {
        var parser = HTTPRequestParser(limits: HTTPLimits(bodyBytesMax: 10))
        let head = lines("POST / HTTP/1.1", "Host: a", "Content-Length: 11", "", "")
        let first = head.withUnsafeBytes { parser.next($0) }
        XCTAssertNotNil(first.event?.requestHead)
        XCTAssertEqual(first.consumed, head.count)
        let second = parser.next(UnsafeRawBufferPointer(start: nil, count: 0))
        XCTAssertEqual(second.event?.error?.code, .bodyTooLarge)
        XCTAssertEqual(second.event?.error?.status, .contentTooLarge)
        XCTAssertEqual(parser.stage, .failed)
    }

    func testSetBodyLimitAfterTheHeadRefusesADeclaredLengthAtOnce() throws {
        var parser = HTTPRequestParser()
        let head = lines("POST / HTTP/1.1", "Host: a", "Content-Length: 4096", "Expect: 100-continue", "", "")
        let first = head.withUnsafeBytes { parser.next($0) }
        XCTAssertEqual(first.event?.requestHead?.expectsContinue, true)
        let error = try XCTUnwrap(parser.setBodyLimit(4095), "refused before the server would send 100 Continue")
        XCTAssertEqual(error.code, .bodyTooLarge)
        XCTAssertTrue(error.message.contains("4096") && error.message.contains("4095"), error.message)
        XCTAssertEqual(parser.next(UnsafeRawBufferPointer(start: nil, count: 0)).event?.error?.code, .bodyTooLarge)
    }

    func testSetBodyLimitCanRaiseTheDefaultForOneRequestOnly() {
        let input = lines("POST / HTTP/1.1", "Host: a", "Content-Length: 20", "", String(repeating: "x", count: 20))
            + lines("POST / HTTP/1.1", "Host: a", "Content-Length: 20", "", String(repeating: "y", count: 20))
        var parser = HTTPRequestParser(limits: HTTPLimits(bodyBytesMax: 10))
        var raised = false
        let events = drive(&parser, input, pieces: [0..<input.count]) { parser, _ in
            if !raised {
                raised = true
                XCTAssertNil(parser.setBodyLimit(20))
            }
        }
        XCTAssertEqual(events.map(\.kind), ["head", "body", "end", "head", "error"])
        XCTAssertEqual(events.last?.error?.code, .bodyTooLarge)
    }

    func testChunkedBodyOverTheLimitIs413AtTheChunkThatCrossesIt() {
        let input = lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "4", "aaaa", "4", "bbbb", "4", "cccc", "0", "", "")
        let events = parse(input, limits: HTTPLimits(bodyBytesMax: 10))
        XCTAssertEqual(events.map(\.kind), ["head", "body", "error"])
        XCTAssertEqual(events[1], .body(Array("aaaabbbb".utf8)), "the chunks within the limit are delivered")
        XCTAssertEqual(events[2].error?.code, .bodyTooLarge)
        XCTAssertEqual(events[2].error?.status, .contentTooLarge)
        XCTAssertEqual(parse(input, limits: HTTPLimits(bodyBytesMax: 12)).last, .end(HTTPHeaders()), "exactly the limit passes")
    }

    func testChunkSizeLineLimit() {
        let limits = HTTPLimits(chunkLineBytesMax: 16)
        let fits = lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "3;" + String(repeating: "e", count: 14), "abc", "0", "", "")
        XCTAssertEqual(parse(fits, limits: limits).last, .end(HTTPHeaders()))
        let over = lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "3;" + String(repeating: "e", count: 15), "abc", "0", "", "")
        assertRejected(over, .invalidChunk, 400, limits: limits, messageContains: "longer than 16 bytes")
    }

    // MARK: Expect and persistence

    func testExpect100ContinueOnlyForHTTP11RequestsWithABody() throws {
        let withBody = try XCTUnwrap(parse(lines("POST / HTTP/1.1", "Host: a", "Expect: 100-Continue", "Content-Length: 3", "", "abc")).first?.requestHead)
        XCTAssertTrue(withBody.expectsContinue)
        let chunked = try XCTUnwrap(parse(lines("POST / HTTP/1.1", "Host: a", "Expect: 100-continue", "Transfer-Encoding: chunked", "", "0", "", "")).first?.requestHead)
        XCTAssertTrue(chunked.expectsContinue)
        let noBody = try XCTUnwrap(parse(lines("GET / HTTP/1.1", "Host: a", "Expect: 100-continue", "", "")).first?.requestHead)
        XCTAssertFalse(noBody.expectsContinue, "nothing to wait for")
        let http10 = try XCTUnwrap(parse(lines("POST / HTTP/1.0", "Expect: 100-continue", "Content-Length: 3", "", "abc")).first?.requestHead)
        XCTAssertFalse(http10.expectsContinue, "RFC 9110 §10.1.1: ignored in HTTP/1.0")
    }

    func testOtherExpectationsAre417() {
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Expect: 200-ok", "Content-Length: 3", "", "abc"),
                       .expectationFailed, 417, messageContains: "200-ok")
        assertRejected(lines("POST / HTTP/1.1", "Host: a", "Expect: 100-continue, x", "Content-Length: 3", "", "abc"),
                       .expectationFailed, 417)
    }

    func testKeepAliveRulesForHTTP10AndHTTP11() throws {
        func keepAlive(_ version: String, _ connection: String?) throws -> Bool {
            let fields = ["Host: a"] + (connection.map { ["Connection: \($0)"] } ?? [])
            return try XCTUnwrap(parse(lines(["GET / \(version)"] + fields + ["", ""])).first?.requestHead?.keepAlive)
        }
        XCTAssertTrue(try keepAlive("HTTP/1.1", nil))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "close"))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "Upgrade, CLOSE"))
        XCTAssertTrue(try keepAlive("HTTP/1.1", "keep-alive"))
        XCTAssertFalse(try keepAlive("HTTP/1.0", nil))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "keep-alive"))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "Keep-Alive"))
        XCTAssertFalse(try keepAlive("HTTP/1.0", "keep-alive, close"))
    }

    // MARK: End of input

    func testConnectionClosedMidRequestIsTruncated() {
        for cut in ["GET / HT", "GET / HTTP/1.1\r\nHost: a\r\n", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"] {
            var parser = HTTPRequestParser()
            let events = drive(&parser, Array(cut.utf8), pieces: [0..<cut.utf8.count])
            XCTAssertEqual(events.last?.error?.code, .truncatedMessage, cut.debugDescription)
            XCTAssertEqual(events.last?.error?.status, .badRequest)
        }
        var idle = HTTPRequestParser()
        XCTAssertNil(idle.finish(), "a close between requests is clean")
        XCTAssertEqual(idle.stage, .idle)
    }

    func testStageFollowsTheMessage() {
        var parser = HTTPRequestParser()
        XCTAssertEqual(parser.stage, .idle)
        _ = Array("GET / HT".utf8).withUnsafeBytes { parser.next($0) }
        XCTAssertEqual(parser.stage, .head)
        _ = Array("TP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n".utf8).withUnsafeBytes { parser.next($0) }
        XCTAssertEqual(parser.stage, .body)
        let rest = Array("ab".utf8)
        let events = rest.withUnsafeBytes { drain(&parser, $0) }
        XCTAssertEqual(events.map(\.kind), ["body", "end"])
        XCTAssertEqual(parser.stage, .idle)
    }

    func testErrorIsTerminal() {
        var parser = HTTPRequestParser()
        let bad = Array("BAD\r\n".utf8)
        XCTAssertEqual(bad.withUnsafeBytes { parser.next($0) }.event?.error?.code, .invalidRequestLine)
        let good = lines("GET / HTTP/1.1", "Host: a", "", "")
        let again = good.withUnsafeBytes { parser.next($0) }
        XCTAssertEqual(again.event?.error?.code, .invalidRequestLine)
        XCTAssertEqual(again.consumed, 0)
        XCTAssertEqual(parser.finish()?.error?.code, .invalidRequestLine)
    }

    func testTokenMasksMatchRFC9110() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for b in 0...255 {
            XCTAssertEqual(HTTPBytes.isTokenByte(UInt8(b)), tchar.contains(UInt8(b)), "byte \(b)")
        }
    }
}

// MARK: - Harness

/// What a parser reported, with consecutive body pieces joined, so runs that cut the input differently
/// compare equal.
enum Recorded<Head: Equatable>: Equatable {
    case head(Head)
    case body([UInt8])
    case end(HTTPHeaders)
    case error(HTTPError.Code, status: Int, message: String)

    static func == (a: Recorded, b: Recorded) -> Bool {
        switch (a, b) {
        case (.head(let x), .head(let y)): return x == y
        case (.body(let x), .body(let y)): return x == y
        case (.end(let x), .end(let y)): return x == y
        case (.error(let x, let s, let m), .error(let y, let t, let n)): return x == y && s == t && m == n
        default: return false
        }
    }

    var kind: String {
        switch self {
        case .head: return "head"
        case .body: return "body"
        case .end: return "end"
        case .error: return "error"
        }
    }

    var error: HTTPError? {
        if case .error(let code, let status, let message) = self { return HTTPError(HTTPStatus(status), code, message) }
        return nil
    }
}

extension Recorded where Head == HTTPRequestHead {
    var requestHead: HTTPRequestHead? {
        if case .head(let h) = self { return h }
        return nil
    }
}

extension Recorded where Head == HTTPResponseHead {
    var responseHead: HTTPResponseHead? {
        if case .head(let h) = self { return h }
        return nil
    }
}

extension HTTPParseEvent {
    var error: HTTPError? {
        if case .error(let e) = self { return e }
        return nil
    }

    var requestHead: Head? {
        if case .head(let h) = self { return h }
        return nil
    }
}

/// The two parsers, driven the same way by the harness.
protocol ParserUnderTest {
    associatedtype Head: Equatable
    mutating func next(_ bytes: UnsafeRawBufferPointer) -> (event: HTTPParseEvent<Head>?, consumed: Int)
    mutating func finish() -> HTTPParseEvent<Head>?
    @discardableResult mutating func setBodyLimit(_ bytesMax: Int) -> HTTPError?
    var bufferedByteCount: Int { get }
}

extension HTTPRequestParser: ParserUnderTest {}
extension HTTPResponseParser: ParserUnderTest {}

/// Records events into `out`, joining body pieces; returns false once an error ends the run.
private struct Recorder<Head: Equatable> {
    var out: [Recorded<Head>] = []
    var body: [UInt8] = []

    mutating func flushBody() {
        if !body.isEmpty { out.append(.body(body)) }
        body = []
    }

    mutating func record(_ event: HTTPParseEvent<Head>) -> Bool {
        switch event {
        case .head(let h):
            flushBody()
            out.append(.head(h))
        case .body(let bytes):
            body.append(contentsOf: bytes)
        case .end(let trailers):
            flushBody()
            out.append(.end(trailers))
        case .error(let e):
            flushBody()
            out.append(.error(e.code, status: e.status.code, message: e.message))
            return false
        }
        return true
    }
}

/// Feeds `input` to `parser` in the given pieces, asking for events until each piece is used up, then
/// (when `finishAtEnd`) reports the end of input. Checks the contract on every call: a nil event uses
/// every byte, a body slice lies inside the buffer passed in (no copy) and is never empty.
func drive<P: ParserUnderTest>(
    _ parser: inout P, _ input: [UInt8], pieces: [Range<Int>], finishAtEnd: Bool = true,
    file: StaticString = #filePath, line: UInt = #line,
    onHead: (inout P, P.Head) -> Void = { _, _ in }
) -> [Recorded<P.Head>] {
    var recorder = Recorder<P.Head>()
    for piece in pieces {
        let bytes = Array(input[piece])
        let keepGoing = bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while true {
                let rest = UnsafeRawBufferPointer(rebasing: raw[offset...])
                let (event, consumed) = parser.next(rest)
                XCTAssert((0...rest.count).contains(consumed), "consumed \(consumed) of \(rest.count)", file: file, line: line)
                offset += consumed
                guard let event else {
                    XCTAssertEqual(offset, raw.count, "a nil event must use every byte", file: file, line: line)
                    return true
                }
                if case .body(let slice) = event {
                    XCTAssertFalse(slice.isEmpty, file: file, line: line)
                    let inside = slice.baseAddress.map { $0 >= raw.baseAddress! && $0 + slice.count <= raw.baseAddress! + raw.count } ?? false
                    XCTAssertTrue(inside, "a body slice must point into the input", file: file, line: line)
                }
                if case .head(let h) = event { onHead(&parser, h) }
                if !recorder.record(event) { return false }
            }
        }
        if !keepGoing { return recorder.out }
    }
    if finishAtEnd, let event = parser.finish() { _ = recorder.record(event) }
    recorder.flushBody()
    return recorder.out
}

/// Asks for events until `bytes` is used up or an error comes; for tests that drive a parser by hand.
func drain<P: ParserUnderTest>(_ parser: inout P, _ bytes: UnsafeRawBufferPointer) -> [Recorded<P.Head>] {
    var recorder = Recorder<P.Head>()
    var offset = 0
    while true {
        let (event, consumed) = parser.next(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        offset += consumed
        guard let event, recorder.record(event) else { break }
    }
    recorder.flushBody()
    return recorder.out
}

/// `parts` joined with CRLF: `lines("GET / HTTP/1.1", "Host: a", "", "")` is a complete head.
func lines(_ parts: String...) -> [UInt8] { lines(parts) }

func lines(_ parts: [String]) -> [UInt8] { Array(parts.joined(separator: "\r\n").utf8) }

/// Input cut at every byte.
func byteAtATime(_ count: Int) -> [Range<Int>] { (0..<count).map { $0..<($0 + 1) } }

/// Input cut at random points (sometimes with empty reads), reproducible from `rng`'s seed.
func randomPieces(_ count: Int, _ rng: inout SeededRandom) -> [Range<Int>] {
    var cuts = Set<Int>()
    let cutCount = count == 0 ? 0 : Int.random(in: 0...min(count, 24), using: &rng)
    for _ in 0..<cutCount { cuts.insert(Int.random(in: 0...count, using: &rng)) }
    var pieces: [Range<Int>] = []
    var start = 0
    for cut in cuts.sorted() + [count] {
        pieces.append(start..<cut)
        if Int.random(in: 0..<8, using: &rng) == 0 { pieces.append(cut..<cut) }  // an empty read
        start = cut
    }
    return pieces
}

extension HTTPCodecTests {
    /// Parses a whole request stream in one read.
    func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits(), file: StaticString = #filePath, line: UInt = #line) -> [Recorded<HTTPRequestHead>] {
        var parser = HTTPRequestParser(limits: limits)
        return drive(&parser, bytes, pieces: [0..<bytes.count], file: file, line: line)
    }

    /// Checks that `bytes` ends in the error `code` with `status`, read in one piece and byte by byte,
    /// and that its message names the problem.
    func assertRejected(
        _ bytes: [UInt8], _ code: HTTPError.Code, _ status: Int, _ context: String = "",
        limits: HTTPLimits = HTTPLimits(), messageContains fragment: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let oneShot = parse(bytes, limits: limits, file: file, line: line)
        var slow = HTTPRequestParser(limits: limits)
        let byteByByte = drive(&slow, bytes, pieces: byteAtATime(bytes.count), file: file, line: line)
        guard let error = oneShot.last?.error else {
            return XCTFail("\(context): expected \(code), got \(oneShot.map(\.kind))", file: file, line: line)
        }
        XCTAssertEqual(error.code, code, "\(context): \(error.message)", file: file, line: line)
        XCTAssertEqual(error.status.code, status, "\(context)", file: file, line: line)
        XCTAssertFalse(error.message.isEmpty, file: file, line: line)
        if let fragment {
            XCTAssertTrue(error.message.contains(fragment), "\(context): '\(error.message)' should mention '\(fragment)'", file: file, line: line)
        }
        XCTAssertEqual(byteByByte, oneShot, "\(context): byte-at-a-time differs", file: file, line: line)
    }
}
