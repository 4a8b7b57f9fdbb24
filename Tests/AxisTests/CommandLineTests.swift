import XCTest

@testable import Axis

final class CommandLineTests: XCTestCase {
    /// A spec shaped like `axisctl`: a root with global options, a command group and leaves.
    static let spec = CommandSpec(
        "axisctl", summary: "Inspect and administer an Axis node.",
        options: [
            .value("data", short: "d", valueName: "DIR", default: "/var/lib/axis", help: "Data directory of axisd."),
            .flag("json", help: "Print JSON instead of tables."),
        ],
        subcommands: [
            CommandSpec(
                "journal", summary: "Read the journal without the daemon.",
                subcommands: [
                    CommandSpec(
                        "check", summary: "Verify every frame and the hash chain.",
                        positionals: [.required("segment-dir", help: "Directory holding the segments.")],
                        examples: ["axisctl journal check /var/lib/axis/journal"]),
                    CommandSpec(
                        "dump", summary: "Print journal records, oldest first.",
                        options: [
                            .value("limit", short: "n", valueName: "N", default: "100", help: "Stop after N records."),
                            .repeatable("trust", valueName: "FILE", help: "Trust this certificate."),
                            .flag("verbose", short: "v", help: "Show payload digests."),
                        ],
                        positionals: [
                            .optional("from", help: "First sequence number to show."),
                            .variadic("kind", help: "Only show records of these kinds."),
                        ],
                        examples: [
                            "axisctl journal dump --limit 10",
                            "axisctl --json journal dump 42 document.accepted",
                        ]),
                ]),
            CommandSpec("status", summary: "Show the daemon's state."),
            CommandSpec(
                "send", summary: "Submit a document.",
                options: [.value("timeout", valueName: "SECONDS", help: "Give up after SECONDS.")],
                positionals: [
                    .required("recipient", help: "Agency code of the recipient."),
                    .required("file", help: "The signed document."),
                ]),
        ],
        examples: ["axisctl status", "axisctl journal check /var/lib/axis/journal"])

    let parser = ArgumentParser(CommandLineTests.spec)

    // MARK: - Helpers

    private func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ParsedCommand {
        switch try parser.parse(arguments) {
        case .run(let parsed):
            return parsed
        case .help(let path, _):
            XCTFail("expected a command, got help for \(path)", file: file, line: line)
            throw AxisError(.usage, "help")
        }
    }

