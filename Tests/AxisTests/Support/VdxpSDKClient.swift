@preconcurrency import Glibc
import Foundation
@testable import Axis

/// A stand-in for the deployed VDXP Java SDK ("SDKVXP 2.0.1"): it puts on the wire, byte for byte, what
/// VDXP-WIRE.md says the SDK does, quirks included, so tests prove Axis serves the SDK unmodified.
///
/// One request, as this client (and the SDK) writes it:
///
///     POST /getEdoc HTTP/1.1
///     XroadVnpt-systemid: test.sys.01                       ← always
///     XroadVnpt-timestamp: 24112026T092754+0183             ← set once, never refreshed
///     XroadVnpt-Content-Type: application/json              ← always
///     XroadVnpt-docId: 42                                   ← the operation's parameters, key case kept,
///     XroadVnpt-docid: 42                                     docId and docid both (pileUpDocId)
///     XroadVnpt-sign-header: {"XroadVnpt-systemid":"test.sys.01",…,"XroadVnpt-docid":"42"}
///     XroadVnpt-sign-header-key: XroadVnpt-systemid;XroadVnpt-timestamp;…;XroadVnpt-docid
///     XroadVnpt-hash-header: <hex HMAC-SHA256(secret, sign-header bytes)>
///     Content-Type: application/json
///     Content-Length: 2
///     Host: 127.0.0.1:8080
///     Connection: Keep-Alive
///     User-Agent: Apache-HttpClient/4.5.13 (Java/1.8.0_392)
///     Accept-Encoding: gzip,deflate
///     Expect: 100-continue                                  ← then waits up to 3 s for "100 Continue"
///
///     {}                                                    ← an "empty" POST body
///
/// Header values are ISO-8859-1 bytes (a character outside it becomes `?`, as Java's encoder does).
/// `sendEdoc` sends the raw edXML followed by CRLF, as `application/octet-stream`, with `hash-file` the
/// SHA-256 of the file without that CRLF in the SDK's unpadded hex. Each call opens a new connection.
struct VdxpSDKClient {
    var host = "127.0.0.1"
    var port: UInt16
    var systemID: String
    var secret: String
    /// Set once, never refreshed (like the SDK): `ddMMyyyyTHHmmss+SSSS`, the last four digits milliseconds.
    var timestamp = "24112026T092754+0183"
    /// The path the operation names are appended to ("" → `/sendEdoc`).
    var endpointPath = ""
    var quirks = Quirks()

    /// The SDK's wire habits. All on by default; turn one off to see that Axis does not depend on it.
    struct Quirks {
        /// Send a docId parameter as both `XroadVnpt-docId` and `XroadVnpt-docid`.
        var pileUpDocId = true
        /// Send `Expect: 100-continue` on POSTs and hold the body until `100 Continue` (or the timeout).
        var expectContinue = true
        /// How long to wait for `100 Continue` before sending the body anyway (Apache's default: 3 s).
        var continueTimeoutSeconds = 3.0
        /// `sendEdoc` body = file + "\r\n".
        var crlfTrailer = true
        /// `hash-file` in unpadded hex (each byte without its leading zero); off → the usual 64 digits.
        var unpaddedHash = true
        /// `to` as a JSON array `["A","B"]`; off → a JSON string `"A"` (codes joined by commas if several).
        var toAsArray = true
        /// A new TCP connection for every call; off → one kept-alive connection reused across calls.
        var newConnectionPerCall = true
    }

    /// How to corrupt a request, to test refusals.
    enum Tamper {
        /// Compute the HMAC with another secret.
        case wrongSecret
        /// Send a well-formed (64 hex digits) but wrong HMAC.
        case forgeHash
        /// After signing, change the value of header `name` (its signed value stays as it was).
        case alterAfterSigning(name: String, value: String)
        /// Leave header `name` out altogether.
        case omit(name: String)
        /// Send `value` as XroadVnpt-sign-header, signed with the right secret.
        case replaceSignHeader(String)
    }

    struct Reply {
        var httpStatus: Int
        var headers: [(String, String)]
        var body: [UInt8]
        /// The body as a JSON object, when it is one.
        var json: [String: Any]?
        /// Whether `100 Continue` came before the body was sent; nil when no `Expect` was sent.
        var got100Continue: Bool?

        /// `json[key]` as a string (the envelope fields, `DocId`, `data` of getEdoc).
        func string(_ key: String) -> String? { json?[key] as? String }
    }

    struct ClientError: Error, CustomStringConvertible {
        var description: String
    }

    /// The kept-alive connection when `newConnectionPerCall` is off (shared by copies of the client).
    private let connection = KeptConnection()

