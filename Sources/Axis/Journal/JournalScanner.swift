import Foundation

/// Read-only scan of a whole journal directory: every segment in order, every frame checked, and
/// the links between segments checked. Used by recovery (`Journal.open`) and by
/// `axisctl journal check|dump`, which must never change anything.
public struct JournalScanReport: Sendable {
    public enum ProblemKind: String, Sendable {
        /// The unsynced end of the newest segment; recovery truncates it.
        case tornTail = "torn-tail"
        /// Damaged bytes in history.
        case damaged
        /// A segment does not continue the one before it (and no salvage record accepts the break).
        case chainBreak = "chain-break"
    }

    public struct Problem: Sendable, CustomStringConvertible {
        public var kind: ProblemKind
        public var segment: String
        public var offset: UInt64
        public var message: String
        public var description: String { "\(segment) offset \(offset): \(message)" }
    }

    public var directory: String
    public var segments: [SegmentScan] = []
    public var journalID: [UInt8]?
    public var problems: [Problem] = []
    public var records: Int { segments.reduce(0) { $0 + $1.records } }
    public var bytes: UInt64 { segments.reduce(0) { $0 + $1.fileSize } }
    /// The next sequence to append and the chain it extends.
    public var nextSequence: UInt64 = 1
    public var headChain: Digest256 = .zero
    public var lastSequence: UInt64? { nextSequence > 1 ? nextSequence - 1 : nil }

    /// Every compaction record found, oldest first.
    public var compactions: [CompactionNote] { segments.flatMap(\.compactionNotes) }

    public var tornTail: Problem? { problems.first { $0.kind == .tornTail } }
    /// Problems that stop a normal start: anything but a torn tail.
    public var damage: [Problem] { problems.filter { $0.kind != .tornTail } }
}

public enum JournalScanner {
    public struct Progress: Sendable {
        public var segmentIndex: Int
        public var segmentCount: Int
        public var records: Int
        public var bytes: UInt64
    }

    /// Names of the segment files in `directory`, in log order.
    public static func segmentNames(in directory: String, storage: any Storage) throws -> [String] {
        try storage.listDirectory(directory)
            .filter { JournalFormat.firstSequence(ofSegmentNamed: $0) != nil }
            .sorted()
    }

    /// Scans every segment in log order, calling `onRecord` for each good record in sequence order.
    ///
    /// Segments check themselves (each header carries the chain it continues), so up to `parallelism`
    /// segments are read and verified at once on other threads while this thread hands out the
    /// records of the oldest one: SHA-256 and CRC-32C of a large journal use every core, and the
    /// records still arrive in order. Memory: one read buffer of a segment's size per segment in flight.
    public static func scan(directory: String, storage: any Storage,
                            onRecord: ((JournalEntry) throws -> Void)? = nil,
                            progress: ((Progress) -> Void)? = nil,
                            parallelism: Int = defaultParallelism) throws -> JournalScanReport {
        var report = JournalScanReport(directory: directory)
        let names = try segmentNames(in: directory, storage: storage)
        let window = max(1, parallelism)
        let buffers = Locked<[SegmentBuffer]>([])
        var pending: [Promise<Result<VerifiedSegment, Error>>] = []
        var launched = 0

        func launch(_ index: Int) {
            let promise = Promise<Result<VerifiedSegment, Error>>()
            pending.append(promise)
            let path = PathJoin.join(directory, names[index])
            let name = names[index]
            let buffer = buffers.update { $0.popLast() } ?? SegmentBuffer()
            DispatchQueue.global().async {
                promise.fulfil(Result {
                    let file = try storage.open(path, mode: .readOnly)
                    defer { file.close() }
                    return try SegmentScanner.verify(file: file, name: name, hasher: SHA256Hasher(), buffer: buffer)
                })
            }
        }

        // Every launched verification is waited for before returning, even on error, so no worker
        // outlives the scan.
        defer { for promise in pending[report.segments.count...] { _ = promise.wait() } }
        var bytesSoFar: UInt64 = 0
        for index in names.indices {
            while launched < names.count && launched < index + window {
                launch(launched)
                launched += 1
            }
            let verified = try pending[index].wait().get()
            if let onRecord { try verified.deliver(onRecord) }
            buffers.update { $0.append(verified.buffer) }
            bytesSoFar += verified.scan.fileSize
            report.segments.append(verified.scan)
            progress?(Progress(segmentIndex: index, segmentCount: names.count,
                               records: report.records, bytes: bytesSoFar))
        }
        check(&report)
        return report
    }

    /// Segments verified at once: the cores, at most 4 (each holds a segment-sized buffer).
    public static var defaultParallelism: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Classifies per-segment damage and checks each segment's header against the segment before.
    static func check(_ report: inout JournalScanReport) {
        let compactions = report.segments.flatMap(\.compactionNotes)
        let resumePoints = Set(report.segments.flatMap { $0.salvageNotes.flatMap(\.resumesAt) }
                               + compactions.flatMap(\.resumesAt))
        // Where a compaction cut the log: that exact sequence and chain value, in this journal.
        func cutByCompaction(_ header: SegmentHeader) -> Bool {
            compactions.contains {
                $0.firstKept == header.firstSequence && $0.boundaryChain == header.previousChain && $0.journalID == header.journalID
            }
        }
        var previous: SegmentScan?
        for (index, seg) in report.segments.enumerated() {
            let isNewest = index == report.segments.count - 1
            if let header = seg.header {
                if report.journalID == nil {
                    report.journalID = header.journalID
                    // The oldest segment must start the chain, unless a salvage record accepts a start later…
                    let genesis = JournalFormat.genesisChain(journalID: header.journalID)
                    let starts = header.firstSequence == 1 && header.previousChain == genesis
                    if !starts && !cutByCompaction(header) && !resumePoints.contains(header.firstSequence) {
                        report.problems.append(.init(kind: .chainBreak, segment: seg.name, offset: 0,
                            message: header.firstSequence == 1
                                ? "the first segment's previous-chain value is not the journal's genesis value"
                                : "the journal starts at sequence \(header.firstSequence): earlier segments are missing"))
                    }
                } else if let prev = previous {
                    var mismatch: [String] = []
                    if header.journalID != report.journalID {
                        mismatch.append("belongs to another journal (id \(Hex.encode(header.journalID)))")
                    }
                    if header.firstSequence != prev.nextSequence {
                        mismatch.append("starts at sequence \(header.firstSequence) but \(prev.name) ends before \(prev.nextSequence)")
                    }
                    if header.previousChain != prev.endChain {
                        mismatch.append("its previous-chain value does not match the end of \(prev.name)")
                    }
                    // A compaction cut short by a crash leaves older segments before its cut: a gap it accepts.
                    if !mismatch.isEmpty && !cutByCompaction(header) && !resumePoints.contains(header.firstSequence) {
                        report.problems.append(.init(kind: .chainBreak, segment: seg.name, offset: 0,
                            message: "segment does not continue the journal: " + mismatch.joined(separator: "; ")))
                    }
                }
            }
            if let damage = seg.damage {
                let torn = isNewest && damage.mayBeTornTail
                report.problems.append(.init(kind: torn ? .tornTail : .damaged, segment: seg.name, offset: damage.offset,
                    message: torn ? "torn tail of \(damage.bytesAfter) bytes (\(damage.reason))" : damage.reason))
            }
            if seg.header != nil { previous = seg }
        }
        if let last = previous {
            report.nextSequence = last.nextSequence
            report.headChain = last.endChain
        }
    }
}
