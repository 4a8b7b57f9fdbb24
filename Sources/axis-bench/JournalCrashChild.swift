@preconcurrency import Glibc
import Axis
import Foundation

/// `axis-bench journal-child`: the process that `JournalProcessCrashTests` kills with SIGKILL.
///
/// Opens (and so recovers) the journal at `--dir`, then runs `--appenders` threads that append
/// forever. Each record's body is `BenchRecordBody.make(epoch:appender:counter:bytes:)`. After an
/// append returns successfully — the record is durable — the appender writes exactly one line
///
///     ACK <sequence> <appender> <counter>\n
///
/// to standard output with one write(2) call: no buffering, and a line is shorter than PIPE_BUF, so
/// lines from different threads never interleave and every line the parent reads was acknowledged.
/// SIGTERM (or SIGINT) exits with status 0; an append failure exits with status 1 after a message
/// on standard error.
enum JournalCrashChild {
    struct Config: Sendable {
        var directory: String
        var appenders: Int
        var recordBytes: Int
        var epoch: UInt32
        /// Small segments make the child roll often, so kills also land during a roll.
        var segmentBytes: Int
    }

    static let spec = CommandSpec(
        "journal-child",
        summary: "Crash-test child: appends forever from N threads, printing `ACK <sequence> <appender> <counter>` per durable append; exits 0 on SIGTERM.",
        options: [
            .value("dir", valueName: "DIR", help: "Journal directory (required)."),
            .value("appenders", valueName: "N", help: "Appender threads (required)."),
            .value("record-bytes", valueName: "N", default: "512", help: "Record body size."),
            .value("epoch", valueName: "N", default: "0", help: "Written into every body, so rounds can be told apart."),
            .value("segment-bytes", valueName: "N", default: String(JournalOptions().segmentBytesMax), help: "Segment size."),
        ],
        examples: ["axis-bench journal-child --dir /tmp/j --appenders 16"])

    static func config(from args: ParsedCommand) throws -> Config {
        Config(directory: try args.required("dir"),
               appenders: try args.requiredInt("appenders", in: 1...1024),
               recordBytes: try args.requiredInt("record-bytes", in: BenchRecordBody.headerBytes...JournalOptions().recordBytesMax),
               epoch: UInt32(try args.requiredInt("epoch", in: 0...Int(UInt32.max))),
               segmentBytes: try args.requiredInt("segment-bytes", in: 1 << 16...Int(SegmentScanner.segmentBytesLimit)))
    }

    static func run(_ config: Config) -> Never {
        // Block the stop signals before any thread exists (threads inherit the mask), so that the
        // main thread receives them in `sigwait` and no early signal is lost.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        // A closed pipe becomes EPIPE from write(2), reported below, instead of a silent death.
        signal(SIGPIPE, SIG_IGN)

        let journal: Journal
        do {
            var options = JournalOptions()
            options.segmentBytesMax = config.segmentBytes
            let (opened, report) = try Journal.open(directory: config.directory, options: options)
            journal = opened
            printErr("journal-child: recovered \(report.summary)")
        } catch {
            printErr("journal-child: cannot open the journal: \(error)")
            exit(1)
        }

        for appender in 0..<config.appenders {
            let thread = Thread { appendForever(journal: journal, appender: UInt32(appender), config: config) }
            thread.name = "child-appender-\(appender)"
            thread.start()
        }

        var received: Int32 = 0
        while sigwait(&stopSignals, &received) != 0 {}
        // Every acknowledged record is already durable; nothing needs flushing.
        _exit(0)
    }

    private static func appendForever(journal: Journal, appender: UInt32, config: Config) {
        var counter: UInt64 = 0
        while true {
            let body = BenchRecordBody.make(epoch: config.epoch, appender: appender, counter: counter, bytes: config.recordBytes)
            let receipt: AppendReceipt
            do {
                receipt = try journal.appendAndWait(.opaque, body)
            } catch {
                printErr("journal-child: appender \(appender) append failed: \(error)")
                _exit(1)
            }
            var line = "ACK \(receipt.sequence) \(appender) \(counter)\n"
            let written = line.withUTF8 { write(1, $0.baseAddress, $0.count) }
            if written != line.utf8.count {
                printErr("journal-child: writing the ACK to stdout failed (\(written) bytes, errno \(errno)): is the parent gone?")
                _exit(1)
            }
            counter += 1
        }
    }
}
