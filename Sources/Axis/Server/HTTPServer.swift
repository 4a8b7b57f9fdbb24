import Foundation
@preconcurrency import Glibc

/// Axis's HTTP/1.1 server: one epoll loop per core, each with its own listening socket on the same
/// port (SO_REUSEPORT: the kernel spreads connections, no shared accept lock), connections pinned to
/// the loop that accepted them, TLS optional per server. Requests go to an `HTTPService`.
///
/// Memory is bounded per connection (a 16 KiB read buffer, the response being written, TLS state of
/// ~22 KB when idle) and by `maxConnections`, so thousands of idle keep-alive connections are cheap.
public final class HTTPServer: @unchecked Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        /// 0 picks a free port (tests); `start()` returns the one chosen.
        public var port: UInt16 = 0
        public var loops = 2
        public var limits = HTTPLimits()
        public var headerTimeoutMillis: Int64 = 10_000
        public var bodyIdleTimeoutMillis: Int64 = 30_000
        public var keepAliveIdleMillis: Int64 = 60_000
        /// Connections beyond this are closed as soon as accepted.
        public var maxConnections = 20_000
        /// nil: plaintext (only for loopback or the legacy VDXP API; axisd warns).
        public var tls: TLSContext?
        /// Listen on this Unix-domain socket instead of `host:port` (one loop; peers carry their
        /// uid/gid in `HTTPPeer.credentials`): the admin socket.
        public var unixSocket: UnixSocket?

        public init() {}

        public struct UnixSocket: Sendable {
            public var path: String
            public var mode: mode_t
            public var group: gid_t?
            public init(path: String, mode: mode_t = 0o600, group: gid_t? = nil) { (self.path, self.mode, self.group) = (path, mode, group) }
        }

        var headerTimeoutNanos: UInt64 { UInt64(max(1, headerTimeoutMillis)) * 1_000_000 }
        var bodyIdleTimeoutNanos: UInt64 { UInt64(max(1, bodyIdleTimeoutMillis)) * 1_000_000 }
        var keepAliveIdleNanos: UInt64 { UInt64(max(1, keepAliveIdleMillis)) * 1_000_000 }
    }

    public let options: Options
    private let service: HTTPService
    private var loops: [EventLoop] = []
    private var listeners: [Int32] = []
    private var finished: [Promise<Void>] = []
    private var acceptors: [Acceptor] = []
    private let contexts = Locked<[HTTPServerContext]>([])
    private let openConnections = Locked(0)

    public init(options: Options, service: HTTPService) {
        self.options = options
        self.service = service
    }

    /// Opens the listeners and starts the loops; returns the port.
    public func start() throws -> UInt16 {
        Socket.raiseDescriptorLimit()
        var port = options.port
        let loopCount = options.unixSocket == nil ? max(1, options.loops) : 1
        for index in 0..<loopCount {
            let listener: Int32
            if let unix = options.unixSocket {
                listener = try Socket.listenUnix(path: unix.path, mode: unix.mode, group: unix.group)
                port = 0
            } else {
                listener = try Socket.listen(host: options.host, port: port, reusePort: true)
                if port == 0 { port = try Socket.localPort(listener) }
            }
            listeners.append(listener)
            let loop = try EventLoop(name: "axis-http-\(index)")
            let context = HTTPServerContext(options: options, service: service, counter: openConnections)
            contexts.update { $0.append(context) }
            let acceptor = Acceptor(listening: listener, accepted: { [context] fd, loop in context.accept(fd, loop: loop) })
            acceptors.append(acceptor)
            let ready = Promise<Result<Void, AxisError>>()
            loop.execute {
                do {
                    try loop.add(acceptor, events: IOEvents.readable)
                    ready.fulfil(.success(()))
                } catch let error as AxisError {
                    ready.fulfil(.failure(error))
                } catch {
                    ready.fulfil(.failure(AxisError(.storageIO, "\(error)")))
                }
            }
            loop.every(millis: 100) { [context] in context.sweep() }
            let done = Promise<Void>()
            let thread = Thread {
                // A client that hangs up mid-reply is an error on its connection, not the process's end.
                Socket.blockBrokenPipesOnThisThread()
                loop.run()
                done.fulfil(())
            }
            thread.name = loop.name
            thread.start()
            loops.append(loop)
            finished.append(done)
            try ready.wait().get()
        }
        return port
    }

    /// Open connections across all loops.
    public var connectionCount: Int { openConnections.read { $0 } }

    /// Graceful shutdown, first half: stops accepting, closes connections that sit between requests,
    /// and lets every request under way finish (its response then closes the connection); waits until
    /// no connection is left or `graceMillis` passed. Returns how many were still open. `stop()` follows.
    @discardableResult
    public func drain(graceMillis: Int64) -> Int {
        var stopped: [Promise<Void>] = []
        for ((loop, context), acceptor) in zip(zip(loops, contexts.read { $0 }), acceptors) {
            let done = Promise<Void>()
            loop.execute {
                // Closed, not just ignored: new clients are refused at once instead of waiting in the backlog.
                loop.remove(acceptor)
                close(acceptor.fd)
                context.drain()
                done.fulfil(())
            }
            stopped.append(done)
        }
        for done in stopped { done.wait() }
        listeners.removeAll()
        let deadline = SystemClock.monotonicNanos() + UInt64(max(graceMillis, 0)) * 1_000_000
        // A bounded wait on shutdown only: the loops close connections as their responses go out.
        while connectionCount > 0 && SystemClock.monotonicNanos() < deadline { usleep(5_000) }
        return connectionCount
    }

    /// Stops accepting, closes every connection and stops the loops.
    public func stop() {
        for (loop, context) in zip(loops, contexts.read { $0 }) {
            loop.execute { context.closeAll() }
            loop.stop()
        }
        for done in finished { done.wait() }
        for fd in listeners { close(fd) }
        if let unix = options.unixSocket, !loops.isEmpty { unlink(unix.path) }
        listeners.removeAll()
        acceptors.removeAll()
        loops.removeAll()
        finished.removeAll()
    }
}

