/// The recursive-descent parser behind `StrictJSON.parse`. One use per input.
///
/// Raw newlines can only occur in whitespace (strings refuse control characters), so the line is
/// counted while skipping whitespace and each member's position costs nothing extra.
struct StrictJSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(StrictJSON.SyntaxError) -> StrictJSON {
        if let bad = Self.firstInvalidUTF8(bytes) {
            index = bad
            throw failure("byte 0x\(Self.hex(bytes[bad])) is not UTF-8; save the file as UTF-8")
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3
            lineStart = 3
        }
        skipWhitespace()
        guard index < bytes.count else { throw failure("there is no JSON value (the input is empty)") }
        let value = try parseValue()
        skipWhitespace()
        guard index >= bytes.count else {
            throw failure("unexpected \(found()) after the end of the top-level value; only whitespace may follow it")
        }
        return value
    }

    // MARK: - Values

    private mutating func parseValue() throws(StrictJSON.SyntaxError) -> StrictJSON {
        guard index < bytes.count else { throw failure("the input ends where a value was expected") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "'"): throw failure("strings must use double quotes (\"), not single quotes")
        case UInt8(ascii: "/"): throw failure("JSON has no comments; remove the comment")
        case let b where (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z"):
            throw failure("expected a value, found \(found()) (bare words are not JSON: quote strings with \", "
                + "and write true, false and null in lower case)")
        default: throw failure("expected a value (an object, array, string, number, true, false or null), found \(found())")
        }
    }

    private mutating func parseObject() throws(StrictJSON.SyntaxError) -> StrictJSON {
        try enter()
        index += 1  // {
        var members: [StrictJSON.Member] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw failure("the input ends inside an object; a \"}\" is missing") }
            switch bytes[index] {
            case UInt8(ascii: "\""): break
            case UInt8(ascii: "}") where !members.isEmpty: throw failure("trailing comma before \"}\"; remove the comma")
            case UInt8(ascii: "/"): throw failure("JSON has no comments; remove the comment")
            case UInt8(ascii: "'"): throw failure("keys must use double quotes (\"), not single quotes")
            default: throw failure("expected a key in double quotes, found \(found())")
            }
            let keyLine = line
            let keyColumn = column(at: index)
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw failure("expected \":\" after the key \(JSONValue.string(key).encoded()), found \(found())")
            }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append(StrictJSON.Member(key: key, value: value, line: keyLine, column: keyColumn))
            skipWhitespace()
            guard index < bytes.count else { throw failure("the input ends inside an object; a \"}\" is missing") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(members)
            }
            throw failure("expected \",\" or \"}\" after the value of \(JSONValue.string(key).encoded()), found \(found())")
        }
    }

    private mutating func parseArray() throws(StrictJSON.SyntaxError) -> StrictJSON {
        try enter()
        index += 1  // [
        var items: [StrictJSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]"), !items.isEmpty {
                throw failure("trailing comma before \"]\"; remove the comma")
            }
            items.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw failure("the input ends inside an array; a \"]\" is missing") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(items)
            }
            throw failure("expected \",\" or \"]\" after an array element, found \(found())")
        }
    }

    private mutating func enter() throws(StrictJSON.SyntaxError) {
        depth += 1
        guard depth <= StrictJSON.depthMax else {
            throw failure("arrays and objects are nested more than \(StrictJSON.depthMax) deep")
        }
    }

    private mutating func literal(_ word: String) throws(StrictJSON.SyntaxError) {
        let expected = Array(word.utf8)
        guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw failure("expected a value, found \(found()) (bare words are not JSON; quote strings with \")")
        }
        index += expected.count
    }

    // MARK: - Numbers

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    private mutating func parseNumber() throws(StrictJSON.SyntaxError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else {
            throw failure("a number needs a digit after \"-\"")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw failure("numbers must not have leading zeros") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a number needs a digit after \".\"") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a number needs a digit in its exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, isWordByte(bytes[index]) {
            throw failure("unexpected \(found()) in a number")
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private func isWordByte(_ b: UInt8) -> Bool {
        isDigit(b) || ((b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z")) || b == UInt8(ascii: ".")
            || b == UInt8(ascii: "_")
    }

    // MARK: - Strings

    /// A string starting at the opening quote. The input is known to be valid UTF-8, so unescaped
    /// runs are copied as bytes and decoded once.
    private mutating func parseString() throws(StrictJSON.SyntaxError) -> String {
        index += 1  // "
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure("the input ends inside a string; a closing \" is missing") }
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &out)
            case 0x00..<0x20:
                throw failure(b == 0x0A
                    ? "the string is not closed before the end of the line (a newline in a string is written \\n)"
                    : "control character 0x\(Self.hex(b)) in a string; write it as an escape such as \\t or \\u00\(Self.hex(b))")
            default:
                out.append(b)
                index += 1
            }
        }
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(StrictJSON.SyntaxError) {
        index += 1  // backslash
        guard index < bytes.count else { throw failure("the input ends inside an escape sequence") }
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "\""): UInt8(ascii: "\""), UInt8(ascii: "\\"): UInt8(ascii: "\\"), UInt8(ascii: "/"): UInt8(ascii: "/"),
            UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
        ]
        if let byte = simple[bytes[index]] {
            out.append(byte)
            index += 1
            return
        }
        guard bytes[index] == UInt8(ascii: "u") else {
            throw failure("\\\(found(quoted: false)) is not a JSON escape (use \\\\ for a backslash, e.g. in a Windows path)")
        }
        index -= 1
        var scalar = try hexEscape()
        if (0xD800...0xDBFF).contains(scalar) {
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw failure("a high surrogate \\u escape must be followed by a low surrogate \\u escape")
            }
            let low = try hexEscape()
            guard (0xDC00...0xDFFF).contains(low) else { throw failure("a high surrogate \\u escape must be followed by a low surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw failure("a low surrogate \\u escape without a high surrogate before it")
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw failure("\\u escape is not a Unicode scalar") }
        out.append(contentsOf: Array(String(Character(unicode)).utf8))
    }

    /// `\uXXXX` at `index`; returns its value and moves past it.
    private mutating func hexEscape() throws(StrictJSON.SyntaxError) -> UInt32 {
        index += 2  // \u
        guard bytes.count - index >= 4 else { throw failure("\\u needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw failure("\\u needs four hex digits, found \(found())")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    // MARK: - Positions and messages

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    /// 1-based column of `offset` on the current line, in Unicode scalars.
    private func column(at offset: Int) -> Int {
        var column = 1
        var i = lineStart
        while i < offset && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return column
    }

    /// What is at `index`, for a message: a quoted character, or "the end of the input".
    private func found(quoted: Bool = true) -> String {
        guard index < bytes.count else { return "the end of the input" }
        var end = index + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        let text = String(decoding: bytes[index..<end], as: UTF8.self)
        if !quoted { return text }
        return JSONValue.string(text).encoded()
    }

    private func failure(_ reason: String) -> StrictJSON.SyntaxError {
        // A string may span what the whitespace skipper has not seen; recount lines up to `index`
        // only for the error (rare), from the last line start we know.
        var line = self.line
        var lineStart = self.lineStart
        var i = lineStart
        while i < index && i < bytes.count {
            if bytes[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        var column = 1
        i = lineStart
        while i < index && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return StrictJSON.SyntaxError(offset: index, line: line, column: column, reason: reason)
    }

    /// Two uppercase hex digits.
    static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
    }

    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence
    /// (overlong forms, surrogates and values above U+10FFFF included), or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upper = 0x9F
            case 0xF0: length = 4; lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upper = 0x8F
            default: return i
            }
            guard i + length <= bytes.count else { return i }
            guard bytes[i + 1] >= lower, bytes[i + 1] <= upper else { return i }
            for k in 2..<max(2, length) where bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }
}
