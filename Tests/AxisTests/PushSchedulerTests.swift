import XCTest
@testable import Axis

/// The push scheduler and retry policy, driven by an injected clock: hours of retries run in
/// microseconds, and every spacing is checked exactly (jitter is injected too).
final class PushSchedulerTests: XCTestCase {
    let sender = try! AgencyCode("000.00.00.G22")
    let dead = try! AgencyCode("000.00.00.H29")
    let healthy = try! AgencyCode("000.00.00.H41")
    let puller = try! AgencyCode("000.00.00.H53")
    let t0 = Timestamp(millis: 1_800_000_000_000)

    /// Queue state plus a scheduler, with records applied the way PushDelivery journals them.
    struct Simulation {
        var state = QueueState()
        var scheduler: PushScheduler
        var sequence: UInt64 = 0

        init(policy: RetryPolicy) { scheduler = PushScheduler(policy: policy) }

        mutating func record(_ record: JournalRecord) {
            sequence += 1
            state.apply(record, sequence: sequence)
        }

        mutating func plan(at now: Timestamp) -> PushScheduler.Plan { scheduler.plan(state, now: now) }

        /// What PushDelivery does for one attempt that ends at `now` with `delivered` or a failure.
        mutating func finish(_ attempt: PushScheduler.Attempt, startedAt: Timestamp, endedAt now: Timestamp, delivered: Bool,
                             random: Double = 0) {
            let key = attempt.key
            record(.deliveryAttempted(DeliveryAttempted(document: key.document, recipient: key.recipient, at: startedAt,
                                                        attempt: attempt.number, endpoint: attempt.endpoint)))
            if delivered {
                record(.deliveryDelivered(DeliveryDelivered(document: key.document, recipient: key.recipient, at: now,
                                                            endpoint: attempt.endpoint)))
            } else {
                let acceptedAt = state.documents[key.document]?.accepted.acceptedAt ?? now
                let retryAt = scheduler.policy.retryAt(afterAttempt: attempt.number, now: now, acceptedAt: acceptedAt, random: random)
                record(.deliveryFailed(DeliveryFailed(document: key.document, recipient: key.recipient, at: now,
                                                      attempt: attempt.number, reason: "503", retryAt: retryAt)))
            }
            scheduler.finished(key, wasAttempt: true)
        }
    }

    func policy(initial: Int64 = 1_000, max: Int64 = 60_000, jitter: Double = 0, lifetime: Int64 = 3_600_000,
                perRecipient: Int = 4, total: Int = 64) -> RetryPolicy {
        var p = RetryPolicy()
        p.initialBackoffMillis = initial
        p.maxBackoffMillis = max
        p.jitter = jitter
        p.maxLifetimeMillis = lifetime
        p.perRecipientConcurrency = perRecipient
        p.totalConcurrency = total
        return p
    }

    func doc(_ n: UInt64) -> DocumentID { DocumentID(high: n, low: 7) }
    func at(_ offsetMillis: Int64) -> Timestamp { Timestamp(millis: t0.millis + offsetMillis) }

    func register(_ sim: inout Simulation, _ code: AgencyCode, endpoint: String, enabled: Bool = true) {
        sim.record(.agencyChanged(AgencyChanged(agency: AgencyEntry(code: code, name: "\(code)", endpoint: endpoint, enabled: enabled),
                                                at: t0, actor: .system)))
    }

    func accept(_ sim: inout Simulation, _ n: UInt64, to recipients: [AgencyCode], at time: Timestamp? = nil,
                type: DocumentAccepted.MessageType = .document) {
        sim.record(.documentAccepted(DocumentAccepted(
            id: doc(n), sender: sender, recipients: recipients, senderDocumentID: "d-\(n)", messageType: type,
            payload: PayloadRef(sha256: .zero, length: 10, segment: 1, offset: 0), acceptedAt: time ?? t0)))
    }

    // MARK: Retry policy

