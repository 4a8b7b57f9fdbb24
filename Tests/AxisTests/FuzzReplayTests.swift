import Foundation
import XCTest
@testable import Axis

/// Replays every kept fuzz input (Fuzz/corpus/TARGET/* seeds and Fuzz/failcases/TARGET/* findings)
/// through the library entry points the libFuzzer harnesses call, without sanitizers: a failcase stays
/// a test until the bug it found is fixed. See Fuzz/README.md.
final class FuzzReplayTests: XCTestCase {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// The files of Fuzz/FOLDER/TARGET, sorted; none when the folder does not exist.
    static func inputs(_ folder: String, _ target: String) throws -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    func replay(_ folder: String) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for target in FuzzEntry.targets.keys.sorted() {
            for file in try Self.inputs(folder, target) {
                let bytes = Array(try Data(contentsOf: file))
                let result = bytes.withUnsafeBytes { raw in Result { () throws(FuzzViolation) in try FuzzEntry.run(target: target, raw) } }
                switch result {
                case .success(let known): XCTAssertTrue(known, target)
                case .failure(let violation): XCTFail("\(folder)/\(target)/\(file.lastPathComponent): \(violation)")
                }
                counts[target, default: 0] += 1
            }
        }
        return counts
    }

    func testEveryCorpusInputKeepsEveryInvariant() throws {
        let counts = try replay("corpus")
        for target in FuzzEntry.targets.keys.sorted() {
            XCTAssertGreaterThanOrEqual(counts[target] ?? 0, 3, "Fuzz/corpus/\(target) should hold a few seeds")
        }
    }

    func testEveryFailcaseNowKeepsEveryInvariant() throws {
        _ = try replay("failcases")
    }

    func testEveryTargetHasAHarness() {
        for target in FuzzEntry.targets.keys {
            let harness = Self.fuzzDirectory.appendingPathComponent("\(target).swift")
            let text = (try? String(contentsOf: harness, encoding: .utf8)) ?? ""
            XCTAssertTrue(text.contains("LLVMFuzzerTestOneInput"), "Fuzz/\(target).swift is missing or has no libFuzzer entry")
        }
    }

    func testEntryPointsTakeEmptyAndOneByteInputs() throws {
        for target in FuzzEntry.targets.keys.sorted() {
            for input in [[], [0], [0xFF], [UInt8(ascii: "!")], Array("\r\n".utf8)] as [[UInt8]] {
                try input.withUnsafeBytes { raw in _ = try FuzzEntry.run(target: target, raw) }
            }
        }
    }

    func testTheCMSFixtureLoadsAndItsSeedsAreTrusted() throws {
        let fixture = try FuzzEntry.cmsFixture.get()
        XCTAssertEqual(fixture.warm.cachedChains, FuzzEntry.cmsChainsMax)
        let verifier = SignatureVerifier(trust: fixture.trust, clock: FuzzEntry.FixedClock())
        for name in ["seed-ec-detached", "seed-rsa-detached", "seed-rsa-noattr"] {
            let seed = Array(try Data(contentsOf: Self.fuzzDirectory.appendingPathComponent("corpus/cms/\(name)")))
            let length = Int(seed[1]) | Int(seed[2]) << 8
            let report = try verifier.verify(document: Array(seed[3..<(3 + length)]), signature: Array(seed[(3 + length)...]), binding: nil)
            XCTAssertTrue(report.isTrusted, "\(name): \(report.failures)")
        }
    }

    func testTheJournalSeedsAreIntactSegmentsFramesAndRecords() throws {
        let segment = Array(try Data(contentsOf: Self.fuzzDirectory.appendingPathComponent("corpus/journal/segment")))
        let scan = try segment.withUnsafeBytes { raw in
            try SegmentScanner.scan(file: FuzzMemoryFile(raw), name: JournalFormat.segmentName(firstSequence: 1),
                                    hasher: SHA256Hasher(), onRecord: nil)
        }
        XCTAssertNil(scan.damage)
        XCTAssertGreaterThanOrEqual(scan.records, 3)
    }

    /// Rewrites the journal seeds from the encoder: `AXIS_FUZZ_WRITE_SEEDS=1 swift test --filter
    /// FuzzReplayTests/testWriteJournalSeeds` after a format change. Otherwise checks that the seeds
    /// on disk are still what the encoder writes.
    func testWriteJournalSeeds() throws {
        let seeds = Self.journalSeeds()
        let directory = Self.fuzzDirectory.appendingPathComponent("corpus/journal")
        if ProcessInfo.processInfo.environment["AXIS_FUZZ_WRITE_SEEDS"] == "1" {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, bytes) in seeds { try Data(bytes).write(to: directory.appendingPathComponent(name)) }
        }
        for (name, bytes) in seeds {
            let onDisk = try? Data(contentsOf: directory.appendingPathComponent(name))
            XCTAssertEqual(onDisk.map(Array.init), bytes, "Fuzz/corpus/journal/\(name) is stale: rewrite it (see this test's comment)")
        }
    }

    /// A segment of a few records, the same segment with a preallocated zero tail, one frame and one
    /// `[kind] ++ body` record per kind the factory makes. Deterministic: a fixed seed and fixed IDs.
    static func journalSeeds() -> [(String, [UInt8])] {
        var rng = SeededRandom(seed: 9)
        var byKind: [UInt8: JournalRecord] = [:]
        for _ in 0..<10_000 where byKind.count < 13 {
            let record = RecordFactory.random(using: &rng)
            if byKind[record.kind.rawValue] == nil, record.encoded().count < 600 { byKind[record.kind.rawValue] = record }
        }
        let records = byKind.keys.sorted().compactMap { byKind[$0] }
        let journalID = (0..<16).map { UInt8($0) }
        var chain = JournalFormat.genesisChain(journalID: journalID)
        var segment = SegmentHeader(journalID: journalID, firstSequence: 1, createdAt: Timestamp(millis: 1_700_000_000_000),
                                    previousChain: chain).encoded()
        var seeds: [(String, [UInt8])] = []
        for (index, record) in records.enumerated() {
            let body = record.encoded()
            let name = RecordKind.names[record.kind] ?? "kind-\(record.kind.rawValue)"
            seeds.append(("record-\(name)", [record.kind.rawValue] + body))
            seeds.append(("frame-\(name)", FrameCodec.encode(kind: record.kind.rawValue, sequence: UInt64(index + 1), body: body,
                                                              previousChain: .zero).bytes))
            if index < 5 {
                let frame = FrameCodec.encode(kind: record.kind.rawValue, batchIndex: UInt16(index), sequence: UInt64(index + 1),
                                              body: body, previousChain: chain)
                segment += frame.bytes
                chain = frame.chain
            }
        }
        seeds.append(("segment", segment))
        seeds.append(("segment-preallocated", segment + [UInt8](repeating: 0, count: 256)))
        return seeds
    }
}
