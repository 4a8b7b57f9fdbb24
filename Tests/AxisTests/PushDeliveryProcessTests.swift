import Foundation
import XCTest
@testable import Axis

/// Push delivery against real `axisd` processes: recipients' endpoints are HTTPS servers in this
/// test process (`PushReceiver`) that fail, recover, stall or never answer as each test scripts.
/// Retry spacing is checked here only as lower bounds and generous upper bounds; the exact schedule
/// is PushSchedulerTests' job, under an injected clock.
final class PushDeliveryProcessTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    let g22 = Demo.agencyCodes[0], g17 = Demo.agencyCodes[1], h29 = Demo.agencyCodes[2], h41 = Demo.agencyCodes[3]

    /// A data directory with the demo's PKI and directory, and `endpoints` set for some agencies.
    /// The endpoints are written as an administrator would (#7 brings axisctl for it): directory
    /// records appended to the journal while axisd is stopped.
    struct Setup {
        let data: String
        let pki: DevelopmentPKI
        let tls: DevelopmentTLS
    }

    func prepare(_ name: String) throws -> Setup {
        let data = try makeTempDirectory(self, name)
        let first = try Daemon(self, data: data)
        first.stop()
        let pki = try DevelopmentPKI.open(data + "/pki")
        return Setup(data: data, pki: pki, tls: try DevelopmentTLS.open(pki: pki))
    }

    func setEndpoints(_ setup: Setup, _ endpoints: [String: String]) throws {
        let core = try AxisCore(layout: AxisCore.Layout(data: setup.data))
        defer { core.close() }
        var records: [JournalRecord] = []
        for (code, url) in endpoints {
            let agency = try AgencyCode(code)
            var entry = try XCTUnwrap(core.withState { $0.agencies[agency] })
            entry.endpoint = url
            records.append(.agencyChanged(AgencyChanged(agency: entry, at: core.clock.now(), actor: .admin(uid: getuid(), gid: getgid()),
                                                        reason: "push delivery test")))
        }
        _ = try core.recordAndWait(records)
    }

    func receiver(_ setup: Setup, answers: [Int] = [], then: Int = 200, delayMillis: Int = 0, hold: Bool = false) throws -> PushReceiver {
        try PushReceiver(certificateChain: setup.tls.serverChainPath, key: setup.tls.serverKeyPath, trust: setup.pki.trustConfiguration,
                         answers: answers, then: then, delayMillis: delayMillis, hold: hold)
    }

    func config(_ setup: Setup, _ json: String) throws -> String {
        let path = setup.data + "/axisd-test.json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Submits `text` from g22 to `to`, signed in-process; returns the axis document id.
    func submit(_ daemon: Daemon, _ text: String, to: [String], id: String) throws -> String {
        let file = daemon.data + "/doc-\(id).txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let reply = try daemon.submit(file, from: g22, to: to, id: id, signature: try daemon.sign(Array(text.utf8), as: g22))
        XCTAssertEqual(reply.status, 201, reply.body)
        return try XCTUnwrap(try json(reply.body)["id"] as? String, reply.body)
    }

    /// Long-polls g22's inbox until `count` delivery events of `event` have arrived (acknowledging
    /// each item so it is not listed again); returns their bodies.
    func senderEvents(_ daemon: Daemon, _ event: String, count: Int, seconds: Int = 30) throws -> [[String: Any]] {
        var found: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while found.count < count {
            guard Date() < deadline else { throw ProcessTestError("got \(found.count) of \(count) '\(event)' events in \(seconds) s") }
            let reply = try daemon.curl(g22, [], path: "/v1/inbox?wait=5&agency=\(g22)")
            XCTAssertEqual(reply.status, 200, reply.body)
            for item in try XCTUnwrap(try json(reply.body)["items"] as? [[String: Any]]) {
                let id = try XCTUnwrap(item["id"] as? String)
                let ack = try daemon.curl(g22, ["-X", "POST"], path: "/v1/inbox/\(id)/ack")
                XCTAssertEqual(ack.status, 200, ack.body)
                guard item["kind"] as? String == "event", item["event"] as? String == event else { continue }
                let content = try daemon.curl(g22, [], path: "/v1/documents/\(id)/content")
                XCTAssertEqual(content.status, 200, content.body)
                found.append(try json(content.body))
            }
        }
        return found
    }

    func trace(_ daemon: Daemon, _ id: String, as agency: String? = nil) throws -> [String: Any] {
        let reply = try daemon.curl(agency ?? g22, [], path: "/v1/documents/\(id)")
        XCTAssertEqual(reply.status, 200, reply.body)
        return try json(reply.body)
    }

    func recipientState(_ trace: [String: Any], _ agency: String) -> [String: Any]? {
        (trace["recipients"] as? [[String: Any]])?.first { $0["agency"] as? String == agency }
    }

    // MARK: Tests

    func testFailingEndpointIsRetriedWithBackoffThenDeliveredAndTheSenderIsTold() throws {
        let setup = try prepare("push-retry")
        let endpoint = try receiver(setup, answers: [503, 500, 503], then: 200)
        try setEndpoints(setup, [h41: endpoint.url])
        let cfg = try config(setup, """
            {"delivery": {"initialBackoffSeconds": 0.2, "backoffMultiplier": 2, "maxBackoffSeconds": 5, "jitter": 0}}
            """)
        let daemon = try Daemon(self, data: setup.data, ["--config", cfg])
        defer { daemon.stop() }
        let text = "Công văn số 12/BTC — push delivery test\n"
        let id = try submit(daemon, text, to: [h41], id: "push-1")

        let pushes = try endpoint.waitFor(4)
        XCTAssertEqual(pushes.map(\.answered), [503, 500, 503, 200])
        XCTAssertEqual(pushes.map { $0.headers["Axis-Attempt"] }, ["1", "2", "3", "4"])
        for push in pushes {
            XCTAssertEqual(push.target, "/axis/inbox")
            XCTAssertEqual(push.body, Array(text.utf8), "the exact bytes")
            XCTAssertEqual(push.headers["Axis-Id"], id)
            XCTAssertEqual(push.headers["Axis-From"], g22)
            XCTAssertEqual(push.headers["Axis-To"], h41)
            XCTAssertEqual(push.headers["Axis-Document-Id"], "push-1")
            XCTAssertEqual(push.headers["Axis-Sha256"], SHA256Hasher.digest(Array(text.utf8)).hex)
            let signature = try XCTUnwrap(Base64.decode(try XCTUnwrap(push.headers["Axis-Signature"])))
            let verified = try SignatureVerifier(trust: try TrustStore.load(setup.pki.trustConfiguration))
                .verify(document: push.body, signature: signature, binding: nil)
            XCTAssertTrue(verified.isTrusted, "\(verified)")
            XCTAssertTrue(push.clientSubject.contains("CN=localhost"), "the axis presents its certificate: \(push.clientSubject)")
        }
        // Backoff 0.2 s, 0.4 s, 0.8 s (no jitter): each gap at least the delay, and not wildly more.
        let gaps = zip(pushes.dropFirst(), pushes).map { $0.at.millis - $1.at.millis }
        for (gap, delay) in zip(gaps, [200, 400, 800] as [Int64]) {
            XCTAssertGreaterThanOrEqual(gap, delay - 2, "gaps \(gaps)")
            XCTAssertLessThan(gap, delay + 3_000, "gaps \(gaps)")
        }

        let events = try senderEvents(daemon, "delivered", count: 1)
        XCTAssertEqual(events[0]["document"] as? String, id)
        XCTAssertEqual(events[0]["recipient"] as? String, h41)
        let traced = try trace(daemon, id)
        let state = try XCTUnwrap(recipientState(traced, h41))
        XCTAssertEqual(state["state"] as? String, "delivered")
        XCTAssertEqual(state["attempts"] as? Int, 4)
        let kinds = (traced["events"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
        XCTAssertEqual(kinds.filter { $0 == "push-failed" }.count, 3, "\(kinds)")
        XCTAssertEqual(kinds.filter { $0 == "push-attempted" }.count, 4, "\(kinds)")
        XCTAssertEqual(kinds.last, "delivered")
    }

    func testEndpointThatNeverRecoversExpiresAndTheSenderGetsAnEvent() throws {
        let setup = try prepare("push-expire")
        let endpoint = try receiver(setup, then: 503)
        try setEndpoints(setup, [h41: endpoint.url])
        let cfg = try config(setup, """
            {"delivery": {"initialBackoffSeconds": 0.3, "maxBackoffSeconds": 0.6, "maxLifetimeSeconds": 2}}
            """)
        let daemon = try Daemon(self, data: setup.data, ["--config", cfg])
        defer { daemon.stop() }
        let id = try submit(daemon, "never delivered\n", to: [h41], id: "push-expire-1")

        let events = try senderEvents(daemon, "expired", count: 1)
        XCTAssertEqual(events[0]["type"] as? String, "axis-event")
        XCTAssertEqual(events[0]["document"] as? String, id)
        XCTAssertEqual(events[0]["senderDocumentId"] as? String, "push-expire-1")
        XCTAssertEqual(events[0]["recipient"] as? String, h41)
        let detail = try XCTUnwrap(events[0]["detail"] as? String)
        XCTAssertTrue(detail.contains("not delivered within 2 s"), detail)
        XCTAssertTrue(detail.contains("503"), "the last error is named: \(detail)")
        XCTAssertGreaterThanOrEqual(endpoint.requests.count, 2, "it was tried more than once")

        let traced = try trace(daemon, id)
        XCTAssertEqual(recipientState(traced, h41)?["state"] as? String, "expired")
        let expiry = (traced["events"] as? [[String: Any]] ?? []).first { $0["event"] as? String == "expire" }
        XCTAssertEqual(expiry?["actor"] as? String, "policy:max-lifetime")
        let attemptsBefore = endpoint.requests.count
        // Expired is final: the next documents are pushed, the expired one never again.
        let next = try submit(daemon, "after the expiry\n", to: [h41], id: "push-expire-2")
        let pushes = try endpoint.waitFor(attemptsBefore + 1)
        XCTAssertEqual(pushes.last?.headers["Axis-Id"], next)
        XCTAssertFalse(pushes.dropFirst(attemptsBefore).contains { $0.headers["Axis-Id"] == id })
    }

    func testSlowRecipientDoesNotDelayOthers() throws {
        let setup = try prepare("push-slow")
        let slow = try receiver(setup, then: 200, delayMillis: 20_000)
        let fast = try receiver(setup)
        try setEndpoints(setup, [h41: slow.url, g17: fast.url])
        let cfg = try config(setup, """
            {"delivery": {"perRecipientConcurrency": 2, "attemptTimeoutSeconds": 60}, "shutdown": {"graceSeconds": 0.2}}
            """)
        let daemon = try Daemon(self, data: setup.data, ["--config", cfg])
        defer { daemon.stop() }
        for n in 1...3 { _ = try submit(daemon, "for the slow one \(n)\n", to: [h41], id: "slow-\(n)") }
        // Both of the slow recipient's slots are taken before the other document is even submitted.
        try slow.waitForInProgress(2)
        let id = try submit(daemon, "for the fast one\n", to: [g17], id: "fast-1")
        let fastPushes = try fast.waitFor(1, seconds: 10)
        XCTAssertEqual(fastPushes[0].headers["Axis-Id"], id)
        XCTAssertEqual(slow.inProgress, 2, "the slow recipient still holds exactly its two slots")
        XCTAssertEqual(slow.requests.count, 0, "and has answered nothing yet")
    }

    func testSigtermDuringDeliveryThenRestartKeepsLeasesDeferredRetriesAndRedeliversInterrupted() throws {
        let setup = try prepare("push-sigterm")
        // The slow system answers only once the daemon is stopped: the pushes are still under way at
        // the SIGTERM however long the test's own steps take on a loaded machine.
        let slow = try receiver(setup, then: 200, hold: true)
        let failing = try receiver(setup, then: 503)
        try setEndpoints(setup, [h41: slow.url, g17: failing.url])
        let cfg = try config(setup, """
            {"delivery": {"initialBackoffSeconds": 600, "jitter": 0, "perRecipientConcurrency": 8},
             "api": {"leaseSeconds": 600}, "shutdown": {"graceSeconds": 0.3}}
            """)
        var daemon = try Daemon(self, data: setup.data, ["--config", cfg])
        var slowIDs: [String] = [], failingIDs: [String] = [], pulledIDs: [String] = []
        for n in 1...4 { slowIDs.append(try submit(daemon, "slow \(n)\n", to: [h41], id: "t-slow-\(n)")) }
        for n in 1...3 { failingIDs.append(try submit(daemon, "failing \(n)\n", to: [g17], id: "t-fail-\(n)")) }
        for n in 1...3 { pulledIDs.append(try submit(daemon, "pulled \(n)\n", to: [h29], id: "t-pull-\(n)")) }
        _ = try failing.waitFor(3)
        let leased = try daemon.curl(h29, [], path: "/v1/inbox?agency=\(h29)")
        let leasedIDs = (try json(leased.body)["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(leasedIDs), Set(pulledIDs))
        // Wait until the failures are journaled (deferred), then note every retry time and lease end.
        var deferredUntil: [String: String] = [:]
        for id in failingIDs {
            for _ in 0..<200 where deferredUntil[id] == nil {
                let state = recipientState(try trace(daemon, id), g17)
                if state?["state"] as? String == "deferred" { deferredUntil[id] = state?["until"] as? String }
            }
        }
        XCTAssertEqual(deferredUntil.count, 3, "\(deferredUntil)")
        var leaseUntil: [String: String] = [:]
        for id in pulledIDs { leaseUntil[id] = recipientState(try trace(daemon, id), h29)?["until"] as? String }
        try slow.waitForInProgress(4)

        daemon.process.signal(SIGTERM)
        let stopped = try daemon.process.waitForStderr(containing: "event=axisd.stopped")
        XCTAssertEqual(daemon.process.wait(), 0)
        XCTAssertTrue(stopped.contains("released=4"), stopped)
        slow.releaseHeld()  // answers go to connections the stopped daemon closed; from now on it answers at once

        daemon = try Daemon(self, data: setup.data, ["--config", cfg])
        defer { daemon.stop() }
        // Nothing acknowledged (receipted) is lost.
        for id in slowIDs + failingIDs + pulledIDs { _ = try trace(daemon, id) }
        // Leases survive: the items are not listed again, and keep their end.
        let again = try daemon.curl(h29, [], path: "/v1/inbox?agency=\(h29)")
        XCTAssertEqual((try json(again.body)["items"] as? [Any])?.count, 0, again.body)
        for id in pulledIDs {
            let state = recipientState(try trace(daemon, id), h29)
            XCTAssertEqual(state?["state"] as? String, "leased")
            XCTAssertEqual(state?["until"] as? String, leaseUntil[id])
        }
        // Deferred retries survive with their times: no attempt before them.
        for id in failingIDs {
            let state = recipientState(try trace(daemon, id), g17)
            XCTAssertEqual(state?["state"] as? String, "deferred")
            XCTAssertEqual(state?["until"] as? String, deferredUntil[id])
        }
        XCTAssertEqual(failing.requests.count, 3, "no retry before its time")
        // The interrupted pushes are made again and delivered.
        let delivered = try senderEvents(daemon, "delivered", count: 4, seconds: 60)
        XCTAssertEqual(Set(delivered.compactMap { $0["document"] as? String }), Set(slowIDs))
        for id in slowIDs {
            let events = (try trace(daemon, id)["events"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
            XCTAssertTrue(events.contains("released"), "\(id): \(events)")
            XCTAssertEqual(events.last, "delivered", "\(id): \(events)")
        }
    }
}
