/// The append-only, checksummed, hash-chained journal: Axis's single source of truth.
///
/// **Durability contract.** An append completes only after its record has been written *and*
/// `fdatasync`ed. Appenders never write: they hand records to the one writer thread and wait. The
/// writer takes everything queued (up to `batchBytesMax`), writes it with one `pwrite`, issues one
/// `fdatasync`, and only then completes every waiter of the batch — group commit.
///
///     appenders ──enqueue──▶ [queue] ──▶ writer: encode frames ─▶ pwrite ─▶ fdatasync ─▶ complete all
///
/// **Failure.** If a write or sync fails, the journal enters the failed state for good: the failing
/// batch and everything queued get the error, later appends are refused, and the writer never retries
/// the sync (after a failed fsync the kernel may have dropped the dirty pages; a retry could report
/// success for data that is gone). Restarting axisd runs recovery, which trusts only what is on disk.
///
/// **Recovery** happens in `open`: see `JournalScanner` and `SegmentScanner`.
public final class Journal: @unchecked Sendable {
    public typealias Completion = @Sendable (Result<[AppendReceipt], AxisError>) -> Void
    /// Records of one append, each with the SHA-256 of its body (computed by the appender).
    typealias Batch = [(RecordKind, [UInt8], Digest256)]

    public enum Health: Sendable, Equatable {
        case ok
        case failed(AxisError)
        case closed
    }

    /// Counters for metrics and benchmarks.
    public struct Stats: Sendable {
        public var batches: UInt64 = 0
        public var records: UInt64 = 0
        public var bytes: UInt64 = 0
        public var syncNanosTotal: UInt64 = 0
        public var syncNanosLast: UInt64 = 0
        public var segmentsCreated: UInt64 = 0
        /// The sequence the next durable record will carry, and the chain value it will extend.
        public var nextSequence: UInt64 = 1
        public var chain: Digest256 = .zero
    }

    public let directory: String
    public let options: JournalOptions
    /// Held from open to close: two writers on one journal would interleave frames.
    private let dirLock: Locked<(any StorageLock)?>
    private let writer: SegmentWriter
    private let committer: GroupCommitter<Batch, [AppendReceipt]>

    private init(directory: String, options: JournalOptions, dirLock: any StorageLock, writer: SegmentWriter,
                 onFailure: (@Sendable (AxisError) -> Void)?) {
        self.directory = directory
        self.options = options
        self.dirLock = Locked(dirLock)
        self.writer = writer
        committer = GroupCommitter(
            name: "axis-journal-writer", batchBytesMax: options.batchBytesMax,
            batchCountMax: JournalFormat.batchRecordsLimit,
            commit: { [writer] batches in try writer.commit(batches) },
            describeFailure: { error in
                let cause = error as? AxisError ?? AxisError(.storageIO, "\(error)")
                let failure = AxisError(cause.code == .storageFull ? .storageFull : .journalFailed,
                    "journal write failed: \(cause.description). The journal now refuses appends: a failed write or " +
                    "fsync is never retried. Fix the cause, then restart axisd; recovery keeps every acknowledged record. " +
                    "Whether a failed append was stored is unknown until then: clients resubmit, and idempotency keys make that safe")
                onFailure?(failure)
                return failure
            },
            describeTransient: { cause in
                AxisError(.storageFull, "journal: \(cause.description). This batch was not recorded; appends resume as soon as "
                    + "there is space again")
            })
    }

    // MARK: - Appending

    /// Hands records to the writer; `completion` runs on the writer thread once they are durable
    /// (or failed). It must be quick and must not block: it delays the next batch.
    ///
    /// The records of one call are written contiguously, in order, in one batch.
    public func append(_ records: [(RecordKind, [UInt8])], completion: @escaping Completion) {
        var bytes = 0
        for (_, body) in records {
            guard body.count <= options.recordBytesMax else {
                completion(.failure(AxisError(.limitExceeded,
                    "record of \(body.count) bytes exceeds recordBytesMax (\(options.recordBytesMax))")))
                return
            }
            bytes += JournalFormat.frameHeaderSize + body.count
        }
        guard !records.isEmpty else { completion(.success([])); return }
        guard bytes <= options.batchBytesMax, records.count <= JournalFormat.batchRecordsLimit else {
            completion(.failure(AxisError(.limitExceeded,
                "\(records.count) records of \(bytes) bytes in one append exceed one batch (batchBytesMax \(options.batchBytesMax))")))
            return
        }
        // Hash the bodies here, on the appender's thread: many appenders hash in parallel, and the
        // writer's one-at-a-time cycle (the throughput limit) only chains the digests.
        let hasher = SHA256Hasher()
        let batch: Batch = records.map { kind, body in
            body.withUnsafeBytes { hasher.update($0) }
            return (kind, body, hasher.finish())
        }
        committer.submit(batch, bytes: bytes, count: records.count, completion: completion)
    }

