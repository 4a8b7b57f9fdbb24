/// The heart of a running axis: the journal, the payload store, and the queue state folded from
/// the journal.
///
/// `record(_:)` is the only way state changes: records are appended, and each is folded into the
/// state in the journal's completion, in sequence order, only once it is durable. On open, the
/// same fold runs over the replayed journal, so the state after a restart equals the state before.
public final class AxisCore: @unchecked Sendable {
    public struct Layout: Sendable {
        public var data: String
        public var journal: String { PathJoin.join(data, "journal") }
        public var payloads: String { PathJoin.join(data, "payloads") }
        public var corrupt: String { PathJoin.join(data, "corrupt") }
        public init(data: String) { self.data = data }
    }

    public let layout: Layout
    public let journal: Journal
    public let payloads: PayloadStore
    public let recovery: RecoveryReport
    public let clock: any TimeSource
    public let storage: any Storage
    /// One directory change at a time, whoever makes it (the admin API, compaction carrying entries
    /// forward): a check against the state and its append are one step.
    public let directoryWrites = Locked<Void>(())
    private let state: Locked<QueueState>
    private let observers = Locked<[@Sendable ([JournalRecord]) -> Void]>([])

    public init(layout: Layout, storage: any Storage = PosixStorage(), journalOptions: JournalOptions = JournalOptions(),
                payloadOptions: PayloadStore.Options = PayloadStore.Options(), clock: any TimeSource = SystemClock(),
                onJournalFailure: (@Sendable (AxisError) -> Void)? = nil) throws {
        self.layout = layout
        self.clock = clock
        self.storage = storage
        try storage.createDirectory(layout.data)
        var folded = QueueState()
        (journal, recovery) = try Journal.open(directory: layout.journal, corruptDirectory: layout.corrupt,
                                              storage: storage, options: journalOptions, clock: clock,
                                              replay: { entry in try folded.apply(entry) }, onFailure: onJournalFailure)
        state = Locked(folded)
        do {
            payloads = try PayloadStore(directory: layout.payloads, storage: storage, options: payloadOptions)
        } catch {
            journal.close()
            throw error
        }
    }

    /// Appends `records` (contiguously, in one batch) and folds them once durable.
    public func record(_ records: [JournalRecord], completion: @escaping @Sendable (Result<[AppendReceipt], AxisError>) -> Void) {
        journal.append(records.map { ($0.kind, $0.encoded()) }) { [state, observers] result in
            if case .success(let receipts) = result {
                state.update { s in
                    for (receipt, record) in zip(receipts, records) { s.apply(record, sequence: receipt.sequence, chain: receipt.chain) }
                }
                for observer in observers.read({ $0 }) { observer(records) }
            }
            completion(result)
        }
    }

    /// Calls `observer` with every batch of records once they are durable and folded (on the
    /// journal's completion thread: keep it short). The inbox uses it to wake long polls.
    public func observe(_ observer: @escaping @Sendable ([JournalRecord]) -> Void) {
        observers.update { $0.append(observer) }
    }

    public func recordAndWait(_ records: [JournalRecord]) throws -> [AppendReceipt] {
        let promise = Promise<Result<[AppendReceipt], AxisError>>()
        record(records) { promise.fulfil($0) }
        return try promise.wait().get()
    }

    /// What `recordInBatches` made durable: how many records, the last one's sequence, and the error
    /// that stopped it, if one did.
    public struct BatchedAppend: Sendable {
        public var recorded = 0
        public var lastSequence: UInt64?
        public var failure: AxisError?
    }

    /// Appends many records (an administrator's action on thousands of deliveries, an import, the
    /// releases at start) as successive batches the journal takes — at most `recordsPerBatchMax`
    /// records and half a batch's bytes each — each durable before the next; stops at the first failure.
    public func recordInBatches(_ records: [JournalRecord], recordsPerBatchMax: Int = 1000) -> BatchedAppend {
        var appended = BatchedAppend()
        let bytesMax = journal.options.batchBytesMax / 2
        var batch: [JournalRecord] = [], bytes = 0
        func flush() {
            guard !batch.isEmpty, appended.failure == nil else { return }
            do {
                let receipts = try recordAndWait(batch)
                appended.recorded += receipts.count
                appended.lastSequence = receipts.last?.sequence ?? appended.lastSequence
            } catch {
                appended.failure = error as? AxisError ?? AxisError(.storageIO, "\(error)")
            }
            batch = []
            bytes = 0
        }
        for record in records {
            let size = record.encoded().count + JournalFormat.frameHeaderSize
            if batch.count == recordsPerBatchMax || (bytes + size > bytesMax && !batch.isEmpty) { flush() }
            batch.append(record)
            bytes += size
        }
        flush()
        return appended
    }

    /// Reads the current state under its lock. Keep `body` short: appends wait for it.
    public func withState<R>(_ body: (QueueState) -> R) -> R { state.read(body) }

    public func close() {
        journal.close()
        payloads.close()
    }
}
