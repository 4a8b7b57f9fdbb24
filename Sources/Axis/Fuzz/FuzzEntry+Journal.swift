/// The `journal` fuzz target: arbitrary bytes as a segment file, as a frame stream, and as one
/// record body (`[kind] ++ body`, which reaches the record decoders without a valid CRC).
extension FuzzEntry {
    @Sendable
    public static func journal(_ data: UnsafeRawBufferPointer) throws(FuzzViolation) {
        // The fuzzer's buffer is exactly `data.count` bytes, so AddressSanitizer reports any read past it.
        let hasher = SHA256Hasher()
        try journalSegment(data, hasher: hasher)
        try journalFrames(data, from: 0)
        if data.count > JournalFormat.segmentHeaderSize { try journalFrames(data, from: JournalFormat.segmentHeaderSize) }
        if let kind = data.first {
            try journalRecord(kind: RecordKind(rawValue: kind), body: Array(data.dropFirst()))
        }
    }

    /// Decodes frames one after another from `start`, checking each against its prefixes, and decodes
    /// each intact frame's body as a record.
    static func journalFrames(_ data: UnsafeRawBufferPointer, from start: Int) throws(FuzzViolation) {
        var offset = start
        while offset < data.count {
            let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
            let decoded = FrameCodec.decode(rest)
            try journalPrefixes(rest, decoded)
            guard case .frame(let frame) = decoded else { return }
            try check(frame.bodyOffset == JournalFormat.frameHeaderSize && frame.frameLength <= rest.count, "journal",
                      "frame at \(offset) claims body \(frame.bodyOffset)+\(frame.bodyLength) in \(rest.count) bytes")
            let body = Array(UnsafeRawBufferPointer(rebasing: rest[frame.bodyOffset..<(frame.bodyOffset + frame.bodyLength)]))
            try journalRecord(kind: RecordKind(rawValue: frame.kind), body: body)
            offset += frame.frameLength
        }
    }

