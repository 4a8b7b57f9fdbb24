import XCTest
@testable import Axis

final class QueueStateTests: XCTestCase {
    let g22 = try! AgencyCode("000.00.00.G22")
    let h29 = try! AgencyCode("000.00.00.H29")
    let h41 = try! AgencyCode("000.00.00.H41")
    let t0 = Timestamp(millis: 1_000_000)

    func accepted(_ id: UInt64, to recipients: [AgencyCode]) -> JournalRecord {
        .documentAccepted(DocumentAccepted(
            id: DocumentID(high: id, low: 0), sender: g22, recipients: recipients, senderDocumentID: "s-\(id)",
            payload: PayloadRef(sha256: .zero, length: 1, segment: 1, offset: 0), acceptedAt: t0))
    }

    func doc(_ id: UInt64) -> DocumentID { DocumentID(high: id, low: 0) }

    func testAcceptedDocumentIsQueuedForEveryRecipientAndIndexedBySenderID() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29, h41]), sequence: 1)
        XCTAssertEqual(state.delivery(doc(1), h29)?.state, .queued)
        XCTAssertEqual(state.delivery(doc(1), h41)?.state, .queued)
        XCTAssertEqual(state.document(sender: g22, senderDocumentID: "s-1")?.accepted.id, doc(1))
        XCTAssertEqual(state.ready(for: h29, at: t0), [doc(1)])
        XCTAssertEqual(state.anomalies, 0)
    }

    func testLeaseHidesItemUntilItExpires() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29]), sequence: 1)
        state.apply(.deliveryLeased(DeliveryLeased(document: doc(1), recipient: h29, at: t0,
                                                   until: Timestamp(millis: t0.millis + 30_000), actor: .agency(h29))), sequence: 2)
        XCTAssertEqual(state.ready(for: h29, at: Timestamp(millis: t0.millis + 29_999)), [])
        XCTAssertEqual(state.ready(for: h29, at: Timestamp(millis: t0.millis + 30_000)), [doc(1)])
    }

    func testAcknowledgedDeliveryLeavesTheOpenSet() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29]), sequence: 1)
        state.apply(.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: h29, at: t0, actor: .agency(h29))), sequence: 2)
        XCTAssertEqual(state.delivery(doc(1), h29)?.state, .acknowledged(at: t0))
        XCTAssertNil(state.open[h29])
    }

    func testHoldReleaseAndDeleteForAllRecipients() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29, h41]), sequence: 1)
        state.apply(.deliveryControl(DeliveryControl(action: .hold, document: doc(1), recipient: nil, at: t0,
                                                     actor: .admin(uid: 0, gid: 0), reason: "check")), sequence: 2)
        XCTAssertEqual(state.delivery(doc(1), h29)?.state, .held)
        XCTAssertEqual(state.ready(for: h41, at: t0), [])
        state.apply(.deliveryControl(DeliveryControl(action: .release, document: doc(1), recipient: h29, at: t0,
                                                     actor: .admin(uid: 0, gid: 0), reason: "")), sequence: 3)
        XCTAssertEqual(state.delivery(doc(1), h29)?.state, .queued)
        XCTAssertEqual(state.delivery(doc(1), h41)?.state, .held)
        state.apply(.deliveryControl(DeliveryControl(action: .delete, document: doc(1), recipient: nil, at: t0,
                                                     actor: .admin(uid: 0, gid: 0), reason: "wrong recipient")), sequence: 4)
        XCTAssertEqual(state.delivery(doc(1), h29)?.state, .deleted(at: t0))
        XCTAssertTrue(state.open.isEmpty)
        XCTAssertEqual(state.anomalies, 0)
    }

    func testFailedAttemptDefersUntilRetryTimeAndRetryMakesItDue() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29]), sequence: 1)
        state.apply(.deliveryAttempted(DeliveryAttempted(document: doc(1), recipient: h29, at: t0, attempt: 1, endpoint: "https://h29")), sequence: 2)
        XCTAssertEqual(state.ready(for: h29, at: t0), [], "an item in flight is not handed out again")
        let later = Timestamp(millis: t0.millis + 60_000)
        state.apply(.deliveryFailed(DeliveryFailed(document: doc(1), recipient: h29, at: t0, attempt: 1, reason: "503", retryAt: later)), sequence: 3)
        XCTAssertEqual(state.ready(for: h29, at: t0), [])
        XCTAssertEqual(state.ready(for: h29, at: later), [doc(1)])
        state.apply(.deliveryControl(DeliveryControl(action: .retry, document: doc(1), recipient: h29, at: t0,
                                                     actor: .admin(uid: 1, gid: 1), reason: "")), sequence: 4)
        XCTAssertEqual(state.ready(for: h29, at: t0), [doc(1)])
        XCTAssertEqual(state.delivery(doc(1), h29)?.attempts, 1)
        XCTAssertEqual(state.delivery(doc(1), h29)?.lastError, "503")
    }

    func testRecordThatDoesNotFitIsCountedAsAnomalyAndChangesNothing() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29]), sequence: 1)
        state.apply(.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: h29, at: t0, actor: .agency(h29))), sequence: 2)
        let before = state.deliveries
        state.apply(.deliveryLeased(DeliveryLeased(document: doc(1), recipient: h29, at: t0, until: t0, actor: .agency(h29))), sequence: 3)
        state.apply(accepted(1, to: [h41]), sequence: 4)
        XCTAssertEqual(state.deliveries, before)
        XCTAssertEqual(state.anomalies, 2)
    }

    func testReadyListIsOldestFirst() {
        var state = QueueState()
        for i in (1...5).reversed() { state.apply(accepted(UInt64(i), to: [h29]), sequence: UInt64(10 - i)) }
        XCTAssertEqual(state.ready(for: h29, at: t0, limit: 3), [doc(5), doc(4), doc(3)])
    }

    /// The accepted and receipt-issued events are made when the trace is read, not stored: they must
    /// read as before and sit at their place in sequence order among the stored events.
    func testTraceShowsAcceptanceAndReceiptInSequenceOrder() throws {
        var state = QueueState()
        var record = DocumentAccepted(id: doc(1), sender: g22, recipients: [h29], senderDocumentID: "s-1",
                                      payload: PayloadRef(sha256: .zero, length: 7, segment: 1, offset: 0), acceptedAt: t0)
        record.signerSubject = "CN=Văn phòng Chính phủ (demo)"
        state.apply(.documentAccepted(record), sequence: 1)
        // The receipt is journaled after the reply, so a lease can come first.
        state.apply(.deliveryLeased(DeliveryLeased(document: doc(1), recipient: h29, at: t0, until: t0, actor: .agency(h29))), sequence: 2)
        let receipt = PayloadRef(sha256: .zero, length: 9, segment: 2, offset: 64)
        state.apply(.receiptIssued(ReceiptIssued(document: doc(1), at: Timestamp(millis: t0.millis + 5), receipt: receipt)), sequence: 3)
        state.apply(.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: h29, at: t0, actor: .agency(h29))), sequence: 4)

        let document = try XCTUnwrap(state.documents[doc(1)])
        XCTAssertEqual(document.receipt, receipt)
        XCTAssertEqual(document.events.map(\.event), ["accepted", "leased", "receipt-issued", "acknowledged"])
        XCTAssertEqual(document.events.map(\.sequence), [1, 2, 3, 4])
        XCTAssertEqual(document.events[0].actor, .agency(g22))
        XCTAssertEqual(document.events[0].detail, "document from 000.00.00.G22 to 000.00.00.H29, 7 bytes, sha256 "
                       + String(repeating: "0", count: 64) + ", signed by CN=Văn phòng Chính phủ (demo)")
        XCTAssertEqual(document.events[2].at, Timestamp(millis: t0.millis + 5))
        XCTAssertEqual(document.events[2].detail, "the axis signed its acceptance receipt")
        XCTAssertEqual(state.anomalies, 0)
    }

    /// Documents and deliveries keep their data in shared boxes: a copy of the state must not see
    /// changes made to the original afterwards (value semantics, as before the boxes).
    func testCopiesOfTheStateDoNotShareLaterChanges() {
        var state = QueueState()
        state.apply(accepted(1, to: [h29]), sequence: 1)
        let copy = state
        state.apply(.deliveryLeased(DeliveryLeased(document: doc(1), recipient: h29, at: t0, until: t0, actor: .agency(h29))), sequence: 2)
        state.apply(.deliveryFailed(DeliveryFailed(document: doc(1), recipient: h29, at: t0, attempt: 1, reason: "503", retryAt: t0)),
                    sequence: 3)
        XCTAssertEqual(copy.documents[doc(1)]?.events.map(\.event), ["accepted"])
        XCTAssertEqual(copy.delivery(doc(1), h29)?.lastError, "")
        XCTAssertEqual(state.documents[doc(1)]?.events.map(\.event), ["accepted", "leased", "push-failed"])
        XCTAssertEqual(state.delivery(doc(1), h29)?.lastError, "503")
        XCTAssertNotEqual(copy, state)

        var delivery = QueueState.Delivery()
        delivery.lastStatus = "03"
        XCTAssertNotEqual(delivery, QueueState.Delivery())
        delivery.lastStatus = ""
        XCTAssertEqual(delivery, QueueState.Delivery(), "clearing every note gives back a plain delivery")
    }

    /// Interning shares equal strings between documents, and must never swap a string for another
    /// with other bytes: "é" precomposed and "e" + combining acute are equal as Swift strings.
    func testInterningKeepsEachDocumentsExactBytes() {
        let precomposed = "CN=Nguy\u{1EC5}n Th\u{1ECB} \u{00C9}n (demo signer)"
        let decomposed = "CN=Nguy\u{1EC5}n Th\u{1ECB} E\u{0301}n (demo signer)"
        XCTAssertEqual(precomposed, decomposed, "Swift compares them canonically")
        var state = QueueState()
        for (n, subject) in [precomposed, decomposed, precomposed].enumerated() {
            var record = DocumentAccepted(id: doc(UInt64(n + 1)), sender: g22, recipients: [h29], senderDocumentID: "s-\(n)",
                                          payload: PayloadRef(sha256: .zero, length: 1, segment: 1, offset: 0), acceptedAt: t0)
            record.signerSubject = subject
            state.apply(.documentAccepted(record), sequence: UInt64(n + 1))
        }
        let subjects = (1...3).map { Array(state.documents[doc(UInt64($0))]?.accepted.signerSubject.utf8 ?? "".utf8) }
        XCTAssertEqual(subjects, [Array(precomposed.utf8), Array(decomposed.utf8), Array(precomposed.utf8)])
        XCTAssertNotEqual(subjects[0], subjects[1])
    }

    /// The journal is the source of truth: folding records as they become durable (live) and
    /// folding them again on reopen (replay) must give the same state.
    func testReplayRebuildsExactlyTheLiveState() throws {
        let dir = try makeTempDirectory(self)
        var options = JournalOptions()
        options.segmentBytesMax = 1 << 16  // many segments
        let live = Locked(QueueState())
        let (journal, _) = try Journal.open(directory: dir, options: options)
        var workload = Workload(seed: 42)
        for _ in 0..<200 {
            let batch = (0..<Int(workload.rng.next() % 20 + 1)).map { _ in workload.next() }
            let done = Promise<Result<[AppendReceipt], AxisError>>()
            journal.append(batch.map { ($0.kind, $0.encoded()) }) { result in
                // Completions run in sequence order on the writer thread: the daemon folds here too.
                if case .success(let receipts) = result {
                    live.update { state in for (r, rec) in zip(receipts, batch) { state.apply(rec, sequence: r.sequence, chain: r.chain) } }
                }
                done.fulfil(result)
            }
            _ = try done.wait().get()
        }
        journal.close()
        var replayed = QueueState()
        let (again, report) = try Journal.open(directory: dir, options: options) { try replayed.apply($0) }
        again.close()
        XCTAssertGreaterThan(report.scan.segments.count, 3)
        let liveState = live.read { $0 }
        XCTAssertEqual(replayed, liveState)
        XCTAssertEqual(liveState.anomalies, 0, "the workload only writes valid transitions")
        XCTAssertGreaterThan(liveState.documents.count, 50)
        XCTAssertGreaterThan(liveState.countsByState().count, 4, "\(liveState.countsByState())")
        // The counts kept while folding equal a recount of every delivery.
        var recount: [String: Int] = [:]
        for delivery in liveState.deliveries.values { recount[delivery.state.name, default: 0] += 1 }
        XCTAssertEqual(liveState.countsByState(), recount)
    }
}

