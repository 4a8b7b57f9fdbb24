@preconcurrency import Glibc

/// Reads settings out of a parsed configuration object, strictly, collecting every problem.
///
/// The reader is built from a table of `ConfigKey`s. On construction it walks the whole object once:
/// keys in the table are remembered for the typed getters; sections (the key paths' prefixes, such as
/// `delivery`) must be objects and are walked into; anything else is an unknown key, reported with a
/// "did you mean" suggestion and never walked into. Duplicate keys are problems too.
///
/// The typed getters (`integer`, `millis`, `number`, `choice`, `path`, `listen`) return the value
/// when the key is present and valid, and nil when it is absent or wrong; a wrong value adds one
/// problem naming the key, what it must be, what it was and how to fix it. Nothing is thrown until
/// the caller has asked for every key, so one run reports everything (`check()`).
///
/// The same reader serves the command line: `ConfigReader(flags:…)` builds the object from
/// `--option value` pairs and names keys by their options in messages.
public struct ConfigReader {
    /// Where the values come from; decides how a message starts and names a key.
    public enum Source: Sendable, Equatable {
        /// A configuration file: messages start with its path and quote key paths.
        case file(String)
        /// Command-line options: messages name the option (`--lease-seconds`).
        case commandLine
    }

    public let source: Source
    /// Relative paths are resolved against this directory.
    public let baseDirectory: String
    /// Whether `path` checks that files and directories exist and are readable.
    public let checkFiles: Bool
    /// Every problem so far, one complete message each.
    public private(set) var problems: [String] = []
    /// Key paths present in the input.
    public private(set) var given: Set<String> = []
    /// Key paths whose value was refused.
    public private(set) var failed: Set<String> = []

    private let keys: [ConfigKey]
    private var values: [String: StrictJSON] = [:]

    /// A reader over `root`, which should be the file's top-level object.
    public init(root: StrictJSON, keys: [ConfigKey], source: Source, baseDirectory: String, checkFiles: Bool = true) {
        self.keys = keys
        self.source = source
        self.baseDirectory = baseDirectory
        self.checkFiles = checkFiles
        guard case .object(let members) = root else {
            problems.append(prefix + "the top level must be a JSON object such as {\"data\": \"/var/lib/axis\"}, not "
                + root.shortDescription + "; write the settings inside { }")
            return
        }
        walk(members, at: "")
    }

    /// A reader over command-line values, keyed by option name without dashes (`"lease-seconds"`).
    /// Values of numeric keys that look like JSON numbers are read as numbers, everything else as
    /// a string, so `--lease-seconds ten` gets the same message as `"leaseSeconds": "ten"`.
    public init(flags: [String: String], keys: [ConfigKey], baseDirectory: String, checkFiles: Bool = true) {
        self.keys = keys
        self.source = .commandLine
        self.baseDirectory = baseDirectory
        self.checkFiles = checkFiles
        let overriding = Set(keys.compactMap(\.flag))
        for flag in flags.keys.sorted() where !overriding.contains(flag) {
            problems.append("--\(flag) does not set a configuration key; only \(overriding.sorted().map { "--" + $0 }.joined(separator: ", ")) do")
        }
        for key in keys {
            guard let flag = key.flag, let text = flags[flag] else { continue }
            switch key.kind {
            case .integer, .seconds, .number:
                values[key.path] = StrictJSON.isNumber(text) ? .number(text) : .string(text)
            default:
                values[key.path] = .string(text)
            }
            given.insert(key.path)
        }
    }

    // MARK: - Naming

    /// How a message starts: `/etc/axis/axisd.json: ` or nothing for the command line.
    public var prefix: String {
        switch source {
        case .file(let path): return path + ": "
        case .commandLine: return ""
        }
    }

    /// How a message names `key`: `"api.listen"` in a file, `--listen` on the command line.
    public func name(_ key: ConfigKey) -> String {
        if source == .commandLine, let flag = key.flag { return "--" + flag }
        return JSONValue.string(key.path).encoded()
    }

