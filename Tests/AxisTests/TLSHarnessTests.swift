// The harness of the TLS tests (kept in a TLS*Tests.swift file so it stays with them):
//   - `TLSFixture`: a development PKI, a second and unrelated one, and a server certificate for
//     `localhost` / 127.0.0.1 issued by the first PKI's root with the stock `openssl` tool;
//   - `TLSLoopbackServer`: a one-connection-at-a-time server on a loopback port, on its own thread,
//     driving `TLSConnection` with poll(2) exactly as an event loop would;
//   - `TLSLoopbackClient`: the same for the client side, in the calling thread;
//   - `runTool`: runs openssl / curl with bytes on stdin, and a watchdog instead of a sleep.
// Every wait is poll(2) on a socket or a semaphore with a generous limit that only a hung peer reaches.
import Foundation
import XCTest
@testable import Axis

/// The certificates and keys the TLS tests use, made once per test process.
final class TLSFixture: Sendable {
    let directory: String
    let pki: DevelopmentPKI
    /// A PKI whose root the servers do not trust.
    let unrelatedPKI: DevelopmentPKI
    /// EC P-256, issued by `pki`'s root; subjectAltName DNS:localhost, IP:127.0.0.1; extendedKeyUsage serverAuth.
    let serverCertificatePath: String
    let serverKeyPath: String

    /// Lives until the test process ends; `TLSTests.tearDown()` of the class removes the directory.
    static let shared: Result<TLSFixture, Error> = Result { try TLSFixture() }

    static func get() throws -> TLSFixture { try shared.get() }

    private init() throws {
        directory = NSTemporaryDirectory() + "axis-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = SystemClock().now()
        pki = try DevelopmentPKI.create(at: directory + "/pki", now: now)
        unrelatedPKI = try DevelopmentPKI.create(at: directory + "/unrelated", agencies: [(code: Demo.agencyCodes[0], name: "Unrelated")],
                                                 now: now)
        serverCertificatePath = directory + "/server.pem"
        serverKeyPath = directory + "/server.key"
        let extensions = directory + "/server.ext"
        try """
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:localhost, IP:127.0.0.1

            """.write(toFile: extensions, atomically: true, encoding: .utf8)
        let request = directory + "/server.csr"
        let made = try runTool("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                           "-keyout", serverKeyPath, "-subj", "/C=VN/O=\(DevelopmentPKI.organization)/CN=localhost",
                                           "-out", request])
        guard made.status == 0 else { throw ProcessTestError("openssl req failed: \(made.output)") }
        let signed = try runTool("openssl", ["x509", "-req", "-in", request, "-CA", pki.rootCertificatePath,
                                             "-CAkey", pki.directory + "/private/root-ca.key", "-set_serial", "4242", "-days", "2",
                                             "-extfile", extensions, "-out", serverCertificatePath])
        guard signed.status == 0 else { throw ProcessTestError("openssl x509 -req failed: \(signed.output)") }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// The agency whose certificate clients present (EC P-256).
    var agency: DevelopmentPKI.Credential { pki.agencies[0] }

    /// Anchors, intermediates and CRLs of `pki`: revocation is checked.
    func clientTrust() throws -> TLSPeerTrust { try TLSPeerTrust(try TrustStore.load(pki.trustConfiguration)) }

    func serverContext(_ authentication: TLSConfiguration.ClientAuthentication) throws -> TLSContext {
        try TLSContext(try .server(certificateChainFile: serverCertificatePath, privateKeyFile: serverKeyPath,
                                   clientAuthentication: authentication))
    }

    func requiredClientCertificateServer() throws -> TLSContext { try serverContext(.required(try clientTrust())) }

    /// A client that trusts `pki`'s root and presents `credential` (an agency's, by default).
    func clientContext(credential: DevelopmentPKI.Credential? = nil) throws -> TLSContext {
        let presented = credential ?? agency
        let loaded = try TLSCredential.load(certificateChainFile: presented.certificatePath, privateKeyFile: presented.keyPath)
        return try TLSContext(.client(trust: try .load(caFile: pki.rootCertificatePath), credential: loaded))
    }

    func anonymousClientContext() throws -> TLSContext {
        try TLSContext(.client(trust: try .load(caFile: pki.rootCertificatePath)))
    }
}

// MARK: - Server

/// A loopback TLS server that serves one connection at a time: handshake, read one HTTP-ish request
/// (up to a blank line), answer with the client certificate's fingerprint as the body, close_notify, close.
final class TLSLoopbackServer: @unchecked Sendable {
    /// What happened on one connection.
    struct Outcome: Sendable {
        var handshake: TLSConnection.Progress
        var peer: Certificate?
        var protocolVersion = ""
        var cipherSuite = ""
        var resumed = false
        var request: [UInt8] = []
        /// A failure after the handshake, or a wait that ran out.
        var error: AxisError?
    }

