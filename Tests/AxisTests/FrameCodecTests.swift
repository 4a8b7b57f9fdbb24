import XCTest
import Axis

/// The journal's frame and segment-header formats (`JournalFormat`, `FrameCodec`, `SegmentHeader`)
/// and the CRC32C they rely on.
final class FrameCodecTests: XCTestCase {
    private let genesis = JournalFormat.genesisChain(journalID: Array(0..<16))

    // MARK: - Helpers

    private func randomBody(_ count: Int, _ rng: inout SeededRandom) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    private func decode(_ bytes: [UInt8], bodyBytesMax: Int = JournalFormat.bodyBytesLimit) -> FrameCodec.Decoded {
        bytes.withUnsafeBytes { FrameCodec.decode($0, bodyBytesMax: bodyBytesMax) }
    }

    private func chainMatches(_ frame: FrameCodec.Frame, in bytes: [UInt8], previous: Digest256) -> Bool {
        bytes.withUnsafeBytes { FrameCodec.chainMatches(frame, in: $0, previousChain: previous, hasher: SHA256Hasher()) }
    }

    /// Recomputes the CRC of a frame held at the start of `bytes` (after the test edited it).
    private func fixCRC(_ bytes: inout [UInt8], frameLength: Int) {
        let crc = CRC32C.checksum(Array(bytes[4..<8]) + Array(bytes[12..<frameLength]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[8 + i] = $0[i] } }
    }

