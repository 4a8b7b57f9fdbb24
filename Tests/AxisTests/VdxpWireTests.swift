@preconcurrency import Glibc
import Foundation
import XCTest
@testable import Axis

/// The VDXP wire pieces (VDXP-WIRE.md): HMAC authentication against the spec's test vector, parameter
/// lookup with the SDK's piled-up case variants, the `to` forms, the unpadded file hash, the reply
/// envelope; then the SDK-faithful test client, checked byte for byte against a loopback listener.
final class VdxpWireTests: XCTestCase {
    // MARK: Authentication

    static let secret = "s3cr3t-test-key"
    static let vectorSignHeader = #"{"XroadVnpt-systemid":"test.sys.01","XroadVnpt-timestamp":"24112026T092754+0183","XroadVnpt-Content-Type":"application/json"}"#
    static let vectorHash = "cf353db5e5c1828c91e96eaf8a1aebe099493c238f293c0b7e99faed87f32ead"
    static let signKeys = "XroadVnpt-systemid;XroadVnpt-timestamp;XroadVnpt-Content-Type"

    /// A request's headers as the SDK sends them; `hash` nil → the right HMAC of `signHeader`.
    private func signedHeaders(signHeader: String? = vectorSignHeader, hash: String? = nil, systemID: String = "test.sys.01",
                               timestamp: String = "24112026T092754+0183", keys: String = signKeys,
                               extra: [(String, String)] = []) -> HTTPHeaders {
        var h = HTTPHeaders()
        h.add("XroadVnpt-systemid", systemID)
        h.add("XroadVnpt-timestamp", timestamp)
        h.add("XroadVnpt-Content-Type", "application/json")
        for (name, value) in extra { h.add(name, value) }
        if let signHeader {
            h.add("XroadVnpt-sign-header", signHeader)
            h.add("XroadVnpt-hash-header", hash ?? VdxpAuthentication.signature(secret: Self.secret, signHeader: Array(signHeader.utf8)))
        } else if let hash {
            h.add("XroadVnpt-hash-header", hash)
        }
        h.add("XroadVnpt-sign-header-key", keys)
        h.add("Content-Type", "application/json")
        return h
    }