    init(host: String = "127.0.0.1", port: UInt16, systemID: String, secret: String) {
        (self.host, self.port, self.systemID, self.secret) = (host, port, systemID, secret)
    }

    // MARK: The operations, as the SDK calls them

    /// `sendEdoc`: the edXML as the body, routed to `to` (nil for a status message routed by its header).
    func sendEdoc(_ file: [UInt8], from: String, to: [String]?, messageType: String = "edoc",
                  tamper: Tamper? = nil) throws -> Reply {
        var params = [("from", from)]
        if let to { params.append(("to", toParameter(to))) }
        params += [("servicetype", "eDoc"), ("messagetype", messageType), ("hash-file", fileHash(file))]
        let body = quirks.crlfTrailer ? file + [0x0D, 0x0A] : file
        return try call("sendEdoc", params: params, body: body, contentType: "application/octet-stream", tamper: tamper)
    }

    func getReceivedEdocList(messageType: String = "edoc", tamper: Tamper? = nil) throws -> Reply {
        try call("getReceivedEdocList", params: [("servicetype", "eDoc"), ("messagetype", messageType)], tamper: tamper)
    }

    func getEdoc(docId: String, tamper: Tamper? = nil) throws -> Reply {
        try call("getEdoc", params: docIdParams(docId), tamper: tamper)
    }

    /// The one GET: no body (and so no `Expect`), the raw edXML comes back.
    func downloadEdoc(docId: String, tamper: Tamper? = nil) throws -> Reply {
        try call("downloadEdoc", params: docIdParams(docId), method: "GET", tamper: tamper)
    }

    /// `status`: `done`, `fail` or `processing`.
    func updateStatus(docId: String, status: String, tamper: Tamper? = nil) throws -> Reply {
        try call("updateStatus", params: docIdParams(docId, lowercaseFirst: true) + [("status", status)], tamper: tamper)
    }

    func getSentEdocList(docId: String, messageType: String = "edoc", tamper: Tamper? = nil) throws -> Reply {
        try call("getSentEdocList", params: [("servicetype", "eDoc"), ("messagetype", messageType)] + docIdParams(docId),
                 tamper: tamper)
    }

    func countReceiveEdoc() throws -> Reply {
        try call("countReceiveEdoc", params: [("servicetype", "eDoc"), ("messagetype", "edoc")])
    }

    func countReceiveStatus() throws -> Reply {
        try call("countReceiveStatus", params: [("servicetype", "eDoc"), ("messagetype", "status")])
    }

    func getAgenciesList() throws -> Reply { try call("getAgenciesList") }

    func getAgenciesListQD20() throws -> Reply { try call("getAgenciesListQD20") }

    func getSynchronizeUnit() throws -> Reply { try call("getSynchronizeUnit") }

    /// The body is sent as given: `{"pcode","code","name","mail","mobile","fax"}`, or sloppy JSON to test refusal.
    func registerAgency(_ json: String) throws -> Reply {
        try call("registerAgency", body: Array(json.utf8))
    }

    func deleteAgency(code: String) throws -> Reply {
        try call("deleteAgency", params: [("AgencyCode", code)])
    }

    // MARK: The request

    /// Low level: one operation with its `XroadVnpt-*` parameters (key case kept), signed as the SDK signs.
    /// A nil body on a POST becomes the literal `{}` (the SDK never sends an empty POST).
    func call(_ operation: String, params: [(String, String)] = [], body: [UInt8]? = nil,
              contentType: String = "application/json", method: String = "POST", tamper: Tamper? = nil) throws -> Reply {
        let body = body ?? (method == "POST" ? Array("{}".utf8) : [])
        let head = requestHead(operation, params: params, contentType: contentType, method: method,
                               bodyLength: method == "POST" ? body.count : nil, tamper: tamper)
        let fd = try connection.take(reuse: !quirks.newConnectionPerCall) { try Socket.connect(host: host, port: port) }
        var keep = false
        defer { if keep { connection.put(fd) } else { close(fd) } }
        var reader = ResponseReader(fd: fd)

        try sendAll(fd, head)
        var got100: Bool?
        if method == "POST" && quirks.expectContinue {
            // Apache's handshake: wait for the 100; a final answer instead means the body is not sent.
            switch try reader.awaitContinue(seconds: quirks.continueTimeoutSeconds) {
            case .continued: got100 = true; try sendAll(fd, body)
            case .timedOut: got100 = false; try sendAll(fd, body)
            case .finalResponse: got100 = false
            }
        } else if !body.isEmpty {
            try sendAll(fd, body)
        }
        var reply = try reader.readResponse(forHead: method == "HEAD")
        reply.got100Continue = got100
        keep = !quirks.newConnectionPerCall && reader.reusable
        return reply
    }

