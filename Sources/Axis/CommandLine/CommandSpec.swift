// The declarative description of a command line: what `axisd` and `axisctl` accept.
//
// A spec is a tree of `CommandSpec`s. Each command owns its options; an option is also accepted
// by every subcommand below it (so `axisctl --data DIR journal check` and
// `axisctl journal check --data DIR` both work). A command either has subcommands or
// positional arguments, never both: the first positional word selects the subcommand.
//
// A spec is written by a programmer, not an operator, so a malformed spec (duplicate names, a
// required positional after an optional one, `-h` taken) is a programmer error and stops the
// process in `ArgumentParser.init`; see `CommandSpec.validate`.

/// One command-line option: a flag (`--json`), a valued option (`--data DIR`, `--data=DIR`) or a
/// repeatable valued option (`--trust a --trust b`).
public struct OptionSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Present or absent; takes no value.
        case flag
        /// Takes one value and may be given at most once.
        case value
        /// Takes one value each time and may be given any number of times.
        case repeatable
    }

    /// The long name without dashes: `"data"` for `--data`.
    public let name: String
    /// The optional one-character alias: `"d"` for `-d`. `h` is reserved for help.
    public let shortName: Character?
    public let kind: Kind
    /// How help text names the value: `DIR` in `--data DIR`. Empty for flags.
    public let valueName: String
    /// The value `ParsedCommand.value(_:)` returns when the option is not given; shown in help.
    public let defaultValue: String?
    /// One line for the help text.
    public let help: String

    private init(
        name: String, shortName: Character?, kind: Kind, valueName: String, defaultValue: String?, help: String
    ) {
        self.name = name
        self.shortName = shortName
        self.kind = kind
        self.valueName = valueName
        self.defaultValue = defaultValue
        self.help = help
    }

    /// A flag such as `--json`.
    public static func flag(_ name: String, short: Character? = nil, help: String) -> OptionSpec {
        OptionSpec(name: name, shortName: short, kind: .flag, valueName: "", defaultValue: nil, help: help)
    }

    /// An option with one value such as `--data DIR`, given at most once.
    public static func value(
        _ name: String, short: Character? = nil, valueName: String = "VALUE", default defaultValue: String? = nil,
        help: String
    ) -> OptionSpec {
        OptionSpec(
            name: name, shortName: short, kind: .value, valueName: valueName, defaultValue: defaultValue, help: help)
    }

    /// An option with one value that may be given many times, such as `--trust FILE`.
    public static func repeatable(
        _ name: String, short: Character? = nil, valueName: String = "VALUE", help: String
    ) -> OptionSpec {
        OptionSpec(name: name, shortName: short, kind: .repeatable, valueName: valueName, defaultValue: nil, help: help)
    }

    /// `--name`, as an operator types it.
    public var displayName: String { "--" + name }
}

/// One positional argument.
public struct PositionalSpec: Sendable {
    public enum Arity: Sendable, Equatable {
        /// Must be given.
        case required
        /// May be given once.
        case optional
        /// Takes every remaining argument, zero or more.
        case variadic
    }

    /// The name in help text and in `ParsedCommand.positional(_:)`: `data-dir` shows as `<data-dir>`.
    public let name: String
    public let arity: Arity
    public let help: String

    private init(name: String, arity: Arity, help: String) {
        self.name = name
        self.arity = arity
        self.help = help
    }

    public static func required(_ name: String, help: String) -> PositionalSpec {
        PositionalSpec(name: name, arity: .required, help: help)
    }

    public static func optional(_ name: String, help: String) -> PositionalSpec {
        PositionalSpec(name: name, arity: .optional, help: help)
    }

    /// Zero or more trailing arguments; must be the last positional.
    public static func variadic(_ name: String, help: String) -> PositionalSpec {
        PositionalSpec(name: name, arity: .variadic, help: help)
    }

