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
    public var damage: SegmentDamage?
    /// Sequence numbers of intact `salvage` records in this segment, with their notes.
    public var salvageNotes: [SalvageNote] = []
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

public enum SegmentScanner {
    /// Segments larger than this are refused rather than read into memory.
    public static let segmentBytesLimit: UInt64 = 1 << 31

    public static func scan(file: any StorageFile, name: String, hasher: SHA256Hasher,
                            onRecord: ((JournalEntry) throws -> Void)?) throws -> SegmentScan {
        let firstFromName = JournalFormat.firstSequence(ofSegmentNamed: name) ?? 0
        let size = try file.size()
        var scan = SegmentScan(name: name, firstSequenceFromName: firstFromName, fileSize: size)
        guard size <= segmentBytesLimit else {
            scan.damage = SegmentDamage(offset: 0, reason: "segment is \(size) bytes, over the \(segmentBytesLimit)-byte limit",
                                        mayBeTornTail: false, bytesAfter: size)
            return scan
        }
        let bytes = try file.read(count: Int(size), at: 0)
        switch SegmentHeader.decode(bytes) {
        case .failure(let error):
            let laterFrame = bytes.withUnsafeBytes { lastIntactFrame(in: $0, from: 0) }
            scan.highestSequenceSeen = laterFrame?.sequence ?? 0
            scan.damage = SegmentDamage(offset: 0, reason: error.description,
                                        mayBeTornTail: laterFrame == nil, bytesAfter: size)
            return scan
        case .success(let header):
            scan.header = header
            if header.firstSequence != firstFromName {
                scan.damage = SegmentDamage(offset: 0,
                    reason: "header says first sequence \(header.firstSequence) but the file is named for \(firstFromName)",
                    mayBeTornTail: false, bytesAfter: size)
                return scan
            }
        }
        guard let header = scan.header else { return scan }
        var sequence = header.firstSequence
        var chain = header.previousChain
        var offset = JournalFormat.segmentHeaderSize
        scan.endChain = chain
        scan.validEnd = UInt64(offset)
        try bytes.withUnsafeBytes { all in
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
                        let kind = RecordKind(rawValue: frame.kind)
                        let bodyRange = (offset + frame.bodyOffset)..<(offset + frame.bodyOffset + frame.bodyLength)
                        if kind == .salvage, let note = try? SalvageNote.decode(Array(all[bodyRange])) {
                            scan.salvageNotes.append(note)
                        }
                        if let onRecord {
                            try onRecord(JournalEntry(sequence: sequence, kind: kind, body: Array(all[bodyRange]),
                                                      chain: frame.chain, segment: header.firstSequence,
                                                      offset: UInt64(offset)))
                        }
                        chain = frame.chain
                        scan.records += 1
                        scan.lastSequence = sequence
                        scan.highestSequenceSeen = sequence
                        sequence += 1
                        offset += frame.frameLength
                        scan.endChain = chain
                        scan.validEnd = UInt64(offset)
                        continue
                    }
                case .incomplete(let need):
                    problem = "frame is incomplete: needs \(need) bytes, \(rest.count) remain in the file"
                case .corrupt(let reason):
                    problem = "frame is damaged: \(reason)"
                }
                let later = lastIntactFrame(in: all, from: offset + 1)
                if let later { scan.highestSequenceSeen = max(scan.highestSequenceSeen, later.sequence) }
                // An intact frame with the wrong sequence or chain cannot come from a torn write.
                let laterBatchFollows = later.map { $0.sequence &- UInt64($0.batchIndex) > sequence } ?? false
                scan.damage = SegmentDamage(offset: UInt64(offset), reason: problem,
                                            mayBeTornTail: !crcIntact && !laterBatchFollows,
                                            bytesAfter: UInt64(all.count - offset))
                return
            }
        }
        return scan
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