    func testDelaysDoubleFromTheInitialBackoffUpToTheCap() {
        let p = policy(initial: 30_000, max: 3_600_000)
        XCTAssertEqual((1...9).map { p.delayMillis(afterAttempt: $0, random: 0) },
                       [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000])
        // Thousands of attempts neither overflow nor exceed the cap.
        XCTAssertEqual(p.delayMillis(afterAttempt: 10_000, random: 0), 3_600_000)
        XCTAssertEqual(p.delayMillis(afterAttempt: 0, random: 0), 30_000, "attempt 0 is treated as the first")
    }

    func testJitterTakesAtMostItsShareOffTheDelay() {
        let p = policy(initial: 10_000, max: 100_000, jitter: 0.25)
        XCTAssertEqual(p.delayMillis(afterAttempt: 2, random: 0), 20_000)
        XCTAssertEqual(p.delayMillis(afterAttempt: 2, random: 0.5), 17_500)
        XCTAssertEqual(p.delayMillis(afterAttempt: 2, random: 0.999_999), 15_000)
        // Out-of-range randomness is clamped, never a negative or longer delay.
        XCTAssertEqual(p.delayMillis(afterAttempt: 2, random: 7), 15_000)
        XCTAssertEqual(p.delayMillis(afterAttempt: 2, random: -1), 20_000)
    }

    func testRetryIsNeverScheduledPastTheItemsExpiry() {
        let p = policy(initial: 60_000, max: 600_000, lifetime: 90_000)
        XCTAssertEqual(p.retryAt(afterAttempt: 1, now: at(10_000), acceptedAt: t0, random: 0), at(70_000))
        XCTAssertEqual(p.retryAt(afterAttempt: 2, now: at(70_000), acceptedAt: t0, random: 0), at(90_000), "capped at the expiry")
    }

    // MARK: Scheduling

    func testFailingEndpointIsRetriedWithExponentialSpacingThenDelivered() {
        var sim = Simulation(policy: policy(initial: 1_000, max: 60_000))
        register(&sim, healthy, endpoint: "https://h41.example/in")
        accept(&sim, 1, to: [healthy])
        var now = t0
        var attemptTimes: [Timestamp] = []
        for failuresLeft in [3, 2, 1, 0] {
            let plan = sim.plan(at: now)
            XCTAssertEqual(plan.attempts.count, 1, "one attempt due at \(now)")
            guard let attempt = plan.attempts.first else { return }
            XCTAssertEqual(attempt.number, UInt32(attemptTimes.count + 1))
            XCTAssertEqual(attempt.endpoint, "https://h41.example/in")
            attemptTimes.append(now)
            // Nothing more is due while the attempt runs.
            XCTAssertEqual(sim.plan(at: now).attempts, [])
            sim.finish(attempt, startedAt: now, endedAt: now, delivered: failuresLeft == 0)
            guard failuresLeft > 0 else { break }
            let next = sim.plan(at: now)
            XCTAssertEqual(next.attempts, [], "not due again before the backoff")
            guard let wake = next.wakeAt else { return XCTFail("a deferred item must set a wake-up time") }
            XCTAssertEqual(sim.plan(at: Timestamp(millis: wake.millis - 1)).attempts, [])
            now = wake
        }
        XCTAssertEqual(zip(attemptTimes.dropFirst(), attemptTimes).map { $0.millis - $1.millis }, [1_000, 2_000, 4_000])
        XCTAssertEqual(sim.state.delivery(doc(1), healthy)?.state, .delivered(at: now))
        XCTAssertEqual(sim.state.delivery(doc(1), healthy)?.attempts, 4)
        XCTAssertNil(sim.plan(at: at(3_600_000)).wakeAt, "nothing waits once delivered")
        XCTAssertEqual(sim.state.anomalies, 0)
    }

