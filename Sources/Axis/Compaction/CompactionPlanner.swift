/// Decides which of the oldest journal segments retention may remove. Pure: it sees summaries of
/// segments and the folded state, never files, so every rule is unit-tested with plain values.
///
/// Rules (docs/OPERATIONS.md "Compact the journal"):
/// - Only a prefix of the log goes, oldest first, and never the newest segment (the one written to).
/// - A segment may go when every document any of its records mentions is finished for every
///   recipient (delivered, acknowledged, expired or deleted) and has been finished for at least the
///   retention period. One document still waiting keeps its segment and every newer one: the log
///   stays one unbroken chain from the cut on.
/// - Directory entries (agencies, systems) whose current record is removed are carried forward as
///   new records, so the directory never loses an entry to compaction.
/// - Idempotency goes with the document: a client resubmitting a removed document's id gets a new
///   document. Retention must exceed how long clients retry (the default, 90 days, does by far).
public enum CompactionPlanner {
    /// What compaction needs to know about one segment, read once from its records.
    public struct SegmentSummary: Sendable, Equatable {
        public var name: String
        public var firstSequence: UInt64
        /// The sequence after the segment's last record.
        public var nextSequence: UInt64
        /// The segment header's previous chain, and the chain after its last record.
        public var previousChain: Digest256
        public var endChain: Digest256
        public var records: Int
        public var bytes: UInt64
        /// Every document a record of the segment is about.
        public var documents: Set<DocumentID>
        /// Documents accepted in this segment.
        public var accepted: [DocumentID]
        /// Break points accepted by `salvage` records in this segment.
        public var salvageResumes: [UInt64]

        public init(name: String, firstSequence: UInt64, nextSequence: UInt64, previousChain: Digest256, endChain: Digest256,
                    records: Int, bytes: UInt64, documents: Set<DocumentID> = [], accepted: [DocumentID] = [],
                    salvageResumes: [UInt64] = []) {
            self.name = name
            self.firstSequence = firstSequence
            self.nextSequence = nextSequence
            self.previousChain = previousChain
            self.endChain = endChain
            self.records = records
            self.bytes = bytes
            self.documents = documents
            self.accepted = accepted
            self.salvageResumes = salvageResumes
        }

        /// Adds what one record says to the summary.
        public mutating func note(_ record: JournalRecord) {
            switch record {
            case .documentAccepted(let r):
                accepted.append(r.id)
                documents.insert(r.id)
            case .deliveryLeased(let r): documents.insert(r.document)
            case .deliveryAttempted(let r): documents.insert(r.document)
            case .deliveryFailed(let r): documents.insert(r.document)
            case .deliveryReleased(let r): documents.insert(r.document)
            case .deliveryDelivered(let r): documents.insert(r.document)
            case .deliveryAcknowledged(let r): documents.insert(r.document)
            case .recipientStatus(let r):
                documents.insert(r.document)
                if let status = r.statusDocument { documents.insert(status) }
            case .deliveryControl(let r): documents.insert(r.document)
            case .receiptIssued(let r): documents.insert(r.document)
            case .salvage(let note): salvageResumes += note.resumesAt
            case .agencyChanged, .systemChanged, .checkpoint, .compaction, .opaque:
                break  // directory entries are carried forward; the rest is history only
            }
        }
    }

    public enum Verdict: Sendable, Equatable {
        case removable
        /// The segment stays, and why, in words for the operator.
        case kept(String)
    }

    /// Whether `segment` may be removed at `now` with `retention` (milliseconds). The document that
    /// blocks it, if any, is named with the reason.
    public static func judge(_ segment: SegmentSummary, isNewest: Bool, state: QueueState, now: Timestamp,
                             retentionMillis: Int64) -> Verdict {
        if isNewest { return .kept("it is the segment being written") }
        var blocked = 0
        var first: String?
        for id in segment.documents.sorted() {
            if let reason = blocker(id, state: state, now: now, retentionMillis: retentionMillis) {
                blocked += 1
                if first == nil { first = reason }
            }
        }
        guard let first else { return .removable }
        return .kept(blocked == 1 ? first : "\(first) (and \(blocked - 1) more documents)")
    }

    /// Why document `id` must stay, or nil when retention may remove it. A document the state no
    /// longer knows (removed by an earlier compaction whose deletions a crash cut short) may go.
    static func blocker(_ id: DocumentID, state: QueueState, now: Timestamp, retentionMillis: Int64) -> String? {
        guard let document = state.documents[id] else { return nil }
        var finishedAt = document.accepted.acceptedAt
        for recipient in document.accepted.recipients {
            guard let delivery = state.delivery(id, recipient) else { continue }
            switch delivery.state {
            case .delivered(let at), .acknowledged(let at), .expired(let at), .deleted(let at):
                finishedAt = max(finishedAt, at)
            default:
                return "document \(id) is still \(delivery.state.name) for \(recipient)"
            }
        }
        let until = Timestamp(millis: finishedAt.millis &+ retentionMillis)
        if now < until { return "document \(id) finished at \(finishedAt); retention keeps it until \(until)" }
        return nil
    }

    /// The cut: the removable prefix and what the compaction record must say about it.
    public struct Cut: Sendable, Equatable {
        public var removed: [SegmentSummary]
        public var firstKept: UInt64
        public var boundaryChain: Digest256
        public var removedRecords: UInt64
        public var removedBytes: UInt64
        public var removedDocuments: UInt64
        public var newestRemovedDocument: DocumentID?
        /// Salvage break points from removed segments that lie in what is kept.
        public var resumesAt: [UInt64]
    }

    /// The cut for a removable prefix `removed` followed by the kept segment `firstKept`; nil when
    /// nothing goes. Refuses (nil) when the two do not link, which a scanned journal never shows.
    public static func cut(removed: [SegmentSummary], firstKept: SegmentSummary) -> Cut? {
        guard let last = removed.last, last.nextSequence == firstKept.firstSequence,
              last.endChain == firstKept.previousChain else { return nil }
        let accepted = removed.flatMap(\.accepted)
        return Cut(removed: removed, firstKept: firstKept.firstSequence, boundaryChain: last.endChain,
                   removedRecords: UInt64(removed.reduce(0) { $0 + $1.records }),
                   removedBytes: removed.reduce(0) { $0 + $1.bytes },
                   removedDocuments: UInt64(accepted.count), newestRemovedDocument: accepted.max(),
                   resumesAt: removed.flatMap(\.salvageResumes).filter { $0 > firstKept.firstSequence }.sorted())
    }

    /// Directory records to write again because their current record is removed (sequence below the
    /// cut), in a stable order.
    public static func carriedForward(state: QueueState, firstKept: UInt64, at: Timestamp) -> [JournalRecord] {
        let reason = "carried forward by journal compaction: the entry's last change is in a removed segment"
        let agencies = state.agencyRecordSequence.filter { $0.value < firstKept }.keys.sorted()
            .compactMap { state.agencies[$0] }
            .map { JournalRecord.agencyChanged(AgencyChanged(agency: $0, at: at, actor: .policy("compaction"), reason: reason)) }
        let systems = state.systemRecordSequence.filter { $0.value < firstKept }.keys.sorted()
            .compactMap { state.systems[$0] }
            .map { JournalRecord.systemChanged(SystemChanged(system: $0, at: at, actor: .policy("compaction"), reason: reason)) }
        return agencies + systems
    }
}
