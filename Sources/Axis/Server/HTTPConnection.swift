@preconcurrency import Glibc

/// One client connection on one event loop: TLS handshake (when configured), then HTTP/1.1 requests
/// one at a time (pipelined bytes wait their turn), each handed to the service, its response written
/// back, and the connection kept alive or closed.
///
/// States: handshaking → reading ⇄ responding → closed. While a request is with the service the
/// connection stops reading (backpressure: a client cannot queue unbounded work). Time-outs are
/// enforced by the loop's sweep through `deadline`: header time from the first byte of a request head
/// (a slow trickle of header bytes cannot hold a connection), body idle time between body reads,
/// keep-alive idle time between requests. Only the loop thread touches a connection; responses from
/// other threads arrive through `loop.execute`.
final class HTTPConnection: Selectable, @unchecked Sendable {
    enum State { case handshaking, reading, responding, closed }

    let fd: Int32
    private let transport: Transport
    private let tls: TLSConnection?
    private let context: HTTPServerContext
    private unowned let loop: EventLoop
    private(set) var state: State
    private var parser: HTTPRequestParser
    private var input = [UInt8](repeating: 0, count: 16 << 10)
    private var inputStart = 0
    private var inputEnd = 0
    private var output: [UInt8] = []
    private var outputSent = 0
    /// A response body still coming from its stream, and how many of its bytes are still to come.
    private var stream: (source: any HTTPBodyStream, remaining: UInt64)?
    /// Where a streamed body's pieces are read before they join `output` (allocated per stream).
    private var streamBuffer: [UInt8] = []
    private var handler: HTTPRequestHandler?
    private var requestVersion = HTTPVersion.http1_1
    private var requestKeepAlive = true
    /// The path of the request being read or answered (for the service's error wording).
    private var requestPath: String?
    private var closeAfterWrite = false
    private var peerFinished = false
    private var interest: UInt32 = 0
    private var peer = HTTPPeer(certificate: nil)
    /// Set once the client is gone (closed, or stopped sending while its request is served);
    /// read by responders on other threads, so a long poll stops waiting for nobody.
    private let closedFlag = Locked(false)
    /// Monotonic nanoseconds after which the sweep closes the connection (0: none, e.g. while the
    /// service works on a request).
    private(set) var deadline: UInt64

    init(fd: Int32, tls: TLSConnection?, context: HTTPServerContext, loop: EventLoop, credentials: PeerCredentials? = nil) {
        self.fd = fd
        peer = HTTPPeer(certificate: nil, credentials: credentials)
        self.tls = tls
        self.context = context
        self.loop = loop
        transport = tls.map { TLSTransport($0) } ?? PlainTransport(fd: fd)
        state = tls == nil ? .reading : .handshaking
        parser = HTTPRequestParser(limits: context.options.limits)
        deadline = SystemClock.monotonicNanos() + context.options.headerTimeoutNanos
    }

    func start() throws {
        interest = IOEvents.readable | IOEvents.readHangup
        try loop.add(self, events: interest)
    }

    // MARK: Readiness

    func ready(_ events: UInt32, loop: EventLoop) {
        if events & IOEvents.error != 0 && events & IOEvents.readable == 0 { return close() }
        switch state {
        case .handshaking: handshake()
        case .reading, .responding:
            if events & IOEvents.writable != 0 { flush() }
            if state == .responding && events & (IOEvents.peerClosed | IOEvents.readHangup) != 0 {
                // The client stopped sending while its request is with the service: answer, then close.
                peerFinished = true
                closedFlag.update { $0 = true }
                setInterest(output.isEmpty && stream == nil ? 0 : IOEvents.writable)
            } else if state == .reading && !closeAfterWrite {
                // After a `Connection: close` response nothing more is read: a pipelined request behind
                // it would be served and its answer dropped.
                readAvailable()
            }
        case .closed: break
        }
    }

