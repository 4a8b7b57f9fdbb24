@preconcurrency import Glibc
import Axis
import Foundation

/// axis-bench — measures Axis components on the machine it runs on, and hosts the crash-test child.
///
///     axis-bench journal […]          durable append throughput/latency and replay speed
///     axis-bench journal-replay […]   recovery time of an existing journal
///     axis-bench journal-codec […]    per-record CPU cost of CRC32C, SHA-256, frame encode/decode
///     axis-bench journal-child […]    appends forever and prints ACK lines (for JournalProcessCrashTests)
///     axis-bench verify […]           signature verifications/s next to `openssl speed`
///     axis-bench submit […]           signed documents/s accepted by axisd over TLS (and end to end)
///     axis-bench queue-fold […]       replay time and heap bytes per queued document of the queue state
///
/// Exit codes: 0 ok, 1 failed, 64 usage.

let spec = CommandSpec(
    "axis-bench",
    summary: "Measures Axis components on this machine, and hosts the crash-test child.",
    subcommands: [JournalBenchmark.spec, JournalReplayCommand.spec, JournalCodecBenchmark.spec, JournalCrashChild.spec, VerifyBenchmark.spec,
                  SubmitBenchmark.spec, CrashLoop.spec, QueueFoldBenchmark.spec],
    examples: ["axis-bench journal", "axis-bench journal --help"])

let words = Array(CommandLine.arguments.dropFirst())

func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Runs `body`, reporting a usage error with exit 64 and any other error with exit 1.
func run(_ name: String, _ body: () throws -> Void) -> Never {
    do {
        try body()
        exit(0)
    } catch let error as AxisError where error.code == .usage {
        printErr("axis-bench: \(error.message)")
        exit(64)
    } catch {
        printErr("axis-bench \(name): \(error)")
        exit(1)
    }
}

let command: ParsedCommand
do {
    switch try ArgumentParser(spec).parse(words) {
    case .help(_, let text):
        print(text, terminator: "")
        exit(0)
    case .run(let parsed):
        command = parsed
    }
} catch {
    printErr("axis-bench: \(error)")
    exit(64)
}

switch command.subcommandPath.first {
case "journal":
    run("journal") {
        let config = try JournalBenchmark.config(from: command)
        let bench = JournalBenchmark(config: config, command: "axis-bench " + words.joined(separator: " "))
        let report = try bench.run(progress: { printErr("… " + $0) })
        print(command.flag("json") ? try jsonText(report) : JournalBenchmark.render(report))
    }
case "journal-replay":
    run("journal-replay") {
        let report = try JournalReplayCommand.run(directory: try command.required("dir"), cold: command.flag("cold"))
        print(command.flag("json") ? try jsonText(report) : JournalReplayCommand.render(report))
    }
case "journal-codec":
    run("journal-codec") {
        let report = JournalCodecBenchmark.run(
            recordBytes: try command.requiredInt("record-bytes", in: BenchRecordBody.headerBytes...JournalFormat.bodyBytesLimit),
            seconds: try command.double("seconds", in: 0.01...600))
        print(command.flag("json") ? try jsonText(report) : JournalCodecBenchmark.render(report))
    }
case "journal-child":
    run("journal-child") { JournalCrashChild.run(try JournalCrashChild.config(from: command)) }
case "verify":
    run("verify") {
        let report = try VerifyBenchmark.run(try VerifyBenchmark.config(from: command),
                                             command: "axis-bench " + words.joined(separator: " "), progress: { printErr("… " + $0) })
        print(command.flag("json") ? try jsonText(report) : VerifyBenchmark.render(report))
    }
case "submit":
    run("submit") {
        let report = try SubmitBenchmark.run(command, words: words, progress: { printErr("… " + $0) })
        print(command.flag("json") ? try jsonText(report) : SubmitBenchmark.render(report))
        try SubmitBenchmark.verdict(report)
    }
case "queue-fold":
    run("queue-fold") {
        let report = try QueueFoldBenchmark.run(documents: try command.requiredInt("documents", in: 1...10_000_000),
                                                recipients: try command.requiredInt("recipients", in: 1...100))
        print(command.flag("json") ? try jsonText(report) : QueueFoldBenchmark.render(report))
    }
case "crash-loop":
    run("crash-loop") {
        let report = try CrashLoop.run(command, words: words, progress: { printErr("… " + $0) })
        print(command.flag("json") ? try jsonText(report) : CrashLoop.render(report))
        try CrashLoop.verdict(report)
    }
default:
    // The parser only returns a bare root when it has no subcommand to run; it reports that itself.
    printErr(ArgumentParser(spec).helpText(for: command.path))
    exit(64)
}
