// The error codes of the TLS layer. Setup problems keep the general codes (`.config` for bad files or
// settings, `.crypto` for an OpenSSL call that fails); these three are for what a peer does to a
// connection, so a server can count and log them apart from its own faults.

extension AxisError.Code {
    /// The TLS handshake failed: the peer's certificate was refused (or it refused ours), no common
    /// protocol version or cipher, a malformed message, or the socket failed mid-handshake.
    public static let tlsHandshake = AxisError.Code(rawValue: "tls_handshake")
    /// An established TLS connection failed: a bad or forged record, an alert from the peer, or a socket error.
    public static let tlsConnection = AxisError.Code(rawValue: "tls_connection")
    /// The peer closed the socket without sending close_notify. Harmless where the application protocol
    /// frames its own messages (HTTP with Content-Length), a possible truncation where it does not.
    public static let tlsUnexpectedEOF = AxisError.Code(rawValue: "tls_unexpected_eof")
}