/// What the connections of one loop share: configuration, the service, and the loop's registry of
/// open connections (touched on that loop's thread only) for the time-out sweep.
final class HTTPServerContext: @unchecked Sendable {
    let options: HTTPServer.Options
    let service: HTTPService
    private let counter: Locked<Int>
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    /// Set by `drain` (loop thread): responses close their connections, new ones are refused.
    private(set) var draining = false

    init(options: HTTPServer.Options, service: HTTPService, counter: Locked<Int>) {
        self.options = options
        self.service = service
        self.counter = counter
    }

    func accept(_ fd: Int32, loop: EventLoop) {
        guard !draining else { close(fd); return }
        let admitted = counter.update { open -> Bool in
            guard open < options.maxConnections else { return false }
            open += 1
            return true
        }
        guard admitted else { close(fd); return }
        Socket.setNoDelay(fd)
        do {
            let tls = try options.tls.map { try TLSConnection(context: $0, fd: fd) }
            let credentials = options.unixSocket == nil ? nil : Socket.peerCredentials(fd)
            let connection = HTTPConnection(fd: fd, tls: tls, context: self, loop: loop, credentials: credentials)
            connections[ObjectIdentifier(connection)] = connection
            try connection.start()
        } catch {
            counter.update { $0 -= 1 }
            close(fd)
        }
    }

    func connectionClosed(_ connection: HTTPConnection) {
        if connections.removeValue(forKey: ObjectIdentifier(connection)) != nil { counter.update { $0 -= 1 } }
    }

    func sweep() {
        let now = SystemClock.monotonicNanos()
        for connection in Array(connections.values) where connection.deadline != 0 && connection.deadline <= now {
            connection.expire(now: now)
        }
    }

    func drain() {
        draining = true
        for connection in Array(connections.values) { connection.closeIfIdle() }
    }

    func closeAll() {
        for connection in Array(connections.values) { connection.close() }
    }
}
