import Foundation
import XCTest
@testable import Axis

/// The native API against a real `axisd --demo`, driven by curl and openssl exactly as an office
/// system (or the demo banner) would: submit, idempotency, authorization, inbox leases, content,
/// status, acknowledgement, limits, and kill -9 during submissions.
final class NativeAPIProcessTests: XCTestCase {
    /// A running demo daemon and what a client needs to talk to it.
    final class Daemon {
        let data: String
        let process: ProductProcess
        let port: UInt16
        let pki: DevelopmentPKI
        var url: String { "https://localhost:\(port)" }

        init(_ test: XCTestCase, data: String? = nil, _ extra: [String] = []) throws {
            let data = try data ?? makeTempDirectory(test, "api")
            self.data = data
            process = try ProductProcess(try productPath("axisd"), ["--demo", "--data", data, "--listen", "127.0.0.1:0"] + extra)
            let line = try process.waitForStderr(containing: "event=api.listening")
            guard let range = line.range(of: "address=127.0.0.1:"),
                  let port = UInt16(line[range.upperBound...].prefix { $0.isNumber }) else {
                throw ProcessTestError("no port in \(line)")
            }
            self.port = port
            try process.waitForStderr(containing: "event=axisd.ready")
            pki = try DevelopmentPKI.open(data + "/pki")
        }

        func stop() {
            process.signal(SIGTERM)
            _ = process.wait()
        }

        func tlsArguments(_ agency: String) -> [String] {
            let system = data + "/pki/tls/systems/\(agency)"
            return ["--cacert", pki.rootCertificatePath, "--cert", system + ".pem", "--key", system + ".key"]
        }

        /// Runs curl as `agency`'s system; returns the status code and the body.
        func curl(_ agency: String, _ arguments: [String], path: String) throws -> (status: Int, body: String) {
            let out = NSTemporaryDirectory() + "axis-curl-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let result = try runTool("curl", ["-s", "-o", out, "-w", "%{http_code}"] + tlsArguments(agency) + arguments + [url + path])
            let body = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return (Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, body)
        }

        /// Signs `file` as `agency` with stock openssl, returns the signature's base64.
        func opensslSign(_ file: String, as agency: String) throws -> String {
            let credential = try XCTUnwrap(pki.agency(agency))
            let signed = try runTool("openssl", ["cms", "-sign", "-binary", "-in", file, "-signer", credential.certificatePath,
                                                 "-inkey", credential.keyPath, "-certfile", pki.intermediateCertificatePath,
                                                 "-outform", "DER", "-out", file + ".p7s"])
            guard signed.status == 0 else { throw ProcessTestError("openssl cms -sign: \(signed.output)") }
            return Base64.encode(try FileBytes.read(file + ".p7s"))
        }

        /// Signs `bytes` in-process as `agency` (any algorithm, Ed25519 included).
        func sign(_ bytes: [UInt8], as agency: String) throws -> String { Base64.encode(try Demo.sign(bytes, as: agency, pki: pki)) }

        func submit(_ file: String, from: String, to: [String], id: String, signature: String,
                    extra: [String] = []) throws -> (status: Int, body: String) {
            try curl(from, ["-H", "Axis-From: \(from)", "-H", "Axis-To: \(to.joined(separator: ","))", "-H", "Axis-Document-Id: \(id)",
                            "-H", "Axis-Signature: \(signature)", "--data-binary", "@\(file)"] + extra, path: "/v1/documents")
        }
    }

    let g22 = Demo.agencyCodes[0], g17 = Demo.agencyCodes[1], h29 = Demo.agencyCodes[2], h41 = Demo.agencyCodes[3]

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func inboxIDs(_ daemon: Daemon, _ agency: String, wait: Int = 0) throws -> [String] {
        let reply = try daemon.curl(agency, [], path: "/v1/inbox?wait=\(wait)")
        XCTAssertEqual(reply.status, 200, reply.body)
        let items = try XCTUnwrap(try json(reply.body)["items"] as? [[String: Any]])
        return items.compactMap { $0["id"] as? String }
    }

