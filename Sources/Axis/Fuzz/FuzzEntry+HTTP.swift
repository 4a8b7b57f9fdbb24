/// The `http` fuzz target: arbitrary bytes as what a client sends on one connection.
extension FuzzEntry {
    /// Small limits, so that every limit is within reach of a short input.
    static let httpSmallLimits = HTTPLimits(startLineBytesMax: 64, headerBytesMax: 256, headerCountMax: 8,
                                            bodyBytesMax: 512, chunkLineBytesMax: 16)

    /// Parses `data` with the default and with small limits, each in one read, byte by byte and at
    /// scattered cuts, and requires the same events from every cutting. Also checks the parser's
    /// contract on each call (see `HTTPRequestParser.next`) and that each head, written out by
    /// `HTTPRequestHead.write`, parses back to the same head.
    @Sendable
    public static func httpRequest(_ data: UnsafeRawBufferPointer) throws(FuzzViolation) {
        for limits in [HTTPLimits(), httpSmallLimits] {
            let expected = try httpEvents(data, FuzzCuts.whole(data.count), limits)
            for cuts in [FuzzCuts.byteAtATime(data.count), FuzzCuts.scattered(data)] {
                let got = try httpEvents(data, cuts, limits)
                try check(got == expected, "http", "reads cut at \(cuts.map(\.lowerBound).prefix(40)) give "
                    + "\(got.map(\.kind)) but one read gives \(expected.map(\.kind))"
                    + (firstDifference(got, expected).map { ": first difference \($0)" } ?? ""))
            }
            for case .head(let head) in expected { try httpRoundTrip(head) }
        }
    }

    /// What one run reported, body pieces joined, so runs that cut the input differently compare equal.
    enum HTTPRecorded: Equatable, CustomStringConvertible {
        case head(HTTPRequestHead)
        case body([UInt8])
        case end(HTTPHeaders)
        case error(code: String, status: Int, message: String)

        var kind: String {
            switch self {
            case .head: return "head"
            case .body: return "body"
            case .end: return "end"
            case .error: return "error"
            }
        }

        var description: String {
            switch self {
            case .head(let h): return "head(\(h.method) \(h.target) \(h.version) \(h.headers) \(h.bodyFraming))"
            case .body(let b): return "body(\(b.count) bytes)"
            case .end(let t): return "end(\(t))"
            case .error(let code, let status, let message): return "error(\(status) \(code): \(message))"
            }
        }
    }

    private static func firstDifference(_ a: [HTTPRecorded], _ b: [HTTPRecorded]) -> String? {
        for (x, y) in zip(a, b) where x != y { return "\(x) vs \(y)" }
        return a.count == b.count ? nil : "\(a.count) vs \(b.count) events"
    }

