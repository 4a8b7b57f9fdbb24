import Foundation
import XCTest
@testable import Axis

/// A real axisd on a small tmpfs that runs out of space: submissions get a clear 507, nothing
/// accepted is lost, the journal stays readable, and accepting resumes by itself once space is freed
/// (no restart). Needs permission to mount a tmpfs (root in CI); skipped with the reason otherwise.
final class DiskFullProcessTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    let g22 = Demo.agencyCodes[0], h29 = Demo.agencyCodes[2]

    func testAFullDiskAnswers507KeepsEverythingAcceptedAndResumesWhenSpaceIsFreed() throws {
        let mountPoint = try makeTempDirectory(self, "diskfull")
        let mounted = try runTool("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint])
        guard mounted.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(mounted.output)); run as root to test a full disk") }
        defer { _ = try? runTool("umount", ["-l", mountPoint]) }
        let config = mountPoint + "/axisd.json"
        // Small journal segments, so the journal's own preallocation does not take the whole disk.
        try #"{"journal": {"segmentBytes": 1048576}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        var daemon = try Daemon(self, data: mountPoint + "/data", ["--config", config])

        // A filler leaves a few MiB; 256 KiB documents then fill them.
        let filler = mountPoint + "/filler"
        let free = try freeBytes(mountPoint)
        let fill = try runTool("fallocate", ["-l", String(max(0, free - (4 << 20))), filler])
        XCTAssertEqual(fill.status, 0, fill.output)
        let document = mountPoint + "/../diskfull-document.bin"
        try Data((0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: document))
        defer { try? FileManager.default.removeItem(atPath: document) }
        let bytes = try FileBytes.read(document)
        let signature = try daemon.sign(bytes, as: g22)

        var accepted: [String] = []
        var refusal: (status: Int, body: String)?
        for index in 0..<200 {
            let reply = try daemon.submit(document, from: g22, to: [h29], id: "full-\(index)", signature: signature)
            if reply.status == 201 {
                accepted.append(try id(reply.body))
                continue
            }
            refusal = reply
            break
        }
        let full = try XCTUnwrap(refusal, "the disk never filled up")
        XCTAssertEqual(full.status, 507, full.body)
        XCTAssertTrue(full.body.contains("storage_full") && full.body.contains("full"), full.body)
        XCTAssertGreaterThan(accepted.count, 3)
        print("disk full after \(accepted.count) documents of \(bytes.count) bytes: \(full.status) \(full.body.prefix(120))")
        // Still full: refused again, and the daemon is still ready (a full disk is not a failed journal).
        XCTAssertEqual(try daemon.submit(document, from: g22, to: [h29], id: "still-full", signature: signature).status, 507)
        let status = try ProductProcess.run(try productPath("axisctl"), ["status", "--json", "--data", daemon.data])
        XCTAssertEqual(status.code, 0, status.err)

        // Space is freed: accepting resumes without a restart.
        try FileManager.default.removeItem(atPath: filler)
        let resumed = try daemon.submit(document, from: g22, to: [h29], id: "after-free", signature: signature)
        XCTAssertEqual(resumed.status, 201, resumed.body)
        accepted.append(try id(resumed.body))

        // Nothing accepted is lost, across a restart, and the journal checks clean.
        daemon.stop()
        let check = try ProductProcess.run(try productPath("axisctl"), ["journal", "check", daemon.data])
        XCTAssertEqual(check.code, 0, check.out + check.err)
        daemon = try Daemon(self, data: mountPoint + "/data", ["--config", config])
        defer { daemon.stop() }
        for identifier in accepted {
            let trace = try daemon.curl(g22, [], path: "/v1/documents/\(identifier)")
            XCTAssertEqual(trace.status, 200, "\(identifier): \(trace.body)")
        }
        let content = try daemon.curl(h29, [], path: "/v1/documents/\(accepted[0])/content")
        XCTAssertEqual(content.status, 200)
    }

    func id(_ body: String) throws -> String {
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], body)
        return try XCTUnwrap(object["id"] as? String, body)
    }

    func freeBytes(_ path: String) throws -> Int {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { throw ProcessTestError("statvfs \(path) failed") }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }
}