    public func append(_ kind: RecordKind, _ body: [UInt8]) async throws -> AppendReceipt {
        let receipts = try await append([(kind, body)])
        return receipts[0]
    }

    public func append(_ records: [(RecordKind, [UInt8])]) async throws -> [AppendReceipt] {
        try await withCheckedThrowingContinuation { continuation in
            append(records) { continuation.resume(with: $0) }
        }
    }

    /// Blocks the calling thread until the records are durable.
    public func appendAndWait(_ records: [(RecordKind, [UInt8])]) throws -> [AppendReceipt] {
        let promise = Promise<Result<[AppendReceipt], AxisError>>()
        append(records) { promise.fulfil($0) }
        return try promise.wait().get()
    }

    public func appendAndWait(_ kind: RecordKind, _ body: [UInt8]) throws -> AppendReceipt {
        try appendAndWait([(kind, body)])[0]
    }

    // MARK: - State

    public var health: Health {
        if let failure = committer.failed { return .failed(failure) }
        return committer.isClosing ? .closed : .ok
    }

    /// The sequence the next durable record will carry, and the chain value it will extend.
    public var head: (nextSequence: UInt64, chain: Digest256) {
        writer.stats.read { ($0.nextSequence, $0.chain) }
    }

    public var statistics: Stats { writer.stats.read { $0 } }

    /// Calls `observer` after every durable batch with its record count, its bytes and how long its
    /// fdatasync took (on the writer thread: keep it short). One observer; a second replaces it.
    public func observeBatches(_ observer: @escaping @Sendable (_ records: Int, _ bytes: Int, _ syncNanos: UInt64) -> Void) {
        writer.batchObserver.update { $0 = observer }
    }

    /// Stops accepting appends, lets the writer finish what is queued, and closes the files.
    public func close() {
        committer.close()
        writer.close()
        dirLock.update { $0 = nil }
    }
}

/// The writer thread's side of the journal: the open segment, the next sequence and the chain.
/// Only the group committer's writer thread calls `commit`.
final class SegmentWriter: @unchecked Sendable {
    let stats: Locked<Journal.Stats>
    /// Told of every durable batch: records, bytes, fdatasync nanoseconds (metrics).
    let batchObserver = Locked<(@Sendable (Int, Int, UInt64) -> Void)?>(nil)
    private let directory: String
    private let storage: any Storage
    private let clock: any TimeSource
    private let segmentBytesMax: Int
    private let journalID: [UInt8]
    private var file: any StorageFile
    private var segmentFirstSequence: UInt64
    private var segmentSize: UInt64
    private var nextSequence: UInt64
    private var chain: Digest256
    private let hasher = SHA256Hasher()
    private var buffer: [UInt8] = []
    private let preparer: SegmentPreparer?

    init(directory: String, storage: any Storage, clock: any TimeSource, segmentBytesMax: Int,
         preallocation: SegmentPreallocation,
         journalID: [UInt8],
         file: any StorageFile, segmentFirstSequence: UInt64, segmentSize: UInt64, nextSequence: UInt64, chain: Digest256) throws {
        self.directory = directory
        self.storage = storage
        self.clock = clock
        self.segmentBytesMax = segmentBytesMax
        self.journalID = journalID
        self.file = file
        self.segmentFirstSequence = segmentFirstSequence
        self.segmentSize = segmentSize
        self.nextSequence = nextSequence
        self.chain = chain
        preparer = preallocation == .off ? nil
            : try SegmentPreparer(directory: directory, storage: storage, segmentBytes: segmentBytesMax,
                              background: preallocation == .background)
        var initial = Journal.Stats()
        initial.nextSequence = nextSequence
        initial.chain = chain
        stats = Locked(initial)
    }

    func close() {
        preparer?.close()
        file.close()
    }

