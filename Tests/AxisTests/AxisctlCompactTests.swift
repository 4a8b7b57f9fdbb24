import Foundation
import XCTest
@testable import Axis

/// `axisctl journal compact` against a real axisd with small segments: a dry run changes nothing;
/// the compaction removes the finished history (and only it), keeps the directory, is signed by the
/// axis (stock `openssl cms -verify` accepts the record), and after `kill -9` and a restart the
/// journal checks healthy and what still waits is delivered.
final class AxisctlCompactTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    let g22 = Demo.agencyCodes[0], h29 = Demo.agencyCodes[2], h41 = Demo.agencyCodes[3]

    func axisctl(_ arguments: [String]) throws -> (code: Int32, out: String, err: String) {
        try ProductProcess.run(try productPath("axisctl"), arguments)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func submit(_ daemon: Daemon, _ id: String, to: String) throws -> String {
        let text = "compaction test \(id)\n"
        let file = daemon.data + "/\(id).txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let reply = try daemon.submit(file, from: g22, to: [to], id: id, signature: try daemon.sign(Array(text.utf8), as: g22))
        XCTAssertEqual(reply.status, 201, reply.body)
        return try XCTUnwrap(try json(reply.body)["id"] as? String)
    }

    func pullAndAck(_ daemon: Daemon, _ agency: String, _ id: String) throws {
        let listed = try daemon.curl(agency, [], path: "/v1/inbox?agency=\(agency)")
        XCTAssertTrue(listed.body.contains(id), listed.body)
        XCTAssertEqual(try daemon.curl(agency, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 200)
    }

    func nextSequence(_ data: String) throws -> Int {
        let status = try axisctl(["status", "--data", data, "--json"])
        return try XCTUnwrap((try json(status.out)["journal"] as? [String: Any])?["nextSequence"] as? Int, status.out)
    }

    func segments(_ data: String) throws -> [String] {
        try JournalScanner.segmentNames(in: data + "/journal", storage: PosixStorage())
    }

    func testCompactRemovesFinishedHistoryKeepsTheRestAndSurvivesKillAndRestart() throws {
        let data = try makeTempDirectory(self, "compact")
        let config = data + ".json"
        try #"{"journal":{"segmentBytes":65536}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        var daemon = try Daemon(self, data: data, ["--config", config])
        defer { daemon.stop() }

        // Segment 1: the demo's document and ours, both acknowledged. Segment 2: a directory import
        // larger than a segment. Segment 3 (the newest): a document still waiting.
        let finished = try submit(daemon, "cmp-1", to: h29)
        try pullAndAck(daemon, h29, finished)
        let agencies = (0..<200).map { #"{"code":"000.00.91.X\#(String(format: "%03d", $0))","name":"Agency \#($0) \#(String(repeating: "n", count: 400))"}"# }
        try ("[" + agencies.joined(separator: ",") + "]").write(toFile: data + "/agencies.json", atomically: true, encoding: .utf8)
        let imported = try axisctl(["agency", "import", data + "/agencies.json", "--data", data, "--reason", "fill a segment"])
        XCTAssertEqual(imported.code, 0, imported.err)
        let waiting = try submit(daemon, "cmp-2", to: h41)
        let before = try segments(data)
        XCTAssertEqual(before.count, 3, "\(before)")

        // Retention not yet passed: nothing goes. A dry run journals nothing and removes nothing.
        let kept = try axisctl(["journal", "compact", "--data", data])
        XCTAssertEqual(kept.code, 0, kept.err)
        XCTAssertTrue(kept.out.contains("nothing to remove (retention 90 days)"), kept.out)
        let sequence = try nextSequence(data)
        let dry = try axisctl(["journal", "compact", "--data", data, "--retention-days", "0", "--dry-run"])
        XCTAssertEqual(dry.code, 0, dry.err)
        XCTAssertTrue(dry.out.contains("would remove 2 of 3 journal segments"), dry.out)
        XCTAssertTrue(dry.out.contains("kept from there on because it is the segment being written"), dry.out)
        XCTAssertEqual(try nextSequence(data), sequence, "a dry run journals nothing")
        XCTAssertEqual(try segments(data), before)
        XCTAssertEqual(try axisctl(["journal", "compact", "--data", data, "--retention-days", "x"]).code, 64)

        let done = try axisctl(["journal", "compact", "--data", data, "--retention-days", "0", "--reason", "test retention"])
        XCTAssertEqual(done.code, 0, done.err)
        XCTAssertTrue(done.out.contains("  read \(before[0]) (1/3): removable"), "progress is shown: \(done.out)")
        XCTAssertTrue(done.out.contains("removed 2 of 3 journal segments"), done.out)
        XCTAssertTrue(done.out.contains("carried forward"), done.out)
        XCTAssertEqual(try segments(data).first, before[2], "history now starts at the newest segment")
        let job = try json(try axisctl(["journal", "compact", "--status", "--json", "--data", data]).out)["compaction"] as? [String: Any]
        XCTAssertEqual(job?["state"] as? String, "finished")
        XCTAssertEqual(job?["actor"] as? String, "admin:uid=\(getuid()),gid=\(getgid())")

        // The finished document is gone, the waiting one and the directory are not.
        XCTAssertEqual(try axisctl(["queue", "show", finished, "--data", data]).code, 1)
        XCTAssertEqual(try axisctl(["queue", "show", waiting, "--data", data]).code, 0)
        XCTAssertEqual(try axisctl(["agency", "show", "000.00.91.X005", "--data", data]).code, 0)

        // The compaction record is the axis's signed statement of the cut.
        let dump = try axisctl(["journal", "dump", data, "--kind", "compaction", "--json"])
        XCTAssertEqual(dump.code, 0, dump.err)
        let record = try json(String(dump.out.split(separator: "\n").last ?? ""))
        let signature = try XCTUnwrap(Base64.decode(try XCTUnwrap(record["signature"] as? String)))
        try Data(signature).write(to: URL(fileURLWithPath: data + "/compaction.p7s"))
        let verified = try runTool("openssl", ["cms", "-verify", "-inform", "DER", "-in", data + "/compaction.p7s",
                                               "-CAfile", daemon.pki.rootCertificatePath, "-purpose", "any"])
        XCTAssertEqual(verified.status, 0, verified.output)
        XCTAssertTrue(verified.output.contains("\"firstKept\":\(record["firstKept"] as? Int ?? -1)"), verified.output)

        // kill -9, restart: the journal opens and checks healthy, and what waits is still delivered.
        daemon.process.signal(SIGKILL)
        _ = daemon.process.wait()
        let check = try axisctl(["journal", "check", data])
        XCTAssertEqual(check.code, 0, check.out + check.err)
        XCTAssertTrue(check.out.contains("status: healthy"), check.out)
        daemon = try Daemon(self, data: data, ["--config", config])
        XCTAssertEqual(try axisctl(["queue", "show", finished, "--data", data]).code, 1)
        try pullAndAck(daemon, h41, waiting)
        XCTAssertEqual(try axisctl(["agency", "show", "000.00.91.X199", "--data", data]).code, 0)
    }
}
