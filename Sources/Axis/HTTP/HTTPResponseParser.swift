/// The client side of the codec: turns the bytes of a connection into responses. Driven like
/// `HTTPRequestParser` (`next`, `setBodyLimit`, `finish`), with the same limits.
///
/// A response's framing depends on the request it answers, so before each response tell the parser
/// the request's method with `setRequestMethod` when it was HEAD (the default is a method whose
/// response has a body). Interim 1xx responses come as a head and an `.end`, then the final response
/// (101 too: Axis never asks to switch protocols).
/// A response without `Content-Length` or chunked coding ends when the server closes: `finish()`
/// returns its `.end`. Errors carry status 502, as a proxy would answer.
public struct HTTPResponseParser: Sendable {
    /// One step of parsing: a head, body bytes, the end, or an error.
    public typealias Event = HTTPParseEvent<HTTPResponseHead>

    private var machine: HTTPMessageParser<HTTPResponseRole>

    /// A parser for one connection, enforcing `limits`.
    public init(limits: HTTPLimits = HTTPLimits()) {
        machine = HTTPMessageParser(role: HTTPResponseRole(), limits: limits)
    }

    /// The limits this parser enforces.
    public var limits: HTTPLimits { machine.limits }

    /// The method of the request whose response comes next; a response to HEAD has no body. It applies
    /// until that request's final (non-1xx) response ends.
    public mutating func setRequestMethod(_ method: HTTPMethod) {
        machine.role.requestMethod = method
    }

    /// See `HTTPRequestParser.next(_:)`.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) -> (event: Event?, consumed: Int) {
        machine.next(bytes)
    }

    /// See `HTTPRequestParser.setBodyLimit(_:)`.
    @discardableResult
    public mutating func setBodyLimit(_ bytesMax: Int) -> HTTPError? {
        machine.setBodyLimit(bytesMax)
    }

    /// The server closed the connection: `.end` for a read-until-close body, nil between responses,
    /// `.error(truncated_message)` in the middle of one.
    public mutating func finish() -> Event? {
        machine.finish()
    }

    /// Where the parser is, for choosing a timeout.
    public var stage: HTTPParserStage { machine.stage }

    var bufferedByteCount: Int { machine.bufferedByteCount }
}

/// The response rules on top of the shared machine (RFC 9112 §4, §6.3 and §9.3).
struct HTTPResponseRole: HTTPMessageRole {
    var requestMethod = HTTPMethod.get
    private var line: HTTPStatusLine?
    private var lastStatus = HTTPStatus.ok

    mutating func startLine(_ bytes: UnsafeRawBufferPointer) -> HTTPStartLineOutcome {
        switch HTTPStatusLine.parse(bytes) {
        case .success(let parsed):
            line = parsed
            return .accepted
        case .failure(let error):
            return .rejected(error)
        }
    }

    func startLineTooLong(limit: Int) -> HTTPError { .statusLineTooLong(limit: limit) }

    func startLineBareLineFeed() -> HTTPError { .invalidStatusLine("it ends with a bare LF instead of CRLF") }

    mutating func head(fields: HTTPHeaders, summary: HTTPFieldSummary) -> Result<(HTTPResponseHead, HTTPBodyFraming), HTTPError> {
        guard let line else { return .failure(.invalidStatusLine("it is missing")) }  // the machine reads it first
        let status = line.status
        let framing: HTTPBodyFraming
        if status.isInformational || status.code == 204 || status.code == 304 || requestMethod == .head {
            framing = .noBody  // whatever the length fields say (RFC 9112 §6.3 rules 1 and 2)
        } else if let error = summary.framingError() {
            return .failure(error)
        } else if summary.transferEncodingSeen {
            framing = .chunked
        } else if let length = summary.contentLength {
            framing = .contentLength(length)
        } else {
            framing = .untilClose
        }
        let persistent = line.version.hasHTTP11Semantics
            ? !summary.connectionClose
            : summary.connectionKeepAlive && !summary.connectionClose
        let head = HTTPResponseHead(
            status: status,
            reasonPhrase: line.reasonPhrase,
            version: line.version,
            headers: fields,
            bodyFraming: framing,
            keepAlive: persistent && framing != .untilClose)
        lastStatus = status
        self.line = nil
        return .success((head, framing))
    }

    mutating func messageEnded() {
        if !lastStatus.isInformational { requestMethod = .get }
    }

    func adjust(_ error: HTTPError) -> HTTPError { error.receivedFromServer }
}