    static let waitMillisMax: Int32 = 30_000

    let port: UInt16
    private let context: TLSContext
    private let listener: Int32
    private let wake: [Int32]
    private let lock = NSLock()
    private var outcomes: [Outcome] = []
    private let available = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(context: TLSContext) throws {
        self.context = context
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw ProcessTestError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = listener
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                bind(fd, sa, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw ProcessTestError("bind/listen on 127.0.0.1: errno \(errno)") }
        port = UInt16(bigEndian: address.sin_port)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw ProcessTestError("pipe: errno \(errno)") }
        wake = pipeFDs
        Thread.detachNewThread { [self] in run() }
    }

    /// Stops the thread and closes the listener (connections are closed as they finish).
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
        finished.wait()
        close(listener)
        close(wake[0])
        close(wake[1])
    }

    /// The outcome of the next connection, in accept order.
    func nextOutcome() throws -> Outcome {
        guard available.wait(timeout: .now() + .milliseconds(Int(Self.waitMillisMax) * 2)) == .success else {
            throw ProcessTestError("the server finished no connection: is the client hung?")
        }
        return lock.withLock { outcomes.removeFirst() }
    }

    private func run() {
        defer { finished.signal() }
        while true {
            guard waitFor(listener, events: POLLIN, forever: true) else { return }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            let outcome = serve(fd)
            closeGracefully(fd)
            lock.withLock { outcomes.append(outcome) }
            available.signal()
        }
    }

    /// Half-closes, then reads until the client closes too. A plain close with the client's bytes
    /// unread would send a reset that races the TLS alert just written: the client might see
    /// "connection reset" instead of the alert, and the tests could not say which it gets.
    private func closeGracefully(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 4096)
        while waitFor(fd, events: POLLIN), scratch.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
    }

    /// Waits until `fd` is ready for `events`; false when stopped or after `waitMillisMax`.
    private func waitFor(_ fd: Int32, events: Int32, forever: Bool = false) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(events), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, forever ? -1 : Self.waitMillisMax)
            if ready < 0 && errno == EINTR { continue }
            return ready > 0 && fds[1].revents == 0
        }
    }

    /// Waits for readiness; false (with `outcome.error` set) when the wait failed.
    private func waitOn(_ fd: Int32, wantRead: Bool, _ outcome: inout Outcome) -> Bool {
        if waitFor(fd, events: wantRead ? POLLIN : POLLOUT) { return true }
        outcome.error = AxisError(.usage, "the test server gave up waiting for the client")
        return false
    }

    private func serve(_ fd: Int32) -> Outcome {
        let connection: TLSConnection
        do {
            connection = try TLSConnection(context: context, fd: fd)
        } catch {
            return Outcome(handshake: .failed(AxisError(.crypto, "\(error)")))
        }
        var outcome = Outcome(handshake: .wantRead)
        handshaking: while true {
            outcome.handshake = connection.handshake()
            switch outcome.handshake {
            case .wantRead, .wantWrite:
                guard waitOn(fd, wantRead: outcome.handshake == .wantRead, &outcome) else { return outcome }
            case .done, .closed, .failed:
                break handshaking
            }
        }
        guard outcome.handshake == .done else { return outcome }
        outcome.peer = connection.peerCertificate
        outcome.protocolVersion = connection.protocolVersion
        outcome.cipherSuite = connection.cipherSuite
        outcome.resumed = connection.isSessionResumed

        var buffer = [UInt8](repeating: 0, count: 4096)
        reading: while !outcome.request.containsBlankLine {
            switch buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) {
            case .bytes(let count): outcome.request += buffer[..<count]
            case .wantRead: guard waitOn(fd, wantRead: true, &outcome) else { return outcome }
            case .wantWrite: guard waitOn(fd, wantRead: false, &outcome) else { return outcome }
            case .closed: break reading
            case .failed(let error):
                outcome.error = error
                return outcome
            }
        }
        let body = (outcome.peer?.fingerprint.hex ?? "no-client-certificate") + "\n"
        let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
        var pending = ArraySlice(Array(response.utf8))
        while !pending.isEmpty {
            switch pending.withUnsafeBytes({ connection.write($0) }) {
            case .bytes(let count): pending = pending.dropFirst(count)
            case .wantWrite: guard waitOn(fd, wantRead: false, &outcome) else { return outcome }
            case .wantRead: guard waitOn(fd, wantRead: true, &outcome) else { return outcome }
            case .failed(let error):
                outcome.error = error
                return outcome
            }
        }
        while true {
            switch connection.shutdown() {
            case .done, .closed: return outcome
            case .wantRead: guard waitOn(fd, wantRead: true, &outcome) else { return outcome }
            case .wantWrite: guard waitOn(fd, wantRead: false, &outcome) else { return outcome }
            case .failed(let error):
                outcome.error = error
                return outcome
            }
        }
    }
}

