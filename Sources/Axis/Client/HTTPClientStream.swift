// The client's byte stream: one TCP connection, plain or TLS, over a non-blocking socket, where every
// wait is a poll(2) bounded by a deadline. Blocking sockets would need SO_RCVTIMEO/SO_SNDTIMEO, which
// bound each syscall rather than the operation, do not cover connect(2), and leave OpenSSL unsure
// whether a timed-out call made progress; with poll the deadline holds for connect, handshake, every
// write and every read alike.
//
//   startConnect ─(writable, SO_ERROR 0)→ TLS handshake (when configured) ─→ write / read ─→ close
//
// Failures are `AxisError`s naming host:port and what was under way: `.timedOut`,
// `.connectionFailed` (refused, reset), `.tlsHandshake` / `.tlsConnection` from the TLS layer with
// OpenSSL's reasons. Writes never raise SIGPIPE: plain writes use MSG_NOSIGNAL, and TLS writes (OpenSSL
// calls write(2) itself) run with SIGPIPE blocked for the calling thread, any signal they raise
// discarded, so a server that resets the connection is an error, never the end of the process.
@preconcurrency import Glibc

/// One connection's bytes, with deadlines. Not thread-safe: one thread at a time, like its `HTTPClient`.
final class HTTPClientStream {
    /// `host:port`, for error messages.
    let endpoint: String
    private let fd: Int32
    /// The TLS session over `fd`, when the client was made with a TLS context.
    let tls: TLSConnection?
    private var isClosed = false

    private init(endpoint: String, fd: Int32, tls: TLSConnection?) {
        self.endpoint = endpoint
        self.fd = fd
        self.tls = tls
    }

    deinit { close() }

    /// Connects to `host:port` and, with `tls`, completes the handshake expecting `serverName` in the
    /// server's certificate; all before `deadline` (monotonic nanoseconds).
    static func connect(host: String, port: UInt16, tls context: TLSContext?, serverName: String,
                        deadline: UInt64, timeoutMillis: Int, unixPath: String? = nil) throws -> HTTPClientStream {
        let endpoint = unixPath ?? "\(host):\(port)"
        let fd: Int32
        let started = try unixPath.map { try Socket.startConnect(unixPath: $0) } ?? Socket.startConnect(host: host, port: port)
        switch started {
        case .connected(let socket): fd = socket
        case .inProgress(let socket): fd = socket
        case .failed(let code): throw connectError(endpoint, code)
        }
        let tls: TLSConnection?
        do {
            if case .inProgress = started {
                guard try wait(fd, Int16(POLLOUT), until: deadline) != nil else {
                    throw timeout(endpoint, "connecting", timeoutMillis)
                }
                let code = Socket.connectError(fd)
                guard code == 0 else { throw connectError(endpoint, code) }
            }
            // Requests are written whole, so Nagle's delay would only hold back their last segment.
            Socket.setNoDelay(fd)
            tls = try context.map { try TLSConnection(context: $0, fd: fd, serverName: serverName) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        // From here the stream owns the socket and closes it, on failure too.
        let stream = HTTPClientStream(endpoint: endpoint, fd: fd, tls: tls)
        if let tls {
            do {
                try stream.handshake(tls, until: deadline, timeoutMillis: timeoutMillis)
            } catch {
                stream.close()
                throw error
            }
        }
        return stream
    }

    private func handshake(_ tls: TLSConnection, until deadline: UInt64, timeoutMillis: Int) throws {
        while true {
            let progress = Self.withoutSIGPIPE { tls.handshake() }
            let events: Int16
            switch progress {
            case .done: return
            case .wantRead: events = Int16(POLLIN)
            case .wantWrite: events = Int16(POLLOUT)
            case .closed:
                throw AxisError(.connectionClosed, "\(endpoint) closed the connection during the TLS handshake: "
                                + "check that it serves TLS on this port and accepts this client's certificate")
            case .failed(let error):
                throw AxisError(error.code, "\(endpoint): \(error.message)", errno: error.errno)
            }
            guard try Self.wait(fd, events, until: deadline) != nil else {
                throw Self.timeout(endpoint, "the TLS handshake", timeoutMillis)
            }
        }
    }

    // MARK: Writing

    /// Writes all of `bytes` before `deadline`. While the socket is full and the server is sending,
    /// what arrives is passed to `received` (a pipelining client must keep reading, or both sides wait
    /// for each other); `received` gets an empty buffer when the server closed.
    func write(_ bytes: UnsafeRawBufferPointer, until deadline: UInt64, timeoutMillis: Int,
               received: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws {
        var sent = 0
        var peerClosed = false
        var scratch = [UInt8]()
        while sent < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[sent...])
            let events: Int16
            switch writeSome(rest) {
            case .bytes(let n):
                sent += n
                continue
            case .wantWrite: events = Int16(POLLOUT)
            case .wantRead: events = Int16(POLLIN)
            case .failed(let error): throw error
            }
            let listen = received != nil && !peerClosed && events != Int16(POLLIN)
            guard let revents = try Self.wait(fd, events | (listen ? Int16(POLLIN) : 0), until: deadline) else {
                throw Self.timeout(endpoint, "sending the request", timeoutMillis)
            }
            if listen, let received, revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 64 << 10) }
                switch try scratch.withUnsafeMutableBytes({ try readSome(into: $0) }) {
                case .bytes(let count):
                    try scratch.withUnsafeBytes { try received(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                case .end:
                    peerClosed = true
                    try received(UnsafeRawBufferPointer(start: nil, count: 0))
                case .wantRead, .wantWrite:
                    break
                }
            }
        }
    }

    private enum WriteStep {
        case bytes(Int)
        case wantRead, wantWrite
        case failed(AxisError)
    }

