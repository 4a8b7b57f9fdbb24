import Foundation
import XCTest
@testable import Axis

/// The development PKI, proven with the stock `openssl` command line rather than with Axis's own
/// verifier: chains verify, the revoked and expired certificates fail for exactly those reasons,
/// agency keys make CMS signatures openssl accepts, and nothing is ever written over.
final class DevelopmentPKITests: XCTestCase {
    /// A PKI in a directory that does not exist yet (its parent does).
    func makePKI() throws -> DevelopmentPKI {
        let parent = try makeTempDirectory(self, "devpki")
        return try DevelopmentPKI.create(at: parent + "/pki", now: SystemClock().now())
    }

    /// Runs the openssl CLI; returns its exit code and stdout + stderr together (it splits its
    /// verdicts between the two).
    func openssl(_ arguments: String...) throws -> (code: Int32, output: String) {
        let candidates: [String] = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"]
        let path = candidates.first { access($0, X_OK) == 0 }
        let r = try ProductProcess.run(try XCTUnwrap(path, "the openssl command is needed: apt-get install openssl"), arguments)
        return (r.code, r.out + "\n" + r.err)
    }

    func verifyArguments(_ pki: DevelopmentPKI) -> [String] {
        ["verify", "-CAfile", pki.rootCertificatePath, "-untrusted", pki.intermediateCertificatePath]
    }

    func testEveryAgencyCertificateChainsToTheRootWithOpenSSL() throws {
        let pki = try makePKI()
        XCTAssertEqual(pki.agencies.map(\.code), Demo.agencyCodes.sorted())
        for agency in pki.agencies {
            let plain = try openssl("verify", "-CAfile", pki.rootCertificatePath, "-untrusted", pki.intermediateCertificatePath,
                                    agency.certificatePath)
            XCTAssertEqual(plain.code, 0, "\(agency.code): \(plain.output)")
            XCTAssertTrue(plain.output.contains("\(agency.certificatePath): OK"), plain.output)
            // With both CRLs and revocation checked at every level, the good certificates still pass.
            let all = try openssl("verify", "-crl_check_all", "-CAfile", pki.rootCertificatePath,
                                  "-untrusted", pki.intermediateCertificatePath,
                                  "-CRLfile", pki.rootCRLPath, "-CRLfile", pki.agenciesCRLPath, agency.certificatePath)
            XCTAssertEqual(all.code, 0, "\(agency.code): \(all.output)")
        }
        let axis = try openssl("verify", "-CAfile", pki.rootCertificatePath, pki.axisCertificatePath)
        XCTAssertEqual(axis.code, 0, axis.output)
    }

    func testRevokedCertificateFailsOnlyTheCRLCheckAsRevoked() throws {
        let pki = try makePKI()
        let withoutCRL = try openssl("verify", "-CAfile", pki.rootCertificatePath, "-untrusted", pki.intermediateCertificatePath,
                                     pki.revoked.certificatePath)
        XCTAssertEqual(withoutCRL.code, 0, "apart from revocation it must be a good certificate: \(withoutCRL.output)")
        let withCRL = try openssl("verify", "-crl_check", "-CAfile", pki.rootCertificatePath,
                                  "-untrusted", pki.intermediateCertificatePath, "-CRLfile", pki.agenciesCRLPath,
                                  pki.revoked.certificatePath)
        XCTAssertNotEqual(withCRL.code, 0)
        XCTAssertTrue(withCRL.output.contains("certificate revoked"), withCRL.output)
        XCTAssertEqual(pki.revoked.code, Demo.agencyCodes[0], "the revoked certificate is issued to the first agency")
    }

