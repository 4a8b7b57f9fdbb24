/// Hand-written command-line parsing for `axis-bench <subcommand> [--option value | --option=value | --flag]…`.
///
/// Each subcommand declares the options that take a value and the flags it accepts; anything else
/// (an unknown option, a missing value, a positional word, a number out of range) is a `UsageError`,
/// which `main` reports with exit code 64.
struct UsageError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

struct Arguments {
    private var values: [String: String] = [:]
    private var flags: Set<String> = []

    init(_ words: [String], valueOptions: Set<String>, flagOptions: Set<String>) throws(UsageError) {
        var i = 0
        while i < words.count {
            let word = words[i]
            guard word.hasPrefix("--"), word.count > 2 else {
                throw UsageError("unexpected argument '\(word)': options start with '--'")
            }
            var name = String(word.dropFirst(2))
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if flagOptions.contains(name) {
                guard inlineValue == nil else { throw UsageError("--\(name) is a flag and takes no value") }
                flags.insert(name)
            } else if valueOptions.contains(name) {
                if let inlineValue {
                    values[name] = inlineValue
                } else {
                    guard i + 1 < words.count else { throw UsageError("--\(name) needs a value") }
                    i += 1
                    values[name] = words[i]
                }
            } else {
                throw UsageError("unknown option '--\(name)'")
            }
            i += 1
        }
    }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    func string(_ name: String) -> String? { values[name] }

    func requiredString(_ name: String) throws(UsageError) -> String {
        guard let v = values[name], !v.isEmpty else { throw UsageError("--\(name) is required") }
        return v
    }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[name] else { return value }
        return try Self.parseInt(text, name: name, in: range)
    }

    func requiredInt(_ name: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[name] else { throw UsageError("--\(name) is required") }
        return try Self.parseInt(text, name: name, in: range)
    }

    func double(_ name: String, default value: Double, in range: ClosedRange<Double>) throws(UsageError) -> Double {
        guard let text = values[name] else { return value }
        guard let v = Double(text), range.contains(v) else {
            throw UsageError("--\(name) must be a number between \(range.lowerBound) and \(range.upperBound), not '\(text)'")
        }
        return v
    }

    /// A comma-separated list such as `1,16,64`.
    func intList(_ name: String, default value: [Int], in range: ClosedRange<Int>) throws(UsageError) -> [Int] {
        guard let text = values[name] else { return value }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        var out: [Int] = []
        for part in parts { out.append(try Self.parseInt(String(part), name: name, in: range)) }
        guard !out.isEmpty else { throw UsageError("--\(name) needs at least one number") }
        return out
    }

    private static func parseInt(_ text: String, name: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let v = Int(text.trimmingCharacters(in: " ")), range.contains(v) else {
            throw UsageError("--\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound), not '\(text)'")
        }
        return v
    }
}

private extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
