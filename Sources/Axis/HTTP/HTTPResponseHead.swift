/// A response's status line and header section: what a handler builds for the serializer, and what the
/// client's parser returns.
public struct HTTPResponseHead: Sendable, Equatable {
    /// The version on the status line; Axis writes HTTP/1.1.
    public var version: HTTPVersion
    /// The status code.
    public var status: HTTPStatus
    /// The reason phrase; by default the standard one for `status`.
    public var reasonPhrase: String
    /// Header fields other than the framing and connection ones: when writing, `Content-Length`,
    /// `Transfer-Encoding` and `Connection` come from `bodyFraming` and `keepAlive` (any in `headers`
    /// are left out, so the framing has one source). When parsing, all received fields are here.
    public var headers: HTTPHeaders
    /// How the body is delimited. When parsing, `.noBody` also for 1xx, 204, 304 and responses to HEAD.
    public var bodyFraming: HTTPBodyFraming
    /// Whether the connection stays open after this response. When writing, false adds
    /// `Connection: close`; when parsing, it is RFC 9112 §9.3's decision.
    public var keepAlive: Bool

    /// A head to write; `reasonPhrase` defaults to the standard one for `status`.
    public init(
        status: HTTPStatus,
        reasonPhrase: String? = nil,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = [:],
        bodyFraming: HTTPBodyFraming = .noBody,
        keepAlive: Bool = true
    ) {
        self.version = version
        self.status = status
        self.reasonPhrase = reasonPhrase ?? status.reasonPhrase
        self.headers = headers
        self.bodyFraming = bodyFraming
        self.keepAlive = keepAlive
    }
}
