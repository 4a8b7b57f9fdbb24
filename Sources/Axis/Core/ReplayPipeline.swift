import Foundation

/// Folds the journal's records into a `QueueState` at start-up with the decoding of records done on
/// other threads, batch by batch, while this thread folds the batch before.
///
/// Why: replay is the time axisd is down after a restart, and it runs on one thread because the
/// fold must see records in sequence order. Decoding a record (its strings validated as UTF-8, its
/// fields copied out) needs no order and was half of the fold's time (docs/PERFORMANCE.md, "Restart
/// and memory"), so it moves off the folding thread. Order is kept by folding batches strictly in
/// the order they were handed in; memory is bounded by `batchesInFlightMax` batches.
///
/// `add` is called by the journal's replay for every entry; `finish` folds what is left and returns
/// the state. A record that does not decode throws from `add` or `finish`, as it would have thrown
/// from the fold itself: axisd does not start on it.
final class ReplayPipeline {
    static let batchEntries = 4096
    static let batchesInFlightMax = 4

    private typealias Decoded = [(record: JournalRecord, sequence: UInt64, chain: Digest256)]
    private var state = QueueState()
    private var batch: [JournalEntry] = []
    private var inFlight: [Promise<Result<Decoded, Error>>] = []

    init() { batch.reserveCapacity(Self.batchEntries) }

    /// Every decode started is waited for, so none outlives the pipeline (even after an error).
    deinit { for promise in inFlight { _ = promise.wait() } }

    func add(_ entry: JournalEntry) throws {
        batch.append(entry)
        if batch.count == Self.batchEntries { try launch() }
    }

    func finish() throws -> QueueState {
        if !batch.isEmpty { try launch() }
        while !inFlight.isEmpty { try foldOldest() }
        return state
    }

    private func launch() throws {
        let entries = batch
        batch = []
        batch.reserveCapacity(Self.batchEntries)
        let decoded = Promise<Result<Decoded, Error>>()
        DispatchQueue.global().async {
            decoded.fulfil(Result {
                try entries.map { (try JournalRecord.decode(kind: $0.kind, body: $0.body), $0.sequence, $0.chain) }
            })
        }
        inFlight.append(decoded)
        if inFlight.count > Self.batchesInFlightMax { try foldOldest() }
    }

    private func foldOldest() throws {
        let records = try inFlight.removeFirst().wait().get()
        for r in records { state.apply(r.record, sequence: r.sequence, chain: r.chain) }
    }
}
