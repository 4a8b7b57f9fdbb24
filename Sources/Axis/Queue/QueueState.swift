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
        /// The journal's chain hash after the accepting record (what the receipt signs).
        public var chain: Digest256
        public var receipt: PayloadRef?
        /// Everything that happened to the document, oldest first: the trace the API and axisctl show.
        public var events: [TraceEvent]
    }

    /// One line of a document's trace: what happened, to which recipient, when, by whom, and why.
    public struct TraceEvent: Equatable, Sendable {
        public var sequence: UInt64
        public var at: Timestamp
        /// `accepted`, `receipt-issued`, `leased`, `push-attempted`, `push-failed`, `released`, `delivered`,
        /// `acknowledged`, `status`, `hold`, `release`, `retry`, `delete`, `expire`, `referenced`.
        public var event: String
        public var recipient: AgencyCode?
        public var actor: Actor
        public var detail: String
    }

    public struct SenderKey: Hashable, Sendable {
        public var sender: AgencyCode
        public var senderDocumentID: String
    }

    public private(set) var documents: [DocumentID: Document] = [:]
    public private(set) var bySenderDocument: [SenderKey: DocumentID] = [:]
    public private(set) var deliveries: [DeliveryKey: Delivery] = [:]
    /// Deliveries not yet in a terminal state, per recipient, in acceptance order.
    public private(set) var open: [AgencyCode: RecipientQueue] = [:]
    public private(set) var agencies: [AgencyCode: AgencyEntry] = [:]
    public private(set) var systems: [SystemID: SystemEntry] = [:]
    /// Enabled systems by the SHA-256 of their TLS client certificates.
    public private(set) var systemsByFingerprint: [Digest256: SystemID] = [:]
    /// Enabled systems by their VDXP `systemid` (the VDXP API's authentication).
    public private(set) var systemsByVdxpID: [String: SystemID] = [:]
    /// edXML documents by their MessageHeader/DocumentId, oldest first: how a revocation, update or
    /// status that names a DocumentId finds the document(s) it is about.
    public private(set) var edxmlDocuments: [String: [DocumentID]] = [:]
    /// How many deliveries are in each state (by `DeliveryState.name`), kept as records are folded
    /// so metrics and status read it without walking every delivery.
    public private(set) var stateCounts: [String: Int] = [:]
    public private(set) var lastSequence: UInt64 = 0
    public private(set) var anomalies: Int = 0
    /// The latest compaction: what retention removed, so a later record about a removed document is
    /// expected rather than an anomaly, and `axisctl status` can say where history starts.
    public private(set) var lastCompaction: CompactionNote?
    /// The sequence of the record that set each agency's and system's current entry: compaction
    /// carries forward the entries whose record it removes.
    public private(set) var agencyRecordSequence: [AgencyCode: UInt64] = [:]
    public private(set) var systemRecordSequence: [SystemID: UInt64] = [:]

    public init() {}

    /// Decodes and applies one journal entry.
    public mutating func apply(_ entry: JournalEntry) throws {
        apply(try JournalRecord.decode(kind: entry.kind, body: entry.body), sequence: entry.sequence, chain: entry.chain)
    }

    /// `chain` is the journal's chain hash after this record (kept for accepted documents).
    public mutating func apply(_ record: JournalRecord, sequence: UInt64, chain: Digest256 = .zero) {
        lastSequence = sequence
        switch record {
        case .documentAccepted(let r):
            guard documents[r.id] == nil else { anomalies += 1; return }
            let how: String
            switch r.messageType {
            case .document: how = "document"
            case .status: how = "status \(r.statusCode) message"
            case .event: how = "delivery event '\(r.statusCode)'"
            }
            documents[r.id] = Document(accepted: r, sequence: sequence, chain: chain, receipt: nil, events: [
                TraceEvent(sequence: sequence, at: r.acceptedAt, event: "accepted", recipient: nil, actor: .agency(r.sender),
                           detail: "\(how) from \(r.sender) to \(r.recipients.map(\.rawValue).joined(separator: ",")), "
                               + "\(r.payload.length) bytes, sha256 \(r.payload.sha256.hex)"
                               + (r.signerSubject.isEmpty ? "" : ", signed by \(r.signerSubject)")
                               + (r.edxml.map(Self.edxmlDetail) ?? "")),
            ])
            bySenderDocument[SenderKey(sender: r.sender, senderDocumentID: r.senderDocumentID)] = r.id
            for recipient in r.recipients where deliveries[DeliveryKey(document: r.id, recipient: recipient)] == nil {
                deliveries[DeliveryKey(document: r.id, recipient: recipient)] = Delivery()
                stateCounts[DeliveryState.queued.name, default: 0] += 1
                open[recipient, default: RecipientQueue()].append(r.id)
            }
            if r.messageType == .document, let edxmlID = r.edxml?.documentID, !edxmlID.isEmpty {
                edxmlDocuments[edxmlID, default: []].append(r.id)
            }
            // The documents this one revokes, updates, replaces or answers show it on their trace.
            // A recipient's status message is traced by its own `recipientStatus` record; a status
            // from the document's own sender (edXML 13: it takes the document back) is traced here.
            for earlier in r.refersTo {
                guard let original = documents[earlier]?.accepted else { continue }
                switch r.messageType {
                case .document:
                    trace(earlier, sequence, r.acceptedAt, "referenced", nil, .agency(r.sender), "\(r.businessType) by document \(r.id)")
                case .status where original.sender == r.sender:
                    trace(earlier, sequence, r.acceptedAt, "status", r.recipients.first, .agency(r.sender),
                          "\(r.statusCode)" + (r.subject.isEmpty ? "" : " \(r.subject)") + " (status message \(r.id) from the sender)")
                case .status, .event:
                    break
                }
            }
        case .deliveryLeased(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal && $0 != .held }) { $0.state = .leased(until: r.until) }
            trace(r.document, sequence, r.at, "leased", r.recipient, r.actor, "until \(r.until)")
        case .deliveryAttempted(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal && $0 != .held }) {
                $0.state = .inFlight(since: r.at)
                $0.attempts = max($0.attempts, r.attempt)
            }
            trace(r.document, sequence, r.at, "push-attempted", r.recipient, .system, "attempt \(r.attempt) to \(r.endpoint)")
        case .deliveryFailed(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal }) {
                if $0.state != .held { $0.state = .deferred(until: r.retryAt) }
                $0.attempts = max($0.attempts, r.attempt)
                $0.lastError = r.reason
            }
            trace(r.document, sequence, r.at, "push-failed", r.recipient, .system, "attempt \(r.attempt): \(r.reason); retry at \(r.retryAt)")
        case .deliveryReleased(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal }) {
                if $0.state != .held { $0.state = .queued }
            }
            trace(r.document, sequence, r.at, "released", r.recipient, r.actor, r.reason)
        case .deliveryDelivered(let r):
            update(r.document, r.recipient, allowed: { !$0.isTerminal }) { $0.state = .delivered(at: r.at) }
            trace(r.document, sequence, r.at, "delivered", r.recipient, .system, "pushed to \(r.endpoint)")
        case .deliveryAcknowledged(let r):
            update(r.document, r.recipient, allowed: {
                if case .delivered = $0 { return true }
                return !$0.isTerminal
            }) {
                $0.state = .acknowledged(at: r.at)
                $0.receipt = r.receipt
            }
            trace(r.document, sequence, r.at, "acknowledged", r.recipient, r.actor,
                  r.receipt == nil ? "no recipient receipt" : "with the recipient's signed receipt")
        case .recipientStatus(let r):
            update(r.document, r.recipient, allowed: { _ in true }) { $0.lastStatus = r.code }
            trace(r.document, sequence, r.at, "status", r.recipient, .agency(r.recipient),
                  "\(r.code)" + (r.description.isEmpty ? "" : " \(r.description)"))
        case .deliveryControl(let r):
            let recipients = r.recipient.map { [$0] } ?? documents[r.document]?.accepted.recipients ?? []
            if recipients.isEmpty { anomalies += 1 }
            for recipient in recipients { control(r, recipient) }
            trace(r.document, sequence, r.at, r.action.description, r.recipient, r.actor, r.reason)
        case .agencyChanged(let r):
            agencies[r.agency.code] = r.agency
            agencyRecordSequence[r.agency.code] = sequence
        case .systemChanged(let r):
            if let old = systems[r.system.id] {
                for fingerprint in old.tlsFingerprints where systemsByFingerprint[fingerprint] == old.id {
                    systemsByFingerprint[fingerprint] = nil
                }
            }
            if let old = systems[r.system.id], systemsByVdxpID[old.vdxpSystemID] == old.id { systemsByVdxpID[old.vdxpSystemID] = nil }
            systems[r.system.id] = r.system
            systemRecordSequence[r.system.id] = sequence
            if r.system.enabled {
                for fingerprint in r.system.tlsFingerprints { systemsByFingerprint[fingerprint] = r.system.id }
                if !r.system.vdxpSystemID.isEmpty { systemsByVdxpID[r.system.vdxpSystemID] = r.system.id }
            }
        case .receiptIssued(let r):
            if documents[r.document] != nil { documents[r.document]?.receipt = r.receipt } else if !wasCompacted(r.document) { anomalies += 1 }
            trace(r.document, sequence, r.at, "receipt-issued", nil, .system, "the axis signed its acceptance receipt")
        case .compaction(let note):
            removeDocuments(acceptedBefore: note.firstKept)
            lastCompaction = note
        case .checkpoint, .salvage, .opaque:
            break
        }
    }

    /// How an edXML message's header facts read on its trace.
    static func edxmlDetail(_ e: EdxmlSummary) -> String {
        ", edXML" + (e.documentID.isEmpty ? "" : " DocumentId \(e.documentID),")
            + " enveloped Signature " + (e.signaturePresent ? "present (XMLDSig not verified by the axis)" : "absent")
    }

    /// Forgets the documents whose accepting record compaction removed (all terminal: the planner
    /// removes nothing else), so the live state equals a replay of what is left.
    private mutating func removeDocuments(acceptedBefore firstKept: UInt64) {
        for (id, document) in documents where document.sequence < firstKept {
            for recipient in document.accepted.recipients {
                let key = DeliveryKey(document: id, recipient: recipient)
                guard let delivery = deliveries.removeValue(forKey: key) else { continue }
                stateCounts[delivery.state.name, default: 0] -= 1
                if open[recipient]?.contains(id) == true {
                    open[recipient]?.remove(id)
                    if open[recipient]?.isEmpty == true { open[recipient] = nil }
                }
            }
            let sender = SenderKey(sender: document.accepted.sender, senderDocumentID: document.accepted.senderDocumentID)
            if bySenderDocument[sender] == id { bySenderDocument[sender] = nil }
            if let edxmlID = document.accepted.edxml?.documentID, var ids = edxmlDocuments[edxmlID] {
                ids.removeAll { $0 == id }
                edxmlDocuments[edxmlID] = ids.isEmpty ? nil : ids
            }
            documents[id] = nil
        }
    }

    /// True when `document` was removed by compaction (ids are time-ordered), not unknown.
    private func wasCompacted(_ document: DocumentID) -> Bool {
        guard let newest = lastCompaction?.newestRemovedDocument else { return false }
        return document <= newest
    }

    private mutating func trace(_ document: DocumentID, _ sequence: UInt64, _ at: Timestamp, _ event: String,
                                _ recipient: AgencyCode?, _ actor: Actor, _ detail: String) {
        documents[document]?.events.append(TraceEvent(sequence: sequence, at: at, event: event, recipient: recipient,
                                                      actor: actor, detail: detail))
    }

    private mutating func control(_ r: DeliveryControl, _ recipient: AgencyCode) {
        update(r.document, recipient, allowed: { r.action.applies(to: $0) }) { $0.state = r.action.result(at: r.at) }
    }

    private mutating func update(_ document: DocumentID, _ recipient: AgencyCode,
                                 allowed: (DeliveryState) -> Bool, _ change: (inout Delivery) -> Void) {
        let key = DeliveryKey(document: document, recipient: recipient)
        guard var delivery = deliveries[key], allowed(delivery.state) else {
            // A status or receipt may still arrive for a document retention removed: expected.
            if deliveries[key] != nil || !wasCompacted(document) { anomalies += 1 }
            return
        }
        let before = delivery.state.name
        change(&delivery)
        deliveries[key] = delivery
        let after = delivery.state.name
        if before != after {
            stateCounts[before, default: 0] -= 1
            stateCounts[after, default: 0] += 1
        }
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
    /// Walks the recipient's queue in order and stops at `limit`: a poll costs what it returns plus
    /// the items it skips (leased, deferred, held), not a sort of the whole queue.
    public func ready(for recipient: AgencyCode, at now: Timestamp, limit: Int = .max) -> [DocumentID] {
        guard let queue = open[recipient], limit > 0 else { return [] }
        var ready: [DocumentID] = []
        for id in queue {
            guard let delivery = deliveries[DeliveryKey(document: id, recipient: recipient)], Self.isReady(delivery.state, at: now) else {
                continue
            }
            ready.append(id)
            if ready.count == limit { break }
        }
        return ready
    }

    /// How many deliveries are in each state, by state name (states with none left out).
    public func countsByState() -> [String: Int] { stateCounts.filter { $0.value != 0 } }
}

