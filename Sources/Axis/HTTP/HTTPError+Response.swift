/// An error as a reply: its status and a JSON body
///
///     {"error":{"code":"body_too_large","message":"the body exceeds the limit of 1048576 bytes …"}}
///
/// encoded with only ASCII (other characters as `\uXXXX`), because the VDXP SDK decodes replies as
/// US-ASCII; every JSON reader accepts that.
extension HTTPError {
    private static let jsonContentType = "application/json"

    /// The JSON body of the reply.
    public var jsonBody: [UInt8] {
        var fields: [(String, JSONValue)] = [("code", .string(code.rawValue)), ("message", .string(message))]
        if !details.isEmpty { fields.append(("details", .array(details.map { .string($0) }))) }
        let json = JSONValue.object([("error", .object(fields))])
        return Array(json.encoded(asciiOnly: true).utf8)
    }

    /// The head of the reply for a body of `bodyByteCount` bytes.
    ///
    /// - Parameter keepAlive: false (the default) adds `Connection: close`. Errors from the parsers
    ///   must close, since what follows on the connection cannot be framed; a handler's own error
    ///   (404, 422, …) may keep the connection once the request's body has been read.
    public func responseHead(bodyByteCount: Int, keepAlive: Bool = false) -> HTTPResponseHead {
        HTTPResponseHead(
            status: status,
            headers: ["Content-Type": Self.jsonContentType],
            bodyFraming: .contentLength(bodyByteCount),
            keepAlive: keepAlive)
    }

    /// Appends the whole reply, head and JSON body, to `out`.
    public func writeResponse(into out: inout [UInt8], keepAlive: Bool = false, peerVersion: HTTPVersion = .http1_1) {
        let body = jsonBody
        responseHead(bodyByteCount: body.count, keepAlive: keepAlive).write(into: &out, peerVersion: peerVersion)
        out.append(contentsOf: body)
    }
}
