// Axis's own HTTP/1.1 client — for tests, the `axis-bench` load generator and push delivery.
//
// Blocking, one connection per client object, kept alive between requests, plain TCP or TLS
// (optionally with a client certificate). The codec is the project's strict one: requests are written
// by `HTTPRequestHead.write(into:)`, responses read by `HTTPResponseParser` through
// `HTTPResponseAssembler`, which matches them to the requests in order.
//
//     init ─ connect + TLS handshake ─→ open ─ send / pipeline ─→ open … ─→ closed
//                                        └── Connection: close, server hang-up, any error, close() ──┘
//
// Limits: every wait ends by a deadline — `timeoutMillis` after `init` for connecting and the handshake,
// `timeoutMillis` after a `send` or `pipeline` call for that whole exchange (so a server that trickles
// bytes cannot hold a caller either); response bodies up to `responseBodyLimit`, status lines and
// headers up to `HTTPLimits`' defaults.
//
// Bad input and failures: an invalid response, a timeout, a broken connection or a body over the limit
// throws an `AxisError` naming host:port (codes in HTTPClientErrorCodes.swift) and closes the
// connection, since what follows on it could not be framed. There is no silent reconnect or retry: a
// request may have reached the server before the failure, and only the caller knows whether sending it
// again is safe. A closed client throws `.connectionClosed` on every further call; make a new one.
@preconcurrency import Glibc

/// A blocking HTTP/1.1 client over one kept-alive connection (plain or TLS).
///
/// Not thread-safe: one thread at a time (a load generator uses one client per thread). Responses come
/// back whole, with interim 1xx responses skipped and chunked bodies decoded.
public final class HTTPClient {
    /// The server's IPv4 address.
    public let host: String
    /// The server's port.
    public let port: UInt16
    /// The bound on each phase, in milliseconds: connecting with the handshake, and each exchange.
    public let timeoutMillis: Int
    /// The largest response body accepted, in bytes (default 64 MiB); a larger one throws
    /// `.limitExceeded` and closes the connection. Bodies are held whole in memory, hence a limit.
    public var responseBodyLimit: Int = 64 << 20 {
        didSet {
            precondition(responseBodyLimit >= 0, "a body limit is a number of bytes")
            assembler.bodyBytesMax = responseBodyLimit
        }
    }
    /// Whether the connection can carry another request. False after the server answered
    /// `Connection: close` or closed it, after any error, and after `close()`.
    public var isOpen: Bool { stream != nil }

    /// The server's verified certificate (TLS only).
    public var peerCertificate: Certificate? { stream?.tls?.peerCertificate }

    private var stream: HTTPClientStream?
    /// Why the connection closed, for the error of a later call.
    private var closedBecause = ""
    private var assembler: HTTPResponseAssembler
    /// The `Host` field value: the name the server knows itself by, with the port unless it is the default.
    private let hostField: String
    private var readBuffer = [UInt8](repeating: 0, count: 64 << 10)

    /// Requests up to this size go out with their head in one write (and pipelined ones together):
    /// fewer syscalls and segments. Larger bodies are written from the caller's array, not copied.
    private static let coalescedBodyBytesMax = 16 << 10

    /// `host:port`, or the socket's path: how errors name the server.
    private let endpoint: String

    /// Connects to `host:port` (an IPv4 address), with `tls` completing a TLS handshake that expects
    /// `serverName ?? host` in the server's certificate (sent as SNI unless it is an IP address), all
    /// within `timeoutMillis`. The same name is the `Host` of every request.
    ///
    /// Throws `.timedOut`, `.connectionFailed`, `.connectionClosed` (the server hung up during the
    /// handshake), `.tlsHandshake` (a certificate refused either way) or `.config` (not an IPv4 address).
    public init(host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil, timeoutMillis: Int = 30_000) throws {
        precondition(timeoutMillis > 0, "a timeout is a positive number of milliseconds")
        precondition(tls.map { $0.role == .client } ?? true, "an HTTPClient needs a client TLS context (TLSConfiguration.client)")
        self.host = host
        self.port = port
        self.timeoutMillis = timeoutMillis
        let name = serverName ?? host
        let defaultPort: UInt16 = tls == nil ? 80 : 443
        hostField = port == defaultPort ? name : "\(name):\(port)"
        assembler = HTTPResponseAssembler(bodyBytesMax: 64 << 20)
        endpoint = "\(host):\(port)"
        stream = try HTTPClientStream.connect(host: host, port: port, tls: tls, serverName: name,
                                              deadline: Self.deadline(after: timeoutMillis), timeoutMillis: timeoutMillis)
    }

