@preconcurrency import Glibc
import CAxisSys

/// Thin, checked wrappers over the socket calls the server and client make. Every failure is an
/// `AxisError` naming the call and the address, with errno.
public enum Socket {
    /// A non-blocking TCP listening socket on `host:port` (IPv4 dotted quad; port 0 picks a free one).
    /// `reusePort` lets each event loop own its own listening socket on the same port, so the kernel
    /// spreads new connections across loops without a shared accept lock.
    public static func listen(host: String, port: UInt16, backlog: Int32 = 4096, reusePort: Bool = false) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AxisError(.storageIO, "socket() failed", errno: errno) }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT") }
            var address = try ipv4(host, port)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                throw AxisError(.config, "cannot listen on \(host):\(port): bind failed (is another process using the port?)", errno: errno)
            }
            guard Glibc.listen(fd, backlog) == 0 else { throw AxisError(.config, "cannot listen on \(host):\(port)", errno: errno) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// A non-blocking Unix-domain listening socket at `path`, created with `mode` (and `group` when
    /// given) so only those allowed can even connect. A socket file left by a process that died is
    /// replaced; any other file at `path` is refused rather than removed.
    public static func listenUnix(path: String, mode: mode_t = 0o600, group: gid_t? = nil, backlog: Int32 = 128) throws -> Int32 {
        var address = try unixAddress(path)
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard (existing.st_mode & S_IFMT) == S_IFSOCK else {
                throw AxisError(.config, "\(path) exists and is not a socket; move it away or choose another admin socket path")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AxisError(.storageIO, "socket(AF_UNIX) failed", errno: errno) }
        do {
            // The file is created by bind with the umask applied: start with no access for others,
            // then widen to `mode`, so there is no moment in which anyone else could connect.
            let previous = umask(0o177)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            let bindErrno = errno
            umask(previous)
            guard bound == 0 else { throw AxisError(.config, "cannot create the socket \(path)", errno: bindErrno) }
            if let group, chown(path, uid_t.max, group) != 0 {
                throw AxisError(.config, "cannot give \(path) to group \(group)", errno: errno)
            }
            guard chmod(path, mode) == 0 else { throw AxisError(.config, "cannot set the mode of \(path)", errno: errno) }
            guard Glibc.listen(fd, backlog) == 0 else { throw AxisError(.config, "cannot listen on \(path)", errno: errno) }
            return fd
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
    }

    /// Starts a connection to the Unix-domain socket at `path` (see `startConnect(host:port:)`).
    public static func startConnect(unixPath path: String) throws -> ConnectStart {
        var address = try unixAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AxisError(.storageIO, "socket(AF_UNIX) failed", errno: errno) }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if ok == 0 { return .connected(fd) }
        let code = errno
        if code == EINPROGRESS || code == EINTR || code == EAGAIN { return .inProgress(fd) }
        close(fd)
        return .failed(errno: code)
    }

    /// The process, user and group on the other end of a Unix-domain connection (SO_PEERCRED).
    public static func peerCredentials(_ fd: Int32) -> PeerCredentials? {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard axis_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw AxisError(.config, "the socket path \(path) is empty or longer than \(capacity - 1) bytes; choose a shorter path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        return address
    }

    /// The local port a socket is bound to (after listening on port 0).
    public static func localPort(_ fd: Int32) throws -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { throw AxisError(.storageIO, "getsockname failed", errno: errno) }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Accepts one pending connection, non-blocking and close-on-exec; nil when none is pending.
    public static func accept(_ listener: Int32) throws -> Int32? {
        while true {
            let fd = axis_accept_nonblocking(listener)
            if fd >= 0 { return fd }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR, ECONNABORTED: continue
            default: throw AxisError(.storageIO, "accept failed", errno: errno)
            }
        }
    }

    /// A blocking TCP connection to `host:port` (clients and tests).
    public static func connect(host: String, port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AxisError(.storageIO, "socket() failed", errno: errno) }
        var address = try ipv4(host, port)
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            let code = errno
            close(fd)
            throw AxisError(.storageIO, "cannot connect to \(host):\(port)", errno: code)
        }
        return fd
    }

    /// How a non-blocking connect began (see `startConnect`).
    public enum ConnectStart: Sendable, Equatable {
        /// Already connected (loopback often is): the socket is ready for I/O.
        case connected(Int32)
        /// Under way: wait until the socket is writable, then read the outcome with `connectError(_:)`.
        case inProgress(Int32)
        /// Refused or unreachable at once; the socket is already closed.
        case failed(errno: Int32)
    }

    /// Starts a TCP connection to `host:port` on a non-blocking, close-on-exec socket and returns at
    /// once, so the caller can bound the wait with poll(2) (a blocking connect(2) to an address that
    /// drops packets waits for the kernel's SYN retries, minutes). Throws only when no socket can be
    /// made or `host` is not an IPv4 address; connect errors come back as `.failed` for the caller to
    /// describe in its own terms.
    public static func startConnect(host: String, port: UInt16) throws -> ConnectStart {
        var address = try ipv4(host, port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AxisError(.storageIO, "socket() failed", errno: errno) }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if ok == 0 { return .connected(fd) }
        let code = errno
        // EINTR: the connection still proceeds asynchronously (connect(2)), exactly like EINPROGRESS.
        if code == EINPROGRESS || code == EINTR { return .inProgress(fd) }
        close(fd)
        return .failed(errno: code)
    }

    /// The outcome of a non-blocking connect once its socket polled writable: 0 when connected, else
    /// the errno it failed with (SO_ERROR).
    public static func connectError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
        return value
    }

    /// Raises the soft limit on open descriptors to the hard limit (a server with thousands of
    /// connections needs more than the usual 1,024) and returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// For a program (axisd): a write to a connection the peer closed fails with EPIPE instead of
    /// killing the process with SIGPIPE. A library does not change the process's signal handling;
    /// it blocks SIGPIPE on its own I/O threads instead (`blockBrokenPipesOnThisThread`).
    public static func ignoreBrokenPipes() {
        _ = signal(SIGPIPE, SIG_IGN)
    }

    /// Blocks SIGPIPE on the calling thread, for threads that only do socket I/O (the server's event
    /// loops): OpenSSL writes through plain `write`, which has no per-call opt-out, and SIGPIPE from a
    /// write goes to the writing thread, so there it stays pending and the write fails with EPIPE.
    public static func blockBrokenPipesOnThisThread() {
        var pipe = sigset_t()
        sigemptyset(&pipe)
        sigaddset(&pipe, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipe, nil)
    }

    public static func setNoDelay(_ fd: Int32) { try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY") }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw AxisError(.storageIO, "setsockopt \(label) failed", errno: errno)
        }
    }

    static func ipv4(_ host: String, _ port: UInt16) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw AxisError(.config, "'\(host)' is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)")
        }
        return address
    }
}

/// Who is on the other end of a Unix-domain connection, as the kernel vouches for it.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: pid_t
    public var uid: uid_t
    public var gid: gid_t
    public init(pid: pid_t, uid: uid_t, gid: gid_t) { (self.pid, self.uid, self.gid) = (pid, uid, gid) }
}
