/// One record as read back from the journal, with where it lives.
public struct JournalEntry: Sendable, Equatable {
    public var sequence: UInt64
    public var kind: RecordKind
    public var body: [UInt8]
    /// The chain value after this record.
    public var chain: Digest256
    /// The first sequence of the segment holding the record (it names the file) and the frame's offset.
    public var segment: UInt64
    public var offset: UInt64

    public init(sequence: UInt64, kind: RecordKind, body: [UInt8], chain: Digest256, segment: UInt64, offset: UInt64) {
        self.sequence = sequence
        self.kind = kind
        self.body = body
        self.chain = chain
        self.segment = segment
        self.offset = offset
    }
}

/// Where an append landed: returned to the appender once the record is durable.
public struct AppendReceipt: Sendable, Equatable {
    public var sequence: UInt64
    public var chain: Digest256
    public var segment: UInt64
    public var offset: UInt64
}

/// The kind byte of a frame. The journal itself gives meaning only to `salvage` and `compaction`; `Records/` defines
/// the bodies of the others.
public struct RecordKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let documentAccepted = RecordKind(rawValue: 1)
    public static let deliveryLeased = RecordKind(rawValue: 2)
    public static let deliveryAttempted = RecordKind(rawValue: 3)
    public static let deliveryFailed = RecordKind(rawValue: 4)
    public static let deliveryReleased = RecordKind(rawValue: 5)
    public static let deliveryDelivered = RecordKind(rawValue: 6)
    public static let deliveryAcknowledged = RecordKind(rawValue: 7)
    public static let recipientStatus = RecordKind(rawValue: 8)
    public static let deliveryControl = RecordKind(rawValue: 9)
    public static let agencyChanged = RecordKind(rawValue: 10)
    public static let systemChanged = RecordKind(rawValue: 11)
    public static let receiptIssued = RecordKind(rawValue: 12)
    public static let checkpoint = RecordKind(rawValue: 13)
    /// Retention removed the segments before it (see `CompactionNote`); the journal reads it too.
    public static let compaction = RecordKind(rawValue: 14)
    /// Written by recovery after `--salvage` moved damaged segments aside (see `SalvageNote`).
    public static let salvage = RecordKind(rawValue: 0xF0)
    /// Free for tests and benchmarks: carries opaque bytes the fold ignores.
    public static let opaque = RecordKind(rawValue: 0xFE)

    public static let names: [RecordKind: String] = [
        .documentAccepted: "document-accepted", .deliveryLeased: "delivery-leased",
        .deliveryAttempted: "delivery-attempted", .deliveryFailed: "delivery-failed",
        .deliveryReleased: "delivery-released", .deliveryDelivered: "delivery-delivered",
        .deliveryAcknowledged: "delivery-acknowledged", .recipientStatus: "recipient-status",
        .deliveryControl: "delivery-control", .agencyChanged: "agency-changed", .systemChanged: "system-changed",
        .receiptIssued: "receipt-issued", .checkpoint: "checkpoint", .compaction: "compaction", .salvage: "salvage", .opaque: "opaque",
    ]

    public var description: String { Self.names[self] ?? "kind-\(rawValue)" }
}

/// The body of a `salvage` record: which segments `--salvage` moved aside, and the sequence numbers
/// at which the log is allowed to resume without a chain link (one per break it leaves).
public struct SalvageNote: Equatable, Sendable {
    public var movedSegments: [String]
    public var resumesAt: [UInt64]
    public var reason: String

    public init(movedSegments: [String], resumesAt: [UInt64], reason: String) {
        self.movedSegments = movedSegments
        self.resumesAt = resumesAt
        self.reason = reason
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(1)
        w.array(movedSegments) { $0.string($1) }
        w.array(resumesAt) { $0.u64($1) }
        w.string(reason)
        return w.bytes
    }

    public static func decode(_ body: [UInt8]) throws -> SalvageNote {
        var r = ByteReader(body)
        guard try r.u8("salvage version") == 1 else { throw AxisError(.malformed, "unknown salvage record version") }
        let moved = try r.array("moved segments", max: 1 << 20) { try $0.string("segment name", max: 256) }
        let resumes = try r.array("resume points", max: 1 << 20) { try $0.u64("resume sequence") }
        let reason = try r.string("reason", max: 4096)
        try r.expectEnd("salvage record")
        return SalvageNote(movedSegments: moved, resumesAt: resumes, reason: reason)
    }
}
