/// The first line of a response (RFC 9112 §4):
///
///     HTTP-version SP 3DIGIT SP [ reason-phrase ]        e.g. "HTTP/1.1 201 Created"
///
/// The space after the code is also accepted when missing (a reason is optional and some servers drop
/// both); the reason may hold obs-text and is decoded as ISO-8859-1.
struct HTTPStatusLine {
    let version: HTTPVersion
    let status: HTTPStatus
    let reasonPhrase: String

    static func parse(_ line: UnsafeRawBufferPointer) -> Result<HTTPStatusLine, HTTPError> {
        guard line.count >= 12, line[8] == HTTPBytes.sp,
              let version = HTTPVersion.parse(UnsafeRawBufferPointer(rebasing: line[0..<8]))
        else { return .failure(.invalidStatusLine("it does not start with 'HTTP/x.y '")) }
        guard version.major == 1 else { return .failure(HTTPError.versionNotSupported(version).receivedFromServer) }
        guard HTTPBytes.isDigit(line[9]), HTTPBytes.isDigit(line[10]), HTTPBytes.isDigit(line[11]) else {
            return .failure(.invalidStatusLine("the status code is not three digits"))
        }
        let code = Int(line[9] &- 0x30) * 100 + Int(line[10] &- 0x30) * 10 + Int(line[11] &- 0x30)
        guard (100...599).contains(code) else { return .failure(.invalidStatusLine("status \(code) is outside 100–599")) }
        var reason = UnsafeRawBufferPointer(rebasing: line[12...])
        if let first = reason.first {
            guard first == HTTPBytes.sp else { return .failure(.invalidStatusLine("the status code is followed by \(HTTPBytes.describe(first))")) }
            reason = UnsafeRawBufferPointer(rebasing: reason.dropFirst())
        }
        guard reason.allSatisfy(HTTPBytes.isFieldValueByte) else {
            return .failure(.invalidStatusLine("the reason phrase contains a control byte"))
        }
        return .success(HTTPStatusLine(version: version, status: HTTPStatus(code), reasonPhrase: HTTPBytes.latin1String(reason)))
    }
}
