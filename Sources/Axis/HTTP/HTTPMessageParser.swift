// HTTP/1.1 message codec — design notes
//
// The byte-level half of Axis's HTTP (RFC 9112 syntax, RFC 9110 semantics), with no I/O: the epoll
// server and the client feed it what they read and act on the events it returns, so every rule can be
// tested exhaustively without sockets.
//
// Files (Sources/Axis/HTTP):
//   HTTPMessageParser     this file: the state machine both parsers share (lines, field sections,
//                         body framing, chunked decoding, limits); HTTPMessageRole: what a side adds
//   HTTPRequestParser     server side; HTTPRequestRole: request line, Host, Expect, keep-alive, framing
//   HTTPResponseParser    client side; HTTPResponseRole: status line, HEAD/1xx/204/304, read-until-close
//   HTTPRequestLine, HTTPStatusLine, HTTPFieldLine, HTTPChunkSizeLine: one line each
//   HTTPFieldSummary      what a header section says about framing and persistence
//   HTTPHeaders, HTTPRequestHead, HTTPResponseHead, HTTPMethod, HTTPVersion, HTTPStatus,
//   HTTPBodyFraming, HTTPLimits, HTTPError(+Codec), HTTPParseEvent, HTTPParserStage, HTTPBytes
//   HTTPResponseHead+Write, HTTPRequestHead+Write, HTTPChunkedEncoding, HTTPError+Response: serializers
//
// Pull, one event per call:
//
//     let (event, consumed) = parser.next(bytes)
//
// `next` stops after each head, body slice, end or error and says how many bytes it used; a nil event
// means it used them all and needs more. Why not a callback or an `[Event]` per read:
//   - between `.head` and the body the caller picks the route's body limit (`setBodyLimit`), sends
//     `100 Continue`, or stops reading while it authenticates — the parser has not looked past the head;
//   - `.body` is a slice of the caller's buffer, not a copy, so a body streams through in read-sized
//     pieces, and no array is allocated per read.
//
// States:
//
//   startLine → headerLines ─(.head)→ awaitingBody ─┬→ fixedBody ─────────────────────────────┐
//                                                    ├→ chunkSizeLine ⇄ chunkData → chunkDataEnd │
//                                                    │      └(size 0)→ trailerLines ────────────┤
//                                                    ├→ untilClose (responses; ends at finish()) ┤
//                                                    └→ (no body) ───────────────────────────────┴→ messageEnd
//   messageEnd ─(.end)→ startLine (the next pipelined message)      any ─(.error)→ failed (terminal)
//
// Lines must end in CRLF: a bare LF or CR is refused, never guessed at, since guessing is how two
// parsers come to disagree about a message's end. A line that arrives whole is parsed in place; one
// that spans reads is gathered in `spill`, the only bytes the parser keeps, and limits are checked
// before the line is complete, so a peer can never make it hold more than a limit plus one read.
//
// Bad input: the first problem ends the connection's parsing with `.error(HTTPError)`: the status
// (400, 413, 414, 417, 431, 501, 505) and message the server answers with before closing. The same
// error comes out however the input is cut into reads (tested byte by byte and at random cuts).
import Glibc

/// The state machine shared by `HTTPRequestParser` and `HTTPResponseParser`.
struct HTTPMessageParser<Role: HTTPMessageRole>: Sendable {
    typealias Event = HTTPParseEvent<Role.Head>

    enum Phase: Sendable {
        case startLine
        case headerLines
        /// The head was returned; the body limit may still change before the body starts.
        case awaitingBody(HTTPBodyFraming)
        case fixedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        /// The CRLF that follows chunk data.
        case chunkDataEnd
        case trailerLines
        case untilClose
        case messageEnd
        case failed(HTTPError)
    }

    var role: Role
    let limits: HTTPLimits
    private(set) var phase: Phase = .startLine
    /// The part of the current line that arrived in earlier reads.
    private var spill: [UInt8] = []
    /// Fields of the header section being read, then of the trailer section.
    private var fields = HTTPHeaders()
    private var summary = HTTPFieldSummary()
    /// Bytes of the current field section so far, each line counted with its CRLF.
    private var fieldBytes = 0
    /// The body limit for the current message.
    private(set) var bodyLimit: Int
    /// Body bytes announced so far (chunk sizes) or read (until close), against `bodyLimit`.
    private var bodyBytes = 0

    /// A spill buffer that grew past this is released at the end of the message, so an idle
    /// connection does not keep a large buffer from one long header.
    private static var spillCapacityKeptMax: Int { 4096 }

    init(role: Role, limits: HTTPLimits) {
        self.role = role
        self.limits = limits
        self.bodyLimit = limits.bodyBytesMax
    }

    /// Bytes the parser holds between calls (a partial line), for tests and memory accounting.
    var bufferedByteCount: Int { spill.count }

    var stage: HTTPParserStage {
        switch phase {
        case .startLine: return spill.isEmpty ? .idle : .head
        case .headerLines: return .head
        case .failed: return .failed
        default: return .body
        }
    }

