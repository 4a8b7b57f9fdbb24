@preconcurrency import Glibc
import Axis
import Foundation

/// `axis-bench queue-fold`: what restart and memory cost per queued document, in-process, without
/// the journal's I/O: the records an acceptance writes (DocumentAccepted, then ReceiptIssued) for N
/// documents are encoded up front, then decoded and folded into a fresh `QueueState` as replay does.
/// Prints the fold's time per document and the resident memory the state adds per document (what
/// "≤ 300 bytes of RAM per queued document" is about). `axisd`'s own restart time and RSS on a real
/// journal are measured from outside (docs/PERFORMANCE.md, "Restart and memory with 1M documents").
enum QueueFoldBenchmark {
    static let spec = CommandSpec(
        "queue-fold",
        summary: "Replay cost and resident bytes per queued document of the queue state, in-process (no journal I/O).",
        options: [
            .value("documents", valueName: "N", default: "1000000", help: "Documents to fold (1…10,000,000)."),
            .value("recipients", valueName: "N", default: "1", help: "Recipients per document (1…100)."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench queue-fold", "axis-bench queue-fold --documents 200000 --recipients 3 --json"])

    struct Report: Codable {
        var benchmark = "queue-fold"
        var date: String
        var documents: Int
        var recipientsPerDocument: Int
        var records: Int
        var encodedBytesPerDocument: Double
        var foldSeconds: Double
        /// CPU time of the folding thread: steadier than wall time when other work shares the cores.
        var foldCPUSeconds: Double
        var microsecondsPerDocument: Double
        var rssBytesPerDocument: Double
        var strides: [String: Int]
    }

    static func run(documents: Int, recipients: Int) throws -> Report {
        let sender = try AgencyCode("000.00.00.G22")
        let to = try (0..<recipients).map { try AgencyCode(String(format: "000.00.%02d.H29", $0)) }
        // As the demo's G22 signs: a non-ASCII (Vietnamese) subject, like real agencies' certificates.
        let signer = "C=VN, O=Axis DEVELOPMENT PKI - NOT FOR PRODUCTION, OU=000.00.00.G22, CN=Văn phòng Chính phủ (demo)"
        let system = try SystemID("demo-g22")
        var rng = SplitMix64(seed: 0x5EED)
        let start = Timestamp(millis: 1_795_000_000_000)

        // Encoded as axisd writes them: one acceptance and its receipt per document.
        var entries: [JournalEntry] = []
        entries.reserveCapacity(documents * 2)
        var encodedBytes = 0
        for n in 0..<documents {
            let at = Timestamp(millis: start.millis + Int64(n / 2))
            let id = DocumentID.generate(at: at, using: &rng)
            let payload = PayloadRef(sha256: randomDigest(&rng), length: 4096, segment: 1, offset: UInt64(n) * 6000)
            let signature = PayloadRef(sha256: randomDigest(&rng), length: 1600, segment: 1, offset: UInt64(n) * 6000 + 4200)
            let accepted = JournalRecord.documentAccepted(DocumentAccepted(
                id: id, sender: sender, recipients: to, senderDocumentID: "bench-5f1c2a-\(n % 64)-\(n)",
                payload: payload, signature: signature, signerFingerprint: randomDigest(&rng), signerSubject: signer,
                ingress: .native, submittedBy: system, acceptedAt: at))
            let receipt = JournalRecord.receiptIssued(ReceiptIssued(
                document: id, at: at, receipt: PayloadRef(sha256: randomDigest(&rng), length: 2400, segment: 1, offset: 0)))
            for record in [accepted, receipt] {
                let body = record.encoded()
                encodedBytes += body.count
                entries.append(JournalEntry(sequence: UInt64(entries.count + 1), kind: record.kind, body: body,
                                            chain: .zero, segment: 1, offset: 0))
            }
        }
        let records = entries.count

        // The measured part: a fresh state, every record decoded and folded in order. The RSS it
        // adds is read before the encoded records are freed (freeing them would hide state memory
        // in the pages they leave behind).
        let rssBefore = residentBytes()
        var state = QueueState()
        let clock = ContinuousClock.now, cpuBefore = threadCPUSeconds()
        for entry in entries { try state.apply(entry) }
        let elapsed = ContinuousClock.now - clock, cpu = threadCPUSeconds() - cpuBefore
        let rssAfter = residentBytes()
        entries = []
        guard state.documents.count == documents, state.anomalies == 0,
              state.ready(for: to[0], at: start, limit: 1).count == 1 else {
            throw AxisError(.malformed, "the fold did not produce \(documents) queued documents (anomalies \(state.anomalies))")
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        withExtendedLifetime(state) {}
        return Report(
            date: Date().formatted(.iso8601), documents: documents, recipientsPerDocument: recipients, records: records,
            encodedBytesPerDocument: Double(encodedBytes) / Double(documents), foldSeconds: seconds,
            foldCPUSeconds: cpu, microsecondsPerDocument: seconds * 1e6 / Double(documents),
            rssBytesPerDocument: Double(rssAfter - rssBefore) / Double(documents),
            strides: ["QueueState.Document": MemoryLayout<QueueState.Document>.stride,
                      "QueueState.Delivery": MemoryLayout<QueueState.Delivery>.stride,
                      "DocumentAccepted": MemoryLayout<DocumentAccepted>.stride,
                      "QueueState.TraceEvent": MemoryLayout<QueueState.TraceEvent>.stride])
    }

    static func render(_ r: Report) -> String {
        var t = TextTable(["documents", "recipients", "records", "encoded B/doc", "fold s", "fold CPU s", "µs/doc", "RSS B/doc"])
        t.add([grouped(r.documents), "\(r.recipientsPerDocument)", grouped(r.records), fixed(r.encodedBytesPerDocument, 0),
               fixed(r.foldSeconds, 3), fixed(r.foldCPUSeconds, 3), fixed(r.microsecondsPerDocument, 2),
               fixed(r.rssBytesPerDocument, 0)])
        let strides = r.strides.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "axis-bench queue-fold — \(r.date)\n" + t.render() + "\nstrides (bytes): \(strides)\n"
    }

    private static func randomDigest(_ rng: inout SplitMix64) -> Digest256 {
        Digest256(w0: rng.next(), w1: rng.next(), w2: rng.next(), w3: rng.next())
    }

    private static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Resident bytes of this process (/proc/self/statm), 0 when unreadable.
    private static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

