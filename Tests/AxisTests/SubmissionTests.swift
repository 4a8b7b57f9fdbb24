import XCTest
@testable import Axis

/// The native API's submission headers and the idempotency decision: pure functions.
final class SubmissionTests: XCTestCase {
    let signature = Base64.encode([0x30, 0x03, 0x02, 0x01, 0x01])

    func headers(_ fields: [(String, String)]) -> HTTPHeaders { HTTPHeaders(fields) }

    func valid(_ extra: [(String, String)] = []) -> [(String, String)] {
        [("Axis-From", "000.00.00.G22"), ("Axis-To", "000.00.00.H29, 000.00.00.H41"), ("Axis-Document-Id", "12/VPCP-2026"),
         ("Axis-Signature", signature)] + extra
    }

    func code(_ fields: [(String, String)]) -> String? {
        if case .failure(let error) = Submission.parse(headers(fields)) { return error.code.rawValue }
        return nil
    }

    func testValidHeadersParse() throws {
        let submission = try Submission.parse(headers(valid([("Axis-Subject", "C%C3%B4ng%20v%C4%83n"), ("Content-Type", "application/pdf")]))).get()
        XCTAssertEqual(submission.sender.rawValue, "000.00.00.G22")
        XCTAssertEqual(submission.recipients.map(\.rawValue), ["000.00.00.H29", "000.00.00.H41"])
        XCTAssertEqual(submission.senderDocumentID, "12/VPCP-2026")
        XCTAssertEqual(submission.subject, "Công văn")
        XCTAssertEqual(submission.contentType, "application/pdf")
        XCTAssertEqual(submission.signature, [0x30, 0x03, 0x02, 0x01, 0x01])
    }

    func testEveryBadHeaderIsNamed() {
        XCTAssertEqual(code(valid().filter { $0.0 != "Axis-From" }), "invalid_axis_from")
        XCTAssertEqual(code(valid().filter { $0.0 != "Axis-To" }), "invalid_axis_to")
        XCTAssertEqual(code(valid().filter { $0.0 != "Axis-Document-Id" }), "invalid_axis_document_id")
        XCTAssertEqual(code(valid().filter { $0.0 != "Axis-Signature" }), "invalid_axis_signature")
        let to = valid().map { $0.0 == "Axis-To" ? ($0.0, "000.00.00.H29,000.00.00.H29") : $0 }
        XCTAssertEqual(code(to), "invalid_axis_to", "a recipient listed twice")
        let id = valid().map { $0.0 == "Axis-Document-Id" ? ($0.0, "has space") : $0 }
        XCTAssertEqual(code(id), "invalid_axis_document_id")
        let sig = valid().map { $0.0 == "Axis-Signature" ? ($0.0, "MAM=x") : $0 }
        XCTAssertEqual(code(sig), "invalid_axis_signature")
        XCTAssertEqual(code(valid([("Axis-Subject", "%E1%BB")])), "invalid_axis_subject", "truncated UTF-8")
        XCTAssertEqual(code(valid([("Axis-Subject", "%zz")])), "invalid_axis_subject")
        XCTAssertEqual(code([("Axis-Subject", "Công")] + valid()), "invalid_axis_subject", "raw non-ASCII must be percent-encoded")
        for reserved in ["event:0123:000.00.00.H29:delivered", "Status:0123:03:1", "EVENT:x"] {
            let taken = valid().map { $0.0 == "Axis-Document-Id" ? ($0.0, reserved) : $0 }
            XCTAssertEqual(code(taken), "invalid_axis_document_id", "\(reserved) is a name the axis gives its own messages")
        }
        let near = valid().map { $0.0 == "Axis-Document-Id" ? ($0.0, "events-2026/12") : $0 }
        XCTAssertNil(code(near), "only the exact prefixes are reserved")
    }

    /// HTTP's optional whitespace is cut from both ends of a field or list item, nothing else.
    func testTrimmingSpacesCutsSpacesAndTabsAtBothEndsOnly() {
        XCTAssertEqual("  000.00.00.H29 \t".trimmingSpaces, "000.00.00.H29")
        XCTAssertEqual("\ta b\t".trimmingSpaces, "a b")
        XCTAssertEqual("   ".trimmingSpaces, "")
        XCTAssertEqual("".trimmingSpaces, "")
        XCTAssertEqual("x".trimmingSpaces, "x")
        XCTAssertEqual(" Văn phòng ".trimmingSpaces, "Văn phòng")
        XCTAssertEqual("\u{00A0}x\n".trimmingSpaces, "\u{00A0}x\n", "only space and tab are optional whitespace")
        let parts = "a , b,c ,  ,d".split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces)
        XCTAssertEqual(parts, ["a", "b", "c", "", "d"])
    }

    func testBase64IsStrict() {
        XCTAssertEqual(Base64.decode("TWFu"), Array("Man".utf8))
        XCTAssertEqual(Base64.decode("TWE="), Array("Ma".utf8))
        XCTAssertEqual(Base64.decode("TQ=="), Array("M".utf8))
        XCTAssertNil(Base64.decode("TR=="), "non-zero unused bits")
        XCTAssertNil(Base64.decode("TWF"), "missing padding")
        XCTAssertNil(Base64.decode("TW\nFu"))
        var rng = SeededRandom(seed: 9)
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertEqual(Base64.decode(Base64.encode(bytes)), bytes)
        }
    }

    func testIdempotencyDecision() {
        let h29 = try! AgencyCode("000.00.00.H29"), h41 = try! AgencyCode("000.00.00.H41")
        let sha = Digest256(w0: 1, w1: 2, w2: 3, w3: 4)
        let id = DocumentID(high: 1, low: 2)
        let document = QueueState.Document(
            accepted: DocumentAccepted(id: id, sender: try! AgencyCode("000.00.00.G22"), recipients: [h29, h41], senderDocumentID: "x",
                                       payload: PayloadRef(sha256: sha, length: 1, segment: 1, offset: 0), acceptedAt: Timestamp(millis: 0)),
            sequence: 1, chain: .zero)
        XCTAssertEqual(SubmissionDecision.decide(existing: nil, sha256: sha, recipients: [h29]), .accept)
        XCTAssertEqual(SubmissionDecision.decide(existing: document, sha256: sha, recipients: [h41, h29]), .duplicate(id))
        guard case .conflict = SubmissionDecision.decide(existing: document, sha256: .zero, recipients: [h29, h41]) else {
            return XCTFail("other bytes")
        }
        guard case .conflict = SubmissionDecision.decide(existing: document, sha256: sha, recipients: [h29]) else {
            return XCTFail("same bytes to other recipients")
        }
    }
}