    func testExpiredCertificateFailsAsExpired() throws {
        let pki = try makePKI()
        let r = try openssl("verify", "-CAfile", pki.rootCertificatePath, "-untrusted", pki.intermediateCertificatePath,
                            pki.expired.certificatePath)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.output.contains("certificate has expired"), r.output)
        let certificate = try XCTUnwrap(try Certificate.load(file: pki.expired.certificatePath).first)
        XCTAssertLessThan(certificate.notAfter, SystemClock().now())
    }

    func testPrivateKeysAreOwnerOnlyAndCertificatesReadable() throws {
        let pki = try makePKI()
        func mode(_ path: String) throws -> Int {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return try XCTUnwrap(attributes[.posixPermissions] as? Int, path) & 0o777
        }
        let keys = [pki.axisKeyPath, pki.revoked.keyPath, pki.expired.keyPath, pki.directory + "/private/root-ca.key",
                    pki.directory + "/private/agencies-ca.key"] + pki.agencies.map(\.keyPath)
        for key in keys { XCTAssertEqual(try mode(key), 0o600, key) }
        XCTAssertEqual(try mode(pki.directory + "/private"), 0o700)
        for certificate in [pki.rootCertificatePath, pki.intermediateCertificatePath, pki.agenciesCRLPath, pki.readmePath]
            + pki.agencies.map(\.certificatePath) {
            XCTAssertEqual(try mode(certificate) & 0o600, 0o600, certificate)
            XCTAssertEqual(try mode(certificate) & 0o077 & ~0o044, 0, "\(certificate) is writable by others")
        }
    }

    func testCreateRefusesANonEmptyDirectoryAndChangesNothing() throws {
        let directory = try makeTempDirectory(self, "devpki-full")
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: directory + "/keep.txt"))
        let parent = (directory as NSString).deletingLastPathComponent
        let parentBefore = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains("devpki-full") }
        XCTAssertThrowsError(try DevelopmentPKI.create(at: directory, now: SystemClock().now())) { error in
            XCTAssertEqual((error as? AxisError)?.code, .config)
            XCTAssertTrue("\(error)".contains("is not empty"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["keep.txt"])
        XCTAssertEqual(try String(contentsOfFile: directory + "/keep.txt", encoding: .utf8), "mine\n")
        let parentAfter = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains("devpki-full") }
        XCTAssertEqual(parentAfter.sorted(), parentBefore.sorted(), "no staging directory is left behind")
    }

    func testCreateRejectsAgencyCodesThatAreNotSafeFileNamesAndWritesNothing() throws {
        let parent = try makeTempDirectory(self, "devpki-bad")
        for agencies in [[(code: "../escape", name: "Bad")], [(code: "A", name: "One"), (code: "A", name: "Twice")],
                         [(code: "A", name: String(repeating: "x", count: 65))], []] {
            XCTAssertThrowsError(try DevelopmentPKI.create(at: parent + "/pki", agencies: agencies, now: SystemClock().now()),
                                 "\(agencies)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), [])
    }

    func testCreateFillsAnExistingEmptyDirectory() throws {
        let directory = try makeTempDirectory(self, "devpki-empty")
        let pki = try DevelopmentPKI.create(at: directory, now: SystemClock().now())
        XCTAssertTrue(FileManager.default.fileExists(atPath: pki.readmePath))
        let readme = try String(contentsOfFile: pki.readmePath, encoding: .utf8)
        XCTAssertTrue(readme.contains("DEVELOPMENT PKI — NOT FOR PRODUCTION"), readme)
        for agency in pki.agencies { XCTAssertTrue(readme.contains(agency.fingerprint.hex), agency.code) }
    }

    func testOpenReadsBackWhatCreateMade() throws {
        let created = try makePKI()
        let opened = try DevelopmentPKI.open(created.directory)
        XCTAssertEqual(opened.agencies, created.agencies)
        XCTAssertEqual(opened.axis, created.axis)
        XCTAssertEqual(opened.revoked, created.revoked)
        XCTAssertEqual(opened.expired, created.expired)
        XCTAssertEqual(opened.trustConfiguration, created.trustConfiguration)
        XCTAssertThrowsError(try DevelopmentPKI.open(created.directory + "/agencies")) { error in
            XCTAssertTrue("\(error)".contains("axisctl pki init"), "\(error)")
        }
    }

    func testAgenciesCycleKeyAlgorithmsAndCarryTheirCodeInTheSubject() throws {
        let pki = try makePKI()
        let expected = ["RSA-2048", "EC P-256", "Ed25519", "RSA-2048"]
        for (index, code) in Demo.agencyCodes.enumerated() {
            let credential = try XCTUnwrap(pki.agency(code))
            XCTAssertEqual(credential.algorithm, expected[index], code)
            let certificate = try XCTUnwrap(try Certificate.load(file: credential.certificatePath).first)
            XCTAssertEqual(certificate.subject.description,
                           "C=VN, O=Axis DEVELOPMENT PKI - NOT FOR PRODUCTION, OU=\(code), CN=\(DistinguishedName.escape(Demo.agencyNames[index]))")
            XCTAssertEqual(certificate.keyUsage, [.digitalSignature, .nonRepudiation])
            XCTAssertFalse(certificate.isCA)
            XCTAssertEqual(certificate.fingerprint, credential.fingerprint)
            XCTAssertTrue(try PrivateKey.load(file: credential.keyPath).matches(certificate))
        }
        for path in [pki.rootCertificatePath, pki.intermediateCertificatePath, pki.axisCertificatePath] {
            let certificate = try XCTUnwrap(try Certificate.load(file: path).first)
            XCTAssertEqual(certificate.subject.values(of: "O"), [DevelopmentPKI.organization], path)
        }
        XCTAssertEqual(try Certificate.load(file: pki.axisChainPath).map(\.fingerprint),
                       [pki.axis.fingerprint, try XCTUnwrap(try Certificate.load(file: pki.rootCertificatePath).first).fingerprint])
    }

    func testCMSSignaturesWithRSAAndECAgencyKeysVerifyWithOpenSSL() throws {
        let pki = try makePKI()
        let document = pki.directory + "/../document.txt"
        try Data("Công văn số 1/VPCP\n".utf8).write(to: URL(fileURLWithPath: document))
        for code in [Demo.agencyCodes[0], Demo.agencyCodes[1]] {  // RSA-2048, EC P-256
            let agency = try XCTUnwrap(pki.agency(code))
            let signature = pki.directory + "/../\(code).p7s"
            let signed = try openssl("cms", "-sign", "-binary", "-in", document, "-signer", agency.certificatePath,
                                     "-inkey", agency.keyPath, "-certfile", pki.intermediateCertificatePath,
                                     "-outform", "DER", "-out", signature)
            XCTAssertEqual(signed.code, 0, "\(code) (\(agency.algorithm)): \(signed.output)")
            let verified = try openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", signature, "-content", document,
                                       "-CAfile", pki.rootCertificatePath, "-purpose", "any", "-out", "/dev/null")
            XCTAssertEqual(verified.code, 0, "\(code) (\(agency.algorithm)): \(verified.output)")
            XCTAssertTrue(verified.output.contains("Verification successful"), verified.output)
        }
    }

    /// OpenSSL's CMS code cannot sign with Ed25519 (it insists on a separate digest, which pure EdDSA
    /// refuses: openssl/openssl#11915, still so in 3.x), so `openssl cms -sign` is not usable here.
    /// What the PKI owes is a working key pair in a valid chain: the certificate verifies, and its
    /// public key verifies a signature made with the private key.
    func testEd25519AgencyKeySignsAndItsCertificateVerifiesTheSignature() throws {
        let pki = try makePKI()
        let agency = try XCTUnwrap(pki.agency(Demo.agencyCodes[2]))
        XCTAssertEqual(agency.algorithm, "Ed25519")
        let chain = try openssl("verify", "-CAfile", pki.rootCertificatePath, "-untrusted", pki.intermediateCertificatePath,
                                agency.certificatePath)
        XCTAssertEqual(chain.code, 0, chain.output)
        let document = pki.directory + "/../document.txt", signature = pki.directory + "/../document.sig"
        try Data("Ed25519 document\n".utf8).write(to: URL(fileURLWithPath: document))
        let signed = try openssl("pkeyutl", "-sign", "-rawin", "-in", document, "-inkey", agency.keyPath, "-out", signature)
        XCTAssertEqual(signed.code, 0, signed.output)
        let verified = try openssl("pkeyutl", "-verify", "-rawin", "-in", document, "-certin", "-inkey", agency.certificatePath,
                                   "-sigfile", signature)
        XCTAssertEqual(verified.code, 0, verified.output)
        XCTAssertTrue(verified.output.contains("Signature Verified Successfully"), verified.output)
    }

    func testTrustConfigurationLoadsAndTheAgenciesCRLListsTheRevokedCertificate() throws {
        let pki = try makePKI()
        let store = try TrustStore.load(pki.trustConfiguration)
        XCTAssertEqual(store.anchors.count, 1)
        XCTAssertEqual(store.intermediates.count, 1)
        XCTAssertEqual(store.revocationLists.count, 2)
        XCTAssertTrue(store.checksRevocation)
        let ca = try XCTUnwrap(store.intermediates.first)
        let crl = try XCTUnwrap(try RevocationList.load(try FileBytes.read(pki.agenciesCRLPath), source: pki.agenciesCRLPath).first)
        XCTAssertTrue(crl.isSigned(by: ca))
        let nextUpdate = try XCTUnwrap(crl.nextUpdate)
        XCTAssertEqual(nextUpdate.millis - crl.thisUpdate.millis, 30 * 86_400_000)
        let revoked = try XCTUnwrap(try Certificate.load(file: pki.revoked.certificatePath).first)
        XCTAssertNotNil(crl.revocationDate(of: revoked))
        for agency in pki.agencies {
            XCTAssertNil(crl.revocationDate(of: try XCTUnwrap(try Certificate.load(file: agency.certificatePath).first)), agency.code)
        }
    }

    func testIssuingWithAKeyThatIsNotTheIssuersThrows() throws {
        let key = try PrivateKey.generate(.ecP256)
        let now = SystemClock().now()
        let builder = CertificateBuilder(subject: [("CN", "Test CA")], notBefore: now, notAfter: Timestamp(millis: now.millis + 86_400_000),
                                         profile: .authority(pathLength: 0))
        let ca = try builder.selfSigned(key: key)
        XCTAssertTrue(ca.isCA)
        XCTAssertTrue(ca.isSelfIssued)
        let other = try PrivateKey.generate(.ecP256)
        XCTAssertThrowsError(try builder.issue(for: other, issuer: ca, issuerKey: other)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .crypto)
        }
        XCTAssertThrowsError(try RevocationListBuilder(thisUpdate: now, nextUpdate: Timestamp(millis: now.millis + 1000))
            .issue(issuer: ca, issuerKey: other))
    }

    // MARK: axisctl pki init, as a process

    func axisctl(_ arguments: String...) throws -> (code: Int32, out: String, err: String) {
        try ProductProcess.run(try productPath("axisctl"), arguments)
    }

    func testAxisctlPkiInitPrintsWhatItMadeAndRefusesToRunTwice() throws {
        let directory = try makeTempDirectory(self, "devpki-cli") + "/pki"
        let r = try axisctl("pki", "init", directory)
        XCTAssertEqual(r.code, 0, r.err)
        let pki = try DevelopmentPKI.open(directory)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("DEVELOPMENT PKI — NOT FOR PRODUCTION: created in \(directory)"), lines[0])
        XCTAssertTrue(lines.last?.hasPrefix("NOT FOR PRODUCTION:") ?? false, r.out)
        for agency in pki.agencies {
            XCTAssertTrue(lines.contains { $0.hasPrefix(agency.code) && $0.contains(agency.algorithm) && $0.hasSuffix(agency.fingerprint.hex) },
                          "\(agency.code) missing from:\n\(r.out)")
        }

        let again = try axisctl("pki", "init", directory)
        XCTAssertEqual(again.code, 1)
        XCTAssertEqual(again.out, "")
        XCTAssertTrue(again.err.contains("is not empty") && again.err.contains("give a new or empty directory"), again.err)
        XCTAssertEqual(try DevelopmentPKI.open(directory).agencies, pki.agencies, "the second run changed nothing")
    }

    func testAxisctlPkiInitJSONListsAgenciesAndUsageErrorsExit64() throws {
        let directory = try makeTempDirectory(self, "devpki-json")
        let r = try axisctl("pki", "init", directory, "--json")
        XCTAssertEqual(r.code, 0, r.err)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual(object["warning"] as? String, "DEVELOPMENT PKI — NOT FOR PRODUCTION")
        let agencies = try XCTUnwrap(object["agencies"] as? [[String: Any]])
        let pki = try DevelopmentPKI.open(directory)
        XCTAssertEqual(agencies.map { $0["code"] as? String }, pki.agencies.map(\.code))
        XCTAssertEqual(agencies.map { $0["sha256"] as? String }, pki.agencies.map(\.fingerprint.hex))
        XCTAssertEqual(agencies.map { $0["algorithm"] as? String }, pki.agencies.map(\.algorithm))
        let trust = try XCTUnwrap(object["trust"] as? [String: Any])
        XCTAssertEqual(trust["anchorsDirectory"] as? String, directory + "/trust")

        XCTAssertEqual(try axisctl("pki", "init").code, 64)
        XCTAssertEqual(try axisctl("pki", "init", directory, "--bogus").code, 64)
        XCTAssertEqual(try axisctl("pki").code, 64)
    }
}
