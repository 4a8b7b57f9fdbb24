import Foundation

/// Runs a compaction on a live axis: reads the oldest segments, lets `CompactionPlanner` decide,
/// records the cut, then removes files. The order is what makes a crash at any point safe:
///
/// 1. Read and verify the candidate segments (closed ones only; the newest is never touched).
/// 2. Journal the directory entries to carry forward, then the signed `compaction` record — durable
///    before any file goes. The fold then forgets the removed documents.
/// 3. Remove the cut segments **newest first**: whatever a crash leaves is an older prefix that still
///    chains from genesis, followed by the gap the compaction record accepts; the next compaction
///    removes the rest.
/// 4. Sweep payload files no document in the state refers to any more.
public final class JournalCompactor: @unchecked Sendable {
    public struct Options: Sendable {
        public var retentionMillis: Int64
        public var dryRun: Bool
        public var payloadGraceNanos: UInt64 = PayloadStore.sweepGraceNanos
        public init(retentionMillis: Int64, dryRun: Bool) {
            self.retentionMillis = retentionMillis
            self.dryRun = dryRun
        }
    }

    /// Steps reported as they happen (axisctl prints them).
    public enum Progress: Sendable {
        case read(segment: String, index: Int, of: Int, verdict: CompactionPlanner.Verdict)
        case recorded(sequence: UInt64, carriedForward: Int)
        case removed(segment: String, bytes: UInt64)
        case sweptPayloads(files: Int, bytes: UInt64)
    }

    public struct Outcome: Sendable {
        public var dryRun: Bool
        public var segmentsBefore: Int
        public var removedSegments: [String] = []
        public var removedRecords: UInt64 = 0
        public var removedDocuments: UInt64 = 0
        public var freedJournalBytes: UInt64 = 0
        public var firstKept: UInt64?
        /// Why the oldest kept segment stays (nil when only the newest is left).
        public var keptBecause: String?
        public var compactionSequence: UInt64?
        public var carriedForward = 0
        public var removedPayloadFiles = 0
        public var freedPayloadBytes: UInt64 = 0
    }

    let core: AxisCore
    /// Signs the compaction record's canonical JSON (attached CMS by the axis key); nil leaves it unsigned.
    let sign: (@Sendable ([UInt8]) throws -> [UInt8])?
    /// One compaction at a time.
    private let running = Locked<Bool>(false)

    public init(core: AxisCore, sign: (@Sendable ([UInt8]) throws -> [UInt8])?) {
        self.core = core
        self.sign = sign
    }

    /// Compacts, or (dry run) says what it would remove. Throws `.conflict` when a compaction is
    /// already running, and journal or storage errors as they come (nothing is removed before the
    /// compaction record is durable).
    public func run(_ options: Options, actor: Actor, reason: String,
                    progress: (Progress) -> Void = { _ in }) throws -> Outcome {
        guard running.update({ busy in defer { busy = true }; return !busy }) else {
            throw AxisError(.conflict, "a journal compaction is already running: wait for it to finish")
        }
        defer { running.update { $0 = false } }

        let directory = core.layout.journal
        var names = try JournalScanner.segmentNames(in: directory, storage: core.storage)
        var outcome = Outcome(dryRun: options.dryRun, segmentsBefore: names.count)

        // Segments an earlier compaction recorded as removed but a crash left behind: its record
        // already covers them, so they go first, with no new record.
        if let earlier = core.withState({ $0.lastCompaction?.firstKept }) {
            let leftovers = names.dropLast().filter { (JournalFormat.firstSequence(ofSegmentNamed: $0) ?? .max) < earlier }
            for name in leftovers.reversed() {
                let path = PathJoin.join(directory, name)
                let bytes = try Self.size(path, storage: core.storage)
                if !options.dryRun { try core.storage.remove(path) }
                outcome.removedSegments.insert(name, at: 0)
                outcome.freedJournalBytes += bytes
                progress(.removed(segment: name, bytes: bytes))
            }
            if !leftovers.isEmpty && !options.dryRun { try core.storage.syncDirectory(directory) }
            names.removeFirst(leftovers.count)
        }
        let now = core.clock.now()
        var removable: [CompactionPlanner.SegmentSummary] = []
        var firstKept: CompactionPlanner.SegmentSummary?
        let buffer = SegmentBuffer()
        for (index, name) in names.enumerated() {
            let isNewest = index == names.count - 1
            let summary = try summarize(name, directory: directory, buffer: buffer, headerOnly: isNewest)
            let verdict = core.withState { CompactionPlanner.judge(summary, isNewest: isNewest, state: $0, now: now,
                                                                   retentionMillis: options.retentionMillis) }
            progress(.read(segment: name, index: index, of: names.count, verdict: verdict))
            guard verdict == .removable else {
                firstKept = summary
                if case .kept(let why) = verdict { outcome.keptBecause = why }
                break
            }
            removable.append(summary)
        }
        guard let firstKept, let cut = CompactionPlanner.cut(removed: removable, firstKept: firstKept) else {
            outcome.firstKept = firstKept?.firstSequence
            if !options.dryRun { try sweepPayloads(options, outcome: &outcome, progress: progress) }
            return outcome
        }
        outcome.firstKept = cut.firstKept
        outcome.removedSegments += cut.removed.map(\.name)
        outcome.removedRecords = cut.removedRecords
        outcome.removedDocuments = cut.removedDocuments
        outcome.freedJournalBytes += cut.removedBytes
        if options.dryRun {
            outcome.carriedForward = core.withState { CompactionPlanner.carriedForward(state: $0, firstKept: cut.firstKept, at: now).count }
            return outcome
        }

        try record(cut, options: options, actor: actor, reason: reason, now: now, outcome: &outcome)
        progress(.recorded(sequence: outcome.compactionSequence ?? 0, carriedForward: outcome.carriedForward))

        for segment in cut.removed.reversed() {
            try core.storage.remove(PathJoin.join(directory, segment.name))
            progress(.removed(segment: segment.name, bytes: segment.bytes))
        }
        try core.storage.syncDirectory(directory)
        try sweepPayloads(options, outcome: &outcome, progress: progress)
        return outcome
    }

