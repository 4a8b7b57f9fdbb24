/// Serializing a request head, for Axis's own client:
///
///     POST /v1/documents HTTP/1.1\r\n
///     <headers, in order — Host among them>\r\n
///     Content-Length: 4096\r\n         or  Transfer-Encoding: chunked  (from bodyFraming)
///     Expect: 100-continue\r\n         when expectsContinue
///     Connection: close\r\n            when !keepAlive
///     \r\n
///
/// As for responses, `Content-Length`, `Transfer-Encoding`, `Connection` and `Expect` in `headers`
/// are left out in favour of the fields above.
extension HTTPRequestHead {
    private static let expectContinue: [UInt8] = Array("Expect: 100-continue\r\n".utf8)

    /// Appends the head to `out`. The target is written as given (it must be visible ASCII).
    public func write(into out: inout [UInt8]) {
        out.append(contentsOf: method.rawValue.utf8)
        out.append(HTTPBytes.sp)
        for b in target.utf8 { out.append(b > 0x20 && b < 0x7F ? b : UInt8(ascii: "_")) }
        out.append(HTTPBytes.sp)
        version.write(into: &out)
        out.append(contentsOf: HTTPBytes.crlf)
        headers.write(into: &out) { name in
            HTTPMessageFraming.isManagedField(name) || (name.count == 6 && HTTPBytes.equalsIgnoringCase(name, "expect"))
        }
        HTTPMessageFraming.writeFields(bodyFraming, into: &out)
        if expectsContinue { out.append(contentsOf: Self.expectContinue) }
        if !keepAlive {
            out.append(contentsOf: HTTPMessageFraming.connectionClose)
        } else if !version.hasHTTP11Semantics {
            out.append(contentsOf: HTTPMessageFraming.connectionKeepAlive)
        }
        out.append(contentsOf: HTTPBytes.crlf)
    }

    /// The head as bytes.
    public func serialized() -> [UInt8] {
        var out = [UInt8]()
        write(into: &out)
        return out
    }
}
