import Foundation
import XCTest
@testable import Axis

/// Real `axisd` processes: started, signalled, killed with SIGKILL, restarted, and checked with
/// `axisctl` and the journal scanner.
final class AxisdProcessTests: XCTestCase {
    func startDemo(_ data: String, _ extra: [String] = []) throws -> ProductProcess {
        try ProductProcess(try productPath("axisd"), ["--demo", "--data", data, "--listen", "127.0.0.1:0"] + extra)
    }

    func testDemoCarriesADocumentAndStopsCleanlyOnSIGTERM() throws {
        let data = try makeTempDirectory(self)
        let axisd = try startDemo(data)
        try axisd.waitForStderr(containing: "event=axisd.ready")
        axisd.signal(SIGTERM)
        let stderr = try ProductProcess.drain(&axisd.stderr)
        XCTAssertEqual(axisd.wait(), 0, stderr.joined(separator: "\n"))
        XCTAssertTrue(stderr.contains { $0.contains("event=axisd.stopped") })
        let banner = try ProductProcess.drain(&axisd.stdout).joined(separator: "\n")
        XCTAssertTrue(banner.contains("accepted document"), banner)
        XCTAssertTrue(banner.contains("delivered and acknowledged by 000.00.00.H29"), banner)

        var kinds: [RecordKind] = []
        var state = QueueState()
        let report = try JournalScanner.scan(directory: data + "/journal", storage: PosixStorage()) { entry in
            kinds.append(entry.kind)
            try state.apply(entry)
        }
        XCTAssertTrue(report.problems.isEmpty, "\(report.problems)")
        XCTAssertEqual(kinds.first, .checkpoint)
        XCTAssertEqual(kinds.last, .checkpoint, "a clean stop records a checkpoint")
        XCTAssertEqual(state.agencies.count, 4)
        XCTAssertEqual(state.countsByState(), ["acknowledged": 1])
        let doc = try XCTUnwrap(state.documents.values.first)
        let store = try PayloadStore(directory: data + "/payloads")
        defer { store.close() }
        XCTAssertTrue(String(decoding: try store.read(doc.accepted.payload), as: UTF8.self).hasPrefix("Axis demo document"))
    }

    func testKillNineThenRestartReplaysEverythingAcknowledged() throws {
        let data = try makeTempDirectory(self)
        for round in 1...3 {
            let axisd = try startDemo(data)
            let replayed = try axisd.waitForStderr(containing: "event=queue.replayed")
            XCTAssertTrue(replayed.contains("documents=\(round - 1) "), "round \(round): \(replayed)")
            try axisd.waitForStderr(containing: "event=axisd.ready")
            axisd.signal(SIGKILL)
            XCTAssertEqual(axisd.wait(), 128 + SIGKILL)
        }
        var state = QueueState()
        let report = try JournalScanner.scan(directory: data + "/journal", storage: PosixStorage()) { try state.apply($0) }
        XCTAssertTrue(report.damage.isEmpty, "\(report.damage)")
        XCTAssertEqual(state.documents.count, 3, "every run's document survived its kill -9")
        XCTAssertEqual(state.countsByState(), ["acknowledged": 3])
    }

    func testSecondDaemonOnTheSameDataDirectoryIsRefused() throws {
        let data = try makeTempDirectory(self)
        let first = try startDemo(data)
        try first.waitForStderr(containing: "event=axisd.ready")
        let second = try ProductProcess.run(try productPath("axisd"), ["--data", data])
        XCTAssertEqual(second.code, 1)
        XCTAssertTrue(second.err.contains("already running"), second.err)
        first.signal(SIGTERM)
        XCTAssertEqual(first.wait(), 0)
    }

    func testDamagedHistoryStopsStartupUntilSalvaged() throws {
        let data = try makeTempDirectory(self)
        let axisd = try startDemo(data)
        try axisd.waitForStderr(containing: "event=axisd.ready")
        axisd.signal(SIGTERM)
        XCTAssertEqual(axisd.wait(), 0)

        // Flip one byte in the body of the first record: later batches follow it, so this is history.
        let segment = data + "/journal/" + JournalFormat.segmentName(firstSequence: 1)
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: segment))
        bytes[JournalFormat.segmentHeaderSize + JournalFormat.frameHeaderSize + 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: segment))

        let refused = try ProductProcess.run(try productPath("axisd"), ["--data", data])
        XCTAssertEqual(refused.code, 1)
        XCTAssertTrue(refused.err.contains("00000000000000000001.axj at offset 80"), refused.err)
        XCTAssertTrue(refused.err.contains("--salvage"), refused.err)

        let check = try ProductProcess.run(try productPath("axisctl"), ["journal", "check", data])
        XCTAssertEqual(check.code, 1)
        XCTAssertTrue(check.out.contains("DAMAGE damaged: 00000000000000000001.axj offset 80"), check.out)

        let salvaged = try ProductProcess(try productPath("axisd"), ["--data", data, "--salvage"])
        try salvaged.waitForStderr(containing: "event=journal.segment_salvaged segment=00000000000000000001.axj")
        try salvaged.waitForStderr(containing: "event=axisd.ready")
        salvaged.signal(SIGTERM)
        XCTAssertEqual(salvaged.wait(), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: data + "/corrupt/00000000000000000001.axj"))

        let after = try ProductProcess.run(try productPath("axisctl"), ["journal", "check", data])
        XCTAssertEqual(after.code, 0, after.out)
        let dump = try ProductProcess.run(try productPath("axisctl"), ["journal", "dump", data, "--kind", "salvage"])
        XCTAssertTrue(dump.out.contains("kind=salvage movedSegments=[00000000000000000001.axj]"), dump.out)
    }

    func testUnknownOptionExits64WithHint() throws {
        let result = try ProductProcess.run(try productPath("axisd"), ["--dmeo"])
        XCTAssertEqual(result.code, 64)
        XCTAssertTrue(result.err.contains("--dmeo"), result.err)
        XCTAssertTrue(result.err.contains("--demo"), "suggests the near miss: \(result.err)")
    }
}
