/// What administrators select and change in the queues: pure functions of the queue state, so the
/// admin socket, `--dry-run` and the tests all see the same answers.

/// A filter over deliveries (`axisctl queue list` and the targets of actions).
public struct QueueFilter: Sendable, Equatable {
    /// State names (`queued`, `deferred`, …); empty = every state not final.
    public var states: Set<String> = []
    public var recipient: AgencyCode?
    public var sender: AgencyCode?
    /// Only deliveries of documents accepted at least this long before `now`.
    public var olderThanMillis: Int64?
    public var limit = 1000

    public init() {}

    public static let stateNames = ["queued", "leased", "in-flight", "deferred", "held", "delivered", "acknowledged", "expired", "deleted"]
}

/// One delivery as the admin sees it.
public struct QueueEntry: Sendable, Equatable {
    public var key: QueueState.DeliveryKey
    public var document: DocumentAccepted
    public var sequence: UInt64
    public var delivery: QueueState.Delivery
}

public enum QueueSelection {
    /// Deliveries matching `filter`, oldest document first, at most `filter.limit`; the second value
    /// says whether more matched.
    public static func list(_ state: QueueState, _ filter: QueueFilter, now: Timestamp) -> (entries: [QueueEntry], truncated: Bool) {
        var found: [QueueEntry] = []
        let cutoff = filter.olderThanMillis.map { now.millis - $0 }
        // Not-final deliveries are indexed per recipient; final ones only live in `deliveries`.
        let wantsFinal = filter.states.contains { ["delivered", "acknowledged", "expired", "deleted"].contains($0) }
        func consider(_ key: QueueState.DeliveryKey, _ delivery: QueueState.Delivery) {
            guard let document = state.documents[key.document] else { return }
            if !filter.states.isEmpty && !filter.states.contains(delivery.state.name) { return }
            if filter.states.isEmpty && delivery.state.isTerminal { return }
            if let sender = filter.sender, document.accepted.sender != sender { return }
            if let cutoff, document.accepted.acceptedAt.millis > cutoff { return }
            found.append(QueueEntry(key: key, document: document.accepted, sequence: document.sequence, delivery: delivery))
        }
        if wantsFinal {
            for (key, delivery) in state.deliveries where filter.recipient.map({ $0 == key.recipient }) ?? true { consider(key, delivery) }
        } else {
            let recipients = filter.recipient.map { [$0] } ?? Array(state.open.keys)
            for recipient in recipients {
                for id in state.open[recipient] ?? RecipientQueue() {
                    let key = QueueState.DeliveryKey(document: id, recipient: recipient)
                    if let delivery = state.deliveries[key] { consider(key, delivery) }
                }
            }
        }
        found.sort { ($0.sequence, $0.key.recipient.rawValue) < ($1.sequence, $1.key.recipient.rawValue) }
        let truncated = found.count > filter.limit
        return (Array(found.prefix(filter.limit)), truncated)
    }

    /// Upper bounds (minutes) of the age columns of `shape`, like Postfix's qshape; a last column
    /// takes everything older.
    public static let shapeBucketsMinutes: [Int64] = [5, 10, 20, 40, 80, 160, 320, 640, 1280]

    /// What waits, by recipient and age of the document: one row per recipient with a count per age
    /// bucket (plus one for older than the last bound), most waiting first. A blocked destination
    /// stands out as the row whose counts pile up on the right.
    public static func shape(_ state: QueueState, now: Timestamp, states: Set<String> = []) -> [(recipient: AgencyCode, counts: [Int])] {
        var rows: [AgencyCode: [Int]] = [:]
        for (recipient, queue) in state.open {
            for id in queue {
                guard let delivery = state.deliveries[QueueState.DeliveryKey(document: id, recipient: recipient)],
                      states.isEmpty || states.contains(delivery.state.name),
                      let document = state.documents[id] else { continue }
                let minutes = max(0, now.millis - document.accepted.acceptedAt.millis) / 60_000
                let bucket = shapeBucketsMinutes.firstIndex { minutes < $0 } ?? shapeBucketsMinutes.count
                rows[recipient, default: Array(repeating: 0, count: shapeBucketsMinutes.count + 1)][bucket] += 1
            }
        }
        return rows.map { ($0.key, $0.value) }.sorted {
            let (a, b) = ($0.counts.reduce(0, +), $1.counts.reduce(0, +))
            return a != b ? a > b : $0.recipient.rawValue < $1.recipient.rawValue
        }
    }

    /// The targets of an action: named documents (every recipient, or only `recipient`), or every
    /// delivery of `recipient`, or every delivery at all.
    public enum Targets: Sendable, Equatable {
        case documents([DocumentID], recipient: AgencyCode?)
        case recipient(AgencyCode)
        case all
    }

    public struct Change: Sendable, Equatable {
        public var key: QueueState.DeliveryKey
        public var from: QueueState.DeliveryState
        public var to: QueueState.DeliveryState
    }

    public struct Skip: Sendable, Equatable {
        public var document: DocumentID
        public var recipient: AgencyCode?
        public var why: String
    }

    /// What `action` would do to `targets`: the changes, and every target it would leave alone with why.
    public static func plan(_ action: DeliveryControl.Action, _ targets: Targets, in state: QueueState,
                            at now: Timestamp) -> (changes: [Change], skipped: [Skip]) {
        var changes: [Change] = [], skipped: [Skip] = []
        func consider(_ key: QueueState.DeliveryKey) {
            guard let delivery = state.deliveries[key] else {
                return skipped.append(Skip(document: key.document, recipient: key.recipient,
                                           why: "\(key.recipient) is not a recipient of \(key.document)"))
            }
            if action.applies(to: delivery.state) {
                changes.append(Change(key: key, from: delivery.state, to: action.result(at: now)))
            } else {
                skipped.append(Skip(document: key.document, recipient: key.recipient,
                                    why: "\(action) does not apply to a delivery that is \(delivery.state.name)"))
            }
        }
        switch targets {
        case .documents(let ids, let recipient):
            for id in ids {
                guard let document = state.documents[id] else {
                    skipped.append(Skip(document: id, recipient: recipient, why: "no document \(id) in the journal"))
                    continue
                }
                for to in recipient.map({ [$0] }) ?? document.accepted.recipients {
                    consider(QueueState.DeliveryKey(document: id, recipient: to))
                }
            }
        case .recipient(let code):
            // The recipient's open deliveries, already in queue order.
            for id in state.open[code] ?? RecipientQueue() { consider(QueueState.DeliveryKey(document: id, recipient: code)) }
        case .all:
            for (recipient, queue) in state.open.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                for id in queue { consider(QueueState.DeliveryKey(document: id, recipient: recipient)) }
            }
        }
        return (changes, skipped)
    }
}
