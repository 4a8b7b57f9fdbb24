/// A request's start line and header section, with the decisions RFC 9112 asks the server to make
/// from them already made: whether the connection stays open, whether the client waits for
/// `100 Continue`, and how the body is framed.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method, e.g. `.post`.
    public var method: HTTPMethod
    /// The request target exactly as sent (visible ASCII; percent-encoding is not decoded).
    public var target: String
    /// The version the client sent; HTTP/1.x only (others are refused with 505).
    public var version: HTTPVersion
    /// All header fields, in order.
    public var headers: HTTPHeaders
    /// Whether the connection may carry another request after this one: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// The client sent `Expect: 100-continue` on an HTTP/1.1 request with a body, and waits for
    /// `100 Continue` (or a final status) before sending the body.
    public var expectsContinue: Bool
    /// How the body is delimited: `.noBody`, `.contentLength(n)` or `.chunked` (never `.untilClose`).
    public var bodyFraming: HTTPBodyFraming

    /// A head, e.g. for the client to serialize; the parser fills every field from the wire.
    public init(
        method: HTTPMethod,
        target: String,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = [:],
        keepAlive: Bool = true,
        expectsContinue: Bool = false,
        bodyFraming: HTTPBodyFraming = .noBody
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
        self.bodyFraming = bodyFraming
    }

    /// The path part of the target, without the query: `/v1/inbox` for `/v1/inbox?limit=5`, and also for
    /// the absolute form `http://host/v1/inbox?limit=5`.
    public var path: Substring {
        let utf8 = target.utf8
        var start = utf8.startIndex
        if let authorityEnd = Self.absoluteFormAuthorityEnd(utf8) { start = utf8.index(start, offsetBy: authorityEnd) }
        let end = utf8[start...].firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        return start == end ? "/" : target[start..<end]
    }

    /// The query, without the `?`; nil when the target has none.
    public var query: Substring? {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.utf8.index(after: mark)...]
    }

    /// For an absolute-form target (`scheme://authority…`), the offset where the authority ends; else nil.
    static func absoluteFormAuthorityEnd<C: Collection>(_ target: C) -> Int? where C.Element == UInt8 {
        var offset = 0
        var state = 0  // 0: scheme's first letter, 1: scheme, 2: after ':', 3: after ':/', 4: authority
        for b in target {
            switch state {
            case 0:
                guard b &- 0x41 < 26 || b &- 0x61 < 26 else { return nil }
                state = 1
            case 1:
                if b == HTTPBytes.colon {
                    state = 2
                } else if !(b &- 0x41 < 26 || b &- 0x61 < 26 || HTTPBytes.isDigit(b)
                            || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")) {
                    return nil
                }
            case 2, 3:
                guard b == UInt8(ascii: "/") else { return nil }
                state += 1
            default:
                if b == UInt8(ascii: "/") || b == UInt8(ascii: "?") || b == UInt8(ascii: "#") { return offset }
            }
            offset += 1
        }
        return state == 4 ? offset : nil
    }
}
