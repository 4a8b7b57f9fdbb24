import Foundation
import XCTest
import COpenSSL
@testable import Axis

/// The development PKI's TLS credentials, proven with the stock `openssl` and `curl` tools and with a
/// real handshake: the server certificate is for TLS servers on localhost, each system certificate
/// for TLS clients, a server made from the files sees the system's fingerprint, `open` reads back
/// what `create` wrote and refuses files that do not belong together, and nothing is written over.
final class DevelopmentTLSTests: XCTestCase {
    override func setUp() {
        super.setUp()
        // A peer that resets mid-write must give EPIPE, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
    }

    /// A PKI in a fresh temporary directory, without TLS credentials.
    func makePKI() throws -> DevelopmentPKI {
        let parent = try makeTempDirectory(self, "devtls")
        return try DevelopmentPKI.create(at: parent + "/pki", now: SystemClock().now())
    }

    func makeTLS(_ pki: DevelopmentPKI, hosts: [String] = ["localhost"], ips: [String] = ["127.0.0.1"]) throws -> DevelopmentTLS {
        try DevelopmentTLS.create(pki: pki, systems: Demo.agencyCodes, hosts: hosts, ips: ips, now: SystemClock().now())
    }

    func verify(_ pki: DevelopmentPKI, purpose: String, _ certificate: String) throws -> (status: Int32, output: String) {
        try runTool("openssl", ["verify", "-CAfile", pki.rootCertificatePath, "-purpose", purpose, certificate])
    }

    func extensions(_ certificate: String) throws -> String {
        let r = try runTool("openssl", ["x509", "-noout", "-in", certificate, "-ext", "extendedKeyUsage,subjectAltName,keyUsage"])
        XCTAssertEqual(r.status, 0, r.output)
        return r.output
    }

    func certificate(_ path: String) throws -> Certificate {
        try XCTUnwrap(try Certificate.load(file: path).first, path)
    }

    // MARK: - The files, checked with openssl

