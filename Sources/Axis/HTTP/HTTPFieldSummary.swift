/// What the header section says about framing and connection management, collected field by field as
/// the lines arrive, and judged once the section is complete (by `HTTPRequestRole` / `HTTPResponseRole`).
///
/// Only the five fields that matter to the codec are looked at; comparing the name's length first keeps
/// the cost for every other field to one switch.
struct HTTPFieldSummary {
    /// The common value of every `Content-Length`; saturates at `Int.max` (any limit then refuses it).
    var contentLength: Int?
    /// Some `Content-Length` was not a list of decimal numbers.
    var contentLengthMalformed = false
    /// Two `Content-Length` values differed.
    var contentLengthConflict = false

    var transferEncodingSeen = false
    /// How often `chunked` was listed.
    var chunkedCount = 0
    /// The first transfer coding other than `chunked`, for the error message.
    var unsupportedCoding: String?

    var connectionClose = false
    var connectionKeepAlive = false

    var expectContinue = false
    /// The first expectation other than `100-continue`.
    var unsupportedExpectation: String?

    var hostCount = 0
    var hostMalformed = false

    /// Looks at one field (name and trimmed value, both already validated as field syntax).
    mutating func note(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        switch name.count {
        case 4 where HTTPBytes.equalsIgnoringCase(name, "host"):
            hostCount += 1
            if !value.allSatisfy(Self.isHostByte) { hostMalformed = true }
        case 6 where HTTPBytes.equalsIgnoringCase(name, "expect"):
            HTTPBytes.forEachListElement(value) { element in
                if HTTPBytes.equalsIgnoringCase(element, "100-continue") {
                    expectContinue = true
                } else if unsupportedExpectation == nil {
                    unsupportedExpectation = HTTPBytes.latin1String(element.prefix(64))
                }
                return true
            }
        case 10 where HTTPBytes.equalsIgnoringCase(name, "connection"):
            HTTPBytes.forEachListElement(value) { element in
                if HTTPBytes.equalsIgnoringCase(element, "close") { connectionClose = true }
                if HTTPBytes.equalsIgnoringCase(element, "keep-alive") { connectionKeepAlive = true }
                return true
            }
        case 14 where HTTPBytes.equalsIgnoringCase(name, "content-length"):
            noteContentLength(value)
        case 17 where HTTPBytes.equalsIgnoringCase(name, "transfer-encoding"):
            transferEncodingSeen = true
            var any = false
            HTTPBytes.forEachListElement(value) { element in
                any = true
                if HTTPBytes.equalsIgnoringCase(element, "chunked") {
                    chunkedCount += 1
                } else if unsupportedCoding == nil {
                    unsupportedCoding = HTTPBytes.latin1String(element.prefix(64))
                }
                return true
            }
            if !any, unsupportedCoding == nil { unsupportedCoding = "" }
        default:
            break
        }
    }

    /// `Content-Length = 1*DIGIT`; a list of identical values (`5, 5`) is accepted as RFC 9112 §6.3
    /// allows, anything else that differs is a conflict.
    private mutating func noteContentLength(_ value: UnsafeRawBufferPointer) {
        var any = false
        HTTPBytes.forEachListElement(value) { element in
            any = true
            var n = 0
            for b in element {
                guard HTTPBytes.isDigit(b) else {
                    contentLengthMalformed = true
                    return false
                }
                let (times10, o1) = n.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int(b &- 0x30))
                n = o1 || o2 ? Int.max : sum
            }
            if let previous = contentLength, previous != n { contentLengthConflict = true }
            contentLength = n
            return true
        }
        if !any { contentLengthMalformed = true }
    }

    /// Bytes of `Host = uri-host [ ":" port ]` (RFC 3986 reg-name, IP literal, percent-encoding).
    private static func isHostByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
            return true
        default: return false
        }
    }

    /// The framing errors both sides share, in a fixed order so the first reported does not depend on
    /// field order: malformed length, then the smuggling shapes, then unsupported codings.
    func framingError() -> HTTPError? {
        if contentLengthMalformed {
            return .init(.badRequest, .invalidContentLength, "Content-Length must be a decimal number of bytes")
        }
        if transferEncodingSeen, contentLength != nil {
            return .init(.badRequest, .ambiguousFraming,
                         "the message has both Content-Length and Transfer-Encoding; send only one (a message whose length two parsers could read differently is refused)")
        }
        if contentLengthConflict {
            return .init(.badRequest, .ambiguousFraming, "the message has Content-Length values that differ; send exactly one")
        }
        if let coding = unsupportedCoding {
            return .init(.notImplemented, .unsupportedTransferEncoding,
                         "Transfer-Encoding '\(coding)' is not supported; only 'chunked' is")
        }
        if chunkedCount > 1 {
            return .init(.badRequest, .ambiguousFraming, "Transfer-Encoding lists 'chunked' more than once")
        }
        return nil
    }
}
