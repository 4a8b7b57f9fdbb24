// The error codes of Axis's HTTP client. Bad arguments keep the general codes (`.config` for a host
// that is not an IPv4 address), a response body over the client's limit is `.limitExceeded`, and TLS
// failures keep the TLS layer's codes; these four are for what the network or the server does, so a
// caller (the load generator, push delivery) can count them apart and decide whether to retry.

extension AxisError.Code {
    /// A connect, TLS handshake, write or read did not finish within the client's `timeoutMillis`:
    /// the server is down, overloaded, or accepts connections without serving them.
    public static let timedOut = AxisError.Code(rawValue: "timed_out")
    /// The TCP connection could not be made (refused, unreachable) or broke (reset, socket error).
    public static let connectionFailed = AxisError.Code(rawValue: "connection_failed")
    /// The connection is closed: the server closed it before answering, or the client is closed
    /// (after `Connection: close`, an error, or `close()`) and a caller tried to use it again.
    public static let connectionClosed = AxisError.Code(rawValue: "connection_closed")
    /// The server's bytes are not an acceptable HTTP/1.1 response (a bad status line or header,
    /// ambiguous framing, a truncated body, a response to no request).
    public static let invalidResponse = AxisError.Code(rawValue: "invalid_response")
}