    /// Feeds `data` in the given reads, then reports the end of input, recording every event. The
    /// server's moves are imitated: after a PUT head the body limit drops to 8 bytes.
    static func httpEvents(_ data: UnsafeRawBufferPointer, _ cuts: [Range<Int>], _ limits: HTTPLimits) throws(FuzzViolation) -> [HTTPRecorded] {
        var parser = HTTPRequestParser(limits: limits)
        var out: [HTTPRecorded] = []
        var body: [UInt8] = []
        var failed: HTTPError?
        let spillMax = max(limits.startLineBytesMax, limits.headerBytesMax, limits.chunkLineBytesMax) + 1

        func flush() {
            if !body.isEmpty { out.append(.body(body)) }
            body = []
        }
        /// Records `event`; false once the run has failed.
        func record(_ event: HTTPRequestParser.Event, parser: inout HTTPRequestParser) throws(FuzzViolation) -> Bool {
            switch event {
            case .head(let head):
                flush()
                out.append(.head(head))
                try check(head.bodyFraming != .untilClose, "http", "a request head has read-until-close framing")
                if head.method == .put, parser.setBodyLimit(8) != nil {
                    try check(head.bodyFraming.contentLength.map { $0 > 8 } ?? false, "http",
                              "setBodyLimit(8) refused a request whose Content-Length is not above 8")
                }
            case .body(let bytes):
                try check(!bytes.isEmpty, "http", "an empty body slice")
                body.append(contentsOf: bytes)
            case .end(let trailers):
                flush()
                out.append(.end(trailers))
            case .error(let error):
                flush()
                out.append(.error(code: error.code.rawValue, status: error.status.code, message: error.message))
                failed = error
                return false
            }
            return true
        }

        for cut in cuts {
            // Each read in its own exact-size buffer, so AddressSanitizer sees any read past its end.
            let read = UnsafeMutableRawBufferPointer.allocate(byteCount: cut.count, alignment: 1)
            defer { read.deallocate() }
            if cut.count > 0, let source = data.baseAddress, let target = read.baseAddress {
                target.copyMemory(from: source + cut.lowerBound, byteCount: cut.count)
            }
            let bytes = UnsafeRawBufferPointer(read)
            var offset = 0
            while true {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                let (event, consumed) = parser.next(rest)
                try check((0...rest.count).contains(consumed), "http", "consumed \(consumed) of \(rest.count) bytes")
                offset += consumed
                try check(parser.bufferedByteCount <= spillMax, "http",
                          "the parser holds \(parser.bufferedByteCount) bytes, more than the largest limit plus one")
                guard let event else {
                    try check(offset == bytes.count, "http", "a nil event left \(bytes.count - offset) bytes unused")
                    break
                }
                if case .body(let slice) = event {
                    let inside = slice.baseAddress.map { start in
                        bytes.baseAddress.map { start >= $0 && start + slice.count <= $0 + bytes.count } ?? false
                    } ?? false
                    try check(inside, "http", "a body slice does not point into the read")
                }
                guard try record(event, parser: &parser) else { break }
            }
            if let failed {
                // The error is terminal: asking again gives it again, using nothing.
                let (again, consumed) = parser.next(UnsafeRawBufferPointer(rebasing: bytes[0..<0]))
                try check(consumed == 0 && (again?.httpError == failed), "http", "after \(failed) the parser says \(String(describing: again))")
                try check(parser.stage == .failed, "http", "after an error the stage is \(parser.stage)")
                return out
            }
        }
        if let event = parser.finish() { _ = try record(event, parser: &parser) }
        flush()
        return out
    }

    /// A head written out and parsed again must come back the same, but for the fields the writer
    /// manages itself (framing, Connection, Expect), which must come back with the same meaning.
    static func httpRoundTrip(_ head: HTTPRequestHead) throws(FuzzViolation) {
        let bytes = head.serialized()
        var parser = HTTPRequestParser(limits: HTTPLimits(startLineBytesMax: 1 << 20, headerBytesMax: 1 << 20, headerCountMax: 1 << 10))
        let (event, _) = bytes.withUnsafeBytes { parser.next($0) }
        guard case .head(let again)? = event else {
            throw FuzzViolation("http", "the head of \(head.method) \(head.target) written out does not parse: "
                + "\(String(describing: event)) from \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        try check(again.method == head.method && again.target == head.target && again.version == head.version
                  && again.keepAlive == head.keepAlive && again.expectsContinue == head.expectsContinue
                  && again.bodyFraming == head.bodyFraming, "http",
                  "a head written out parses differently: \(head) became \(again)")
        func unmanaged(_ headers: HTTPHeaders) -> [HTTPHeaders.Field] {
            headers.filter { !HTTPMessageFraming.isManagedField($0.nameBytes) && !HTTPBytes.equalsIgnoringCase($0.nameBytes, "expect") }
        }
        try check(unmanaged(again.headers) == unmanaged(head.headers), "http",
                  "a head written out comes back with other fields: \(head.headers) became \(again.headers)")
    }
}

extension HTTPParseEvent {
    var httpError: HTTPError? {
        if case .error(let error) = self { return error }
        return nil
    }
}
