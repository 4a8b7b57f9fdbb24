import XCTest
@testable import Axis

/// The inbox in-process with a hand-moved clock: leases, their expiry, long polls woken by arrivals,
/// and polls whose client went away.
final class InboxTests: XCTestCase {
    let sender = try! AgencyCode("000.00.00.G22")
    let recipient = try! AgencyCode("000.00.00.H29")

    func makeCore() throws -> (AxisCore, ManualClock) {
        let clock = ManualClock()
        let core = try AxisCore(layout: AxisCore.Layout(data: try makeTempDirectory(self, "inbox")), clock: clock)
        addTeardownBlock { core.close() }
        return (core, clock)
    }

    @discardableResult
    func accept(_ core: AxisCore, _ n: Int) throws -> DocumentID {
        let payload = try core.payloads.storeAndWait(Array("document \(n)".utf8))
        let id = DocumentID(high: UInt64(n), low: 7)
        _ = try core.recordAndWait([.documentAccepted(DocumentAccepted(
            id: id, sender: sender, recipients: [recipient], senderDocumentID: "d-\(n)", payload: payload,
            acceptedAt: core.clock.now()))])
        return id
    }

    func take(_ inbox: Inbox, wait: Int64 = 0, isAbandoned: @escaping @Sendable () -> Bool = { false }) -> Promise<[DocumentID]> {
        let promise = Promise<[DocumentID]>()
        inbox.take(agencies: [recipient], limit: 10, waitMillis: wait, isAbandoned: isAbandoned) { result in
            promise.fulfil((try? result.get())?.map(\.document.accepted.id) ?? [])
        }
        return promise
    }

    func testListedItemsAreLeasedUntilTheLeaseEnds() throws {
        let (core, clock) = try makeCore()
        let inbox = Inbox(core: core, leaseMillis: 30_000)
        defer { inbox.close() }
        let first = try accept(core, 1), second = try accept(core, 2)
        XCTAssertEqual(take(inbox).wait(), [first, second], "oldest first")
        XCTAssertEqual(take(inbox).wait(), [], "leased items are not listed again")
        XCTAssertEqual(core.withState { $0.delivery(first, recipient)?.state }, .leased(until: Timestamp(millis: clock.now().millis + 30_000)))
        clock.advance(millis: 30_000)
        XCTAssertEqual(take(inbox).wait(), [first, second], "an expired lease returns the item")
    }

    func testAWaitingPollIsAnsweredByTheNextArrival() throws {
        let (core, _) = try makeCore()
        let inbox = Inbox(core: core, leaseMillis: 30_000)
        defer { inbox.close() }
        let polled = take(inbox, wait: 60_000)
        let id = try accept(core, 1)
        XCTAssertEqual(polled.wait(), [id])
    }

    func testAPollWhoseClientWentAwayLeasesNothing() throws {
        let (core, _) = try makeCore()
        let inbox = Inbox(core: core, leaseMillis: 30_000)
        defer { inbox.close() }
        let gone = Locked(false)
        let abandoned = take(inbox, wait: 60_000, isAbandoned: { gone.read { $0 } })
        gone.update { $0 = true }
        let id = try accept(core, 1)
        XCTAssertEqual(take(inbox).wait(), [id], "the item went to the live poll, not to the one nobody reads")
        inbox.close()
        XCTAssertEqual(abandoned.wait(), [], "close answers what is left")
    }

    func testConcurrentPollsNeverLeaseTheSameItemTwice() throws {
        let (core, _) = try makeCore()
        let inbox = Inbox(core: core, leaseMillis: 30_000)
        defer { inbox.close() }
        let ids = try (1...40).map { try accept(core, $0) }
        let polls = (0..<8).map { _ in take(inbox) }
        let leased = polls.flatMap { $0.wait() }
        XCTAssertEqual(leased.count, Set(leased).count, "no item in two polls")
        XCTAssertEqual(Set(leased), Set(ids))
    }
}
