/// Serializing a response head:
///
///     HTTP/1.1 201 Created\r\n
///     <headers, in order>\r\n
///     Content-Length: 123\r\n          or  Transfer-Encoding: chunked  (from bodyFraming)
///     Connection: close\r\n            when !keepAlive or the body runs until close
///     \r\n
///
/// The body follows as-is for `.contentLength` and `.untilClose`, through `HTTPChunkedEncoding` for
/// `.chunked`. An HTTP/1.0 client cannot read chunked coding: answer it with `.contentLength`, or
/// `.untilClose` and close.
extension HTTPResponseHead {
    /// `HTTP/1.1 100 Continue`, the interim response to a request that `expectsContinue`.
    public static let continueBytes: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Appends the head to `out` (typically the connection's write buffer).
    ///
    /// - Parameter peerVersion: the request's version. An HTTP/1.0 client keeps the connection only
    ///   when told, so a kept-alive response to one says `Connection: keep-alive`.
    public func write(into out: inout [UInt8], peerVersion: HTTPVersion = .http1_1) {
        version.write(into: &out)
        out.append(HTTPBytes.sp)
        HTTPBytes.appendDecimal(status.code, to: &out)
        out.append(HTTPBytes.sp)
        for b in reasonPhrase.utf8 { out.append(HTTPBytes.isFieldValueByte(b) ? b : HTTPBytes.sp) }
        out.append(contentsOf: HTTPBytes.crlf)
        headers.write(into: &out, skipping: HTTPMessageFraming.isManagedField)
        HTTPMessageFraming.writeFields(bodyFraming, into: &out)
        if !keepAlive || bodyFraming == .untilClose {
            out.append(contentsOf: HTTPMessageFraming.connectionClose)
        } else if !peerVersion.hasHTTP11Semantics {
            out.append(contentsOf: HTTPMessageFraming.connectionKeepAlive)
        }
        out.append(contentsOf: HTTPBytes.crlf)
    }

    /// The head as bytes (convenience; the server appends to its buffer with `write(into:)`).
    public func serialized(peerVersion: HTTPVersion = .http1_1) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(128)
        write(into: &out, peerVersion: peerVersion)
        return out
    }
}

/// The fields a serializer writes from the framing and connection decisions rather than from `headers`.
enum HTTPMessageFraming {
    static let connectionClose: [UInt8] = Array("Connection: close\r\n".utf8)
    static let connectionKeepAlive: [UInt8] = Array("Connection: keep-alive\r\n".utf8)
    private static let contentLengthPrefix: [UInt8] = Array("Content-Length: ".utf8)
    private static let chunked: [UInt8] = Array("Transfer-Encoding: chunked\r\n".utf8)

    /// Whether a field in `headers` is one the serializer owns, so it is not written twice.
    static func isManagedField(_ name: ArraySlice<UInt8>) -> Bool {
        switch name.count {
        case 10: return HTTPBytes.equalsIgnoringCase(name, "connection")
        case 14: return HTTPBytes.equalsIgnoringCase(name, "content-length")
        case 17: return HTTPBytes.equalsIgnoringCase(name, "transfer-encoding")
        default: return false
        }
    }

    static func writeFields(_ framing: HTTPBodyFraming, into out: inout [UInt8]) {
        switch framing {
        case .contentLength(let length):
            out.append(contentsOf: contentLengthPrefix)
            HTTPBytes.appendDecimal(length, to: &out)
            out.append(contentsOf: HTTPBytes.crlf)
        case .chunked:
            out.append(contentsOf: chunked)
        case .noBody, .untilClose:
            break
        }
    }
}
