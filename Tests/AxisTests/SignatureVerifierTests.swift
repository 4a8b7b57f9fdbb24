import Foundation
import XCTest
@testable import Axis

/// The verifier against an independent PKI and independent signers (the openssl CLI and Python
/// `cryptography`, see TestPKI): good signatures of every accepted kind pass; each bad input is
/// rejected with the right check and reason, and every failed check is listed.
final class SignatureVerifierTests: XCTestCase {
    var pki: TestPKI!
    let document = Array("Công văn số 123/QĐ-BTC — nội dung thử nghiệm.\n".utf8) + (0..<4000).map { UInt8($0 % 251) }

    override func setUpWithError() throws {
        pki = try TestPKI.shared()
    }

    func verifier(crl: Bool = true, policy: SignaturePolicy = SignaturePolicy(), clock: any TimeSource = SystemClock(),
                  crlDirectory: String? = nil) throws -> SignatureVerifier {
        let trust = try TrustStore.load(TrustConfiguration(
            anchorsDirectory: pki.trustDirectory, intermediatesDirectory: pki.intermediatesDirectory,
            crlDirectory: crl ? (crlDirectory ?? pki.crlDirectory) : nil))
        return SignatureVerifier(trust: trust, policy: policy, clock: clock)
    }

    /// The main agency, bound by the fingerprints of its certificates.
    func mainBinding() throws -> AgencyBinding {
        let names: [TestPKI.LeafName] = [.rsa2048, .rsa3072, .ecP256, .ecP384, .ed25519, .expired, .notYetValid, .revoked,
                                         .noSigningUsage, .untrusted]
        return AgencyBinding(agency: try AgencyCode(TestPKI.agencyCode),
                             fingerprints: names.compactMap { Digest256(hex: pki.leaf($0).fingerprintSHA256) })
    }

    func failedChecks(_ report: SignatureReport) -> [SignatureCheck] { report.failures.map(\.check) }

    func assertTrusted(_ report: SignatureReport, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(report.isTrusted, "\(what): \(report.failures)", file: file, line: line)
        if case .trusted(let signer) = report.verdict {
            XCTAssertTrue(signer.subject.contains("O=\(TestPKI.organization)"), signer.subject, file: file, line: line)
        } else {
            XCTFail("\(what): verdict is not trusted", file: file, line: line)
        }
    }

    // MARK: - Good signatures

    func testOpenSSLSignaturesOfEveryAlgorithmAndDigestAreTrusted() throws {
        let v = try verifier()
        let binding = try mainBinding()
        for leaf in [TestPKI.LeafName.rsa2048, .rsa3072, .ecP256, .ecP384] {
            for digest in TestPKI.SignOptions.Digest.allCases {
                let signature = try pki.opensslSign(document, leaf: leaf, options: .init(digest: digest))
                let report = try v.verify(document: document, signature: signature, binding: binding)
                assertTrusted(report, "\(leaf) \(digest)")
                XCTAssertEqual(report.timeBasis, .signingTime)
                XCTAssertEqual(report.signer?.key, pki.leaf(leaf).keyAlgorithm)
            }
        }
        for digest in TestPKI.SignOptions.Digest.allCases {
            let pss = try pki.opensslSign(document, leaf: .rsa2048, options: .init(digest: digest, rsaPSS: true))
            let report = try v.verify(document: document, signature: pss, binding: binding)
            assertTrusted(report, "RSA-PSS \(digest)")
            XCTAssertTrue(report.outcome(.algorithm)?.detail.contains("rsassaPss") ?? false, report.outcome(.algorithm)?.detail ?? "")
        }
    }

    func testSignaturesWithoutSigningTimeAreJudgedAtVerificationTime() throws {
        let v = try verifier()
        for leaf in [TestPKI.LeafName.rsa2048, .ecP256] {
            let signature = try pki.opensslSign(document, leaf: leaf, options: .init(signedAttributes: false))
            let report = try v.verify(document: document, signature: signature, binding: try mainBinding())
            assertTrusted(report, "\(leaf) -noattr")
            XCTAssertEqual(report.timeBasis, .verificationTime)
            XCTAssertEqual(report.outcome(.signingTime)?.status, .skipped)
        }
    }

