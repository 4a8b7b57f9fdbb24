@preconcurrency import Glibc
import CAxisSys

/// epoll's readiness bits, under names that say what they mean.
public enum IOEvents {
    public static let readable: UInt32 = EPOLLIN.rawValue
    public static let writable: UInt32 = EPOLLOUT.rawValue
    /// The peer shut down its sending side (asked for explicitly; level-triggered like the others).
    public static let readHangup: UInt32 = EPOLLRDHUP.rawValue
    /// The peer closed its side (or both): treat as end of input.
    public static let peerClosed: UInt32 = EPOLLRDHUP.rawValue | EPOLLHUP.rawValue
    public static let error: UInt32 = EPOLLERR.rawValue
}

/// Something an event loop watches: a socket and what to do when it is ready.
/// `ready` runs on the loop's thread only, so a handler needs no locks for its own state.
public protocol Selectable: AnyObject {
    var fd: Int32 { get }
    /// `events` are epoll's bits (`EPOLLIN`, `EPOLLOUT`, `EPOLLHUP`, `EPOLLERR`, `EPOLLRDHUP`).
    func ready(_ events: UInt32, loop: EventLoop)
}

/// One thread, one epoll set: the server's unit of concurrency (see docs/ARCHITECTURE.md).
///
/// Connections live on one loop for their whole life, so their state is touched by one thread only.
/// Other threads hand work to a loop with `execute` (a queue plus an eventfd wake-up); periodic work
/// such as time-outs runs from `every`. Idle connections cost a table entry and their handler's
/// memory, nothing else: thousands of keep-alive connections are cheap.
public final class EventLoop: @unchecked Sendable {
    public let name: String
    private let epfd: Int32
    private let wakeFD: Int32
    private var handlers: [Int32: Selectable] = [:]
    private let pending = Locked<[@Sendable () -> Void]>([])
    private var periodic: [(intervalNanos: UInt64, due: UInt64, body: () -> Void)] = []
    private let running = Locked(true)
    private var thread: pthread_t?

    public init(name: String) throws {
        self.name = name
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw AxisError(.storageIO, "epoll_create1 failed", errno: errno) }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            close(epfd)
            throw AxisError(.storageIO, "eventfd failed", errno: errno)
        }
        guard axis_epoll_add(epfd, wakeFD, EPOLLIN.rawValue) == 0 else {
            close(wakeFD)
            close(epfd)
            throw AxisError(.storageIO, "epoll_ctl(eventfd) failed", errno: errno)
        }
    }

    deinit {
        close(wakeFD)
        close(epfd)
    }

    /// Number of registered handlers (loop thread).
    public var registeredCount: Int { handlers.count }

    /// True on the loop's own thread.
    public var inLoop: Bool { thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    // MARK: Registration (loop thread)

    public func add(_ handler: Selectable, events: UInt32) throws {
        guard axis_epoll_add(epfd, handler.fd, events) == 0 else {
            throw AxisError(.storageIO, "epoll_ctl ADD fd \(handler.fd) failed", errno: errno)
        }
        handlers[handler.fd] = handler
    }

    public func modify(_ handler: Selectable, events: UInt32) throws {
        guard axis_epoll_modify(epfd, handler.fd, events) == 0 else {
            throw AxisError(.storageIO, "epoll_ctl MOD fd \(handler.fd) failed", errno: errno)
        }
    }

    /// Stops watching `handler` (the caller closes its descriptor afterwards).
    public func remove(_ handler: Selectable) {
        _ = axis_epoll_remove(epfd, handler.fd)
        handlers[handler.fd] = nil
    }

    /// Runs `body` on the loop thread every `millis` milliseconds (first run one interval from now).
    public func every(millis: Int, _ body: @escaping () -> Void) {
        let interval = UInt64(max(1, millis)) * 1_000_000
        periodic.append((interval, SystemClock.monotonicNanos() + interval, body))
    }

    // MARK: From any thread

    /// Runs `task` on the loop thread, soon.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        pending.update { $0.append(task) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Asks the loop to return from `run` after its current iteration.
    public func stop() {
        running.update { $0 = false }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: The loop

    /// Runs until `stop`. Call from the thread that is to be the loop's.
    public func run() {
        thread = pthread_self()
        var fds = [Int32](repeating: 0, count: 512)
        var events = [UInt32](repeating: 0, count: 512)
        while running.read({ $0 }) {
            let n = axis_epoll_wait(epfd, &fds, &events, Int32(fds.count), nextTimeoutMillis())
            if n < 0 && errno != EINTR { break }
            for i in 0..<max(0, Int(n)) {
                let fd = fds[i]
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                // A handler removed earlier in this batch is gone from the table: skip it.
                handlers[fd]?.ready(events[i], loop: self)
            }
            runPending()
            runPeriodic()
        }
        runPending()
    }

    private func runPending() {
        let tasks = pending.update { tasks -> [@Sendable () -> Void] in
            defer { tasks.removeAll(keepingCapacity: true) }
            return tasks
        }
        for task in tasks { task() }
    }

    private func runPeriodic() {
        guard !periodic.isEmpty else { return }
        let now = SystemClock.monotonicNanos()
        for i in periodic.indices where periodic[i].due <= now {
            periodic[i].due = now + periodic[i].intervalNanos
            periodic[i].body()
        }
    }

    private func nextTimeoutMillis() -> Int32 {
        guard let due = periodic.map(\.due).min() else { return -1 }
        let now = SystemClock.monotonicNanos()
        return due <= now ? 0 : Int32(min(60_000, (due - now + 999_999) / 1_000_000))
    }
}

/// A listening socket on a loop: accepts every pending connection and hands each descriptor to
/// `accepted`, on the loop thread.
public final class Acceptor: Selectable, @unchecked Sendable {  // built on any thread, used on its loop only
    public let fd: Int32
    private let accepted: (Int32, EventLoop) -> Void
    private let onError: (AxisError) -> Void

    public init(listening fd: Int32, accepted: @escaping (Int32, EventLoop) -> Void, onError: @escaping (AxisError) -> Void = { _ in }) {
        self.fd = fd
        self.accepted = accepted
        self.onError = onError
    }

    public func ready(_ events: UInt32, loop: EventLoop) {
        do {
            while let connection = try Socket.accept(fd) { accepted(connection, loop) }
        } catch let error as AxisError {
            // EMFILE and friends: report, keep listening; the next readiness retries.
            onError(error)
        } catch {
            onError(AxisError(.storageIO, "\(error)"))
        }
    }
}
