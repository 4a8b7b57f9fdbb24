// A strict JSON (RFC 8259) reader for configuration files.
//
// Why not JSONSerialization: it turns `true` into an NSNumber that also answers as `1`, and it keeps
// the last of two equal keys without saying so. A configuration reader must tell `true` from `1` and
// must refuse `{"api": {…}, "api": {…}}` rather than silently drop half of it. So this parser keeps:
//
//   - numbers as their exact lexeme (`"300"`, `"0.2"`, `"1e3"`), for the caller to read as an integer
//     or a double and to quote back in an error;
//   - object members in file order, duplicates included, each with its line and column, so the
//     caller can report a duplicate key by its key path and both lines.
//
// Limits and refusals (each a `SyntaxError` with line, column and byte offset):
//   - input must be UTF-8 (an initial byte-order mark is skipped); invalid bytes are refused where
//     they occur;
//   - exactly one value, surrounded only by JSON whitespace (space, tab, LF, CR);
//   - no comments, trailing commas, single quotes, bare words, leading zeros, `NaN`/`Infinity`,
//     unescaped control characters in strings or lone surrogates in `\u` escapes;
//   - at most `depthMax` nested arrays/objects (the parser is recursive; this bounds its stack).

/// A JSON value as written: numbers keep their lexeme, objects keep every member in order.
public indirect enum StrictJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number exactly as written, e.g. `-0.5e3`. It always matches the JSON number grammar.
    case number(String)
    case string(String)
    case array([StrictJSON])
    case object([Member])

    /// One `"key": value` of an object, with where its key starts (1-based line and column).
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: StrictJSON
        public var line: Int
        public var column: Int

        public init(key: String, value: StrictJSON, line: Int = 0, column: Int = 0) {
            (self.key, self.value, self.line, self.column) = (key, value, line, column)
        }
    }

    /// Where and why the bytes are not JSON.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Byte offset from the start of the input (0-based).
        public var offset: Int
        /// 1-based line.
        public var line: Int
        /// 1-based column, counted in characters (Unicode scalars), not bytes.
        public var column: Int
        /// What is wrong, e.g. `expected "," or "}" after an object member, found "\""`.
        public var reason: String

        public var description: String { "line \(line), column \(column): \(reason)" }
    }

    /// Nested arrays and objects allowed; configuration needs two.
    public static let depthMax = 32

    /// Parses `bytes` as exactly one JSON value.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> StrictJSON {
        var parser = StrictJSONParser(bytes)
        return try parser.parseDocument()
    }

    /// Whether `text` is a complete JSON number (`-12`, `0.5`, `1e3`), e.g. a command-line value.
    public static func isNumber(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return false }
        var parser = StrictJSONParser(bytes)
        guard case .number? = try? parser.parseDocument() else { return false }
        return true
    }

    /// A short rendering for error messages: strings quoted (and cut at 40 characters), numbers as
    /// written, `true`/`false`/`null`, and "an array" / "an object".
    public var shortDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let lexeme): return lexeme
        case .string(let s):
            let cut = s.count > 40 ? String(s.prefix(40)) + "…" : s
            return JSONValue.string(cut).encoded()
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
