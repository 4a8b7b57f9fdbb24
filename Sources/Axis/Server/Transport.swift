@preconcurrency import Glibc

/// What a connection reads from and writes to: the plain socket, or TLS over it. The connection's
/// state machine is the same either way.
protocol Transport: AnyObject {
    var fd: Int32 { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome
    func write(_ bytes: UnsafeRawBufferPointer) -> IOOutcome
    func close()
}

enum IOOutcome: Equatable {
    /// This many bytes were read or written (never 0).
    case bytes(Int)
    /// Nothing now: wait for readability (TLS may want it even for a write).
    case wantRead
    /// Nothing now: wait for writability.
    case wantWrite
    /// The peer closed (end of stream).
    case closed
    case failed(Int32)
}

/// A plain TCP socket.
final class PlainTransport: Transport {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wantRead
            default: return .failed(errno)
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOOutcome {
        while true {
            // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE for the process.
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n > 0 { return .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wantWrite
            default: return .failed(errno)
            }
        }
    }

    func close() { _ = Glibc.close(fd) }
}

/// TLS over the socket. The handshake runs first, driven by the connection like any other I/O.
final class TLSTransport: Transport {
    let tls: TLSConnection
    var fd: Int32 { tls.fd }

    init(_ tls: TLSConnection) { self.tls = tls }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        switch tls.read(into: buffer) {
        case .bytes(let n): return .bytes(n)
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed: return .closed
        case .failed: return .failed(EPROTO)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOOutcome {
        switch tls.write(bytes) {
        case .bytes(let n): return .bytes(n)
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .failed: return .failed(EPIPE)
        }
    }

    func close() {
        _ = tls.shutdown()
        _ = Glibc.close(tls.fd)
    }
}
