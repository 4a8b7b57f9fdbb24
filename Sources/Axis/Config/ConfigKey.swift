/// One setting of a configuration file: its key path, what it accepts, its default and its
/// documentation. A table of these (`AxisdConfiguration.keys`) is the single source for the reader's
/// checks, its error messages, its "did you mean" suggestions, and the tests that hold
/// docs/CONFIGURATION.md and docs/axisd.sample.json to it.
public struct ConfigKey: Sendable, Equatable {
    /// What a key accepts. Each kind knows how to describe itself to an operator.
    public enum Kind: Sendable, Equatable {
        /// A path to a regular file that must exist and be readable (checked unless relaxed).
        case file
        /// A path to a directory that must exist and be readable.
        case directory
        /// A path to a directory that axisd creates when missing; it must not be something else.
        case dataDirectory
        /// A path where axisd creates a Unix-domain socket: its directory must exist; a socket left
        /// there is replaced, any other file refused.
        case socket
        /// `HOST:PORT` (IPv4). With `disableable`, `""` means "off".
        case listen(disableable: Bool)
        /// A whole number, optionally of a unit ("bytes").
        case integer(ClosedRange<Int64>, unit: String?)
        /// A duration in seconds, held in milliseconds. `whole` refuses fractions.
        case seconds(ClosedRange<Double>, whole: Bool)
        /// A plain number such as a multiplier or a fraction.
        case number(ClosedRange<Double>)
        /// One of a fixed set of strings.
        case choice([String])
        /// The name of a Unix group that exists (checked unless relaxed).
        case group
    }

    /// Dotted path from the top of the file: `"delivery.maxBackoffSeconds"`.
    public let path: String
    public let kind: Kind
    /// The value used when the key is absent, as JSON; nil when the default is "not set".
    public let defaultValue: JSONValue?
    /// What "not set" means, for keys without a default value: "the API's TLS certificate is used".
    public let unsetMeaning: String?
    /// A value to suggest in a fix ("set it to a number such as 3600"); the default when nil.
    public let exampleValue: JSONValue?
    /// The axisd command-line option that overrides this key, without dashes (`lease-seconds`).
    public let flag: String?
    /// One sentence on what the key does.
    public let summary: String

    public init(_ path: String, _ kind: Kind, default defaultValue: JSONValue?, unset unsetMeaning: String? = nil,
                example exampleValue: JSONValue? = nil, flag: String? = nil, _ summary: String) {
        self.path = path
        self.kind = kind
        self.defaultValue = defaultValue
        self.unsetMeaning = unsetMeaning
        self.exampleValue = exampleValue
        self.flag = flag
        self.summary = summary
    }

    /// The value quoted in a suggested fix.
    public var example: JSONValue { exampleValue ?? defaultValue ?? .string("") }

    /// The section (`"delivery"`) or nil for a top-level key.
    public var section: String? {
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return String(path[..<dot])
    }

    /// The key's last component: `"maxBackoffSeconds"`.
    public var leaf: String {
        guard let dot = path.lastIndex(of: ".") else { return path }
        return String(path[path.index(after: dot)...])
    }

    /// What the key must be, as the start of an error message continues it:
    /// `"delivery.jitter" must be <requirement>, not …`.
    public var requirement: String {
        switch kind {
        case .file: return "a path to a file (a string)"
        case .directory: return "a path to a directory (a string)"
        case .dataDirectory: return "a path to a directory (a string)"
        case .socket: return "a path for a Unix-domain socket (a string)"
        case .group: return "the name of a Unix group (a string)"
        case .listen(let disableable):
            return "\"HOST:PORT\" with an IPv4 address and a port from 0 to 65535" + (disableable ? ", or \"\" to disable it" : "")
        case .integer(let range, let unit):
            return "a whole number\(unit.map { " of \($0)" } ?? "") from \(range.lowerBound) to \(range.upperBound)"
        case .seconds(let range, let whole):
            return "\(whole ? "a whole number" : "a number") of seconds from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        case .number(let range):
            return "a number from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        case .choice(let options):
            return "one of " + options.map { JSONValue.string($0).encoded() }.joined(separator: ", ")
        }
    }

    /// How the fix in an error message suggests a value: `set it to a number such as 3600`.
    public var suggestedFix: String {
        let example = self.example.encoded()
        switch kind {
        case .file, .directory, .dataDirectory, .socket: return "set it to a path such as \(example)"
        case .listen: return "set it to an address such as \(example)"
        case .integer, .seconds, .number: return "set it to a number such as \(example)"
        case .choice: return "set it to one of them, such as \(example)"
        case .group: return "set it to a group that exists, such as \(example), or leave it out"
        }
    }

    /// The type column of the documentation table.
    public var typeText: String {
        switch kind {
        case .file: return "file path"
        case .directory, .dataDirectory: return "directory path"
        case .socket: return "socket path"
        case .group: return "group name"
        case .listen(let disableable): return disableable ? "\"HOST:PORT\" or \"\"" : "\"HOST:PORT\""
        case .integer: return "integer"
        case .seconds(_, let whole): return whole ? "integer (seconds)" : "number (seconds)"
        case .number: return "number"
        case .choice: return "string"
        }
    }

    /// The limits column of the documentation table: `1 to 86400`, `"kv" or "json"`.
    public var limitText: String {
        switch kind {
        case .file: return "must exist and be readable"
        case .directory: return "must exist and be readable"
        case .dataDirectory: return "created if missing"
        case .socket: return "its directory must exist"
        case .group: return "must exist"
        case .listen: return "port 0 to 65535"
        case .integer(let range, _): return "\(range.lowerBound) to \(range.upperBound)"
        case .seconds(let range, _), .number(let range):
            return "\(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        case .choice(let options): return options.map { "`\"\($0)\"`" }.joined(separator: ", ")
        }
    }

    /// The default column of the documentation table: the JSON value in backticks, or "none".
    public var defaultText: String {
        guard let defaultValue else { return "none" }
        return "`\(defaultValue.encoded())`"
    }

    /// `86400`, `0.01`: whole values without a fraction, others as Swift prints them.
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
