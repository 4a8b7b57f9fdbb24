/// What an HTTP parser reports: a head, body bytes, the end of a message, or an error.
///
/// For each message a parser produces `.head`, zero or more `.body`, then `.end`; the next message (a
/// pipelined request, the final response after a 100) follows. `.error` is terminal.
public enum HTTPParseEvent<Head> {
    /// The start line and header section, with the body framing already decided.
    case head(Head)
    /// The next piece of the body. The bytes are a slice of the buffer passed to `next`, not a copy:
    /// consume or copy them before that buffer is reused.
    case body(UnsafeRawBufferPointer)
    /// The message is complete. `trailers` holds the trailer fields of a chunked body (usually none).
    case end(trailers: HTTPHeaders)
    /// The bytes do not form an acceptable message. The parser stays failed; answer (for a server, with
    /// `error.status`) and close the connection, since the framing of what follows is unknown.
    case error(HTTPError)
}