    /// Asserts a 401 whose message contains `fragment` and never the expected HMAC.
    private func assertRefused(_ headers: HTTPHeaders, secret: String = secret, _ fragment: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let failure) = VdxpAuthentication.verify(headers, secret: secret) else {
            return XCTFail("accepted, expected a refusal mentioning '\(fragment)'", file: file, line: line)
        }
        XCTAssertEqual(failure.status, .unauthorized, file: file, line: line)
        XCTAssertEqual(failure.code, VdxpFailure.Code.authentication, file: file, line: line)
        XCTAssertTrue(failure.message.contains(fragment), "message: \(failure.message)", file: file, line: line)
        XCTAssertFalse(failure.message.contains(Self.vectorHash), "the message reveals the HMAC", file: file, line: line)
    }

    private func assertAccepted(_ headers: HTTPHeaders, secret: String = secret, file: StaticString = #filePath, line: UInt = #line) {
        if case .failure(let failure) = VdxpAuthentication.verify(headers, secret: secret) {
            XCTFail("refused: \(failure.message)", file: file, line: line)
        }
    }

    func testSignatureMatchesTheSpecTestVector() {
        XCTAssertEqual(VdxpAuthentication.signature(secret: Self.secret, signHeader: Array(Self.vectorSignHeader.utf8)), Self.vectorHash)
    }

    func testVerifyAcceptsTheTestVectorAndTheSameKeysInAnotherOrder() {
        assertAccepted(signedHeaders(hash: Self.vectorHash))
        // Key order varies in the SDK: the HMAC is over the bytes as sent, so a reordered object verifies too.
        let reordered = #"{"XroadVnpt-Content-Type":"application/json","XroadVnpt-timestamp":"24112026T092754+0183","XroadVnpt-systemid":"test.sys.01"}"#
        let headers = signedHeaders(signHeader: reordered)
        XCTAssertNotEqual(headers["XroadVnpt-hash-header"], Self.vectorHash)
        assertAccepted(headers)
        assertAccepted(signedHeaders(hash: Self.vectorHash.uppercased()))
    }

    func testVerifyRejectsAForgedHash() {
        assertRefused(signedHeaders(hash: String(repeating: "0", count: 64)),
                      "XroadVnpt-hash-header is not the HMAC-SHA256 of XroadVnpt-sign-header")
    }

    func testVerifyRejectsTheWrongSecretNamingTheSystem() {
        assertRefused(signedHeaders(hash: Self.vectorHash), secret: "another-secret",
                      "the secret configured for system 'test.sys.01'")
    }

    func testVerifyRejectsAHashOfTheWrongLength() {
        assertRefused(signedHeaders(hash: String(Self.vectorHash.dropLast())), "is not the HMAC-SHA256")
        assertRefused(signedHeaders(hash: Self.vectorHash + "0"), "is not the HMAC-SHA256")
    }

    func testVerifyRejectsASignedValueThatDiffersFromTheRealHeader() {
        assertRefused(signedHeaders(hash: Self.vectorHash, timestamp: "25112026T000000+0000"),
                      #"the header XroadVnpt-timestamp is "25112026T000000+0000" but "24112026T092754+0183" was signed"#)
    }

    func testVerifyRejectsASignHeaderWithoutTheSystemID() {
        let unsigned = #"{"XroadVnpt-timestamp":"24112026T092754+0183","XroadVnpt-Content-Type":"application/json"}"#
        assertRefused(signedHeaders(signHeader: unsigned), "does not sign XroadVnpt-systemid")
    }

    func testVerifyRejectsASignedSystemIDOtherThanTheHeader() {
        let other = #"{"XroadVnpt-systemid":"other.sys","XroadVnpt-timestamp":"24112026T092754+0183"}"#
        assertRefused(signedHeaders(signHeader: other, keys: "XroadVnpt-systemid;XroadVnpt-timestamp"),
                      #"the header XroadVnpt-systemid is "test.sys.01" but "other.sys" was signed"#)
        assertRefused(signedHeaders(extra: [("xroadvnpt-SYSTEMID", "other.sys")]),
                      "two different values for the parameter 'systemid'")
    }

    func testVerifyRejectsAMissingSignHeader() {
        assertRefused(signedHeaders(signHeader: nil, hash: Self.vectorHash), "the header XroadVnpt-sign-header is missing")
        var noHash = signedHeaders()
        noHash.remove("XroadVnpt-hash-header")
        assertRefused(noHash, "the header XroadVnpt-hash-header is missing")
        var noSystem = signedHeaders()
        noSystem.remove("XroadVnpt-systemid")
        assertRefused(noSystem, "the header XroadVnpt-systemid is missing")
    }

    func testVerifyRejectsANonJSONSignHeaderEvenWhenItsHMACMatches() {
        assertRefused(signedHeaders(signHeader: "XroadVnpt-systemid=test.sys.01"), "XroadVnpt-sign-header is not valid JSON")
        assertRefused(signedHeaders(signHeader: #"["XroadVnpt-systemid"]"#), "not a JSON object")
        assertRefused(signedHeaders(signHeader: #"{"XroadVnpt-systemid":1}"#), "must be a JSON string")
    }

    func testVerifyRejectsASignedKeyMissingFromTheKeyList() {
        assertRefused(signedHeaders(keys: "XroadVnpt-systemid;XroadVnpt-timestamp"),
                      "signs XroadVnpt-Content-Type, which XroadVnpt-sign-header-key does not list")
        // The list is compared ignoring case.
        assertAccepted(signedHeaders(keys: Self.signKeys.uppercased()))
    }

    func testVerifyRejectsAnUnsignedCaseVariantThatWouldOverrideASignedEmptyParameter() {
        let signHeader = #"{"XroadVnpt-systemid":"test.sys.01","XroadVnpt-docId":""}"#
        let keys = "XroadVnpt-systemid;XroadVnpt-docId"
        assertAccepted(signedHeaders(signHeader: signHeader, keys: keys, extra: [("XroadVnpt-docId", "")]))
        assertRefused(signedHeaders(signHeader: signHeader, keys: keys, extra: [("XroadVnpt-docId", ""), ("XroadVnpt-docid", "99")]),
                      "takes the unsigned value \"99\"")
        // Both variants signed, as the SDK piles them up: accepted.
        let both = #"{"XroadVnpt-systemid":"test.sys.01","XroadVnpt-docId":"7","XroadVnpt-docid":"7"}"#
        assertAccepted(signedHeaders(signHeader: both, keys: "XroadVnpt-systemid;XroadVnpt-docId;XroadVnpt-docid",
                                     extra: [("XroadVnpt-docId", "7"), ("XroadVnpt-docid", "7")]))
    }

    // MARK: Parameters

    func testParameterCaseVariantsAreOneParameter() {
        let same = VdxpParameters(["XroadVnpt-docId": "42", "XroadVnpt-docid": "42"])
        XCTAssertEqual(try same.value("docId").get(), "42")
        XCTAssertEqual(try same.value("DOCID").get(), "42")

        let oneEmpty = VdxpParameters(["XroadVnpt-docId": " ", "XroadVnpt-docid": " 42 "])
        XCTAssertEqual(try oneEmpty.value("docId").get(), "42")

        let absent = VdxpParameters(["XroadVnpt-other": "x"])
        XCTAssertEqual(try absent.value("docId").get(), nil)

        let conflicting = VdxpParameters(["XroadVnpt-docId": "42", "XroadVnpt-docid": "43"])
        guard case .failure(let failure) = conflicting.value("docid") else { return XCTFail("conflict accepted") }
        XCTAssertEqual(failure.status, .badRequest)
        XCTAssertEqual(failure.code, VdxpFailure.Code.badParameter)
        XCTAssertTrue(failure.message.contains(#"XroadVnpt-docId ("42") and XroadVnpt-docid ("43")"#), failure.message)
    }

    func testParameterValuesAreDecodedAsLatin1() {
        var headers = HTTPHeaders()
        headers.add(name: "XroadVnpt-from", valueBytes: [0x43, 0xE9, 0x64, 0x65])   // "Céde" in ISO-8859-1
        headers.add("XroadVnpt-systemid", "sys.01")
        let parameters = VdxpParameters(headers)
        XCTAssertEqual(try parameters.value("from").get(), "Céde")
        XCTAssertEqual(parameters.systemID, "sys.01")
    }

    // MARK: Recipients

    func testRecipientsAcceptTheSDKFormsAndBareCodes() {
        XCTAssertEqual(try VdxpRecipients.parse(#"["000.00.00.H41","000.00.00.G22"]"#).get(), ["000.00.00.H41", "000.00.00.G22"])
        XCTAssertEqual(try VdxpRecipients.parse(#" [ "A" ] "#).get(), ["A"])
        XCTAssertEqual(try VdxpRecipients.parse(#""000.00.00.H41""#).get(), ["000.00.00.H41"])
        XCTAssertEqual(try VdxpRecipients.parse("000.00.00.H41").get(), ["000.00.00.H41"])
        XCTAssertEqual(try VdxpRecipients.parse("A, B,C").get(), ["A", "B", "C"])
    }

    func testRecipientsRefuseEmptyDuplicateAndNonStringFormsWithAnExample() {
        let refused = ["", "  ", "[]", #"["A","A"]"#, "A,A", #"[1]"#, #"["A",null]"#, #"["A""#, #""""#, "A,,B", "['A']", "[\"A\" \"B\"]"]
        for text in refused {
            guard case .failure(let failure) = VdxpRecipients.parse(text) else {
                XCTFail("accepted \(text)")
                continue
            }
            XCTAssertEqual(failure.status, .badRequest, text)
            XCTAssertTrue(failure.message.contains(#"["000.00.00.H41","000.00.00.G22"]"#), failure.message)
        }
        let many = "[" + (0...VdxpRecipients.countMax).map { "\"A\($0)\"" }.joined(separator: ",") + "]"
        guard case .failure(let failure) = VdxpRecipients.parse(many) else { return XCTFail("1,001 recipients accepted") }
        XCTAssertTrue(failure.message.contains("at most 1000"), failure.message)
        let maximum = "[" + (1...VdxpRecipients.countMax).map { "\"A\($0)\"" }.joined(separator: ",") + "]"
        XCTAssertEqual(try VdxpRecipients.parse(maximum).get().count, 1_000)
    }

    // MARK: File hash

    func testUnpaddedHexDropsEachBytesLeadingZero() throws {
        let bytes: [UInt8] = [0x00, 0x01, 0x0A, 0x10, 0xAB] + [UInt8](repeating: 0xFF, count: 27)
        let digest = try XCTUnwrap(Digest256(bytes: bytes))
        let unpadded = "01a10ab" + String(repeating: "ff", count: 27)
        XCTAssertEqual(VdxpFileHash.unpaddedHex(digest), unpadded)
        XCTAssertTrue(VdxpFileHash.matches(unpadded, digest))
        XCTAssertTrue(VdxpFileHash.matches(unpadded.uppercased(), digest))
        XCTAssertTrue(VdxpFileHash.matches(digest.hex, digest))
        XCTAssertEqual(digest.hex.count, 64)
        XCTAssertFalse(VdxpFileHash.matches("01a10ac" + String(repeating: "ff", count: 27), digest))
        XCTAssertFalse(VdxpFileHash.matches("", digest))
        XCTAssertFalse(VdxpFileHash.matches(VdxpFileHash.unpaddedHex(SHA256Hasher.digest([UInt8]("other".utf8))), digest))
    }

    // MARK: Replies

    func testOkReplyIsTheExactEnvelope() {
        let reply = VdxpReply.ok([("DocId", .string("d-1")), ("count", .int(3))])
        XCTAssertEqual(reply.head.status, .ok)
        XCTAssertEqual(reply.head.headers["Content-Type"], "application/json")
        XCTAssertEqual(String(decoding: reply.body, as: UTF8.self),
                       #"{"status":"OK","ErrorCode":"0","ErrorDesc":"","DocId":"d-1","count":3}"#)
        XCTAssertEqual(String(decoding: VdxpReply.ok().body, as: UTF8.self), #"{"status":"OK","ErrorCode":"0","ErrorDesc":""}"#)
    }

    func testFailReplyEscapesNonASCIIAndKeepsTheStatus() {
        let failure = VdxpFailure(.conflict, "DUPLICATE", "Công văn đã gửi")
        let reply = VdxpReply.fail(failure, [("DocId", .string("")), ("status", .string("OK"))])
        XCTAssertEqual(reply.head.status, .conflict)
        let text = String(decoding: reply.body, as: UTF8.self)
        XCTAssertEqual(text, #"{"status":"FAIL","ErrorCode":"DUPLICATE","ErrorDesc":"C\u00f4ng v\u0103n \u0111\u00e3 g\u1eedi","DocId":""}"#)
        XCTAssertTrue(reply.body.allSatisfy { $0 < 0x80 })
    }

    func testListItemDropsNullsAndNestedValues() {
        let item = VdxpReply.item([("docId", .string("1")), ("to", .array([.string("A")])), ("status_desc", .null),
                                   ("meta", .object([])), ("count", .int(2)), ("deleted", .bool(false))])
        XCTAssertEqual(item.encoded(), #"{"docId":"1","count":2,"deleted":false}"#)
    }

    // MARK: The SDK-faithful client, against a loopback listener

    func testClientSendEdocPutsTheSDKBytesOnTheWireAndWaitsForContinue() throws {
        let listener = try LoopbackListener()
        // A file whose SHA-256 has a byte below 0x10, so the unpadded hash is shorter than 64 digits.
        let file = try XCTUnwrap((0..<1_000).lazy.map { Array("<edXMLEnvelope>công văn \($0)</edXMLEnvelope>".utf8) }
            .first { VdxpFileHash.unpaddedHex(SHA256Hasher.digest($0)).count < 64 })
        let captured = listener.serveOne(answerContinue: true, reply: Self.jsonReply(#"{"status":"OK","ErrorCode":"0","ErrorDesc":"","DocId":"d-9"}"#))
        let client = VdxpSDKClient(port: listener.port, systemID: "test.sys.01", secret: Self.secret)

        let reply = try client.sendEdoc(file, from: "000.00.00.G22", to: ["000.00.00.H41", "000.00.00.H42"])
        let request = captured.wait()

        XCTAssertEqual(reply.httpStatus, 200)
        XCTAssertEqual(reply.got100Continue, true)
        XCTAssertEqual(reply.string("DocId"), "d-9")
        XCTAssertEqual(request.bodyBytesBeforeContinue, 0, "the body was sent before the 100 Continue")
        XCTAssertEqual(request.body, file + [0x0D, 0x0A])

        let head = try Self.parse(request)
        XCTAssertEqual(head.method, .post)
        XCTAssertEqual(head.target, "/sendEdoc")
        XCTAssertEqual(head.headers.map(\.name), [
            "XroadVnpt-systemid", "XroadVnpt-timestamp", "XroadVnpt-Content-Type", "XroadVnpt-from", "XroadVnpt-to",
            "XroadVnpt-servicetype", "XroadVnpt-messagetype", "XroadVnpt-hash-file", "XroadVnpt-sign-header",
            "XroadVnpt-sign-header-key", "XroadVnpt-hash-header", "Content-Type", "Content-Length", "Host", "Connection",
            "User-Agent", "Accept-Encoding", "Expect"])
        let hashFile = try XCTUnwrap(head.headers["XroadVnpt-hash-file"])
        XCTAssertLessThan(hashFile.count, 64)
        XCTAssertEqual(hashFile, VdxpFileHash.unpaddedHex(SHA256Hasher.digest(file)))
        XCTAssertTrue(VdxpFileHash.matches(hashFile, SHA256Hasher.digest(file)))
        XCTAssertEqual(head.headers["XroadVnpt-sign-header"],
                       #"{"XroadVnpt-systemid":"test.sys.01","XroadVnpt-timestamp":"24112026T092754+0183","#
                       + #""XroadVnpt-Content-Type":"application/octet-stream","XroadVnpt-from":"000.00.00.G22","#
                       + #""XroadVnpt-to":"[\"000.00.00.H41\",\"000.00.00.H42\"]","XroadVnpt-servicetype":"eDoc","#
                       + #""XroadVnpt-messagetype":"edoc","XroadVnpt-hash-file":"\#(hashFile)"}"#)
        XCTAssertEqual(head.headers["XroadVnpt-sign-header-key"],
                       "XroadVnpt-systemid;XroadVnpt-timestamp;XroadVnpt-Content-Type;XroadVnpt-from;XroadVnpt-to;"
                       + "XroadVnpt-servicetype;XroadVnpt-messagetype;XroadVnpt-hash-file")
        XCTAssertEqual(head.headers["Content-Type"], "application/octet-stream")
        XCTAssertEqual(head.headers["Content-Length"], String(file.count + 2))
        XCTAssertEqual(head.headers["Expect"], "100-continue")
        XCTAssertTrue(head.expectsContinue)
        assertAccepted(head.headers)
        let to = try XCTUnwrap(VdxpParameters(head.headers).value("to").get())
        XCTAssertEqual(try VdxpRecipients.parse(to).get(), ["000.00.00.H41", "000.00.00.H42"])
    }

    func testClientSendsTheBodyAnywayWhenNoContinueComesAndPilesUpDocId() throws {
        let listener = try LoopbackListener()
        // A chunked reply, as a server streaming a list might send it.
        let captured = listener.serveOne(answerContinue: false, reply: Array(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"stat\r\n28\r\nus\":\"OK\",\"ErrorCode\":\"0\",\"ErrorDesc\":\"\"}\r\n0\r\n\r\n".utf8))
        var client = VdxpSDKClient(port: listener.port, systemID: "test.sys.01", secret: Self.secret)
        client.quirks.continueTimeoutSeconds = 0.2

        let reply = try client.getEdoc(docId: "Công-42")
        let request = captured.wait()

        XCTAssertEqual(reply.got100Continue, false)
        XCTAssertEqual(reply.string("status"), "OK")
        XCTAssertEqual(request.body, Array("{}".utf8), "an empty POST carries the literal {}")
        let head = try Self.parse(request)
        XCTAssertEqual(head.headers["Content-Type"], "application/json")
        XCTAssertEqual(head.headers.filter { $0.name.lowercased() == "xroadvnpt-docid" }.map(\.name), ["XroadVnpt-docId", "XroadVnpt-docid"])
        // "ô" travels as the single ISO-8859-1 byte 0xF4; "ô" is U+00F4, so the HMAC over the wire bytes holds.
        XCTAssertEqual(head.headers.firstValueBytes("XroadVnpt-docId").map(Array.init), [0x43, 0xF4, 0x6E, 0x67, 0x2D, 0x34, 0x32])
        XCTAssertEqual(try VdxpParameters(head.headers).value("docid").get(), "Công-42")
        assertAccepted(head.headers)
    }

    func testClientTamperingIsRefusedByVerifyAndGetHasNoBody() throws {
        let listener = try LoopbackListener()
        let tampers: [(VdxpSDKClient.Tamper, String)] = [
            (.forgeHash, "is not the HMAC-SHA256"),
            (.wrongSecret, "the secret configured for system 'test.sys.01'"),
            (.alterAfterSigning(name: "XroadVnpt-docid", value: "43"), "was signed"),
            (.omit(name: "XroadVnpt-sign-header"), "XroadVnpt-sign-header is missing"),
            (.replaceSignHeader("not json"), "is not valid JSON"),
        ]
        var client = VdxpSDKClient(port: listener.port, systemID: "test.sys.01", secret: Self.secret)
        client.quirks.pileUpDocId = false
        for (tamper, fragment) in tampers {
            // A close-delimited raw body, as downloadEdoc may answer.
            let captured = listener.serveOne(answerContinue: true, reply: Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<edXML/>".utf8))
            let reply = try client.updateStatus(docId: "42", status: "done", tamper: tamper)
            XCTAssertEqual(reply.got100Continue, true)
            XCTAssertEqual(reply.body, Array("<edXML/>".utf8))
            assertRefused(try Self.parse(captured.wait()).headers, fragment)
        }

        let captured = listener.serveOne(answerContinue: true, reply: Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<edXML/>".utf8))
        let reply = try client.downloadEdoc(docId: "42")
        let request = captured.wait()
        XCTAssertNil(reply.got100Continue)
        XCTAssertEqual(reply.body, Array("<edXML/>".utf8))
        XCTAssertEqual(request.body, [])
        let head = try Self.parse(request)
        XCTAssertEqual(head.method, .get)
        XCTAssertFalse(head.headers.contains("Expect"))
        XCTAssertFalse(head.headers.contains("Content-Length"))
        XCTAssertEqual(head.headers["XroadVnpt-docId"], "42")
        assertAccepted(head.headers)
    }

    // MARK: Helpers

    private static func jsonReply(_ json: String) -> [UInt8] {
        Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)".utf8)
    }

    /// The captured request's head, through Axis's own parser (as the server would see it).
    private static func parse(_ request: LoopbackListener.Captured) throws -> HTTPRequestHead {
        var parser = HTTPRequestParser()
        let bytes = request.head + request.body
        let event = bytes.withUnsafeBytes { parser.next($0).event }
        switch event {
        case .head(let head)?: return head
        case .error(let error)?: throw error
        default: throw AxisError(.config, "the captured request has no complete head")
        }
    }
}

/// A raw listener on 127.0.0.1 that accepts one connection per `serveOne`, records the request bytes
/// exactly as they arrived, optionally answers `Expect: 100-continue`, then sends a canned reply and closes.
private final class LoopbackListener: @unchecked Sendable {
    struct Captured: Sendable {
        var head: [UInt8]
        var body: [UInt8]
        /// Body bytes that had already arrived when the head was complete (before any 100 Continue).
        var bodyBytesBeforeContinue: Int
    }

    let port: UInt16
    private let fd: Int32

    init() throws {
        fd = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 8)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        port = try Socket.localPort(fd)
    }

    deinit { close(fd) }

    func serveOne(answerContinue: Bool, reply: [UInt8]) -> Promise<Captured> {
        let promise = Promise<Captured>()
        let listener = fd
        Thread.detachNewThread {
            promise.fulfil(Self.serve(listener, answerContinue: answerContinue, reply: reply))
        }
        return promise
    }

    private static func serve(_ listener: Int32, answerContinue: Bool, reply: [UInt8]) -> Captured {
        let conn = accept(listener, nil, nil)
        guard conn >= 0 else { return Captured(head: [], body: [], bodyBytesBeforeContinue: -1) }
        defer { close(conn) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var buffer: [UInt8] = []
        var headEnd: Int?
        while headEnd == nil {
            guard receive(conn, into: &buffer) else { return Captured(head: buffer, body: [], bodyBytesBeforeContinue: -1) }
            headEnd = buffer.indices.dropLast(3).first { Array(buffer[$0..<($0 + 4)]) == [0x0D, 0x0A, 0x0D, 0x0A] }.map { $0 + 4 }
        }
        let end = headEnd ?? buffer.count
        let head = Array(buffer[..<end])
        var body = Array(buffer[end...])
        let early = body.count
        let text = String(decoding: head, as: UTF8.self).lowercased()
        if answerContinue && text.contains("\r\nexpect: 100-continue\r\n") {
            send(conn, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        let length = text.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        while body.count < length, receive(conn, into: &body) {}
        send(conn, reply)
        return Captured(head: head, body: body, bodyBytesBeforeContinue: early)
    }

    private static func receive(_ conn: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(conn, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer += chunk[..<n]
        return true
    }

    private static func send(_ conn: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(conn, $0.baseAddress?.advanced(by: sent), bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }
}
