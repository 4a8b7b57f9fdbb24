import Foundation
import XCTest
@testable import Axis

/// Receipts, audits and export bundles, checked with Axis and with stock `openssl`.
final class EvidenceTests: XCTestCase {
    struct Stored {
        let data: String
        let setup: Demo.Setup
        let exchange: Demo.Exchange
    }

    /// A data directory holding one signed, receipted, acknowledged document (the demo's exchange).
    func storedDocument() throws -> Stored {
        let data = try makeTempDirectory(self, "evidence")
        let core = try AxisCore(layout: AxisCore.Layout(data: data))
        defer { core.close() }
        let setup = try Demo.prepare(core)
        _ = try Demo.seedDirectory(core, setup: setup)
        let exchange = try Demo.exchangeOneDocument(core, setup: setup)
        return Stored(data: data, setup: setup, exchange: exchange)
    }

    @discardableResult
    func shell(_ command: String, in directory: String) throws -> TestPKI.ProcessResult {
        try TestPKI.run("bash", ["-c", "cd '\(directory)' && \(command)"], logDirectory: directory)
    }

    func testReceiptIsCanonicalJSONSignedByTheAxisAndStockOpenSSLAcceptsIt() throws {
        let stored = try storedDocument()
        let accepted = stored.exchange.accepted
        let json = String(decoding: accepted.receipt.canonicalJSON, as: UTF8.self)
        XCTAssertEqual(json, "{\"acceptedAt\":\"\(accepted.record.acceptedAt)\",\"chainHash\":\"\(accepted.position.chain.hex)\","
            + "\"document\":\"\(accepted.record.id.hex)\",\"recipients\":[\"000.00.00.H29\"],\"sender\":\"000.00.00.G22\","
            + "\"senderDocumentId\":\"\(accepted.record.senderDocumentID)\",\"sequence\":\(accepted.position.sequence),"
            + "\"sha256\":\"\(accepted.record.payload.sha256.hex)\",\"signatureSha256\":\"\(try XCTUnwrap(accepted.record.signature).sha256.hex)\","
            + "\"size\":\(accepted.record.payload.length),\"type\":\"axis-acceptance-receipt\",\"version\":1}")
        // Stock openssl verifies the receipt against the development root and prints exactly that JSON.
        let dir = try makeTempDirectory(self, "receipt")
        try Data(accepted.signedReceipt).write(to: URL(fileURLWithPath: dir + "/receipt.p7s"))
        let result = try shell("openssl cms -verify -binary -inform DER -in receipt.p7s -CAfile '\(stored.setup.pki.rootCertificatePath)' "
                               + "-purpose any -out receipt.json", in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("Verification successful"), result.output)
        XCTAssertEqual(try String(contentsOfFile: dir + "/receipt.json", encoding: .utf8), json)
        // Axis's own check: the signature holds and the content matches the facts, and not other facts.
        let good = try ReceiptVerification.axisReceipt(accepted.signedReceipt, expected: accepted.receipt, verifier: stored.setup.verifier)
        XCTAssertTrue(good.isTrusted, "\(good.failures)")
        var other = accepted.receipt
        other.sequence += 1
        let bad = try ReceiptVerification.axisReceipt(accepted.signedReceipt, expected: other, verifier: stored.setup.verifier)
        XCTAssertEqual(bad.failures.map(\.check), [.receiptContent])
    }

    func testNonASCIIFactsAreEscapedInTheCanonicalJSON() throws {
        let receipt = AcceptanceReceipt(document: DocumentID(high: 1, low: 2), sha256: .zero, size: 1, sender: try AgencyCode("000.00.00.G22"),
                                        recipients: [], senderDocumentID: "Số 12/QĐ \"x\"", signatureSHA256: nil,
                                        acceptedAt: Timestamp(millis: 0), sequence: 1, chainHash: .zero)
        let json = String(decoding: receipt.canonicalJSON, as: UTF8.self)
        XCTAssertTrue(json.contains("\"senderDocumentId\":\"S\\u1ed1 12/Q\\u0110 \\\"x\\\"\""), json)
        XCTAssertFalse(json.contains("signatureSha256"))
        XCTAssertTrue(receipt.canonicalJSON.allSatisfy { $0 < 0x80 })
    }

