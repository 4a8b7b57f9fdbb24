@preconcurrency import Glibc
import Axis
import Foundation

/// axis-bench — measures Axis components on the machine it runs on, and hosts the crash-test child.
///
///     axis-bench journal […]          durable append throughput/latency and replay speed
///     axis-bench journal-replay […]   recovery time of an existing journal
///     axis-bench journal-codec […]    per-record CPU cost of CRC32C, SHA-256, frame encode/decode
///     axis-bench journal-child […]    appends forever and prints ACK lines (for JournalProcessCrashTests)
///
/// Exit codes: 0 ok, 1 failed, 64 usage.

let usage = """
    usage: axis-bench <command> [options]

    \(JournalBenchmark.usage)

    \(JournalReplayCommand.usage)

    \(JournalCodecBenchmark.usage)

    \(JournalCrashChild.usage)

    """

let words = Array(CommandLine.arguments.dropFirst())

func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

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
        print(json ? try jsonText(report) : JournalBenchmark.render(report))
    } catch {
        printErr("axis-bench journal: \(error)")
        exit(1)
    }
case "journal-replay":
    let directory: String
    let json: Bool
    let cold: Bool
    do {
        let args = try Arguments(Array(words.dropFirst()), valueOptions: JournalReplayCommand.valueOptions,
                                 flagOptions: JournalReplayCommand.flagOptions)
        directory = try args.requiredString("dir")
        json = args.flag("json")
        cold = args.flag("cold")
    } catch {
        usageFailure(error.message)
    }
    do {
        let report = try JournalReplayCommand.run(directory: directory, cold: cold)
        print(json ? try jsonText(report) : JournalReplayCommand.render(report))
    } catch {
        printErr("axis-bench journal-replay: \(error)")
        exit(1)
    }
case "journal-codec":
    let recordBytes: Int
    let seconds: Double
    let json: Bool
    do {
        let args = try Arguments(Array(words.dropFirst()), valueOptions: JournalCodecBenchmark.valueOptions,
                                 flagOptions: JournalCodecBenchmark.flagOptions)
        recordBytes = try args.int("record-bytes", default: 4096, in: BenchRecordBody.headerBytes...JournalFormat.bodyBytesLimit)
        seconds = try args.double("seconds", default: 1, in: 0.01...600)
        json = args.flag("json")
    } catch {
        usageFailure(error.message)
    }
    let report = JournalCodecBenchmark.run(recordBytes: recordBytes, seconds: seconds)
    do {
        print(json ? try jsonText(report) : JournalCodecBenchmark.render(report))
    } catch {
        printErr("axis-bench journal-codec: \(error)")
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