    /// Connects to the Unix-domain socket at `path` (plain HTTP; `Host: localhost`), like
    /// `curl --unix-socket`. `host` is then the path and `port` 0.
    public init(unixSocket path: String, timeoutMillis: Int = 30_000) throws {
        precondition(timeoutMillis > 0, "a timeout is a positive number of milliseconds")
        host = path
        port = 0
        self.timeoutMillis = timeoutMillis
        hostField = "localhost"
        assembler = HTTPResponseAssembler(bodyBytesMax: 64 << 20)
        endpoint = path
        stream = try HTTPClientStream.connect(host: path, port: 0, tls: nil, serverName: "localhost",
                                              deadline: Self.deadline(after: timeoutMillis), timeoutMillis: timeoutMillis,
                                              unixPath: path)
    }

    deinit { stream?.close() }

    // MARK: Requests

    /// Sends `request` and returns its response. `Host` is added when absent and `Content-Length` comes
    /// from the body. Throws (and closes the connection) on any failure; see the file header.
    public func send(_ request: HTTPClientRequest) throws -> HTTPClientResponse {
        let responses = try exchange([request])
        precondition(responses.count == 1, "one response per request")
        return responses[0]
    }

    /// Writes all `requests` back to back, then reads their responses, in order (HTTP/1.1 pipelining).
    /// While writing, responses that already arrive are read too, so a long batch cannot stall with
    /// both sides' buffers full. If the server closes after some of them (`Connection: close` on one),
    /// the call throws `.connectionClosed` saying how many went unanswered.
    public func pipeline(_ requests: [HTTPClientRequest]) throws -> [HTTPClientResponse] {
        try exchange(requests)
    }

