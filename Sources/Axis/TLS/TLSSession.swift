import COpenSSL

/// A resumable TLS session (OpenSSL `SSL_SESSION`), kept by a client to make its next connection to the
/// same server cheap: no certificate exchange and no signature, only a key exchange.
///
/// OpenSSL reference-counts sessions and never changes one after it is handed out, so it is shared freely.
public final class TLSSession: @unchecked Sendable {
    let handle: OpaquePointer

    /// Takes ownership of one reference.
    init(taking handle: OpaquePointer) { self.handle = handle }

    deinit { SSL_SESSION_free(handle) }

    /// False once the session can no longer be offered (for instance a TLS 1.3 session before its ticket arrived).
    public var isResumable: Bool { SSL_SESSION_is_resumable(handle) == 1 }

    /// The protocol version negotiated when the session was made, e.g. `TLSv1.3`.
    public var protocolVersion: String {
        switch SSL_SESSION_get_protocol_version(handle) {
        case TLS1_3_VERSION: return "TLSv1.3"
        case TLS1_2_VERSION: return "TLSv1.2"
        case let other: return "0x" + String(other, radix: 16)
        }
    }
}
