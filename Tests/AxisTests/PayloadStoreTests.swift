import XCTest
@testable import Axis

final class PayloadStoreTests: XCTestCase {
    func testStoredPayloadReadsBackByteExactAcrossReopen() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        let bodies: [[UInt8]] = [[], [1], Array(repeating: 7, count: 4096), (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 31) }]
        let refs = try bodies.map { try store.storeAndWait($0) }
        store.close()
        let reopened = try PayloadStore(directory: dir)
        defer { reopened.close() }
        for (ref, body) in zip(refs, bodies) {
            XCTAssertEqual(try reopened.read(ref), body)
            XCTAssertEqual(ref.sha256, SHA256Hasher.digest(body))
            XCTAssertEqual(ref.length, UInt64(body.count))
        }
    }

    func testConcurrentStoresShareBatchesAndAllSucceed() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        defer { store.close() }
        let refs = Locked([Int: PayloadRef]())
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            if let ref = try? store.storeAndWait([UInt8](repeating: UInt8(i), count: 1000 + i)) {
                refs.update { $0[i] = ref }
            }
        }
        let all = refs.read { $0 }
        XCTAssertEqual(all.count, 64)
        for (i, ref) in all { XCTAssertEqual(try store.read(ref), [UInt8](repeating: UInt8(i), count: 1000 + i)) }
    }

    func testStreamedPayloadUsesItsOwnSegmentAndVerifies() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        defer { store.close() }
        let stream = try store.beginStream()
        var expected = [UInt8]()
        for i in 0..<50 {
            let chunk = [UInt8](repeating: UInt8(i), count: 10_000)
            try stream.write(chunk)
            expected += chunk
        }
        let ref = try stream.finish()
        XCTAssertEqual(ref.offset, 0)
        XCTAssertEqual(ref.length, 500_000)
        var chunks = 0
        var read = [UInt8]()
        try store.read(ref, chunkBytes: 64 << 10) { read += Array($0); chunks += 1 }
        XCTAssertEqual(read, expected)
        XCTAssertGreaterThan(chunks, 5, "a large payload is read in bounded chunks")
    }

    func testAbortedStreamLeavesNoFile() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        defer { store.close() }
        let stream = try store.beginStream()
        try stream.write([1, 2, 3])
        stream.abort()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".axp") }, [])
    }

    func testAlteredPayloadByteIsDetectedOnRead() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        defer { store.close() }
        let ref = try store.storeAndWait(Array("signed document".utf8))
        let path = dir + "/" + PayloadStore.segmentName(ref.segment)
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        bytes[Int(ref.offset) + PayloadStore.headerSize + 3] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try store.read(ref)) { XCTAssertEqual(($0 as? AxisError)?.code, .payloadCorrupt) }
    }

    /// The segment walk tools use lists every payload with its length and digest, and stops at
    /// bytes that are not a payload header (a torn end) instead of reading garbage as payloads.
    func testPayloadsOfASegmentAreListedFromTheirHeadersUpToATornEnd() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        let bodies: [[UInt8]] = [Array("first".utf8), [], Array(repeating: 9, count: 5000)]
        let refs = try bodies.map { try store.storeAndWait($0) }
        store.close()
        XCTAssertEqual(Set(refs.map(\.segment)).count, 1, "one batch segment")
        let path = dir + "/" + PayloadStore.segmentName(refs[0].segment)
        var listed = try PayloadStore.payloads(inSegment: path)
        XCTAssertEqual(listed.map(\.offset), refs.map(\.offset))
        XCTAssertEqual(listed.map(\.length), bodies.map { UInt64($0.count) })
        XCTAssertEqual(listed.map(\.sha256), bodies.map { SHA256Hasher.digest($0) })

        // A header whose bytes were cut off, then one with a wrong checksum: neither is listed.
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        var cut = PayloadStore.header(length: 1000, sha256: .zero)
        bytes.append(contentsOf: cut)
        try bytes.write(to: URL(fileURLWithPath: path))
        listed = try PayloadStore.payloads(inSegment: path)
        XCTAssertEqual(listed.count, 3)
        cut = PayloadStore.header(length: 0, sha256: .zero)
        cut[44] ^= 0xFF
        bytes = bytes.prefix(bytes.count - PayloadStore.headerSize) + Data(cut)
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try PayloadStore.payloads(inSegment: path).count, 3)
    }

    func testReferenceToMissingFileSaysRestoreFromBackup() throws {
        let dir = try makeTempDirectory(self)
        let store = try PayloadStore(directory: dir)
        defer { store.close() }
        let ref = PayloadRef(sha256: .zero, length: 3, segment: 999, offset: 0)
        XCTAssertThrowsError(try store.read(ref)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .payloadMissing)
            XCTAssertTrue("\(error)".contains("backup"))
        }
    }

    func testAFullDiskFailsOnlyThatBatchAndStoringResumesInANewSegment() throws {
        let storage = SimulatedStorage()
        let store = try PayloadStore(directory: "/p", storage: storage)
        defer { store.close() }
        let first = try store.storeAndWait(Array(repeating: 1, count: 1000))
        // Room for part of the next payload only: a torn write, then ENOSPC.
        storage.capacityBytes = storage.usedBytes + 300
        for _ in 0..<2 {
            XCTAssertThrowsError(try store.storeAndWait(Array(repeating: 2, count: 1000))) {
                XCTAssertEqual(($0 as? AxisError)?.code, .storageFull)
                XCTAssertTrue(($0 as? AxisError)?.message.contains("resumes") ?? false, "\($0)")
            }
        }
        storage.clearFaults()
        let later = try store.storeAndWait(Array(repeating: 3, count: 1000))
        XCTAssertNotEqual(later.segment, first.segment, "never appended after the torn bytes")
        XCTAssertEqual(try store.read(first), Array(repeating: 1, count: 1000))
        XCTAssertEqual(try store.read(later), Array(repeating: 3, count: 1000))
    }

    func testOversizedInlinePayloadIsRefusedWithHint() throws {
        let dir = try makeTempDirectory(self)
        var options = PayloadStore.Options()
        options.inlineBytesMax = 10
        let store = try PayloadStore(directory: dir, options: options)
        defer { store.close() }
        XCTAssertThrowsError(try store.storeAndWait([UInt8](repeating: 0, count: 11))) { error in
            XCTAssertEqual((error as? AxisError)?.code, .limitExceeded)
            XCTAssertTrue("\(error)".contains("stream"))
        }
    }
}
