@preconcurrency import Glibc
import Axis

/// What `axis-bench submit` measures on disk: how many bytes the payload store and the journal of
/// the axisd under test grew by, and what they hold, read from the data directory's files (never
/// assumed from the code). Two snapshots, before the first request and after the last answer:
///
/// - payloads (`<data>/payloads/*.axp`, format in `PayloadStore`): every file's size, and every
///   stored payload's length and SHA-256 from its 56-byte header, so each payload is classified as one
///   of the run's document bodies, one of its signatures, or anything else (axis receipts, the
///   demo's own document). Counting bodies per accepted document is what shows whether a document
///   sent to many recipients is stored once.
/// - journal (`<data>/journal`, read-only with `JournalScanner`, as `axisctl journal check` does): the
///   bytes holding records (segment files are preallocated, so their size says nothing) and each
///   record written after the first snapshot, by kind.
///
/// A payload file being written may end in a partial payload; the walk stops there. The journal scan
/// tolerates the same at its tail. The second snapshot is taken once the journal shows a
/// `receipt-issued` record for every `document-accepted` one (axisd journals the receipt just after
/// answering), so nothing of the run is still on its way to disk.
struct DiskSnapshot {
    enum PayloadClass: String, CaseIterable, Codable { case body, signature, other }

    struct Tally: Codable { var count = 0; var bytes: UInt64 = 0 }

    var payloadFileBytes: UInt64 = 0
    var payloads: [PayloadClass: Tally] = [:]
    var journalRecordBytes: UInt64 = 0
    var journalLastSequence: UInt64 = 0
    /// Records after `since` (the first snapshot's last sequence), by kind: count and frame bytes.
    var journalRecordsSince: [String: Tally] = [:]

    /// `<data>/payloads` and `<data>/journal`, or why they cannot be read from here.
    static func locate(_ data: String?) -> Result<String, AxisError> {
        guard let data else {
            return .failure(AxisError(.usage, "demo.json names no data directory"))
        }
        for sub in ["payloads", "journal"] {
            let path = PathJoin.join(data, sub)
            guard access(path, R_OK | X_OK) == 0 else {
                return .failure(AxisError(.usage, "\(path) is not readable by this user (\(String(cString: strerror(errno))))"))
            }
        }
        return .success(data)
    }

    /// Reads both stores. `bodies` and `signatures` are the SHA-256s of the run's documents and
    /// signatures; `since` is the sequence after which journal records are tallied by kind.
    static func take(data: String, bodies: Set<Digest256>, signatures: Set<Digest256>, since: UInt64?) throws -> DiskSnapshot {
        var snapshot = DiskSnapshot()
        for c in PayloadClass.allCases { snapshot.payloads[c] = Tally() }
        let storage = PosixStorage()

        // The journal first: axisd stores a payload before it journals the record referring to it,
        // so every payload the journal scan saw is on disk when the payload walk starts.
        var tallies: [String: Tally] = [:]
        let after = since ?? .max
        let report = try JournalScanner.scan(directory: PathJoin.join(data, "journal"), storage: storage, onRecord: { entry in
            guard entry.sequence > after else { return }
            tallies[entry.kind.description, default: Tally()].count += 1
            tallies[entry.kind.description, default: Tally()].bytes += UInt64(JournalFormat.frameHeaderSize + entry.body.count)
        })
        if let problem = report.damage.first {
            throw AxisError(.journalCorrupt, "the journal under test reads as damaged (\(problem)): the disk figures would be wrong")
        }
        snapshot.journalRecordBytes = report.segments.reduce(0) { $0 + $1.validEnd }
        snapshot.journalLastSequence = report.lastSequence ?? 0
        snapshot.journalRecordsSince = tallies

        let payloadDirectory = PathJoin.join(data, "payloads")
        for name in try storage.listDirectory(payloadDirectory).sorted() where name.hasSuffix(".axp") {
            let path = PathJoin.join(payloadDirectory, name)
            let file = try storage.open(path, mode: .readOnly)
            snapshot.payloadFileBytes += try file.size()
            file.close()
            for payload in try PayloadStore.payloads(inSegment: path, storage: storage) {
                let kind: PayloadClass = bodies.contains(payload.sha256) ? .body : signatures.contains(payload.sha256) ? .signature : .other
                snapshot.payloads[kind, default: Tally()].count += 1
                snapshot.payloads[kind, default: Tally()].bytes += payload.storedBytes
            }
        }
        return snapshot
    }
}

/// The disk growth of a run, per document the journal shows accepted.
struct DiskReport: Codable {
    var dataDirectory: String
    /// `document-accepted` records written during the run (warm-up and drain included).
    var documents: Int
    /// Documents the generator saw answered 201 (the same run); differs from `documents` only when
    /// someone else submits to the same axisd.
    var documentsAnsweredAccepted: Int
    var recipientsPerDocument: Int
    var documentBytes: Int
    var payloadBytes: UInt64
    var payloadBytesPerDocument: Double
    /// Per class (body, signature, other): payloads stored per document and their bytes (56-byte
    /// header included) per document.
    var payloadsPerDocument: [String: Double]
    var payloadBytesPerDocumentByClass: [String: Double]
    /// True when each accepted document's body was stored exactly once, whatever the fan-out.
    var bodyStoredOnce: Bool
    var journalBytes: UInt64
    var journalBytesPerDocument: Double
    var journalRecordsPerDocument: [String: Double]
    var journalBytesPerDocumentByKind: [String: Double]

    init(data: String, before: DiskSnapshot, after: DiskSnapshot, answered: Int, recipients: Int, documentBytes: Int) {
        dataDirectory = data
        documents = after.journalRecordsSince["document-accepted"]?.count ?? 0
        documentsAnsweredAccepted = answered
        recipientsPerDocument = recipients
        self.documentBytes = documentBytes
        let n = Double(max(documents, 1))
        payloadBytes = after.payloadFileBytes &- before.payloadFileBytes
        payloadBytesPerDocument = Double(payloadBytes) / n
        var counts: [String: Double] = [:], bytes: [String: Double] = [:]
        for c in DiskSnapshot.PayloadClass.allCases {
            let a = after.payloads[c] ?? .init(), b = before.payloads[c] ?? .init()
            counts[c.rawValue] = Double(a.count - b.count) / n
            bytes[c.rawValue] = Double(a.bytes &- b.bytes) / n
        }
        payloadsPerDocument = counts
        payloadBytesPerDocumentByClass = bytes
        let bodies = (after.payloads[.body]?.count ?? 0) - (before.payloads[.body]?.count ?? 0)
        bodyStoredOnce = documents > 0 && bodies == documents
        journalBytes = after.journalRecordBytes &- before.journalRecordBytes
        journalBytesPerDocument = Double(journalBytes) / n
        journalRecordsPerDocument = after.journalRecordsSince.mapValues { Double($0.count) / n }
        journalBytesPerDocumentByKind = after.journalRecordsSince.mapValues { Double($0.bytes) / n }
    }
}