/// Generates a stream of records that are all valid transitions of the current state.
struct Workload {
    var rng: SeededRandom
    var state = QueueState()
    var clock = Timestamp(millis: 1_700_000_000_000)
    var sequence: UInt64 = 0

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func next() -> JournalRecord {
        clock.millis += Int64(rng.next() % 5000)
        let open = state.deliveries.filter { !$0.value.state.isTerminal }.keys.sorted {
            ($0.document, $0.recipient) < ($1.document, $1.recipient)
        }
        let record: JournalRecord
        if open.isEmpty || rng.next() % 4 == 0 {
            let id = DocumentID.generate(at: clock, using: &rng)
            record = .documentAccepted(RecordFactory.accepted(id: id, using: &rng))
        } else {
            let key = open[Int(rng.next() % UInt64(open.count))]
            let (d, r, at) = (key.document, key.recipient, clock)
            let st = state.deliveries[key]?.state ?? .queued
            switch (st, rng.next() % 8) {
            case (.held, _): record = .deliveryControl(DeliveryControl(action: .release, document: d, recipient: r, at: at, actor: .admin(uid: 0, gid: 0), reason: "ok"))
            case (.deferred, 0): record = .deliveryControl(DeliveryControl(action: .retry, document: d, recipient: r, at: at, actor: .admin(uid: 0, gid: 0), reason: ""))
            case (_, 0): record = .deliveryLeased(DeliveryLeased(document: d, recipient: r, at: at, until: Timestamp(millis: at.millis + 30_000), actor: .agency(r)))
            case (_, 1): record = .deliveryAttempted(DeliveryAttempted(document: d, recipient: r, at: at, attempt: (state.deliveries[key]?.attempts ?? 0) + 1, endpoint: "https://r"))
            case (_, 2): record = .deliveryFailed(DeliveryFailed(document: d, recipient: r, at: at, attempt: 1, reason: "timeout", retryAt: Timestamp(millis: at.millis + 60_000)))
            case (_, 3): record = .deliveryAcknowledged(DeliveryAcknowledged(document: d, recipient: r, at: at, actor: .agency(r)))
            case (_, 4): record = .recipientStatus(RecipientStatus(document: d, recipient: r, at: at, code: "03", description: "accepted"))
            case (_, 5): record = .deliveryControl(DeliveryControl(action: .hold, document: d, recipient: r, at: at, actor: .admin(uid: 0, gid: 0), reason: "check"))
            case (_, 6): record = .deliveryReleased(DeliveryReleased(document: d, recipient: r, at: at, actor: .agency(r), reason: "nack"))
            default: record = .deliveryControl(DeliveryControl(action: rng.next() % 2 == 0 ? .expire : .delete, document: d, recipient: r, at: at, actor: .policy("lifetime"), reason: "too old"))
            }
        }
        sequence += 1
        state.apply(record, sequence: sequence)
        return record
    }
}
