// Help text generated from a `CommandSpec`. Layout, for `axisctl journal dump --help`:
//
//     Usage: axisctl journal dump [options] <data-dir> [<kind>...]
//
//     Print journal records, oldest first.
//
//     Arguments:
//       <data-dir>          The data directory of axisd.
//
//     Options:
//           --limit N       Stop after N records. (default: 100)
//       -h, --help          Show this help.
//
//     Inherited options:
//       -d, --data DIR      …
//
//     Examples:
//       axisctl journal dump --limit 10 /var/lib/axis
//
// Sections without content are left out. One column width serves every table in the text, so
// the descriptions line up from top to bottom; nothing is wrapped. The text ends with a newline
// and no line has trailing spaces, so it compares byte for byte against golden files.

extension ArgumentParser {
    /// The usage line without the "Usage: " prefix: `axisctl journal [options] <command>`.
    static func usageLine(chain: [CommandSpec]) -> String {
        guard let command = chain.last else { return "" }
        var parts = [displayName(chain), "[options]"]
        if command.subcommands.isEmpty {
            parts += command.positionals.map(\.usageForm)
        } else {
            parts.append("<command>")
        }
        return parts.joined(separator: " ")
    }

    static func helpText(chain: [CommandSpec]) -> String {
        guard let command = chain.last else { return "" }
        let inherited = chain.dropLast().flatMap(\.options)

        var tables: [(title: String, rows: [(left: String, right: String)])] = []
        if !command.positionals.isEmpty {
            tables.append(
                ("Arguments:", command.positionals.map { ("<\($0.name)>" + ($0.arity == .variadic ? "..." : ""), $0.help) })
            )
        }
        if !command.subcommands.isEmpty {
            tables.append(("Commands:", command.subcommands.map { ($0.name, $0.summary) }))
        }
        tables.append(("Options:", (command.options + [CommandSpec.helpOption]).map(optionRow)))
        if !inherited.isEmpty {
            tables.append(("Inherited options:", inherited.map(optionRow)))
        }

        let leftWidth = tables.flatMap(\.rows).map(\.left.count).max() ?? 0
        var sections = ["Usage: " + usageLine(chain: chain)]
        if !command.summary.isEmpty {
            sections.append(command.summary)
        }
        for table in tables {
            var lines = [table.title]
            for row in table.rows {
                var line = "  " + row.left
                if !row.right.isEmpty {
                    line += String(repeating: " ", count: leftWidth - row.left.count + 2) + row.right
                }
                lines.append(line)
            }
            sections.append(lines.joined(separator: "\n"))
        }
        if !command.examples.isEmpty {
            sections.append((["Examples:"] + command.examples.map { "  " + $0 }).joined(separator: "\n"))
        }
        if !command.subcommands.isEmpty {
            sections.append("Run '\(displayName(chain)) <command> --help' for help on a command.")
        }
        return sections.joined(separator: "\n\n") + "\n"
    }

    /// `-d, --data DIR` / `    --json`, and the help with its default or "(repeatable)".
    private static func optionRow(_ option: OptionSpec) -> (left: String, right: String) {
        var left = option.shortName.map { "-\($0), " } ?? "    "
        left += option.displayName
        if option.kind != .flag {
            left += " " + option.valueName
        }
        var notes: [String] = []
        if let defaultValue = option.defaultValue {
            notes.append("(default: \(defaultValue))")
        }
        if option.kind == .repeatable {
            notes.append("(repeatable)")
        }
        let right = ([option.help] + notes).filter { !$0.isEmpty }.joined(separator: " ")
        return (left, right)
    }
}