    /// Encodes every record of the batch, writes them with one write and syncs once.
    func commit(_ batches: [Journal.Batch]) throws -> [[AppendReceipt]] {
        let byteCount = batches.reduce(0) { total, batch in
            batch.reduce(total) { $0 + JournalFormat.frameHeaderSize + $1.1.count }
        }
        if segmentSize > UInt64(JournalFormat.segmentHeaderSize) && segmentSize + UInt64(byteCount) > UInt64(segmentBytesMax) {
            // A roll that fails leaves the current segment as it was (createSegment removes its file).
            do { try roll() } catch { throw TransientStorageFailure.classify(error) }
        }
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(byteCount)
        var receipts: [[AppendReceipt]] = []
        receipts.reserveCapacity(batches.count)
        var sequence = nextSequence
        var chain = self.chain
        var index: UInt16 = 0
        for batch in batches {
            var mine: [AppendReceipt] = []
            mine.reserveCapacity(batch.count)
            for (kind, body, digest) in batch {
                let offset = segmentSize + UInt64(buffer.count)
                chain = body.withUnsafeBytes {
                    FrameCodec.encode(kind: kind.rawValue, batchIndex: index, sequence: sequence, body: $0,
                                      bodyDigest: digest, previousChain: chain, hasher: hasher, into: &buffer)
                }
                mine.append(AppendReceipt(sequence: sequence, chain: chain, segment: segmentFirstSequence, offset: offset))
                sequence += 1
                index &+= 1
            }
            receipts.append(mine)
        }
        // Nobody is told this batch is stored when it fails, so its bytes are cut off again (best
        // effort, unsynced). Otherwise a restart that finds them in the page cache would bring back
        // records whose appenders got an error. A failed write on a full disk is transient (the next
        // batch is written at the same place); a failed sync is final and never retried.
        do {
            try file.write(buffer, at: segmentSize)
        } catch {
            try? file.truncate(to: segmentSize)
            throw TransientStorageFailure.classify(error)
        }
        let syncStart = clock.monotonicNanos()
        do {
            try file.sync()
        } catch {
            try? file.truncate(to: segmentSize)
            throw error
        }
        let syncNanos = clock.monotonicNanos() - syncStart
        segmentSize += UInt64(buffer.count)
        nextSequence = sequence
        self.chain = chain
        let records = UInt64(sequence - receipts[0][0].sequence)
        let bytes = UInt64(buffer.count)
        stats.update {
            $0.batches += 1
            $0.records += records
            $0.bytes += bytes
            $0.syncNanosTotal += syncNanos
            $0.syncNanosLast = syncNanos
            $0.nextSequence = sequence
            $0.chain = chain
        }
        if let observe = batchObserver.read({ $0 }) { observe(Int(records), Int(bytes), syncNanos) }
        return receipts
    }

    /// Closes the current segment and starts a new one whose header links to the current chain:
    /// the prepared, zero-filled file when one is ready, else a new empty file.
    private func roll() throws {
        let newFile = try Journal.createSegment(directory: directory, storage: storage, journalID: journalID,
                                                firstSequence: nextSequence, previousChain: chain, now: clock.now(),
                                                preparedPath: preparer?.take())
        file.close()
        file = newFile
        segmentFirstSequence = nextSequence
        segmentSize = UInt64(JournalFormat.segmentHeaderSize)
        stats.update { $0.segmentsCreated += 1 }
    }
}

extension Journal {
    /// Creates a segment file with its header, syncs it and the directory entry. With
    /// `preparedPath`, the header goes into that prepared file, which is then renamed into place.
    static func createSegment(directory: String, storage: any Storage, journalID: [UInt8], firstSequence: UInt64,
                              previousChain: Digest256, now: Timestamp, preparedPath: String? = nil) throws -> any StorageFile {
        let path = PathJoin.join(directory, JournalFormat.segmentName(firstSequence: firstSequence))
        let header = SegmentHeader(journalID: journalID, firstSequence: firstSequence, createdAt: now,
                                   previousChain: previousChain).encoded()
        // On failure nothing is left under the segment's name (a later roll creates it afresh).
        if let preparedPath {
            do {
                let prepared = try storage.open(preparedPath, mode: .readWrite)
                defer { prepared.close() }
                try prepared.write(header, at: 0)
                try prepared.sync()
            } catch {
                try? storage.remove(preparedPath)
                throw error
            }
            do {
                try storage.rename(preparedPath, to: path)
                try storage.syncDirectory(directory)
                return try storage.open(path, mode: .readWrite)
            } catch {
                try? storage.remove(preparedPath)
                try? storage.remove(path)
                throw error
            }
        }
        let file = try storage.open(path, mode: .createExclusive)
        do {
            try file.write(header, at: 0)
            try file.sync()
            try storage.syncDirectory(directory)
        } catch {
            file.close()
            try? storage.remove(path)
            throw error
        }
        return file
    }
}

