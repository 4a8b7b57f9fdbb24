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

        public var name: String { Self.names[ordinal] }

        /// Every state's name, by `ordinal`.
        static let names = ["queued", "leased", "in-flight", "deferred", "held", "delivered", "acknowledged", "expired", "deleted"]

        /// The state's place in `names` (the fold counts deliveries per state in an array by it).
        var ordinal: Int {
            switch self {
            case .queued: return 0
            case .leased: return 1
            case .inFlight: return 2
            case .deferred: return 3
            case .held: return 4
            case .delivered: return 5
            case .acknowledged: return 6
            case .expired: return 7
            case .deleted: return 8
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

    /// Per (document, recipient): 24 bytes inline. The rarely set notes (last error, last status,
    /// the recipient's receipt) live in a shared immutable box, so the deliveries that have none —
    /// nearly all of a large queue — pay 8 bytes for them (docs/PERFORMANCE.md, memory per document).
    public struct Delivery: Equatable, Sendable {
        public var state: DeliveryState = .queued
        public var attempts: UInt32 = 0
        private var notes: Notes?

        public var lastError: String {
            get { notes?.lastError ?? "" }
            set { notes = Notes.make(lastError: newValue, lastStatus: lastStatus, receipt: receipt) }
        }
        /// The latest processing status the recipient reported (edXML code), empty if none.
        public var lastStatus: String {
            get { notes?.lastStatus ?? "" }
            set { notes = Notes.make(lastError: lastError, lastStatus: newValue, receipt: receipt) }
        }
        public var receipt: PayloadRef? {
            get { notes?.receipt }
            set { notes = Notes.make(lastError: lastError, lastStatus: lastStatus, receipt: newValue) }
        }

        public static func == (a: Delivery, b: Delivery) -> Bool {
            a.state == b.state && a.attempts == b.attempts && a.lastError == b.lastError && a.lastStatus == b.lastStatus
                && a.receipt == b.receipt
        }

        /// Immutable: a change makes a new box, so copies of a `Delivery` never see each other's changes.
        private final class Notes: Sendable {
            let lastError: String
            let lastStatus: String
            let receipt: PayloadRef?

            private init(lastError: String, lastStatus: String, receipt: PayloadRef?) {
                (self.lastError, self.lastStatus, self.receipt) = (lastError, lastStatus, receipt)
            }

            static func make(lastError: String, lastStatus: String, receipt: PayloadRef?) -> Notes? {
                lastError.isEmpty && lastStatus.isEmpty && receipt == nil
                    ? nil : Notes(lastError: lastError, lastStatus: lastStatus, receipt: receipt)
            }
        }
    }

    /// An accepted document: its acceptance record, where it sits in the journal, its receipt and
    /// its trace. One pointer inline, so a dictionary of a million documents moves 8 bytes per entry
    /// when it grows, not the record; copy-on-write, so it is a value like the rest of the state.
    /// The two events every document has (accepted, receipt issued) are not kept as text but made
    /// when the trace is read: replay does not format a million strings nobody may ask for.
    public struct Document: Equatable, Sendable {
        public var accepted: DocumentAccepted { storage.accepted }
        /// Journal sequence of the accepting record: the queue order.
        public var sequence: UInt64 { storage.sequence }
        /// The journal's chain hash after the accepting record (what the receipt signs).
        public var chain: Digest256 { storage.chain }
        public var receipt: PayloadRef? { storage.receipt?.ref }

        /// Everything that happened to the document, oldest first: the trace the API and axisctl show.
        public var events: [TraceEvent] {
            var events = [TraceEvent(sequence: sequence, at: accepted.acceptedAt, event: "accepted", recipient: nil,
                                     actor: .agency(accepted.sender), detail: Self.acceptedDetail(accepted))]
            var later = storage.events
            if let receipt = storage.receipt {
                let event = TraceEvent(sequence: receipt.sequence, at: receipt.at, event: "receipt-issued", recipient: nil,
                                       actor: .system, detail: Self.receiptDetail)
                later.insert(event, at: later.firstIndex { $0.sequence > receipt.sequence } ?? later.endIndex)
            }
            events += later
            return events
        }

        private var storage: Storage

        init(accepted: DocumentAccepted, sequence: UInt64, chain: Digest256) {
            storage = Storage(accepted: accepted, sequence: sequence, chain: chain)
        }

        /// Records the axis's receipt. A second one (only a bug could journal it) replaces the
        /// first and shows on the trace where it happened, as every record does.
        mutating func issueReceipt(_ ref: PayloadRef, sequence: UInt64, at: Timestamp) {
            unique()
            if storage.receipt != nil {
                storage.events.append(TraceEvent(sequence: sequence, at: at, event: "receipt-issued", recipient: nil,
                                                 actor: .system, detail: Self.receiptDetail))
                storage.receipt?.ref = ref
            } else {
                storage.receipt = (ref, sequence, at)
            }
        }

        mutating func append(_ event: TraceEvent) {
            unique()
            storage.events.append(event)
        }

        public static func == (a: Document, b: Document) -> Bool {
            a.storage === b.storage
                || (a.accepted == b.accepted && a.sequence == b.sequence && a.chain == b.chain && a.receipt == b.receipt
                    && a.events == b.events)
        }

        static let receiptDetail = "the axis signed its acceptance receipt"

        static func acceptedDetail(_ r: DocumentAccepted) -> String {
            let how: String
            switch r.messageType {
            case .document: how = "document"
            case .status: how = "status \(r.statusCode) message"
            case .event: how = "delivery event '\(r.statusCode)'"
            }
            return "\(how) from \(r.sender) to \(r.recipients.map(\.rawValue).joined(separator: ",")), "
                + "\(r.payload.length) bytes, sha256 \(r.payload.sha256.hex)"
                + (r.signerSubject.isEmpty ? "" : ", signed by \(r.signerSubject)")
                + (r.edxml.map(QueueState.edxmlDetail) ?? "")
        }

        private mutating func unique() {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        }

        /// Changed only through `unique()`, that is when no other `Document` shares it: what makes
        /// the unchecked Sendable sound (the same rule as the standard library's own buffers).
        private final class Storage: @unchecked Sendable {
            let accepted: DocumentAccepted
            let sequence: UInt64
            let chain: Digest256
            var receipt: (ref: PayloadRef, sequence: UInt64, at: Timestamp)?
            var events: [TraceEvent] = []

            init(accepted: DocumentAccepted, sequence: UInt64, chain: Digest256) {
                (self.accepted, self.sequence, self.chain) = (accepted, sequence, chain)
            }

            func copy() -> Storage {
                let copy = Storage(accepted: accepted, sequence: sequence, chain: chain)
                (copy.receipt, copy.events) = (receipt, events)
                return copy
            }
        }
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

    /// The idempotency key. Its hash is computed once, when the key is made: the index of a million
    /// documents rehashes every key each time it grows, and hashing an Int is far cheaper than
    /// hashing two strings again.
    public struct SenderKey: Hashable, Sendable {
        public let sender: AgencyCode
        public let senderDocumentID: String
        private let hash: Int

        public init(sender: AgencyCode, senderDocumentID: String) {
            (self.sender, self.senderDocumentID) = (sender, senderDocumentID)
            var hasher = Hasher()
            hasher.combine(sender)
            hasher.combine(senderDocumentID)
            hash = hasher.finalize()
        }

        public static func == (a: SenderKey, b: SenderKey) -> Bool {
            a.hash == b.hash && a.sender == b.sender && a.senderDocumentID == b.senderDocumentID
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
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
    /// How many deliveries are in each state (by `DeliveryState.ordinal`), kept as records are folded
    /// so metrics and status read it without walking every delivery.
    private var stateCounts = [Int](repeating: 0, count: DeliveryState.names.count)
    public private(set) var lastSequence: UInt64 = 0
    public private(set) var anomalies: Int = 0
    /// The latest compaction: what retention removed, so a later record about a removed document is
    /// expected rather than an anomaly, and `axisctl status` can say where history starts.
    public private(set) var lastCompaction: CompactionNote?
    /// The sequence of the record that set each agency's and system's current entry: compaction
    /// carries forward the entries whose record it removes.
    public private(set) var agencyRecordSequence: [AgencyCode: UInt64] = [:]
    public private(set) var systemRecordSequence: [SystemID: UInt64] = [:]
    /// Shared copies of the strings and recipient lists documents repeat (signer subjects, content
    /// types, the same addressees): a cache, not a fact.
    private var interner = Interner()

    public init() {}

    /// Decodes and applies one journal entry.
    public mutating func apply(_ entry: JournalEntry) throws {
        apply(try JournalRecord.decode(kind: entry.kind, body: entry.body), sequence: entry.sequence, chain: entry.chain)
    }

    /// `chain` is the journal's chain hash after this record (kept for accepted documents).
    public mutating func apply(_ record: JournalRecord, sequence: UInt64, chain: Digest256 = .zero) {
        lastSequence = sequence
        switch record {
        case .documentAccepted(let record):
            guard documents[record.id] == nil else { anomalies += 1; return }
            let r = interned(record)
            documents[r.id] = Document(accepted: r, sequence: sequence, chain: chain)
            bySenderDocument[SenderKey(sender: r.sender, senderDocumentID: r.senderDocumentID)] = r.id
            for recipient in r.recipients where deliveries[DeliveryKey(document: r.id, recipient: recipient)] == nil {
                deliveries[DeliveryKey(document: r.id, recipient: recipient)] = Delivery()
                stateCounts[DeliveryState.queued.ordinal] += 1
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
            if documents[r.document] != nil {
                documents[r.document]?.issueReceipt(r.receipt, sequence: sequence, at: r.at)
            } else if !wasCompacted(r.document) {
                anomalies += 1
            }
        case .compaction(let note):
            removeDocuments(acceptedBefore: note.firstKept)
            lastCompaction = note
        case .checkpoint, .salvage, .opaque:
            break
        }
    }

    /// `r` with its repeated strings and recipient list replaced by shared copies: a million
    /// documents from a few signers then hold one copy of each signer's subject, not a million.
    private mutating func interned(_ r: DocumentAccepted) -> DocumentAccepted {
        var r = r
        r.signerSubject = interner.intern(r.signerSubject)
        r.contentType = interner.intern(r.contentType)
        r.subject = interner.intern(r.subject)
        r.recipients = interner.intern(r.recipients)
        return r
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
                stateCounts[delivery.state.ordinal] -= 1
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
        documents[document]?.append(TraceEvent(sequence: sequence, at: at, event: event, recipient: recipient,
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
        let before = delivery.state.ordinal
        change(&delivery)
        deliveries[key] = delivery
        let after = delivery.state.ordinal
        if before != after {
            stateCounts[before] -= 1
            stateCounts[after] += 1
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
    public func countsByState() -> [String: Int] {
        var counts: [String: Int] = [:]
        for (ordinal, count) in stateCounts.enumerated() where count != 0 { counts[DeliveryState.names[ordinal]] = count }
        return counts
    }
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

/// Keeps one copy of each value seen (up to a bound) and hands it out again: Swift strings and
/// arrays share their storage when copied, so equal values interned here cost one allocation in all.
/// Strings are matched by their exact UTF-8 bytes, not by `String` equality: that would hand back a
/// canonically equivalent string with other bytes (and hashes non-ASCII text through Unicode
/// normalization, the slowest part of replay when signer names are Vietnamese). Bounded, because a
/// stream of distinct values (every subject different) must not grow it forever; past the bound a
/// value is kept as given. Never part of the state's identity: two states holding the same facts are
/// equal whatever each has interned.
struct Interner: Equatable, Sendable {
    static let entriesMax = 4096
    private var strings: Set<ExactString> = []
    private var codeLists: [[AgencyCode]: [AgencyCode]] = [:]

    mutating func intern(_ value: String) -> String {
        // Up to 15 UTF-8 bytes a Swift string is stored inline: nothing to share.
        guard value.utf8.count > 15 else { return value }
        let key = ExactString(value)
        if let shared = strings.firstIndex(of: key).map({ strings[$0].value }) { return shared }
        if strings.count < Self.entriesMax { strings.insert(key) }
        return value
    }

    mutating func intern(_ value: [AgencyCode]) -> [AgencyCode] {
        guard !value.isEmpty, value.count <= 16 else { return value }
        if let shared = codeLists[value] { return shared }
        if codeLists.count < Self.entriesMax { codeLists[value] = value }
        return value
    }

    static func == (_: Interner, _: Interner) -> Bool { true }

    /// A string compared and hashed by its UTF-8 bytes.
    private struct ExactString: Hashable, Sendable {
        let value: String
        init(_ value: String) {
            var value = value
            value.makeContiguousUTF8()
            self.value = value
        }

        static func == (a: ExactString, b: ExactString) -> Bool {
            var a = a.value, b = b.value
            return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
        }

        func hash(into hasher: inout Hasher) {
            var value = value
            value.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }
}
