import Foundation
import XCTest
@testable import Axis

/// Axis's own Ed25519 CMS code (Ed25519CMS: RFC 8419 on OpenSSL primitives, since OpenSSL 3.0's CMS
/// cannot) cross-checked both ways against an independent Python implementation (asn1crypto for the
/// structure, cryptography's Ed25519 primitive for the signature): Python-made signatures must pass the
/// Axis verifier, Axis-made ones the Python verifier (Tests/tools/cms_verify_ed25519.py), and a flipped
/// document byte must fail on both sides.
final class Ed25519CMSTests: XCTestCase {
    var pki: TestPKI!
    let document = Array("Quyết định số 45/QĐ-UBND — Ed25519 cross-check.\n".utf8) + (0..<3000).map { UInt8(($0 * 7) % 253) }

    override func setUpWithError() throws {
        pki = try TestPKI.shared()
    }

    func verifier() throws -> SignatureVerifier {
        let trust = try TrustStore.load(TrustConfiguration(
            anchorsDirectory: pki.trustDirectory, intermediatesDirectory: pki.intermediatesDirectory, crlDirectory: pki.crlDirectory))
        return SignatureVerifier(trust: trust)
    }

    /// The main agency, bound by the Ed25519 leaf's fingerprint.
    func binding() throws -> AgencyBinding {
        let fingerprint = try XCTUnwrap(Digest256(hex: pki.leaf(.ed25519).fingerprintSHA256))
        return AgencyBinding(agency: try AgencyCode(TestPKI.agencyCode), fingerprints: [fingerprint])
    }

    func flipped(_ bytes: [UInt8], at index: Int, mask: UInt8 = 0x01) -> [UInt8] {
        var copy = bytes
        copy[index] ^= mask
        return copy
    }

    /// An Axis-made Ed25519 signature over `content`, with the Ed25519 leaf and the intermediate inside.
    func axisSign(_ content: [UInt8]) throws -> [UInt8] {
        let leaf = pki.leaf(.ed25519)
        let certificate = try XCTUnwrap(Certificate.load(file: leaf.certPath).first)
        return try DetachedSigner.sign(content, key: try PrivateKey.load(file: leaf.keyPath), certificate: certificate,
                                       chain: try Certificate.load(file: pki.intermediatePEMPath))
    }

    // MARK: - Python signs, Axis verifies

    func testPythonEd25519SignaturesAreTrustedByAxis() throws {
        let v = try verifier()
        for options in [TestPKI.SignOptions(), TestPKI.SignOptions(signedAttributes: false), TestPKI.SignOptions(pem: true)] {
            let what = "python Ed25519 attributes=\(options.signedAttributes) pem=\(options.pem)"
            let signature = try pki.pythonSign(document, leaf: .ed25519, options: options)
            if options.pem {
                XCTAssertTrue(String(decoding: signature.prefix(32), as: UTF8.self).hasPrefix("-----BEGIN PKCS7-----"), what)
            } else {
                XCTAssertEqual(signature.first, 0x30, "\(what): DER starts with a SEQUENCE")
            }

            let report = try v.verify(document: document, signature: signature, binding: try binding())
            XCTAssertTrue(report.isTrusted, "\(what): \(report.failures)")
            XCTAssertEqual(report.signer?.key, "Ed25519", what)
            let algorithm = report.outcome(.algorithm)?.detail ?? ""
            XCTAssertTrue(algorithm.contains("ED25519") && algorithm.contains("sha512"), "\(what): \(algorithm)")
            XCTAssertEqual(report.outcome(.signature)?.status, .passed, what)
            XCTAssertEqual(report.timeBasis, options.signedAttributes ? .signingTime : .verificationTime, what)
            XCTAssertEqual(report.outcome(.signingTime)?.status, options.signedAttributes ? .passed : .skipped, what)

            // One flipped document byte anywhere: only the signature check fails, for the right reason.
            for index in [0, document.count / 2, document.count - 1] {
                let altered = try v.verify(document: flipped(document, at: index), signature: signature, binding: try binding())
                XCTAssertEqual(altered.failures.map(\.check), [.signature], "\(what), byte \(index) flipped")
                let reason = altered.failures.first?.reason ?? ""
                XCTAssertTrue(reason.contains(options.signedAttributes ? "does not match the signed messageDigest"
                                                                       : "does not match the document bytes"), "\(what): \(reason)")
                XCTAssertFalse(altered.isTrusted, what)
            }

            // The two Python halves agree with each other, so neither is vacuous.
            XCTAssertTrue(try pki.pythonVerifyEd25519(signature: signature, content: document), what)
            XCTAssertFalse(try pki.pythonVerifyEd25519(signature: signature, content: flipped(document, at: 5)), what)
        }
    }

