import Axis

/// `axis-bench journal-codec`: single-thread CPU cost of the per-record work the journal writer
/// and recovery do — CRC32C, SHA-256, frame encode, frame decode + chain check, body copy — so a
/// profile's percentages can be turned into microseconds per record.
enum JournalCodecBenchmark {
    static let spec = CommandSpec(
        "journal-codec",
        summary: "Single-thread cost per record of CRC32C, SHA-256, FrameCodec.encode, decode + chain check.",
        options: [
            .value("record-bytes", valueName: "N", default: "4096", help: "Record body size."),
            .value("seconds", valueName: "S", default: "1", help: "Time per measurement."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench journal-codec"])

    struct Measurement: Codable {
        var name: String
        var microsPerRecord: Double
        var mbPerSecond: Double
    }

    struct Report: Codable {
        var benchmark = "journal-codec"
        var recordBytes: Int
        var machine: JournalBenchmark.Machine
        var measurements: [Measurement]
    }

    static func run(recordBytes: Int, seconds: Double) -> Report {
        let body = BenchRecordBody.make(epoch: 0, appender: 0, counter: 0, bytes: recordBytes)
        let hasher = SHA256Hasher()
        var sink: UInt64 = 0
        var results: [Measurement] = []

        func measure(_ name: String, bytes: Int, _ work: () -> Void) {
            let budget = UInt64(seconds * 1e9)
            var n = 0
            let t0 = SystemClock.monotonicNanos()
            var t1 = t0
            repeat {
                for _ in 0..<64 { work() }
                n += 64
                t1 = SystemClock.monotonicNanos()
            } while t1 - t0 < budget
            let perRecord = Double(t1 - t0) / Double(n)
            results.append(Measurement(name: name, microsPerRecord: perRecord / 1000,
                                       mbPerSecond: Double(bytes) / perRecord * 1000))
        }

        body.withUnsafeBytes { raw in
            measure(CRC32C.usesHardware ? "CRC32C.update (CPU instruction)" : "CRC32C.update (no CPU support: table)",
                    bytes: recordBytes) {
                sink &+= UInt64(CRC32C.update(UInt32(truncatingIfNeeded: sink), raw))
            }
            measure("CRC32C.updateSoftware (table, slicing-by-8)", bytes: recordBytes) {
                sink &+= UInt64(CRC32C.updateSoftware(UInt32(truncatingIfNeeded: sink), raw))
            }
            measure("SHA256Hasher update + finish (OpenSSL)", bytes: recordBytes) {
                hasher.update(raw)
                sink &+= hasher.finish().w0
            }
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(JournalFormat.frameHeaderSize + recordBytes)
        var chain = Digest256.zero
        body.withUnsafeBytes { raw in
            let digest = SHA256Hasher.digest(raw)
            measure("FrameCodec.encode, writer's part (chain + CRC32C + copy)", bytes: recordBytes) {
                buffer.removeAll(keepingCapacity: true)
                chain = FrameCodec.encode(kind: RecordKind.opaque.rawValue, batchIndex: 0, sequence: sink, body: raw,
                                          bodyDigest: digest, previousChain: chain, hasher: hasher, into: &buffer)
            }
        }
        let (frame, _) = FrameCodec.encode(kind: RecordKind.opaque.rawValue, sequence: 1, body: body, previousChain: .zero)
        frame.withUnsafeBytes { raw in
            measure("FrameCodec.decode (CRC32C check)", bytes: recordBytes) {
                if case .frame(let f) = FrameCodec.decode(raw) { sink &+= f.sequence }
            }
            measure("FrameCodec.decode + chainMatches (CRC32C + SHA-256)", bytes: recordBytes) {
                if case .frame(let f) = FrameCodec.decode(raw),
                   FrameCodec.chainMatches(f, in: raw, previousChain: .zero, hasher: hasher) { sink &+= 1 }
            }
            measure("Array(body) copy, as JournalEntry.body does", bytes: recordBytes) {
                let copy = Array(raw[JournalFormat.frameHeaderSize...])
                sink &+= UInt64(copy.count)
            }
        }
        if sink == 42 { printErr("") }  // keeps the optimizer from dropping the work
        return Report(recordBytes: recordBytes, machine: JournalBenchmark.machine(directory: "/tmp"), measurements: results)
    }

    static func render(_ report: Report) -> String {
        var t = TextTable(["operation (one \(report.recordBytes)-byte record, one thread)", "µs/record", "MB/s"])
        for m in report.measurements { t.add([m.name, fixed(m.microsPerRecord, 3), fixed(m.mbPerSecond, 0)]) }
        return "axis-bench journal-codec — \(report.machine.date)\n" + t.render()
    }
}