    /// Adds a problem the caller found (a cross-field check); `message` is prefixed with the source.
    public mutating func addProblem(_ message: String, keys failing: [ConfigKey] = []) {
        problems.append(prefix + message)
        for key in failing { failed.insert(key.path) }
    }

    /// Throws one `.usage` error listing every problem, one per line, if there are any.
    public func check() throws {
        guard problems.isEmpty else { throw AxisError(.usage, problems.joined(separator: "\n")) }
    }

    // MARK: - Typed getters

    /// A whole number within the key's limits.
    public mutating func integer(_ key: ConfigKey) -> Int64? {
        guard case .integer(let range, _) = key.kind else { preconditionFailure("\(key.path) is not an integer key") }
        guard let value = present(key) else { return nil }
        guard let whole = wholeNumber(value), range.contains(whole) else { return refuse(key, value) }
        return whole
    }

    /// A duration within the key's limits (in seconds), returned in milliseconds.
    public mutating func millis(_ key: ConfigKey) -> Int64? {
        guard case .seconds(let range, let whole) = key.kind else { preconditionFailure("\(key.path) is not a seconds key") }
        guard let value = present(key) else { return nil }
        if whole {
            guard let seconds = wholeNumber(value), range.contains(Double(seconds)) else { return refuse(key, value) }
            return seconds * 1000
        }
        guard let seconds = double(value), range.contains(seconds) else { return refuse(key, value) }
        return Int64((seconds * 1000).rounded())
    }

    /// A number within the key's limits.
    public mutating func number(_ key: ConfigKey) -> Double? {
        guard case .number(let range) = key.kind else { preconditionFailure("\(key.path) is not a number key") }
        guard let value = present(key) else { return nil }
        guard let number = double(value), range.contains(number) else { return refuse(key, value) }
        return number
    }

    /// One of the key's choices, exactly as listed (matching is case-sensitive; a case-only
    /// mismatch is pointed out).
    public mutating func choice(_ key: ConfigKey) -> String? {
        guard case .choice(let options) = key.kind else { preconditionFailure("\(key.path) is not a choice key") }
        guard let value = present(key) else { return nil }
        guard case .string(let text) = value, options.contains(text) else {
            if case .string(let text) = value, let match = options.first(where: { $0.lowercased() == text.lowercased() }) {
                return refuse(key, value, fix: "write it in lower case: \(JSONValue.string(match).encoded())")
            }
            return refuse(key, value)
        }
        return text
    }

    /// `HOST:PORT`; `.some(nil)` when a disableable key is `""`.
    public mutating func listen(_ key: ConfigKey) -> ListenAddress?? {
        guard case .listen(let disableable) = key.kind else { preconditionFailure("\(key.path) is not a listen key") }
        guard let value = present(key) else { return nil }
        guard case .string(let text) = value else { return refuse(key, value) }
        if text.isEmpty, disableable { return .some(nil) }
        switch ListenAddress.check(text) {
        case .success(let address): return .some(address)
        case .failure(let problem): return refuse(key, value, note: problem.reason)
        }
    }

