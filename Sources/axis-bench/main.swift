@preconcurrency import Glibc
import Axis
import Foundation

/// axis-bench — measures Axis components on the machine it runs on, and hosts the crash-test child.
///
///     axis-bench journal […]          durable append throughput/latency and replay speed
///     axis-bench journal-child […]    appends forever and prints ACK lines (for JournalProcessCrashTests)
///
/// Exit codes: 0 ok, 1 failed, 64 usage.

let usage = """
    usage: axis-bench <command> [options]

    \(JournalBenchmark.usage)

    \(JournalCrashChild.usage)

    """

let words = Array(CommandLine.arguments.dropFirst())

func usageFailure(_ message: String) -> Never {
    printErr("axis-bench: \(message)\n\n\(usage)")
    exit(64)
}

switch words.first {
case "journal":
    let config: JournalBenchmark.Config
    let json: Bool
    do {
        let args = try Arguments(Array(words.dropFirst()), valueOptions: JournalBenchmark.valueOptions,
                                 flagOptions: JournalBenchmark.flagOptions)
        config = try JournalBenchmark.config(from: args)
        json = args.flag("json")
    } catch {
        usageFailure(error.message)
    }
    let bench = JournalBenchmark(config: config, command: "axis-bench " + words.joined(separator: " "))
    do {
        let report = try bench.run(progress: { printErr("… " + $0) })
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(report)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(JournalBenchmark.render(report))
        }
    } catch {
        printErr("axis-bench journal: \(error)")
        exit(1)
    }
case "journal-child":
    do {
        let args = try Arguments(Array(words.dropFirst()), valueOptions: JournalCrashChild.valueOptions,
                                 flagOptions: JournalCrashChild.flagOptions)
        JournalCrashChild.run(try JournalCrashChild.config(from: args))
    } catch {
        usageFailure(error.message)
    }
case "help", "-h", "--help":
    print(usage)
case nil:
    usageFailure("no command given")
case let other?:
    usageFailure("unknown command '\(other)'")
}
