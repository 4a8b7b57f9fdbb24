import XCTest
@testable import Axis

/// Chunked bodies, pipelining, independence from how the input is cut into reads, and streaming.
extension HTTPCodecTests {
    // MARK: Chunked

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let input = lines("POST /v1/documents HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "",
                          "4;name=value;flag", "Wiki",
                          "5 ; ext=\"quoted; still ext\"", "pedia",
                          "00E", " in\r\n\r\nchunks.",
                          "0;last", "Expires: never", "X-Checksum: sha256=abc", "", "")
        let events = parse(input)
        XCTAssertEqual(events.map(\.kind), ["head", "body", "end"])
        XCTAssertEqual(events[0].requestHead?.bodyFraming, .chunked)
        XCTAssertEqual(events[1], .body(Array("Wikipedia in\r\n\r\nchunks.".utf8)))
        guard case .end(let trailers) = events[2] else { return XCTFail("no end") }
        XCTAssertEqual(trailers.map(\.name), ["Expires", "X-Checksum"])
        XCTAssertEqual(trailers["x-checksum"], "sha256=abc")
    }

    func testTrailersFollowTheHeaderRulesAndLimits() {
        let base = ["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "1", "x", "0"]
        assertRejected(lines(base + ["Bad Name: v", "", ""]), .invalidHeader, 400, messageContains: "trailer")
        assertRejected(lines(base + [" folded", "", ""]), .invalidHeader, 400, messageContains: "obsolete line folding")
        let limits = HTTPLimits(headerBytesMax: 40, headerCountMax: 3)
        XCTAssertEqual(parse(lines(base + ["A: 1", "B: 2", "C: 3", "", ""]), limits: limits).last?.kind, "end")
        assertRejected(lines(base + ["A: 1", "B: 2", "C: 3", "D: 4", "", ""]), .tooManyHeaders, 431,
                       limits: limits, messageContains: "trailer section")
        assertRejected(lines(base + ["T: " + String(repeating: "t", count: 40), "", ""]), .headerSectionTooLarge, 431,
                       limits: limits, messageContains: "trailer section")
    }

    func testTrailerFieldsDoNotChangeFraming() throws {
        let input = lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "3", "abc", "0",
                          "Content-Length: 99", "Connection: close", "", "")
            + lines("GET /next HTTP/1.1", "Host: a", "", "")
        let events = parse(input)
        XCTAssertEqual(events.map(\.kind), ["head", "body", "end", "head", "end"])
        XCTAssertEqual(events[1], .body(Array("abc".utf8)))
        XCTAssertEqual(events[3].requestHead?.target, "/next")
    }

    // MARK: Pipelining

    func testPipelinedRequestsAreParsedInOrder() throws {
        let input = lines("GET /one HTTP/1.1", "Host: a", "", "")
            + lines("POST /two HTTP/1.1", "Host: a", "Content-Length: 5", "", "hello")
            + lines("POST /three HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "6", " world", "0", "", "")
            + lines("GET /four HTTP/1.0", "", "")
            + lines("GET /five HTTP/1.1", "Host: a", "Connection: close", "", "")
        let events = parse(input)
        XCTAssertEqual(events.map(\.kind), ["head", "end", "head", "body", "end", "head", "body", "end", "head", "end", "head", "end"])
        let heads = events.compactMap(\.requestHead)
        XCTAssertEqual(heads.map(\.target), ["/one", "/two", "/three", "/four", "/five"])
        XCTAssertEqual(heads.map(\.keepAlive), [true, true, true, false, false])
        XCTAssertEqual(events[3], .body(Array("hello".utf8)))
        XCTAssertEqual(events[6], .body(Array(" world".utf8)))
    }

    func testParserStopsAtEachHeadSoTheCallerCanActBeforeTheBody() {
        let input = lines("POST /a HTTP/1.1", "Host: a", "Content-Length: 3", "", "abc")
            + lines("GET /b HTTP/1.1", "Host: a", "", "")
        var parser = HTTPRequestParser()
        input.withUnsafeBytes { raw in
            let first = parser.next(raw)
            XCTAssertEqual(first.event?.requestHead?.target, "/a")
            XCTAssertEqual(first.consumed, input.count - 3 - lines("GET /b HTTP/1.1", "Host: a", "", "").count)
            XCTAssertEqual(parser.stage, .body)
        }
    }

    // MARK: Read-size independence

    /// Requests and broken requests that every cut of the input must parse the same way.
    static let corpus: [[UInt8]] = [
        lines("GET / HTTP/1.1", "Host: a", "", ""),
        lines("POST /v1/documents HTTP/1.1", "Host: axis", "Axis-From: 000.00.00.G22", "Content-Length: 26", "",
              "abcdefghijklmnopqrstuvwxyz"),
        lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "4;x=y", "Wiki", "5", "pedia", "0",
              "X-Trailer: t", "", ""),
        Array("\r\n".utf8) + lines("GET / HTTP/1.0", "Connection: keep-alive", "", ""),
        lines("GET /1 HTTP/1.1", "Host: a", "", "") + lines("POST /2 HTTP/1.1", "Host: a", "Content-Length: 3", "", "xyz")
            + lines("POST /3 HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "1", "z", "0", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Expect: 100-continue", "Content-Length: 4", "", "body"),
        Array("GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf".utf8) + [0xE9] + Array("\r\n\r\n".utf8),
        lines("OPTIONS * HTTP/1.1", "Host: a", "", ""),
        lines("GET http://h/p?q HTTP/1.1", "Host: h", "", ""),
        // Broken ones: each must fail the same way however it is cut.
        lines("GET  / HTTP/1.1", "Host: a", "", ""),
        lines("GET / HTTP/2.0", "Host: a", "", ""),
        lines("GET / HTTP/1.1", "Host: a", "X : y", "", ""),
        lines("GET / HTTP/1.1", "Host: a", "X: y", " folded", "", ""),
        Array("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n".utf8),
        Array("GET / HTTP/1.1\nHost: a\r\n\r\n".utf8),
        lines("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked", "", "0", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4", "", "abcd"),
        lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "5x", "hello", "0", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "5", "hello!", "0", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Content-Length: 5000", "", "x"),
        lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "400", String(repeating: "q", count: 1024), "401", "x"),
        lines("GET /" + String(repeating: "l", count: 300) + " HTTP/1.1", "Host: a", "", ""),
        lines("GET /" + String(repeating: "l", count: 237) + " HTTP/1.1", "Host: a", "", ""),  // one byte over
        lines("GET / HTTP/1.1", "Host: a", "X: " + String(repeating: "h", count: 600), "", ""),
        lines(["GET / HTTP/1.1", "Host: a"] + (0..<20).map { "H\($0): v" } + ["", ""]),
        lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "1;" + String(repeating: "e", count: 100), "x", "0", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Expect: nothing", "Content-Length: 1", "", "x"),
        lines("GET / HTTP/1.1", "", ""),
        lines("POST / HTTP/1.1", "Host: a", "Content-Length: 10", "", "short"),  // truncated by the end of input
        Array("GET / HTTP/1.1\r\nHost: a\r\n\r".utf8),
        lines("GET /" + String(repeating: "l", count: 236) + " HTTP/1.1", "Host: a", "", ""),  // exactly the limit
        // Too long and ended by a bare LF: the length is judged first, as it is when caught early.
        Array(("GET /" + String(repeating: "l", count: 300) + " HTTP/1.1\nHost: a\r\n\r\n").utf8),
    ]

    /// Small limits, so the limit cases in the corpus are reached.
    static let corpusLimits = HTTPLimits(startLineBytesMax: 250, headerBytesMax: 512, headerCountMax: 16,
                                         bodyBytesMax: 2048, chunkLineBytesMax: 64)

    func testByteAtATimeEqualsOneShot() {
        for (i, input) in Self.corpus.enumerated() {
            var whole = HTTPRequestParser(limits: Self.corpusLimits)
            let expected = drive(&whole, input, pieces: [0..<input.count])
            XCTAssertFalse(expected.isEmpty, "corpus[\(i)] produced nothing")
            var slow = HTTPRequestParser(limits: Self.corpusLimits)
            XCTAssertEqual(drive(&slow, input, pieces: byteAtATime(input.count)), expected, "corpus[\(i)]")
        }
    }

    func testRandomCutsEqualOneShotForManySeeds() {
        let expected = Self.corpus.map { input -> [Recorded<HTTPRequestHead>] in
            var parser = HTTPRequestParser(limits: Self.corpusLimits)
            return drive(&parser, input, pieces: [0..<input.count])
        }
        for seed in UInt64(1)...300 {
            var rng = SeededRandom(seed: seed)
            for (i, input) in Self.corpus.enumerated() {
                var parser = HTTPRequestParser(limits: Self.corpusLimits)
                let pieces = randomPieces(input.count, &rng)
                let got = drive(&parser, input, pieces: pieces)
                if got != expected[i] {
                    XCTFail("corpus[\(i)] differs with seed \(seed), pieces \(pieces): \(got.map(\.kind)) vs \(expected[i].map(\.kind))")
                    return
                }
            }
        }
    }

    func testCorpusOutcomesAreTheIntendedOnes() {
        // Guards the corpus itself: the broken entries must fail, with these codes, and the rest succeed.
        let codes: [String?] = Self.corpus.map { input in
            var parser = HTTPRequestParser(limits: Self.corpusLimits)
            return drive(&parser, input, pieces: [0..<input.count]).last?.error?.code.rawValue
        }
        XCTAssertEqual(codes, [
            nil, nil, nil, nil, nil, nil, nil, nil, nil,
            "invalid_request_line", "http_version_not_supported", "invalid_header", "invalid_header", "invalid_header",
            "invalid_request_line", "ambiguous_framing", "ambiguous_framing", "unsupported_transfer_encoding",
            "invalid_chunk", "invalid_chunk", "body_too_large", "body_too_large", "request_line_too_long",
            "request_line_too_long", "header_section_too_large", "too_many_headers", "invalid_chunk",
            "expectation_failed", "invalid_host", "truncated_message", "truncated_message", nil,
            "request_line_too_long",
        ])
    }

    // MARK: Streaming

    func testContentLengthBodyStreamsWithoutBeingHeld() {
        var input = lines("POST / HTTP/1.1", "Host: a", "Content-Length: \(1 << 20)", "", "")
        let body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        input += body
        var parser = HTTPRequestParser()
        let run = stream(input, pieceBytes: 1000, into: &parser) { parser in XCTAssertNil(parser.setBodyLimit(1 << 20)) }
        XCTAssertTrue(run.ended)
        XCTAssertEqual(run.body, body)
        XCTAssertLessThanOrEqual(run.largestSlice, 1000, "no slice is larger than the read it came in")
        XCTAssertEqual(run.mostBufferedInBody, 0, "body bytes are never buffered")
    }

    func testChunkedBodyStreamsHoldingAtMostAPartialSizeLine() {
        var input = lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "", "")
        var body = [UInt8]()
        for i in 0..<256 {
            let chunk = [UInt8](repeating: UInt8(i), count: 4096)
            body += chunk
            chunk.withUnsafeBytes { HTTPChunkedEncoding.writeChunk($0, into: &input) }
        }
        HTTPChunkedEncoding.writeLastChunk(into: &input)
        var parser = HTTPRequestParser(limits: HTTPLimits(bodyBytesMax: body.count))
        let run = stream(input, pieceBytes: 1000, into: &parser)
        XCTAssertTrue(run.ended)
        XCTAssertEqual(run.body, body)
        XCTAssertLessThanOrEqual(run.largestSlice, 1000, "no slice is larger than the read it came in")
        XCTAssertLessThanOrEqual(run.mostBufferedInBody, 5, "at most a partial \"1000\\r\" size line is kept")
    }

    /// Feeds `input` in reads of `pieceBytes`, checking that each body slice lies in the read that
    /// brought it, and reports the body, the largest slice and the most bytes held during the body.
    private func stream(
        _ input: [UInt8], pieceBytes: Int, into parser: inout HTTPRequestParser,
        onHead: (inout HTTPRequestParser) -> Void = { _ in }
    ) -> (body: [UInt8], largestSlice: Int, mostBufferedInBody: Int, ended: Bool) {
        var body = [UInt8]()
        var largestSlice = 0
        var mostBuffered = 0
        var ended = false
        var inBody = false
        for start in stride(from: 0, to: input.count, by: pieceBytes) {
            let piece = Array(input[start..<min(input.count, start + pieceBytes)])
            piece.withUnsafeBytes { raw in
                var rest = raw
                while true {
                    let (event, consumed) = parser.next(rest)
                    if inBody { mostBuffered = max(mostBuffered, parser.bufferedByteCount) }
                    guard let event else { break }
                    switch event {
                    case .head:
                        inBody = true
                        onHead(&parser)
                    case .body(let slice):
                        XCTAssertTrue(slice.baseAddress! >= raw.baseAddress! && slice.baseAddress! + slice.count <= raw.baseAddress! + raw.count,
                                      "a slice of this read, not a copy")
                        largestSlice = max(largestSlice, slice.count)
                        body.append(contentsOf: slice)
                    case .end:
                        ended = true
                    case .error(let e):
                        XCTFail("\(e)")
                        return
                    }
                    rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
                }
            }
        }
        if !ended, case .end? = parser.next(UnsafeRawBufferPointer(start: nil, count: 0)).event { ended = true }
        return (body, largestSlice, mostBuffered, ended)
    }
}
