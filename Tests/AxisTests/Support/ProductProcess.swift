import Foundation
import XCTest

/// Finds an executable this package builds (`axisd`, `axisctl`, `axis-bench`) next to the running
/// test binary, so process tests run exactly what `swift build` just built. A missing binary is a
/// test failure with the fix in the message, never a skip.
func productPath(_ name: String) throws -> String {
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        let candidate = (exe as NSString).deletingLastPathComponent + "/" + name
        if access(candidate, X_OK) == 0 { return candidate }
    }
    let bundled = Bundle.main.bundleURL.appendingPathComponent(name).path
    if access(bundled, X_OK) == 0 { return bundled }
    throw ProcessTestError("the '\(name)' executable is not built: run `swift build` (same --scratch-path as `swift test`) first")
}

struct ProcessTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A child process started with posix_spawn: stdin from /dev/null, stdout and stderr into pipes
/// read line by line with poll(2), so a test waits for what the child says, never for time.
final class ProductProcess {
    let pid: pid_t
    var stdout: PipeLines
    var stderr: PipeLines
    private var status: Int32?

    init(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw ProcessTestError("pipe: errno \(errno)") }
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
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
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        close(out[1])
        close(err[1])
        guard rc == 0 else {
            close(out[0])
            close(err[0])
            throw ProcessTestError("posix_spawn '\(path)': errno \(rc)")
        }
        self.pid = pid
        stdout = PipeLines(fd: out[0])
        stderr = PipeLines(fd: err[0])
    }

    deinit {
        if status == nil { kill(pid, SIGKILL) }
        _ = wait()
        close(stdout.fd)
        close(stderr.fd)
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for the process to end; returns its exit code, or 128 + signal number.
    @discardableResult
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let sig = raw & 0x7F  // WTERMSIG / WEXITSTATUS are macros Swift cannot import
        let result = sig != 0 ? 128 + sig : (raw >> 8) & 0xFF
        status = result
        return result
    }

    /// Reads stderr lines until one contains `text`; fails after `seconds` of silence or at EOF.
    @discardableResult
    func waitForStderr(containing text: String, seconds: Int32 = 60) throws -> String {
        var seen: [String] = []
        while let line = try stderr.nextLine(timeoutMillis: seconds * 1000) {
            if line.contains(text) { return line }
            seen.append(line)
        }
        throw ProcessTestError("process ended without printing '\(text)'; stderr was:\n" + seen.joined(separator: "\n"))
    }

    /// Everything left on a pipe until the writer closes it.
    static func drain(_ lines: inout PipeLines, seconds: Int32 = 60) throws -> [String] {
        var out: [String] = []
        while let line = try lines.nextLine(timeoutMillis: seconds * 1000) { out.append(line) }
        return out
    }

    /// Runs to completion and returns (exit code, stdout, stderr).
    static func run(_ path: String, _ arguments: [String], seconds: Int32 = 120) throws -> (code: Int32, out: String, err: String) {
        let p = try ProductProcess(path, arguments)
        // Read both pipes: stdout first to its end, then stderr (children here write little to stderr).
        let out = try drain(&p.stdout, seconds: seconds)
        let err = try drain(&p.stderr, seconds: seconds)
        return (p.wait(), out.joined(separator: "\n"), err.joined(separator: "\n"))
    }
}

/// Splits a pipe into lines, waiting with poll(2) so a silent child cannot hang a test forever.
struct PipeLines {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(fd: Int32) { self.fd = fd }

    /// The next line without its newline, or nil once the writer has closed the pipe.
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
                throw ProcessTestError("poll failed: errno \(errno)")
            }
            if ready == 0 { throw ProcessTestError("no output for \(timeoutMillis) ms: the child looks hung") }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ProcessTestError("read failed: errno \(errno)")
            }
            if n == 0 { atEnd = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }
}