    /// The request line and headers, in the order the SDK's Apache client writes them.
    func requestHead(_ operation: String, params: [(String, String)], contentType: String, method: String,
                     bodyLength: Int?, tamper: Tamper?) -> [UInt8] {
        // The SDK's own headers: systemid, timestamp, Content-Type, then the operation's parameters.
        var xroad = [("XroadVnpt-systemid", systemID), ("XroadVnpt-timestamp", timestamp),
                     ("XroadVnpt-Content-Type", contentType)]
        xroad += params.map { ("XroadVnpt-" + $0.0, $0.1) }

        // Sign them all: a compact JSON object, the names joined by ";", the HMAC over the JSON's wire bytes.
        var signHeader = JSONValue.object(xroad.map { ($0.0, JSONValue.string($0.1)) }).encoded()
        if case .replaceSignHeader(let text)? = tamper { signHeader = text }
        let signKeys = xroad.map(\.0).joined(separator: ";")
        let hash: String
        switch tamper {
        case .wrongSecret?: hash = VdxpAuthentication.signature(secret: secret + "-wrong", signHeader: latin1(signHeader))
        case .forgeHash?: hash = String(repeating: "ab", count: 32)
        default: hash = VdxpAuthentication.signature(secret: secret, signHeader: latin1(signHeader))
        }

        if case .alterAfterSigning(let name, let value)? = tamper {
            xroad = xroad.map { $0.0 == name ? (name, value) : $0 }
        }
        var fields = xroad + [("XroadVnpt-sign-header", signHeader), ("XroadVnpt-sign-header-key", signKeys),
                              ("XroadVnpt-hash-header", hash), ("Content-Type", contentType)]
        if let bodyLength { fields.append(("Content-Length", String(bodyLength))) }
        fields += [("Host", "\(host):\(port)"), ("Connection", "Keep-Alive"),
                   ("User-Agent", "Apache-HttpClient/4.5.13 (Java/1.8.0_392)"), ("Accept-Encoding", "gzip,deflate")]
        if method == "POST" && quirks.expectContinue { fields.append(("Expect", "100-continue")) }
        if case .omit(let name)? = tamper { fields.removeAll { $0.0 == name } }

        var out = latin1("\(method) \(endpointPath)/\(operation) HTTP/1.1\r\n")
        for (name, value) in fields { out += latin1("\(name): \(value)\r\n") }
        out += latin1("\r\n")
        return out
    }

    // MARK: Parameter forms

    /// `to` as the SDK writes it: `["A","B"]`, or `"A"`.
    func toParameter(_ codes: [String]) -> String {
        quirks.toAsArray ? JSONValue.array(codes.map { .string($0) }).encoded()
            : JSONValue.string(codes.joined(separator: ",")).encoded()
    }

    /// SHA-256 of the file (without the CRLF trailer), each byte as Java's `Integer.toHexString(b & 0xff)`.
    func fileHash(_ file: [UInt8]) -> String {
        let digest = SHA256Hasher.digest(file)
        return quirks.unpaddedHash ? digest.bytes.map { String($0, radix: 16) }.joined() : digest.hex
    }

    /// The document id parameter: `docId` and `docid` both when piling up, else the operation's usual spelling.
    private func docIdParams(_ docId: String, lowercaseFirst: Bool = false) -> [(String, String)] {
        let usual = lowercaseFirst ? "docid" : "docId"
        guard quirks.pileUpDocId else { return [(usual, docId)] }
        return lowercaseFirst ? [("docid", docId), ("docId", docId)] : [("docId", docId), ("docid", docId)]
    }

    /// ISO-8859-1 bytes; a character outside it becomes `?`, as Java's encoder writes it.
    private func latin1(_ text: String) -> [UInt8] {
        text.unicodeScalars.map { $0.value <= 0xFF ? UInt8($0.value) : UInt8(ascii: "?") }
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress?.advanced(by: sent), bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ClientError(description: "send failed (errno \(errno))") }
            sent += n
        }
    }
}

/// The one connection a client keeps when `newConnectionPerCall` is off.
private final class KeptConnection: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32?

    func take(reuse: Bool, open: () throws -> Int32) throws -> Int32 {
        lock.lock()
        let kept = fd
        fd = nil
        lock.unlock()
        if let kept {
            if reuse { return kept }
            close(kept)
        }
        return try open()
    }

    func put(_ socket: Int32) {
        lock.lock()
        let old = fd
        fd = socket
        lock.unlock()
        if let old { close(old) }
    }

    deinit { if let fd { close(fd) } }
}