    func testRecipientReceiptsDetachedOrNamingTheDocument() throws {
        let stored = try storedDocument()
        let pki = stored.setup.pki
        let document = Array("the document".utf8)
        let h41 = try XCTUnwrap(pki.agency("000.00.00.H41"))  // RSA
        let key = try PrivateKey.load(file: h41.keyPath)
        let certificate = try XCTUnwrap(Certificate.load(file: h41.certificatePath).first)
        let chain = try Certificate.load(file: pki.intermediateCertificatePath)
        let binding = AgencyBinding(agency: try AgencyCode("000.00.00.H41"), fingerprints: [h41.fingerprint])
        let verifier = stored.setup.verifier

        let detached = try DetachedSigner.sign(document, key: key, certificate: certificate, chain: chain)
        XCTAssertTrue(try ReceiptVerification.recipientReceipt(detached, document: document, recipient: binding, verifier: verifier).isTrusted)
        let naming = try DetachedSigner.signAttached(Array("received sha256=\(SHA256Hasher.digest(document).hex) ok".utf8),
                                                     key: key, certificate: certificate, chain: chain)
        let named = try ReceiptVerification.recipientReceipt(naming, document: document, recipient: binding, verifier: verifier)
        XCTAssertTrue(named.isTrusted, "\(named.failures)")
        let elsewhere = try ReceiptVerification.recipientReceipt(naming, document: Array("another".utf8), recipient: binding, verifier: verifier)
        XCTAssertEqual(elsewhere.failures.map(\.check), [.receiptContent])
        let wrongAgency = AgencyBinding(agency: try AgencyCode("000.00.00.G17"), fingerprints: [try XCTUnwrap(pki.agency("000.00.00.G17")).fingerprint])
        let misbound = try ReceiptVerification.recipientReceipt(detached, document: document, recipient: wrongAgency, verifier: verifier)
        XCTAssertEqual(misbound.failures.map(\.check), [.agencyBinding])
    }

    func testAuditOfAStoredDocumentPassesAndFindsTampering() throws {
        let stored = try storedDocument()
        let id = stored.exchange.document
        let audit = try StoredDocumentAudit.run(dataDirectory: stored.data, document: id, verifier: stored.setup.verifier)
        XCTAssertTrue(audit.isValid, "\(audit.problems)")
        XCTAssertEqual(audit.signature?.isTrusted, true)
        XCTAssertEqual(audit.receipt?.outcome(.receiptContent)?.status, .passed)
        XCTAssertEqual(audit.recipientReceipts.map(\.recipient.rawValue), ["000.00.00.H29"])
        XCTAssertEqual(audit.recipientReceipts.first?.report.isTrusted, true)

        // Flip one byte of the stored document: the audit says the stored bytes are not the accepted ones.
        let ref = stored.exchange.accepted.record.payload
        let path = "\(stored.data)/payloads/" + PayloadStore.segmentName(ref.segment)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        handle.seek(toFileOffset: ref.offset + UInt64(PayloadStore.headerSize) + 3)
        let byte = handle.readData(ofLength: 1)[0]
        handle.seek(toFileOffset: ref.offset + UInt64(PayloadStore.headerSize) + 3)
        handle.write(Data([byte ^ 0x20]))
        handle.closeFile()
        let tampered = try StoredDocumentAudit.run(dataDirectory: stored.data, document: id, verifier: stored.setup.verifier)
        XCTAssertFalse(tampered.isValid)
        XCTAssertTrue(tampered.problems.contains { $0.hasPrefix("stored document:") && $0.contains("SHA-256") }, "\(tampered.problems)")
    }

