import Foundation
import XCTest
@testable import Axis

/// `axisctl status` and `axisctl queue …` against a real axisd over its admin socket: hold stops
/// delivery until release, every change is in the trace with the caller's uid, delete/expire need a
/// reason, --dry-run changes nothing, exit codes 0/1/2/64/69, and another user cannot connect.
final class AxisctlAdminTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    let g22 = Demo.agencyCodes[0], h29 = Demo.agencyCodes[2], h41 = Demo.agencyCodes[3]

    func axisctl(_ arguments: [String], stdin: String? = nil) throws -> (code: Int32, out: String, err: String) {
        if let stdin {
            let result = try runTool(try productPath("axisctl"), arguments, input: Array(stdin.utf8))
            return (result.status, result.output, result.output)
        }
        return try ProductProcess.run(try productPath("axisctl"), arguments)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func submit(_ daemon: Daemon, _ id: String, to: [String]) throws -> String {
        let text = "admin test \(id)\n"
        let file = daemon.data + "/\(id).txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let reply = try daemon.submit(file, from: g22, to: to, id: id, signature: try daemon.sign(Array(text.utf8), as: g22))
        XCTAssertEqual(reply.status, 201, reply.body)
        return try XCTUnwrap(try json(reply.body)["id"] as? String)
    }

    func inbox(_ daemon: Daemon, _ agency: String) throws -> [String] {
        let reply = try daemon.curl(agency, [], path: "/v1/inbox?agency=\(agency)")
        return (try json(reply.body)["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    func nextSequence(_ data: String) throws -> Int {
        let status = try axisctl(["status", "--data", data, "--json"])
        XCTAssertEqual(status.code, 0, status.err)
        return try XCTUnwrap((try json(status.out)["journal"] as? [String: Any])?["nextSequence"] as? Int)
    }

    func testHoldReleaseDeleteAndExpireAreJournaledWithTheCallersUid() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let data = daemon.data
        let id = try submit(daemon, "adm-1", to: [h29])

        let listed = try axisctl(["queue", "list", "--data", data])
        XCTAssertEqual(listed.code, 0, listed.err)
        let lines = listed.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("ID") ?? false, listed.out)
        XCTAssertTrue(lines.contains { $0.hasPrefix(id) && $0.contains(h29) && $0.contains("queued") }, listed.out)

        let held = try axisctl(["queue", "hold", id, "--data", data, "--reason", "check the annex"])
        XCTAssertEqual(held.code, 0, held.err)
        XCTAssertTrue(held.out.hasPrefix("held 1 delivery"), held.out)
        XCTAssertFalse(try inbox(daemon, h29).contains(id), "a held item is not handed out")

        // Changing nothing: a dry run, and refusals.
        let before = try nextSequence(data)
        let dry = try axisctl(["queue", "release", id, "--data", data, "--dry-run"])
        XCTAssertEqual(dry.code, 0, dry.err)
        XCTAssertTrue(dry.out.hasPrefix("would release 1 delivery"), dry.out)
        XCTAssertTrue(dry.out.contains("held → queued"), dry.out)
        let noReason = try axisctl(["queue", "delete", id, "--data", data])
        XCTAssertEqual(noReason.code, 64)
        XCTAssertTrue(noReason.err.contains("needs --reason"), noReason.err)
        XCTAssertEqual(try nextSequence(data), before, "the journal is unchanged")
        XCTAssertFalse(try inbox(daemon, h29).contains(id))

        let released = try axisctl(["queue", "release", id, "--data", data, "--reason", "annex checked"])
        XCTAssertEqual(released.code, 0, released.err)
        XCTAssertEqual(try inbox(daemon, h29), [id], "released: handed out again")

        // Partial: one applies, one does not (already held twice is not a change).
        let other = try submit(daemon, "adm-2", to: [h41])
        let partial = try axisctl(["queue", "expire", "-", "--data", data, "--reason", "sent by mistake"], stdin: "\(id)\n\(other)\n")
        XCTAssertEqual(partial.code, 0, "both were open (leased and queued): \(partial.out)")
        let again = try axisctl(["queue", "hold", id, other, "--data", data, "--reason", "late"])
        XCTAssertEqual(again.code, 1, "nothing applied to expired deliveries: \(again.out)")
        let third = try submit(daemon, "adm-3", to: [h41])
        let mixed = try axisctl(["queue", "hold", id, third, "--data", data])
        XCTAssertEqual(mixed.code, 2, "partial: \(mixed.out)")

        let shown = try axisctl(["queue", "show", id, "--data", data, "--json"])
        XCTAssertEqual(shown.code, 0, shown.err)
        let events = try json(shown.out)["events"] as? [[String: Any]] ?? []
        let admin = "admin:uid=\(getuid()),gid=\(getgid())"
        let mine = events.filter { $0["actor"] as? String == admin }.map { "\($0["event"] ?? "") \($0["detail"] ?? "")" }
        XCTAssertEqual(mine, ["hold check the annex", "release annex checked", "expire sent by mistake"])
        let text = try axisctl(["queue", "show", id, "--data", data])
        XCTAssertTrue(text.out.contains("expired"), text.out)
        XCTAssertTrue(text.out.contains(admin), text.out)

        let shape = try axisctl(["queue", "shape", "--data", data])
        XCTAssertEqual(shape.code, 0, shape.err)
        let shapeLines = shape.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(shapeLines.first?.hasPrefix("RECIPIENT") ?? false, shape.out)
        XCTAssertTrue(shapeLines.contains { $0.hasPrefix(h41) && $0.contains(" 1 ") }, "the held document for H41: \(shape.out)")

        let status = try axisctl(["status", "--data", data])
        XCTAssertEqual(status.code, 0, status.err)
        XCTAssertTrue(status.out.contains("admin \(data)/admin.sock"), status.out)
        XCTAssertTrue(status.out.contains("expired 2"), status.out)
    }

    func testUnavailableDaemonAndForeignUsersGetExit69() throws {
        let missing = try axisctl(["status", "--socket", "/nonexistent/axis/admin.sock"])
        XCTAssertEqual(missing.code, 69)
        XCTAssertTrue(missing.err.contains("/nonexistent/axis/admin.sock"), missing.err)
        XCTAssertTrue(missing.err.contains("start it"), missing.err)

        let daemon = try Daemon(self)
        defer { daemon.stop() }
        var info = stat()
        XCTAssertEqual(lstat(daemon.data + "/admin.sock", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        guard getuid() == 0 else {
            throw XCTSkip("running axisctl as another user needs root (setpriv); the socket's mode 0600 is checked above")
        }
        let foreign = try runTool("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", try productPath("axisctl"),
                                              "status", "--socket", daemon.data + "/admin.sock"])
        XCTAssertEqual(foreign.status, 69, foreign.output)
        XCTAssertTrue(foreign.output.contains("permission denied"), foreign.output)
    }

    /// `admin.group`: the socket is mode 0660 and owned by the group, whose members may connect;
    /// other users still may not. Every change is still recorded with the caller's own uid.
    func testAdminGroupMembersMayConnectAndOthersMayNot() throws {
        let dir = try makeTempDirectory(self, "admgroup")
        let config = dir + "/axisd.json"
        try #"{"admin": {"socket": "admin.sock", "group": "nogroup"}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(self, data: dir + "/data", ["--config", config])
        defer { daemon.stop() }
        var info = stat()
        XCTAssertEqual(lstat(dir + "/admin.sock", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        XCTAssertEqual(info.st_gid, try XCTUnwrap(getgrnam("nogroup")).pointee.gr_gid)
        guard getuid() == 0 else {
            throw XCTSkip("running axisctl as another user needs root (setpriv); the socket's mode and group are checked above")
        }
        chmod(dir, 0o755)
        let member = try runTool("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", try productPath("axisctl"),
                                             "status", "--socket", dir + "/admin.sock"])
        XCTAssertEqual(member.status, 0, member.output)
        let id = try submit(daemon, "grp-1", to: [h29])
        let held = try runTool("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", try productPath("axisctl"),
                                           "queue", "hold", id, "--reason", "by a group member", "--socket", dir + "/admin.sock"])
        XCTAssertEqual(held.status, 0, held.output)
        let trace = try axisctl(["queue", "show", id, "--socket", dir + "/admin.sock"])
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee.pw_uid
        XCTAssertTrue(trace.out.contains("admin:uid=\(nobody)"), "the member's own uid is on the record: \(trace.out)")
        let outsider = try runTool("setpriv", ["--reuid=nobody", "--regid=daemon", "--clear-groups", try productPath("axisctl"),
                                               "status", "--socket", dir + "/admin.sock"])
        XCTAssertEqual(outsider.status, 69, outsider.output)
    }

    /// `admin.socket` in the configuration moves the socket; `axisctl --config` finds it there.
    func testAdminSocketFromTheConfiguration() throws {
        let dir = try makeTempDirectory(self, "admsock")
        let config = dir + "/axisd.json"
        try #"{"admin": {"socket": "admin-elsewhere.sock"}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(self, data: dir + "/data", ["--config", config])
        defer { daemon.stop() }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/data/admin.sock"))
        let status = try axisctl(["status", "--config", config])
        XCTAssertEqual(status.code, 0, status.err)
        XCTAssertTrue(status.out.contains("admin \(dir)/admin-elsewhere.sock"), status.out)
        let guide = try json(try String(contentsOfFile: dir + "/data/demo.json", encoding: .utf8))
        XCTAssertEqual(guide["adminSocket"] as? String, dir + "/admin-elsewhere.sock")
    }

    /// The bash completion script completes commands and options from the same specs as --help.
    func testBashCompletionCompletesCommandsAndOptions() throws {
        let script = try axisctl(["completion", "bash"])
        XCTAssertEqual(script.code, 0, script.err)
        let dir = try makeTempDirectory(self, "completion")
        try script.out.write(toFile: dir + "/axisctl.bash", atomically: true, encoding: .utf8)
        let probe = """
            source \(dir)/axisctl.bash
            for line in "axisctl q" "axisctl queue h" "axisctl queue hold --dr" "axisctl queue list --st" "axisctl journal " "axisctl nope "; do
                COMP_WORDS=($line); COMP_CWORD=${#COMP_WORDS[@]}; [[ "$line" != *" " ]] && COMP_CWORD=$((COMP_CWORD - 1))
                _axisctl; echo "$line|${COMPREPLY[*]}"
            done
            """
        let result = try runTool("bash", ["-c", probe])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.split(separator: "\n").map(String.init), [
            "axisctl q|queue", "axisctl queue h|hold", "axisctl queue hold --dr|--dry-run", "axisctl queue list --st|--state",
            "axisctl journal |check dump compact --help",
            // An unknown word does not move the path: the top-level words are offered.
            "axisctl nope |status queue agency system journal verify export pki completion --help",
        ])
    }
}