extension [UInt8] {
    var containsBlankLine: Bool {
        let marker: [UInt8] = [13, 10, 13, 10]
        guard count >= marker.count else { return false }
        return (0...(count - marker.count)).contains { self[$0..<$0 + marker.count].elementsEqual(marker) }
    }
}

// MARK: - Client

/// The project's own client side, driven with poll(2) in the calling thread.
enum TLSLoopbackClient {
    struct Result {
        var handshake: TLSConnection.Progress
        var protocolVersion = ""
        var resumed = false
        /// Everything read until close_notify (or a failure).
        var response: [UInt8] = []
        var readError: AxisError?
        var session: TLSSession?

        var body: String {
            let text = String(decoding: response, as: UTF8.self)
            guard let blank = text.range(of: "\r\n\r\n") else { return "" }
            return String(text[blank.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A TCP socket connected to 127.0.0.1:`port`, then made non-blocking.
    static func connectLoopback(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ProcessTestError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
            close(fd)
            throw ProcessTestError("connect to 127.0.0.1:\(port): errno \(errno)")
        }
        return fd
    }

    static func waitFor(_ fd: Int32, read: Bool) throws {
        var p = pollfd(fd: fd, events: Int16(read ? POLLIN : POLLOUT), revents: 0)
        while true {
            let ready = poll(&p, 1, TLSLoopbackServer.waitMillisMax)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw ProcessTestError("the server did not answer within \(TLSLoopbackServer.waitMillisMax) ms") }
            return
        }
    }

    /// Handshake, one request, the whole response, close_notify.
    static func exchange(context: TLSContext, port: UInt16, serverName: String, resuming session: TLSSession? = nil) throws -> Result {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        let connection = try TLSConnection(context: context, fd: fd, serverName: serverName, resuming: session)
        var result = Result(handshake: .wantRead)
        handshaking: while true {
            result.handshake = connection.handshake()
            switch result.handshake {
            case .wantRead: try waitFor(fd, read: true)
            case .wantWrite: try waitFor(fd, read: false)
            case .done, .closed, .failed: break handshaking
            }
        }
        guard result.handshake == .done else { return result }
        result.protocolVersion = connection.protocolVersion
        result.resumed = connection.isSessionResumed
        var pending = ArraySlice(Array("GET / HTTP/1.1\r\nHost: \(serverName)\r\n\r\n".utf8))
        while !pending.isEmpty {
            switch pending.withUnsafeBytes({ connection.write($0) }) {
            case .bytes(let count): pending = pending.dropFirst(count)
            case .wantWrite: try waitFor(fd, read: false)
            case .wantRead: try waitFor(fd, read: true)
            case .failed(let error):
                result.readError = error
                return result
            }
        }
        // A small buffer on purpose: the response takes several reads, as it would on a busy loop.
        var buffer = [UInt8](repeating: 0, count: 64)
        reading: while true {
            switch buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) {
            case .bytes(let count): result.response += buffer[..<count]
            case .wantRead: try waitFor(fd, read: true)
            case .wantWrite: try waitFor(fd, read: false)
            case .closed: break reading
            case .failed(let error):
                result.readError = error
                break reading
            }
        }
        result.session = connection.session
        _ = connection.shutdown()
        return result
    }
}

// MARK: - External tools

/// The path of `name` on PATH; a missing tool is a failure with the fix in the message.
func toolPath(_ name: String) throws -> String {
    if name.hasPrefix("/") { return name }
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for directory in directories + ["/usr/bin", "/usr/local/bin"] where access("\(directory)/\(name)", X_OK) == 0 {
        return "\(directory)/\(name)"
    }
    throw ProcessTestError("the '\(name)' command is needed: apt-get install \(name) (.ci/run does)")
}

/// Runs `tool` with `input` on stdin; returns its exit status and stdout + stderr together. A watchdog
/// kills it after `secondsMax` so a hung tool fails the test instead of hanging it.
func runTool(_ tool: String, _ arguments: [String], input: [UInt8] = [], secondsMax: Int = 60) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try toolPath(tool))
    process.arguments = arguments
    let stdin = Pipe(), output = Pipe()
    process.standardInput = stdin
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(secondsMax), execute: watchdog)
    defer { watchdog.cancel() }
    if !input.isEmpty { stdin.fileHandleForWriting.write(Data(input)) }
    try stdin.fileHandleForWriting.close()
    let bytes = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: bytes, as: UTF8.self))
}
