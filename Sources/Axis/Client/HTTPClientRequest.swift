/// One request for `HTTPClient`: method, target, header fields in order, and a body.
///
/// The client owns the framing and connection fields: `Host` is added when absent, `Content-Length`
/// comes from `body`, and `Content-Length`, `Transfer-Encoding` and `Connection` given here are not
/// written (one source for the framing, as in the serializer). `Connection: close` here does ask the
/// server to close after answering; the client then reports `isOpen == false`.
public struct HTTPClientRequest: Sendable {
    /// The method, e.g. `.post`.
    public var method: HTTPMethod
    /// Path and query as sent, e.g. `/v1/inbox?limit=5` (visible ASCII; nothing is encoded here).
    public var target: String
    /// Header fields in the order they are written. Names must be tokens (a programming error otherwise).
    public var headers: [(String, String)]
    /// The body; empty for none.
    public var body: [UInt8]

    /// A request; see the type's notes for the fields the client adds.
    public init(method: HTTPMethod, target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    /// `GET target`.
    public static func get(_ target: String, headers: [(String, String)] = []) -> HTTPClientRequest {
        HTTPClientRequest(method: .get, target: target, headers: headers)
    }

    /// `POST target` with `body`.
    public static func post(_ target: String, headers: [(String, String)] = [], body: [UInt8]) -> HTTPClientRequest {
        HTTPClientRequest(method: .post, target: target, headers: headers, body: body)
    }

    /// Whether the caller asked the server to close after this request (`Connection: close`).
    var asksToClose: Bool {
        headers.contains { name, value in
            guard HTTPBytes.equalsIgnoringCase(name.utf8, "connection") else { return false }
            var close = false
            Array(value.utf8).withUnsafeBytes { bytes in
                HTTPBytes.forEachListElement(bytes) { element in
                    close = HTTPBytes.equalsIgnoringCase(element, "close")
                    return !close
                }
            }
            return close
        }
    }

    /// The head to serialize for a body of `bodyLength` bytes. Methods that carry a body (POST, PUT,
    /// PATCH) always get `Content-Length`, even 0, since some servers answer 411 without it; others only
    /// when they have a body, as RFC 9110 §8.6 asks.
    func head(bodyLength: Int, host: String) -> HTTPRequestHead {
        var fields = HTTPHeaders(headers)
        if !fields.contains("Host") { fields.add("Host", host) }
        let framing: HTTPBodyFraming
        if bodyLength > 0 || method == .post || method == .put || method == .patch {
            framing = .contentLength(bodyLength)
        } else {
            framing = .noBody
        }
        return HTTPRequestHead(method: method, target: target, headers: fields, keepAlive: !asksToClose, bodyFraming: framing)
    }
}