// MARK: - Opening and recovery

extension Journal {
    /// Opens (or creates) the journal in `directory`, recovering it and replaying every record
    /// through `replay`, in sequence order, before returning.
    ///
    /// - A torn tail of the newest segment is truncated and reported.
    /// - `onFailure` is called once, on the writer thread, if a write or sync fails later, so the
    ///   daemon can report it (health, logs) at once rather than on the next append.
    /// - Damage anywhere else throws `.journalCorrupt` naming the segment and offset, unless
    ///   `options.salvage` is set: then damaged segments are moved to `corruptDirectory`, a `salvage`
    ///   record documents it, and the journal opens with what is left.
    public static func open(directory: String, corruptDirectory: String? = nil, storage: any Storage = PosixStorage(),
                            options: JournalOptions = JournalOptions(), clock: any TimeSource = SystemClock(),
                            replay: ((JournalEntry) throws -> Void)? = nil,
                            onFailure: (@Sendable (AxisError) -> Void)? = nil) throws -> (Journal, RecoveryReport) {
        let options = try options.validated()
        let started = clock.monotonicNanos()
        try storage.createDirectory(directory)
        let dirLock = try storage.lockExclusive(PathJoin.join(directory, "LOCK"))

        var salvaged: [String] = []
        if options.salvage {
            salvaged = try salvageDamagedSegments(directory: directory, corruptDirectory: corruptDirectory ?? PathJoin.join(parentDirectory(directory), "corrupt"),
                                                  storage: storage, clock: clock)
        }

        var scan = try JournalScanner.scan(directory: directory, storage: storage, onRecord: replay)
        if let problem = scan.damage.first {
            throw AxisError(.journalCorrupt, """
                journal damaged: \(PathJoin.join(directory, problem.segment)) at offset \(problem.offset): \(problem.message). \
                This is acknowledged history, so axisd will not start on it. Run `axisctl journal check` for the full list; \
                then restore the data directory from a backup, or start once with `axisd --salvage` to move the damaged \
                segment to the corrupt directory (its records leave the live state but stay there for inspection)
                """)
        }

        var report = RecoveryReport(scan: scan)
        report.salvagedSegments = salvaged
        (report.truncatedTail, report.removedIncompleteSegments) = try cutTornTail(&scan, directory: directory, storage: storage)
        report.scan = scan
        let recordedID = try JournalIdentity.read(directory: directory, storage: storage)
        if let recordedID, scan.journalID != recordedID {
            let found = scan.journalID.map { "segments of journal \(Hex.encode($0))" } ?? "no segments"
            throw AxisError(.journalCorrupt, """
                '\(directory)' held journal \(Hex.encode(recordedID)) but now has \(found): segments were deleted or \
                replaced, or the wrong disk is mounted. axisd will not start a new journal over it. Restore the data \
                directory from a backup; to start an empty journal on purpose, move '\(directory)' away first
                """)
        }

        let journal: Journal
        if let newest = scan.segments.last, let header = newest.header, let journalID = scan.journalID {
            let file = try storage.open(PathJoin.join(directory, newest.name), mode: .readWrite)
            let writer = try SegmentWriter(directory: directory, storage: storage, clock: clock,
                                       segmentBytesMax: options.segmentBytesMax, preallocation: options.preallocation,
                                       journalID: journalID, file: file,
                                       segmentFirstSequence: header.firstSequence, segmentSize: newest.validEnd,
                                       nextSequence: scan.nextSequence, chain: scan.headChain)
            journal = Journal(directory: directory, options: options, dirLock: dirLock, writer: writer, onFailure: onFailure)
        } else {
            // A new journal (or one whose only segment never got a complete header).
            var rng = SystemRandomNumberGenerator()
            let journalID = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let genesis = JournalFormat.genesisChain(journalID: journalID)
            let file = try createSegment(directory: directory, storage: storage, journalID: journalID,
                                         firstSequence: 1, previousChain: genesis, now: clock.now())
            let writer = try SegmentWriter(directory: directory, storage: storage, clock: clock,
                                       segmentBytesMax: options.segmentBytesMax, preallocation: options.preallocation,
                                       journalID: journalID, file: file,
                                       segmentFirstSequence: 1, segmentSize: UInt64(JournalFormat.segmentHeaderSize),
                                       nextSequence: 1, chain: genesis)
            journal = Journal(directory: directory, options: options, dirLock: dirLock, writer: writer, onFailure: onFailure)
            report.created = scan.segments.isEmpty
            report.scan.nextSequence = 1
            report.scan.headChain = genesis
            report.scan.journalID = journalID
        }
        if recordedID == nil, let id = report.scan.journalID {
            do {
                try JournalIdentity.write(id, directory: directory, storage: storage)
            } catch {
                journal.close()
                throw error
            }
        }
        report.durationNanos = clock.monotonicNanos() - started
        return (journal, report)
    }