    // MARK: Driving

    /// Parses from the start of `input` up to the next event. See `HTTPRequestParser.next(_:)`.
    mutating func next(_ input: UnsafeRawBufferPointer) -> (event: Event?, consumed: Int) {
        var pos = 0
        while true {
            switch phase {
            case .failed(let error):
                return (.error(error), pos)
            case .messageEnd:
                return (.end(trailers: endMessage()), pos)
            case .awaitingBody(let framing):
                startBody(framing)
            case .fixedBody(let remaining):
                if remaining == 0 {
                    phase = .messageEnd
                    continue
                }
                guard pos < input.count else { return (nil, pos) }
                let n = min(remaining, input.count - pos)
                phase = .fixedBody(remaining: remaining - n)
                return (.body(UnsafeRawBufferPointer(rebasing: input[pos..<(pos + n)])), pos + n)
            case .chunkData(let remaining):
                if remaining == 0 {
                    phase = .chunkDataEnd
                    continue
                }
                guard pos < input.count else { return (nil, pos) }
                let n = min(remaining, input.count - pos)
                phase = .chunkData(remaining: remaining - n)
                return (.body(UnsafeRawBufferPointer(rebasing: input[pos..<(pos + n)])), pos + n)
            case .untilClose:
                guard pos < input.count else { return (nil, pos) }
                // Up to the limit is delivered, then the first byte beyond it fails: the same events
                // however the reads are cut.
                let n = min(input.count - pos, bodyLimit - bodyBytes)
                guard n > 0 else { return (fail(.bodyTooLarge(declared: nil, limit: bodyLimit)), pos) }
                bodyBytes += n
                return (.body(UnsafeRawBufferPointer(rebasing: input[pos..<(pos + n)])), pos + n)
            case .startLine, .headerLines, .chunkSizeLine, .chunkDataEnd, .trailerLines:
                guard pos < input.count else { return (nil, pos) }
                let (end, event) = readLine(input, from: pos)
                pos = end
                if let event { return (event, pos) }
            }
        }
    }

    /// Sets the body limit of the current message; see `HTTPRequestParser.setBodyLimit(_:)`.
    mutating func setBodyLimit(_ bytesMax: Int) -> HTTPError? {
        precondition(bytesMax >= 0, "a body limit is a number of bytes")
        bodyLimit = bytesMax
        if case .awaitingBody(.contentLength(let length)) = phase, length > bytesMax {
            if case .error(let error) = fail(.bodyTooLarge(declared: length, limit: bytesMax)) { return error }
        }
        return nil
    }

    /// The peer closed the connection; see `HTTPRequestParser.finish()`.
    mutating func finish() -> Event? {
        // Let a pending transition (an empty body, a 413 for a declared length) happen first.
        if let event = next(UnsafeRawBufferPointer(start: nil, count: 0)).event { return event }
        switch phase {
        case .startLine where spill.isEmpty:
            return nil
        case .untilClose:
            return .end(trailers: endMessage())
        case .startLine, .headerLines:
            return fail(.truncated("message head"))
        default:
            return fail(.truncated("message body"))
        }
    }

    // MARK: Lines

