/// The line that starts each chunk of a chunked body (RFC 9112 §7.1):
///
///     chunk-size [ BWS ";" chunk-ext ] CRLF        e.g. "1a2b;name=value"
///
/// The size is hex; extensions are skipped (Axis defines none) but must not contain control bytes.
/// A size too large for `Int` reads as `Int.max`, which every body limit refuses (413).
enum HTTPChunkSizeLine {
    /// The chunk size in `line` (CRLF removed).
    static func parse(_ line: UnsafeRawBufferPointer) -> Result<Int, HTTPError> {
        var size = 0
        var i = 0
        while i < line.count, let digit = HTTPBytes.hexValue(line[i]) {
            size = size > (Int.max - 15) / 16 ? Int.max : size * 16 + digit
            i += 1
        }
        guard i > 0 else {
            if line.isEmpty { return .failure(.invalidChunk("a chunk-size line is empty; expected a hex size")) }
            return .failure(.invalidChunk("a chunk-size line starts with \(HTTPBytes.describe(line[0])) instead of a hex size"))
        }
        while i < line.count, HTTPBytes.isWhitespace(line[i]) { i += 1 }
        guard i < line.count else { return .success(size) }
        guard line[i] == HTTPBytes.semicolon else {
            return .failure(.invalidChunk("the chunk size is followed by \(HTTPBytes.describe(line[i])); only ';' extensions may follow"))
        }
        for j in i..<line.count where !HTTPBytes.isFieldValueByte(line[j]) {
            return .failure(.invalidChunk("a chunk extension contains the control byte \(HTTPBytes.describe(line[j]))"))
        }
        return .success(size)
    }
}
