/// Byte classes from RFC 9110 §5.6 and small byte helpers shared by the HTTP parsers and serializers.
///
/// Everything here works on raw bytes so the hot path never builds a `String` to look at a header.
enum HTTPBytes {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// `tchar` (RFC 9110 §5.6.2) as bit masks over bytes 0–63 and 64–127, so a token check is a shift and
    /// a test instead of a table load. `HTTPCodecTests` rebuilds the masks from the RFC's list.
    static let tokenMaskLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenMaskHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// Whether `b` may appear in a token (method, header name, transfer coding).
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        if b < 64 { return (tokenMaskLow >> UInt64(b)) & 1 == 1 }
        if b < 128 { return (tokenMaskHigh >> UInt64(b &- 64)) & 1 == 1 }
        return false
    }

    /// Whether `b` may appear in a field value: VCHAR, obs-text (0x80–0xFF, e.g. Latin-1), SP and HTAB.
    /// Every other control byte, CR, LF, NUL and DEL included, is refused (RFC 9110 §5.5).
    @inline(__always)
    static func isFieldValueByte(_ b: UInt8) -> Bool { b >= 0x20 ? b != 0x7F : b == htab }

    @inline(__always)
    static func isWhitespace(_ b: UInt8) -> Bool { b == sp || b == htab }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    @inline(__always)
    static func lowercased(_ b: UInt8) -> UInt8 { b &- 0x41 < 26 ? b | 0x20 : b }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        if b &- 0x30 < 10 { return Int(b &- 0x30) }
        let l = b | 0x20
        if l &- 0x61 < 6 { return Int(l &- 0x61) + 10 }
        return nil
    }

    /// Whether `bytes` spell `lower` (lowercase ASCII) ignoring ASCII case.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        return lower.withUTF8Buffer { expected in
            for i in 0..<expected.count where lowercased(bytes[i]) != expected[i] { return false }
            return true
        }
    }

    /// Whether the UTF-8 of `name` equals `bytes` ignoring ASCII case. Used by header lookups, which take
    /// the name as a `String` but compare bytes so no string is built per stored field.
    static func equalsIgnoringCase<C: Collection>(_ bytes: C, _ name: String) -> Bool where C.Element == UInt8 {
        var utf8 = name.utf8.makeIterator()
        for b in bytes {
            guard let n = utf8.next(), lowercased(n) == lowercased(b) else { return false }
        }
        return utf8.next() == nil
    }

    /// `bytes` without leading and trailing SP / HTAB (optional whitespace, RFC 9110 §5.6.3).
    static func trimmingWhitespace(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end, isWhitespace(bytes[start]) { start += 1 }
        while end > start, isWhitespace(bytes[end - 1]) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Calls `body` with each element of a comma-separated list (RFC 9110 §5.6.1), trimmed; empty elements
    /// are skipped, as the RFC asks. Stops early when `body` returns false.
    static func forEachListElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
        var start = 0
        var i = 0
        while i <= value.count {
            if i == value.count || value[i] == comma {
                let element = trimmingWhitespace(UnsafeRawBufferPointer(rebasing: value[start..<i]))
                if !element.isEmpty, !body(element) { return }
                start = i + 1
            }
            i += 1
        }
    }

    /// Appends `n` (≥ 0) in decimal without building a `String`.
    static func appendDecimal(_ n: Int, to out: inout [UInt8]) {
        precondition(n >= 0, "HTTP lengths are never negative")
        let start = out.count
        var v = n
        repeat {
            out.append(UInt8(truncatingIfNeeded: 0x30 + v % 10))
            v /= 10
        } while v > 0
        out[start...].reverse()
    }

    /// Appends `n` (≥ 0) in lowercase hex, as chunk sizes are written.
    static func appendHex(_ n: Int, to out: inout [UInt8]) {
        precondition(n >= 0, "chunk sizes are never negative")
        var shift = 60
        while shift > 0, (n >> shift) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            let d = UInt8((n >> shift) & 0xF)
            out.append(d < 10 ? 0x30 + d : 0x57 + d)
            shift -= 4
        }
    }

    /// A byte as an operator can read it in an error message: `'x'` for printable ASCII, else `0x0D`.
    static func describe(_ b: UInt8) -> String {
        if b > 0x20, b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        let hex = "0123456789ABCDEF".utf8.map { $0 }
        return "0x" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xF)]], as: UTF8.self)
    }

    /// Decodes bytes as ISO-8859-1 (each byte is the code point of the same value). ASCII, by far the most
    /// common case, takes the fast path.
    static func latin1String<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b)) }
        return String(s)
    }
}
