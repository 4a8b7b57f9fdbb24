extension TLSConnection {
    /// The outcome of one `handshake()` or `shutdown()` step.
    public enum Progress: Sendable, Equatable {
        /// Finished.
        case done
        /// Call again when the socket is readable.
        case wantRead
        /// Call again when the socket is writable.
        case wantWrite
        /// The peer closed the connection before the handshake finished (a probe, a port scan, a
        /// client that gave up): close the socket, nothing to report.
        case closed
        /// The handshake or shutdown failed; close the socket. The error says why, with OpenSSL's reasons.
        case failed(AxisError)
    }

    /// The outcome of one `read(into:)`.
    public enum ReadResult: Sendable, Equatable {
        /// This many plaintext bytes were placed at the start of the buffer (never 0 for a non-empty buffer).
        case bytes(Int)
        /// Nothing decrypted is waiting: call again when the socket is readable.
        case wantRead
        /// OpenSSL must send first (a TLS 1.3 key update reply): call again when the socket is writable.
        case wantWrite
        /// The peer sent close_notify: no more bytes will come.
        case closed
        /// The connection is broken; close the socket. `.tlsUnexpectedEOF` when the peer simply hung up.
        case failed(AxisError)
    }

    /// The outcome of one `write(_:)`.
    public enum WriteResult: Sendable, Equatable {
        /// This many bytes from the start of the buffer were encrypted and handed to the socket (may be
        /// fewer than given: pass the rest next time).
        case bytes(Int)
        /// The socket is full: call again with the same bytes when it is writable.
        case wantWrite
        /// OpenSSL must read first: call again with the same bytes when the socket is readable.
        case wantRead
        /// The connection is broken; close the socket.
        case failed(AxisError)
    }
}
