import Dispatch

/// One item handed to a recipient: the document (or status message) and the lease it now holds.
public struct InboxItem: Sendable {
    public let document: QueueState.Document
    public let recipient: AgencyCode
    public let leaseUntil: Timestamp
}

/// The pull side of delivery: recipients' systems list what waits for their agencies, and every item
/// listed is leased to them (a journal record) until acknowledged, released, or the lease runs out —
/// then it is ready again, with no record needed, because readiness is computed from the lease's end.
///
/// Long polls: a `take` that finds nothing waits (up to its limit) and is answered as soon as
/// something arrives for one of its agencies (the core reports every durable batch) or a lease
/// expires (a quarter-second tick). Items being leased are claimed under the inbox's lock, so two
/// concurrent polls never lease the same item.
public final class Inbox: @unchecked Sendable {
    public let core: AxisCore
    public let leaseMillis: Int64
    private let lock = ConditionLock()
    /// Deliveries whose lease record is being journaled.
    private var leasing = Set<QueueState.DeliveryKey>()
    private var waiters: [Waiter] = []
    private var nextWaiterID = 0
    private let queue = DispatchQueue(label: "axis.inbox")
    private var timer: DispatchSourceTimer?

    private struct Waiter {
        let id: Int
        let agencies: [AgencyCode]
        let limit: Int
        let deadline: Timestamp
        let isAbandoned: @Sendable () -> Bool
        let completion: @Sendable (Result<[InboxItem], AxisError>) -> Void
    }

    public init(core: AxisCore, leaseMillis: Int64) {
        self.core = core
        self.leaseMillis = leaseMillis
        core.observe { [weak self] records in
            guard let self else { return }
            let relevant = records.contains { record in
                switch record {
                case .documentAccepted, .deliveryReleased, .deliveryControl, .deliveryFailed: return true
                default: return false
                }
            }
            if relevant { self.queue.async { self.serviceWaiters() } }
        }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250))
        timer.setEventHandler { [weak self] in self?.serviceWaiters() }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    /// Stops the tick and answers every waiting poll with an empty list (shutdown).
    public func close() {
        timer?.cancel()
        let pending = lock.withLock { () -> [Waiter] in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in pending { waiter.completion(.success([])) }
    }

    /// Leases up to `limit` ready items of `agencies`, oldest first; waits up to `waitMillis` when
    /// there are none. `completion` runs once, on another thread.
    /// `isAbandoned` says the caller went away: a waiting poll is then dropped without leasing.
    public func take(agencies: [AgencyCode], limit: Int, waitMillis: Int64, isAbandoned: @escaping @Sendable () -> Bool = { false },
                     completion: @escaping @Sendable (Result<[InboxItem], AxisError>) -> Void) {
        let claimed = claim(agencies: agencies, limit: limit)
        if !claimed.isEmpty || waitMillis <= 0 { return lease(claimed, completion: completion) }
        let deadline = Timestamp(millis: core.clock.now().millis + waitMillis)
        lock.withLock {
            nextWaiterID += 1
            waiters.append(Waiter(id: nextWaiterID, agencies: agencies, limit: limit, deadline: deadline,
                                  isAbandoned: isAbandoned, completion: completion))
        }
        // Something may have arrived between the claim and the registration.
        queue.async { self.serviceWaiters() }
    }

    /// Number of polls waiting (tests and metrics).
    public var waitingCount: Int { lock.withLock { waiters.count } }

    // MARK: Internals

    /// Picks ready deliveries of `agencies` that no other poll is leasing, oldest first, and marks them.
    private func claim(agencies: [AgencyCode], limit: Int) -> [QueueState.DeliveryKey] {
        let now = core.clock.now()
        return lock.withLock {
            let candidates = core.withState { state -> [(UInt64, QueueState.DeliveryKey)] in
                var found: [(UInt64, QueueState.DeliveryKey)] = []
                for agency in agencies {
                    // Ask for more than `limit`: some may be claimed by a concurrent poll.
                    for id in state.ready(for: agency, at: now, limit: limit + leasing.count) {
                        found.append((state.documents[id]?.sequence ?? 0, QueueState.DeliveryKey(document: id, recipient: agency)))
                    }
                }
                return found
            }
            let picked = candidates.filter { !leasing.contains($0.1) }.sorted { $0.0 < $1.0 }.prefix(limit).map(\.1)
            leasing.formUnion(picked)
            return picked
        }
    }

    private func lease(_ keys: [QueueState.DeliveryKey], completion: @escaping @Sendable (Result<[InboxItem], AxisError>) -> Void) {
        guard !keys.isEmpty else { return completion(.success([])) }
        let now = core.clock.now()
        let until = Timestamp(millis: now.millis + leaseMillis)
        let records = keys.map { key in
            JournalRecord.deliveryLeased(DeliveryLeased(document: key.document, recipient: key.recipient, at: now, until: until,
                                                        actor: .agency(key.recipient)))
        }
        core.record(records) { [self] result in
            lock.withLock { leasing.subtract(keys) }
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success:
                let items = core.withState { state in
                    keys.compactMap { key in
                        state.documents[key.document].map { InboxItem(document: $0, recipient: key.recipient, leaseUntil: until) }
                    }
                }
                completion(.success(items))
            }
        }
    }

    /// Answers every waiting poll that now has items, and every one whose wait is over.
    private func serviceWaiters() {
        let now = core.clock.now()
        let current = lock.withLock { waiters }
        for waiter in current {
            if waiter.isAbandoned() {
                let removed = lock.withLock { () -> Bool in
                    let before = waiters.count
                    waiters.removeAll { $0.id == waiter.id }
                    return waiters.count < before
                }
                // Answered empty (the reply goes nowhere), so every `take` completes exactly once.
                if removed { waiter.completion(.success([])) }
                continue
            }
            let claimed = claim(agencies: waiter.agencies, limit: waiter.limit)
            let expired = waiter.deadline <= now
            guard !claimed.isEmpty || expired else { continue }
            let removed = lock.withLock { () -> Bool in
                guard let index = waiters.firstIndex(where: { $0.id == waiter.id }) else { return false }
                waiters.remove(at: index)
                return true
            }
            if removed {
                lease(claimed, completion: waiter.completion)
            } else {
                lock.withLock { leasing.subtract(claimed) }
            }
        }
    }
}