    private func help(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (
        path: [String], text: String
    ) {
        switch try parser.parse(arguments) {
        case .run(let parsed):
            XCTFail("expected help, got command \(parsed.path)", file: file, line: line)
            throw AxisError(.usage, "run")
        case .help(let path, let text):
            return (path, text)
        }
    }

    private func assertUsageError(
        _ arguments: [String], _ expectedMessage: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try parser.parse(arguments), file: file, line: line) { error in
            guard let error = error as? AxisError else {
                return XCTFail("not an AxisError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.code, .usage, file: file, line: line)
            XCTAssertEqual(error.message, expectedMessage, file: file, line: line)
        }
    }

    // MARK: - Accepted command lines

    func testParsesNestedSubcommandWithFlagsValuesAndPositionals() throws {
        let parsed = try run(["journal", "dump", "--verbose", "--limit", "5", "7", "a", "b"])
        XCTAssertEqual(parsed.path, ["axisctl", "journal", "dump"])
        XCTAssertEqual(parsed.subcommandPath, ["journal", "dump"])
        XCTAssertEqual(parsed.commandName, "axisctl journal dump")
        XCTAssertTrue(parsed.flag("verbose"))
        XCTAssertFalse(parsed.flag("json"))
        XCTAssertEqual(parsed.value("limit"), "5")
        XCTAssertEqual(parsed.positional("from"), "7")
        XCTAssertEqual(parsed.positionals("kind"), ["a", "b"])
        XCTAssertEqual(parsed.arguments, ["7", "a", "b"])
        XCTAssertEqual(parsed.positional(0), "7")
        XCTAssertEqual(parsed.positional(2), "b")
        XCTAssertNil(parsed.positional(3))
    }

    func testParsesValueAttachedWithEqualsIncludingEmptyAndEqualsInValue() throws {
        XCTAssertEqual(try run(["--data=/srv/axis", "status"]).value("data"), "/srv/axis")
        XCTAssertEqual(try run(["--data=", "status"]).value("data"), "")
        XCTAssertEqual(try run(["--data=a=b", "status"]).value("data"), "a=b")
        XCTAssertEqual(try run(["--data=-weird", "status"]).value("data"), "-weird")
    }

    func testCollectsRepeatableValuesInGivenOrder() throws {
        let parsed = try run(["journal", "dump", "--trust", "b.pem", "--trust=a.pem", "--trust", "c.pem"])
        XCTAssertEqual(parsed.values("trust"), ["b.pem", "a.pem", "c.pem"])
        XCTAssertEqual(try run(["journal", "dump"]).values("trust"), [])
    }

    func testAcceptsInheritedOptionsBeforeAndAfterSubcommandNames() throws {
        for arguments in [
            ["--json", "-d", "/x", "journal", "check", "seg"],
            ["journal", "--json", "check", "--data", "/x", "seg"],
            ["journal", "check", "seg", "--data=/x", "--json"],
        ] {
            let parsed = try run(arguments)
            XCTAssertEqual(parsed.subcommandPath, ["journal", "check"], "\(arguments)")
            XCTAssertTrue(parsed.flag("json"), "\(arguments)")
            XCTAssertEqual(parsed.value("data"), "/x", "\(arguments)")
            XCTAssertEqual(parsed.positional("segment-dir"), "seg", "\(arguments)")
        }
    }

    func testAcceptsShortAliases() throws {
        let parsed = try run(["journal", "dump", "-v", "-n", "3", "-d", "/x"])
        XCTAssertTrue(parsed.flag("verbose"))
        XCTAssertEqual(parsed.value("limit"), "3")
        XCTAssertEqual(parsed.value("data"), "/x")
    }

    func testDoubleDashMakesLaterArgumentsPositional() throws {
        let parsed = try run(["journal", "dump", "--verbose", "--", "--json", "-h", "--", "-x"])
        XCTAssertTrue(parsed.flag("verbose"))
        XCTAssertFalse(parsed.flag("json"))
        XCTAssertEqual(parsed.positional("from"), "--json")
        XCTAssertEqual(parsed.positionals("kind"), ["-h", "--", "-x"])
    }

    func testSingleDashIsAPositionalAndAValue() throws {
        let parsed = try run(["send", "--timeout", "-", "AG1", "-"])
        XCTAssertEqual(parsed.value("timeout"), "-")
        XCTAssertEqual(parsed.positional("recipient"), "AG1")
        XCTAssertEqual(parsed.positional("file"), "-")
    }

    func testAbsentValuedOptionReturnsDeclaredDefaultButIsNotGiven() throws {
        let parsed = try run(["status"])
        XCTAssertEqual(parsed.value("data"), "/var/lib/axis")
        XCTAssertFalse(parsed.isGiven("data"))
        XCTAssertTrue(try run(["status", "--data", "/var/lib/axis"]).isGiven("data"))
        XCTAssertNil(try run(["send", "A", "f"]).value("timeout"))
    }

    func testOptionalAndVariadicPositionalsTakeZeroOneOrMany() throws {
        let none = try run(["journal", "dump"])
        XCTAssertNil(none.positional("from"))
        XCTAssertEqual(none.positionals("kind"), [])
        let one = try run(["journal", "dump", "9"])
        XCTAssertEqual(one.positional("from"), "9")
        XCTAssertEqual(one.positionals("kind"), [])
        let many = try run(["journal", "dump", "9", "x", "y", "z"])
        XCTAssertEqual(many.positionals("kind"), ["x", "y", "z"])
    }

    func testIntReadsGivenValueElseSpecDefaultElseCallerDefault() throws {
        XCTAssertEqual(try run(["journal", "dump", "--limit=-3"]).int("limit"), -3)
        XCTAssertEqual(try run(["journal", "dump", "--limit=+12"]).int("limit", default: 7), 12)
        XCTAssertEqual(try run(["journal", "dump"]).int("limit", default: 7), 100)
        XCTAssertEqual(try run(["send", "A", "f"]).int("timeout", default: 30), 30)
        XCTAssertNil(try run(["send", "A", "f"]).int("timeout"))
        XCTAssertEqual(try run(["journal", "dump", "-n", "10"]).int("limit", in: 1...10), 10)
    }

    // MARK: - Typed getter errors

    func testIntRejectsNonIntegerWithUsageError() throws {
        let parsed = try run(["journal", "dump", "--limit", "ten"])
        XCTAssertThrowsError(try parsed.int("limit", default: 1)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .usage)
            XCTAssertEqual(
                (error as? AxisError)?.message,
                "option '--limit' needs a whole number, got 'ten'; write '--limit 100'. Run 'axisctl journal dump --help'")
        }
        XCTAssertThrowsError(try run(["journal", "dump", "--limit", "1.5"]).int("limit"))
        XCTAssertThrowsError(try run(["journal", "dump", "--limit", " 1"]).int("limit"))
        XCTAssertThrowsError(try run(["journal", "dump", "--limit", "99999999999999999999"]).int("limit"))
    }

    func testIntRejectsValueOutsideRange() throws {
        XCTAssertThrowsError(try run(["journal", "dump", "--limit", "0"]).int("limit", in: 1...1000)) { error in
            XCTAssertEqual(
                (error as? AxisError)?.message,
                "option '--limit' must be between 1 and 1000, got 0. Run 'axisctl journal dump --help'")
        }
    }

    func testParsedCommandUsageErrorPointsAtItsHelp() throws {
        let error = try run(["send", "A", "f"]).usageError("give --timeout or nothing.")
        XCTAssertEqual(error.code, .usage)
        XCTAssertEqual(error.message, "give --timeout or nothing. Run 'axisctl send --help'")
    }

    // MARK: - Rejected command lines

    func testRejectsUnknownOptionWithSuggestion() {
        assertUsageError(
            ["journal", "dump", "--jsn"],
            "unknown option '--jsn' for 'axisctl journal dump'; did you mean '--json'? Run 'axisctl journal dump --help'")
        assertUsageError(
            ["journal", "dump", "--limt=3"],
            "unknown option '--limt' for 'axisctl journal dump'; did you mean '--limit'? Run 'axisctl journal dump --help'")
        assertUsageError(
            ["journal", "dump", "--turst", "x"],
            "unknown option '--turst' for 'axisctl journal dump'; did you mean '--trust'? Run 'axisctl journal dump --help'")
        assertUsageError(
            ["status", "--JSON"],
            "unknown option '--JSON' for 'axisctl status'; did you mean '--json'? Run 'axisctl status --help'")
        assertUsageError(
            ["status", "--hel"],
            "unknown option '--hel' for 'axisctl status'; did you mean '--help'? Run 'axisctl status --help'")
    }

    func testRejectsUnknownOptionWithoutSuggestionWhenNothingIsClose() {
        assertUsageError(["status", "--frobnicate"], "unknown option '--frobnicate' for 'axisctl status'. Run 'axisctl status --help'")
        assertUsageError(["status", "--=x"], "unknown option '--' for 'axisctl status'. Run 'axisctl status --help'")
    }

    func testRejectsUnknownShortOption() {
        assertUsageError(["status", "-x"], "unknown option '-x' for 'axisctl status'. Run 'axisctl status --help'")
    }

    func testRejectsSingleDashLongOptionSuggestingDoubleDash() {
        assertUsageError(
            ["status", "-json"], "unknown option '-json' for 'axisctl status'; did you mean '--json'? Run 'axisctl status --help'")
    }

    func testRejectsCombinedOrAttachedShortOptionsWithHint() {
        assertUsageError(
            ["journal", "dump", "-vn"],
            "unknown option '-vn' for 'axisctl journal dump'; short options cannot be combined or carry a value: "
                + "write '-v' on its own. Run 'axisctl journal dump --help'")
        assertUsageError(
            ["journal", "dump", "-n5"],
            "unknown option '-n5' for 'axisctl journal dump'; short options cannot be combined or carry a value: "
                + "write '-n N' or '--limit=N'. Run 'axisctl journal dump --help'")
    }

    func testRejectsOptionOfAnotherCommand() {
        // `--limit` belongs to `journal dump`: not to its sibling, and not before its name.
        assertUsageError(
            ["journal", "check", "--limit", "3", "seg"],
            "unknown option '--limit' for 'axisctl journal check'. Run 'axisctl journal check --help'")
        assertUsageError(
            ["--limit", "3", "journal", "dump"], "unknown option '--limit' for 'axisctl'. Run 'axisctl --help'")
    }

    func testRejectsMissingValueAtEnd() {
        assertUsageError(
            ["journal", "dump", "--limit"],
            "option '--limit' needs a value; write '--limit N' or '--limit=N'. Run 'axisctl journal dump --help'")
        assertUsageError(
            ["status", "-d"], "option '-d' needs a value; write '-d DIR' or '--data=DIR'. Run 'axisctl status --help'")
    }

    func testRejectsOptionLikeValueSuggestingEqualsForm() {
        assertUsageError(
            ["status", "--data", "--json"],
            "option '--data' needs a value but is followed by '--json'; write '--data DIR', or '--data=--json' "
                + "if the value begins with '-'. Run 'axisctl status --help'")
        assertUsageError(
            ["journal", "dump", "-n", "-5"],
            "option '-n' needs a value but is followed by '-5'; write '-n N', or '--limit=-5' "
                + "if the value begins with '-'. Run 'axisctl journal dump --help'")
        assertUsageError(
            ["status", "--data", "--", "x"],
            "option '--data' needs a value but is followed by '--'; write '--data DIR', or '--data=--' "
                + "if the value begins with '-'. Run 'axisctl status --help'")
    }

    func testRejectsFlagGivenAValue() {
        assertUsageError(
            ["status", "--json=x"],
            "option '--json' is a flag and takes no value; write '--json' without '=x'. Run 'axisctl status --help'")
        assertUsageError(
            ["status", "--json="],
            "option '--json' is a flag and takes no value; write '--json' without '='. Run 'axisctl status --help'")
    }

    func testRejectsSingleValueOptionGivenTwice() {
        assertUsageError(
            ["status", "--data", "/a", "-d", "/b"],
            "option '-d' is given more than once; give it once. Run 'axisctl status --help'")
    }

    func testRejectsFlagGivenTwice() {
        assertUsageError(
            ["status", "--json", "--json"], "option '--json' is given more than once; give it once. Run 'axisctl status --help'")
    }

    func testRejectsExtraPositional() {
        assertUsageError(
            ["journal", "check", "seg", "more"],
            "unexpected argument 'more' for 'axisctl journal check', which takes <segment-dir>. "
                + "Run 'axisctl journal check --help'")
        assertUsageError(
            ["send", "A", "f", "g"],
            "unexpected argument 'g' for 'axisctl send', which takes <recipient> <file>. Run 'axisctl send --help'")
    }

    func testRejectsPositionalForCommandWithoutArguments() {
        assertUsageError(
            ["status", "now"], "unexpected argument 'now': 'axisctl status' takes no arguments. Run 'axisctl status --help'")
    }

    func testRejectsMissingRequiredPositional() {
        assertUsageError(
            ["journal", "check"],
            "missing argument <segment-dir> for 'axisctl journal check'; usage: axisctl journal check [options] "
                + "<segment-dir>. Run 'axisctl journal check --help'")
        assertUsageError(
            ["send", "AG1"],
            "missing argument <file> for 'axisctl send'; usage: axisctl send [options] <recipient> <file>. "
                + "Run 'axisctl send --help'")
    }

    func testRejectsUnknownSubcommandWithSuggestion() {
        assertUsageError(
            ["journal", "chek"],
            "unknown command 'chek' for 'axisctl journal'; did you mean 'check'? Run 'axisctl journal --help'")
        assertUsageError(["stauts"], "unknown command 'stauts' for 'axisctl'; did you mean 'status'? Run 'axisctl --help'")
    }

    func testRejectsUnknownSubcommandListingTheCommands() {
        assertUsageError(
            ["deliver"],
            "unknown command 'deliver' for 'axisctl'; commands are: journal, status, send. Run 'axisctl --help'")
    }

    func testRejectsMissingSubcommand() {
        assertUsageError([], "'axisctl' needs a command: journal, status, send. Run 'axisctl --help'")
        assertUsageError(
            ["--json", "journal"], "'axisctl journal' needs a command: check, dump. Run 'axisctl journal --help'")
    }

    func testRejectsMoreThanArgumentsMaxButAcceptsExactlyTheLimit() throws {
        let kinds = (0..<(ArgumentParser.argumentsMax - 2)).map { "k\($0)" }
        XCTAssertEqual(try run(["journal", "dump"] + kinds).arguments.count, 998)
        assertUsageError(
            ["journal", "dump"] + kinds + ["one-too-many"],
            "too many arguments: 1001 given, at most 1000 accepted; split the work over several runs. "
                + "Run 'axisctl --help'")
    }

    func testRejectsArgumentLongerThanArgumentBytesMaxButAcceptsExactlyTheLimit() throws {
        let longest = String(repeating: "é", count: ArgumentParser.argumentBytesMax / 2)  // 2 bytes each
        XCTAssertEqual(try run(["journal", "check", longest]).positional("segment-dir"), longest)
        assertUsageError(
            ["journal", "check", longest + "x"],
            "argument 3 is 65537 bytes long, at most 65536 accepted; pass long content in a file. Run 'axisctl --help'")
    }

    func testErrorMessageEscapesControlCharactersAndCutsLongArguments() {
        assertUsageError(
            ["status", "a\u{1b}[2J\nb"],
            "unexpected argument 'a\\u{1b}[2J\\u{a}b': 'axisctl status' takes no arguments. Run 'axisctl status --help'")
        let long = String(repeating: "x", count: 100)
        assertUsageError(
            ["status", long],
            "unexpected argument '\(String(repeating: "x", count: 64))…': 'axisctl status' takes no arguments. "
                + "Run 'axisctl status --help'")
    }

    // MARK: - Help

    func testHelpOptionAnywhereReturnsHelpForDeepestCommandEvenWithOtherMistakes() throws {
        XCTAssertEqual(try help(["--help"]).path, ["axisctl"])
        XCTAssertEqual(try help(["journal", "-h"]).path, ["axisctl", "journal"])
        XCTAssertEqual(try help(["journal", "dump", "--bogus", "--json=x", "--help"]).path, ["axisctl", "journal", "dump"])
        XCTAssertEqual(try help(["--help", "journal", "check"]).path, ["axisctl", "journal", "check"])
        XCTAssertEqual(try help(["journal", "check", "seg", "extra", "-h"]).path, ["axisctl", "journal", "check"])
        // `journal` is the value of `--data`, not a subcommand.
        XCTAssertEqual(try help(["--data", "journal", "--help"]).path, ["axisctl"])
        XCTAssertEqual(try help(["journal", "dump", "-h"]).text, parser.helpText(for: ["journal", "dump"]))
    }

    func testHelpForUnknownSubcommandFallsBackToItsParent() throws {
        XCTAssertEqual(try help(["journal", "chek", "--help"]).path, ["axisctl", "journal"])
    }

    func testHelpAfterDoubleDashIsAPositional() throws {
        XCTAssertEqual(try run(["journal", "dump", "--", "--help"]).positional("from"), "--help")
        assertUsageError(
            ["status", "--", "-h"], "unexpected argument '-h': 'axisctl status' takes no arguments. Run 'axisctl status --help'")
    }

    func testHelpWithAttachedValueIsRejectedAsFlagValue() {
        assertUsageError(
            ["status", "--help=yes"],
            "option '--help' is a flag and takes no value; write '--help' without '=yes'. Run 'axisctl status --help'")
    }

    func testLeafHelpTextMatchesGolden() {
        let expected = """
            Usage: axisctl journal dump [options] [<from>] [<kind>...]

            Print journal records, oldest first.

            Arguments:
              <from>            First sequence number to show.
              <kind>...         Only show records of these kinds.

            Options:
              -n, --limit N     Stop after N records. (default: 100)
                  --trust FILE  Trust this certificate. (repeatable)
              -v, --verbose     Show payload digests.
              -h, --help        Show this help.

            Inherited options:
              -d, --data DIR    Data directory of axisd. (default: /var/lib/axis)
                  --json        Print JSON instead of tables.

            Examples:
              axisctl journal dump --limit 10
              axisctl --json journal dump 42 document.accepted

            """
        XCTAssertEqual(parser.helpText(for: ["journal", "dump"]), expected)
    }

    func testGroupHelpTextMatchesGolden() {
        let expected = """
            Usage: axisctl journal [options] <command>

            Read the journal without the daemon.

            Commands:
              check           Verify every frame and the hash chain.
              dump            Print journal records, oldest first.

            Options:
              -h, --help      Show this help.

            Inherited options:
              -d, --data DIR  Data directory of axisd. (default: /var/lib/axis)
                  --json      Print JSON instead of tables.

            Run 'axisctl journal <command> --help' for help on a command.

            """
        XCTAssertEqual(parser.helpText(for: ["journal"]), expected)
    }

    func testRootHelpTextMatchesGolden() {
        let expected = """
            Usage: axisctl [options] <command>

            Inspect and administer an Axis node.

            Commands:
              journal         Read the journal without the daemon.
              status          Show the daemon's state.
              send            Submit a document.

            Options:
              -d, --data DIR  Data directory of axisd. (default: /var/lib/axis)
                  --json      Print JSON instead of tables.
              -h, --help      Show this help.

            Examples:
              axisctl status
              axisctl journal check /var/lib/axis/journal

            Run 'axisctl <command> --help' for help on a command.

            """
        XCTAssertEqual(parser.helpText(for: []), expected)
    }

    func testHelpTextHasNoTrailingSpacesAndEndsWithOneNewline() {
        for path in [[], ["journal"], ["journal", "check"], ["journal", "dump"], ["status"], ["send"]] {
            let text = parser.helpText(for: path)
            XCTAssertTrue(text.hasSuffix("\n") && !text.hasSuffix("\n\n"), "\(path)")
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                XCTAssertFalse(line.hasSuffix(" "), "trailing space in help for \(path): '\(line)'")
            }
        }
    }

    // MARK: - Suggestions

    func testEditDistanceCountsAdjacentTranspositionAsOneStep() {
        XCTAssertEqual(ArgumentParser.editDistance("json", "json"), 0)
        XCTAssertEqual(ArgumentParser.editDistance("jsno", "json"), 1)
        XCTAssertEqual(ArgumentParser.editDistance("jsn", "json"), 1)
        XCTAssertEqual(ArgumentParser.editDistance("", "abc"), 3)
        XCTAssertEqual(ArgumentParser.editDistance("kitten", "sitting"), 3)
    }

    func testSuggestionPrefersCloseNamesAndRefusesDistantOnes() {
        let names = ["limit", "trust", "verbose", "data", "json", "help"]
        XCTAssertEqual(ArgumentParser.suggestion(for: "verbos", among: names), "verbose")
        XCTAssertEqual(ArgumentParser.suggestion(for: "verb", among: names), "verbose")  // unique prefix
        XCTAssertNil(ArgumentParser.suggestion(for: "x", among: names))
        XCTAssertNil(ArgumentParser.suggestion(for: "dtaa2", among: names))
    }
}