    func writeFile(_ directory: String, _ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    // MARK: Tests

    func testSubmitWithOpensslAndCurlThenPullReadStatusAndAcknowledge() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let work = try makeTempDirectory(self, "doc")
        let file = try writeFile(work, "doc.txt", "Công văn số 12/VPCP gửi UBND Hà Nội\n")
        let signature = try daemon.opensslSign(file, as: g22)

        let submitted = try daemon.submit(file, from: g22, to: [h29], id: "12/VPCP", signature: signature,
                                          extra: ["-H", "Axis-Subject: C%C3%B4ng%20v%C4%83n%2012", "-H", "Content-Type: text/plain"])
        XCTAssertEqual(submitted.status, 201, submitted.body)
        let accepted = try json(submitted.body)
        let id = try XCTUnwrap(accepted["id"] as? String)
        XCTAssertEqual(accepted["sha256"] as? String, SHA256Hasher.digest(try FileBytes.read(file)).hex)

        // The receipt verifies with stock openssl and names the document.
        let receipt = try XCTUnwrap(Base64.decode(try XCTUnwrap(accepted["receipt"] as? String)))
        try Data(receipt).write(to: URL(fileURLWithPath: work + "/receipt.p7s"))
        let verified = try runTool("openssl", ["cms", "-verify", "-inform", "DER", "-in", work + "/receipt.p7s",
                                               "-CAfile", daemon.pki.rootCertificatePath, "-purpose", "any"])
        XCTAssertEqual(verified.status, 0, verified.output)
        XCTAssertTrue(verified.output.contains("\"document\":\"\(id)\""), verified.output)
        XCTAssertTrue(verified.output.contains("\"sequence\":\(accepted["sequence"] as? Int ?? -1)"), verified.output)

        // Idempotent resubmission: the original receipt; other bytes under the same id: 409.
        let again = try daemon.submit(file, from: g22, to: [h29], id: "12/VPCP", signature: signature)
        XCTAssertEqual(again.status, 200, again.body)
        XCTAssertEqual(try json(again.body)["receipt"] as? String, accepted["receipt"] as? String)
        let other = try writeFile(work, "other.txt", "another document\n")
        let conflict = try daemon.submit(other, from: g22, to: [h29], id: "12/VPCP", signature: try daemon.opensslSign(other, as: g22))
        XCTAssertEqual(conflict.status, 409, conflict.body)
        XCTAssertTrue(conflict.body.contains("document_id_conflict"), conflict.body)

        // The recipient pulls (leased: a second poll sees nothing), reads the exact bytes, reports a status, acknowledges.
        XCTAssertEqual(try inboxIDs(daemon, h29), [id])
        XCTAssertEqual(try inboxIDs(daemon, h29), [], "a leased item is not listed again")
        let headers = work + "/headers"
        let content = try daemon.curl(h29, ["-D", headers], path: "/v1/documents/\(id)/content")
        XCTAssertEqual(content.status, 200)
        XCTAssertEqual(Array(content.body.utf8), try FileBytes.read(file))
        let head = try String(contentsOfFile: headers, encoding: .utf8)
        XCTAssertTrue(head.contains("Axis-From: \(g22)"), head)
        XCTAssertTrue(head.contains("Axis-Signature: \(signature)"), head)
        XCTAssertTrue(head.contains("Axis-Sha256: \(accepted["sha256"] as? String ?? "?")"), head)

        let status = try daemon.curl(h29, ["-d", "{\"code\":\"03\",\"description\":\"Đã tiếp nhận\"}"], path: "/v1/documents/\(id)/status")
        XCTAssertEqual(status.status, 201, status.body)
        let badStatus = try daemon.curl(h29, ["-d", "{\"code\":\"99\"}"], path: "/v1/documents/\(id)/status")
        XCTAssertEqual(badStatus.status, 400, badStatus.body)

        // The recipient's own signed receipt: a detached signature over the bytes it received.
        let recipientReceipt = try XCTUnwrap(Base64.decode(try daemon.sign(try FileBytes.read(file), as: h29)))
        try Data(recipientReceipt).write(to: URL(fileURLWithPath: work + "/ack.p7s"))
        let ack = try daemon.curl(h29, ["-H", "Content-Type: application/pkcs7-signature", "--data-binary", "@\(work)/ack.p7s"],
                                  path: "/v1/inbox/\(id)/ack")
        XCTAssertEqual(ack.status, 200, ack.body)
        XCTAssertTrue(ack.body.contains("receipt verified and kept"), ack.body)
        XCTAssertEqual(try daemon.curl(h29, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 200, "a repeated ack is harmless")

        // The sender sees the status message in its inbox, and the whole story on the trace.
        XCTAssertEqual(try inboxIDs(daemon, g22).count, 1)
        let trace = try daemon.curl(g22, [], path: "/v1/documents/\(id)")
        XCTAssertEqual(trace.status, 200, trace.body)
        let recipients = try XCTUnwrap(try json(trace.body)["recipients"] as? [[String: Any]])
        XCTAssertEqual(recipients.first?["state"] as? String, "acknowledged")
        XCTAssertEqual(recipients.first?["lastStatus"] as? String, "03")
        XCTAssertEqual(recipients.first?["recipientReceipt"] as? Bool, true)
        let events = try XCTUnwrap(try json(trace.body)["events"] as? [[String: Any]]).compactMap { $0["event"] as? String }
        XCTAssertEqual(events, ["accepted", "receipt-issued", "leased", "status", "acknowledged"])
    }

    func testAuthorizationAndRejections() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let work = try makeTempDirectory(self, "auth")
        let file = try writeFile(work, "doc.txt", "for H29 only\n")
        let signature = try daemon.opensslSign(file, as: g22)

        // Sending as an agency the system does not host.
        let wrongSender = try daemon.curl(g22, ["-H", "Axis-From: \(g17)", "-H", "Axis-To: \(h29)", "-H", "Axis-Document-Id: a1",
                                                "-H", "Axis-Signature: \(signature)", "--data-binary", "@\(file)"], path: "/v1/documents")
        XCTAssertEqual(wrongSender.status, 403, wrongSender.body)
        // A valid signature, but by another agency's certificate (G17's system sending G17 with G22's signature).
        let notBound = try daemon.curl(g17, ["-H", "Axis-From: \(g17)", "-H", "Axis-To: \(h29)", "-H", "Axis-Document-Id: a2",
                                             "-H", "Axis-Signature: \(signature)", "--data-binary", "@\(file)"], path: "/v1/documents")
        XCTAssertEqual(notBound.status, 422, notBound.body)
        XCTAssertTrue(notBound.body.contains("agency-binding: signer") && notBound.body.contains("not bound to agency \(g17)"), notBound.body)
        // Unknown recipient, named.
        let unknown = try daemon.submit(file, from: g22, to: [h29, "000.00.00.Z99"], id: "a3", signature: signature)
        XCTAssertEqual(unknown.status, 422, unknown.body)
        XCTAssertTrue(unknown.body.contains("000.00.00.Z99"), unknown.body)
        // Tampered bytes: every failed check listed.
        let tampered = try writeFile(work, "tampered.txt", "for H41 only\n")
        let rejected = try daemon.submit(tampered, from: g22, to: [h29], id: "a4", signature: signature)
        XCTAssertEqual(rejected.status, 422, rejected.body)
        XCTAssertNotNil(try json(rejected.body)["error"].flatMap { ($0 as? [String: Any])?["details"] as? [String] })
        // Missing and malformed headers.
        XCTAssertEqual(try daemon.curl(g22, ["--data-binary", "@\(file)"], path: "/v1/documents").status, 400)
        XCTAssertEqual(try daemon.submit(file, from: g22, to: [h29], id: "a5", signature: "not base64!").status, 400)

        let accepted = try daemon.submit(file, from: g22, to: [h29], id: "a6", signature: signature)
        XCTAssertEqual(accepted.status, 201, accepted.body)
        let id = try XCTUnwrap(try json(accepted.body)["id"] as? String)
        // Another agency's inbox, document, content and acknowledgement.
        XCTAssertEqual(try daemon.curl(h41, [], path: "/v1/inbox?agency=\(h29)").status, 403)
        XCTAssertEqual(try daemon.curl(h41, [], path: "/v1/documents/\(id)").status, 403)
        XCTAssertEqual(try daemon.curl(h41, [], path: "/v1/documents/\(id)/content").status, 403)
        XCTAssertEqual(try daemon.curl(h41, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 403)
        XCTAssertEqual(try daemon.curl(g22, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 403, "the sender cannot ack for the recipient")
        XCTAssertEqual(try inboxIDs(daemon, h41), [])
        // No client certificate: the TLS handshake itself fails.
        let anonymous = try runTool("curl", ["-s", "--cacert", daemon.pki.rootCertificatePath, daemon.url + "/v1/inbox"])
        XCTAssertNotEqual(anonymous.status, 0)
        // Unknown routes and methods.
        XCTAssertEqual(try daemon.curl(g22, [], path: "/v1/nothing").status, 404)
        XCTAssertEqual(try daemon.curl(g22, ["-X", "DELETE"], path: "/v1/documents/\(id)").status, 405)
        XCTAssertEqual(try inboxIDs(daemon, h29), [id], "the recipient still gets it")
    }

    func testLeaseExpiryReturnsTheItemAndNackReleasesItAtOnce() throws {
        let daemon = try Daemon(self, ["--lease-seconds", "1"])
        defer { daemon.stop() }
        let work = try makeTempDirectory(self, "lease")
        let file = try writeFile(work, "doc.txt", "lease me\n")
        let submitted = try daemon.submit(file, from: g22, to: [h29], id: "l1", signature: try daemon.opensslSign(file, as: g22))
        let id = try XCTUnwrap(try json(submitted.body)["id"] as? String)

        XCTAssertEqual(try inboxIDs(daemon, h29), [id])
        XCTAssertEqual(try inboxIDs(daemon, h29), [])
        // A long poll is answered when the 1 s lease runs out (well before its 20 s wait).
        XCTAssertEqual(try inboxIDs(daemon, h29, wait: 20), [id], "redelivered after the lease expired")
        // Give it back: listed again at once.
        let nack = try daemon.curl(h29, ["-d", "cannot process now"], path: "/v1/inbox/\(id)/nack")
        XCTAssertEqual(nack.status, 200, nack.body)
        XCTAssertEqual(try inboxIDs(daemon, h29), [id])
        XCTAssertEqual(try daemon.curl(h29, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 200)
        let trace = try daemon.curl(g22, [], path: "/v1/documents/\(id)")
        XCTAssertTrue(trace.body.contains("nack: cannot process now"), trace.body)
    }

    func testLongPollIsAnsweredWhenADocumentArrives() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let work = try makeTempDirectory(self, "poll")
        let file = try writeFile(work, "doc.txt", "wake up\n")
        let signature = try daemon.opensslSign(file, as: g22)
        let polled = Promise<String>()
        let arguments = ["-s"] + daemon.tlsArguments(h29) + [daemon.url + "/v1/inbox?wait=30"]
        Thread.detachNewThread { polled.fulfil((try? runTool("curl", arguments).output) ?? "curl failed") }
        // Submit once the poll is waiting (its registration is visible to nobody outside, so submit
        // now: if the poll comes second it finds the item at once, which is correct too).
        let submitted = try daemon.submit(file, from: g22, to: [h29], id: "p1", signature: signature)
        XCTAssertEqual(submitted.status, 201, submitted.body)
        let id = try XCTUnwrap(try json(submitted.body)["id"] as? String)
        let items = try XCTUnwrap(try json(polled.wait())["items"] as? [[String: Any]])
        XCTAssertEqual(items.compactMap { $0["id"] as? String }, [id])
    }

    func testOversizeBodyIsRefusedWith413AndNothingIsStored() throws {
        let daemon = try Daemon(self, ["--max-document-bytes", "1000"])
        defer { daemon.stop() }
        let work = try makeTempDirectory(self, "big")
        let file = try writeFile(work, "big.txt", String(repeating: "x", count: 5000))
        let refused = try daemon.submit(file, from: g22, to: [h29], id: "big1", signature: try daemon.opensslSign(file, as: g22))
        XCTAssertEqual(refused.status, 413, refused.body)
        XCTAssertTrue(refused.body.contains("body_too_large"), refused.body)
        XCTAssertEqual(try inboxIDs(daemon, h29), [])
        let trace = try daemon.curl(g22, [], path: "/v1/documents/0123456789abcdef0123456789abcdef")
        XCTAssertEqual(trace.status, 404)
    }

    /// A document far larger than what axisd may hold in memory goes in and comes out streamed:
    /// 64 MiB submitted with `curl -T` (which streams too) and fetched back byte for byte, while
    /// axisd's peak resident memory grows by less than 40 MiB (it would grow by at least the
    /// document's size if either direction buffered it). The 1 GiB figure is in docs/PERFORMANCE.md.
    func testLargeDocumentStreamsInAndOutInBoundedMemory() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let work = try makeTempDirectory(self, "large")
        let file = work + "/large.bin"
        let made = try runTool("dd", ["if=/dev/urandom", "of=\(file)", "bs=1048576", "count=64", "status=none"])
        XCTAssertEqual(made.status, 0, made.output)
        let signature = try daemon.opensslSign(file, as: g22)
        let peakBefore = try peakResidentBytes(daemon.process.pid)

        let submitted = try daemon.curl(g22, ["-X", "POST", "-T", file, "-H", "Axis-From: \(g22)", "-H", "Axis-To: \(h29)",
                                              "-H", "Axis-Document-Id: large-1", "-H", "Axis-Signature: \(signature)"],
                                        path: "/v1/documents")
        XCTAssertEqual(submitted.status, 201, submitted.body)
        let id = try XCTUnwrap(try json(submitted.body)["id"] as? String)
        let fetched = work + "/fetched.bin"
        let fetch = try runTool("curl", ["-s", "-o", fetched, "-w", "%{http_code}"] + daemon.tlsArguments(h29)
                                + [daemon.url + "/v1/documents/\(id)/content"])
        XCTAssertEqual(fetch.output.trimmingCharacters(in: .whitespacesAndNewlines), "200")
        let sums = try runTool("sha256sum", [file, fetched])
        let digests = sums.output.split(separator: "\n").map { $0.prefix(64) }
        XCTAssertEqual(digests.count, 2, sums.output)
        XCTAssertEqual(digests.first, digests.last, "the fetched bytes are the submitted bytes")
        XCTAssertEqual((try json(submitted.body)["sha256"] as? String).map { Substring($0) }, digests.first)

        let grew = try peakResidentBytes(daemon.process.pid) - peakBefore
        // Under a sanitizer (scripts/reliability/sanitize.sh) freed memory sits in its quarantine
        // instead of being reused, so resident memory grows with every piece streamed: no bound to check.
        if dlsym(dlopen(nil, RTLD_NOW), "__sanitizer_get_current_allocated_bytes") != nil { return }
        XCTAssertLessThan(grew, 40 << 20, "axisd's peak RSS grew by \(grew >> 20) MiB for a 64 MiB document in and out")
    }

    /// VmHWM of `pid`: the most resident memory it has had, in bytes.
    func peakResidentBytes(_ pid: pid_t) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        let kilobytes = try XCTUnwrap(Int(line.dropFirst("VmHWM:".count).filter(\.isNumber)))
        return kilobytes * 1024
    }