/// The open deliveries of one recipient, in the order their documents were accepted (queue order).
///
/// Documents join at the end and leave from anywhere (acknowledged, expired, deleted). Leaving
/// only drops the id from `members`; the hole in `order` is skipped when iterating and swept out
/// once holes are the majority, so both are O(1) amortised and a walk is in queue order.
public struct RecipientQueue: Sequence, Equatable, Sendable {
    private var order: [DocumentID] = []
    private var members: Set<DocumentID> = []

    public init() {}

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public func contains(_ id: DocumentID) -> Bool { members.contains(id) }

    mutating func append(_ id: DocumentID) {
        if members.insert(id).inserted { order.append(id) }
    }

    mutating func remove(_ id: DocumentID) {
        guard members.remove(id) != nil else { return }
        let holes = order.count - members.count
        if holes > 64 && holes > members.count { order.removeAll { !members.contains($0) } }
    }

    public func makeIterator() -> AnyIterator<DocumentID> {
        var index = order.startIndex
        return AnyIterator { [order, members] in
            while index < order.endIndex {
                let id = order[index]
                index += 1
                if members.contains(id) { return id }
            }
            return nil
        }
    }

    /// Same members in the same order (holes not yet swept do not count).
    public static func == (a: RecipientQueue, b: RecipientQueue) -> Bool {
        a.members == b.members && a.elementsEqual(b)
    }
}

extension DeliveryControl.Action {
    /// Whether this action changes a delivery in `state` — the one rule the fold applies and the
    /// admin API's dry runs and refusals report. Hold anything not final; release what is held; retry
    /// what waits for its next attempt (it becomes due now); delete or expire anything not final.
    public func applies(to state: QueueState.DeliveryState) -> Bool {
        switch self {
        case .hold: return !state.isTerminal && state != .held
        case .release: return state == .held
        case .retry:
            if case .deferred = state { return true }
            return false
        case .delete, .expire: return !state.isTerminal
        }
    }

    /// The state a delivery is in after this action (when it applies).
    public func result(at time: Timestamp) -> QueueState.DeliveryState {
        switch self {
        case .hold: return .held
        case .release, .retry: return .queued
        case .delete: return .deleted(at: time)
        case .expire: return .expired(at: time)
        }
    }
}
