/// The application side of the HTTP server: what to do with each request.
///
/// The server calls `plan` on the connection's loop thread as soon as a request head has arrived,
/// before any body byte is read: the service authenticates and routes, and either refuses at once
/// (nothing of the body is read or stored) or names the body limit and a handler that receives the
/// body as it streams in. The handler answers through its `HTTPResponder`, from any thread.
public protocol HTTPService: Sendable {
    func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan
    /// How this service words an error reply — its own refusals and the server's (400, 408, 413…) —
    /// for clients that understand only their protocol's envelope (the VDXP SDK). `path` is the
    /// request's path when its head was read. nil: the standard `{"error":{…}}` body.
    func errorResponse(_ error: HTTPError, path: String?) -> HTTPResponse?
}

extension HTTPService {
    public func errorResponse(_ error: HTTPError, path: String?) -> HTTPResponse? { nil }
}

/// Who is on the other end of a connection.
public struct HTTPPeer: Sendable {
    /// The verified TLS client certificate, when the listener requires one.
    public let certificate: Certificate?
    /// The connecting process's pid, uid and gid, on a Unix-domain listener (the kernel vouches for them).
    public let credentials: PeerCredentials?
    public init(certificate: Certificate?, credentials: PeerCredentials? = nil) {
        self.certificate = certificate
        self.credentials = credentials
    }
}

public enum HTTPRequestPlan {
    /// Answer with this error and close the connection (the body, if any, is not read).
    case refuse(HTTPError)
    /// Read a body of at most `bodyLimit` bytes into `handler`.
    case accept(bodyLimit: Int, handler: HTTPRequestHandler)
}

/// Receives one request's body and answers it. Called on the connection's loop thread.
public protocol HTTPRequestHandler: AnyObject {
    /// A piece of the body (a view into the read buffer: copy what you keep). Throw an `HTTPError`
    /// to stop reading and answer with it.
    func body(_ chunk: UnsafeRawBufferPointer) throws
    /// The whole body has arrived; answer through `responder`, now or later, from any thread.
    func end(_ responder: HTTPResponder)
}

/// A response: head and body bytes, or a head and a stream of `length` body bytes that the
/// connection pulls as the client reads (a 1 GB document is never in memory).
public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]
    public var bodyStream: (any HTTPBodyStream)?

    public init(status: HTTPStatus, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        head = HTTPResponseHead(status: status, headers: headers, bodyFraming: .contentLength(body.count))
        self.body = body
    }

    /// A body of exactly `length` bytes read from `stream`.
    public init(status: HTTPStatus, headers: HTTPHeaders = [:], length: UInt64, stream: any HTTPBodyStream) {
        head = HTTPResponseHead(status: status, headers: headers, bodyFraming: .contentLength(Int(clamping: length)))
        body = []
        bodyStream = stream
    }

    /// `{"error":{"code":…,"message":…}}` with the error's status.
    public init(error: HTTPError) {
        let body = error.jsonBody
        head = error.responseHead(bodyByteCount: body.count, keepAlive: true)
        self.body = body
    }

    public static func json(_ status: HTTPStatus, _ value: JSONValue) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: Array(value.encoded(asciiOnly: true).utf8))
    }
}

/// A response body the connection pulls a piece at a time, on its loop thread, whenever the client
/// has taken the previous piece (so memory is one piece per connection, whatever the size, and a
/// slow reader slows the reads, not the server). A `read` that throws, or a stream that ends short
/// of the declared length, ends the connection: the client sees a body shorter than its
/// Content-Length, never a complete-looking wrong one. `close` is called exactly once, however the
/// response ends.
public protocol HTTPBodyStream: AnyObject, Sendable {
    /// Fills `buffer` with the next bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    func close()
}

extension PayloadReader: HTTPBodyStream {}

/// Sends the one response to one request, from any thread; later calls are ignored.
public final class HTTPResponder: @unchecked Sendable {
    private let deliver: @Sendable (HTTPResponse) -> Void
    private let abandoned: @Sendable () -> Bool
    private let used = Locked(false)

    init(deliver: @escaping @Sendable (HTTPResponse) -> Void, abandoned: @escaping @Sendable () -> Bool = { false }) {
        self.deliver = deliver
        self.abandoned = abandoned
    }

    /// True once the connection closed: nobody will read the response (a long poll can stop waiting).
    public var isAbandoned: Bool { abandoned() }

    public func respond(_ response: HTTPResponse) {
        let first = used.update { used -> Bool in
            defer { used = true }
            return !used
        }
        if first { deliver(response) }
    }
}
