import Foundation
import XCTest
@testable import Axis

/// What an operator sees of a running axisd: /healthz, /metrics (parsed strictly as Prometheus
/// text, counters checked to move as documents flow), and configuration files refused with the key
/// and the fix named.
final class OperationsProcessTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    let g22 = Demo.agencyCodes[0], h29 = Demo.agencyCodes[2]

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// The ops listener's URL, from the demo.json the demo writes.
    func opsURL(_ daemon: Daemon) throws -> String {
        let guide = try json(try String(contentsOfFile: daemon.data + "/demo.json", encoding: .utf8))
        return try XCTUnwrap(guide["ops"] as? String, "demo.json has no ops URL")
    }

    func get(_ url: String) throws -> (status: Int, body: String, contentType: String) {
        let out = NSTemporaryDirectory() + "axis-ops-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try runTool("curl", ["-s", "-o", out, "-w", "%{http_code} %{content_type}", url])
        let parts = result.output.split(separator: " ", maxSplits: 1).map(String.init)
        return (Int(parts.first ?? "") ?? -1, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "", parts.count > 1 ? parts[1] : "")
    }

    func scrape(_ ops: String) throws -> PrometheusText {
        let reply = try get(ops + "/metrics")
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.contentType, "text/plain; version=0.0.4; charset=utf-8")
        return try PrometheusText.parse(reply.body)
    }

    func testHealthzAndMetricsMoveAsDocumentsFlow() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let ops = try opsURL(daemon)
        let health = try get(ops + "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(try json(health.body)["status"] as? String, "ready")
        XCTAssertEqual(try get(ops + "/other").status, 404)

        let before = try scrape(ops)
        XCTAssertEqual(before.value("axis_ready"), 1)
        let accepted0 = try XCTUnwrap(before.value("axis_documents_accepted_total"))
        let rejected0 = before.value("axis_documents_rejected_total", ["reason": "signature_rejected"]) ?? 0
        let queued0 = before.value("axis_queue_deliveries", ["state": "queued"]) ?? 0
        let acked0 = try XCTUnwrap(before.value("axis_deliveries_acknowledged_total"))
        let batches0 = try XCTUnwrap(before.value("axis_journal_batch_records_count"))
        XCTAssertGreaterThan(batches0, 0, "the demo's own records went through the journal")
        XCTAssertNotNil(before.value("axis_http_open_connections"))

        let text = "metrics test\n"
        let file = daemon.data + "/metrics-doc.txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let good = try daemon.submit(file, from: g22, to: [h29], id: "metrics-1", signature: try daemon.sign(Array(text.utf8), as: g22))
        XCTAssertEqual(good.status, 201, good.body)
        // Signed over other bytes: a signature that does not hold.
        let bad = try daemon.submit(file, from: g22, to: [h29], id: "metrics-2", signature: try daemon.sign(Array("other\n".utf8), as: g22))
        XCTAssertEqual(bad.status, 422, bad.body)
        XCTAssertEqual((try json(bad.body)["error"] as? [String: Any])?["code"] as? String, "signature_rejected")

        let after = try scrape(ops)
        XCTAssertEqual(after.value("axis_documents_accepted_total"), accepted0 + 1)
        XCTAssertEqual(after.value("axis_documents_rejected_total", ["reason": "signature_rejected"]), rejected0 + 1)
        XCTAssertEqual(after.value("axis_accept_seconds_count"), (before.value("axis_accept_seconds_count") ?? 0) + 1)
        XCTAssertEqual(after.value("axis_queue_deliveries", ["state": "queued"]), queued0 + 1)
        XCTAssertGreaterThan(try XCTUnwrap(after.value("axis_journal_batch_records_count")), batches0)
        XCTAssertGreaterThan(try XCTUnwrap(after.value("axis_journal_bytes_total")), before.value("axis_journal_bytes_total") ?? 0)

        // Pulled and acknowledged: the queue gauge moves to acknowledged, the pull latency is observed.
        let inbox = try daemon.curl(h29, [], path: "/v1/inbox?agency=\(h29)")
        let ids = (try json(inbox.body)["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertFalse(ids.isEmpty, inbox.body)
        for id in ids { XCTAssertEqual(try daemon.curl(h29, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 200) }
        let acked = try scrape(ops)
        XCTAssertEqual(acked.value("axis_deliveries_acknowledged_total"), acked0 + Double(ids.count))
        XCTAssertEqual(acked.value("axis_delivery_seconds_count", ["mode": "pull"]), (before.value("axis_delivery_seconds_count", ["mode": "pull"]) ?? 0) + Double(ids.count))
        XCTAssertEqual(acked.value("axis_queue_deliveries", ["state": "queued"]) ?? 0, queued0 + 1 - Double(ids.count))
    }

    func testBadConfigurationFilesAreRefusedNamingTheKeyAndTheFix() throws {
        let dir = try makeTempDirectory(self, "badcfg")
        let cases: [(name: String, json: String, expected: [String])] = [
            ("unknown", #"{"delivery": {"maxBackofSeconds": 60}}"#,
             ["unknown key \"delivery.maxBackofSeconds\"", "did you mean \"delivery.maxBackoffSeconds\"", "docs/CONFIGURATION.md"]),
            ("type", #"{"api": {"leaseSeconds": "ten"}}"#, ["\"api.leaseSeconds\"", "\"ten\""]),
            ("missing-cert", #"{"api": {"tlsCertificate": "/nonexistent/axis/server.pem", "tlsKey": "/nonexistent/axis/server.key"}}"#,
             ["\"api.tlsCertificate\"", "/nonexistent/axis/server.pem", "does not exist"]),
            ("syntax", "{\"log\": {\"level\": \"info\",}}", ["line 1"]),
        ]
        for c in cases {
            let path = dir + "/\(c.name).json"
            try c.json.write(toFile: path, atomically: true, encoding: .utf8)
            let run = try ProductProcess.run(try productPath("axisd"), ["--config", path, "--data", dir + "/data-\(c.name)"])
            XCTAssertEqual(run.code, 64, "\(c.name): \(run.err)")
            for text in c.expected { XCTAssertTrue(run.err.contains(text), "\(c.name): '\(text)' not in: \(run.err)") }
            XCTAssertTrue(run.err.contains(path), "\(c.name): the file is named: \(run.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/data-\(c.name)/journal"), "\(c.name): nothing was started")
        }
        // A missing file is refused the same way.
        let missing = try ProductProcess.run(try productPath("axisd"), ["--config", dir + "/absent.json"])
        XCTAssertEqual(missing.code, 64, missing.err)
        XCTAssertTrue(missing.err.contains(dir + "/absent.json"), missing.err)
    }

    /// Four clients of our own submit as fast as they can; SIGTERM lands in the middle. axisd exits 0,
    /// and after a restart every document whose receipt a client got is there (and a resubmission of
    /// it is answered 200 with the same id).
    func testSigtermDuringSubmissionsLosesNothingReceiptedAndExitsCleanly() throws {
        let daemon = try Daemon(self)
        let pki = daemon.pki
        let tls = try TLSContext(.client(trust: try TLSPeerTrust(try TrustStore.load(pki.trustConfiguration)),
                                         credential: try TLSCredential.load(
                                            certificateChainFile: daemon.data + "/pki/tls/systems/\(g22).pem",
                                            privateKeyFile: daemon.data + "/pki/tls/systems/\(g22).key")))
        let receipted = Locked<[(senderID: String, id: String, body: [UInt8], signature: String)]>([])
        let enough = ConditionLock()
        let port = daemon.port
        let (sender, recipient) = (g22, h29)
        let submitUntilRefused: @Sendable (Int) -> Void = { worker in
            guard let client = try? HTTPClient(host: "127.0.0.1", port: port, tls: tls, serverName: "localhost") else { return }
            for n in 0..<100_000 {
                let senderID = "term-\(worker)-\(n)"
                let body = Array("Công văn \(senderID)\n".utf8)
                guard let signed = try? Demo.sign(body, as: sender, pki: pki) else { return }
                let signature = Base64.encode(signed)
                let request = HTTPClientRequest.post("/v1/documents", headers: [
                    ("Axis-From", sender), ("Axis-To", recipient), ("Axis-Document-Id", senderID), ("Axis-Signature", signature),
                ], body: body)
                // Any failure is the daemon going away: the document may or may not be stored, but
                // it was not receipted, so nothing is owed for it.
                guard let response = try? client.send(request), response.status == 201,
                      let reply = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
                      let id = reply["id"] as? String else { return }
                receipted.update { $0.append((senderID, id, body, signature)) }
                enough.withLock { enough.broadcast() }
            }
        }
        let finished = (0..<4).map { _ in Promise<Void>() }
        for (worker, done) in finished.enumerated() {
            Thread.detachNewThread {
                submitUntilRefused(worker)
                done.fulfil(())
            }
        }
        let deadline = Date().addingTimeInterval(60)
        enough.withLock {
            while receipted.read({ $0.count }) < 60 && Date() < deadline { enough.wait(seconds: 1) }
        }
        XCTAssertGreaterThanOrEqual(receipted.read { $0.count }, 60, "the clients got receipts before SIGTERM")
        daemon.process.signal(SIGTERM)
        for done in finished { done.wait() }
        let stopped = try daemon.process.waitForStderr(containing: "event=axisd.stopped")
        XCTAssertEqual(daemon.process.wait(), 0, stopped)

        let all = receipted.read { $0 }
        XCTAssertGreaterThanOrEqual(all.count, 60)
        let again = try Daemon(self, data: daemon.data)
        defer { again.stop() }
        let client = try HTTPClient(host: "127.0.0.1", port: again.port, tls: tls, serverName: "localhost")
        for document in all {
            let trace = try client.send(.get("/v1/documents/\(document.id)"))
            XCTAssertEqual(trace.status, 200, "\(document.senderID) was receipted before SIGTERM: \(trace.bodyText)")
        }
        let last = try XCTUnwrap(all.last)
        let resubmitted = try client.send(.post("/v1/documents", headers: [
            ("Axis-From", g22), ("Axis-To", h29), ("Axis-Document-Id", last.senderID), ("Axis-Signature", last.signature),
        ], body: last.body))
        XCTAssertEqual(resubmitted.status, 200, resubmitted.bodyText)
        XCTAssertEqual(try json(resubmitted.bodyText)["id"] as? String, last.id)
    }

    /// `log.format: json`: every stderr line is one JSON object with time, level and event.
    func testJSONLogsAreOneObjectPerLine() throws {
        let dir = try makeTempDirectory(self, "jsonlog")
        let config = dir + "/axisd.json"
        try #"{"log": {"format": "json"}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ProductProcess(try productPath("axisd"), ["--demo", "--data", dir + "/data", "--listen", "127.0.0.1:0",
                                                                      "--config", config])
        var lines: [String] = []
        while let line = try process.stderr.nextLine(timeoutMillis: 60_000) {
            lines.append(line)
            if line.contains("\"axisd.ready\"") { break }
        }
        process.signal(SIGTERM)
        lines += try ProductProcess.drain(&process.stderr)
        XCTAssertEqual(process.wait(), 0)
        XCTAssertGreaterThan(lines.count, 8)
        var events: [String] = []
        for line in lines {
            let object = try json(line)
            XCTAssertNotNil(object["level"] as? String, line)
            XCTAssertNotNil(object["ts"] ?? object["time"], line)
            events.append(try XCTUnwrap(object["event"] as? String, line))
        }
        for expected in ["journal.recovered", "ops.listening", "api.listening", "delivery.started", "axisd.ready", "axisd.stopped"] {
            XCTAssertTrue(events.contains(expected), "\(expected) not in \(events)")
        }
    }
}