    /// Removes payload files no document in the state refers to (of removed documents, or stored by
    /// a submission whose journal record was never written).
    private func sweepPayloads(_ options: Options, outcome: inout Outcome, progress: (Progress) -> Void) throws {
        let referenced = core.withState { state in
            var segments = Set<UInt64>()
            for document in state.documents.values {
                segments.insert(document.accepted.payload.segment)
                if let signature = document.accepted.signature { segments.insert(signature.segment) }
                if let receipt = document.receipt { segments.insert(receipt.segment) }
            }
            for delivery in state.deliveries.values { if let receipt = delivery.receipt { segments.insert(receipt.segment) } }
            return segments
        }
        let unreferenced = try core.payloads.unreferencedSegments(referenced: referenced, graceNanos: options.payloadGraceNanos)
        try core.payloads.removeSegments(unreferenced.map(\.number))
        outcome.removedPayloadFiles = unreferenced.count
        outcome.freedPayloadBytes = unreferenced.reduce(0) { $0 + $1.bytes }
        progress(.sweptPayloads(files: outcome.removedPayloadFiles, bytes: outcome.freedPayloadBytes))
    }

    /// Journals the carried-forward directory entries and the signed compaction record, under the
    /// directory lock so no directory change lands between choosing the entries and writing them.
    private func record(_ cut: CompactionPlanner.Cut, options: Options, actor: Actor, reason: String, now: Timestamp,
                        outcome: inout Outcome) throws {
        guard let journalID = try JournalIdentity.read(directory: core.layout.journal, storage: core.storage) else {
            throw AxisError(.journalCorrupt, "the journal has no JOURNAL_ID file: run `axisctl journal check`")
        }
        var note = CompactionNote(at: now, firstKept: cut.firstKept, boundaryChain: cut.boundaryChain, journalID: journalID,
                                  removedSegments: cut.removed.map(\.name), removedRecords: cut.removedRecords,
                                  removedDocuments: cut.removedDocuments, newestRemovedDocument: cut.newestRemovedDocument,
                                  retentionSeconds: options.retentionMillis / 1000, resumesAt: cut.resumesAt,
                                  actor: actor, reason: reason)
        if let sign { note.signature = try sign(note.canonicalJSON) }
        let result: Result<(Int, UInt64), AxisError> = core.directoryWrites.update { _ in
            let carried = core.withState { CompactionPlanner.carriedForward(state: $0, firstKept: cut.firstKept, at: now) }
            let appended = core.recordInBatches(carried)
            if let failure = appended.failure { return .failure(failure) }
            do {
                let receipts = try core.recordAndWait([.compaction(note)])
                return .success((carried.count, receipts[0].sequence))
            } catch {
                return .failure(error as? AxisError ?? AxisError(.storageIO, "\(error)"))
            }
        }
        let (carried, sequence) = try result.get()
        outcome.carriedForward = carried
        outcome.compactionSequence = sequence
    }

    static func size(_ path: String, storage: any Storage) throws -> UInt64 {
        let file = try storage.open(path, mode: .readOnly)
        defer { file.close() }
        return try file.size()
    }

    /// Reads and verifies one segment into a summary (the newest: its header only).
    private func summarize(_ name: String, directory: String, buffer: SegmentBuffer, headerOnly: Bool) throws
        -> CompactionPlanner.SegmentSummary {
        let file = try core.storage.open(PathJoin.join(directory, name), mode: .readOnly)
        defer { file.close() }
        if headerOnly {
            guard case .success(let header) = SegmentHeader.decode(try file.read(count: JournalFormat.segmentHeaderSize, at: 0)) else {
                throw AxisError(.journalCorrupt, "segment \(name) has no readable header: run `axisctl journal check`")
            }
            return CompactionPlanner.SegmentSummary(name: name, firstSequence: header.firstSequence,
                                                    nextSequence: header.firstSequence, previousChain: header.previousChain,
                                                    endChain: header.previousChain, records: 0, bytes: try file.size())
        }
        let verified = try SegmentScanner.verify(file: file, name: name, hasher: SHA256Hasher(), buffer: buffer)
        guard let header = verified.scan.header, verified.scan.damage == nil else {
            throw AxisError(.journalCorrupt, "segment \(name) is damaged (\(verified.scan.damage?.reason ?? "no header")): "
                + "compaction stops; run `axisctl journal check`")
        }
        var summary = CompactionPlanner.SegmentSummary(name: name, firstSequence: header.firstSequence,
                                                       nextSequence: verified.scan.nextSequence,
                                                       previousChain: header.previousChain, endChain: verified.scan.endChain,
                                                       records: verified.scan.records, bytes: verified.scan.fileSize)
        try verified.deliver { entry in summary.note(try JournalRecord.decode(kind: entry.kind, body: entry.body)) }
        return summary
    }
}
