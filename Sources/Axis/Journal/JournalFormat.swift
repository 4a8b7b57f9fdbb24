/// The on-disk format of the journal: segment headers and record frames.
///
/// A journal is a directory of segment files named by the sequence number of their first record,
/// zero-padded to 20 digits (`00000000000000000001.axj`), so name order is log order. Each segment
/// starts with an 80-byte header, then frames back to back:
///
///     segment header (80 bytes)
///     | magic "AXJS" | version u16 | header size u16 | journal id [16] | first seq u64 |
///     | created-at ms i64 | previous chain [32] | crc32c u32 (of bytes 0..<72) | reserved u32 |
///
///     frame (56-byte header + body)
///     | magic "AXJR" | body length u32 | crc32c u32 | version u8 | kind u8 | batch index u16 |
///     | sequence u64 | chain [32] | body … |
///
/// All integers little-endian. A frame's `crc32c` covers the body length field and every byte from
/// `version` to the end of the body (chain included). The `chain` is
/// `SHA-256(previous chain ‖ bytes 12..<24 of this frame ‖ SHA-256(body))`, so changing any byte of
/// history changes every later chain value. (Hashing the body separately lets appenders compute its
/// digest on their own threads; the writer's serial work per record stays small.) The first record's previous chain is the genesis value
/// `SHA-256("axis-journal-v1" ‖ journal id)`; a segment header repeats the chain of the last record
/// before it, so each segment can be checked on its own and the links between them checked after.
///
/// `batch index` is the frame's position in its group-commit batch. A batch is written only after
/// the one before it was synced, so unsynced bytes can lie only in the last batch of the newest
/// segment: recovery uses the index to tell a torn tail from damage in history (see `SegmentScanner`).
///
/// Limits: a body is at most `JournalFormat.bodyBytesLimit`; a batch at most `batchBytesLimit` bytes
/// and `batchRecordsLimit` records. Bad input never traps: decoding reports `.incomplete` or
/// `.corrupt(reason)`.
public enum JournalFormat {
    public static let segmentMagic: UInt32 = 0x534A_5841  // "AXJS" in file order
    public static let frameMagic: UInt32 = 0x524A_5841  // "AXJR" in file order
    public static let version: UInt8 = 1
    public static let segmentHeaderSize = 80
    public static let frameHeaderSize = 56
    public static let segmentSuffix = ".axj"

    /// A record body can never be larger than this, whatever the configuration says.
    public static let bodyBytesLimit = 16 << 20
    /// A batch (one write + one sync) never exceeds these.
    public static let batchBytesLimit = 32 << 20
    public static let batchRecordsLimit = Int(UInt16.max) + 1

    public static func segmentName(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + segmentSuffix
    }

    /// The first sequence of a segment file name, or nil when the name is not a segment's.
    public static func firstSequence(ofSegmentNamed name: String) -> UInt64? {
        guard name.hasSuffix(segmentSuffix) else { return nil }
        let stem = name.dropLast(segmentSuffix.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }

    public static func genesisChain(journalID: [UInt8]) -> Digest256 {
        SHA256Hasher.digest(Array("axis-journal-v1".utf8) + journalID)
    }
}

/// The fixed header at the start of every segment file.
public struct SegmentHeader: Equatable, Sendable {
    public var journalID: [UInt8]  // 16 bytes
    public var firstSequence: UInt64
    public var createdAt: Timestamp
    public var previousChain: Digest256

    public init(journalID: [UInt8], firstSequence: UInt64, createdAt: Timestamp, previousChain: Digest256) {
        precondition(journalID.count == 16, "a journal id is 16 bytes")
        self.journalID = journalID
        self.firstSequence = firstSequence
        self.createdAt = createdAt
        self.previousChain = previousChain
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: JournalFormat.segmentHeaderSize)
        w.u32(JournalFormat.segmentMagic)
        w.u16(UInt16(JournalFormat.version))
        w.u16(UInt16(JournalFormat.segmentHeaderSize))
        w.raw(journalID)
        w.u64(firstSequence)
        w.i64(createdAt.millis)
        w.digest(previousChain)
        w.u32(CRC32C.checksum(w.bytes))
        w.u32(0)
        return w.bytes
    }

    /// Decodes and checks a header; the error says what is wrong in words an operator can act on.
    public static func decode(_ bytes: [UInt8]) -> Result<SegmentHeader, SegmentHeaderError> {
        guard bytes.count >= JournalFormat.segmentHeaderSize else { return .failure(.truncated(bytes.count)) }
        var r = ByteReader(Array(bytes.prefix(JournalFormat.segmentHeaderSize)))
        do {
            let magic = try r.u32()
            guard magic == JournalFormat.segmentMagic else { return .failure(.badMagic) }
            let version = try r.u16()
            let size = try r.u16()
            guard version == UInt16(JournalFormat.version), size == UInt16(JournalFormat.segmentHeaderSize) else {
                return .failure(.unsupportedVersion(version))
            }
            let id = try r.raw(16)
            let first = try r.u64()
            let created = try r.i64()
            let prev = try r.digest()
            let crc = try r.u32()
            guard crc == CRC32C.checksum(bytes[0..<72]) else { return .failure(.checksumMismatch) }
            return .success(SegmentHeader(journalID: id, firstSequence: first,
                                          createdAt: Timestamp(millis: created), previousChain: prev))
        } catch {
            return .failure(.truncated(bytes.count))
        }
    }
}

public enum SegmentHeaderError: Error, Equatable, CustomStringConvertible {
    case truncated(Int)
    case badMagic
    case unsupportedVersion(UInt16)
    case checksumMismatch

    public var description: String {
        switch self {
        case .truncated(let n): return "segment header is truncated (\(n) of \(JournalFormat.segmentHeaderSize) bytes)"
        case .badMagic: return "not an Axis journal segment (bad magic)"
        case .unsupportedVersion(let v): return "segment format version \(v) is not supported by this axisd"
        case .checksumMismatch: return "segment header checksum mismatch"
        }
    }
}