    /// Sends a request whose body of exactly `bodyLength` bytes comes from `bodyWriter`, which calls
    /// its `write` argument with successive pieces; nothing is buffered beyond the socket, so a large
    /// document streams from disk. `request.body` must be empty. Writing more or fewer bytes than
    /// announced throws `.usage` and closes the connection (the server would misread what follows).
    public func send(head request: HTTPClientRequest, bodyLength: Int,
                     bodyWriter: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> HTTPClientResponse {
        precondition(request.body.isEmpty, "the body comes from bodyWriter; leave request.body empty")
        precondition(bodyLength >= 0, "a body length is a number of bytes")
        let stream = try usableStream()
        let deadline = Self.deadline(after: timeoutMillis)
        do {
            assembler.requestSent(request.method)
            try write(request.head(bodyLength: bodyLength, host: hostField).serialized(), on: stream, until: deadline)
            var written = 0
            try bodyWriter { piece in
                guard piece.count <= bodyLength - written else {
                    throw AxisError(.usage, "the body writer sent more than the \(bodyLength) bytes announced for \(request.target)")
                }
                try stream.write(piece, until: deadline, timeoutMillis: timeoutMillis, received: receive)
                written += piece.count
            }
            guard written == bodyLength else {
                throw AxisError(.usage, "the body writer sent \(written) of the \(bodyLength) bytes announced for \(request.target)")
            }
            return try readResponses(1, from: stream, until: deadline)[0]
        } catch {
            throw failed(error, requestCount: 1)
        }
    }

    /// Closes the connection (TLS close_notify first); later calls throw `.connectionClosed`. Idempotent.
    public func close() {
        finish(because: "the client closed it")
    }

    // MARK: The exchange

    private func exchange(_ requests: [HTTPClientRequest]) throws -> [HTTPClientResponse] {
        guard !requests.isEmpty else { return [] }
        let stream = try usableStream()
        let deadline = Self.deadline(after: timeoutMillis)
        do {
            var pending = [UInt8]()
            for (index, request) in requests.enumerated() {
                // The server may have ended the connection in answer to an earlier request of the batch.
                if assembler.isEnded { throw HTTPResponseAssembler.Failure.closedEarly(awaiting: requests.count - index) }
                assembler.requestSent(request.method)
                request.head(bodyLength: request.body.count, host: hostField).write(into: &pending)
                if request.body.count <= Self.coalescedBodyBytesMax {
                    pending += request.body
                } else {
                    try write(pending, on: stream, until: deadline)
                    pending.removeAll(keepingCapacity: true)
                    try request.body.withUnsafeBytes { try stream.write($0, until: deadline, timeoutMillis: timeoutMillis, received: receive) }
                }
                if pending.count >= Self.coalescedBodyBytesMax * 4 {
                    try write(pending, on: stream, until: deadline)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try write(pending, on: stream, until: deadline)
            return try readResponses(requests.count, from: stream, until: deadline)
        } catch {
            // A server may answer early (401, 413) and close without reading the rest of a body; its
            // answer, already read while writing, says more than the broken write.
            if requests.count == 1, !(error is HTTPResponseAssembler.Failure), let early = assembler.takeResponse() {
                finish(because: "the server answered before the request was fully sent, then closed")
                return [early]
            }
            throw failed(error, requestCount: requests.count)
        }
    }

    private func write(_ bytes: [UInt8], on stream: HTTPClientStream, until deadline: UInt64) throws {
        guard !bytes.isEmpty else { return }
        try bytes.withUnsafeBytes { try stream.write($0, until: deadline, timeoutMillis: timeoutMillis, received: receive) }
    }

    /// Feeds bytes read while writing to the assembler; an empty buffer means the server closed.
    private func receive(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.isEmpty {
            try assembler.peerClosed()
        } else {
            try assembler.receive(bytes)
        }
    }

    /// Reads until `count` responses are whole; closes the connection when the server ends it.
    private func readResponses(_ count: Int, from stream: HTTPClientStream, until deadline: UInt64) throws -> [HTTPClientResponse] {
        var responses: [HTTPClientResponse] = []
        responses.reserveCapacity(count)
        while responses.count < count {
            if let response = assembler.takeResponse() {
                responses.append(response)
                continue
            }
            let what = count == 1 ? "waiting for the response" : "waiting for response \(responses.count + 1) of \(count)"
            let n = try readBuffer.withUnsafeMutableBytes {
                try stream.read(into: $0, until: deadline, timeoutMillis: timeoutMillis, waitingFor: what)
            }
            if n == 0 {
                try assembler.peerClosed()
            } else {
                try readBuffer.withUnsafeBytes { try assembler.receive(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            }
        }
        if assembler.isEnded { finish(because: "the server ended it ('Connection: close' or a hang-up after the response)") }
        return responses
    }

    // MARK: Connection state

    /// The stream, when the connection can take a request; else the reason it cannot.
    private func usableStream() throws -> HTTPClientStream {
        guard let stream else {
            throw AxisError(.connectionClosed, "the connection to \(endpoint) is closed (\(closedBecause)); "
                            + "create a new HTTPClient to reconnect")
        }
        guard stream.isUsableAfterIdle() else {
            finish(because: "the server closed it while it was idle")
            throw AxisError(.connectionClosed, "\(endpoint) closed the kept-alive connection while it was idle "
                            + "(its keep-alive timeout?); create a new HTTPClient to reconnect")
        }
        return stream
    }

    private func finish(because reason: String) {
        guard let stream else { return }
        stream.close()
        self.stream = nil
        closedBecause = reason
        assembler = HTTPResponseAssembler(bodyBytesMax: responseBodyLimit)
    }

    /// Closes the connection after `error` and returns the error to throw, in the client's terms.
    private func failed(_ error: Error, requestCount: Int) -> Error {
        let described: Error
        switch error {
        case HTTPResponseAssembler.Failure.invalid(let parse) where parse.code == .bodyTooLarge:
            described = AxisError(.limitExceeded, "the response from \(endpoint) has a body larger than responseBodyLimit "
                                  + "(\(responseBodyLimit) bytes): raise HTTPClient.responseBodyLimit or ask for less")
        case HTTPResponseAssembler.Failure.invalid(let parse):
            described = AxisError(.invalidResponse, "\(endpoint) sent an invalid HTTP response: \(parse.message)")
        case HTTPResponseAssembler.Failure.unsolicited(let status):
            described = AxisError(.invalidResponse, "\(endpoint) sent a response (status \(status)) that answers no request")
        case HTTPResponseAssembler.Failure.closedEarly(let awaiting):
            let which = requestCount == 1 ? "the request" : "\(awaiting) of the \(requestCount) requests"
            described = AxisError(.connectionClosed, "\(endpoint) closed the connection before answering \(which); "
                                  + "it may or may not have processed it")
        default:
            described = error
        }
        finish(because: "after an error: \((described as? AxisError)?.message ?? "\(described)")")
        return described
    }

    /// Monotonic nanoseconds `millis` from now; an absurdly long timeout saturates instead of trapping.
    private static func deadline(after millis: Int) -> UInt64 {
        let (nanos, tooLong) = UInt64(millis).multipliedReportingOverflow(by: 1_000_000)
        let (deadline, beyond) = SystemClock.monotonicNanos().addingReportingOverflow(nanos)
        return tooLong || beyond ? .max : deadline
    }
}
