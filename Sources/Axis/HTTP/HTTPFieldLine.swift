/// One field line of a header or trailer section (RFC 9112 §5):
///
///     field-line = field-name ":" OWS field-value OWS
///
/// Strict on purpose, because these are the places where a lenient parser and a strict one disagree
/// about where a message ends (request smuggling): whitespace before the colon, a line that starts
/// with whitespace (obsolete line folding), and control bytes in a value are all refused with 400.
struct HTTPFieldLine {
    /// The name, as offsets into the line.
    let name: Range<Int>
    /// The value without surrounding whitespace, as offsets into the line.
    let value: Range<Int>

    /// Parses `line` (CRLF removed, not empty).
    static func parse(_ line: UnsafeRawBufferPointer, in section: HTTPFieldSection) -> Result<HTTPFieldLine, HTTPError> {
        let first = line[0]
        if HTTPBytes.isWhitespace(first) {
            return .failure(.invalidField(section, "a \(section) line starts with whitespace (obsolete line folding); send each field on one line"))
        }
        var colon = 0
        while colon < line.count, HTTPBytes.isTokenByte(line[colon]) { colon += 1 }
        guard colon < line.count else {
            return .failure(.invalidField(section, "a \(section) line has no colon; expected 'Name: value'"))
        }
        guard line[colon] == HTTPBytes.colon else {
            let b = line[colon]
            if HTTPBytes.isWhitespace(b) {
                return .failure(.invalidField(section, "whitespace between a \(section) name and its colon is not allowed"))
            }
            return .failure(.invalidField(section, "a \(section) name contains the byte \(HTTPBytes.describe(b)); names are tokens such as 'Content-Type'"))
        }
        guard colon > 0 else {
            return .failure(.invalidField(section, "a \(section) line has an empty name"))
        }
        var start = colon + 1
        var end = line.count
        while start < end, HTTPBytes.isWhitespace(line[start]) { start += 1 }
        while end > start, HTTPBytes.isWhitespace(line[end - 1]) { end -= 1 }
        for i in start..<end where !HTTPBytes.isFieldValueByte(line[i]) {
            return .failure(.invalidField(section, "the value of \(section) '\(String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<colon]), as: UTF8.self))' contains the control byte \(HTTPBytes.describe(line[i]))"))
        }
        return .success(HTTPFieldLine(name: 0..<colon, value: start..<end))
    }
}

/// Which section a field line belongs to, for limits and messages.
enum HTTPFieldSection: CustomStringConvertible {
    case header
    case trailer

    var description: String { self == .header ? "header" : "trailer" }
}
