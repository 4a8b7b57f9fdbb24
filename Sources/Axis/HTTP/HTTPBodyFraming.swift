/// How a message's body is delimited (RFC 9112 §6.3), decided from the head.
public enum HTTPBodyFraming: Hashable, Sendable {
    /// No body: a request without `Content-Length` or `Transfer-Encoding`, a response to HEAD, a 1xx, 204
    /// or 304 response.
    case noBody
    /// Exactly this many bytes.
    case contentLength(Int)
    /// `Transfer-Encoding: chunked`, ended by a zero-size chunk and an optional trailer section.
    case chunked
    /// A response without length information: the body runs until the server closes the connection.
    /// Never used for requests (a request without framing headers has no body).
    case untilClose

    /// The declared length, for `.contentLength`.
    public var contentLength: Int? {
        if case .contentLength(let n) = self { return n }
        return nil
    }

    /// Whether the message may carry body bytes.
    public var hasBody: Bool {
        switch self {
        case .noBody, .contentLength(0): return false
        default: return true
        }
    }
}
