// One TLS connection over a non-blocking socket, driven by an event loop.
//
//   accept(2) / connect(2) ──> TLSConnection(context:fd:…) ──> handshake() until .done
//        ──> read(into:) / write(_:) as the socket allows ──> shutdown() ──> close(2)
//
// Every call does as much as the socket allows and returns; nothing blocks. `.wantRead` / `.wantWrite`
// say which readiness to wait for before calling the same function again. Two rules for event loops:
//   - read until `.wantRead`: OpenSSL may hold decrypted bytes that the socket no longer signals
//     (`bufferedByteCount`), which matters with edge-triggered epoll;
//   - after `.wantWrite` from `write`, call `write` again with the same bytes (they may have moved:
//     ACCEPT_MOVING_WRITE_BUFFER is set).
// The connection never closes the socket: whoever accepted it does, after `shutdown()`. Writing to a
// socket the peer has reset raises SIGPIPE, so the process must ignore SIGPIPE (axisd does at start).
//
// Bad input from the peer (a garbled record, a refused certificate, an unsupported version) ends in
// `.failed` with OpenSSL's reasons; after that every call returns the same failure and `shutdown()`
// sends nothing, as OpenSSL requires after a fatal error.
@preconcurrency import Glibc
import COpenSSL

/// An owning wrapper around OpenSSL's `SSL` for one non-blocking socket.
///
/// Not thread-safe: one event loop (or one thread at a time) drives it. It also works over a blocking
/// socket (a simple client): each call then waits in the kernel and `.wantRead` / `.wantWrite` never occur.
public final class TLSConnection {
    let handle: OpaquePointer
    public let context: TLSContext
    /// The socket; not owned (never closed here).
    public let fd: Int32
    /// The name a client expects in the server's certificate; nil for a server.
    public let serverName: String?
    private(set) var state: State = .handshaking
    /// The verified certificate the peer presented, available once `handshake()` returned `.done`
    /// (nil when the peer sent none, which a server allows only with `.none` or `.optional`).
    public private(set) var peerCertificate: Certificate?

    enum State: Equatable {
        case handshaking, established, closed
        case failed(AxisError)
    }

    /// The server side of an accepted socket (`context` must be a server context).
    public convenience init(context: TLSContext, fd: Int32) throws {
        precondition(context.role == .server, "a client context needs the server's name: use init(context:fd:serverName:resuming:)")
        try self.init(context: context, fd: fd, name: nil, session: nil)
    }

    /// The client side of a connected (or connecting) socket. `serverName` is sent as SNI (unless it is an
    /// IP address) and must match the server certificate's subjectAltName, or the handshake fails.
    /// `session`, from an earlier connection to the same server, is offered for resumption.
    public convenience init(context: TLSContext, fd: Int32, serverName: String, resuming session: TLSSession? = nil) throws {
        precondition(context.role == .client, "a server context takes no server name: use init(context:fd:)")
        try self.init(context: context, fd: fd, name: serverName, session: session)
    }

    private init(context: TLSContext, fd: Int32, name: String?, session: TLSSession?) throws {
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(context.handle) else { throw OpenSSLErrors.error("SSL_new failed") }
        handle = ssl
        self.context = context
        self.fd = fd
        serverName = name
        // From here `deinit` frees `ssl` if a step below throws.
        guard SSL_set_fd(ssl, fd) == 1 else { throw OpenSSLErrors.error("SSL_set_fd(\(fd)) failed") }
        if let name {
            try expectServer(named: name)
            if let session, SSL_set_session(ssl, session.handle) != 1 {
                throw OpenSSLErrors.error("cannot offer the saved TLS session to \(name)")
            }
            SSL_set_connect_state(ssl)
        } else {
            SSL_set_accept_state(ssl)
        }
    }

    deinit { SSL_free(handle) }