    /// How the usage line shows it: `<name>`, `[<name>]` or `[<name>...]`.
    var usageForm: String {
        switch arity {
        case .required: "<\(name)>"
        case .optional: "[<\(name)>]"
        case .variadic: "[<\(name)>...]"
        }
    }
}

/// A command: its name, what it does, what it accepts and, optionally, its subcommands.
public struct CommandSpec: Sendable {
    public var name: String
    /// One line, shown under the usage line and in the parent's command list.
    public var summary: String
    public var options: [OptionSpec]
    public var positionals: [PositionalSpec]
    public var subcommands: [CommandSpec]
    /// Complete command lines, shown verbatim under "Examples:".
    public var examples: [String]

    public init(
        _ name: String, summary: String, options: [OptionSpec] = [], positionals: [PositionalSpec] = [],
        subcommands: [CommandSpec] = [], examples: [String] = []
    ) {
        self.name = name
        self.summary = summary
        self.options = options
        self.positionals = positionals
        self.subcommands = subcommands
        self.examples = examples
    }

    /// The built-in help option every command accepts.
    static let helpOption = OptionSpec.flag("help", short: "h", help: "Show this help.")

    func subcommand(named name: String) -> CommandSpec? {
        subcommands.first { $0.name == name }
    }

    /// Stops the process if the spec below this command is malformed. `inherited` holds the options
    /// of the commands above, which this command also accepts, so their names must stay unique.
    func validate(inherited: [OptionSpec] = []) {
        let context = "command '\(name)'"
        precondition(Self.isPlainWord(name), "\(context): a command name is a non-empty word without '-' in front")
        precondition(
            subcommands.isEmpty || positionals.isEmpty,
            "\(context): a command has subcommands or positional arguments, not both")

        var longNames: Set<String> = ["help"]
        var shortNames: Set<Character> = ["h"]
        for option in inherited {
            longNames.insert(option.name)
            if let short = option.shortName { shortNames.insert(short) }
        }
        for option in options {
            precondition(
                Self.isPlainWord(option.name) && !option.name.contains("="),
                "\(context): option name '\(option.name)' must be a word without dashes or '='")
            precondition(
                longNames.insert(option.name).inserted,
                "\(context): option '--\(option.name)' is declared twice on one command path (or is '--help')")
            if let short = option.shortName {
                precondition(
                    short != "-" && short != "=" && !short.isWhitespace,
                    "\(context): '-\(short)' cannot be a short option")
                precondition(
                    shortNames.insert(short).inserted,
                    "\(context): short option '-\(short)' is declared twice on one command path (or is '-h')")
            }
            precondition(option.kind == .flag || !option.valueName.isEmpty, "\(context): '--\(option.name)' needs a valueName")
            precondition(option.kind == .value || option.defaultValue == nil, "\(context): only .value options have defaults")
        }

        var positionalNames: Set<String> = []
        var seenOptional = false
        for (index, positional) in positionals.enumerated() {
            precondition(Self.isPlainWord(positional.name), "\(context): bad positional name '\(positional.name)'")
            precondition(positionalNames.insert(positional.name).inserted, "\(context): positional '\(positional.name)' twice")
            switch positional.arity {
            case .required:
                precondition(!seenOptional, "\(context): required <\(positional.name)> follows an optional positional")
            case .optional:
                seenOptional = true
            case .variadic:
                precondition(index == positionals.count - 1, "\(context): variadic <\(positional.name)> must come last")
            }
        }

        var subcommandNames: Set<String> = []
        for subcommand in subcommands {
            precondition(subcommandNames.insert(subcommand.name).inserted, "\(context): subcommand '\(subcommand.name)' twice")
            subcommand.validate(inherited: inherited + options)
        }
    }

    private static func isPlainWord(_ s: String) -> Bool {
        !s.isEmpty && !s.hasPrefix("-") && !s.contains(where: \.isWhitespace)
    }
}