    func testServerCertificateVerifiesAsTLSServerForLocalhostAndExtraNames() throws {
        let pki = try makePKI()
        let tls = try makeTLS(pki, hosts: ["localhost", "axis.test"], ips: ["::1"])
        XCTAssertEqual(tls.directory, pki.directory + "/tls")

        let server = try verify(pki, purpose: "sslserver", tls.serverCertificatePath)
        XCTAssertEqual(server.status, 0, server.output)
        XCTAssertTrue(server.output.contains("\(tls.serverCertificatePath): OK"), server.output)
        // The axis presents the same certificate when it pushes documents to recipients' endpoints.
        let asClient = try verify(pki, purpose: "sslclient", tls.serverCertificatePath)
        XCTAssertEqual(asClient.status, 0, "the server certificate must also pass as a client's: \(asClient.output)")

        let text = try extensions(tls.serverCertificatePath)
        XCTAssertTrue(text.contains("TLS Web Server Authentication"), text)
        XCTAssertTrue(text.contains("TLS Web Client Authentication"), text)
        XCTAssertTrue(text.contains("DNS:localhost, DNS:axis.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), text)

        let loaded = try certificate(tls.serverCertificatePath)
        XCTAssertEqual(loaded.subject.description, "C=VN, O=\(DevelopmentPKI.organization), CN=localhost")
        XCTAssertEqual(loaded.keyUsage, [.digitalSignature])
        XCTAssertFalse(loaded.isCA)
        XCTAssertEqual(loaded.publicKeyDescription, "EC P-256")
        XCTAssertEqual(loaded.fingerprint, tls.serverFingerprint)
        XCTAssertEqual(loaded.issuer, try certificate(pki.rootCertificatePath).subject)
        XCTAssertEqual(Issuance.adding(years: 2, to: loaded.notBefore), loaded.notAfter, "two years, as the PKI's end entities")
        XCTAssertTrue(try PrivateKey.load(file: tls.serverKeyPath).matches(loaded))
        XCTAssertEqual(try Certificate.load(file: tls.serverChainPath).map(\.fingerprint),
                       [tls.serverFingerprint, try certificate(pki.rootCertificatePath).fingerprint])
    }

    func testEachSystemCertificateVerifiesAsTLSClientAndCarriesItsCode() throws {
        let pki = try makePKI()
        let tls = try makeTLS(pki)
        XCTAssertEqual(tls.systems.map(\.code), Demo.agencyCodes.sorted())
        for system in tls.systems {
            let client = try verify(pki, purpose: "sslclient", system.certificatePath)
            XCTAssertEqual(client.status, 0, "\(system.code): \(client.output)")
            let asServer = try verify(pki, purpose: "sslserver", system.certificatePath)
            XCTAssertNotEqual(asServer.status, 0, "\(system.code) must not pass as a server: \(asServer.output)")

            let text = try extensions(system.certificatePath)
            XCTAssertTrue(text.contains("TLS Web Client Authentication"), text)
            XCTAssertFalse(text.contains("TLS Web Server Authentication"), text)
            XCTAssertFalse(text.contains("Subject Alternative Name"), text)

            let loaded = try certificate(system.certificatePath)
            XCTAssertEqual(loaded.subject.description,
                           "C=VN, O=\(DevelopmentPKI.organization), OU=\(system.code), CN=System \(system.code)")
            XCTAssertEqual(loaded.keyUsage, [.digitalSignature])
            XCTAssertEqual(system.algorithm, "EC P-256")
            XCTAssertEqual(system.fingerprint, loaded.fingerprint)
            XCTAssertEqual(system.fingerprint, SHA256Hasher.digest(loaded.der))
            XCTAssertTrue(try PrivateKey.load(file: system.keyPath).matches(loaded))
            XCTAssertEqual(tls.system(system.code), system)
        }
        XCTAssertNil(tls.system("NO.SUCH.SYSTEM"))
    }

    func testKeysAreOwnerOnlyAndTheReadmeWarnsAndShowsTheCurlCommand() throws {
        let pki = try makePKI()
        let tls = try makeTLS(pki)
        func mode(_ path: String) throws -> Int {
            try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, path) & 0o777
        }
        for key in [tls.serverKeyPath] + tls.systems.map(\.keyPath) { XCTAssertEqual(try mode(key), 0o600, key) }
        for file in [tls.serverCertificatePath, tls.serverChainPath, tls.readmePath] + tls.systems.map(\.certificatePath) {
            XCTAssertEqual(try mode(file), 0o644, file)
        }
        let readme = try String(contentsOfFile: tls.readmePath, encoding: .utf8)
        XCTAssertTrue(readme.contains("DEVELOPMENT — NOT FOR PRODUCTION"), readme)
        let first = try XCTUnwrap(tls.systems.first)
        XCTAssertTrue(readme.contains("curl --cacert ../trust/root-ca.pem --cert systems/\(first.code).pem "
            + "--key systems/\(first.code).key https://localhost:PORT/"), readme)
        for system in tls.systems { XCTAssertTrue(readme.contains(system.fingerprint.hex), system.code) }
        // The PKI itself is unchanged by the new directory.
        XCTAssertEqual(try DevelopmentPKI.open(pki.directory).agencies, pki.agencies)
    }

    // MARK: - A real handshake

    func testServerFromTheFilesSeesTheSystemCertificateFingerprint() throws {
        let pki = try makePKI()
        let tls = try makeTLS(pki)
        let system = try XCTUnwrap(tls.system(Demo.agencyCodes[1]))
        let serverContext = try TLSContext(try .server(
            certificateChainFile: tls.serverChainPath, privateKeyFile: tls.serverKeyPath,
            clientAuthentication: .required(try TLSPeerTrust(try TrustStore.load(pki.trustConfiguration)))))
        let clientContext = try TLSContext(.client(
            trust: try .load(caFile: pki.rootCertificatePath),
            credential: try TLSCredential.load(certificateChainFile: system.certificatePath, privateKeyFile: system.keyPath)))
        let server = try TLSLoopbackServer(context: serverContext)
        defer { server.stop() }

        for name in ["localhost", "127.0.0.1"] {
            let result = try TLSLoopbackClient.exchange(context: clientContext, port: server.port, serverName: name)
            XCTAssertEqual(result.handshake, .done, name)
            XCTAssertNil(result.readError, name)
            XCTAssertEqual(result.body, system.fingerprint.hex, name)
            let outcome = try server.nextOutcome()
            XCTAssertEqual(outcome.handshake, .done, name)
            XCTAssertNil(outcome.error, name)
            XCTAssertEqual(outcome.peer?.fingerprint, system.fingerprint, name)
            XCTAssertEqual(outcome.peer?.subject.values(of: "OU"), [system.code], name)
        }

        // The README's curl line, run from tls/ as it says (`env -C`: runTool has no working directory).
        let curl = try runTool("env", ["-C", tls.directory, "curl", "-sS", "--cacert", "../trust/root-ca.pem",
                                       "--cert", "systems/\(system.code).pem", "--key", "systems/\(system.code).key",
                                       "--resolve", "localhost:\(server.port):127.0.0.1", "https://localhost:\(server.port)/"])
        XCTAssertEqual(curl.status, 0, curl.output)
        XCTAssertEqual(curl.output.trimmingCharacters(in: .whitespacesAndNewlines), system.fingerprint.hex)
        XCTAssertEqual(try server.nextOutcome().peer?.fingerprint, system.fingerprint)
    }

    // MARK: - open, openOrCreate, refusals

    func testOpenReadsBackWhatCreateMade() throws {
        let pki = try makePKI()
        let created = try makeTLS(pki)
        let opened = try DevelopmentTLS.open(pki: pki)
        XCTAssertEqual(opened.directory, created.directory)
        XCTAssertEqual(opened.systems, created.systems)
        XCTAssertEqual(opened.serverFingerprint, created.serverFingerprint)
        XCTAssertEqual(opened.serverChainPath, created.serverChainPath)
        XCTAssertEqual(opened.systems.map(\.fingerprint),
                       try created.systems.map { try certificate($0.certificatePath).fingerprint })
    }

    func testOpenOrCreateCreatesOnceThenOpensAndNamesMissingSystems() throws {
        let pki = try makePKI()
        let now = SystemClock().now()
        let (first, created) = try DevelopmentTLS.openOrCreate(pki: pki, systems: Demo.agencyCodes, now: now)
        XCTAssertTrue(created)
        let (second, createdAgain) = try DevelopmentTLS.openOrCreate(pki: pki, systems: Demo.agencyCodes, now: now)
        XCTAssertFalse(createdAgain)
        XCTAssertEqual(second.systems, first.systems)
        XCTAssertEqual(second.serverFingerprint, first.serverFingerprint)

        XCTAssertThrowsError(try DevelopmentTLS.openOrCreate(pki: pki, systems: Demo.agencyCodes + ["NEW.SYSTEM"], now: now)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .config)
            XCTAssertTrue("\(error)".contains("no client certificate for system NEW.SYSTEM"), "\(error)")
        }
        XCTAssertEqual(try DevelopmentTLS.open(pki: pki).systems, first.systems, "nothing was added or rewritten")
    }