    func testDeadRecipientHoldsOnlyItsOwnSlotsAndNeverDelaysOthers() {
        var sim = Simulation(policy: policy(perRecipient: 2, total: 64))
        register(&sim, dead, endpoint: "https://dead.example/")
        register(&sim, healthy, endpoint: "https://h41.example/")
        for n: UInt64 in 1...5 { accept(&sim, n, to: [dead]) }
        let first = sim.plan(at: t0)
        XCTAssertEqual(first.attempts.map(\.key.document), [doc(1), doc(2)], "oldest first, two at a time")
        // The dead endpoint never answers: its two attempts stay under way. A document for another
        // recipient arrives and is attempted at once.
        accept(&sim, 6, to: [healthy], at: at(5_000))
        let second = sim.plan(at: at(5_000))
        XCTAssertEqual(second.attempts.map(\.key), [QueueState.DeliveryKey(document: doc(6), recipient: healthy)])
        sim.finish(second.attempts[0], startedAt: at(5_000), endedAt: at(5_010), delivered: true)
        XCTAssertEqual(sim.state.delivery(doc(6), healthy)?.state, .delivered(at: at(5_010)))
        XCTAssertEqual(sim.scheduler.attempting[dead], 2)
        XCTAssertEqual(sim.plan(at: at(6_000)).attempts, [], "the dead recipient's other items wait for its slots")
    }

    func testTotalLimitIsSharedRoundRobinAcrossRecipients() {
        var sim = Simulation(policy: policy(perRecipient: 10, total: 4))
        register(&sim, dead, endpoint: "https://dead.example/")
        register(&sim, healthy, endpoint: "https://h41.example/")
        for n: UInt64 in 1...10 { accept(&sim, n, to: [dead]) }
        for n: UInt64 in 11...20 { accept(&sim, n, to: [healthy]) }
        let plan = sim.plan(at: t0)
        XCTAssertEqual(plan.attempts.filter { $0.key.recipient == dead }.count, 2)
        XCTAssertEqual(plan.attempts.filter { $0.key.recipient == healthy }.count, 2)
        XCTAssertEqual(sim.plan(at: t0).attempts, [], "the total limit is reached")
    }

    func testNeverRecoveringEndpointExpiresAtTheEndOfTheLifetime() {
        var sim = Simulation(policy: policy(initial: 10_000, max: 40_000, lifetime: 100_000))
        register(&sim, dead, endpoint: "https://dead.example/")
        accept(&sim, 1, to: [dead])
        var now = t0
        var attempts = 0
        while true {
            let plan = sim.plan(at: now)
            if !plan.expire.isEmpty {
                XCTAssertEqual(plan.expire, [QueueState.DeliveryKey(document: doc(1), recipient: dead)])
                break
            }
            for attempt in plan.attempts {
                attempts += 1
                sim.finish(attempt, startedAt: now, endedAt: now, delivered: false)
            }
            guard let wake = sim.plan(at: now).wakeAt else { return XCTFail("a failing item must wake the scheduler") }
            now = wake
            guard now <= at(100_000) else { return XCTFail("expiry must happen at the lifetime, not later") }
        }
        // Attempts at 0, 10, 30, 70 s (10+20+40), the next retry capped to the expiry at 100 s.
        XCTAssertEqual(attempts, 4)
        XCTAssertEqual(now, at(100_000))
        XCTAssertEqual(sim.plan(at: now).expire, [], "an expiry under way is not handed out twice")
    }

    func testHeldItemsAreNeitherAttemptedNorExpired() {
        var sim = Simulation(policy: policy(lifetime: 1_000))
        register(&sim, healthy, endpoint: "https://h41.example/")
        accept(&sim, 1, to: [healthy])
        sim.record(.deliveryControl(DeliveryControl(action: .hold, document: doc(1), recipient: healthy, at: t0,
                                                    actor: .admin(uid: 0, gid: 0), reason: "check")))
        let plan = sim.plan(at: at(5_000))
        XCTAssertEqual(plan, PushScheduler.Plan())
    }

