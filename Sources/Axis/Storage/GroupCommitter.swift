import Foundation

/// Group commit: many threads hand in items and wait; one writer thread takes everything queued
/// (up to a batch limit), commits it with one call — one write and one sync — and only then
/// completes every waiter of the batch. Used by the journal and the payload store.
///
///     submit ──▶ [queue] ──▶ writer thread: commit(batch) ─▶ complete each waiter
///
/// If `commit` throws, the committer fails for good: that batch and everything queued get the error
/// and later submissions are refused. A failed sync is never retried (after a failed fsync the kernel
/// may have dropped the dirty pages, and a second fsync could report success for lost data).
/// The exception is a `TransientStorageFailure`: `commit` failed before syncing anything and left
/// its files consistent (a full disk while writing or creating a file): only that batch fails, and
/// later batches are tried again, so accepting resumes once space is freed.
final class GroupCommitter<Item, Output: Sendable>: @unchecked Sendable {
    typealias Completion = @Sendable (Result<Output, AxisError>) -> Void

    private struct Pending {
        var item: Item
        var bytes: Int
        var count: Int
        var completion: Completion
    }

    private let lock = ConditionLock()
    private var queue: [Pending] = []
    private var failure: AxisError?
    private var closing = false
    private var writerExited = false
    private let batchBytesMax: Int
    private let batchCountMax: Int
    private let commit: ([Item]) throws -> [Output]
    private let describeFailure: (Error) -> AxisError
    private let describeTransient: (AxisError) -> AxisError

    /// - Parameters:
    ///   - commit: writes and syncs a batch, returning one output per item; runs on the writer thread only.
    ///   - describeFailure: turns a commit error into the error every waiter gets from then on.
    ///   - describeTransient: the error the waiters of a batch that failed transiently get.
    init(name: String, batchBytesMax: Int, batchCountMax: Int,
         commit: @escaping ([Item]) throws -> [Output], describeFailure: @escaping (Error) -> AxisError,
         describeTransient: @escaping (AxisError) -> AxisError = { $0 }) {
        self.batchBytesMax = batchBytesMax
        self.batchCountMax = batchCountMax
        self.commit = commit
        self.describeFailure = describeFailure
        self.describeTransient = describeTransient
        let thread = Thread { [self] in self.writerLoop() }
        thread.name = name
        thread.start()
    }

    /// Queues `item` (`bytes` and `count` are its share of the batch limits). `completion` runs on
    /// the writer thread (or here, if refused at once); it must be quick and must not block.
    func submit(_ item: Item, bytes: Int, count: Int, completion: @escaping Completion) {
        let refusal: AxisError? = lock.withLock {
            if let failure { return failure }
            if closing { return AxisError(.journalClosed, "the store is closed: axisd is shutting down") }
            queue.append(Pending(item: item, bytes: bytes, count: count, completion: completion))
            lock.signal()
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    var failed: AxisError? { lock.withLock { failure } }
    var isClosing: Bool { lock.withLock { closing } }

    /// Refuses new items, lets the writer commit what is queued, and waits for it to stop.
    func close() {
        lock.withLock {
            closing = true
            lock.broadcast()
            while !writerExited { lock.wait() }
        }
    }

    private func writerLoop() {
        while true {
            var batch: [Pending] = []
            var failed: AxisError?
            lock.withLock {
                while queue.isEmpty && !closing { lock.wait() }
                failed = failure
                var bytes = 0
                var count = 0
                var taken = 0
                for pending in queue {
                    if taken > 0 && (bytes + pending.bytes > batchBytesMax || count + pending.count > batchCountMax) { break }
                    bytes += pending.bytes
                    count += pending.count
                    taken += 1
                }
                batch = Array(queue.prefix(taken))
                queue.removeFirst(taken)
                if batch.isEmpty {
                    writerExited = true
                    lock.broadcast()
                }
            }
            if batch.isEmpty { return }
            if let failed {
                for pending in batch { pending.completion(.failure(failed)) }
                continue
            }
            do {
                let outputs = try commit(batch.map(\.item))
                precondition(outputs.count == batch.count, "commit returns one output per item")
                for (pending, output) in zip(batch, outputs) { pending.completion(.success(output)) }
            } catch let transient as TransientStorageFailure {
                let failed = describeTransient(transient.cause)
                for pending in batch { pending.completion(.failure(failed)) }
            } catch {
                let failed = describeFailure(error)
                var queued: [Pending] = []
                lock.withLock {
                    failure = failed
                    queued = queue
                    queue.removeAll()
                }
                for pending in batch + queued { pending.completion(.failure(failed)) }
            }
        }
    }
}

/// A commit that failed before anything of it was synced, leaving the writer able to go on (a full
/// disk while writing or creating a file). Thrown by commit functions; see `GroupCommitter`.
struct TransientStorageFailure: Error {
    let cause: AxisError

    /// `error` as transient when it is a full disk; otherwise unchanged (and fatal).
    static func classify(_ error: Error) -> Error {
        if let axis = error as? AxisError, axis.code == .storageFull { return TransientStorageFailure(cause: axis) }
        return error
    }
}

/// A value guarded by its own lock, for state one thread writes and others read.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func read<R>(_ body: (Value) -> R) -> R { lock.withLock { body(value) } }
    public func update<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}