    func testExportBundleVerifiesWithTheCommandsInItsREADME() throws {
        let stored = try storedDocument()
        let out = try makeTempDirectory(self, "bundle") + "/evidence"
        let trust = try TrustStore.load(stored.setup.pki.trustConfiguration)
        let written = try ExportBundle.write(dataDirectory: stored.data, document: stored.exchange.document, to: out, trust: trust)
        XCTAssertEqual(Set(written.files), ["document", "document.p7s", "signer.pem", "chain.pem", "receipt.p7s", "receipt.json",
                                            "recipient-000.00.00.H29.p7s", "trust.pem", "crls.pem", "README.txt"])
        let readme = try String(contentsOfFile: out + "/README.txt", encoding: .utf8)
        let commands = readme.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("openssl ") || $0.hasPrefix("sha256sum ") || $0.hasPrefix("cmp ") }
        XCTAssertGreaterThanOrEqual(commands.count, 5, readme)
        for command in commands {
            let result = try shell(command, in: out)
            if command.contains("recipient-000.00.00.H29.p7s") {
                // H29 signs with Ed25519, which OpenSSL 3.0's cms command cannot check; the README says so.
                XCTAssertNotEqual(result.status, 0)
                XCTAssertTrue(readme.contains("cannot check Ed25519"), readme)
                continue
            }
            XCTAssertEqual(result.status, 0, "\(command)\n\(result.output)")
        }
        XCTAssertTrue(try shell("sha256sum document", in: out).output.contains(stored.exchange.accepted.record.payload.sha256.hex))
        // A second export into the same directory is refused, not merged.
        XCTAssertThrowsError(try ExportBundle.write(dataDirectory: stored.data, document: stored.exchange.document, to: out))
    }

    // MARK: - axisctl verify / export as processes

    func axisctl(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try ProductProcess.run(try productPath("axisctl"), args)
    }

    func testAxisctlVerifyExitCodesAndJSON() throws {
        let pki = try TestPKI.shared()
        let dir = try makeTempDirectory(self, "cli-verify")
        let document = Array("a document to verify\n".utf8)
        try Data(document).write(to: URL(fileURLWithPath: dir + "/doc"))
        try Data(try pki.opensslSign(document, leaf: .rsa2048)).write(to: URL(fileURLWithPath: dir + "/doc.p7s"))
        try Data(document + [0x21]).write(to: URL(fileURLWithPath: dir + "/altered"))
        let trust = ["--trust", pki.trustDirectory, "--crl-dir", pki.crlDirectory]

        let good = try axisctl(["verify", dir + "/doc", "--signature", dir + "/doc.p7s"] + trust)
        XCTAssertEqual(good.code, 0, good.out + good.err)
        XCTAssertTrue(good.out.contains("result: VALID"), good.out)
        for check in SignatureCheck.allCases where check != .receiptContent {
            XCTAssertTrue(good.out.contains(check.rawValue), "missing \(check) in\n\(good.out)")
        }
        let bad = try axisctl(["verify", dir + "/altered", "--signature", dir + "/doc.p7s", "--json"] + trust)
        XCTAssertEqual(bad.code, 1)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bad.out.utf8)) as? [String: Any])
        let report = try XCTUnwrap(object["report"] as? [String: Any])
        XCTAssertEqual(report["valid"] as? Bool, false)
        let checks = try XCTUnwrap(report["checks"] as? [[String: Any]])
        XCTAssertEqual(checks.filter { $0["status"] as? String == "failed" }.map { $0["check"] as? String }, ["signature"])

        XCTAssertEqual(try axisctl(["verify", dir + "/doc", "--signature", dir + "/doc.p7s"]).code, 64, "--trust is required")
        XCTAssertEqual(try axisctl(["verify", dir + "/doc"] + trust).code, 64, "--signature is required")
        XCTAssertEqual(try axisctl(["verify", dir + "/missing", "--signature", dir + "/doc.p7s"] + trust).code, 66)
        // A 50 MB non-CMS "signature" is refused unread, as invalid, with the size in the message.
        try Data(count: 50 << 20).write(to: URL(fileURLWithPath: dir + "/huge.p7s"))
        let huge = try axisctl(["verify", dir + "/doc", "--signature", dir + "/huge.p7s"] + trust)
        XCTAssertEqual(huge.code, 1)
        XCTAssertTrue(huge.err.contains("52428800 bytes; at most 1048576"), huge.err)
        let notCA = try axisctl(["verify", dir + "/doc", "--signature", dir + "/doc.p7s", "--trust", pki.leaf(.rsa2048).certPath])
        XCTAssertEqual(notCA.code, 78)
        XCTAssertTrue(notCA.err.contains("not a CA certificate"), notCA.err)
    }

    func testAxisctlVerifyDataAndExport() throws {
        let stored = try storedDocument()
        let id = stored.exchange.document.hex
        let trust = ["--trust", stored.setup.pki.directory + "/trust", "--crl-dir", stored.setup.pki.directory + "/crl"]
        let audit = try axisctl(["verify", "--data", stored.data, id] + trust)
        XCTAssertEqual(audit.code, 0, audit.out + audit.err)
        XCTAssertTrue(audit.out.hasSuffix("audit: VALID"), audit.out)
        let json = try axisctl(["verify", "--data", stored.data, id, "--json"] + trust)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        XCTAssertEqual(object["valid"] as? Bool, true)
        XCTAssertEqual((object["document"] as? [String: Any])?["id"] as? String, id)
        XCTAssertEqual(try axisctl(["verify", "--data", stored.data, "not-an-id"] + trust).code, 64)
        let out = try makeTempDirectory(self, "cli-export") + "/bundle"
        let export = try axisctl(["export", "--data", stored.data, id, "--out", out] + trust)
        XCTAssertEqual(export.code, 0, export.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/README.txt"))
        XCTAssertEqual(try axisctl(["export", "--data", stored.data, id]).code, 64, "--out is required")
    }
}
