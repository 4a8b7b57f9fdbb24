/// The server side of the codec: turns the bytes of a connection into requests.
///
/// ```swift
/// var parser = HTTPRequestParser(limits: limits)
/// // for each read:
/// var rest = UnsafeRawBufferPointer(readBuffer)
/// while true {
///     let (event, consumed) = parser.next(rest)
///     rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
///     guard let event else { break }                 // all bytes used: read more
///     switch event {
///     case .head(let head):  parser.setBodyLimit(route.bodyBytesMax)   // then maybe 100 Continue
///     case .body(let bytes): sink.write(bytes)                          // a slice of readBuffer
///     case .end:             respond(keepAlive: head.keepAlive)
///     case .error(let e):    send(e) and close
///     }
/// }
/// ```
///
/// Pipelined requests need nothing special: bytes after one message are the next one's. See
/// `HTTPMessageParser.swift` for the design and `HTTPError.Code` for what is refused.
public struct HTTPRequestParser: Sendable {
    /// One step of parsing: a head, body bytes, the end, or an error.
    public typealias Event = HTTPParseEvent<HTTPRequestHead>

    private var machine: HTTPMessageParser<HTTPRequestRole>

    /// A parser for one connection, enforcing `limits`.
    public init(limits: HTTPLimits = HTTPLimits()) {
        machine = HTTPMessageParser(role: HTTPRequestRole(), limits: limits)
    }

    /// The limits this parser enforces.
    public var limits: HTTPLimits { machine.limits }

    /// Parses `bytes` from the start up to the next event and returns it with the number of bytes used.
    ///
    /// A nil event means all of `bytes` was used (a partial line is kept) and more input is needed.
    /// Otherwise call again with the bytes after `consumed`, also when none are left: an empty body's
    /// `.end` or a 413 needs no input. A `.body` slice points into `bytes`. After `.error` every call
    /// returns the same error.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) -> (event: Event?, consumed: Int) {
        machine.next(bytes)
    }

    /// Sets the largest body the current request may have, replacing `limits.bodyBytesMax`. Call it
    /// after `.head` and before asking for the body; it applies to this request only.
    ///
    /// Returns the 413 error (and the parser fails) when the request's `Content-Length` already exceeds
    /// the limit, so the server can refuse before sending `100 Continue`. A chunked body is refused at
    /// the first chunk-size line that takes it past the limit, before that chunk's bytes are read.
    @discardableResult
    public mutating func setBodyLimit(_ bytesMax: Int) -> HTTPError? {
        machine.setBodyLimit(bytesMax)
    }

    /// The peer closed its side. Returns nil when that came cleanly between requests, `.end` when it
    /// completes one, and `.error(truncated_message)` when it cut a request short.
    public mutating func finish() -> Event? {
        machine.finish()
    }

    /// Where the parser is, for choosing the right timeout (keep-alive idle, header, body idle).
    public var stage: HTTPParserStage { machine.stage }

    /// Bytes kept between calls (a partial line only; never body bytes).
    var bufferedByteCount: Int { machine.bufferedByteCount }
}

/// The request rules on top of the shared machine: the request line, `Host` (RFC 9112 §3.2), framing
/// (§6.3), `Expect` (RFC 9110 §10.1.1) and persistence (§9.3).
struct HTTPRequestRole: HTTPMessageRole {
    /// Empty lines tolerated before a request line (RFC 9112 §2.2 asks for at least one, for clients that
    /// end a body with an extra CRLF); a bound, so they cannot stand in for a request forever.
    static let leadingEmptyLinesMax = 4

    private var line: HTTPRequestLine?
    private var emptyLinesSkipped = 0

    mutating func startLine(_ bytes: UnsafeRawBufferPointer) -> HTTPStartLineOutcome {
        if bytes.isEmpty {
            emptyLinesSkipped += 1
            guard emptyLinesSkipped <= Self.leadingEmptyLinesMax else {
                return .rejected(.invalidRequestLine("more than \(Self.leadingEmptyLinesMax) empty lines precede it"))
            }
            return .skipped
        }
        switch HTTPRequestLine.parse(bytes) {
        case .success(let parsed):
            line = parsed
            return .accepted
        case .failure(let error):
            return .rejected(error)
        }
    }

    func startLineTooLong(limit: Int) -> HTTPError { .requestLineTooLong(limit: limit) }

    func startLineBareLineFeed() -> HTTPError { .invalidRequestLine("it ends with a bare LF instead of CRLF") }

    mutating func head(fields: HTTPHeaders, summary: HTTPFieldSummary) -> Result<(HTTPRequestHead, HTTPBodyFraming), HTTPError> {
        guard let line else { return .failure(.invalidRequestLine("it is missing")) }  // the machine reads it first
        let http11 = line.version.hasHTTP11Semantics
        if summary.hostCount > 1 { return .failure(.invalidHost("the request has more than one Host header")) }
        if summary.hostCount == 0, http11 { return .failure(.invalidHost("an HTTP/1.1 request needs a Host header")) }
        if summary.hostMalformed { return .failure(.invalidHost("the Host header is not a host name with an optional port")) }
        if let error = summary.framingError() { return .failure(error) }
        if summary.transferEncodingSeen, !http11 {
            return .failure(HTTPError(.badRequest, .ambiguousFraming,
                                      "Transfer-Encoding is not defined for HTTP/1.0; send Content-Length"))
        }
        if let expectation = summary.unsupportedExpectation { return .failure(.expectationFailed(expectation)) }

        let framing: HTTPBodyFraming
        if summary.transferEncodingSeen {
            framing = .chunked
        } else if let length = summary.contentLength {
            framing = .contentLength(length)
        } else {
            framing = .noBody
        }
        let head = HTTPRequestHead(
            method: line.method,
            target: line.target,
            version: line.version,
            headers: fields,
            keepAlive: http11 ? !summary.connectionClose : summary.connectionKeepAlive && !summary.connectionClose,
            // RFC 9110 §10.1.1: ignored in HTTP/1.0; and with no body there is nothing to wait for.
            expectsContinue: summary.expectContinue && http11 && framing.hasBody,
            bodyFraming: framing)
        self.line = nil
        return .success((head, framing))
    }

    mutating func messageEnded() {
        emptyLinesSkipped = 0
    }

    func adjust(_ error: HTTPError) -> HTTPError { error }
}