    func testOpenOrCreateFillsAnEmptyTLSDirectoryOfAnOlderPKI() throws {
        let pki = try makePKI()
        try FileManager.default.createDirectory(atPath: DevelopmentTLS.directory(of: pki), withIntermediateDirectories: false)
        let (tls, created) = try DevelopmentTLS.openOrCreate(pki: try DevelopmentPKI.open(pki.directory), systems: ["A"],
                                                             now: SystemClock().now())
        XCTAssertTrue(created)
        XCTAssertEqual(tls.systems.map(\.code), ["A"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: tls.serverChainPath))
    }

    func testCreateRefusesANonEmptyTLSDirectoryAndChangesNothing() throws {
        let pki = try makePKI()
        let directory = DevelopmentTLS.directory(of: pki)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: directory + "/keep.txt"))
        let before = try FileManager.default.contentsOfDirectory(atPath: pki.directory).sorted()
        XCTAssertThrowsError(try makeTLS(pki)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .config)
            XCTAssertTrue("\(error)".contains("is not empty"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["keep.txt"])
        XCTAssertEqual(try String(contentsOfFile: directory + "/keep.txt", encoding: .utf8), "mine\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: pki.directory).sorted(), before,
                       "no staging directory is left behind")

        // And a second create over a complete tls/ is refused the same way.
        try FileManager.default.removeItem(atPath: directory)
        let tls = try makeTLS(pki)
        XCTAssertThrowsError(try makeTLS(pki)) { XCTAssertEqual(($0 as? AxisError)?.code, .config) }
        XCTAssertEqual(try DevelopmentTLS.open(pki: pki).serverFingerprint, tls.serverFingerprint)
    }

    func testCreateRejectsUnsafeSystemCodesAndNamesAndWritesNothing() throws {
        let pki = try makePKI()
        let now = SystemClock().now()
        let refused: [(systems: [String], hosts: [String], ips: [String])] = [
            (["../escape"], ["localhost"], ["127.0.0.1"]),
            (["A", "A"], ["localhost"], ["127.0.0.1"]),
            ([String(repeating: "x", count: 58)], ["localhost"], ["127.0.0.1"]),  // "System " + 58 > 64
            (["A"], ["evil.test,DNS:other.test"], ["127.0.0.1"]),
            (["A"], ["-bad.test"], ["127.0.0.1"]),
            (["A"], ["localhost"], ["127.0.0"]),
            (["A"], ["localhost"], ["127.0.0.1,IP:10.0.0.1"]),
        ]
        for (systems, hosts, ips) in refused {
            XCTAssertThrowsError(try DevelopmentTLS.create(pki: pki, systems: systems, hosts: hosts, ips: ips, now: now),
                                 "\(systems) \(hosts) \(ips)") { error in
                XCTAssertNotNil(error as? AxisError, "\(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: DevelopmentTLS.directory(of: pki)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: pki.directory).filter { $0.hasPrefix(".") }, [])
    }

    func testOpenExplainsMissingFilesForeignCertificatesAndMismatchedKeys() throws {
        let pki = try makePKI()
        func assertConfigError(_ mentioning: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try DevelopmentTLS.open(pki: pki), file: file, line: line) { error in
                XCTAssertEqual((error as? AxisError)?.code, .config, "\(error)", file: file, line: line)
                XCTAssertTrue("\(error)".contains(mentioning), "'\(mentioning)' missing from: \(error)", file: file, line: line)
            }
        }
        assertConfigError("does not exist")

        let tls = try makeTLS(pki)
        let system = try XCTUnwrap(tls.systems.first)
        let fm = FileManager.default

        // Another system's key in place of this one's.
        let saved = try Data(contentsOf: URL(fileURLWithPath: system.keyPath))
        try fm.removeItem(atPath: system.keyPath)
        try fm.copyItem(atPath: tls.systems[1].keyPath, toPath: system.keyPath)
        assertConfigError("is not the key of \(system.certificatePath)")

        try fm.removeItem(atPath: system.keyPath)
        assertConfigError("\(system.keyPath) is missing")
        try saved.write(to: URL(fileURLWithPath: system.keyPath))
        XCTAssertEqual(try DevelopmentTLS.open(pki: pki).systems, tls.systems)

        // A server certificate and key from another PKI (same names, other root).
        let other = try DevelopmentTLS.create(pki: try makePKI(), systems: ["A"], now: SystemClock().now())
        for (from, to) in [(other.serverCertificatePath, tls.serverCertificatePath), (other.serverKeyPath, tls.serverKeyPath)] {
            try fm.removeItem(atPath: to)
            try fm.copyItem(atPath: from, toPath: to)
        }
        assertConfigError("was not issued by the PKI's root")

        try fm.removeItem(atPath: tls.serverChainPath)
        assertConfigError("\(tls.serverChainPath) is missing")
    }

    // MARK: - CertificateBuilder.extraExtensions

    func testExtraExtensionsAreAddedAndOneTheProfileAlreadySetsIsRefused() throws {
        let key = try PrivateKey.generate(.ecP256)
        let now = SystemClock().now()
        var builder = CertificateBuilder(subject: [("CN", "extra")], notBefore: now, notAfter: Timestamp(millis: now.millis + 86_400_000),
                                         profile: .endEntity([.digitalSignature]),
                                         extraExtensions: [(nid: NID_ext_key_usage, value: "serverAuth,clientAuth")])
        let certificate = try builder.selfSigned(key: key)
        XCTAssertEqual(certificate.keyUsage, [.digitalSignature])
        let path = try makeTempDirectory(self, "devtls-ext") + "/extra.pem"
        try certificate.pem.write(toFile: path, atomically: true, encoding: .utf8)
        let text = try extensions(path)
        XCTAssertTrue(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"), text)

        builder.extraExtensions = [(nid: NID_key_usage, value: "critical,keyEncipherment")]
        XCTAssertThrowsError(try builder.selfSigned(key: key)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .crypto)
            XCTAssertTrue("\(error)".contains("keyUsage is given twice"), "\(error)")
        }
    }
}
