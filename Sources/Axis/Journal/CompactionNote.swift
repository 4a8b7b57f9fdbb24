/// The body of a `compaction` record: the history before `firstKept` was removed by retention, and
/// the chain value it ended with, signed by the axis.
///
/// Compaction removes the oldest segments, so the oldest segment left starts at `firstKept` and its
/// header's previous-chain value is `boundaryChain` instead of the genesis value. The scanner accepts
/// that start only when a compaction record in the journal names exactly that sequence *and* that
/// chain value, so deleting segments by hand is still a chain break. Everything kept stays
/// verifiable: each kept record still chains to `boundaryChain`, and receipts for kept documents
/// still name their sequence and chain. The note is written (durably) before any segment is removed;
/// a crash part-way leaves extra old segments, which still chain from genesis and go at the next
/// compaction.
///
/// `signature` is an attached CMS SignedData by the axis key over `canonicalJSON` (empty when the
/// journal was compacted without a signing identity, e.g. in tests): the "signed checkpoint of the
/// old head" auditors can check with `openssl cms -verify` after `axisctl journal dump`.
public struct CompactionNote: Equatable, Sendable {
    public static let type = "axis-journal-compaction"

    public var at: Timestamp
    /// The sequence of the first record kept.
    public var firstKept: UInt64
    /// The chain value after the last removed record (the first kept segment's previous chain).
    public var boundaryChain: Digest256
    public var journalID: [UInt8]
    public var removedSegments: [String]
    public var removedRecords: UInt64
    public var removedDocuments: UInt64
    /// The newest removed document id: the fold tells a later record about a removed document
    /// (ids are time-ordered) from a record about a document it never saw.
    public var newestRemovedDocument: DocumentID?
    public var retentionSeconds: Int64
    /// Break points accepted by `salvage` records in removed segments that still apply to kept ones.
    public var resumesAt: [UInt64]
    public var actor: Actor
    public var reason: String
    public var signature: [UInt8]

    public init(at: Timestamp, firstKept: UInt64, boundaryChain: Digest256, journalID: [UInt8], removedSegments: [String],
                removedRecords: UInt64, removedDocuments: UInt64, newestRemovedDocument: DocumentID?,
                retentionSeconds: Int64, resumesAt: [UInt64], actor: Actor, reason: String, signature: [UInt8] = []) {
        self.at = at
        self.firstKept = firstKept
        self.boundaryChain = boundaryChain
        self.journalID = journalID
        self.removedSegments = removedSegments
        self.removedRecords = removedRecords
        self.removedDocuments = removedDocuments
        self.newestRemovedDocument = newestRemovedDocument
        self.retentionSeconds = retentionSeconds
        self.resumesAt = resumesAt
        self.actor = actor
        self.reason = reason
        self.signature = signature
    }

    /// What the axis signs: every field but the signature, as sorted-key ASCII JSON.
    public var canonicalJSON: [UInt8] {
        let fields: [(String, JSONValue)] = [
            ("actor", .string(actor.description)),
            ("at", .string(at.description)),
            ("boundaryChain", .string(boundaryChain.hex)),
            ("firstKept", .int(Int64(firstKept))),
            ("journal", .string(Hex.encode(journalID))),
            ("newestRemovedDocument", newestRemovedDocument.map { .string($0.hex) } ?? .null),
            ("reason", .string(reason)),
            ("removedDocuments", .int(Int64(removedDocuments))),
            ("removedRecords", .int(Int64(removedRecords))),
            ("removedSegments", .array(removedSegments.map { .string($0) })),
            ("resumesAt", .array(resumesAt.map { .int(Int64($0)) })),
            ("retentionSeconds", .int(retentionSeconds)),
            ("type", .string(Self.type)),
            ("version", .int(1)),
        ]
        return Array(JSONValue.object(fields).encoded(asciiOnly: true).utf8)
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(1)
        w.time(at)
        w.u64(firstKept)
        w.digest(boundaryChain)
        w.raw(journalID)
        w.array(removedSegments) { $0.string($1) }
        w.u64(removedRecords)
        w.u64(removedDocuments)
        w.optional(newestRemovedDocument) { $0.document($1) }
        w.i64(retentionSeconds)
        w.array(resumesAt) { $0.u64($1) }
        w.actor(actor)
        w.string(reason)
        w.bytes(signature)
        return w.bytes
    }

    public static func decode(_ body: [UInt8]) throws -> CompactionNote {
        var r = ByteReader(body)
        guard try r.u8("compaction version") == 1 else {
            throw AxisError(.malformed, "compaction record has an unknown version: upgrade axisd to read this journal")
        }
        let at = try r.time()
        let firstKept = try r.u64("first kept sequence")
        let boundary = try r.digest("boundary chain")
        let journalID = try r.raw(16)
        let segments = try r.array("removed segments", max: 1 << 24) { try $0.string("segment name", max: 256) }
        let records = try r.u64("removed records")
        let documents = try r.u64("removed documents")
        let newest = try r.optional("newest removed document") { try $0.document() }
        let retention = try r.i64("retention seconds")
        let resumes = try r.array("resume points", max: 1 << 20) { try $0.u64("resume sequence") }
        let actor = try r.actor()
        let reason = try r.text("reason")
        let signature = try r.bytes("signature", max: 1 << 20)
        try r.expectEnd("compaction record")
        return CompactionNote(at: at, firstKept: firstKept, boundaryChain: boundary, journalID: journalID,
                              removedSegments: segments, removedRecords: records, removedDocuments: documents,
                              newestRemovedDocument: newest, retentionSeconds: retention, resumesAt: resumes,
                              actor: actor, reason: reason, signature: signature)
    }
}
