/// The decisions of push delivery, as a pure state machine: given the queue state (folded from the
/// journal), what this process already has under way, and the time, it says which deliveries to
/// attempt now, which to expire, which stale attempts to release, and when to look again.
///
/// It performs no I/O and reads no clock: `PushDelivery` feeds it `now` and carries out its plans,
/// and tests drive it through hours of retries in microseconds.
///
/// Rules, per recipient agency that has a push endpoint and is enabled:
/// - Items are considered oldest first (acceptance order).
/// - `queued`, and `deferred`/`leased` whose time has come, are due; at most
///   `perRecipientConcurrency` attempts per recipient run at once, so a slow or dead endpoint only
///   ever holds its own slots and never delays another recipient.
/// - An item whose lifetime is over expires (unless an administrator holds it: held items wait for
///   the administrator's decision).
/// - `in-flight` in the journal but not under way here means the process that started the attempt
///   died: the item is released (a journal fact), then attempted again.
/// - At most `totalConcurrency` attempts run in the whole process, shared round-robin.
/// - Status messages and delivery events are pushed like documents.
public struct PushScheduler: Sendable {
    public struct Attempt: Equatable, Sendable {
        public var key: QueueState.DeliveryKey
        /// 1 for the first attempt.
        public var number: UInt32
        public var endpoint: String
    }

    public struct Plan: Equatable, Sendable {
        public var attempts: [Attempt] = []
        public var expire: [QueueState.DeliveryKey] = []
        public var release: [QueueState.DeliveryKey] = []
        /// The earliest future moment something becomes due or expires; nil when nothing waits.
        public var wakeAt: Timestamp?

        public var isEmpty: Bool { attempts.isEmpty && expire.isEmpty && release.isEmpty }
    }

    public let policy: RetryPolicy
    /// Deliveries with an action under way in this process (an attempt, an expiry or a release being
    /// journaled), so no plan hands them out twice.
    public private(set) var busy: Set<QueueState.DeliveryKey> = []
    /// Attempts under way per recipient (what the concurrency limit counts).
    public private(set) var attempting: [AgencyCode: Int] = [:]
    /// The recipient that got the last shared slot: the next round-robin starts after it.
    private var lastServed: AgencyCode?

    public init(policy: RetryPolicy) { self.policy = policy }

    /// Decides what to do at `now`, and marks everything it hands out as busy until `finished`.
    public mutating func plan(_ state: QueueState, now: Timestamp) -> Plan {
        var plan = Plan()
        func wake(at moment: Timestamp) {
            if moment > now, plan.wakeAt.map({ moment < $0 }) ?? true { plan.wakeAt = moment }
        }
        // Due items per recipient (at most its free slots), then shared out below.
        var due: [[Attempt]] = []
        for agency in state.agencies.values.sorted(by: { $0.code.rawValue < $1.code.rawValue })
        where agency.enabled && !agency.endpoint.isEmpty {
            guard let queue = state.open[agency.code] else { continue }
            let slots = policy.perRecipientConcurrency - attempting[agency.code, default: 0]
            var mine: [Attempt] = []
            var planned = Set<DocumentID>()
            for id in queue {
                let key = QueueState.DeliveryKey(document: id, recipient: agency.code)
                guard !busy.contains(key), !planned.contains(id), let delivery = state.deliveries[key],
                      let document = state.documents[id] else { continue }
                switch delivery.state {
                case .held:
                    continue
                case .inFlight:
                    // Not ours (ours are busy): left by a process that stopped mid-attempt, or an outcome
                    // that could not be recorded. axisd releases all of these at start; this catches the rest.
                    plan.release.append(key)
                    busy.insert(key)
                    continue
                default:
                    break
                }
                let expiry = policy.expiry(acceptedAt: document.accepted.acceptedAt)
                if expiry <= now {
                    plan.expire.append(key)
                    busy.insert(key)
                    continue
                }
                wake(at: expiry)
                // With every slot taken, nothing further can start now, and the queue is in acceptance
                // order, so no later item expires before this one: the walk can stop here.
                if mine.count >= slots { break }
                switch delivery.state {
                case .deferred(let until), .leased(let until):
                    guard until <= now else {
                        wake(at: until)
                        continue
                    }
                case .queued:
                    break
                default:
                    continue
                }
                mine.append(Attempt(key: key, number: delivery.attempts + 1, endpoint: agency.endpoint))
                planned.insert(id)
            }
            if !mine.isEmpty { due.append(mine) }
        }
        // The process-wide limit is shared round-robin, one per recipient per round, starting after
        // the recipient served last (in code order, wrapping), so freed slots go round every recipient.
        var free = policy.totalConcurrency - attempting.values.reduce(0, +)
        if let last = lastServed, let start = due.firstIndex(where: { $0[0].key.recipient.rawValue > last.rawValue }) {
            due = Array(due[start...] + due[..<start])
        }
        var round = 0
        while free > 0 {
            var picked = false
            for list in due where round < list.count && free > 0 {
                let attempt = list[round]
                plan.attempts.append(attempt)
                busy.insert(attempt.key)
                attempting[attempt.key.recipient, default: 0] += 1
                lastServed = attempt.key.recipient
                free -= 1
                picked = true
            }
            guard picked else { break }
            round += 1
        }
        return plan
    }

    /// The action on `key` is over (its outcome journaled, or given up): it may be planned again.
    public mutating func finished(_ key: QueueState.DeliveryKey, wasAttempt: Bool) {
        guard busy.remove(key) != nil, wasAttempt else { return }
        releaseSlot(key.recipient)
    }

    /// An attempt ended but its outcome could not be journaled (the journal or payload store failed):
    /// its slot is freed, but the delivery stays busy until the process restarts, so it is not sent
    /// again and again while the disk is failing. (At the next start it is released and tried again.)
    public mutating func parked(_ key: QueueState.DeliveryKey) {
        guard busy.contains(key) else { return }
        releaseSlot(key.recipient)
    }

    private mutating func releaseSlot(_ recipient: AgencyCode) {
        attempting[recipient, default: 1] -= 1
        if attempting[recipient] == 0 { attempting[recipient] = nil }
    }
}