    private func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
    }

    /// A decoder as a network or file reader uses it: bytes arrive in chunks, frames come out.
    private struct StreamReader {
        var buffer: [UInt8] = []
        var frames: [(frame: FrameCodec.Frame, body: [UInt8])] = []
        var corrupt: String?

        mutating func feed<C: Collection>(_ chunk: C) where C.Element == UInt8 {
            buffer.append(contentsOf: chunk)
            while corrupt == nil && !buffer.isEmpty {
                switch buffer.withUnsafeBytes({ FrameCodec.decode($0) }) {
                case .frame(let f):
                    frames.append((f, Array(buffer[f.bodyOffset..<(f.bodyOffset + f.bodyLength)])))
                    buffer.removeFirst(f.frameLength)
                case .incomplete(let need):
                    precondition(need > buffer.count, "incomplete must ask for more than it has")
                    return
                case .corrupt(let reason):
                    corrupt = reason
                }
            }
        }
    }

    // MARK: - Round trips

    func testFramesRoundTripForManyBodySizes() {
        var rng = SeededRandom(seed: 1)
        let sizes = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 55, 56, 57, 63, 64, 65, 127, 128, 255, 256, 257,
                     1000, 4095, 4096, 4097, 65_535, 65_536, 1 << 20]
        var previous = genesis
        for (i, size) in sizes.enumerated() {
            let body = randomBody(size, &rng)
            let kind = UInt8(truncatingIfNeeded: i * 37)
            let sequence = UInt64(1) << UInt64(i % 64) | UInt64(i)
            let batchIndex = UInt16(truncatingIfNeeded: i * 4099)
            let (bytes, chain) = FrameCodec.encode(kind: kind, batchIndex: batchIndex, sequence: sequence, body: body,
                                                   previousChain: previous)
            XCTAssertEqual(bytes.count, JournalFormat.frameHeaderSize + size, "size \(size)")
            XCTAssertEqual(Array(bytes[0..<4]), Array("AXJR".utf8), "magic in file order, size \(size)")
            XCTAssertEqual(u32(bytes, 4), UInt32(size), "little-endian body length, size \(size)")
            XCTAssertEqual(u32(bytes, 8), CRC32C.checksum(Array(bytes[4..<8]) + Array(bytes[12...])),
                           "crc covers the length and everything from the version on, size \(size)")
            XCTAssertEqual(bytes[12], JournalFormat.version)
            // The chain is SHA-256(previous ‖ bytes 12..<24 ‖ SHA-256(body)), as the format comment says.
            let expectedChain = SHA256Hasher.digest(previous.bytes + Array(bytes[12..<24]) + SHA256Hasher.digest(body).bytes)
            XCTAssertEqual(chain, expectedChain, "size \(size)")
            XCTAssertEqual(Array(bytes[24..<56]), chain.bytes, "size \(size)")

            guard case .frame(let frame) = decode(bytes) else {
                XCTFail("size \(size): \(decode(bytes))")
                continue
            }
            XCTAssertEqual(frame.kind, kind)
            XCTAssertEqual(frame.batchIndex, batchIndex)
            XCTAssertEqual(frame.sequence, sequence)
            XCTAssertEqual(frame.chain, chain)
            XCTAssertEqual(frame.bodyOffset, JournalFormat.frameHeaderSize)
            XCTAssertEqual(frame.bodyLength, size)
            XCTAssertEqual(frame.frameLength, bytes.count)
            XCTAssertEqual(Array(bytes[frame.bodyOffset...]), body, "size \(size)")
            XCTAssertTrue(chainMatches(frame, in: bytes, previous: previous), "size \(size)")
            XCTAssertFalse(chainMatches(frame, in: bytes, previous: chain), "size \(size): wrong previous chain accepted")
            previous = chain
        }
    }

    func testBodiesOfEveryByteValueRoundTrip() {
        var bodies: [[UInt8]] = [Array(0...255), Array((0...255).reversed()), [UInt8](repeating: 0xAA, count: 300)]
        bodies += (0...255).map { [UInt8($0)] }
        bodies += (0...255).map { [UInt8](repeating: UInt8($0), count: 57) }
        for body in bodies {
            let (bytes, chain) = FrameCodec.encode(kind: 7, sequence: 42, body: body, previousChain: genesis)
            guard case .frame(let frame) = decode(bytes) else {
                XCTFail("body \(body.prefix(4))… of \(body.count) bytes does not decode")
                continue
            }
            XCTAssertEqual(Array(bytes[frame.bodyOffset..<(frame.bodyOffset + frame.bodyLength)]), body)
            XCTAssertEqual(frame.chain, chain)
            XCTAssertEqual(frame.sequence, 42)
            XCTAssertEqual(frame.kind, 7)
        }
    }

    func testFramesEncodedWithOneSharedHasherChainTogetherInOneBuffer() {
        var rng = SeededRandom(seed: 2)
        let hasher = SHA256Hasher()
        var buffer: [UInt8] = []
        var chains: [Digest256] = []
        var bodies: [[UInt8]] = []
        var chain = genesis
        for i in 0..<50 {
            let body = randomBody(Int.random(in: 0...300, using: &rng), &rng)
            chain = body.withUnsafeBytes {
                FrameCodec.encode(kind: 1, batchIndex: UInt16(i), sequence: UInt64(100 + i), body: $0,
                                  bodyDigest: SHA256Hasher.digest(body), previousChain: chain, hasher: hasher, into: &buffer)
            }
            // The one-shot encoder (fresh hasher) agrees with the reused one.
            XCTAssertEqual(FrameCodec.encode(kind: 1, batchIndex: UInt16(i), sequence: UInt64(100 + i), body: body,
                                             previousChain: chains.last ?? genesis).chain, chain)
            chains.append(chain)
            bodies.append(body)
        }
        var offset = 0
        var previous = genesis
        for i in 0..<50 {
            let rest = Array(buffer[offset...])
            guard case .frame(let frame) = decode(rest) else { return XCTFail("frame \(i) at \(offset) does not decode") }
            XCTAssertEqual(frame.sequence, UInt64(100 + i))
            XCTAssertEqual(frame.batchIndex, UInt16(i))
            XCTAssertEqual(frame.chain, chains[i])
            XCTAssertEqual(Array(rest[frame.bodyOffset..<(frame.bodyOffset + frame.bodyLength)]), bodies[i])
            XCTAssertTrue(chainMatches(frame, in: rest, previous: previous), "frame \(i)")
            previous = frame.chain
            offset += frame.frameLength
        }
        XCTAssertEqual(offset, buffer.count)
    }

    // MARK: - Incremental decoding

    func testEveryProperPrefixIsIncompleteAndAsksForTheRightCount() {
        var rng = SeededRandom(seed: 3)
        for size in [0, 1, 5, 8, 55, 56, 100, 1000] {
            let (bytes, _) = FrameCodec.encode(kind: 2, sequence: 9, body: randomBody(size, &rng), previousChain: genesis)
            for cut in 0..<bytes.count {
                let expected = cut < 8 ? JournalFormat.frameHeaderSize : bytes.count
                XCTAssertEqual(decode(Array(bytes[0..<cut])), .incomplete(needBytes: expected), "size \(size), cut \(cut)")
            }
            guard case .frame(let frame) = decode(bytes) else { return XCTFail("size \(size) does not decode whole") }
            XCTAssertEqual(frame.frameLength, bytes.count)
            // Bytes after the frame belong to the next one and do not change this one.
            guard case .frame(let again) = decode(bytes + randomBody(77, &rng)) else {
                return XCTFail("size \(size) with trailing bytes does not decode")
            }
            XCTAssertEqual(again, frame)
        }
    }

    func testAReaderFedByteByByteYieldsEachFrameExactlyAtItsLastByte() {
        var rng = SeededRandom(seed: 4)
        var stream: [UInt8] = []
        var ends: [Int] = []
        var bodies: [[UInt8]] = []
        var chain = genesis
        for i in 0..<40 {
            let body = randomBody([0, 1, 56, 200, 3000][i % 5] + Int.random(in: 0...3, using: &rng), &rng)
            let encoded = FrameCodec.encode(kind: 3, sequence: UInt64(i + 1), body: body, previousChain: chain)
            chain = encoded.chain
            stream += encoded.bytes
            ends.append(stream.count)
            bodies.append(body)
        }
        var reader = StreamReader()
        var yieldedAt: [Int] = []
        for (i, byte) in stream.enumerated() {
            let before = reader.frames.count
            reader.feed(CollectionOfOne(byte))
            XCTAssertNil(reader.corrupt, "byte \(i)")
            if reader.frames.count > before {
                XCTAssertEqual(reader.frames.count, before + 1, "one byte completes at most one frame (at \(i))")
                yieldedAt.append(i + 1)
            }
        }
        XCTAssertEqual(yieldedAt, ends)
        XCTAssertEqual(reader.frames.map(\.body), bodies)
        XCTAssertEqual(reader.frames.map(\.frame.sequence), Array(1...40))
        XCTAssertTrue(reader.buffer.isEmpty)
    }

    func testSplittingAStreamAtEveryOffsetGivesTheSameFrames() {
        var rng = SeededRandom(seed: 5)
        var stream: [UInt8] = []
        var bodies: [[UInt8]] = []
        var chain = genesis
        for i in 0..<6 {
            let body = randomBody(Int.random(in: 0...90, using: &rng), &rng)
            let encoded = FrameCodec.encode(kind: 4, sequence: UInt64(i + 1), body: body, previousChain: chain)
            chain = encoded.chain
            stream += encoded.bytes
            bodies.append(body)
        }
        for split in 0...stream.count {
            var reader = StreamReader()
            reader.feed(stream[0..<split])
            let early = reader.frames.count
            reader.feed(stream[split...])
            XCTAssertNil(reader.corrupt, "split \(split)")
            XCTAssertEqual(reader.frames.map(\.body), bodies, "split \(split)")
            XCTAssertEqual(reader.frames.last?.frame.chain, chain, "split \(split)")
            // Frames that were complete before the split came out before the rest arrived.
            var complete = 0
            var end = 0
            for f in reader.frames {
                end += f.frame.frameLength
                if end <= split { complete += 1 }
            }
            XCTAssertEqual(early, complete, "split \(split)")
        }
    }

    // MARK: - Incomplete versus corrupt

    func testIncompleteIsDistinctFromCorrupt() {
        let (bytes, _) = FrameCodec.encode(kind: 1, sequence: 1, body: Array(repeating: 9, count: 100), previousChain: genesis)
        // A wrong first byte is corrupt at once: no continuation can fix it.
        XCTAssertEqual(decode([0x41, 0x58, 0x4A]), .incomplete(needBytes: 56))
        guard case .corrupt = decode([0x41, 0x58, 0x4A, 0x53]) else { return XCTFail("segment magic taken for a frame") }
        guard case .corrupt = decode([0x00]) else { return XCTFail("one wrong byte is not corrupt") }
        guard case .corrupt = decode(Array(repeating: 0, count: 4096)) else { return XCTFail("zeros are not corrupt") }
        // A length over the limit is corrupt as soon as the length is readable.
        var huge = Array(bytes[0..<8])
        withUnsafeBytes(of: UInt32(JournalFormat.bodyBytesLimit + 1).littleEndian) { for i in 0..<4 { huge[4 + i] = $0[i] } }
        guard case .corrupt(let reason) = decode(huge) else { return XCTFail("over-limit length is not corrupt") }
        XCTAssertTrue(reason.contains("exceeds"), reason)
        // The caller's smaller limit applies too.
        guard case .corrupt = decode(bytes, bodyBytesMax: 99) else { return XCTFail("bodyBytesMax ignored") }
        guard case .frame = decode(bytes, bodyBytesMax: 100) else { return XCTFail("a body at bodyBytesMax is refused") }
        guard case .corrupt = decode(Array(bytes[0..<8]), bodyBytesMax: 99) else {
            return XCTFail("an over-limit length must be corrupt, not incomplete")
        }
        // Whole but with a wrong checksum: corrupt, not incomplete.
        var bad = bytes
        bad[bad.count - 1] ^= 1
        XCTAssertEqual(decode(bad), .corrupt("checksum mismatch"))
    }

    func testFlippingAnyByteIsCorruptOrIncompleteNeverADifferentFrame() {
        var rng = SeededRandom(seed: 6)
        let (bytes, _) = FrameCodec.encode(kind: 5, batchIndex: 3, sequence: 77, body: randomBody(40, &rng),
                                           previousChain: genesis)
        let (next, _) = FrameCodec.encode(kind: 5, batchIndex: 4, sequence: 78, body: randomBody(300, &rng),
                                          previousChain: genesis)
        for index in 0..<bytes.count {
            for mask: UInt8 in [0x01, 0x10, 0x80, 0xFF] {
                var flipped = bytes
                flipped[index] ^= mask
                let alone = decode(flipped)
                let followed = decode(flipped + next)
                switch alone {
                case .frame:
                    XCTFail("byte \(index) ^ \(mask): a damaged frame decoded as \(alone)")
                case .incomplete:
                    // Only a larger length can make a damaged frame look unfinished.
                    XCTAssertTrue((4..<8).contains(index), "byte \(index) ^ \(mask): \(alone)")
                case .corrupt:
                    break
                }
                // With bytes after it, a lengthened frame has enough input to be judged: still never a frame.
                if case .frame = followed { XCTFail("byte \(index) ^ \(mask) followed by a frame decoded as \(followed)") }
            }
        }
    }

    func testABodyRewrittenWithAFixedChecksumDecodesButFailsTheChain() {
        var rng = SeededRandom(seed: 7)
        let body = randomBody(64, &rng)
        let (bytes, chain) = FrameCodec.encode(kind: 1, sequence: 5, body: body, previousChain: genesis)
        // Kind, batch index, sequence and body bytes (the version byte has its own test).
        for index in [13, 14, 16, 23, JournalFormat.frameHeaderSize, bytes.count - 1] {
            var tampered = bytes
            tampered[index] ^= 0x20
            fixCRC(&tampered, frameLength: bytes.count)
            guard case .frame(let frame) = decode(tampered) else {
                XCTFail("byte \(index): a frame with a fixed checksum does not decode")
                continue
            }
            XCTAssertEqual(frame.chain, chain, "the stored chain is unchanged")
            XCTAssertFalse(chainMatches(frame, in: tampered, previous: genesis), "byte \(index): tampering not caught by the chain")
        }
    }

    func testAnUnknownFrameVersionIsCorrupt() {
        var (bytes, _) = FrameCodec.encode(kind: 1, sequence: 5, body: [1, 2, 3], previousChain: genesis)
        bytes[12] = 2
        fixCRC(&bytes, frameLength: bytes.count)
        XCTAssertEqual(decode(bytes), .corrupt("unsupported frame version 2"))
    }

    // MARK: - CRC32C

    func testCRC32CKnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        // RFC 3720 (iSCSI) appendix B.4.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum(Array(0..<32) as [UInt8]), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum(Array((0..<32).reversed()) as [UInt8]), 0x113F_DB5C)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum(Array("a".utf8)), 0xC1D0_4330)
    }

    func testCRC32CIsTheSameSplitAnywhereAndAtAnyAlignment() {
        var rng = SeededRandom(seed: 8)
        let data = randomBody(200, &rng)
        let whole = CRC32C.checksum(data)
        data.withUnsafeBytes { all in
            for split in 0...data.count {
                let first = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: all[0..<split]))
                XCTAssertEqual(CRC32C.update(first, UnsafeRawBufferPointer(rebasing: all[split...])), whole, "split \(split)")
            }
        }
        // The slicing-by-8 loop reads unaligned words: start the same bytes at every misalignment.
        for shift in 0..<8 {
            let padded = [UInt8](repeating: 0x5A, count: shift) + data
            let crc = padded.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[shift...])) }
            XCTAssertEqual(crc, whole, "shift \(shift)")
        }
        // A checksum over a non-contiguous collection agrees with the array one.
        XCTAssertEqual(CRC32C.checksum(data.lazy.map { $0 }), whole)
    }

    // MARK: - Segment header

    private func sampleHeader() -> SegmentHeader {
        SegmentHeader(journalID: Array(100..<116), firstSequence: 0x0102_0304_0506_0708,
                      createdAt: Timestamp(millis: 1_790_000_000_123), previousChain: genesis)
    }

    func testSegmentHeaderRoundTrips() {
        for first: UInt64 in [1, 2, 1 << 40, .max] {
            var header = sampleHeader()
            header.firstSequence = first
            header.createdAt = Timestamp(millis: -5)
            let bytes = header.encoded()
            XCTAssertEqual(bytes.count, JournalFormat.segmentHeaderSize)
            XCTAssertEqual(Array(bytes[0..<4]), Array("AXJS".utf8))
            XCTAssertEqual(SegmentHeader.decode(bytes), .success(header))
            // A header followed by frames (a whole segment) decodes the same.
            XCTAssertEqual(SegmentHeader.decode(bytes + [1, 2, 3, 4]), .success(header))
        }
        XCTAssertEqual(SegmentHeader.decode(sampleHeader().encoded()), .success(sampleHeader()))
    }

    func testSegmentHeaderErrors() {
        let good = sampleHeader().encoded()
        for n in 0..<JournalFormat.segmentHeaderSize {
            XCTAssertEqual(SegmentHeader.decode(Array(good[0..<n])), .failure(.truncated(n)), "\(n) bytes")
        }
        var magic = good
        magic[0] ^= 1
        XCTAssertEqual(SegmentHeader.decode(magic), .failure(.badMagic))
        XCTAssertEqual(SegmentHeader.decode(FrameCodec.encode(kind: 1, sequence: 1, body: Array(repeating: 0, count: 30),
                                                              previousChain: genesis).bytes), .failure(.badMagic),
                       "a frame is not a segment header")
        var version = good
        version[4] = 2
        XCTAssertEqual(SegmentHeader.decode(version), .failure(.unsupportedVersion(2)))
        var size = good
        size[6] = 81
        XCTAssertEqual(SegmentHeader.decode(size), .failure(.unsupportedVersion(1)), "a header size this version does not know")
        for index in 8..<76 {
            var flipped = good
            flipped[index] ^= 0x04
            XCTAssertEqual(SegmentHeader.decode(flipped), .failure(.checksumMismatch), "byte \(index)")
        }
        for error: SegmentHeaderError in [.truncated(3), .badMagic, .unsupportedVersion(9), .checksumMismatch] {
            XCTAssertFalse(error.description.isEmpty)
        }
        XCTAssertTrue(SegmentHeaderError.truncated(3).description.contains("3 of 80"))
        XCTAssertTrue(SegmentHeaderError.unsupportedVersion(9).description.contains("9"))
    }

    // MARK: - Segment names

    func testSegmentNamesSortInLogOrderAndParseBack() {
        let sequences: [UInt64] = [1, 9, 10, 99, 100, 12_345, 1 << 40, .max]
        let names = sequences.map { JournalFormat.segmentName(firstSequence: $0) }
        XCTAssertEqual(names.sorted(), names)
        XCTAssertEqual(names[0], "00000000000000000001.axj")
        XCTAssertEqual(names.map { JournalFormat.firstSequence(ofSegmentNamed: $0) }, sequences)
        for bad in ["1.axj", "0000000000000000001.axj", "000000000000000000001.axj", "0000000000000000000a.axj",
                    "00000000000000000001.axjx", "00000000000000000001", "LOCK", "99999999999999999999.axj",
                    "0000000000000000000١.axj"] {
            XCTAssertNil(JournalFormat.firstSequence(ofSegmentNamed: bad), bad)
        }
    }
}