    private func handshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            peer = HTTPPeer(certificate: tls.peerCertificate)
            state = .reading
            readAvailable()
        case .wantRead: setInterest(IOEvents.readable | IOEvents.readHangup)
        case .wantWrite: setInterest(IOEvents.writable)
        case .closed, .failed: close()
        }
    }

    /// Reads until the transport has nothing more (TLS may hold decrypted bytes epoll cannot see).
    private func readAvailable() {
        while state == .reading {
            if inputStart < inputEnd {
                process()
                if state != .reading {
                    // A request is with the service: stop reading (backpressure), but notice a hang-up.
                    setInterest((output.isEmpty ? 0 : IOEvents.writable) | (peerFinished ? 0 : IOEvents.readHangup))
                    return
                }
                if inputStart < inputEnd { continue }
            }
            if inputStart == inputEnd { inputStart = 0; inputEnd = 0 }
            let outcome = input.withUnsafeMutableBytes {
                transport.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[inputEnd...]))
            }
            switch outcome {
            case .bytes(let n):
                if parser.stage == .idle && inputStart == inputEnd {
                    deadline = SystemClock.monotonicNanos() + context.options.headerTimeoutNanos
                }
                inputEnd += n
            case .wantRead:
                setInterest(IOEvents.readable | IOEvents.readHangup | (output.isEmpty ? 0 : IOEvents.writable))
                return
            case .wantWrite:
                setInterest(IOEvents.writable)
                return
            case .closed, .failed:
                return close()
            }
        }
    }

    /// Feeds buffered bytes to the parser until it needs more or a request is with the service.
    private func process() {
        // The parser is called even with no bytes left: a message without a body ends right after its
        // head, and that `.end` comes from a call of its own.
        while state == .reading {
            let (sawEvent, consumed) = input.withUnsafeBytes { buffer -> (Bool, Int) in
                let (event, consumed) = parser.next(UnsafeRawBufferPointer(rebasing: buffer[inputStart..<inputEnd]))
                if let event { handle(event) }
                return (event != nil, consumed)
            }
            inputStart += consumed
            if !sawEvent { break }
        }
        if inputStart == inputEnd { inputStart = 0; inputEnd = 0 }
    }

    private func handle(_ event: HTTPRequestParser.Event) {
        switch event {
        case .head(let head):
            requestVersion = head.version
            requestKeepAlive = head.keepAlive
            requestPath = String(head.path)
            switch context.service.plan(head, peer: peer) {
            case .refuse(let error):
                fail(error)
            case .accept(let bodyLimit, let handler):
                if let error = parser.setBodyLimit(bodyLimit) { return fail(error) }
                self.handler = handler
                if head.expectsContinue {
                    output += HTTPResponseHead.continueBytes
                    flush()
                }
                deadline = SystemClock.monotonicNanos() + context.options.bodyIdleTimeoutNanos
            }
        case .body(let chunk):
            deadline = SystemClock.monotonicNanos() + context.options.bodyIdleTimeoutNanos
            do { try handler?.body(chunk) } catch let error as HTTPError { fail(error) } catch {
                fail(HTTPError(.internalServerError, HTTPError.Code("internal_error"), "the request could not be processed"))
            }
        case .end:
            guard let handler else { return }
            self.handler = nil
            state = .responding
            deadline = 0
            let target = WeakConnection(self)
            let closed = closedFlag
            let responder = HTTPResponder(deliver: { [loop] response in
                loop.execute { target.connection?.send(response) }
            }, abandoned: { closed.read { $0 } })
            handler.end(responder)
        case .error(let error):
            fail(error)
        }
    }

    // MARK: Writing

    /// Writes the service's response, then goes back to reading (keep-alive) or closes. A streamed
    /// body keeps the connection responding until its last byte is written (see `pump`).
    private func send(_ response: HTTPResponse) {
        guard state == .responding else {
            response.bodyStream?.close()
            return
        }
        var head = response.head
        head.keepAlive = head.keepAlive && requestKeepAlive && !peerFinished && !context.draining
        head.write(into: &output, peerVersion: requestVersion)
        output += response.body
        closeAfterWrite = !head.keepAlive
        if let source = response.bodyStream {
            guard case .contentLength(let length) = head.bodyFraming else {
                source.close()
                return close()
            }
            stream = (source, UInt64(length))
            streamBuffer = [UInt8](repeating: 0, count: Self.streamChunkBytes)
            // A client that stops reading is dropped after the body idle time, as one that stops sending.
            deadline = SystemClock.monotonicNanos() + context.options.bodyIdleTimeoutNanos
        } else {
            endResponse()
        }
        flush()
        if state == .reading && !closeAfterWrite { readAvailable() }
    }

    /// The response is complete (its last byte handed to `output`): back to reading the next request.
    private func endResponse() {
        state = .reading
        requestPath = nil
        deadline = SystemClock.monotonicNanos() + context.options.keepAliveIdleNanos
    }

    /// Bytes of a streamed body read per step, and steps per `flush` before other connections on
    /// this loop get their turn (the loop comes back at once: the socket is still writable).
    static let streamChunkBytes = 64 << 10
    static let streamChunksPerTurn = 16

    /// Puts the stream's next piece in `output`, or ends the response after its last byte. Returns
    /// false when the stream failed or ended short of its length: the connection is then closed, so
    /// the client sees a truncated body, never a complete-looking wrong one.
    private func pump() -> Bool {
        guard let (source, remaining) = stream else { return true }
        if remaining == 0 {
            stream = nil
            streamBuffer = []
            source.close()
            endResponse()
            return true
        }
        let want = Int(min(UInt64(streamBuffer.count), remaining))
        let got = try? streamBuffer.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
        guard let got, got > 0, got <= want else {
            close()
            return false
        }
        output.append(contentsOf: streamBuffer[0..<got])
        stream = (source, remaining - UInt64(got))
        return true
    }

    /// Answers with `error` and closes once it is written (the connection's framing is not trusted after).
    private func fail(_ error: HTTPError) {
        handler = nil
        if var response = context.service.errorResponse(error, path: requestPath) {
            response.head.keepAlive = false
            response.head.write(into: &output, peerVersion: requestVersion)
            output += response.body
        } else {
            error.writeResponse(into: &output, keepAlive: false, peerVersion: requestVersion)
        }
        closeAfterWrite = true
        state = .responding
        deadline = SystemClock.monotonicNanos() + context.options.bodyIdleTimeoutNanos
        flush()
    }

    private func flush() {
        var chunks = 0
        while true {
            while outputSent < output.count {
                let outcome = output.withUnsafeBytes { transport.write(UnsafeRawBufferPointer(rebasing: $0[outputSent...])) }
                switch outcome {
                case .bytes(let n):
                    outputSent += n
                    if stream != nil { deadline = SystemClock.monotonicNanos() + context.options.bodyIdleTimeoutNanos }
                case .wantWrite:
                    setInterest(IOEvents.writable | (state == .reading ? IOEvents.readable : 0))
                    return
                case .wantRead:
                    setInterest(IOEvents.readable)
                    return
                case .closed, .failed:
                    return close()
                }
            }
            output.removeAll(keepingCapacity: output.capacity <= 2 * Self.streamChunkBytes)
            outputSent = 0
            guard stream != nil else { break }
            chunks += 1
            if chunks > Self.streamChunksPerTurn {
                setInterest(IOEvents.writable | (peerFinished ? 0 : IOEvents.readHangup))
                return
            }
            guard pump() else { return }
        }
        if closeAfterWrite { return close() }
        // A response that was still going out when the server began draining: done now, so close.
        if context.draining && state == .reading && parser.stage == .idle && inputStart == inputEnd { return close() }
        setInterest(state == .reading ? IOEvents.readable | IOEvents.readHangup : (peerFinished ? 0 : IOEvents.readHangup))
    }

    private func setInterest(_ events: UInt32) {
        guard events != interest, state != .closed else { return }
        interest = events
        try? loop.modify(self, events: events)
    }

    // MARK: Time-outs and closing

    /// Called by the loop's sweep: closes the connection when its deadline passed, answering 408 if a
    /// request was half-way in.
    func expire(now: UInt64) {
        guard deadline != 0, now >= deadline, state != .closed else { return }
        if state == .reading && parser.stage != .idle && output.isEmpty {
            deadline = 0
            fail(HTTPError(.requestTimeout, HTTPError.Code("request_timeout"),
                           "the request was not received in time; send the head within \(context.options.headerTimeoutMillis) ms "
                           + "and keep the body moving"))
            if state != .closed { deadline = now + 1_000_000_000 }  // give the 408 a second, then drop
        } else {
            close()
        }
    }

    /// Draining: a connection between requests (or still in its TLS handshake) closes now; one with a
    /// request under way finishes it, and its response closes the connection.
    func closeIfIdle() {
        switch state {
        case .handshaking: close()
        case .reading where parser.stage == .idle && output.isEmpty && inputStart == inputEnd: close()
        default: break
        }
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        closedFlag.update { $0 = true }
        handler = nil
        if let (source, _) = stream {
            stream = nil
            streamBuffer = []
            source.close()
        }
        loop.remove(self)
        transport.close()
        context.connectionClosed(self)
    }
}

/// A weak reference that can cross threads: a response for a connection that closed meanwhile is dropped.
private final class WeakConnection: @unchecked Sendable {
    weak var connection: HTTPConnection?
    init(_ connection: HTTPConnection) { self.connection = connection }
}
