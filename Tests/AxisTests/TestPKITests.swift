import Foundation
import XCTest

/// Proves the test PKI and its two signers are what they claim, using only the `openssl` CLI (no Axis
/// code), so verifier tests built on them test the verifier and not the fixture.
final class TestPKITests: XCTestCase {
    /// The process-wide PKI (generated on first use, then cached).
    private var pki: TestPKI { get throws { try TestPKI.shared() } }
    private var scratch = ""
    private let document = [UInt8]("Công văn số 12/BTC — test document\n\u{0}\u{1}\u{FF}binary tail".utf8)

    override func setUpWithError() throws {
        _ = try pki
        scratch = try makeTempDirectory(self, "pki-test")
    }

    // MARK: helpers

    @discardableResult
    private func openssl(_ arguments: [String]) throws -> TestPKI.ProcessResult {
        try TestPKI.run("openssl", arguments, logDirectory: scratch)
    }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = scratch + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `openssl verify` of a leaf against the Axis root with the intermediate as untrusted.
    private func verify(_ name: TestPKI.LeafName, extra: [String] = []) throws -> TestPKI.ProcessResult {
        let pki = try self.pki
        let leaf = pki.leaf(name)
        var arguments = ["verify", "-CAfile", pki.rootPEMPath]
        for path in leaf.chainPaths { arguments += ["-untrusted", path] }
        return try openssl(arguments + extra + [leaf.certPath])
    }

    /// `openssl cms -verify` of a detached signature over `content`, trusting only the Axis root.
    private func cmsVerify(_ signature: [UInt8], content: [UInt8], pem: Bool = false, extra: [String] = [],
                           caFile: String? = nil) throws -> TestPKI.ProcessResult {
        let pki = try self.pki
        let sig = try write(signature, "sig-\(UUID().uuidString)")
        let doc = try write(content, "doc-\(UUID().uuidString)")
        return try openssl(["cms", "-verify", "-binary", "-inform", pem ? "PEM" : "DER", "-in", sig, "-content", doc,
                            "-CAfile", caFile ?? pki.rootPEMPath, "-purpose", "any", "-out", scratch + "/verified"] + extra)
    }

    private func flipped(_ bytes: [UInt8], at index: Int) -> [UInt8] {
        var copy = bytes
        copy[index] ^= 0x01
        return copy
    }

    private func assertAccepted(_ result: TestPKI.ProcessResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 0, "\(what): \(result.output)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains("Verification successful"), "\(what): \(result.output)", file: file, line: line)
    }

