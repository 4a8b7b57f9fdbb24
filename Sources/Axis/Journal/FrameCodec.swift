/// Encodes and decodes journal frames (format in `JournalFormat`).
///
/// Decoding is incremental: given the bytes available so far it answers `.frame`, `.incomplete`
/// (more bytes could still make a valid frame) or `.corrupt` (no continuation can), so a reader fed
/// one byte at a time and a reader fed whole files agree.
public enum FrameCodec {
    /// A decoded frame, pointing into the buffer it was decoded from.
    public struct Frame: Equatable, Sendable {
        public var kind: UInt8
        public var batchIndex: UInt16
        public var sequence: UInt64
        public var chain: Digest256
        /// Offset of the body in the buffer passed to `decode`, and its length.
        public var bodyOffset: Int
        public var bodyLength: Int
        /// Header plus body.
        public var frameLength: Int { JournalFormat.frameHeaderSize + bodyLength }
    }

    public enum Decoded: Equatable, Sendable {
        case frame(Frame)
        /// At least `needBytes` bytes (counted from the frame start) are needed to decide.
        case incomplete(needBytes: Int)
        case corrupt(String)
    }

    /// Appends one frame to `out` and returns its chain value.
    ///
    /// `bodyDigest` is SHA-256 of `body`; appenders compute it on their own threads before handing
    /// the record to the writer, so the writer's serial cycle hashes only 76 bytes per record.
    /// `hasher` is passed in so the writer reuses one OpenSSL context for every frame.
    @discardableResult
    public static func encode(kind: UInt8, batchIndex: UInt16, sequence: UInt64, body: UnsafeRawBufferPointer,
                              bodyDigest: Digest256, previousChain: Digest256, hasher: SHA256Hasher,
                              into out: inout [UInt8]) -> Digest256 {
        precondition(body.count <= JournalFormat.bodyBytesLimit, "record body over the format limit")
        let start = out.count
        var w = ByteWriter(capacity: JournalFormat.frameHeaderSize)
        w.u32(JournalFormat.frameMagic)
        w.u32(UInt32(body.count))
        w.u32(0)  // crc, filled below
        w.u8(JournalFormat.version)
        w.u8(kind)
        w.u16(batchIndex)
        w.u64(sequence)
        out.append(contentsOf: w.bytes)
        let chain = out.withUnsafeBytes {
            chainValue(previous: previousChain, header: UnsafeRawBufferPointer(rebasing: $0[(start + 12)..<(start + 24)]),
                       bodyDigest: bodyDigest, hasher: hasher)
        }
        chain.withBytes { out.append(contentsOf: $0) }
        out.append(contentsOf: body)
        out.withUnsafeMutableBytes { buf in
            let frame = UnsafeMutableRawBufferPointer(rebasing: buf[start...])
            var crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: frame[4..<8]))
            crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: frame[12...]))
            frame.storeBytes(of: crc.littleEndian, toByteOffset: 8, as: UInt32.self)
        }
        return chain
    }

    /// `SHA-256(previous chain ‖ header bytes 12..<24 ‖ SHA-256(body))`.
    static func chainValue(previous: Digest256, header: UnsafeRawBufferPointer, bodyDigest: Digest256,
                           hasher: SHA256Hasher) -> Digest256 {
        hasher.update(previous)
        hasher.update(header)
        hasher.update(bodyDigest)
        return hasher.finish()
    }

    public static func encode(kind: UInt8, batchIndex: UInt16 = 0, sequence: UInt64, body: [UInt8],
                              previousChain: Digest256) -> (bytes: [UInt8], chain: Digest256) {
        var out = [UInt8]()
        let hasher = SHA256Hasher()
        let chain = body.withUnsafeBytes { raw -> Digest256 in
            hasher.update(raw)
            let digest = hasher.finish()
            return encode(kind: kind, batchIndex: batchIndex, sequence: sequence, body: raw, bodyDigest: digest,
                          previousChain: previousChain, hasher: hasher, into: &out)
        }
        return (out, chain)
    }

    /// Decodes the frame at the start of `buffer`, checking magic, limits, version and CRC.
    /// The chain value is *not* checked here: that needs the previous chain (see `chainMatches`).
    public static func decode(_ buffer: UnsafeRawBufferPointer, bodyBytesMax: Int = JournalFormat.bodyBytesLimit) -> Decoded {
        let header = JournalFormat.frameHeaderSize
        let available = buffer.count
        // Magic: compare what we have, so one stray byte is `.corrupt` at once, not `.incomplete`.
        var magic = JournalFormat.frameMagic.littleEndian
        let magicOK = withUnsafeBytes(of: &magic) { m in
            (0..<min(4, available)).allSatisfy { buffer[$0] == m[$0] }
        }
        guard magicOK else { return .corrupt("no frame magic") }
        guard available >= 8 else { return .incomplete(needBytes: header) }
        let length = Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard length <= min(bodyBytesMax, JournalFormat.bodyBytesLimit) else {
            return .corrupt("body length \(length) exceeds the limit of \(min(bodyBytesMax, JournalFormat.bodyBytesLimit))")
        }
        guard available >= header + length else { return .incomplete(needBytes: header + length) }
        let stored = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        var crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buffer[4..<8]))
        crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: buffer[12..<(header + length)]))
        guard crc == stored else { return .corrupt("checksum mismatch") }
        guard buffer[12] == JournalFormat.version else { return .corrupt("unsupported frame version \(buffer[12])") }
        return .frame(Frame(
            kind: buffer[13],
            batchIndex: UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 14, as: UInt16.self)),
            sequence: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            chain: Digest256(UnsafeRawBufferPointer(rebasing: buffer[24..<56])),
            bodyOffset: header,
            bodyLength: length))
    }

    /// Whether `frame` (decoded from `buffer`) carries the chain value that follows `previousChain`.
    public static func chainMatches(_ frame: Frame, in buffer: UnsafeRawBufferPointer,
                                    previousChain: Digest256, hasher: SHA256Hasher) -> Bool {
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[frame.bodyOffset..<(frame.bodyOffset + frame.bodyLength)]))
        let bodyDigest = hasher.finish()
        return chainValue(previous: previousChain, header: UnsafeRawBufferPointer(rebasing: buffer[12..<24]),
                          bodyDigest: bodyDigest, hasher: hasher) == frame.chain
    }
}
