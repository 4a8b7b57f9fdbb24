/// The first line of a request (RFC 9112 §3):
///
///     method SP request-target SP HTTP-version        e.g. "POST /v1/documents HTTP/1.1"
///
/// Exactly one space between the parts; the method is a token; the target is visible ASCII in one of
/// the forms the method allows (origin-form "/path?query" for all, absolute-form "http://host/path"
/// for all, "*" for OPTIONS, "host:port" for CONNECT). A version that is well formed but not HTTP/1.x
/// gives 505; anything else malformed gives 400.
struct HTTPRequestLine {
    let method: HTTPMethod
    let target: String
    let version: HTTPVersion

    static func parse(_ line: UnsafeRawBufferPointer) -> Result<HTTPRequestLine, HTTPError> {
        var i = 0
        while i < line.count, HTTPBytes.isTokenByte(line[i]) { i += 1 }
        guard i > 0 else {
            return .failure(.invalidRequestLine("it starts with \(HTTPBytes.describe(line[0])) instead of a method"))
        }
        guard i < line.count else { return .failure(.invalidRequestLine("it has a method and nothing else")) }
        guard line[i] == HTTPBytes.sp else {
            return .failure(.invalidRequestLine("the method is followed by \(HTTPBytes.describe(line[i])) instead of one space"))
        }
        let methodBytes = UnsafeRawBufferPointer(rebasing: line[0..<i])
        i += 1
        let targetStart = i
        while i < line.count, line[i] > 0x20, line[i] < 0x7F { i += 1 }
        guard i > targetStart else {
            if i < line.count, line[i] == HTTPBytes.sp {
                return .failure(.invalidRequestLine("more than one space follows the method"))
            }
            return .failure(.invalidRequestLine("the request target is missing"))
        }
        guard i < line.count else { return .failure(.invalidRequestLine("the HTTP version is missing")) }
        guard line[i] == HTTPBytes.sp else {
            return .failure(.invalidRequestLine("the request target contains the byte \(HTTPBytes.describe(line[i])); percent-encode it"))
        }
        let targetBytes = UnsafeRawBufferPointer(rebasing: line[targetStart..<i])
        let versionBytes = UnsafeRawBufferPointer(rebasing: line[(i + 1)...])
        guard let version = HTTPVersion.parse(versionBytes) else {
            if versionBytes.first == HTTPBytes.sp {
                return .failure(.invalidRequestLine("more than one space follows the request target"))
            }
            return .failure(.invalidRequestLine("'\(HTTPBytes.latin1String(versionBytes.prefix(16)))' is not an HTTP version"))
        }
        guard version.major == 1 else { return .failure(.versionNotSupported(version)) }
        let method = HTTPMethod(token: methodBytes)
        if let why = formError(targetBytes, method: method) { return .failure(.invalidRequestLine(why)) }
        return .success(HTTPRequestLine(method: method, target: String(decoding: targetBytes, as: UTF8.self), version: version))
    }

    /// Why the target's form does not suit the method, or nil when it does (RFC 9112 §3.2).
    private static func formError(_ target: UnsafeRawBufferPointer, method: HTTPMethod) -> String? {
        if target[0] == UInt8(ascii: "/") { return nil }
        if method == .connect { return nil }  // authority-form; the router refuses CONNECT anyway
        if target.count == 1, target[0] == UInt8(ascii: "*") {
            return method == .options ? nil : "'*' is a target only for OPTIONS"
        }
        if HTTPRequestHead.absoluteFormAuthorityEnd(target) != nil { return nil }
        return "the request target must be a path starting with '/'"
    }
}
