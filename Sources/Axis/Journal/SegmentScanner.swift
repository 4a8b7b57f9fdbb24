/// Reads one segment file and checks every frame: magic, length, CRC, sequence and chain.
///
/// A segment is checked on its own, starting from the sequence and chain in its own header; the
/// links *between* segments are checked by `JournalScanner`.
///
/// When a frame does not decode, the scanner looks past it for any later intact frame, to tell a
/// torn tail from damaged history. The writer writes a batch only after the previous one was synced,
/// so after a crash only the *last* batch can be partly on disk — possibly with holes, since the page
/// cache may write pages out of order. The damage is therefore a possible torn tail when no intact
/// frame after it belongs to a later batch (`frame.sequence - frame.batchIndex` is the first sequence
/// of the frame's batch). Anything else is damage to acknowledged history.
public struct SegmentScan: Sendable {
    public var name: String
    public var firstSequenceFromName: UInt64
    public var header: SegmentHeader?
    public var fileSize: UInt64
    public var records: Int = 0
    public var lastSequence: UInt64?
    /// The chain after the last good record (the header's previous chain when there is none).
    public var endChain: Digest256 = .zero
    /// Offset just past the last good frame: where appends continue.
    public var validEnd: UInt64 = 0
    /// Zero bytes after the last frame: space prepared for records not yet written.
    public var preallocatedBytes: UInt64 = 0
    public var damage: SegmentDamage?
    /// Sequence numbers of intact `salvage` records in this segment, with their notes.
    public var salvageNotes: [SalvageNote] = []
    /// Intact `compaction` records in this segment.
    public var compactionNotes: [CompactionNote] = []
    /// The highest sequence number of any intact frame seen in the file, damaged region included.
    public var highestSequenceSeen: UInt64 = 0

    /// The sequence the next record after this segment's good part would carry.
    public var nextSequence: UInt64 {
        if let last = lastSequence { return last + 1 }
        return header?.firstSequence ?? firstSequenceFromName
    }
}

public struct SegmentDamage: Sendable, Equatable {
    public var offset: UInt64
    public var reason: String
    /// True when the bytes from `offset` on may be the unsynced last batch of a crashed writer.
    public var mayBeTornTail: Bool
    /// Bytes from `offset` to the end of the file.
    public var bytesAfter: UInt64
}

/// A segment's bytes, read into a buffer that is reused from segment to segment: allocating and
/// zero-filling a fresh 64 MiB array per segment cost 30% of replay time.
public final class SegmentBuffer: @unchecked Sendable {
    private(set) var storage: UnsafeMutableRawBufferPointer
    /// How many bytes of `storage` hold the current segment.
    private(set) var count = 0

    public init() { storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16) }
    deinit { storage.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }

    /// Reads the whole file (of `size` bytes) into the buffer; never zero-fills.
    func load(_ file: any StorageFile, size: Int) throws {
        if storage.count < size {
            storage.deallocate()
            storage = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        }
        count = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: storage[0..<size]), at: 0)
    }
}

/// A segment that has been read and checked: its scan result and where each good frame is.
/// `deliver` hands the records out in order; verifying and delivering are separate so recovery can
/// verify several segments in parallel and still replay them in sequence order.
public struct VerifiedSegment: Sendable {
    struct Frame: Sendable {
        var offset: Int
        var kind: UInt8
        var sequence: UInt64
        var chain: Digest256
        var bodyOffset: Int
        var bodyLength: Int
    }

    public var scan: SegmentScan
    let buffer: SegmentBuffer
    var frames: [Frame] = []

    /// Calls `onRecord` for each good record, in order.
    public func deliver(_ onRecord: (JournalEntry) throws -> Void) throws {
        let segment = scan.header?.firstSequence ?? scan.firstSequenceFromName
        let all = buffer.bytes
        for f in frames {
            let body = Array(UnsafeRawBufferPointer(rebasing: all[f.bodyOffset..<(f.bodyOffset + f.bodyLength)]))
            try onRecord(JournalEntry(sequence: f.sequence, kind: RecordKind(rawValue: f.kind), body: body,
                                      chain: f.chain, segment: segment, offset: UInt64(f.offset)))
        }
    }
}

public enum SegmentScanner {
    /// Segments larger than this are refused rather than read into memory.
    public static let segmentBytesLimit: UInt64 = 1 << 31

    /// Reads and checks one segment, then hands its records to `onRecord`.
    public static func scan(file: any StorageFile, name: String, hasher: SHA256Hasher,
                            onRecord: ((JournalEntry) throws -> Void)?) throws -> SegmentScan {
        let verified = try verify(file: file, name: name, hasher: hasher, buffer: SegmentBuffer())
        if let onRecord { try verified.deliver(onRecord) }
        return verified.scan
    }

    /// Reads one segment into `buffer` and checks every frame; touches nothing outside `buffer`.
    public static func verify(file: any StorageFile, name: String, hasher: SHA256Hasher,
                              buffer: SegmentBuffer) throws -> VerifiedSegment {
        let firstFromName = JournalFormat.firstSequence(ofSegmentNamed: name) ?? 0
        let size = try file.size()
        var result = VerifiedSegment(scan: SegmentScan(name: name, firstSequenceFromName: firstFromName, fileSize: size),
                                     buffer: buffer)
        guard size <= segmentBytesLimit else {
            result.scan.damage = SegmentDamage(offset: 0,
                reason: "segment is \(size) bytes, over the \(segmentBytesLimit)-byte limit", mayBeTornTail: false, bytesAfter: size)
            return result
        }
        try buffer.load(file, size: Int(size))
        let all = buffer.bytes
        check(all, into: &result, hasher: hasher)
        return result
    }