    func testInFlightLeftByAnEarlierProcessIsReleasedOnce() {
        var sim = Simulation(policy: policy())
        register(&sim, healthy, endpoint: "https://h41.example/")
        accept(&sim, 1, to: [healthy])
        sim.record(.deliveryAttempted(DeliveryAttempted(document: doc(1), recipient: healthy, at: t0, attempt: 1,
                                                        endpoint: "https://h41.example/")))
        // A new scheduler (a restarted process) finds the item in flight.
        sim.scheduler = PushScheduler(policy: sim.scheduler.policy)
        let key = QueueState.DeliveryKey(document: doc(1), recipient: healthy)
        XCTAssertEqual(sim.plan(at: at(1)).release, [key])
        XCTAssertEqual(sim.plan(at: at(2)).release, [], "released once")
        sim.record(.deliveryReleased(DeliveryReleased(document: doc(1), recipient: healthy, at: at(2), actor: .system, reason: "restart")))
        sim.scheduler.finished(key, wasAttempt: false)
        let again = sim.plan(at: at(3))
        XCTAssertEqual(again.attempts.map(\.number), [2], "the interrupted attempt counts")
    }

    func testPullRecipientsAndDisabledAgenciesAreNotPushed() {
        var sim = Simulation(policy: policy())
        register(&sim, puller, endpoint: "")
        register(&sim, dead, endpoint: "https://dead.example/", enabled: false)
        accept(&sim, 1, to: [puller, dead])
        XCTAssertEqual(sim.plan(at: t0), PushScheduler.Plan())
    }

    func testLeasedItemOfAPushRecipientWaitsForItsLease() {
        var sim = Simulation(policy: policy())
        register(&sim, healthy, endpoint: "https://h41.example/")
        accept(&sim, 1, to: [healthy])
        sim.record(.deliveryLeased(DeliveryLeased(document: doc(1), recipient: healthy, at: t0, until: at(30_000), actor: .agency(healthy))))
        let plan = sim.plan(at: at(1_000))
        XCTAssertEqual(plan.attempts, [])
        XCTAssertEqual(plan.wakeAt, at(30_000))
        XCTAssertEqual(sim.plan(at: at(30_000)).attempts.count, 1)
    }

    func testWakeIsTheEarliestRetryOrExpiry() {
        var sim = Simulation(policy: policy(initial: 50_000, max: 50_000, lifetime: 40_000))
        register(&sim, healthy, endpoint: "https://h41.example/")
        accept(&sim, 1, to: [healthy])
        accept(&sim, 2, to: [healthy], at: at(-30_000))
        let plan = sim.plan(at: t0)
        XCTAssertEqual(plan.attempts.count, 2)
        for attempt in plan.attempts { sim.finish(attempt, startedAt: t0, endedAt: t0, delivered: false) }
        // Document 2 expires 40 s after its acceptance (10 s from now), before any retry.
        XCTAssertEqual(sim.plan(at: t0).wakeAt, at(10_000))
        XCTAssertEqual(sim.plan(at: at(10_000)).expire, [QueueState.DeliveryKey(document: doc(2), recipient: healthy)])
    }

    func testRecipientQueueKeepsAcceptanceOrderAcrossRemovals() {
        var queue = RecipientQueue()
        for n in 1...200 { queue.append(doc(UInt64(n))) }
        for n in stride(from: 1, through: 199, by: 2) { queue.remove(doc(UInt64(n))) }
        XCTAssertEqual(Array(queue), stride(from: 2, through: 200, by: 2).map { doc(UInt64($0)) })
        XCTAssertEqual(queue.count, 100)
        for n in stride(from: 2, through: 150, by: 2) { queue.remove(doc(UInt64(n))) }
        XCTAssertEqual(Array(queue), stride(from: 152, through: 200, by: 2).map { doc(UInt64($0)) })
        var other = RecipientQueue()
        for n in stride(from: 152, through: 200, by: 2) { other.append(doc(UInt64(n))) }
        XCTAssertEqual(queue, other, "equal by members and order, whatever holes remain")
    }

