import Axis

/// What axis-bench needs beyond the project's `ParsedCommand` getters: required values, numbers
/// with a fraction, and comma-separated lists. Errors are the parser's usage errors (exit 64).
/// Defaults live in each command's `CommandSpec`, so `--help` shows them.
extension ParsedCommand {
    func required(_ name: String) throws -> String {
        guard let v = value(name), !v.isEmpty else { throw usageError("option '--\(name)' is required.") }
        return v
    }

    func requiredInt(_ name: String, in range: ClosedRange<Int>) throws -> Int {
        guard let v = try int(name, in: range) else { throw usageError("option '--\(name)' is required.") }
        return v
    }

    func double(_ name: String, in range: ClosedRange<Double>) throws -> Double {
        let text = try required(name)
        guard let v = Double(text), range.contains(v) else {
            throw usageError("option '--\(name)' must be a number between \(range.lowerBound) and \(range.upperBound), got '\(text)'.")
        }
        return v
    }

    /// A comma-separated list such as `1,16,64`.
    func intList(_ name: String, in range: ClosedRange<Int>) throws -> [Int] {
        let text = try required(name)
        return try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard let v = Int(part), range.contains(v) else {
                throw usageError("option '--\(name)' takes whole numbers between \(range.lowerBound) and \(range.upperBound) "
                                 + "separated by commas, got '\(text)'.")
            }
            return v
        }
    }
}
