/// The queues, inboxes and indexes, derived purely by folding journal records in sequence order.
///
/// Nothing else changes this state: the daemon applies each record after it is durable, and on start
/// replay applies the same records again, so the state after a restart is exactly the state before
/// it (tested). `apply` never fails on a well-formed record: records are facts already accepted; a
/// record that does not fit the state (which only a bug could write) is counted in `anomalies` and
/// changes nothing.
public struct QueueState: Equatable, Sendable {
    /// Per (document, recipient) delivery state.
    public enum DeliveryState: Equatable, Sendable {
        case queued
        case leased(until: Timestamp)
        /// A push attempt is under way (`since`). After a restart such an item is due again.
        case inFlight(since: Timestamp)
        case deferred(until: Timestamp)
        case held
        case delivered(at: Timestamp)
        case acknowledged(at: Timestamp)
        case expired(at: Timestamp)
        case deleted(at: Timestamp)

        public var isTerminal: Bool {
            switch self {
            case .delivered, .acknowledged, .expired, .deleted: return true
            default: return false
            }
        }

        public var name: String {
            switch self {
            case .queued: return "queued"
            case .leased: return "leased"
            case .inFlight: return "in-flight"
            case .deferred: return "deferred"
            case .held: return "held"
            case .delivered: return "delivered"
            case .acknowledged: return "acknowledged"
            case .expired: return "expired"
            case .deleted: return "deleted"
            }
        }
    }

    public struct DeliveryKey: Hashable, Sendable {
        public var document: DocumentID
        public var recipient: AgencyCode
        public init(document: DocumentID, recipient: AgencyCode) {
            self.document = document
            self.recipient = recipient
        }
    }

    public struct Delivery: Equatable, Sendable {
        public var state: DeliveryState = .queued
        public var attempts: UInt32 = 0
        public var lastError: String = ""
        /// The latest processing status the recipient reported (edXML code), empty if none.
        public var lastStatus: String = ""
        public var receipt: PayloadRef?
    }

    public struct Document: Equatable, Sendable {
        public var accepted: DocumentAccepted
        /// Journal sequence of the accepting record: the queue order.
        public var sequence: UInt64
        public var receipt: PayloadRef?
    }

    public struct SenderKey: Hashable, Sendable {
        public var sender: AgencyCode
        public var senderDocumentID: String
    }

    public private(set) var documents: [DocumentID: Document] = [:]
    public private(set) var bySenderDocument: [SenderKey: DocumentID] = [:]
    public private(set) var deliveries: [DeliveryKey: Delivery] = [:]
    /// Deliveries not yet in a terminal state, per recipient.
    public private(set) var open: [AgencyCode: Set<DocumentID>] = [:]
    public private(set) var agencies: [AgencyCode: AgencyEntry] = [:]
    public private(set) var systems: [SystemID: SystemEntry] = [:]
    public private(set) var lastSequence: UInt64 = 0
    public private(set) var anomalies: Int = 0

    public init() {}

    /// Decodes and applies one journal entry.
    public mutating func apply(_ entry: JournalEntry) throws {
        apply(try JournalRecord.decode(kind: entry.kind, body: entry.body), sequence: entry.sequence)
    }