    private func assertRejected(_ result: TestPKI.ProcessResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, "\(what) was accepted: \(result.output)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Verification successful"), "\(what): \(result.output)", file: file, line: line)
    }

    // MARK: certificates

    func testGenerationIsFastAndComplete() throws {
        let pki = try self.pki
        print("TestPKI: generated in \(String(format: "%.2f", pki.generationSeconds)) s at \(pki.directory)")
        XCTAssertLessThan(pki.generationSeconds, 10, "PKI generation took \(pki.generationSeconds) s")
        let fm = FileManager.default
        for path in [pki.rootPEMPath, pki.intermediatePEMPath, pki.rootCRLPath, pki.intermediateCRLPath,
                     pki.untrustedRootPEMPath, pki.untrustedRootCRLPath] {
            XCTAssertTrue(fm.fileExists(atPath: path), path)
        }
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: pki.trustDirectory), ["root.pem"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: pki.intermediatesDirectory), ["intermediate.pem"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: pki.crlDirectory).sorted(), ["intermediate.crl.pem", "root.crl.pem"])
        var fingerprints = Set<String>()
        for name in TestPKI.LeafName.allCases {
            let leaf = pki.leaf(name)
            XCTAssertEqual(leaf.name, name)
            XCTAssertTrue(fm.fileExists(atPath: leaf.certPath), "\(name)")
            XCTAssertTrue(fm.fileExists(atPath: leaf.keyPath), "\(name)")
            XCTAssertEqual(leaf.fingerprintSHA256.count, 64, "\(name)")
            fingerprints.insert(leaf.fingerprintSHA256)
            // The recorded fingerprint is the SHA-256 of the DER.
            let der = scratch + "/\(name).der"
            try openssl(["x509", "-in", leaf.certPath, "-outform", "DER", "-out", der])
            let digest = try openssl(["dgst", "-sha256", "-r", der])
            XCTAssertEqual(digest.stdout.split(separator: " ").first.map(String.init), leaf.fingerprintSHA256, "\(name)")
        }
        XCTAssertEqual(fingerprints.count, TestPKI.LeafName.allCases.count)
    }

    func testCertificateContents() throws {
        let pki = try self.pki
        let root = try openssl(["x509", "-in", pki.rootPEMPath, "-noout", "-subject", "-issuer", "-ext", "basicConstraints,keyUsage"])
        XCTAssertTrue(root.stdout.contains("subject=C = VN, O = Axis Test PKI, CN = Axis Test Root CA"), root.stdout)
        XCTAssertTrue(root.stdout.contains("issuer=C = VN, O = Axis Test PKI, CN = Axis Test Root CA"), root.stdout)
        let intermediate = try openssl(["x509", "-in", pki.intermediatePEMPath, "-noout", "-issuer", "-ext", "basicConstraints,keyUsage"])
        XCTAssertTrue(intermediate.stdout.contains("issuer=C = VN, O = Axis Test PKI, CN = Axis Test Root CA"), intermediate.stdout)
        for ca in [root, intermediate] {
            XCTAssertTrue(ca.stdout.contains("CA:TRUE"), ca.stdout)
            XCTAssertTrue(ca.stdout.contains("Certificate Sign, CRL Sign"), ca.stdout)
        }
        let untrusted = try openssl(["x509", "-in", pki.untrustedRootPEMPath, "-noout", "-subject"])
        XCTAssertTrue(untrusted.stdout.contains("CN = Axis Untrusted Root"), untrusted.stdout)

        let expectedKeys = ["RSA-2048": "Public-Key: (2048 bit)", "RSA-3072": "Public-Key: (3072 bit)",
                            "EC P-256": "NIST CURVE: P-256", "EC P-384": "NIST CURVE: P-384", "Ed25519": "ED25519 Public-Key"]
        for name in TestPKI.LeafName.allCases {
            let leaf = pki.leaf(name)
            let text = try openssl(["x509", "-in", leaf.certPath, "-noout", "-text"]).stdout
            XCTAssertTrue(text.contains("Subject: C = VN, O = \(leaf.organization), OU = \(leaf.agencyCode), CN = \(leaf.commonName)"),
                          "\(name): \(text)")
            XCTAssertTrue(text.contains("CA:FALSE"), "\(name)")
            XCTAssertTrue(text.contains(try XCTUnwrap(expectedKeys[leaf.keyAlgorithm])), "\(name) \(leaf.keyAlgorithm): \(text)")
            let usage = name == .noSigningUsage ? "Key Encipherment\n" : "Digital Signature, Non Repudiation\n"
            XCTAssertTrue(text.contains("X509v3 Key Usage: critical\n                \(usage)"), "\(name): \(text)")
            // The private key matches the certificate.
            let fromCert = try openssl(["x509", "-in", leaf.certPath, "-noout", "-pubkey"]).stdout
            let fromKey = try openssl(["pkey", "-in", leaf.keyPath, "-pubout"]).stdout
            XCTAssertEqual(fromCert, fromKey, "\(name)")
        }
        XCTAssertEqual(pki.leaf(.otherAgency).organization, TestPKI.otherOrganization)
        XCTAssertEqual(pki.leaf(.otherAgency).agencyCode, TestPKI.otherAgencyCode)
        XCTAssertEqual(pki.leaf(.untrusted).agencyCode, TestPKI.agencyCode)

        let now = Date()
        for name in TestPKI.LeafName.allCases where ![.expired, .notYetValid].contains(name) {
            XCTAssertLessThan(pki.leaf(name).notBefore, now, "\(name)")
            XCTAssertGreaterThan(pki.leaf(name).notAfter, now, "\(name)")
        }
        XCTAssertEqual(TestPKI.opensslTime(pki.leaf(.expired).notBefore), "20200101000000Z")
        XCTAssertEqual(TestPKI.opensslTime(pki.leaf(.expired).notAfter), "20210101000000Z")
        XCTAssertEqual(TestPKI.opensslTime(pki.leaf(.notYetValid).notBefore), "20990101000000Z")
    }

    func testChainsVerify() throws {
        let pki = try self.pki
        for name in TestPKI.LeafName.allCases where ![.expired, .notYetValid, .untrusted].contains(name) {
            let result = try verify(name)
            XCTAssertEqual(result.status, 0, "\(name): \(result.output)")
            XCTAssertTrue(result.stdout.contains(": OK"), "\(name): \(result.output)")
        }
        // With both CRLs checked, good leaves still pass.
        let checked = try verify(.rsa2048, extra: ["-crl_check_all", "-CRLfile", pki.rootCRLPath, "-CRLfile", pki.intermediateCRLPath])
        XCTAssertEqual(checked.status, 0, checked.output)
    }

    func testBadLeavesFailChainVerification() throws {
        let pki = try self.pki
        let expired = try verify(.expired)
        XCTAssertNotEqual(expired.status, 0, expired.output)
        XCTAssertTrue(expired.output.contains("certificate has expired"), expired.output)

        let notYetValid = try verify(.notYetValid)
        XCTAssertNotEqual(notYetValid.status, 0, notYetValid.output)
        XCTAssertTrue(notYetValid.output.contains("certificate is not yet valid"), notYetValid.output)

        let revoked = try verify(.revoked, extra: ["-crl_check", "-CRLfile", pki.intermediateCRLPath])
        XCTAssertNotEqual(revoked.status, 0, revoked.output)
        XCTAssertTrue(revoked.output.contains("certificate revoked"), revoked.output)

        let untrusted = try verify(.untrusted)
        XCTAssertNotEqual(untrusted.status, 0, untrusted.output)
        XCTAssertTrue(untrusted.output.contains("unable to get local issuer certificate"), untrusted.output)
        let ownRoot = try openssl(["verify", "-CAfile", pki.untrustedRootPEMPath, pki.leaf(.untrusted).certPath])
        XCTAssertEqual(ownRoot.status, 0, "the untrusted leaf chains to its own root: \(ownRoot.output)")

        let noSigning = try verify(.noSigningUsage, extra: ["-purpose", "smimesign"])
        XCTAssertNotEqual(noSigning.status, 0, noSigning.output)
        XCTAssertTrue(noSigning.output.contains("unsuitable certificate purpose"), noSigning.output)
        let signing = try verify(.rsa2048, extra: ["-purpose", "smimesign"])
        XCTAssertEqual(signing.status, 0, signing.output)
    }

    func testCRLs() throws {
        let pki = try self.pki
        let revoked = pki.leaf(.revoked)
        let revokedAt = try XCTUnwrap(revoked.revokedAt)
        XCTAssertLessThan(revokedAt, Date())
        XCTAssertGreaterThan(revokedAt, revoked.notBefore)

        for (crl, issuer) in [(pki.rootCRLPath, pki.rootPEMPath), (pki.intermediateCRLPath, pki.intermediatePEMPath)] {
            let checked = try openssl(["crl", "-in", crl, "-noout", "-CAfile", issuer])
            XCTAssertEqual(checked.status, 0, checked.output)
            XCTAssertTrue(checked.output.contains("verify OK"), checked.output)
            let dates = try openssl(["crl", "-in", crl, "-noout", "-lastupdate", "-nextupdate", "-dateopt", "iso_8601"]).stdout
            let last = try XCTUnwrap(dates.split(separator: "\n").first { $0.hasPrefix("lastUpdate=") }
                .flatMap { TestPKI.parseISOTime(String($0.dropFirst("lastUpdate=".count))) }, dates)
            let next = try XCTUnwrap(dates.split(separator: "\n").first { $0.hasPrefix("nextUpdate=") }
                .flatMap { TestPKI.parseISOTime(String($0.dropFirst("nextUpdate=".count))) }, dates)
            XCTAssertLessThanOrEqual(last, Date())
            XCTAssertEqual(next.timeIntervalSince(last), 30 * 86_400, accuracy: 1)
        }
        let rootCRL = try openssl(["crl", "-in", pki.rootCRLPath, "-noout", "-text"]).stdout
        XCTAssertTrue(rootCRL.contains("No Revoked Certificates"), rootCRL)
        let crl = try openssl(["crl", "-in", pki.intermediateCRLPath, "-noout", "-text"]).stdout
        XCTAssertTrue(crl.contains("Issuer: C = VN, O = Axis Test PKI, CN = Axis Test Intermediate CA"), crl)
        XCTAssertTrue(crl.contains("Serial Number: \(revoked.serialHex)\n"), crl)
        XCTAssertTrue(crl.contains("Key Compromise"), crl)
        XCTAssertEqual(crl.components(separatedBy: "Serial Number:").count, 2, "exactly one revoked entry: \(crl)")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "MMM d HH:mm:ss yyyy"
        let expected = formatter.string(from: revokedAt).replacingOccurrences(of: #" (\d) "#, with: "  $1 ", options: .regularExpression)
        XCTAssertTrue(crl.contains("Revocation Date: \(expected) GMT"), "expected \(expected): \(crl)")
    }

    // MARK: signers

    private struct Case {
        let leaf: TestPKI.LeafName
        let options: TestPKI.SignOptions
    }

    private let signingCases: [Case] = [
        Case(leaf: .rsa2048, options: .init()),
        Case(leaf: .rsa2048, options: .init(digest: .sha384)),
        Case(leaf: .rsa2048, options: .init(digest: .sha512, signedAttributes: false)),
        Case(leaf: .rsa2048, options: .init(rsaPSS: true)),
        Case(leaf: .rsa2048, options: .init(digest: .sha512, signedAttributes: false, rsaPSS: true)),
        Case(leaf: .rsa2048, options: .init(pem: true)),
        Case(leaf: .rsa3072, options: .init(digest: .sha384, rsaPSS: true)),
        Case(leaf: .ecP256, options: .init()),
        Case(leaf: .ecP256, options: .init(signedAttributes: false)),
        Case(leaf: .ecP384, options: .init(digest: .sha384)),
        Case(leaf: .otherAgency, options: .init(digest: .sha512)),
    ]

    private func checkSigner(_ label: String, _ sign: (TestPKI.LeafName, TestPKI.SignOptions) throws -> [UInt8]) throws {
        let pki = try self.pki
        var skipped: [String] = []
        for c in signingCases {
            let what = "\(label) \(c.leaf) \(c.options)"
            let signature: [UInt8]
            do {
                signature = try sign(c.leaf, c.options)
            } catch let skip as XCTSkip {
                // e.g. an old Python cryptography without RSA-PSS in PKCS7: check the other cases, skip at the end.
                skipped.append("\(what): \(skip)")
                continue
            }
            if c.options.pem {
                XCTAssertTrue(String(decoding: signature, as: UTF8.self).hasPrefix("-----BEGIN "), what)
            } else {
                XCTAssertEqual(signature.first, 0x30, "\(what): DER starts with a SEQUENCE")
            }
            assertAccepted(try cmsVerify(signature, content: document, pem: c.options.pem), what)
            for index in [0, document.count / 2, document.count - 1] {
                assertRejected(try cmsVerify(signature, content: flipped(document, at: index), pem: c.options.pem),
                               "\(what) with document byte \(index) flipped")
            }
            // Detached means detached: the signature alone does not carry the document.
            let printed = try openssl(["cms", "-cmsout", "-print", "-inform", c.options.pem ? "PEM" : "DER",
                                       "-in", try write(signature, "print-\(UUID().uuidString)")]).stdout
            XCTAssertTrue(printed.contains("eContent: <ABSENT>"), "\(what): \(printed)")
            XCTAssertEqual(printed.contains("\n        signedAttrs:\n          <ABSENT>"), !c.options.signedAttributes, "\(what): \(printed)")
            XCTAssertEqual(printed.contains("rsassaPss"), c.options.rsaPSS, "\(what): \(printed)")
            XCTAssertTrue(printed.contains("algorithm: \(c.options.digest.rawValue) "), "\(what): \(printed)")
            // Signed with the intermediate inside: both certificates are there.
            let leaf = pki.leaf(c.leaf)
            XCTAssertTrue(printed.contains("subject: C=VN, O=Axis Test PKI, CN=Axis Test Intermediate CA\n"), "\(what): \(printed)")
            XCTAssertTrue(printed.contains("subject: C=VN, O=\(leaf.organization), OU=\(leaf.agencyCode), CN=\(leaf.commonName)\n"),
                          "\(what): \(printed)")
        }
        if !skipped.isEmpty { throw XCTSkip("not supported here:\n" + skipped.joined(separator: "\n")) }
    }

    func testOpensslSignaturesVerify() throws {
        let pki = try self.pki
        try checkSigner("openssl") { try pki.opensslSign(document, leaf: $0, options: $1) }
    }

    func testPythonSignaturesVerify() throws {
        let pki = try self.pki
        try checkSigner("python") { try pki.pythonSign(document, leaf: $0, options: $1) }
    }

    func testSignOptions() throws {
        let pki = try self.pki
        let rootAndIntermediate = scratch + "/root-and-intermediate.pem"
        try Data((try String(contentsOfFile: pki.rootPEMPath, encoding: .utf8)
            + String(contentsOfFile: pki.intermediatePEMPath, encoding: .utf8)).utf8).write(to: URL(fileURLWithPath: rootAndIntermediate))
        for (label, sign) in [("openssl", pki.opensslSign), ("python", pki.pythonSign)] {
            // Without the intermediate, verification needs it from outside. (`openssl cms -verify -certfile`
            // only finds signer certificates, not chain ones, so it goes into the CA file.)
            let bare = try sign(document, .ecP256, .init(includeChain: false))
            assertRejected(try cmsVerify(bare, content: document), "\(label) without the chain")
            assertAccepted(try cmsVerify(bare, content: document, caFile: rootAndIntermediate),
                           "\(label) without the chain, intermediate given")

            // Without the signer certificate it must be supplied too.
            let noSigner = try sign(document, .ecP256, .init(includeSignerCertificate: false))
            assertRejected(try cmsVerify(noSigner, content: document), "\(label) without the signer certificate")
            assertAccepted(try cmsVerify(noSigner, content: document, extra: ["-certfile", pki.leaf(.ecP256).certPath],
                                         caFile: rootAndIntermediate),
                           "\(label) without the signer certificate, certificates given")

            // Attached: the content is inside and comes back out.
            let attached = try sign(document, .rsa2048, .init(detached: false))
            let input = try write(attached, "attached-\(label)")
            let out = scratch + "/attached-\(label).out"
            let result = try openssl(["cms", "-verify", "-binary", "-inform", "DER", "-in", input, "-CAfile", pki.rootPEMPath,
                                      "-purpose", "any", "-out", out])
            assertAccepted(result, "\(label) attached")
            XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))), document, label)
        }
    }

    func testSignaturesFromBadCertificatesAreRejected() throws {
        let pki = try self.pki
        for name: TestPKI.LeafName in [.expired, .notYetValid, .untrusted] {
            for (label, sign) in [("openssl", pki.opensslSign), ("python", pki.pythonSign)] {
                let signature = try sign(document, name, .init())
                assertRejected(try cmsVerify(signature, content: document), "\(label) \(name)")
                if name == .untrusted {
                    assertAccepted(try cmsVerify(signature, content: document, caFile: pki.untrustedRootPEMPath),
                                   "\(label) untrusted, against its own root")
                }
            }
        }
        for (label, sign) in [("openssl", pki.opensslSign), ("python", pki.pythonSign)] {
            let signature = try sign(document, .revoked, .init())
            assertAccepted(try cmsVerify(signature, content: document), "\(label) revoked, no CRL check")
            assertRejected(try cmsVerify(signature, content: document, extra: ["-crl_check", "-CRLfile", pki.intermediateCRLPath]),
                           "\(label) revoked with the CRL")
            let noSigning = try sign(document, .noSigningUsage, .init())
            assertAccepted(try cmsVerify(noSigning, content: document), "\(label) keyEncipherment-only, -purpose any")
            let smime = try cmsVerify(noSigning, content: document, extra: ["-purpose", "smimesign"])
            assertRejected(smime, "\(label) keyEncipherment-only as smimesign")
        }
    }

    func testEd25519SigningIsSkippedByOpenSSLAndMadeByPython() throws {
        let pki = try self.pki
        // openssl 3.0 cannot make Ed25519 CMS; the Python signer builds it per RFC 8419 (asn1crypto).
        XCTAssertThrowsError(try pki.opensslSign(document, leaf: .ed25519, options: .init())) { error in
            XCTAssertTrue(error is XCTSkip, "openssl: \(error)")
        }
        let signature = try pki.pythonSign(document, leaf: .ed25519)
        XCTAssertEqual(signature.first, 0x30, "DER SEQUENCE")
        XCTAssertTrue(try pki.pythonVerifyEd25519(signature: signature, content: document))
        XCTAssertThrowsError(try pki.opensslSign(document, leaf: .ecP256, options: .init(rsaPSS: true))) { error in
            XCTAssertTrue(error is TestPKIError, "\(error)")
        }
    }
}
