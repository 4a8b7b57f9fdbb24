/// A request method (RFC 9110 §9): a case-sensitive token.
///
/// The common methods are static values, and the parser recognises them from bytes without creating a
/// `String`; any other token becomes a method of its own (the server's router answers 405 or 501).
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The token as sent, e.g. `POST`.
    public let rawValue: String
    /// A method by name; methods are case-sensitive, so `get` is not `GET`.
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // The methods of RFC 9110 §9 and RFC 5789 (PATCH).
    public static let get = HTTPMethod(rawValue: "GET")
    public static let head = HTTPMethod(rawValue: "HEAD")
    public static let post = HTTPMethod(rawValue: "POST")
    public static let put = HTTPMethod(rawValue: "PUT")
    public static let delete = HTTPMethod(rawValue: "DELETE")
    public static let patch = HTTPMethod(rawValue: "PATCH")
    public static let options = HTTPMethod(rawValue: "OPTIONS")
    public static let connect = HTTPMethod(rawValue: "CONNECT")
    public static let trace = HTTPMethod(rawValue: "TRACE")

    private static let known: [HTTPMethod] = [.get, .post, .head, .put, .delete, .patch, .options, .connect, .trace]

    /// The method spelled by `token` (already checked to be a token).
    init(token: UnsafeRawBufferPointer) {
        for method in Self.known where Self.matches(token, method.rawValue) {
            self = method
            return
        }
        self.init(rawValue: String(decoding: token, as: UTF8.self))
    }

    private static func matches(_ token: UnsafeRawBufferPointer, _ name: String) -> Bool {
        var utf8 = name.utf8.makeIterator()
        for b in token {
            guard utf8.next() == b else { return false }
        }
        return utf8.next() == nil
    }
}
