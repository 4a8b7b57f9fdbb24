import Foundation
import XCTest
@testable import Axis

/// TLS over non-blocking sockets, checked against clients that share no code with Axis (`openssl
/// s_client`, `curl`) and against Axis's own client mode: client certificates required and mapped by
/// fingerprint, refused when missing, unrelated or revoked; old protocol versions and weak TLS 1.2
/// ciphers refused; host names verified; sessions resumed with the client certificate still known.
final class TLSTests: XCTestCase {
    static let request = Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)

    override func setUp() {
        super.setUp()
        // A peer that resets mid-write must give EPIPE, not kill the test process (axisd ignores it too).
        signal(SIGPIPE, SIG_IGN)
    }

    override class func tearDown() {
        if case .success(let fixture) = TLSFixture.shared { fixture.remove() }
        super.tearDown()
    }

    func withServer(_ context: TLSContext, _ body: (TLSLoopbackServer) throws -> Void) throws {
        let server = try TLSLoopbackServer(context: context)
        defer { server.stop() }
        try body(server)
    }

    /// `openssl s_client` verifying the server as `localhost` against the dev root, request on stdin.
    func sClient(_ port: UInt16, _ extra: [String]) throws -> (status: Int32, output: String) {
        let fixture = try TLSFixture.get()
        return try runTool("openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost",
                                       "-verify_hostname", "localhost", "-verify_return_error",
                                       "-CAfile", fixture.pki.rootCertificatePath, "-ign_eof"] + extra,
                           input: Self.request)
    }

    func assertRefused(_ outcome: TLSLoopbackServer.Outcome, mentioning reasons: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        guard case .failed(let error) = outcome.handshake else {
            return XCTFail("the handshake was not refused: \(outcome.handshake)", file: file, line: line)
        }
        XCTAssertEqual(error.code, .tlsHandshake, file: file, line: line)
        for reason in reasons {
            XCTAssertTrue(error.message.contains(reason), "'\(reason)' missing from: \(error.message)", file: file, line: line)
        }
        XCTAssertNil(outcome.peer, file: file, line: line)
    }

    // MARK: - openssl s_client and curl

    func testOpenSSLClientWithAgencyCertificateCompletesTLS13AndServerSeesItsFingerprint() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let client = try sClient(server.port, ["-cert", fixture.agency.certificatePath, "-key", fixture.agency.keyPath])
            let outcome = try server.nextOutcome()
            XCTAssertEqual(outcome.handshake, .done)
            XCTAssertNil(outcome.error)
            XCTAssertEqual(outcome.protocolVersion, "TLSv1.3")
            XCTAssertEqual(outcome.peer?.fingerprint, fixture.agency.fingerprint)
            XCTAssertEqual(outcome.peer?.subject.values(of: "OU"), [fixture.agency.code])
            XCTAssertEqual(String(decoding: outcome.request, as: UTF8.self), String(decoding: Self.request, as: UTF8.self))
            XCTAssertEqual(client.status, 0, client.output)
            XCTAssertTrue(client.output.contains("Verify return code: 0 (ok)"), client.output)
            XCTAssertTrue(client.output.contains("TLSv1.3"), client.output)
            XCTAssertTrue(client.output.contains(fixture.agency.fingerprint.hex), "the response body did not arrive: \(client.output)")
        }
    }

    func testCurlWithEachAgencyCertificateGetsItsOwnFingerprintBack() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            // RSA-2048, EC P-256 and Ed25519 client keys.
            for agency in fixture.pki.agencies.prefix(3) {
                let client = try runTool("curl", ["-sS", "--cert", agency.certificatePath, "--key", agency.keyPath,
                                                  "--cacert", fixture.pki.rootCertificatePath,
                                                  "--resolve", "localhost:\(server.port):127.0.0.1",
                                                  "https://localhost:\(server.port)/"])
                let outcome = try server.nextOutcome()
                XCTAssertEqual(outcome.handshake, .done, agency.algorithm)
                XCTAssertEqual(outcome.protocolVersion, "TLSv1.3")
                XCTAssertEqual(outcome.peer?.fingerprint, agency.fingerprint, agency.algorithm)
                XCTAssertEqual(client.status, 0, client.output)
                XCTAssertEqual(client.output.trimmingCharacters(in: .whitespacesAndNewlines), agency.fingerprint.hex)
            }
        }
    }

    func testHandshakeFailsWithoutClientCertificateWhenRequired() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let client = try sClient(server.port, [])
            assertRefused(try server.nextOutcome(), mentioning: ["peer did not return a certificate"])
            XCTAssertTrue(client.output.contains("certificate required"), client.output)
            XCTAssertFalse(client.output.contains("200 OK"), client.output)
        }
    }

    func testTLS11ClientIsRefused() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            // SECLEVEL=0 so the client really offers TLS 1.1 (Debian's default would refuse to send it).
            let client = try sClient(server.port, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                                                   "-cert", fixture.agency.certificatePath, "-key", fixture.agency.keyPath])
            assertRefused(try server.nextOutcome(), mentioning: ["unsupported protocol"])
            XCTAssertNotEqual(client.status, 0, client.output)
            XCTAssertTrue(client.output.contains("alert protocol version"), client.output)
        }
    }

    func testTLS12ClientGetsECDHEWithAEADAndCBCOnlyClientIsRefused() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let modern = try sClient(server.port, ["-tls1_2", "-cert", fixture.agency.certificatePath, "-key", fixture.agency.keyPath])
            let outcome = try server.nextOutcome()
            XCTAssertEqual(outcome.handshake, .done)
            XCTAssertEqual(outcome.protocolVersion, "TLSv1.2")
            XCTAssertTrue(outcome.cipherSuite.hasPrefix("ECDHE-ECDSA-"), outcome.cipherSuite)
            XCTAssertTrue(outcome.cipherSuite.contains("GCM") || outcome.cipherSuite.contains("CHACHA20"), outcome.cipherSuite)
            XCTAssertEqual(outcome.peer?.fingerprint, fixture.agency.fingerprint)
            XCTAssertTrue(modern.output.contains(fixture.agency.fingerprint.hex), modern.output)

            let cbc = try sClient(server.port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA",
                                                "-cert", fixture.agency.certificatePath, "-key", fixture.agency.keyPath])
            assertRefused(try server.nextOutcome(), mentioning: ["no shared cipher"])
            XCTAssertNotEqual(cbc.status, 0, cbc.output)
        }
    }

    func testClientCertificateFromUnrelatedCAIsRefused() throws {
        let fixture = try TLSFixture.get()
        let stranger = fixture.unrelatedPKI.agencies[0]
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let client = try sClient(server.port, ["-cert", stranger.certificatePath, "-key", stranger.keyPath])
            assertRefused(try server.nextOutcome(), mentioning: ["client certificate", "unable to get local issuer certificate",
                                                               "certificate verify failed"])
            XCTAssertFalse(client.output.contains("200 OK"), client.output)
        }
    }

    func testRevokedClientCertificateIsRefusedWhenTheTrustCarriesCRLs() throws {
        let fixture = try TLSFixture.get()
        let revoked = fixture.pki.revoked
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let client = try sClient(server.port, ["-cert", revoked.certificatePath, "-key", revoked.keyPath])
            assertRefused(try server.nextOutcome(), mentioning: ["certificate revoked"])
            XCTAssertFalse(client.output.contains("200 OK"), client.output)
        }
    }

    func testServerWithoutClientAuthenticationAcceptsClientWithoutCertificate() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.serverContext(.none)) { server in
            let client = try sClient(server.port, [])
            let outcome = try server.nextOutcome()
            XCTAssertEqual(outcome.handshake, .done)
            XCTAssertNil(outcome.peer)
            XCTAssertTrue(client.output.contains("no-client-certificate"), client.output)
        }
    }

    func testOptionalClientAuthenticationVerifiesACertificateWhenOneIsSent() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.serverContext(.optional(try fixture.clientTrust()))) { server in
            let anonymous = try TLSLoopbackClient.exchange(context: try fixture.anonymousClientContext(), port: server.port,
                                                           serverName: "localhost")
            XCTAssertEqual(anonymous.body, "no-client-certificate")
            XCTAssertNil(try server.nextOutcome().peer)

            let agency = try TLSLoopbackClient.exchange(context: try fixture.clientContext(), port: server.port, serverName: "localhost")
            XCTAssertEqual(agency.body, fixture.agency.fingerprint.hex)
            XCTAssertEqual(try server.nextOutcome().peer?.fingerprint, fixture.agency.fingerprint)

            let stranger = fixture.unrelatedPKI.agencies[0]
            _ = try sClient(server.port, ["-cert", stranger.certificatePath, "-key", stranger.keyPath])
            assertRefused(try server.nextOutcome(), mentioning: ["unable to get local issuer certificate"])
        }
    }

    // MARK: - Axis's own client

    func testOwnClientTalksToOwnServerByHostNameAndByIPAddress() throws {
        let fixture = try TLSFixture.get()
        let client = try fixture.clientContext()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            for name in ["localhost", "127.0.0.1"] {
                let result = try TLSLoopbackClient.exchange(context: client, port: server.port, serverName: name)
                XCTAssertEqual(result.handshake, .done, name)
                XCTAssertEqual(result.protocolVersion, "TLSv1.3")
                XCTAssertNil(result.readError, name)
                XCTAssertTrue(String(decoding: result.response, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK\r\n"))
                XCTAssertEqual(result.body, fixture.agency.fingerprint.hex)
                let outcome = try server.nextOutcome()
                XCTAssertEqual(outcome.peer?.fingerprint, fixture.agency.fingerprint)
                XCTAssertNil(outcome.error)
            }
        }
    }

    func testOwnClientRefusesServerWhoseCertificateNamesAnotherHost() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            for name in ["wrong.example", "127.0.0.2"] {
                let result = try TLSLoopbackClient.exchange(context: try fixture.clientContext(), port: server.port, serverName: name)
                guard case .failed(let error) = result.handshake else { return XCTFail("\(name): \(result.handshake)") }
                XCTAssertEqual(error.code, .tlsHandshake)
                XCTAssertTrue(error.message.contains("the server certificate"), error.message)
                XCTAssertTrue(error.message.contains("mismatch") && error.message.contains("expected '\(name)'"), error.message)
                // The server hears the client's alert.
                guard case .failed(let serverError) = try server.nextOutcome().handshake else { return XCTFail("server went on") }
                XCTAssertTrue(serverError.message.contains("bad certificate"), serverError.message)
            }
        }
    }

    func testOwnClientRefusesServerFromAnUntrustedCA() throws {
        let fixture = try TLSFixture.get()
        let trustingOthers = try TLSContext(.client(trust: try .load(caFile: fixture.unrelatedPKI.rootCertificatePath)))
        try withServer(try fixture.serverContext(.none)) { server in
            let result = try TLSLoopbackClient.exchange(context: trustingOthers, port: server.port, serverName: "localhost")
            guard case .failed(let error) = result.handshake else { return XCTFail("\(result.handshake)") }
            XCTAssertTrue(error.message.contains("unable to get local issuer certificate"), error.message)
            _ = try server.nextOutcome()
        }
    }

    func testOwnClientWithoutCertificateLearnsOfTheRefusalOnItsFirstRead() throws {
        let fixture = try TLSFixture.get()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let result = try TLSLoopbackClient.exchange(context: try fixture.anonymousClientContext(), port: server.port,
                                                        serverName: "localhost")
            // TLS 1.3: the client's handshake ends before the server has looked at the (missing) certificate.
            XCTAssertEqual(result.handshake, .done)
            XCTAssertEqual(result.readError?.code, .tlsConnection)
            XCTAssertTrue(result.readError?.message.contains("certificate required") == true, "\(String(describing: result.readError))")
            XCTAssertTrue(result.response.isEmpty)
            assertRefused(try server.nextOutcome(), mentioning: ["peer did not return a certificate"])
        }
    }

    func testResumedSessionSkipsCertificatesAndStillCarriesTheClientCertificate() throws {
        let fixture = try TLSFixture.get()
        let client = try fixture.clientContext()
        try withServer(try fixture.requiredClientCertificateServer()) { server in
            let first = try TLSLoopbackClient.exchange(context: client, port: server.port, serverName: "localhost")
            XCTAssertFalse(first.resumed)
            XCTAssertFalse(try server.nextOutcome().resumed)
            let session = try XCTUnwrap(first.session, "no resumable session after reading the response")
            XCTAssertEqual(session.protocolVersion, "TLSv1.3")

            let second = try TLSLoopbackClient.exchange(context: client, port: server.port, serverName: "localhost", resuming: session)
            XCTAssertTrue(second.resumed)
            XCTAssertEqual(second.body, fixture.agency.fingerprint.hex)
            let outcome = try server.nextOutcome()
            XCTAssertTrue(outcome.resumed)
            XCTAssertEqual(outcome.peer?.fingerprint, fixture.agency.fingerprint, "a resumed session must still map to the system")
        }
    }

    // MARK: - Configuration errors

    func testConfigurationMistakesAreClearConfigErrors() throws {
        let fixture = try TLSFixture.get()
        XCTAssertThrowsError(try TLSCredential.load(certificateChainFile: fixture.serverCertificatePath,
                                                    privateKeyFile: fixture.agency.keyPath)) { error in
            XCTAssertEqual(error as? AxisError, AxisError(.config, ""))
            XCTAssertTrue("\(error)".contains("is not the private key"), "\(error)")
        }
        XCTAssertThrowsError(try TLSCredential.load(certificateChainFile: fixture.directory + "/missing.pem",
                                                    privateKeyFile: fixture.serverKeyPath))
        XCTAssertThrowsError(try TLSPeerTrust(certificates: [])) { XCTAssertEqual($0 as? AxisError, AxisError(.config, "")) }

        var weak = try TLSConfiguration.server(certificateChainFile: fixture.serverCertificatePath,
                                               privateKeyFile: fixture.serverKeyPath, clientAuthentication: .none)
        weak.tls12Ciphers = "NO-SUCH-CIPHER"
        XCTAssertThrowsError(try TLSContext(weak)) { error in
            XCTAssertEqual(error as? AxisError, AxisError(.config, ""))
            XCTAssertTrue("\(error)".contains("NO-SUCH-CIPHER") && "\(error)".contains("OpenSSL:"), "\(error)")
        }
        var confused = TLSConfiguration.client(trust: try fixture.clientTrust())
        confused.clientAuthentication = .required(try fixture.clientTrust())
        XCTAssertThrowsError(try TLSContext(confused)) { XCTAssertEqual($0 as? AxisError, AxisError(.config, "")) }
    }

    func testTLS13OnlyServerRefusesTLS12() throws {
        let fixture = try TLSFixture.get()
        var configuration = try TLSConfiguration.server(certificateChainFile: fixture.serverCertificatePath,
                                                        privateKeyFile: fixture.serverKeyPath, clientAuthentication: .none)
        configuration.minimumVersion = .tls13
        try withServer(try TLSContext(configuration)) { server in
            _ = try sClient(server.port, ["-tls1_2"])
            assertRefused(try server.nextOutcome(), mentioning: ["unsupported protocol"])
            _ = try sClient(server.port, [])
            XCTAssertEqual(try server.nextOutcome().protocolVersion, "TLSv1.3")
        }
    }
}
