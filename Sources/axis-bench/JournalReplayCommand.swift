import Axis

/// `axis-bench journal-replay --dir DIR`: times recovery of an existing journal (for example one
/// kept with `axis-bench journal --keep`, or a copy of a production data directory). Takes the
/// journal's lock like axisd does, so it refuses to run beside a live daemon. Changes nothing but a
/// torn tail, which recovery cuts as it would at start-up.
enum JournalReplayCommand {
    static let spec = CommandSpec(
        "journal-replay",
        summary: "Times Journal.open with a replay closure and JournalScanner.scan on an existing journal.",
        options: [
            .value("dir", valueName: "DIR", help: "Journal directory (required)."),
            .flag("cold", help: "First drop the segments from the page cache (posix_fadvise DONTNEED)."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench journal --keep", "axis-bench journal-replay --dir /tmp/axis-bench-journal-… --cold"])

    struct Report: Codable {
        var benchmark = "journal-replay"
        var directory: String
        var machine: JournalBenchmark.Machine
        var measurements: [JournalBenchmark.ReplayMeasurement]
    }

    static func run(directory: String, cold: Bool) throws -> Report {
        var measurements: [JournalBenchmark.ReplayMeasurement] = []
        if cold { try JournalBenchmark.evictFromPageCache(directory: directory) }
        let (open, _) = try JournalBenchmark.timedOpen(directory: directory,
                                                        name: "Journal.open + replay (\(cold ? "cold" : "warm") cache)",
                                                        expecting: nil)
        measurements.append(open)
        measurements.append(try JournalBenchmark.timedScan(directory: directory, name: "JournalScanner.scan, no callback (warm)",
                                                           callback: false, expecting: nil))
        measurements.append(try JournalBenchmark.timedScan(directory: directory, name: "JournalScanner.scan + callback (warm)",
                                                           callback: true, expecting: nil))
        return Report(directory: directory, machine: JournalBenchmark.machine(directory: directory), measurements: measurements)
    }

    static func render(_ report: Report) -> String {
        var t = TextTable(["measurement", "seconds", "records", "records/s", "MB/s scanned", "cpu s", "other load"])
        for x in report.measurements {
            t.add([x.name, fixed(x.seconds, 3), grouped(x.records), grouped(Int(x.recordsPerSecond.rounded())),
                   fixed(x.mbPerSecond, 0), fixed(x.cpuSeconds, 2), fixed(x.otherCoresBusy, 2)])
        }
        return "axis-bench journal-replay — \(report.machine.date), \(report.directory)\n" + t.render()
    }
}