    func testFreedSlotsRotateSoNoRecipientStarves() throws {
        var sim = Simulation(policy: policy(perRecipient: 1, total: 2))
        let third = try AgencyCode("000.00.00.H53")
        for code in [dead, healthy, third] { register(&sim, code, endpoint: "https://\(code).example/") }
        var n: UInt64 = 0
        for code in [dead, healthy, third] {
            for _ in 0..<6 {
                n += 1
                accept(&sim, n, to: [code])
            }
        }
        var running: [PushScheduler.Attempt] = []
        var started: [AgencyCode: Int] = [:]
        for step in 0..<12 {
            let now = at(Int64(step))
            for attempt in sim.plan(at: now).attempts {
                running.append(attempt)
                started[attempt.key.recipient, default: 0] += 1
            }
            XCTAssertLessThanOrEqual(running.count, 2, "the total limit holds")
            // The longest-running attempt ends, delivered; its slot is free for the next pass.
            let done = running.removeFirst()
            sim.finish(done, startedAt: now, endedAt: now, delivered: true)
        }
        for code in [dead, healthy, third] {
            XCTAssertGreaterThanOrEqual(started[code] ?? 0, 3, "\(code) got its share: \(started)")
        }
    }

    func testOverdueItemsExpireEvenWhileEverySlotIsTaken() {
        var sim = Simulation(policy: policy(lifetime: 10_000, perRecipient: 1))
        register(&sim, dead, endpoint: "https://dead.example/")
        accept(&sim, 1, to: [dead], at: t0)
        accept(&sim, 2, to: [dead], at: at(1_000))
        let first = sim.plan(at: at(1_000))
        XCTAssertEqual(first.attempts.map(\.key.document), [doc(1)])
        XCTAssertEqual(first.wakeAt, at(10_000), "document 1's expiry, the earliest")
        // Document 1's attempt never returns; document 2's lifetime runs out meanwhile.
        let later = sim.plan(at: at(11_000))
        XCTAssertEqual(later.expire, [QueueState.DeliveryKey(document: doc(2), recipient: dead)])
        XCTAssertEqual(later.attempts, [])
    }

    func testParkedDeliveryFreesItsSlotButIsNotSentAgain() {
        var sim = Simulation(policy: policy(perRecipient: 1))
        register(&sim, healthy, endpoint: "https://h41.example/")
        accept(&sim, 1, to: [healthy])
        accept(&sim, 2, to: [healthy])
        let attempt = try! XCTUnwrap(sim.plan(at: t0).attempts.first)
        sim.record(.deliveryAttempted(DeliveryAttempted(document: attempt.key.document, recipient: healthy, at: t0, attempt: 1,
                                                        endpoint: attempt.endpoint)))
        // Sent, but the outcome could not be journaled.
        sim.scheduler.parked(attempt.key)
        let next = sim.plan(at: at(1))
        XCTAssertEqual(next.attempts.map(\.key.document), [doc(2)], "the slot is free for the next item")
        XCTAssertEqual(next.release, [], "the parked delivery is not released and resent while the disk fails")
        XCTAssertTrue(sim.scheduler.busy.contains(attempt.key))
    }

    func testDegenerateBackoffSettingsStayBounded() {
        let flat = policy(initial: 5_000, max: 60_000)
        var p = flat
        p.multiplier = 1
        XCTAssertEqual(p.delayMillis(afterAttempt: .max, random: 0), 5_000, "multiplier 1: a flat delay, computed at once")
        p = flat
        p.jitter = 1
        XCTAssertEqual(p.delayMillis(afterAttempt: 1, random: 0.999_999_999), RetryPolicy.delayMillisMin, "never an immediate retry")
    }
}