    /// Finds the LF that ends the current line and handles the line. Returns where parsing continues
    /// and the event the line produced, if any.
    private mutating func readLine(_ input: UnsafeRawBufferPointer, from pos: Int) -> (Int, Event?) {
        guard let base = input.baseAddress, let hit = memchr(base + pos, Int32(HTTPBytes.lf), input.count - pos) else {
            // The line goes on past this read. Refuse it now if it is already too long, before keeping it.
            let pending = spill.count + (input.count - pos)
            if pending > lineAllowance() + 1 {  // + 1: the last byte may be the CR of a line that fits
                return (input.count, fail(lineTooLong()))
            }
            spill.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[pos...]))
            return (input.count, nil)
        }
        let lf = UnsafeRawPointer(hit) - base
        let event: Event?
        if spill.isEmpty {
            event = completeLine(UnsafeRawBufferPointer(rebasing: input[pos..<lf]))
        } else {
            // Take the spill out of `self` so the line can be read while `self` changes.
            var line = spill
            spill = []
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[pos..<lf]))
            event = line.withUnsafeBytes { completeLine($0) }
            line.removeAll(keepingCapacity: true)
            spill = line
        }
        return (lf + 1, event)
    }

    /// How many bytes (CRLF excluded) the current line may have.
    private func lineAllowance() -> Int {
        switch phase {
        case .startLine: return limits.startLineBytesMax
        case .headerLines, .trailerLines: return max(0, limits.headerBytesMax - fieldBytes - 2)
        case .chunkSizeLine: return limits.chunkLineBytesMax
        default: return 0  // the CRLF after chunk data
        }
    }

    private func lineTooLong() -> HTTPError {
        switch phase {
        case .startLine: return role.startLineTooLong(limit: limits.startLineBytesMax)
        case .headerLines: return .sectionTooLarge(.header, limit: limits.headerBytesMax)
        case .trailerLines: return .sectionTooLarge(.trailer, limit: limits.headerBytesMax)
        case .chunkSizeLine: return .invalidChunk("a chunk-size line is longer than \(limits.chunkLineBytesMax) bytes")
        default: return .invalidChunk("chunk data is longer than its declared size (no CRLF where the chunk ends)")
        }
    }

    /// Handles one complete line; `raw` is everything before the LF.
    private mutating func completeLine(_ raw: UnsafeRawBufferPointer) -> Event? {
        let hasCR = raw.last == HTTPBytes.cr
        let line = hasCR ? UnsafeRawBufferPointer(rebasing: raw.dropLast()) : raw
        // Length before CR, so a too-long line gets the same error whether it was caught early or here.
        let endsSection: Bool
        switch phase {
        case .headerLines, .trailerLines: endsSection = line.isEmpty
        default: endsSection = false
        }
        if !endsSection, line.count > lineAllowance() { return fail(lineTooLong()) }
        guard hasCR else {
            switch phase {
            case .startLine: return fail(role.startLineBareLineFeed())
            case .headerLines: return fail(.invalidField(.header, "a line ends with a bare LF; lines end with CRLF"))
            case .trailerLines: return fail(.invalidField(.trailer, "a line ends with a bare LF; lines end with CRLF"))
            default: return fail(.invalidChunk("a line ends with a bare LF; lines end with CRLF"))
            }
        }
        switch phase {
        case .startLine:
            switch role.startLine(line) {
            case .accepted: phase = .headerLines
            case .skipped: break
            case .rejected(let error): return fail(error)
            }
            return nil
        case .headerLines:
            return line.isEmpty ? finishHead() : fieldLine(line, in: .header)
        case .trailerLines:
            if line.isEmpty {
                phase = .messageEnd
                return nil
            }
            return fieldLine(line, in: .trailer)
        case .chunkSizeLine:
            return chunkSizeLine(line)
        default:  // .chunkDataEnd: the allowance of 0 made sure the line is empty
            phase = .chunkSizeLine
            return nil
        }
    }

    private mutating func fieldLine(_ line: UnsafeRawBufferPointer, in section: HTTPFieldSection) -> Event? {
        fieldBytes += line.count + 2
        guard fields.count < limits.headerCountMax else {
            return fail(.tooManyFields(section, limit: limits.headerCountMax))
        }
        switch HTTPFieldLine.parse(line, in: section) {
        case .failure(let error):
            return fail(error)
        case .success(let field):
            let name = UnsafeRawBufferPointer(rebasing: line[field.name])
            let value = UnsafeRawBufferPointer(rebasing: line[field.value])
            if fields.isEmpty, section == .header { fields.reserveForHeaderSection() }
            fields.append(name: name, value: value)
            if section == .header { summary.note(name: name, value: value) }
            return nil
        }
    }

    private mutating func finishHead() -> Event? {
        let headFields = fields
        fields = HTTPHeaders()  // leaves `headFields` the only owner: no copy when the head stores it
        switch role.head(fields: headFields, summary: summary) {
        case .failure(let error):
            return fail(error)
        case .success(let (head, framing)):
            fieldBytes = 0
            bodyBytes = 0
            bodyLimit = limits.bodyBytesMax
            phase = .awaitingBody(framing)
            return .head(head)
        }
    }

    // MARK: Body

    private mutating func startBody(_ framing: HTTPBodyFraming) {
        switch framing {
        case .noBody:
            phase = .messageEnd
        case .contentLength(let length):
            if length > bodyLimit {
                _ = fail(.bodyTooLarge(declared: length, limit: bodyLimit))
            } else {
                phase = .fixedBody(remaining: length)
            }
        case .chunked:
            phase = .chunkSizeLine
        case .untilClose:
            phase = .untilClose
        }
    }

    private mutating func chunkSizeLine(_ line: UnsafeRawBufferPointer) -> Event? {
        switch HTTPChunkSizeLine.parse(line) {
        case .failure(let error):
            return fail(error)
        case .success(let size):
            if size == 0 {
                phase = .trailerLines
                fieldBytes = 0
                return nil
            }
            // Refused before any of the chunk is read: the limit holds for announced bytes.
            guard size <= bodyLimit - bodyBytes else { return fail(.bodyTooLarge(declared: nil, limit: bodyLimit)) }
            bodyBytes += size
            phase = .chunkData(remaining: size)
            return nil
        }
    }

    // MARK: Ends

    /// Resets for the next message and returns the trailers of the one that ended.
    private mutating func endMessage() -> HTTPHeaders {
        let trailers = fields
        fields = HTTPHeaders()
        summary = HTTPFieldSummary()
        fieldBytes = 0
        bodyBytes = 0
        bodyLimit = limits.bodyBytesMax
        phase = .startLine
        if spill.capacity > Self.spillCapacityKeptMax { spill = [] }
        role.messageEnded()
        return trailers
    }

    private mutating func fail(_ error: HTTPError) -> Event {
        let reported = role.adjust(error)
        phase = .failed(reported)
        spill = []
        return .error(reported)
    }
}
