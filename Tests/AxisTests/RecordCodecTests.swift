import XCTest
@testable import Axis

final class RecordCodecTests: XCTestCase {
    func testEveryRecordKindRoundTrips() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let record = RecordFactory.random(using: &rng)
            let decoded = try JournalRecord.decode(kind: record.kind, body: record.encoded())
            XCTAssertEqual(decoded, record)
        }
    }

    func testEveryFactoryKindIsCovered() {
        var rng = SeededRandom(seed: 11)
        let kinds = Set((0..<500).map { _ in RecordFactory.random(using: &rng).kind })
        for kind in [RecordKind.documentAccepted, .deliveryLeased, .deliveryAttempted, .deliveryFailed, .deliveryReleased,
                     .deliveryDelivered, .deliveryAcknowledged, .recipientStatus, .deliveryControl, .agencyChanged,
                     .systemChanged, .receiptIssued, .checkpoint] {
            XCTAssertTrue(kinds.contains(kind), "factory never produced \(kind)")
        }
    }

    func testTruncatedBodiesAreRejectedAsMalformed() throws {
        var rng = SeededRandom(seed: 3)
        for _ in 0..<50 {
            let record = RecordFactory.random(using: &rng)
            let body = record.encoded()
            for cut in 0..<body.count {
                XCTAssertThrowsError(try JournalRecord.decode(kind: record.kind, body: Array(body[0..<cut]))) { error in
                    XCTAssertEqual((error as? AxisError)?.code, .malformed, "cut at \(cut) of \(record.kind)")
                }
            }
        }
    }

    func testTrailingBytesAreRejected() {
        let record = JournalRecord.checkpoint(Checkpoint(at: Timestamp(millis: 5), note: "x"))
        XCTAssertThrowsError(try JournalRecord.decode(kind: record.kind, body: record.encoded() + [0]))
    }

    func testUnknownBodyVersionTellsOperatorToUpgrade() {
        var body = JournalRecord.checkpoint(Checkpoint(at: Timestamp(millis: 5), note: "x")).encoded()
        body[0] = 9
        XCTAssertThrowsError(try JournalRecord.decode(kind: .checkpoint, body: body)) { error in
            XCTAssertTrue("\(error)".contains("upgrade axisd"), "\(error)")
        }
    }

    func testAgencyCodeValidation() {
        XCTAssertNoThrow(try AgencyCode("000.00.00.G22"))
        XCTAssertThrowsError(try AgencyCode(""))
        XCTAssertThrowsError(try AgencyCode("000 00"))
        XCTAssertThrowsError(try AgencyCode(String(repeating: "1", count: 65)))
    }

    func testDocumentIDHexRoundTripsAndSortsByTime() {
        var rng = SeededRandom(seed: 1)
        let a = DocumentID.generate(at: Timestamp(millis: 1000), using: &rng)
        let b = DocumentID.generate(at: Timestamp(millis: 1001), using: &rng)
        XCTAssertLessThan(a, b)
        XCTAssertEqual(DocumentID(hex: a.hex), a)
        XCTAssertNil(DocumentID(hex: "zz"))
    }
}

/// Builds random but well-formed records for codec and fold tests.
enum RecordFactory {
    static let agencies = try! ["000.00.00.G22", "000.00.00.G17", "000.00.00.H29", "000.00.00.H41"].map { try AgencyCode($0) }

    static func payload(using rng: inout SeededRandom) -> PayloadRef {
        PayloadRef(sha256: SHA256Hasher.digest([UInt8(truncatingIfNeeded: rng.next())]), length: rng.next() % 100_000,
                   segment: rng.next() % 10, offset: rng.next() % 1_000_000)
    }

    static func text(using rng: inout SeededRandom) -> String {
        ["", "a", "Công văn số 12/UBND", "reason with spaces", String(repeating: "x", count: 300)][Int(rng.next() % 5)]
    }

    static func actor(using rng: inout SeededRandom) -> Actor {
        switch rng.next() % 4 {
        case 0: return .system
        case 1: return .agency(agencies[Int(rng.next() % 4)])
        case 2: return .admin(uid: UInt32(rng.next() % 70000), gid: 100)
        default: return .policy("lifetime")
        }
    }