    /// Truncates the torn tail of the newest segment (or removes that segment when even its header
    /// never reached the disk) and updates `scan` to match.
    private static func cutTornTail(_ scan: inout JournalScanReport, directory: String, storage: any Storage) throws
        -> (truncated: (segment: String, offset: UInt64, bytes: UInt64)?, removed: [String]) {
        guard let torn = scan.tornTail, let newest = scan.segments.last else { return (nil, []) }
        scan.problems.removeAll { $0.kind == .tornTail }
        let path = PathJoin.join(directory, newest.name)
        if newest.header == nil {
            try storage.remove(path)
            try storage.syncDirectory(directory)
            scan.segments.removeLast()
            return (nil, [newest.name])
        }
        let f = try storage.open(path, mode: .readWrite)
        defer { f.close() }
        try f.truncate(to: newest.validEnd)
        try f.sync()
        scan.segments[scan.segments.count - 1].fileSize = newest.validEnd
        scan.segments[scan.segments.count - 1].damage = nil
        return ((newest.name, torn.offset, newest.fileSize - newest.validEnd), [])
    }

    static func parentDirectory(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty else { return path.hasPrefix("/") ? "/" : "." }
        parts.removeLast()
        if parts.isEmpty { return path.hasPrefix("/") ? "/" : "." }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// Moves every damaged segment aside, then writes a new segment holding a `salvage` record that
    /// accepts each break the moves left. Returns the names moved (empty when nothing was damaged).
    private static func salvageDamagedSegments(directory: String, corruptDirectory: String, storage: any Storage,
                                               clock: any TimeSource) throws -> [String] {
        let first = try JournalScanner.scan(directory: directory, storage: storage)
        let damaged = Set(first.damage.filter { $0.kind == .damaged }.map(\.segment))
        let breaks = first.damage.filter { $0.kind == .chainBreak }
        guard !damaged.isEmpty || !breaks.isEmpty else { return [] }

        let highest = first.segments.map { max($0.highestSequenceSeen, $0.firstSequenceFromName) }.max() ?? 0
        let moved = damaged.sorted()

        // What will be left: its breaks, and where it ends (a torn tail is cut first: it is not history).
        var rest = JournalScanReport(directory: directory)
        rest.segments = first.segments.filter { !damaged.contains($0.name) }
        JournalScanner.check(&rest)
        _ = try cutTornTail(&rest, directory: directory, storage: storage)

        // The salvage record is durable before anything moves: a crash part-way through leaves the
        // damage where it was (the next start refuses again), never a log that lost segments without
        // a trace — or an empty directory that `open` would take for a new journal.
        if let journalID = rest.journalID ?? first.journalID {
            let resume = highest + 1
            let resumePoints = rest.damage.filter { $0.kind == .chainBreak }.compactMap {
                JournalFormat.firstSequence(ofSegmentNamed: $0.segment)
            } + [resume]
            let note = SalvageNote(movedSegments: moved, resumesAt: resumePoints,
                                   reason: "axisd --salvage moved damaged segments to \(corruptDirectory)")
            let file = try createSegment(directory: directory, storage: storage, journalID: journalID,
                                         firstSequence: resume, previousChain: rest.headChain, now: clock.now())
            defer { file.close() }
            let (bytes, _) = FrameCodec.encode(kind: RecordKind.salvage.rawValue, sequence: resume, body: note.encoded(),
                                               previousChain: rest.headChain)
            try file.write(bytes, at: UInt64(JournalFormat.segmentHeaderSize))
            try file.sync()
        }  // else nothing readable is left; `open` starts a new journal

        try storage.createDirectory(corruptDirectory)
        for name in moved {
            try storage.rename(PathJoin.join(directory, name), to: PathJoin.join(corruptDirectory, name))
        }
        try storage.syncDirectory(corruptDirectory)
        try storage.syncDirectory(directory)
        return moved
    }
}
