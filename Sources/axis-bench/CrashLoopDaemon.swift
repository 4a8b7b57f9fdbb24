@preconcurrency import Glibc
import Axis
import Foundation

/// One `axisd --demo` process of the crash loop, started with posix_spawn on the run's data
/// directory (`--listen 127.0.0.1:0`: each start reports its own port, so a restart never waits
/// for the old port to be free).
///
/// Standard error goes through a pipe: until `axisd.ready` the coordinator reads it itself (every
/// line into the run's log, the API port and recovery facts picked out); after that a thread copies
/// the rest into the log until the process dies, and `reap()` waits for both. Standard output (the
/// demo banner) goes to /dev/null.
final class CrashLoopDaemon {
    /// What startup reported before `axisd.ready`.
    struct Startup {
        var apiPort: UInt16
        var readyNanos: UInt64
        var documentsReplayed: Int?
        var tornTails: Int
        var incompleteSegments: Int
    }

    let pid: pid_t
    private let stderrFD: Int32
    /// Reads `stderrFD`; handed to the drain thread after `ready`, with whatever it has buffered.
    private var reader: LineReader
    private let started = SystemClock.monotonicNanos()
    private let log: FileDescriptorLogSink
    private var drained: Latch?
    private var exitStatus: Int32?

    /// Starts axisd; throws if it cannot be spawned.
    init(binary: String, arguments: [String], log: FileDescriptorLogSink) throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw AxisError(.storageIO, "pipe for axisd's stderr failed", errno: errno) }
        // Close-on-exec, so no later axisd inherits an earlier one's pipe (the child gets its end by dup2).
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, binary, &actions, &attr, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw AxisError(.usage, "cannot start \(binary): posix_spawn failed", errno: rc)
        }
        self.pid = pid
        stderrFD = fds[0]
        reader = LineReader(fd: fds[0])
        self.log = log
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            _ = reap()
        }
    }

    /// Reads standard error until `axisd.ready`. Throws, with the last lines, if axisd exits first
    /// or says nothing for `silenceSecondsMax`.
    func waitUntilReady(silenceSecondsMax: Int32 = 600) throws -> Startup {
        var port: UInt16?
        var startup = Startup(apiPort: 0, readyNanos: 0, documentsReplayed: nil, tornTails: 0, incompleteSegments: 0)
        var tail: [String] = []
        while true {
            guard let line = try reader.nextLine(timeoutMillis: silenceSecondsMax * 1000) else {
                throw AxisError(.usage, "axisd exited before it was ready; its last lines:\n" + tail.joined(separator: "\n"))
            }
            log.write(line: line + "\n")
            tail.append(line)
            if tail.count > 30 { tail.removeFirst() }
            if let value = Self.field(line, event: "api.listening", key: "address"), let colon = value.lastIndex(of: ":") {
                port = UInt16(value[value.index(after: colon)...])
            } else if let value = Self.field(line, event: "queue.replayed", key: "documents") {
                startup.documentsReplayed = Int(value)
            } else if line.contains("event=journal.torn_tail_truncated") {
                startup.tornTails += 1
            } else if line.contains("event=journal.incomplete_segment_removed") {
                startup.incompleteSegments += 1
            } else if line.contains("event=axisd.ready") {
                guard let port else { throw AxisError(.usage, "axisd was ready without reporting api.listening:\n" + tail.joined(separator: "\n")) }
                startup.apiPort = port
                startup.readyNanos = SystemClock.monotonicNanos() - started
                return startup
            }
        }
    }

    /// Copies the rest of standard error into the log on a thread, calling `onLine` for each line,
    /// until axisd exits.
    func drainInBackground(onLine: @escaping @Sendable (String) -> Void) {
        let latch = Latch(count: 1)
        drained = latch
        let handed = reader
        let log = log
        let thread = Thread {
            var reader = handed
            while let line = try? reader.nextLine(timeoutMillis: -1) {
                log.write(line: line + "\n")
                onLine(line)
            }
            latch.countDown()
        }
        thread.name = "axisd-stderr"
        thread.start()
    }

    /// SIGKILL, then waits for the process and its log.
    @discardableResult
    func kill9() -> Int32 {
        kill(pid, SIGKILL)
        return reap()
    }

    /// SIGTERM (a clean stop), then waits for the process and its log.
    func terminate() -> Int32 {
        kill(pid, SIGTERM)
        return reap()
    }

    /// Waits for the process to end and its standard error to be copied; returns its exit code,
    /// or 128 + the signal that ended it.
    @discardableResult
    func reap() -> Int32 {
        if let exitStatus { return exitStatus }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let signal = raw & 0x7F  // WTERMSIG / WEXITSTATUS are macros Swift cannot import
        let status = signal != 0 ? 128 + signal : (raw >> 8) & 0xFF
        exitStatus = status
        if let drained {
            drained.wait()
        } else {
            // Never drained (killed during startup): copy what it said, to its end.
            while let line = try? reader.nextLine(timeoutMillis: 10_000) { log.write(line: line + "\n") }
        }
        close(stderrFD)
        return status
    }

    /// The value of `key=` on a kv log line of `event`, up to the next space (values quoted with
    /// spaces are not needed here).
    static func field(_ line: String, event: String, key: String) -> String? {
        guard line.contains("event=\(event) "), let range = line.range(of: " \(key)=") else { return nil }
        return String(line[range.upperBound...].prefix { $0 != " " })
    }
}

/// Splits a descriptor's bytes into lines, waiting with poll(2).
struct LineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(fd: Int32) { self.fd = fd }

    /// The next line without its newline; nil at end of file. `timeoutMillis` < 0 waits forever.
    mutating func nextLine(timeoutMillis: Int32) throws -> String? {
        while true {
            if let nl = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[start..<nl], as: UTF8.self)
                start = nl + 1
                if start > 1 << 16 {
                    buffer.removeFirst(start)
                    start = 0
                }
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let partial = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return partial
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, timeoutMillis)
            if ready < 0 {
                if errno == EINTR { continue }
                throw AxisError(.storageIO, "poll on axisd's stderr failed", errno: errno)
            }
            if ready == 0 { throw AxisError(.usage, "axisd wrote nothing for \(timeoutMillis) ms: it looks hung") }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AxisError(.storageIO, "reading axisd's stderr failed", errno: errno)
            }
            if n == 0 { atEnd = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }
}