    /// SNI and the name (or address) the certificate must carry.
    private func expectServer(named name: String) throws {
        guard !name.isEmpty else { throw AxisError(.usage, "a TLS client needs the server's host name or IP address") }
        if Self.isIPAddress(name) {
            // RFC 6066 forbids IP addresses in SNI; the certificate must carry the address as an iPAddress SAN.
            guard let parameters = SSL_get0_param(handle), X509_VERIFY_PARAM_set1_ip_asc(parameters, name) == 1 else {
                throw OpenSSLErrors.error("cannot expect IP address \(name) in the server certificate")
            }
        } else {
            guard axis_ssl_set_tlsext_host_name(handle, name) == 1 else {
                throw OpenSSLErrors.error("'\(name)' cannot be sent as a TLS server name", code: .usage)
            }
            // `*.example.gov.vn` matches one whole label only, never `ex*.gov.vn`.
            SSL_set_hostflags(handle, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            guard SSL_set1_host(handle, name) == 1 else { throw OpenSSLErrors.error("cannot expect host name \(name)") }
        }
    }

    static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    // MARK: - Handshake, I/O, shutdown

    /// Advances the handshake. On `.done`, `peerCertificate` is set. A client using TLS 1.3 finishes
    /// before the server has checked the client's certificate: a refusal then arrives on the first `read`.
    public func handshake() -> Progress {
        switch state {
        case .established: return .done
        case .closed: return .closed
        case .failed(let error): return .failed(error)
        case .handshaking: break
        }
        let (rc, savedErrno) = call { SSL_do_handshake(handle) }
        if rc == 1 { return finishHandshake() }
        switch outcome(rc, errno: savedErrno, phase: .handshake) {
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed:
            state = .closed
            return .closed
        case .failed(let error):
            state = .failed(error)
            return .failed(error)
        }
    }

    private func finishHandshake() -> Progress {
        if let peer = SSL_get1_peer_certificate(handle) {
            do {
                peerCertificate = try Certificate(taking: peer)
            } catch {
                // OpenSSL parsed and verified it, so this means memory ran out or the certificate is odd beyond use.
                let reason = (error as? AxisError)?.message ?? "\(error)"
                let failure = AxisError(.tlsHandshake, "the peer's certificate cannot be read: \(reason)")
                state = .failed(failure)
                return .failed(failure)
            }
        }
        state = .established
        return .done
    }

    /// Decrypts into `buffer`. Runs the handshake first if it has not finished.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        switch state {
        case .handshaking:
            switch handshake() {
            case .done: break
            case .wantRead: return .wantRead
            case .wantWrite: return .wantWrite
            case .closed: return .closed
            case .failed(let error): return .failed(error)
            }
        case .established: break
        case .closed: return .closed
        case .failed(let error): return .failed(error)
        }
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .bytes(0) }
        var count = 0
        let (rc, savedErrno) = call { SSL_read_ex(handle, base, buffer.count, &count) }
        if rc == 1 { return .bytes(count) }
        switch outcome(rc, errno: savedErrno, phase: .read) {
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed:
            state = .closed
            return .closed
        case .failed(let error):
            state = .failed(error)
            return .failed(error)
        }
    }

    /// Encrypts and sends what the socket takes of `bytes`. Runs the handshake first if it has not finished.
    public func write(_ bytes: UnsafeRawBufferPointer) -> WriteResult {
        switch state {
        case .handshaking:
            switch handshake() {
            case .done: break
            case .wantRead: return .wantRead
            case .wantWrite: return .wantWrite
            case .closed: return .failed(AxisError(.tlsHandshake, "the peer closed the connection during the TLS handshake"))
            case .failed(let error): return .failed(error)
            }
        case .established: break
        case .closed:
            return .failed(AxisError(.tlsConnection, "the TLS connection is closed: nothing more can be sent"))
        case .failed(let error): return .failed(error)
        }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .bytes(0) }
        var count = 0
        let (rc, savedErrno) = call { SSL_write_ex(handle, base, bytes.count, &count) }
        if rc == 1 { return .bytes(count) }
        switch outcome(rc, errno: savedErrno, phase: .write) {
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed:
            // close_notify received while writing; the peer reads no more.
            state = .closed
            return .failed(AxisError(.tlsConnection, "the peer closed the TLS connection (close_notify) before all bytes were sent"))
        case .failed(let error):
            state = .failed(error)
            return .failed(error)
        }
    }

    /// `write` for an array.
    public func write(_ bytes: [UInt8]) -> WriteResult {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Sends close_notify. Does not wait for the peer's: once ours is out the socket can be closed, and
    /// waiting would hold a slot for a round trip the application protocol does not need. Returns `.done`
    /// at once when the handshake never finished or the connection failed (there is nothing to protect).
    public func shutdown() -> Progress {
        switch state {
        case .handshaking, .failed: return .done
        case .established, .closed: break
        }
        // A peer that hung up mid-handshake leaves `.closed` with no session: OpenSSL refuses to shut that down.
        guard SSL_is_init_finished(handle) == 1 else { return .done }
        let (rc, savedErrno) = call { SSL_shutdown(handle) }
        if rc >= 0 { return .done }  // 0: ours sent; 1: both sent
        switch outcome(rc, errno: savedErrno, phase: .shutdown) {
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed: return .done
        case .failed(let error):
            state = .failed(error)
            return .failed(error)
        }
    }

    /// Runs one SSL call with a clean error queue and `errno`, so what follows describes this call only.
    private func call(_ body: () -> Int32) -> (Int32, Int32) {
        OpenSSLErrors.clear()
        errno = 0
        let rc = body()
        return (rc, errno)
    }

    // MARK: - What was negotiated

    /// True once the handshake has finished.
    public var isEstablished: Bool { state == .established }

    /// Decrypted bytes OpenSSL holds that the socket will not signal again.
    public var bufferedByteCount: Int { Int(SSL_pending(handle)) }

    /// `TLSv1.3` or `TLSv1.2` once the handshake has finished.
    public var protocolVersion: String { String(cString: SSL_get_version(handle)) }

    /// The negotiated cipher suite, e.g. `TLS_AES_256_GCM_SHA384`; empty before the handshake.
    public var cipherSuite: String {
        guard let cipher = SSL_get_current_cipher(handle), let name = SSL_CIPHER_get_name(cipher) else { return "" }
        return String(cString: name)
    }

    /// True when the handshake resumed an earlier session instead of verifying certificates again.
    public var isSessionResumed: Bool { SSL_session_reused(handle) == 1 }

    /// The session to offer on the next connection to the same server (client side), or nil when there
    /// is none yet. TLS 1.3 tickets arrive after the handshake, with the server's first bytes: ask after
    /// a successful `read`.
    public var session: TLSSession? {
        guard let session = SSL_get1_session(handle) else { return nil }
        let wrapped = TLSSession(taking: session)
        return wrapped.isResumable ? wrapped : nil
    }
}