    private func writeSome(_ bytes: UnsafeRawBufferPointer) -> WriteStep {
        if let tls {
            switch Self.withoutSIGPIPE({ tls.write(bytes) }) {
            case .bytes(let n): return .bytes(n)
            case .wantRead: return .wantRead
            case .wantWrite: return .wantWrite
            case .failed(let error):
                return .failed(AxisError(error.code, "sending to \(endpoint): \(error.message)", errno: error.errno))
            }
        }
        while true {
            // MSG_NOSIGNAL: a server that went away is an error here, not a SIGPIPE for the process.
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n > 0 { return .bytes(n) }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wantWrite
            default:
                return .failed(AxisError(.connectionFailed, "sending to \(endpoint) failed: the server reset or closed the connection",
                                         errno: code))
            }
        }
    }

    // MARK: Reading

    /// Reads what is available into `buffer`, waiting until `deadline` for at least one byte. Returns
    /// the count, 0 when the server closed the connection.
    func read(into buffer: UnsafeMutableRawBufferPointer, until deadline: UInt64, timeoutMillis: Int, waitingFor what: String) throws -> Int {
        while true {
            let events: Int16
            switch try readSome(into: buffer) {
            case .bytes(let n): return n
            case .end: return 0
            case .wantRead: events = Int16(POLLIN)
            case .wantWrite: events = Int16(POLLOUT)  // TLS must send (a key update) before it reads on
            }
            guard try Self.wait(fd, events, until: deadline) != nil else {
                throw Self.timeout(endpoint, what, timeoutMillis)
            }
        }
    }

    private enum ReadStep {
        /// This many bytes (never 0).
        case bytes(Int)
        /// The server closed its side.
        case end
        case wantRead, wantWrite
    }

    /// One read attempt, without waiting.
    private func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> ReadStep {
        if let tls {
            switch Self.withoutSIGPIPE({ tls.read(into: buffer) }) {
            case .bytes(let n): return n > 0 ? .bytes(n) : .wantRead
            case .wantRead: return .wantRead
            case .wantWrite: return .wantWrite
            case .closed: return .end
            case .failed(let error) where error.code == .tlsUnexpectedEOF:
                // HTTP frames its own messages, so a bare hang-up between them is an ordinary close; the
                // response assembler still catches one that cuts a response short.
                return .end
            case .failed(let error):
                throw AxisError(error.code, "reading from \(endpoint): \(error.message)", errno: error.errno)
            }
        }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .end }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wantRead
            default:
                throw AxisError(.connectionFailed, "reading from \(endpoint) failed: the connection broke", errno: code)
            }
        }
    }

    /// Whether the connection is still usable after sitting idle, seen without waiting. A server may
    /// close a keep-alive connection at any time between requests; this catches the usual case (it
    /// closed after its idle timeout) before a request is written into a dead connection. Bytes that
    /// arrive unasked also make the connection unusable: nothing frames them. With TLS, a session
    /// ticket consumed here is not such a byte (the read reports nothing available).
    func isUsableAfterIdle() -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) > 0 else { return true }
        var probe = [UInt8](repeating: 0, count: 512)
        do {
            switch try probe.withUnsafeMutableBytes({ try readSome(into: $0) }) {
            case .wantRead, .wantWrite: return true
            case .bytes, .end: return false
            }
        } catch {
            return false
        }
    }

    // MARK: Closing

    /// Sends TLS close_notify (best effort, without waiting) and closes the socket. Idempotent.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let tls { _ = Self.withoutSIGPIPE { tls.shutdown() } }
        Glibc.close(fd)
    }

    // MARK: Helpers

    /// Polls `fd` for `events` until `deadline`; the returned events, or nil when the deadline passed.
    /// POLLHUP/POLLERR count as ready: the next I/O call reports what happened.
    private static func wait(_ fd: Int32, _ events: Int16, until deadline: UInt64) throws -> Int16? {
        while true {
            let now = SystemClock.monotonicNanos()
            guard now < deadline else { return nil }
            // Rounded up, so a wait never ends a little early and spins on a zero timeout.
            let millis = Int32(clamping: (deadline - now - 1) / 1_000_000 + 1)
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&p, 1, millis)
            if ready > 0 { return p.revents }
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
                throw AxisError(.connectionFailed, "poll(2) on a client socket failed", errno: code)
            }
        }
    }

    private static func timeout(_ endpoint: String, _ what: String, _ timeoutMillis: Int) -> AxisError {
        AxisError(.timedOut, "\(endpoint) did not respond in time: \(what) took longer than \(timeoutMillis) ms "
                  + "(is the server up and serving this port? raise the client's timeoutMillis for slow servers)")
    }

    private static func connectError(_ endpoint: String, _ code: Int32) -> AxisError {
        AxisError(.connectionFailed, "cannot connect to \(endpoint): check that the server runs and listens there", errno: code)
    }

    /// Runs `body` with SIGPIPE blocked for this thread and discards a SIGPIPE it raised. OpenSSL writes
    /// to the socket itself, without MSG_NOSIGNAL, and a library must not change the process's signal
    /// handling; a write's SIGPIPE goes to the writing thread, so a thread mask is enough.
    private static func withoutSIGPIPE<T>(_ body: () -> T) -> T {
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipe, &previous)
        var pendingBefore = sigset_t()
        sigpending(&pendingBefore)
        let result = body()
        if sigismember(&pendingBefore, SIGPIPE) == 0 {
            var pendingAfter = sigset_t()
            sigpending(&pendingAfter)
            if sigismember(&pendingAfter, SIGPIPE) == 1 {
                var none = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipe, nil, &none)
            }
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        return result
    }
}