    func testPythonCryptographySignaturesAreTrusted() throws {
        let v = try verifier()
        let cases: [(TestPKI.LeafName, TestPKI.SignOptions)] = [
            (.rsa2048, .init()), (.rsa2048, .init(digest: .sha512)), (.rsa3072, .init(digest: .sha384)),
            (.ecP256, .init()), (.ecP384, .init(digest: .sha384)), (.rsa2048, .init(signedAttributes: false)),
            (.ecP256, .init(pem: true)), (.rsa2048, .init(rsaPSS: true)),
        ]
        for (leaf, options) in cases {
            let signature: [UInt8]
            do { signature = try pki.pythonSign(document, leaf: leaf, options: options) } catch is XCTSkip { continue }
            assertTrusted(try v.verify(document: document, signature: signature, binding: try mainBinding()), "python \(leaf) \(options)")
        }
    }

    func testPEMSignaturesAndSignaturesWithoutTheIntermediateAreTrusted() throws {
        let v = try verifier()
        let pem = try pki.opensslSign(document, leaf: .ecP256, options: .init(pem: true))
        XCTAssertTrue(String(decoding: pem.prefix(20), as: UTF8.self).hasPrefix("-----BEGIN"))
        assertTrusted(try v.verify(document: document, signature: pem, binding: try mainBinding()), "PEM")
        // The intermediate comes from the configured intermediates directory instead.
        let bare = try pki.opensslSign(document, leaf: .rsa2048, options: .init(includeChain: false))
        assertTrusted(try v.verify(document: document, signature: bare, binding: try mainBinding()), "no chain in the CMS")
    }

    func testEd25519SignaturesVerifyPerRFC8419() throws {
        // Neither openssl 3.0 nor Python's PKCS7 builder can make Ed25519 CMS; Axis signs with
        // OpenSSL's primitives (Ed25519CMS), and the verifier must accept it and refuse it when altered.
        let leaf = pki.leaf(.ed25519)
        let key = try PrivateKey.load(file: leaf.keyPath)
        let certificate = try XCTUnwrap(Certificate.load(file: leaf.certPath).first)
        let chain = try Certificate.load(file: pki.intermediatePEMPath)
        let signature = try DetachedSigner.sign(document, key: key, certificate: certificate, chain: chain)
        let v = try verifier()
        let report = try v.verify(document: document, signature: signature, binding: try mainBinding())
        assertTrusted(report, "Ed25519")
        XCTAssertEqual(report.signer?.key, "Ed25519")
        XCTAssertTrue(report.outcome(.algorithm)?.detail.contains("ED25519") ?? false, report.outcome(.algorithm)?.detail ?? "")
        var altered = document
        altered[7] ^= 1
        XCTAssertEqual(failedChecks(try v.verify(document: altered, signature: signature, binding: try mainBinding())), [.signature])
        var badSignature = signature
        badSignature[badSignature.count - 3] ^= 0x40  // inside the 64-byte signature value at the end
        let bad = try v.verify(document: document, signature: badSignature, binding: try mainBinding())
        XCTAssertEqual(failedChecks(bad), [.signature])
        XCTAssertTrue(bad.failures[0].reason.contains("does not verify with the signer's key"), bad.failures[0].reason)
    }

    // MARK: - Bad inputs, each with its reason

    func testOneFlippedDocumentByteIsRejectedAsSignatureFailure() throws {
        let v = try verifier()
        for leaf in [TestPKI.LeafName.rsa2048, .ecP256] {
            for attributes in [true, false] {
                let signature = try pki.opensslSign(document, leaf: leaf, options: .init(signedAttributes: attributes))
                var altered = document
                altered[altered.count / 2] ^= 0x01
                let report = try v.verify(document: altered, signature: signature, binding: try mainBinding())
                XCTAssertEqual(failedChecks(report), [.signature], "\(leaf) attributes=\(attributes)")
                XCTAssertTrue(report.failures[0].reason.contains("not the ones that were signed")
                              || report.failures[0].reason.contains("does not match the document bytes"), report.failures[0].reason)
            }
        }
    }