/// Reads one HTTP/1.1 response: interim 1xx responses skipped, the body by Content-Length, chunked, or
/// up to the close. Deliberately independent of Axis's own HTTP codec, so a codec bug cannot hide itself.
private struct ResponseReader {
    enum ContinueOutcome { case continued, timedOut, finalResponse }

    let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false
    /// Whether the connection can carry another request after this response.
    private(set) var reusable = false
    /// A read that takes longer than this fails the call: a test should fail, not hang.
    private let readTimeoutSeconds = 30

    init(fd: Int32) {
        self.fd = fd
    }

    /// Waits up to `seconds` for the server's first bytes after the head, like Apache's expect-continue.
    mutating func awaitContinue(seconds: Double) throws -> ContinueOutcome {
        let deadline = Date().addingTimeInterval(seconds)
        while headEnd() == nil {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, try readMore(waitMillis: Int32(left * 1000)) else {
                return closed ? .finalResponse : .timedOut
            }
        }
        guard statusCode(ofHeadAt: 0) == 100, let end = headEnd() else { return .finalResponse }
        buffer.removeFirst(end)
        return .continued
    }

    mutating func readResponse(forHead: Bool) throws -> VdxpSDKClient.Reply {
        while true {
            var end = headEnd()
            while end == nil {
                guard try readMore(waitMillis: Int32(readTimeoutSeconds * 1000)) else {
                    throw VdxpSDKClient.ClientError(description: "no complete response head: the connection closed "
                        + "or \(readTimeoutSeconds) s passed")
                }
                end = headEnd()
            }
            guard let end else { continue }
            let lines = String(decoding: buffer[..<(end - 4)], as: UTF8.self).components(separatedBy: "\r\n")
            buffer.removeFirst(end)
            let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            if (100..<200).contains(status) { continue }
            let headers = lines.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            func header(_ name: String) -> String? {
                headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
            }
            let body: [UInt8]
            if forHead || status == 204 || status == 304 {
                body = []
            } else if header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
                body = try readChunked()
            } else if let length = header("Content-Length").flatMap({ Int($0) }) {
                body = try readExactly(length)
            } else {
                while try readMore(waitMillis: Int32(readTimeoutSeconds * 1000)) {}
                body = buffer
                buffer = []
            }
            reusable = !closed && header("Connection")?.lowercased() != "close"
            let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
            return VdxpSDKClient.Reply(httpStatus: status, headers: headers, body: body, json: json, got100Continue: nil)
        }
    }

    private mutating func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            let hex = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let size = Int(hex, radix: 16) else {
                throw VdxpSDKClient.ClientError(description: "bad chunk size line \"\(sizeLine)\"")
            }
            if size == 0 {
                while try !readLine().isEmpty {}   // trailers, then the blank line
                return body
            }
            body += try readExactly(size)
            _ = try readExactly(2)
        }
    }

    private mutating func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let line = buffer[..<i].last == 0x0D ? buffer[..<(i - 1)] : buffer[..<i]
                defer { buffer.removeFirst(i + 1) }
                return String(decoding: line, as: UTF8.self)
            }
            guard try readMore(waitMillis: Int32(readTimeoutSeconds * 1000)) else {
                throw VdxpSDKClient.ClientError(description: "the connection closed inside a chunked body")
            }
        }
    }

    private mutating func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try readMore(waitMillis: Int32(readTimeoutSeconds * 1000)) else {
                throw VdxpSDKClient.ClientError(description: "the connection closed after \(buffer.count) of \(count) body bytes")
            }
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    /// The offset just past the first blank line, if the buffer holds a whole head.
    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 0x0D && buffer[i + 1] == 0x0A && buffer[i + 2] == 0x0D && buffer[i + 3] == 0x0A {
            return i + 4
        }
        return nil
    }

    private func statusCode(ofHeadAt offset: Int) -> Int? {
        let line = buffer[offset...].prefix { $0 != 0x0D }
        let parts = String(decoding: line, as: UTF8.self).split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) : nil
    }

    /// Reads what has arrived, waiting up to `waitMillis`. False when nothing came (timeout or close).
    private mutating func readMore(waitMillis: Int32) throws -> Bool {
        if closed { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, max(waitMillis, 0))
        if ready < 0 && errno == EINTR { return try readMore(waitMillis: waitMillis) }
        guard ready > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { return try readMore(waitMillis: waitMillis) }
        guard n > 0 else {
            closed = true
            if n < 0 && errno != ECONNRESET { throw VdxpSDKClient.ClientError(description: "recv failed (errno \(errno))") }
            return false
        }
        buffer += chunk[..<n]
        return true
    }
}
