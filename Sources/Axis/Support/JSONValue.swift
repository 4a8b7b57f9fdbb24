/// A JSON value with ordered object keys, so command output and API replies have a stable,
/// documented field order. Encoding only escapes what JSON requires; `asciiOnly` also escapes every
/// non-ASCII character as `\uXXXX` (the VDXP SDK decodes replies as US-ASCII).
///
/// Not `indirect`: nesting already goes through arrays. An indirect case is a heap box whose pointer
/// carries the case in its high bits; LeakSanitizer cannot follow such a pointer, so the defaults in
/// the configuration key table (globals) were reported as leaked and failed every sanitized
/// axisd/axisctl run that read a configuration.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func encoded(asciiOnly: Bool = false) -> String {
        var out = ""
        write(into: &out, asciiOnly: asciiOnly)
        return out
    }

    private func write(into out: inout String, asciiOnly: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? String(d) : "null"
        case .string(let s): Self.writeString(s, into: &out, asciiOnly: asciiOnly)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out, asciiOnly: asciiOnly)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out, asciiOnly: asciiOnly)
                out += ":"
                value.write(into: &out, asciiOnly: asciiOnly)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String, asciiOnly: Bool) {
        JSONString.append(s, to: &out) { $0.value < 0x20 || (asciiOnly && $0.value > 0x7E) }
    }
}

/// JSON string literals, shared by `JSONValue` and the logger.
public enum JSONString {
    /// Appends `value` as a JSON string literal, quotes included. Quotes, backslashes and `\n` `\r`
    /// `\t` are always escaped; any other scalar outside printable ASCII for which `escape` is true is
    /// written as `\uXXXX` (a surrogate pair beyond the BMP). Printable ASCII is never escaped.
    public static func append(_ value: String, to out: inout String, escape: (Unicode.Scalar) -> Bool) {
        // Fast path (ids, digests, base64 receipts): printable ASCII without quote or backslash is
        // copied whole instead of scalar by scalar.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out += "\""
            out += value
            out += "\""
            return
        }
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if escape(scalar) {
                    for unit in String(scalar).utf16 {
                        out += "\\u"
                        for shift in [12, 8, 4, 0] { out.append(hexDigits[Int((unit >> UInt16(shift)) & 0xF)]) }
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    private static let hexDigits = Array("0123456789abcdef")
}
