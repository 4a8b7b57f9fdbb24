// A strict command-line parser for `axisd` and `axisctl`.
//
// Grammar, for the arguments after the program name:
//
//     --name            a flag, or a valued option whose value is the next argument
//     --name=value      a valued option with its value attached (the only way to pass a value
//                       that begins with '-')
//     -x                the short alias of an option; a value, if any, is the next argument
//     -h, --help        anywhere before '--': a help request, never an error
//     --                ends options; every later argument is positional
//     -                 a positional (conventionally stdin/stdout)
//     word              a subcommand name if the current command has subcommands, else a positional
//
// Limits: at most `argumentsMax` arguments of at most `argumentBytesMax` UTF-8 bytes each.
//
// Bad input never crashes and is never guessed at: an unknown option or command, a missing or
// unexpected value, a repeated single option, or a missing or extra positional throws
// `AxisError(.usage, …)` whose message names the argument, suggests a fix where one is likely
// ("did you mean '--json'?") and points at `--help`. Short options are not bundled (`-jv`) and do
// not take attached values (`-dDIR`); both are rejected with a hint.

/// Parses arguments against a `CommandSpec` tree.
public struct ArgumentParser: Sendable {
    /// Most arguments accepted, not counting the program name.
    public static let argumentsMax = 1_000
    /// Longest argument accepted, in UTF-8 bytes.
    public static let argumentBytesMax = 65_536

    public let root: CommandSpec

    /// Stops the process if `root` is malformed (see `CommandSpec.validate`): specs are code.
    public init(_ root: CommandSpec) {
        root.validate()
        self.root = root
    }

    /// What the operator asked for.
    public enum Outcome: Sendable {
        /// Run the command `ParsedCommand.path` names.
        case run(ParsedCommand)
        /// Print `text` to stdout and exit 0. `path` is the command the help is about, root first.
        case help(path: [String], text: String)
    }

    /// Parses `arguments`, which exclude the program name (`CommandLine.arguments.dropFirst()`).
    /// Throws `AxisError(.usage, …)` for any argument the spec does not accept.
    public func parse(_ arguments: [String]) throws -> Outcome {
        try checkLimits(arguments)
        if Self.containsHelpRequest(arguments) {
            let chain = helpChain(arguments)
            return .help(path: chain.map(\.name), text: Self.helpText(chain: chain))
        }

        var chain = [root]
        var command = root
        var flags: Set<String> = []
        var optionValues: [String: [String]] = [:]
        var positionalArguments: [String] = []
        var optionsEnded = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if !optionsEnded && argument == "--" {
                optionsEnded = true
                continue
            }
            if !optionsEnded && Self.looksLikeOption(argument) {
                let token = try resolveOption(argument, chain: chain)
                let option = token.option
                let commandName = Self.displayName(chain)
                switch option.kind {
                case .flag:
                    if let attached = token.attachedValue {
                        throw Self.usageError(
                            "option '\(token.spelling)' is a flag and takes no value; write '\(token.spelling)' "
                                + "without '=\(Self.sanitized(attached))'.", command: commandName)
                    }
                    if !flags.insert(option.name).inserted {
                        throw Self.usageError(
                            "option '\(token.spelling)' is given more than once; give it once.", command: commandName)
                    }
                case .value, .repeatable:
                    let value: String
                    if let attached = token.attachedValue {
                        value = attached
                    } else if index < arguments.count, !Self.looksLikeOption(arguments[index]) {
                        value = arguments[index]
                        index += 1
                    } else {
                        throw Self.missingValueError(
                            token, next: index < arguments.count ? arguments[index] : nil, command: commandName)
                    }
                    if option.kind == .value && optionValues[option.name] != nil {
                        throw Self.usageError(
                            "option '\(token.spelling)' is given more than once; give it once.", command: commandName)
                    }
                    optionValues[option.name, default: []].append(value)
                }
                continue
            }
            if !command.subcommands.isEmpty {
                // A subcommand is chosen by position, so `--` does not stop it being recognised.
                guard let subcommand = command.subcommand(named: argument) else {
                    throw Self.unknownCommandError(argument, chain: chain)
                }
                chain.append(subcommand)
                command = subcommand
                continue
            }
            positionalArguments.append(argument)
        }

        let commandName = Self.displayName(chain)
        if !command.subcommands.isEmpty {
            throw Self.usageError(
                "'\(commandName)' needs a command: \(command.subcommands.map(\.name).joined(separator: ", ")).",
                command: commandName)
        }
        let positionalValues = try Self.assignPositionals(positionalArguments, to: command.positionals, chain: chain)