    func testAPythonEd25519SignatureValueFromAnotherSigningIsRejectedByAxis() throws {
        // Two Python signatures over different content: graft the 64-byte signature value of the second
        // into the first. The messageDigest still matches the document; only the Ed25519 check can fail.
        let v = try verifier()
        let signature = try pki.pythonSign(document, leaf: .ed25519)
        let other = try pki.pythonSign(flipped(document, at: 0), leaf: .ed25519)
        XCTAssertEqual(signature.count, other.count, "same structure, same lengths")
        var grafted = signature
        grafted.replaceSubrange((signature.count - 64)..., with: other.suffix(64))
        XCTAssertNotEqual(grafted, signature)
        let report = try v.verify(document: document, signature: grafted, binding: try binding())
        XCTAssertEqual(report.failures.map(\.check), [.signature])
        let reason = report.failures.first?.reason ?? ""
        XCTAssertTrue(reason.contains("does not verify with the signer's key"), reason)
        XCTAssertFalse(reason.contains("messageDigest"), reason)
        let python = try pki.pythonVerifyEd25519Verdict(signature: grafted, content: document)
        XCTAssertFalse(python.valid, python.message)
        XCTAssertTrue(python.message.contains("does not verify"), python.message)
    }

    // MARK: - Axis signs, Python verifies

    func testAxisEd25519SignaturesVerifyInPython() throws {
        let signature = try axisSign(document)
        let verdict = try pki.pythonVerifyEd25519Verdict(signature: signature, content: document)
        XCTAssertTrue(verdict.valid, "Python rejects the Axis Ed25519 signature: \(verdict.message)")
        XCTAssertTrue(verdict.message.contains("DER of the signed attributes"), verdict.message)
        XCTAssertTrue(verdict.message.contains(pki.leaf(.ed25519).commonName), verdict.message)
        XCTAssertTrue(try pki.pythonVerifyEd25519(signature: signature, content: document))

        for index in [0, document.count / 2, document.count - 1] {
            let altered = try pki.pythonVerifyEd25519Verdict(signature: signature, content: flipped(document, at: index))
            XCTAssertFalse(altered.valid, "byte \(index) flipped: \(altered.message)")
            XCTAssertTrue(altered.message.contains("messageDigest"), altered.message)
            XCTAssertFalse(try pki.pythonVerifyEd25519(signature: signature, content: flipped(document, at: index)))
        }

        // A flipped bit inside the 64-byte signature value at the end of the DER: the digest still
        // matches, the Ed25519 check over the attributes does not.
        let badValue = try pki.pythonVerifyEd25519Verdict(signature: flipped(signature, at: signature.count - 3, mask: 0x40),
                                                         content: document)
        XCTAssertFalse(badValue.valid, badValue.message)
        XCTAssertTrue(badValue.message.contains("does not verify"), badValue.message)
    }

    func testAxisAndPythonAgreeOnEveryContentSize() throws {
        // Sizes around the DER length-encoding steps, and empty content; each Axis signature verifies in
        // Python and each Python one in Axis.
        let v = try verifier()
        for size in [0, 1, 127, 128, 255, 256, 65_536] {
            let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let axis = try axisSign(content)
            let verdict = try pki.pythonVerifyEd25519Verdict(signature: axis, content: content)
            XCTAssertTrue(verdict.valid, "Axis-made, \(size) bytes: \(verdict.message)")
            for attributes in [true, false] {
                let python = try pki.pythonSign(content, leaf: .ed25519, options: .init(signedAttributes: attributes))
                let report = try v.verify(document: content, signature: python, binding: try binding())
                XCTAssertTrue(report.isTrusted, "Python-made, \(size) bytes, attributes=\(attributes): \(report.failures)")
            }
        }
    }
}
