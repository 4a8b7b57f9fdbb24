import XCTest
@testable import Axis

/// What the admin API selects and plans, as pure functions of the queue state.
final class QueueSelectionTests: XCTestCase {
    let g22 = try! AgencyCode("000.00.00.G22")
    let h29 = try! AgencyCode("000.00.00.H29")
    let h41 = try! AgencyCode("000.00.00.H41")
    let now = Timestamp(millis: 1_800_000_000_000)

    func doc(_ n: UInt64) -> DocumentID { DocumentID(high: n, low: 1) }

    func state(_ documents: [(UInt64, [AgencyCode], ageMinutes: Int64)]) -> QueueState {
        var state = QueueState()
        var sequence: UInt64 = 0
        for (n, recipients, age) in documents {
            sequence += 1
            state.apply(.documentAccepted(DocumentAccepted(
                id: doc(n), sender: g22, recipients: recipients, senderDocumentID: "d-\(n)",
                payload: PayloadRef(sha256: .zero, length: 10, segment: 1, offset: 0),
                acceptedAt: Timestamp(millis: now.millis - age * 60_000))), sequence: sequence)
        }
        return state
    }

    func testShapeCountsWaitingDeliveriesByRecipientAndAge() {
        let s = state([(1, [h41], 1), (2, [h41], 30), (3, [h41, h29], 2000), (4, [h29], 7)])
        let rows = QueueSelection.shape(s, now: now)
        XCTAssertEqual(rows.map(\.recipient), [h41, h29], "most waiting first")
        XCTAssertEqual(rows[0].counts, [1, 0, 0, 1, 0, 0, 0, 0, 0, 1])
        XCTAssertEqual(rows[1].counts, [0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
        XCTAssertEqual(QueueSelection.shape(s, now: now, states: ["deferred"]).count, 0)
    }

    func testPlanChangesWhatTheActionAppliesToAndSaysWhyForTheRest() {
        var s = state([(1, [h29, h41], 5), (2, [h29], 5)])
        s.apply(.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: h29, at: now, actor: .agency(h29))), sequence: 10)
        let (changes, skipped) = QueueSelection.plan(.hold, .documents([doc(1), doc(9)], recipient: nil), in: s, at: now)
        XCTAssertEqual(changes, [QueueSelection.Change(key: .init(document: doc(1), recipient: h41), from: .queued, to: .held)])
        XCTAssertEqual(skipped.map(\.why), ["hold does not apply to a delivery that is acknowledged", "no document \(doc(9)) in the journal"])
        let byRecipient = QueueSelection.plan(.expire, .recipient(h29), in: s, at: now)
        XCTAssertEqual(byRecipient.changes.map(\.key.document), [doc(2)], "only open deliveries of that recipient")
        XCTAssertEqual(byRecipient.changes.first?.to, .expired(at: now))
        let wrongRecipient = QueueSelection.plan(.hold, .documents([doc(2)], recipient: h41), in: s, at: now)
        XCTAssertEqual(wrongRecipient.skipped.first?.why, "\(h41) is not a recipient of \(doc(2))")
        XCTAssertEqual(QueueSelection.plan(.retry, .all, in: s, at: now).changes, [], "nothing is deferred")
    }

    func testListFiltersAndTruncates() {
        let s = state([(1, [h29], 120), (2, [h41], 5), (3, [h29], 1)])
        var filter = QueueFilter()
        XCTAssertEqual(QueueSelection.list(s, filter, now: now).entries.map(\.key.document), [doc(1), doc(2), doc(3)])
        filter.recipient = h29
        filter.olderThanMillis = 60 * 60_000
        XCTAssertEqual(QueueSelection.list(s, filter, now: now).entries.map(\.key.document), [doc(1)])
        filter = QueueFilter()
        filter.limit = 2
        let limited = QueueSelection.list(s, filter, now: now)
        XCTAssertEqual(limited.entries.count, 2)
        XCTAssertTrue(limited.truncated)
        filter = QueueFilter()
        filter.states = ["acknowledged"]
        XCTAssertEqual(QueueSelection.list(s, filter, now: now).entries.count, 0)
    }
}