    private static func check(_ all: UnsafeRawBufferPointer, into result: inout VerifiedSegment, hasher: SHA256Hasher) {
        let size = UInt64(all.count)
        let firstFromName = result.scan.firstSequenceFromName
        switch SegmentHeader.decode(Array(all.prefix(JournalFormat.segmentHeaderSize))) {
        case .failure(let error):
            let laterFrame = lastIntactFrame(in: all, from: 0)
            result.scan.highestSequenceSeen = laterFrame?.sequence ?? 0
            result.scan.damage = SegmentDamage(offset: 0, reason: error.description,
                                               mayBeTornTail: laterFrame == nil, bytesAfter: size)
            return
        case .success(let header):
            result.scan.header = header
            if header.firstSequence != firstFromName {
                result.scan.damage = SegmentDamage(offset: 0,
                    reason: "header says first sequence \(header.firstSequence) but the file is named for \(firstFromName)",
                    mayBeTornTail: false, bytesAfter: size)
                return
            }
        }
        guard let header = result.scan.header else { return }
        var sequence = header.firstSequence
        var chain = header.previousChain
        var offset = JournalFormat.segmentHeaderSize
        result.scan.endChain = chain
        result.scan.validEnd = UInt64(offset)
        while offset < all.count {
            let rest = UnsafeRawBufferPointer(rebasing: all[offset...])
            let problem: String
            var crcIntact = false
            switch FrameCodec.decode(rest) {
            case .frame(let frame):
                crcIntact = true
                if frame.sequence != sequence {
                    problem = "sequence \(frame.sequence) where \(sequence) was expected"
                } else if !FrameCodec.chainMatches(frame, in: rest, previousChain: chain, hasher: hasher) {
                    problem = "chain hash mismatch at sequence \(sequence): history was altered"
                } else {
                    let bodyStart = offset + frame.bodyOffset
                    switch RecordKind(rawValue: frame.kind) {
                    case .salvage:
                        if let note = try? SalvageNote.decode(Array(UnsafeRawBufferPointer(rebasing: all[bodyStart..<(bodyStart + frame.bodyLength)]))) {
                            result.scan.salvageNotes.append(note)
                        }
                    case .compaction:
                        if let note = try? CompactionNote.decode(Array(UnsafeRawBufferPointer(rebasing: all[bodyStart..<(bodyStart + frame.bodyLength)]))) {
                            result.scan.compactionNotes.append(note)
                        }
                    default:
                        break
                    }
                    result.frames.append(VerifiedSegment.Frame(offset: offset, kind: frame.kind, sequence: sequence,
                                                               chain: frame.chain, bodyOffset: bodyStart,
                                                               bodyLength: frame.bodyLength))
                    chain = frame.chain
                    result.scan.records += 1
                    result.scan.lastSequence = sequence
                    result.scan.highestSequenceSeen = sequence
                    sequence += 1
                    offset += frame.frameLength
                    result.scan.endChain = chain
                    result.scan.validEnd = UInt64(offset)
                    continue
                }
            case .incomplete(let need):
                problem = "frame is incomplete: needs \(need) bytes, \(rest.count) remain in the file"
            case .corrupt(let reason):
                problem = "frame is damaged: \(reason)"
            }
            if !crcIntact && isAllZero(rest) {
                // The unused, preallocated end of the segment (see `SegmentPreparer`).
                result.scan.preallocatedBytes = UInt64(rest.count)
                return
            }
            let later = lastIntactFrame(in: all, from: offset + 1)
            if let later { result.scan.highestSequenceSeen = max(result.scan.highestSequenceSeen, later.sequence) }
            // An intact frame with the wrong sequence or chain cannot come from a torn write.
            let laterBatchFollows = later.map { $0.sequence &- UInt64($0.batchIndex) > sequence } ?? false
            result.scan.damage = SegmentDamage(offset: UInt64(offset), reason: problem,
                                               mayBeTornTail: !crcIntact && !laterBatchFollows,
                                               bytesAfter: UInt64(all.count - offset))
            return
        }
    }

    static func isAllZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < bytes.count {
            if bytes[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// The last CRC-intact frame at or after `start`, found by trying every offset: slow, but run only
    /// on the damaged region of one segment.
    static func lastIntactFrame(in all: UnsafeRawBufferPointer, from start: Int) -> FrameCodec.Frame? {
        var found: FrameCodec.Frame?
        var p = start
        let magic = JournalFormat.frameMagic
        while p + JournalFormat.frameHeaderSize <= all.count {
            if all.loadUnaligned(fromByteOffset: p, as: UInt32.self) == magic.littleEndian,
               case .frame(let f) = FrameCodec.decode(UnsafeRawBufferPointer(rebasing: all[p...])) {
                found = f
                p += f.frameLength
            } else {
                p += 1
            }
        }
        return found
    }
}
