/// Turns the bytes of one client connection into whole responses, matched in order to the requests
/// sent on it. No I/O: `HTTPClient` tells it what it sent and feeds it what it reads, so pipelining,
/// interim 1xx responses, responses to HEAD and read-until-close bodies are decided in one place and
/// tested without sockets.
///
///     requestSent(.get) … requestSent(.head)        one per request, in the order written
///     receive(bytes)*  → takeResponse() per whole response
///     peerClosed()     the server closed: ends a read-until-close body, or reports what is missing
///
/// Why the method matters: a response to HEAD has no body whatever its `Content-Length` says, so the
/// parser must know the method before each response's head (`HTTPResponseParser.setRequestMethod`).
///
/// Memory: the parser keeps at most one partial line; bodies are kept whole, each up to
/// `bodyBytesMax`, since callers want `[UInt8]` bodies. The first failure is terminal and sticky,
/// because after it the framing of whatever follows is unknown.
struct HTTPResponseAssembler {
    /// Why the bytes cannot be turned into the responses owed.
    enum Failure: Error, Equatable {
        /// The bytes are not an acceptable response: the parser's error (a body over `bodyBytesMax`
        /// is `.bodyTooLarge`).
        case invalid(HTTPError)
        /// A response arrived while no request was waiting for one.
        case unsolicited(status: Int)
        /// The server ended the connection (closed it, or said `Connection: close` on a final response)
        /// while `awaiting` requests were still unanswered.
        case closedEarly(awaiting: Int)
    }

    /// The body limit applied to each response from its head on.
    var bodyBytesMax: Int

    private var parser: HTTPResponseParser
    /// Methods of the requests not yet answered, oldest first, from `methodsStart`.
    private var methods: [HTTPMethod] = []
    private var methodsStart = 0
    /// The response being read.
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    /// Whole responses not yet taken, oldest first, from `readyStart`.
    private var ready: [HTTPClientResponse] = []
    private var readyStart = 0
    private var failure: Failure?
    /// The server will send nothing more: a final response said so, or it closed.
    private(set) var isEnded = false

    /// `bodyBytesMax` bounds each response body; `limits` bound status lines and header sections.
    init(bodyBytesMax: Int, limits: HTTPLimits = HTTPLimits()) {
        self.bodyBytesMax = bodyBytesMax
        parser = HTTPResponseParser(limits: limits)
    }

    /// Requests sent whose responses have not all arrived.
    var awaiting: Int { methods.count - methodsStart }

    /// Notes a request just written, so its response is read with the right framing.
    mutating func requestSent(_ method: HTTPMethod) {
        precondition(!isEnded, "no request may be sent on a connection the server is ending")
        if awaiting == 0 {
            // Reclaim the queue while it is empty; the parser waits for this request's response next.
            methods.removeAll(keepingCapacity: true)
            methodsStart = 0
            parser.setRequestMethod(method)
        }
        methods.append(method)
    }

    /// The oldest whole response not yet taken.
    mutating func takeResponse() -> HTTPClientResponse? {
        guard readyStart < ready.count else { return nil }
        let response = ready[readyStart]
        readyStart += 1
        if readyStart == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyStart = 0
        }
        return response
    }

    /// Parses `bytes` as far as they go. Bytes after a final response that ends the connection are
    /// ignored (the server closes next).
    mutating func receive(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        if let failure { throw failure }
        var offset = 0
        // Called again even when every byte is used: the end of a message can come from a call of its own.
        while !isEnded {
            let (event, consumed) = parser.next(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            offset += consumed
            guard let event else { return }
            try handle(event)
        }
    }

    /// The server closed the connection: the end of a read-until-close body, or a failure when
    /// responses are still owed.
    mutating func peerClosed() throws(Failure) {
        if let failure { throw failure }
        if !isEnded, let event = parser.finish() { try handle(event) }
        isEnded = true
        if awaiting > 0 { throw fail(.closedEarly(awaiting: awaiting)) }
    }

    private mutating func handle(_ event: HTTPResponseParser.Event) throws(Failure) {
        switch event {
        case .head(let received):
            guard awaiting > 0 else { throw fail(.unsolicited(status: received.status.code)) }
            if let error = parser.setBodyLimit(bodyBytesMax) { throw fail(.invalid(error)) }
            head = received
            body = []
            if let length = received.bodyFraming.contentLength { body.reserveCapacity(length) }
        case .body(let chunk):
            body.append(contentsOf: chunk)
        case .end(let trailers):
            guard let finished = head else { return }  // the parser emits `.end` only after a head
            head = nil
            if finished.status.isInformational { return }  // the final response to the same request follows
            ready.append(HTTPClientResponse(head: finished, body: body, trailers: trailers))
            body = []
            methodsStart += 1
            if !finished.keepAlive {
                isEnded = true
                if awaiting > 0 { throw fail(.closedEarly(awaiting: awaiting)) }
            } else if methodsStart < methods.count {
                parser.setRequestMethod(methods[methodsStart])
            }
        case .error(let error):
            throw fail(.invalid(error))
        }
    }

    private mutating func fail(_ reason: Failure) -> Failure {
        failure = reason
        isEnded = true
        return reason
    }
}