    func testKillNineDuringSubmissionsLosesNothingReceipted() throws {
        let work = try makeTempDirectory(self, "kill")
        let data = work + "/data"
        var receipted: [String: String] = [:]  // axis id → sender document id
        for round in 0..<2 {
            let daemon = try Daemon(self, data: data)
            for n in 0..<8 {
                let file = try writeFile(work, "doc-\(round)-\(n).txt", "round \(round) document \(n)\n")
                let reply = try daemon.submit(file, from: g22, to: [h29, h41], id: "k-\(round)-\(n)", signature: try daemon.sign(try FileBytes.read(file), as: g22))
                XCTAssertEqual(reply.status, 201, reply.body)
                if let id = try json(reply.body)["id"] as? String { receipted[id] = "k-\(round)-\(n)" }
            }
            daemon.process.signal(SIGKILL)
            XCTAssertEqual(daemon.process.wait(), 128 + SIGKILL)
        }
        let daemon = try Daemon(self, data: data)
        defer { daemon.stop() }
        var seen: [String: Int] = [:]
        while true {
            let ids = try inboxIDs(daemon, h29)
            if ids.isEmpty { break }
            for id in ids {
                seen[id, default: 0] += 1
                XCTAssertEqual(try daemon.curl(h29, ["-X", "POST"], path: "/v1/inbox/\(id)/ack").status, 200)
            }
        }
        XCTAssertEqual(Set(seen.keys), Set(receipted.keys), "every receipted document reaches the recipient after two kill -9s")
        XCTAssertTrue(seen.values.allSatisfy { $0 == 1 }, "each exactly once to a recipient that acks: \(seen)")
        XCTAssertEqual(try inboxIDs(daemon, h41).count, receipted.count)
    }
}