        var optionSpecs: [String: OptionSpec] = [:]
        for option in chain.flatMap(\.options) { optionSpecs[option.name] = option }
        return .run(
            ParsedCommand(
                path: chain.map(\.name), optionSpecs: optionSpecs, positionalSpecs: command.positionals,
                flags: flags, optionValues: optionValues, arguments: positionalArguments, positionalValues: positionalValues))
    }

    /// The help text of the command at `path` (subcommand names below the root; `[]` for the root).
    /// Stops the process if `path` names no command: paths are code.
    public func helpText(for path: [String]) -> String {
        var chain = [root]
        for name in path {
            guard let next = chain[chain.count - 1].subcommand(named: name) else {
                preconditionFailure("no command '\(name)' under '\(Self.displayName(chain))'")
            }
            chain.append(next)
        }
        return Self.helpText(chain: chain)
    }

    // MARK: - Steps

    private func checkLimits(_ arguments: [String]) throws {
        if arguments.count > Self.argumentsMax {
            throw Self.usageError(
                "too many arguments: \(arguments.count) given, at most \(Self.argumentsMax) accepted; "
                    + "split the work over several runs.", command: root.name)
        }
        for (index, argument) in arguments.enumerated() where argument.utf8.count > Self.argumentBytesMax {
            throw Self.usageError(
                "argument \(index + 1) is \(argument.utf8.count) bytes long, at most \(Self.argumentBytesMax) accepted; "
                    + "pass long content in a file.", command: root.name)
        }
    }

    /// `-h` or `--help` before any `--`. Checked before anything else, so help works even on a
    /// command line that has other mistakes.
    private static func containsHelpRequest(_ arguments: [String]) -> Bool {
        for argument in arguments {
            if argument == "--" { return false }
            if argument == "--help" || argument == "-h" { return true }
        }
        return false
    }

    /// The deepest command a help request is about: follow subcommand names, skip options and the
    /// values of known valued options, ignore everything else.
    private func helpChain(_ arguments: [String]) -> [CommandSpec] {
        var chain = [root]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" { break }
            if Self.looksLikeOption(argument) {
                if let token = try? resolveOption(argument, chain: chain), token.option.kind != .flag,
                    token.attachedValue == nil, index < arguments.count, !Self.looksLikeOption(arguments[index])
                {
                    index += 1
                }
                continue
            }
            if let subcommand = chain[chain.count - 1].subcommand(named: argument) {
                chain.append(subcommand)
            } else if !chain[chain.count - 1].subcommands.isEmpty {
                break
            }
        }
        return chain
    }

    private struct OptionToken {
        var option: OptionSpec
        /// As typed, without any `=value`: `--data` or `-d`.
        var spelling: String
        var attachedValue: String?
    }

    private static func looksLikeOption(_ argument: String) -> Bool {
        argument.hasPrefix("-") && argument != "-"
    }

    /// Finds the option `argument` names among those the commands in `chain` accept.
    private func resolveOption(_ argument: String, chain: [CommandSpec]) throws -> OptionToken {
        let available = chain.flatMap(\.options) + [CommandSpec.helpOption]
        let commandName = Self.displayName(chain)

        if argument.hasPrefix("--") {
            let body = argument.dropFirst(2)
            let name: Substring
            let attached: String?
            if let equals = body.firstIndex(of: "=") {
                name = body[..<equals]
                attached = String(body[body.index(after: equals)...])
            } else {
                name = body
                attached = nil
            }
            if let option = available.first(where: { $0.name == name }) {
                return OptionToken(option: option, spelling: "--" + name, attachedValue: attached)
            }
            var problem = "unknown option '\(Self.sanitized("--" + name))' for '\(commandName)'"
            if let guess = Self.suggestion(for: String(name), among: available.map(\.name)) {
                problem += "; did you mean '--\(guess)'?"
            } else {
                problem += "."
            }
            throw Self.usageError(problem, command: commandName)
        }

        let body = argument.dropFirst()
        if body.count == 1, let short = body.first, let option = available.first(where: { $0.shortName == short }) {
            return OptionToken(option: option, spelling: argument, attachedValue: nil)
        }
        var problem = "unknown option '\(Self.sanitized(argument))' for '\(commandName)'"
        if let long = available.first(where: { $0.name == body }) {
            problem += "; did you mean '\(long.displayName)'?"
        } else if body.count > 1, let first = body.first, let short = available.first(where: { $0.shortName == first }) {
            problem += "; short options cannot be combined or carry a value: write "
            problem +=
                short.kind == .flag
                ? "'-\(first)' on its own."
                : "'-\(first) \(short.valueName)' or '\(short.displayName)=\(short.valueName)'."
        } else {
            problem += "."
        }
        throw Self.usageError(problem, command: commandName)
    }

    private static func missingValueError(_ token: OptionToken, next: String?, command: String) -> AxisError {
        let valueName = token.option.valueName
        let longForm = token.option.displayName
        if let next {
            return usageError(
                "option '\(token.spelling)' needs a value but is followed by '\(sanitized(next))'; write "
                    + "'\(token.spelling) \(valueName)', or '\(longForm)=\(sanitized(next))' if the value begins with '-'.",
                command: command)
        }
        return usageError(
            "option '\(token.spelling)' needs a value; write '\(token.spelling) \(valueName)' or '\(longForm)=\(valueName)'.",
            command: command)
    }

    private static func unknownCommandError(_ argument: String, chain: [CommandSpec]) -> AxisError {
        let commandName = displayName(chain)
        let names = chain[chain.count - 1].subcommands.map(\.name)
        var problem = "unknown command '\(sanitized(argument))' for '\(commandName)'"
        if let guess = suggestion(for: argument, among: names) {
            problem += "; did you mean '\(guess)'?"
        } else {
            problem += "; commands are: \(names.joined(separator: ", "))."
        }
        return usageError(problem, command: commandName)
    }

    /// Gives each positional spec its arguments, in order.
    private static func assignPositionals(
        _ arguments: [String], to specs: [PositionalSpec], chain: [CommandSpec]
    ) throws -> [String: [String]] {
        let commandName = displayName(chain)
        var values: [String: [String]] = [:]
        var next = 0
        for spec in specs {
            switch spec.arity {
            case .required:
                guard next < arguments.count else {
                    throw usageError(
                        "missing argument <\(spec.name)> for '\(commandName)'; usage: \(usageLine(chain: chain)).",
                        command: commandName)
                }
                values[spec.name] = [arguments[next]]
                next += 1
            case .optional:
                if next < arguments.count {
                    values[spec.name] = [arguments[next]]
                    next += 1
                }
            case .variadic:
                values[spec.name] = Array(arguments[next...])
                next = arguments.count
            }
        }
        if next < arguments.count {
            let extra = sanitized(arguments[next])
            let problem =
                specs.isEmpty
                ? "unexpected argument '\(extra)': '\(commandName)' takes no arguments."
                : "unexpected argument '\(extra)' for '\(commandName)', which takes "
                    + "\(specs.map(\.usageForm).joined(separator: " "))."
            throw usageError(problem, command: commandName)
        }
        return values
    }

    // MARK: - Messages

    static func displayName(_ chain: [CommandSpec]) -> String {
        chain.map(\.name).joined(separator: " ")
    }

    /// Every usage error ends by pointing at the help of the command it is about.
    static func usageError(_ problem: String, command: String) -> AxisError {
        AxisError(.usage, "\(problem) Run '\(command) --help'")
    }

    /// An operator's argument made safe to echo: control characters escaped, long ones cut.
    static func sanitized(_ argument: String) -> String {
        let shownCharactersMax = 64
        var out = ""
        for (count, character) in argument.enumerated() {
            if count == shownCharactersMax {
                out += "…"
                break
            }
            for scalar in character.unicodeScalars {
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator:
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                default:
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// The candidate an operator most likely meant, or nil if none is close: a case-insensitive
    /// match, else the nearest by edit distance (at most 1 for names of up to 4 characters,
    /// 2 above), else the only candidate that starts with `input`. Ties go to the first declared.
    static func suggestion(for input: String, among candidates: [String]) -> String? {
        if let exact = candidates.first(where: { $0.lowercased() == input.lowercased() }) { return exact }
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(input, candidate)
            let allowed = candidate.count <= 4 ? 1 : 2
            if distance <= allowed && distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        if let best { return best.name }
        let prefixed = candidates.filter { input.count >= 2 && $0.hasPrefix(input) }
        return prefixed.count == 1 ? prefixed[0] : nil
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
    /// transpositions each cost 1, so `--jsno` is one step from `--json`.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}

/// A command line the spec accepts: which command to run and what it was given.
///
/// Getters take names as declared in the spec, without dashes. Asking for a name the command
/// does not declare, or with the wrong getter (`flag` on a valued option), is a programmer error
/// and stops the process, so a typo cannot silently read as "not given".
public struct ParsedCommand: Sendable {
    /// The command, root first: `["axisctl", "journal", "check"]`.
    public let path: [String]
    /// Every positional argument, in order.
    public let arguments: [String]

    private let optionSpecs: [String: OptionSpec]
    private let positionalSpecs: [PositionalSpec]
    private let flags: Set<String>
    private let optionValues: [String: [String]]
    private let positionalValues: [String: [String]]

    init(
        path: [String], optionSpecs: [String: OptionSpec], positionalSpecs: [PositionalSpec], flags: Set<String>,
        optionValues: [String: [String]], arguments: [String], positionalValues: [String: [String]]
    ) {
        self.path = path
        self.optionSpecs = optionSpecs
        self.positionalSpecs = positionalSpecs
        self.flags = flags
        self.optionValues = optionValues
        self.arguments = arguments
        self.positionalValues = positionalValues
    }

    /// The subcommand names below the program: `["journal", "check"]`; `[]` for the root.
    public var subcommandPath: [String] { Array(path.dropFirst()) }

    /// The command as an operator types it: `axisctl journal check`.
    public var commandName: String { path.joined(separator: " ") }

    /// Whether the flag was given.
    public func flag(_ name: String) -> Bool {
        _ = spec(name, .flag)
        return flags.contains(name)
    }

    /// The option's value, else its declared default, else nil.
    public func value(_ name: String) -> String? {
        let option = spec(name, .value)
        return optionValues[name]?.first ?? option.defaultValue
    }

    /// Every value of a repeatable option, in the order given.
    public func values(_ name: String) -> [String] {
        _ = spec(name, .repeatable)
        return optionValues[name] ?? []
    }

    /// Whether the option was on the command line (a default does not count).
    public func isGiven(_ name: String) -> Bool {
        _ = spec(name, nil)
        return flags.contains(name) || optionValues[name] != nil
    }

    /// The option's value (or default) as an integer, nil if neither exists. Throws a usage error
    /// when the value is not a whole number or falls outside `range`.
    public func int(_ name: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        let option = spec(name, .value)
        guard let text = optionValues[name]?.first else {
            guard let defaultText = option.defaultValue else { return nil }
            guard let value = Int(defaultText) else {
                preconditionFailure("default '\(defaultText)' of '--\(name)' is not an integer")
            }
            return value
        }
        guard let value = Int(text) else {
            throw usageError(
                "option '--\(name)' needs a whole number, got '\(ArgumentParser.sanitized(text))'; "
                    + "write '--\(name) \(option.defaultValue ?? "10")'.")
        }
        if let range, !range.contains(value) {
            throw usageError(
                "option '--\(name)' must be between \(range.lowerBound) and \(range.upperBound), got \(value).")
        }
        return value
    }

    /// The option's integer value, or `defaultValue` when neither the command line nor the spec
    /// gives one. The spec's default wins over `defaultValue`, so help text stays truthful.
    public func int(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
        try int(name, in: range) ?? defaultValue
    }

    /// The value of a required or optional positional.
    public func positional(_ name: String) -> String? {
        let positional = positionalSpec(name)
        precondition(positional.arity != .variadic, "<\(name)> is variadic: use positionals(_:)")
        return positionalValues[name]?.first
    }

    /// The values of a variadic positional (or the zero or one value of any other).
    public func positionals(_ name: String) -> [String] {
        _ = positionalSpec(name)
        return positionalValues[name] ?? []
    }

    /// The positional argument at `index`, counting from 0, or nil.
    public func positional(_ index: Int) -> String? {
        arguments.indices.contains(index) ? arguments[index] : nil
    }

    /// A usage error about this command, for checks the spec cannot express (two options that
    /// exclude each other, a value out of its domain): `problem` gets the same "Run … --help"
    /// ending as the parser's own errors.
    public func usageError(_ problem: String) -> AxisError {
        ArgumentParser.usageError(problem, command: commandName)
    }

    private func spec(_ name: String, _ kind: OptionSpec.Kind?) -> OptionSpec {
        guard let option = optionSpecs[name] else {
            preconditionFailure("'\(commandName)' declares no option '--\(name)'")
        }
        if let kind {
            precondition(option.kind == kind, "'--\(name)' is \(option.kind), not \(kind)")
        }
        return option
    }

    private func positionalSpec(_ name: String) -> PositionalSpec {
        guard let positional = positionalSpecs.first(where: { $0.name == name }) else {
            preconditionFailure("'\(commandName)' declares no positional <\(name)>")
        }
        return positional
    }
}
