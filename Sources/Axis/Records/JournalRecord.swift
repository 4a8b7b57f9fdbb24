/// Every fact Axis records, one case per record kind.
///
/// A record's body is a version byte (currently 1) followed by its fields in the order written
/// below, in `ByteWriter`'s encoding. New fields go at the end under a new version; decoding refuses
/// versions it does not know, with a message telling the operator to upgrade axisd.
///
/// Records are facts that were true when written: the fold (`QueueState`) applies them in
/// sequence order and never rejects one, so replay always reproduces the live state.
public enum JournalRecord: Equatable, Sendable {
    case documentAccepted(DocumentAccepted)
    case deliveryLeased(DeliveryLeased)
    case deliveryAttempted(DeliveryAttempted)
    case deliveryFailed(DeliveryFailed)
    case deliveryReleased(DeliveryReleased)
    case deliveryDelivered(DeliveryDelivered)
    case deliveryAcknowledged(DeliveryAcknowledged)
    case recipientStatus(RecipientStatus)
    case deliveryControl(DeliveryControl)
    case agencyChanged(AgencyChanged)
    case systemChanged(SystemChanged)
    case receiptIssued(ReceiptIssued)
    case checkpoint(Checkpoint)
    case compaction(CompactionNote)
    case salvage(SalvageNote)
    case opaque([UInt8])

    public var kind: RecordKind {
        switch self {
        case .documentAccepted: return .documentAccepted
        case .deliveryLeased: return .deliveryLeased
        case .deliveryAttempted: return .deliveryAttempted
        case .deliveryFailed: return .deliveryFailed
        case .deliveryReleased: return .deliveryReleased
        case .deliveryDelivered: return .deliveryDelivered
        case .deliveryAcknowledged: return .deliveryAcknowledged
        case .recipientStatus: return .recipientStatus
        case .deliveryControl: return .deliveryControl
        case .agencyChanged: return .agencyChanged
        case .systemChanged: return .systemChanged
        case .receiptIssued: return .receiptIssued
        case .checkpoint: return .checkpoint
        case .compaction: return .compaction
        case .salvage: return .salvage
        case .opaque: return .opaque
        }
    }

    /// The body version written for each kind: 2 for `documentAccepted` (which gained the edXML
    /// summary), 1 for the rest. Readers accept every version up to these.
    static func bodyVersion(of kind: RecordKind) -> UInt8 { kind == .documentAccepted ? 2 : 1 }

    public func encoded() -> [UInt8] {
        if case .opaque(let bytes) = self { return bytes }
        if case .salvage(let note) = self { return note.encoded() }
        if case .compaction(let note) = self { return note.encoded() }
        var w = ByteWriter(capacity: 128)
        w.u8(Self.bodyVersion(of: kind))
        switch self {
        case .documentAccepted(let r): r.encode(into: &w)
        case .deliveryLeased(let r): r.encode(into: &w)
        case .deliveryAttempted(let r): r.encode(into: &w)
        case .deliveryFailed(let r): r.encode(into: &w)
        case .deliveryReleased(let r): r.encode(into: &w)
        case .deliveryDelivered(let r): r.encode(into: &w)
        case .deliveryAcknowledged(let r): r.encode(into: &w)
        case .recipientStatus(let r): r.encode(into: &w)
        case .deliveryControl(let r): r.encode(into: &w)
        case .agencyChanged(let r): r.encode(into: &w)
        case .systemChanged(let r): r.encode(into: &w)
        case .receiptIssued(let r): r.encode(into: &w)
        case .checkpoint(let r): r.encode(into: &w)
        case .salvage, .compaction, .opaque: break  // handled above
        }
        return w.bytes
    }

    public static func decode(kind: RecordKind, body: [UInt8]) throws -> JournalRecord {
        switch kind {
        case .opaque: return .opaque(body)
        case .salvage: return .salvage(try SalvageNote.decode(body))
        case .compaction: return .compaction(try CompactionNote.decode(body))
        default: break
        }
        var r = ByteReader(body)
        let version = try r.u8("record version")
        guard version >= 1 && version <= bodyVersion(of: kind) else {
            throw AxisError(.malformed,
                "\(kind) record has body version \(version), which this axisd does not know: upgrade axisd to read this journal")
        }
        let record: JournalRecord
        switch kind {
        case .documentAccepted: record = .documentAccepted(try DocumentAccepted(from: &r, version: version))
        case .deliveryLeased: record = .deliveryLeased(try DeliveryLeased(from: &r))
        case .deliveryAttempted: record = .deliveryAttempted(try DeliveryAttempted(from: &r))
        case .deliveryFailed: record = .deliveryFailed(try DeliveryFailed(from: &r))
        case .deliveryReleased: record = .deliveryReleased(try DeliveryReleased(from: &r))
        case .deliveryDelivered: record = .deliveryDelivered(try DeliveryDelivered(from: &r))
        case .deliveryAcknowledged: record = .deliveryAcknowledged(try DeliveryAcknowledged(from: &r))
        case .recipientStatus: record = .recipientStatus(try RecipientStatus(from: &r))
        case .deliveryControl: record = .deliveryControl(try DeliveryControl(from: &r))
        case .agencyChanged: record = .agencyChanged(try AgencyChanged(from: &r))
        case .systemChanged: record = .systemChanged(try SystemChanged(from: &r))
        case .receiptIssued: record = .receiptIssued(try ReceiptIssued(from: &r))
        case .checkpoint: record = .checkpoint(try Checkpoint(from: &r))
        default: throw AxisError(.malformed, "unknown record kind \(kind.rawValue): upgrade axisd to read this journal")
        }
        try r.expectEnd("\(kind) record")
        return record
    }
}