    static func accepted(id: DocumentID, using rng: inout SeededRandom) -> DocumentAccepted {
        let recipients = Array(agencies.shuffled(using: &rng).prefix(1 + Int(rng.next() % 3)))
        return DocumentAccepted(
            id: id, sender: agencies[Int(rng.next() % 4)], recipients: recipients,
            senderDocumentID: "doc-\(rng.next() % 1_000_000)", subject: text(using: &rng),
            messageType: rng.next() % 2 == 0 ? .document : .status, businessType: .update,
            refersTo: rng.next() % 2 == 0 ? [] : [DocumentID(high: rng.next(), low: rng.next())],
            statusCode: rng.next() % 2 == 0 ? "" : "03", payload: payload(using: &rng),
            signature: rng.next() % 2 == 0 ? nil : payload(using: &rng),
            signerFingerprint: rng.next() % 2 == 0 ? nil : SHA256Hasher.digest([1, 2]),
            signerSubject: "CN=Văn thư", ingress: .vdxp, submittedBy: try? SystemID("sys-\(rng.next() % 9)"),
            acceptedAt: Timestamp(millis: Int64(rng.next() % 1_000_000_000_000)))
    }

    static func random(using rng: inout SeededRandom) -> JournalRecord {
        let doc = DocumentID(high: rng.next(), low: rng.next())
        let who = agencies[Int(rng.next() % 4)]
        let at = Timestamp(millis: Int64(rng.next() % 1_000_000_000_000))
        switch rng.next() % 13 {
        case 0: return .documentAccepted(accepted(id: doc, using: &rng))
        case 1: return .deliveryLeased(DeliveryLeased(document: doc, recipient: who, at: at, until: Timestamp(millis: at.millis + 30_000), actor: actor(using: &rng)))
        case 2: return .deliveryAttempted(DeliveryAttempted(document: doc, recipient: who, at: at, attempt: 3, endpoint: "https://x.example/in"))
        case 3: return .deliveryFailed(DeliveryFailed(document: doc, recipient: who, at: at, attempt: 2, reason: text(using: &rng), retryAt: at))
        case 4: return .deliveryReleased(DeliveryReleased(document: doc, recipient: who, at: at, actor: actor(using: &rng), reason: text(using: &rng)))
        case 5: return .deliveryDelivered(DeliveryDelivered(document: doc, recipient: who, at: at, endpoint: "https://x"))
        case 6: return .deliveryAcknowledged(DeliveryAcknowledged(document: doc, recipient: who, at: at, actor: actor(using: &rng), receipt: rng.next() % 2 == 0 ? nil : payload(using: &rng)))
        case 7: return .recipientStatus(RecipientStatus(document: doc, recipient: who, at: at, code: "05", description: text(using: &rng), statusDocument: rng.next() % 2 == 0 ? nil : doc))
        case 8: return .deliveryControl(DeliveryControl(action: DeliveryControl.Action.allCases[Int(rng.next() % 5)], document: doc, recipient: rng.next() % 2 == 0 ? nil : who, at: at, actor: actor(using: &rng), reason: text(using: &rng)))
        case 9: return .agencyChanged(AgencyChanged(agency: AgencyEntry(code: who, parent: agencies[0], name: "Bộ Tài chính", email: "vt@example.vn", endpoint: "", system: try? SystemID("sys-1"), certificateFingerprints: [SHA256Hasher.digest([9])], subjectRule: "O=MOF", enabled: rng.next() % 2 == 0), at: at, actor: actor(using: &rng), reason: "import"))
        case 10: return .systemChanged(SystemChanged(system: SystemEntry(id: try! SystemID("sys-\(rng.next() % 5)"), name: "DMS", tlsFingerprints: [SHA256Hasher.digest([3])], subjectRule: "", agencies: [who], vdxpSystemID: "vdxp.1", vdxpSecret: "s3cr3t", enabled: true), at: at, actor: actor(using: &rng)))
        case 11: return .receiptIssued(ReceiptIssued(document: doc, at: at, receipt: payload(using: &rng)))
        default: return .checkpoint(Checkpoint(at: at, note: text(using: &rng)))
        }
    }
}