    public mutating func apply(_ record: JournalRecord, sequence: UInt64) {
        lastSequence = sequence
        switch record {
        case .documentAccepted(let r):
            guard documents[r.id] == nil else { anomalies += 1; return }
            documents[r.id] = Document(accepted: r, sequence: sequence)
            bySenderDocument[SenderKey(sender: r.sender, senderDocumentID: r.senderDocumentID)] = r.id
            for recipient in r.recipients {
                deliveries[DeliveryKey(document: r.id, recipient: recipient)] = Delivery()
                open[recipient, default: []].insert(r.id)
            }
        case .deliveryLeased(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal && $0 != .held }) { $0.state = .leased(until: r.until) }
        case .deliveryAttempted(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal && $0 != .held }) {
                $0.state = .inFlight(since: r.at)
                $0.attempts = max($0.attempts, r.attempt)
            }
        case .deliveryFailed(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal }) {
                if $0.state != .held { $0.state = .deferred(until: r.retryAt) }
                $0.attempts = max($0.attempts, r.attempt)
                $0.lastError = r.reason
            }
        case .deliveryReleased(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal }) {
                if $0.state != .held { $0.state = .queued }
            }
        case .deliveryDelivered(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal }) { $0.state = .delivered(at: r.at) }
        case .deliveryAcknowledged(let r):
            update(r.document, r.recipient, allowed: {
                if case .delivered = $0 { return true }
                return !$0.isTerminal
            }) {
                $0.state = .acknowledged(at: r.at)
                $0.receipt = r.receipt
            }
        case .recipientStatus(let r):
            update(r.document, r.recipient, allowed: { _ in true }) { $0.lastStatus = r.code }
        case .deliveryControl(let r):
            let recipients = r.recipient.map { [$0] } ?? documents[r.document]?.accepted.recipients ?? []
            if recipients.isEmpty { anomalies += 1 }
            for recipient in recipients { control(r, recipient) }
        case .agencyChanged(let r):
            agencies[r.agency.code] = r.agency
        case .systemChanged(let r):
            systems[r.system.id] = r.system
        case .receiptIssued(let r):
            if documents[r.document] != nil { documents[r.document]?.receipt = r.receipt } else { anomalies += 1 }
        case .checkpoint, .salvage, .opaque:
            break
        }
    }

    private mutating func control(_ r: DeliveryControl, _ recipient: AgencyCode) {
        switch r.action {
        case .hold:
            update(r.document, recipient, allowed: { !$0.isTerminal }) { $0.state = .held }
        case .release:
            update(r.document, recipient, allowed: { $0 == .held }) { $0.state = .queued }
        case .retry:
            update(r.document, recipient, allowed: { if case .deferred = $0 { return true }; return false }) {
                $0.state = .queued
            }
        case .delete:
            update(r.document, recipient, allowed: { !$0.isTerminal }) { $0.state = .deleted(at: r.at) }
        case .expire:
            update(r.document, recipient, allowed: { !$0.isTerminal }) { $0.state = .expired(at: r.at) }
        }
    }

    private mutating func update(_ document: DocumentID, _ recipient: AgencyCode,
                                 allowed: (DeliveryState) -> Bool, _ change: (inout Delivery) -> Void) {
        let key = DeliveryKey(document: document, recipient: recipient)
        guard var delivery = deliveries[key], allowed(delivery.state) else {
            anomalies += 1
            return
        }
        change(&delivery)
        deliveries[key] = delivery
        if delivery.state.isTerminal {
            open[recipient]?.remove(document)
            if open[recipient]?.isEmpty == true { open[recipient] = nil }
        }
    }

    // MARK: - Queries

    public func delivery(_ document: DocumentID, _ recipient: AgencyCode) -> Delivery? {
        deliveries[DeliveryKey(document: document, recipient: recipient)]
    }

    public func document(sender: AgencyCode, senderDocumentID: String) -> Document? {
        bySenderDocument[SenderKey(sender: sender, senderDocumentID: senderDocumentID)].flatMap { documents[$0] }
    }

    /// Whether a delivery in `state` may be handed out at `now`.
    public static func isReady(_ state: DeliveryState, at now: Timestamp) -> Bool {
        switch state {
        case .queued: return true
        // In flight is not ready: after a restart axisd records a release for each in-flight item
        // (the attempt died with the process), so the change of state is a journal fact.
        case .leased(let until), .deferred(let until): return until <= now
        default: return false
        }
    }

    /// What waits for `recipient` and may be handed out at `now`, oldest first, at most `limit`.
    public func ready(for recipient: AgencyCode, at now: Timestamp, limit: Int = .max) -> [DocumentID] {
        guard let ids = open[recipient] else { return [] }
        let ready = ids.filter { id in
            deliveries[DeliveryKey(document: id, recipient: recipient)].map { Self.isReady($0.state, at: now) } ?? false
        }
        return ready.sorted { (documents[$0]?.sequence ?? 0) < (documents[$1]?.sequence ?? 0) }.prefix(limit).map { $0 }
    }

    /// How many deliveries are in each state, by state name.
    public func countsByState() -> [String: Int] {
        var counts: [String: Int] = [:]
        for d in deliveries.values { counts[d.state.name, default: 0] += 1 }
        return counts
    }
}
