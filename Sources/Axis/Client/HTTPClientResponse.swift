/// A whole response as `HTTPClient` returns it: the final status (interim 1xx responses are skipped),
/// every header field in order, and the body with any chunked coding removed.
public struct HTTPClientResponse: Sendable {
    /// The status code, 100–599 (never 1xx here: those are interim).
    public let status: Int
    /// The reason phrase as the server sent it (may be empty).
    public let reason: String
    /// All header fields in arrival order.
    public let headers: HTTPHeaders
    /// The trailer fields of a chunked body (usually none), kept apart so a trailer can never pose as a header.
    public let trailers: HTTPHeaders
    /// The body bytes (empty for HEAD, 204 and 304).
    public let body: [UInt8]
    /// Whether the server keeps the connection open after this response (RFC 9112 §9.3).
    public let keepAlive: Bool

    /// The first value of the header field `name` (ASCII case-insensitive), or nil.
    public func header(_ name: String) -> String? { headers[name] }

    /// The body decoded as UTF-8 (invalid sequences become U+FFFD), for logs and tests.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    init(head: HTTPResponseHead, body: [UInt8], trailers: HTTPHeaders) {
        status = head.status.code
        reason = head.reasonPhrase
        headers = head.headers
        self.trailers = trailers
        self.body = body
        keepAlive = head.keepAlive
    }
}