    /// A Unix group name; with `checkFiles`, the group must exist.
    public mutating func group(_ key: ConfigKey) -> String? {
        guard case .group = key.kind else { preconditionFailure("\(key.path) is not a group key") }
        guard let value = present(key) else { return nil }
        guard case .string(let name) = value, !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || "0123456789_-.".unicodeScalars.contains($0)) }) else {
            return refuse(key, value)
        }
        if checkFiles && getgrnam(name) == nil {
            return refuse(key, value, note: "no such group on this machine (see /etc/group); create it with groupadd first")
        }
        return name
    }

    /// An absolute path: relative ones are resolved against `baseDirectory`. With `checkFiles`,
    /// a `.file` must be a readable regular file, a `.directory` a readable directory, and a
    /// `.dataDirectory` a directory if it exists.
    public mutating func path(_ key: ConfigKey) -> String? {
        switch key.kind {
        case .file, .directory, .dataDirectory, .socket: break
        default: preconditionFailure("\(key.path) is not a path key")
        }
        guard let value = present(key) else { return nil }
        guard case .string(let text) = value, !text.isEmpty else { return refuse(key, value) }
        if text.utf8.contains(0) { return refuse(key, value, note: "it contains a NUL character") }
        if text.hasPrefix("~") { return refuse(key, value, note: "\"~\" is not expanded; write the full path") }
        let resolved = Self.resolve(text, against: baseDirectory)
        guard checkFiles, let trouble = Self.fileTrouble(resolved, kind: key.kind) else { return resolved }
        let origin = text == resolved ? "" : " (\(JSONValue.string(text).encoded()) resolved against \(baseDirectory))"
        failed.insert(key.path)
        problems.append(prefix + "\(name(key)) names \(resolved)\(origin), which \(trouble)")
        return nil
    }

    /// `path` if absolute, else `base/path` (a leading `./` dropped).
    public static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") { return path }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2).drop(while: { $0 == "/" }) }
        if relative.isEmpty || relative == "." { return base }
        return PathJoin.join(base, String(relative))
    }

    /// Why `path` cannot serve as `kind`, worded to follow "which", or nil when it can.
    static func fileTrouble(_ path: String, kind: ConfigKey.Kind) -> String? {
        var st = stat()
        let found = stat(path, &st) == 0
        let isDirectory = found && (st.st_mode & S_IFMT) == S_IFDIR
        let isRegular = found && (st.st_mode & S_IFMT) == S_IFREG
        let uid = getuid()
        switch kind {
        case .file:
            guard found else { return "does not exist or is not readable by this user; create it or correct the path" }
            if isDirectory { return "is a directory, not a file; name the file itself" }
            guard isRegular else { return "is not a regular file; name a regular file" }
            guard access(path, R_OK) == 0 else {
                return "exists but is not readable by this user (uid \(uid)); let it read the file, e.g. chgrp axis \(path) && chmod g+r \(path)"
            }
            return nil
        case .directory:
            guard found else { return "does not exist or is not readable by this user; create it or correct the path" }
            guard isDirectory else { return "is not a directory; name the directory that holds the files" }
            guard access(path, R_OK | X_OK) == 0 else {
                return "exists but is not readable by this user (uid \(uid)); let it list and read the directory, e.g. chgrp -R axis \(path) && chmod -R g+rX \(path)"
            }
            return nil
        case .dataDirectory:
            guard found, !isDirectory else { return nil }
            return "exists and is not a directory; name a directory (axisd creates it when missing)"
        case .socket:
            if found && (st.st_mode & S_IFMT) != S_IFSOCK { return "exists and is not a socket; move it away or name another path" }
            let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            var dir = stat()
            guard stat(parent.isEmpty ? "/" : parent, &dir) == 0, (dir.st_mode & S_IFMT) == S_IFDIR else {
                return "is in a directory that does not exist; create \(parent) or name another path"
            }
            return nil
        default:
            return nil
        }
    }

    // MARK: - Walking

    private var prefixSet: Set<String> {
        var sections: Set<String> = []
        for key in keys {
            var section = key.section
            while let current = section {
                sections.insert(current)
                section = current.lastIndex(of: ".").map { String(current[..<$0]) }
            }
        }
        return sections
    }

    private mutating func walk(_ members: [StrictJSON.Member], at section: String) {
        let known = Dictionary(keys.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let sections = prefixSet
        var seen: [String: Int] = [:]
        for member in members {
            let path = section.isEmpty ? member.key : section + "." + member.key
            if let firstLine = seen[member.key] {
                problems.append(prefix + "\(JSONValue.string(path).encoded()) appears twice (lines \(firstLine) and \(member.line)); "
                    + "JSON keys must be unique: keep one" + (sections.contains(path) ? " and move its settings into it" : ""))
                failed.insert(path)
                continue
            }
            seen[member.key] = member.line
            if member.key.contains(".") {
                if known[path] != nil || sections.contains(path) {
                    let parts = path.split(separator: ".").map(String.init)
                    let nested = parts.dropLast().reduce("\(JSONValue.string(parts.last ?? "").encoded()): …") {
                        "\(JSONValue.string($1).encoded()): {\($0)}"
                    }
                    problems.append(prefix + "key \(JSONValue.string(member.key).encoded()) must be written nested, as \(nested); "
                        + "a dot in a key name does not make a section")
                } else {
                    problems.append(prefix + unknownKeyMessage(path, value: member.value))
                }
                continue
            }
            if known[path] != nil {
                values[path] = member.value
                given.insert(path)
            } else if sections.contains(path) {
                guard case .object(let inner) = member.value else {
                    let example = keys.first { $0.section == path }.map { "{\(JSONValue.string($0.leaf).encoded()): \($0.example.encoded())}" } ?? "{}"
                    problems.append(prefix + "\(JSONValue.string(path).encoded()) must be an object of settings such as \(example), "
                        + "not \(member.value.shortDescription); write its settings inside { }")
                    continue
                }
                walk(inner, at: path)
            } else {
                problems.append(prefix + unknownKeyMessage(path, value: member.value))
            }
        }
    }

    private func unknownKeyMessage(_ path: String, value: StrictJSON) -> String {
        var message = "unknown key \(JSONValue.string(path).encoded())"
        if let suggestion = suggestion(for: path) {
            message += " (did you mean \(JSONValue.string(suggestion).encoded())?)"
        }
        if case .object = value {
            message += "; it holds an object, and no setting is nested below \"section.key\""
        }
        return message + "; remove it or correct its spelling — every key is listed in docs/CONFIGURATION.md"
    }

    /// The known key or section an unknown path most likely meant: same spelling in another case,
    /// the same last component in another section, or the nearest by edit distance (case-insensitive,
    /// transpositions count once) within a tolerance that grows with the length of the name.
    func suggestion(for path: String) -> String? {
        let candidates = keys.map(\.path) + prefixSet.sorted()
        let lowered = path.lowercased()
        if let same = candidates.first(where: { $0.lowercased() == lowered }) { return same }
        let leaf = lowered.split(separator: ".").last.map(String.init) ?? lowered
        if let moved = keys.first(where: { $0.leaf.lowercased() == leaf }) { return moved.path }
        let tolerance = leaf.count <= 4 ? 1 : (leaf.count <= 8 ? 2 : 3)
        var best: (String, Int)?
        for candidate in candidates {
            let candidateLeaf = candidate.lowercased().split(separator: ".").last.map(String.init) ?? candidate.lowercased()
            let distance = min(Self.editDistance(lowered, candidate.lowercased()), Self.editDistance(leaf, candidateLeaf))
            if distance <= tolerance, distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        return best?.0
    }

    /// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
    /// transpositions each cost 1.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }

    // MARK: - Values

    private func present(_ key: ConfigKey) -> StrictJSON? { values[key.path] }

    /// Adds the standard "must be …, not …; fix" problem and returns nil.
    private mutating func refuse<T>(_ key: ConfigKey, _ value: StrictJSON, note: String? = nil, fix: String? = nil) -> T? {
        failed.insert(key.path)
        var fix = fix ?? key.suggestedFix
        if case .null = value {
            fix = "remove the key to use the default, or " + fix
        } else if case .string(let text) = value, StrictJSON.isNumber(text) {
            switch key.kind {
            case .integer, .seconds, .number: fix = "write the number without quotes, e.g. \(key.example.encoded())"
            default: break
            }
        }
        let noteText = note.map { " (\($0))" } ?? ""
        problems.append(prefix + "\(name(key)) must be \(key.requirement), not \(value.shortDescription)\(noteText); \(fix)")
        return nil
    }

    /// A JSON number whose value is a whole number that fits in Int64 (`300`, `3e2`, `300.0`).
    private func wholeNumber(_ value: StrictJSON) -> Int64? {
        guard case .number(let lexeme) = value else { return nil }
        if !lexeme.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return Int64(lexeme) }
        guard let d = Double(lexeme), d.isFinite, d == d.rounded(), abs(d) < 9_007_199_254_740_992 else { return nil }
        return Int64(d)
    }

    private func double(_ value: StrictJSON) -> Double? {
        guard case .number(let lexeme) = value, let d = Double(lexeme), d.isFinite else { return nil }
        return d
    }
}