    /// `decode` on prefixes of `bytes` must agree with `decode` on all of it: a prefix of a frame is
    /// `.incomplete` (never `.corrupt`, which would make a reader give up on a frame still arriving),
    /// `.incomplete` asks for more than it has, and `.corrupt` is final.
    static func journalPrefixes(_ bytes: UnsafeRawBufferPointer, _ whole: FrameCodec.Decoded) throws(FuzzViolation) {
        let header = JournalFormat.frameHeaderSize
        // Every prefix through the header and a little beyond, then a few further cuts.
        var lengths = Array(0..<min(bytes.count, header + 8))
        for n in [bytes.count / 2, bytes.count - 1] where n > header + 8 { lengths.append(n) }
        for n in lengths {
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<n])
            let decoded = FrameCodec.decode(prefix)
            if case .incomplete(let need) = decoded {
                try check(need > n, "journal", "a \(n)-byte prefix is .incomplete but needs only \(need) bytes")
            }
            switch (whole, decoded) {
            case (.frame(let frame), _) where n >= frame.frameLength:
                // Bytes after a frame are not the frame's business.
                try check(decoded == whole, "journal", "a \(n)-byte prefix holding the whole \(frame.frameLength)-byte frame decodes as \(decoded)")
            case (.frame(let frame), .incomplete(let need)):
                try check(need <= frame.frameLength, "journal",
                          "a \(n)-byte prefix of a \(frame.frameLength)-byte frame asks for \(need) bytes")
            case (.frame(let frame), _):
                throw FuzzViolation("journal", "a \(n)-byte prefix of a \(frame.frameLength)-byte frame decodes as \(decoded)")
            case (.incomplete, .corrupt), (.incomplete, .frame):
                throw FuzzViolation("journal", "a \(n)-byte prefix decodes as \(decoded) but all \(bytes.count) bytes are \(whole)")
            case (.corrupt, .frame):
                throw FuzzViolation("journal", "a \(n)-byte prefix is a frame but all \(bytes.count) bytes are \(whole)")
            default:
                break
            }
        }
    }

    /// A body that decodes must encode to one that decodes to the same record.
    static func journalRecord(kind: RecordKind, body: [UInt8]) throws(FuzzViolation) {
        guard let record = try? JournalRecord.decode(kind: kind, body: body) else { return }
        let encoded = record.encoded()
        let again: JournalRecord
        do {
            again = try JournalRecord.decode(kind: kind, body: encoded)
        } catch {
            throw FuzzViolation("journal", "\(kind) record decoded from \(body.count) bytes re-encodes to bytes that do not decode: \(error)")
        }
        try check(again == record, "journal", "\(kind) record does not survive encode/decode: \(record) became \(again)")
        try check(record.kind == kind, "journal", "a \(kind) body decoded as a \(record.kind) record")
    }

    /// The whole input as one segment file: the scan must account for every byte, and the good part
    /// alone must scan clean with the same records.
    static func journalSegment(_ data: UnsafeRawBufferPointer, hasher: SHA256Hasher) throws(FuzzViolation) {
        // Name the file for the sequence its header claims, so a good header passes the name check.
        let first = data.count >= 32 ? UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) : 0
        let name = JournalFormat.segmentName(firstSequence: first)
        let scan = try scanSegment(data, name: name, hasher: hasher)
        let size = UInt64(data.count)
        try check(scan.fileSize == size && scan.validEnd <= size, "journal", "scan of \(size) bytes ends good data at \(scan.validEnd)")
        if let damage = scan.damage {
            try check(damage.offset + damage.bytesAfter == size, "journal", "damage at \(damage.offset) + \(damage.bytesAfter) bytes ≠ \(size)")
        } else if scan.header != nil {
            try check(scan.validEnd + scan.preallocatedBytes == size, "journal",
                      "an undamaged segment of \(size) bytes has \(scan.validEnd) good and \(scan.preallocatedBytes) zero bytes")
        }
        guard scan.header != nil, scan.validEnd < size else { return }
        let good = try scanSegment(UnsafeRawBufferPointer(rebasing: data[0..<Int(scan.validEnd)]), name: name, hasher: hasher)
        try check(good.damage == nil && good.records == scan.records && good.endChain == scan.endChain
                  && good.lastSequence == scan.lastSequence, "journal",
                  "the good \(scan.validEnd) bytes alone scan as \(good.records) records, damage \(String(describing: good.damage)); "
                  + "within the whole file they were \(scan.records) records")
    }

    private static func scanSegment(_ data: UnsafeRawBufferPointer, name: String, hasher: SHA256Hasher) throws(FuzzViolation) -> SegmentScan {
        do {
            var records: [JournalEntry] = []
            let scan = try SegmentScanner.scan(file: FuzzMemoryFile(data), name: name, hasher: hasher) { records.append($0) }
            try check(records.count == scan.records, "journal", "\(scan.records) records scanned, \(records.count) delivered")
            for entry in records { try journalRecord(kind: entry.kind, body: entry.body) }
            return scan
        } catch let violation as FuzzViolation {
            throw violation
        } catch {
            throw FuzzViolation("journal", "scanning a segment held in memory threw \(error)")
        }
    }
}

/// A read-only file in memory, for scanning fuzz input as a segment.
final class FuzzMemoryFile: StorageFile {
    let path = "fuzz-input"
    private let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < UInt64(bytes.count), let source = bytes.baseAddress, let target = buffer.baseAddress else { return 0 }
        let n = min(buffer.count, bytes.count - Int(offset))
        target.copyMemory(from: source + Int(offset), byteCount: n)
        return n
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        throw AxisError(.storageIO, "the fuzz input is read-only")
    }

    func sync() throws {}

    func truncate(to size: UInt64) throws {
        throw AxisError(.storageIO, "the fuzz input is read-only")
    }

    func size() throws -> UInt64 { UInt64(bytes.count) }

    func close() {}
}