    func testASignatureValueMadeWithAnotherKeyIsRejected() throws {
        // Graft the signature value of another key (rsa3072 has a different key and size) into a valid
        // structure: the messageDigest still matches, only the key check fails.
        let v = try verifier()
        var signature = try pki.opensslSign(document, leaf: .rsa2048)
        // The RSA-2048 signature value is the last 256 bytes of the DER (no unsigned attributes).
        let other = try pki.opensslSign(document, leaf: .ecP256)
        _ = other
        for i in (signature.count - 256)..<(signature.count - 128) { signature[i] ^= 0x5A }
        let report = try v.verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.signature])
        XCTAssertTrue(report.failures[0].reason.contains("does not verify with the signer's key"), report.failures[0].reason)
    }

    func testUntrustedRootIsRejectedByTheChainCheck() throws {
        let report = try verifier().verify(document: document, signature: try pki.opensslSign(document, leaf: .untrusted),
                                           binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.chain])
        XCTAssertTrue(report.failures[0].reason.contains("not trusted"), report.failures[0].reason)
        XCTAssertEqual(report.outcome(.revocation)?.status, .skipped)
    }

    func testExpiredAndNotYetValidCertificatesFailValidityAtTheSigningTime() throws {
        let v = try verifier()
        let expired = try v.verify(document: document, signature: try pki.opensslSign(document, leaf: .expired), binding: try mainBinding())
        XCTAssertEqual(failedChecks(expired), [.validity])
        XCTAssertTrue(expired.failures[0].reason.contains("expired on 2021-01-01"), expired.failures[0].reason)
        XCTAssertTrue(expired.failures[0].reason.contains("signing time"), expired.failures[0].reason)
        let early = try v.verify(document: document, signature: try pki.opensslSign(document, leaf: .notYetValid), binding: try mainBinding())
        XCTAssertEqual(failedChecks(early), [.validity])
        XCTAssertTrue(early.failures[0].reason.contains("not valid until 2099-01-01"), early.failures[0].reason)
    }

    func testRevokedCertificateIsRejectedWithTheRevocationDate() throws {
        let leaf = pki.leaf(.revoked)
        let report = try verifier().verify(document: document, signature: try pki.opensslSign(document, leaf: .revoked),
                                           binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.revocation])
        let revokedAt = try XCTUnwrap(leaf.revokedAt)
        let day = Timestamp(millis: Int64(revokedAt.timeIntervalSince1970 * 1000)).description.prefix(16)  // to the minute
        XCTAssertTrue(report.failures[0].reason.contains("was revoked on \(day)"), "\(report.failures[0].reason) vs \(day)")
    }

    func testKeyUsageWithoutSigningIsRejected() throws {
        let report = try verifier().verify(document: document, signature: try pki.opensslSign(document, leaf: .noSigningUsage),
                                           binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.keyUsage])
        XCTAssertTrue(report.failures[0].reason.contains("keyEncipherment"), report.failures[0].reason)
    }

    func testAValidSignatureByAnotherAgencyIsRejectedByTheBinding() throws {
        let report = try verifier().verify(document: document, signature: try pki.opensslSign(document, leaf: .otherAgency),
                                           binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.agencyBinding])
        XCTAssertTrue(report.failures[0].reason.contains("not bound to agency \(TestPKI.agencyCode)"), report.failures[0].reason)
        // The same signature is fine for the agency it belongs to, bound by a subject rule.
        let other = AgencyBinding(agency: try AgencyCode(TestPKI.otherAgencyCode),
                                  subjectRule: "O=\(TestPKI.otherOrganization), ou=\(TestPKI.otherAgencyCode)")
        XCTAssertTrue(try verifier().verify(document: document, signature: try pki.opensslSign(document, leaf: .otherAgency),
                                            binding: other).isTrusted)
        // An agency with nothing bound says what to do.
        let unbound = try verifier().verify(document: document, signature: try pki.opensslSign(document, leaf: .rsa2048),
                                            binding: AgencyBinding(agency: try AgencyCode(TestPKI.agencyCode)))
        XCTAssertEqual(failedChecks(unbound), [.agencyBinding])
        XCTAssertTrue(unbound.failures[0].reason.contains("axisctl agency update"), unbound.failures[0].reason)
    }

    func testEveryFailedCheckIsListedNotJustTheFirst() throws {
        // Expired, altered document, and bound to another agency: three checks fail at once.
        var altered = document
        altered[0] ^= 0xFF
        let report = try verifier().verify(document: altered, signature: try pki.opensslSign(document, leaf: .expired),
                                           binding: AgencyBinding(agency: try AgencyCode(TestPKI.otherAgencyCode), subjectRule: "O=Nobody"))
        XCTAssertEqual(failedChecks(report), [.signature, .validity, .agencyBinding])
        guard case .rejected(let failures) = report.verdict else { return XCTFail("expected rejected") }
        XCTAssertEqual(failures.count, 3)
        XCTAssertEqual(report.checks.map(\.check), SignatureCheck.allCases.filter { $0 != .receiptContent })
    }

    func testUnreadableSignaturesAreStructureFailuresWithEveryOtherCheckSkipped() throws {
        let v = try verifier()
        let good = try pki.opensslSign(document, leaf: .rsa2048)
        var rng = SeededRandom(seed: 7)
        let inputs: [(String, [UInt8], String)] = [
            ("empty", [], "empty"),
            ("truncated DER", Array(good.prefix(good.count / 2)), "not DER CMS"),
            ("garbage", (0..<2048).map { _ in UInt8.random(in: 0...255, using: &rng) }, "not DER CMS"),
            ("a PEM certificate", Array((try String(contentsOfFile: pki.leaf(.rsa2048).certPath, encoding: .utf8)).utf8), "not a CMS"),
            ("50 MB blob", [UInt8](repeating: 0x41, count: 50 << 20), "at most 1048576"),
        ]
        for (what, bytes, reason) in inputs {
            let report = try v.verify(document: document, signature: bytes, binding: try mainBinding())
            XCTAssertEqual(failedChecks(report), [.structure], what)
            XCTAssertTrue(report.failures.first?.reason.contains(reason) ?? false, "\(what): \(report.failures)")
            XCTAssertTrue(report.checks.dropFirst().allSatisfy { $0.status == .skipped }, what)
            XCTAssertNil(report.signer)
        }
        let attached = try pki.opensslSign(document, leaf: .rsa2048, options: .init(detached: false))
        let report = try v.verify(document: document, signature: attached, binding: nil)
        XCTAssertEqual(failedChecks(report), [.structure])
        XCTAssertTrue(report.failures[0].reason.contains("detached"), report.failures[0].reason)
        let noSigner = try pki.opensslSign(document, leaf: .ecP384, options: .init(includeSignerCertificate: false))
        let missing = try v.verify(document: document, signature: noSigner, binding: nil)
        XCTAssertEqual(failedChecks(missing), [.structure])
        XCTAssertTrue(missing.failures[0].reason.contains("signer's certificate"), missing.failures[0].reason)
    }

    // MARK: - Policies

    func testMissingCRLPolicy() throws {
        // Only the root's CRL: the intermediate's (which covers the leaves) is missing.
        let dir = try makeTempDirectory(self, "crl-partial")
        try FileManager.default.copyItem(atPath: pki.rootCRLPath, toPath: dir + "/root.crl.pem")
        let signature = try pki.opensslSign(document, leaf: .rsa2048)
        let strict = try verifier(crlDirectory: dir).verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertEqual(failedChecks(strict), [.revocation])
        XCTAssertTrue(strict.failures[0].reason.contains("missingCRL=reject"), strict.failures[0].reason)
        var lenient = SignaturePolicy()
        lenient.missingCRL = .accept
        let accepted = try verifier(policy: lenient, crlDirectory: dir).verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertTrue(accepted.isTrusted, "\(accepted.failures)")
        XCTAssertTrue(accepted.outcome(.revocation)?.detail.contains("missingCRL=accept") ?? false)
        // Without a CRL directory revocation is skipped, and says so.
        let none = try verifier(crl: false).verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertTrue(none.isTrusted)
        XCTAssertEqual(none.outcome(.revocation)?.status, .skipped)
    }

    func testStaleCRLPolicy() throws {
        let clock = ManualClock(millis: Int64(Date().timeIntervalSince1970 * 1000))
        let signature = try pki.opensslSign(document, leaf: .ecP256)
        clock.advance(millis: 40 * 86_400_000)  // the test CRLs' nextUpdate is 30 days out
        let strict = try verifier(clock: clock).verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertEqual(failedChecks(strict), [.revocation])
        XCTAssertTrue(strict.failures[0].reason.contains("due for update"), strict.failures[0].reason)
        var lenient = SignaturePolicy()
        lenient.staleCRL = .accept
        XCTAssertTrue(try verifier(policy: lenient, clock: clock).verify(document: document, signature: signature,
                                                                         binding: try mainBinding()).isTrusted)
        var grace = SignaturePolicy()
        grace.staleCRLGraceMillis = 20 * 86_400_000
        XCTAssertTrue(try verifier(policy: grace, clock: clock).verify(document: document, signature: signature,
                                                                       binding: try mainBinding()).isTrusted)
    }

    func testSigningTimeInTheFutureIsRejected() throws {
        let clock = ManualClock(millis: Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000)  // verifier's clock an hour behind
        let report = try verifier(clock: clock).verify(document: document, signature: try pki.opensslSign(document, leaf: .ecP256),
                                                       binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.signingTime])
        XCTAssertTrue(report.failures[0].reason.contains("in the future"), report.failures[0].reason)
    }

    // MARK: - The chain cache

    func testChainResultsAreCachedPerSignerOnlyWhenTrustedAndExpireWithTheCRL() throws {
        let clock = ManualClock(millis: Int64(Date().timeIntervalSince1970 * 1000))
        let v = try verifier(clock: clock)
        let signature = try pki.opensslSign(document, leaf: .rsa2048)
        let first = try v.verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertFalse(first.outcome(.chain)?.detail.contains("(cached)") ?? true)
        XCTAssertEqual(v.cachedChains, 1)
        let second = try v.verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertTrue(second.outcome(.chain)?.detail.contains("(cached)") ?? false)
        XCTAssertEqual(first.checks.map(\.status), second.checks.map(\.status))
        // Failures are never cached: a missing intermediate must not poison the next, correct message.
        _ = try v.verify(document: document, signature: try pki.opensslSign(document, leaf: .untrusted), binding: try mainBinding())
        _ = try v.verify(document: document, signature: try pki.opensslSign(document, leaf: .revoked), binding: try mainBinding())
        XCTAssertEqual(v.cachedChains, 1)
        // Past the CRL's nextUpdate the cached result is not used: the stale CRL is found again.
        clock.advance(millis: 31 * 86_400_000)
        let later = try v.verify(document: document, signature: signature, binding: try mainBinding())
        XCTAssertEqual(failedChecks(later), [.revocation])
    }

    func testWarmCacheGivesTheSameVerdictsAsAColdCheck() throws {
        // The second verification of a signer takes the cached path (certificates stripped, the cached
        // signer used): every verdict must be the one a cold verifier gives.
        let warm = try verifier()
        var flipped = document
        flipped[100] ^= 0x04
        // (An expired signer is never cached: entries live until the certificate's notAfter.)
        for leaf in [TestPKI.LeafName.rsa2048, .ecP256, .ecP384] {
            let signature = try pki.opensslSign(document, leaf: leaf)
            var badValue = signature
            badValue[badValue.count - 5] ^= 0x10
            _ = try warm.verify(document: document, signature: signature, binding: try mainBinding())
            let other = AgencyBinding(agency: try AgencyCode(TestPKI.otherAgencyCode), subjectRule: "O=\(TestPKI.otherOrganization)")
            for (what, doc, sig, binding) in [("good", document, signature, try mainBinding()), ("flipped document", flipped, signature, try mainBinding()),
                                              ("bad signature value", document, badValue, try mainBinding()), ("other agency", document, signature, other)] {
                let cold = try verifier().verify(document: doc, signature: sig, binding: binding)
                let hot = try warm.verify(document: doc, signature: sig, binding: binding)
                XCTAssertEqual(hot.outcome(.chain)?.detail.hasSuffix("(cached)"), true, "\(leaf) \(what) took the cached path")
                XCTAssertEqual(failedChecks(hot), failedChecks(cold), "\(leaf) \(what)")
                XCTAssertEqual(hot.checks.map(\.status), cold.checks.map(\.status), "\(leaf) \(what)")
                XCTAssertEqual(hot.signer, cold.signer, "\(leaf) \(what)")
            }
        }
    }

    func testOneVerifierServesManyThreadsWithTheSameVerdicts() throws {
        // One shared verifier (and chain cache) under concurrent use, cold and warm, good and bad.
        let v = try verifier()
        let binding = try mainBinding()
        var flipped = document
        flipped[9] ^= 0x80
        let cases: [([UInt8], [UInt8], Bool)] = try [TestPKI.LeafName.rsa2048, .ecP256, .ecP384].flatMap { leaf in
            let signature = try pki.opensslSign(document, leaf: leaf)
            return [(document, signature, true), (flipped, signature, false)]
        }
        let wrong = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 300) { i in
            let (doc, signature, expected) = cases[i % cases.count]
            let trusted = (try? v.verify(document: doc, signature: signature, binding: binding).isTrusted) ?? !expected
            if trusted != expected { wrong.update { $0 += 1 } }
        }
        XCTAssertEqual(wrong.read { $0 }, 0)
        XCTAssertEqual(v.cachedChains, 3)
    }

    func testStreamedDocumentsAreCheckedFromTheirDigests() throws {
        let v = try verifier()
        for (leaf, digest) in [(TestPKI.LeafName.rsa2048, TestPKI.SignOptions.Digest.sha384), (.ecP256, .sha256), (.ecP384, .sha512)] {
            let signature = try pki.opensslSign(document, leaf: leaf, options: .init(digest: digest))
            let algorithm = try XCTUnwrap(SignatureVerifier.digestAlgorithm(of: signature))
            XCTAssertEqual(algorithm.rawValue, digest.rawValue.uppercased().replacingOccurrences(of: "SHA", with: "SHA-"))
            // Hash the document in uneven chunks, as the ingress would while streaming it to disk.
            let hasher = try DocumentHasher([.sha256, algorithm])
            var offset = 0
            var rng = SeededRandom(seed: UInt64(offset + document.count))
            while offset < document.count {
                let step = min(document.count - offset, Int.random(in: 1...700, using: &rng))
                document.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + step])) }
                offset += step
            }
            let digests = hasher.finish()
            XCTAssertEqual(digests.length, UInt64(document.count))
            XCTAssertEqual(digests.values[.sha256], SHA256Hasher.digest(document).bytes)
            let streamed = try v.verify(documentDigests: digests, signature: signature, binding: try mainBinding())
            let inMemory = try v.verify(document: document, signature: signature, binding: try mainBinding())
            XCTAssertTrue(streamed.isTrusted, "\(leaf): \(streamed.failures)")
            XCTAssertEqual(streamed.checks.map(\.status), inMemory.checks.map(\.status))
            // Digests of other bytes, or without the signature's algorithm, fail the signature check only.
            var other = document
            other[0] ^= 1
            let otherHasher = try DocumentHasher([algorithm])
            other.withUnsafeBytes { otherHasher.update($0) }
            let altered = try v.verify(documentDigests: otherHasher.finish(), signature: signature, binding: try mainBinding())
            XCTAssertEqual(failedChecks(altered), [.signature])
            let missing = try v.verify(documentDigests: DocumentDigests(length: digests.length, values: [:]), signature: signature,
                                       binding: try mainBinding())
            XCTAssertEqual(failedChecks(missing), [.signature])
            XCTAssertTrue(missing.failures[0].reason.contains("was not hashed with"), missing.failures[0].reason)
        }
        // A signature without signed attributes covers the bytes themselves: refused on the streamed path, with the reason.
        let bare = try pki.opensslSign(document, leaf: .rsa2048, options: .init(signedAttributes: false))
        let hasher = try DocumentHasher([.sha256])
        document.withUnsafeBytes { hasher.update($0) }
        let report = try v.verify(documentDigests: hasher.finish(), signature: bare, binding: try mainBinding())
        XCTAssertEqual(failedChecks(report), [.signature])
        XCTAssertTrue(report.failures[0].reason.contains("no signed attributes"), report.failures[0].reason)
        XCTAssertNil(SignatureVerifier.digestAlgorithm(of: Array("not a signature".utf8)))
    }

    func testCarriedCertificatesAreFoundWithoutDecoding() throws {
        let signature = try pki.opensslSign(document, leaf: .rsa2048)
        let carried = try XCTUnwrap(signature.withUnsafeBytes { CarriedCertificates.split($0) })
        let fingerprints = carried.ranges.map { SHA256Hasher.digest(signature[$0]).hex }
        XCTAssertEqual(fingerprints.count, 2, "the signer and the intermediate")
        XCTAssertTrue(fingerprints.contains(pki.leaf(.rsa2048).fingerprintSHA256))
        let stripped = try carried.stripped.withUnsafeBytes { try SignedData.parse($0) }
        XCTAssertTrue(try stripped.certificates().isEmpty)
        XCTAssertEqual(stripped.signerInfos.count, 1)
        XCTAssertEqual(carried.stripped.count, signature.count - carried.ranges.reduce(0) { $0 + $1.count } - 4,
                       "only the certificates and their [0] header (4 bytes here) are removed")
        for bad in [[UInt8](), [0x30, 0x80, 0, 0], Array(signature.prefix(200)), Array("-----BEGIN CMS-----".utf8)] {
            XCTAssertNil(bad.withUnsafeBytes { CarriedCertificates.split($0) })
        }
    }

    func testSubjectRuleParsing() throws {
        let rule = try SubjectRule.parse("O=Bộ Tài chính\\, Văn phòng, OU = 000.00.00.G17").get()
        XCTAssertEqual(rule.attributes.map(\.type), ["O", "OU"])
        XCTAssertEqual(rule.attributes.map(\.value), ["Bộ Tài chính, Văn phòng", "000.00.00.G17"])
        for bad in ["O", "=x", "O=", "O=a\\"] {
            XCTAssertThrowsError(try SubjectRule.parse(bad).get(), bad)
        }
    }
}
