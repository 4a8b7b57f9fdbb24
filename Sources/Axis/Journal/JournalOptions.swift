/// Tunables of the journal. Every limit has its unit last in its name.
public struct JournalOptions: Sendable {
    /// A segment is closed and a new one started when the next batch would take it past this size.
    public var segmentBytesMax: Int = 64 << 20
    /// The largest record body an appender may hand in.
    public var recordBytesMax: Int = 1 << 20
    /// The most bytes one group-commit batch (one write, one fdatasync) carries.
    public var batchBytesMax: Int = 8 << 20
    /// How new segments are made (see `SegmentPreparer`). Costs up to one extra segment of disk space.
    public var preallocation: SegmentPreallocation = .background
    /// Move damaged segments to `<data>/corrupt/` instead of refusing to start (`axisd --salvage`).
    public var salvage: Bool = false

    public init() {}

    public func validated() throws -> JournalOptions {
        func check(_ ok: Bool, _ key: String, _ fix: String) throws {
            if !ok { throw AxisError(.config, "journal option '\(key)' is out of range: \(fix)") }
        }
        try check(segmentBytesMax >= 1 << 16 && UInt64(segmentBytesMax) <= SegmentScanner.segmentBytesLimit,
                  "segmentBytesMax", "use a value between 65536 and \(SegmentScanner.segmentBytesLimit)")
        try check(recordBytesMax >= 1024 && recordBytesMax <= JournalFormat.bodyBytesLimit,
                  "recordBytesMax", "use a value between 1024 and \(JournalFormat.bodyBytesLimit)")
        try check(batchBytesMax >= recordBytesMax + JournalFormat.frameHeaderSize && batchBytesMax <= JournalFormat.batchBytesLimit,
                  "batchBytesMax", "use a value between recordBytesMax + 56 and \(JournalFormat.batchBytesLimit)")
        return self
    }
}

/// What recovery found and did when the journal was opened.
public struct RecoveryReport: Sendable {
    public var scan: JournalScanReport
    /// True when the journal did not exist and was created.
    public var created = false
    /// A torn tail that was cut off: segment, offset, bytes removed.
    public var truncatedTail: (segment: String, offset: UInt64, bytes: UInt64)?
    /// Newest segments whose header was never completed, removed.
    public var removedIncompleteSegments: [String] = []
    /// Segments `--salvage` moved to the corrupt directory.
    public var salvagedSegments: [String] = []
    public var durationNanos: UInt64 = 0

    /// One line for the log.
    public var summary: String {
        var parts = ["segments=\(scan.segments.count)", "records=\(scan.records)", "bytes=\(scan.bytes)",
                     "next_sequence=\(scan.nextSequence)", "chain_head=\(scan.headChain.hex.prefix(16))",
                     "replay_ms=\(durationNanos / 1_000_000)"]
        if created { parts.append("created=true") }
        if let t = truncatedTail { parts.append("truncated_tail=\(t.segment)@\(t.offset)+\(t.bytes)B") }
        if !removedIncompleteSegments.isEmpty { parts.append("removed_incomplete=\(removedIncompleteSegments.joined(separator: ","))") }
        if !salvagedSegments.isEmpty { parts.append("salvaged=\(salvagedSegments.joined(separator: ","))") }
        return parts.joined(separator: " ")
    }
}

/// How the journal makes its next segment.
public enum SegmentPreallocation: Sendable {
    /// A plain empty file: every batch extends it, so every `fdatasync` also commits metadata.
    case off
    /// A file of zeros prepared on a background thread before it is needed (the default).
    case background
    /// The same file, prepared by the writer at the roll itself: deterministic, for crash tests.
    case inline
}
