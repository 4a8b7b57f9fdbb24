@preconcurrency import Glibc
import Axis
import Foundation

/// The threads of `axis-bench submit`: one submitter per keep-alive TLS connection, and with `--e2e`
/// the pullers that lease and acknowledge what arrives.
///
/// Closed loop (no `--rate`): each connection sends its next document when the previous answer
/// arrives; latency is answer − send. Open loop (`--rate`): a `SubmitSchedule` hands out send times;
/// a connection takes the next one when it is free, waits for it, sends, and latency is answer −
/// *scheduled* time, so a stall on the server (or too few connections) shows as latency of every
/// request that should have been sent during it, not as fewer samples (coordinated omission).
///
/// Every request carries a new `Axis-Document-Id`: `bench-<run>-<connection>-<n>-<t>`, `t` being its
/// reference time (scheduled or actual send, monotonic ns), from which a puller computes the
/// end-to-end latency of each delivery without any table shared with the submitters.
enum SubmitLoad {
    struct Plan: Sendable {
        var target: SubmitBenchmark.Target
        var sender: String
        /// `Axis-To`: the recipients, comma-separated.
        var recipientsHeader: String
        var documents: [(body: [UInt8], signature: String)]
        var runID: String
        var windowStart: UInt64
        var windowEnd: UInt64
        /// With a schedule: no request starts after this; the rest count as not sent.
        var drainDeadline: UInt64
        var schedule: SubmitSchedule?
    }

    /// What one submitting connection saw.
    struct SubmitterTally: Sendable {
        /// Measured latencies (closed loop: answer − send; open loop: answer − scheduled time).
        var latencies: [UInt64] = []
        /// Open loop only: answer − actual send.
        var serviceTimes: [UInt64] = []
        var errors: [String: Int] = [:]
        /// Every 201, warm-up and drain included (the disk figures divide by the journal's count).
        var answeredAccepted = 0
        /// 201s whose reference time is in the window: the deliveries `--e2e` waits for.
        var acceptedForEndToEnd = 0
        /// Open loop: requests scheduled in the window that were sent, and how late.
        var sentInWindow = 0
        var lateStarts = 0
        var waitedForConnection = 0
        var lateMaxNanos: UInt64 = 0
        var lastStart: UInt64 = 0
    }

    static let lateNanos: UInt64 = 1_000_000

    static func submitter(_ index: Int, _ plan: Plan) -> SubmitterTally {
        var tally = SubmitterTally()
        var client: HTTPClient?
        func connected() -> HTTPClient? {
            if let client, client.isOpen { return client }
            do {
                client = try plan.target.client(plan.sender)
            } catch {
                tally.errors["connect: \(error)", default: 0] += 1
                client = nil
            }
            return client
        }
        // Connected (TLS handshake done) before the first request is due.
        guard connected() != nil else { return tally }
        let document = plan.documents[index]
        var n = 0
        while true {
            let begin: UInt64, reference: UInt64, measured: Bool
            // When this connection became free for the request: after its due time means it waited for a connection.
            var takenAt: UInt64 = 0
            if let schedule = plan.schedule {
                guard let ticket = schedule.take() else { break }
                takenAt = SystemClock.monotonicNanos()
                if ticket.intended > takenAt { sleep(untilMonotonicNanos: ticket.intended) }
                begin = SystemClock.monotonicNanos()
                reference = ticket.intended
                measured = ticket.intended >= plan.windowStart
            } else {
                begin = SystemClock.monotonicNanos()
                if begin >= plan.windowEnd { break }
                reference = begin
                measured = begin >= plan.windowStart
            }
            // A dropped connection is replaced; if that fails too, this connection's run ends.
            guard let client = connected() else { break }
            if plan.schedule != nil && measured {
                tally.sentInWindow += 1
                tally.lastStart = max(tally.lastStart, begin)
                let late = begin > reference ? begin - reference : 0
                tally.lateMaxNanos = max(tally.lateMaxNanos, late)
                if late > lateNanos { tally.lateStarts += 1 }
                if takenAt > reference + lateNanos { tally.waitedForConnection += 1 }
            }
            n += 1
            let request = HTTPClientRequest.post("/v1/documents", headers: [
                ("Axis-From", plan.sender), ("Axis-To", plan.recipientsHeader),
                ("Axis-Document-Id", "bench-\(plan.runID)-\(index)-\(n)-\(reference)"),
                ("Axis-Signature", document.signature),
            ], body: document.body)
            do {
                let reply = try client.send(request)
                let end = SystemClock.monotonicNanos()
                guard reply.status == 201 else {
                    tally.errors[describe(reply), default: 0] += 1
                    continue
                }
                tally.answeredAccepted += 1
                if measured { tally.acceptedForEndToEnd += 1 }
                if plan.schedule != nil {
                    if measured {
                        tally.latencies.append(end - reference)
                        tally.serviceTimes.append(end - begin)
                    }
                } else if measured && end <= plan.windowEnd {
                    tally.latencies.append(end - begin)
                }
            } catch {
                tally.errors["\(error)", default: 0] += 1
            }
        }
        return tally
    }

    /// `HTTP 422 unknown_recipient`: the status and axisd's error code, which names the cause.
    static func describe(_ reply: HTTPClientResponse) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
        let code = (object?["error"] as? [String: Any])?["code"] as? String
        return "HTTP \(reply.status)" + (code.map { " " + $0 } ?? "")
    }

    // MARK: - Pulling (--e2e)

    struct PullerTally: Sendable {
        /// Submit reference time → acknowledgement answered, for deliveries of documents sent in the window.
        var latencies: [UInt64] = []
        var errors: [String: Int] = [:]
    }

    /// Long-polls the inbox of every agency the recipient's system hosts (or only `agency`), and
    /// acknowledges each item, pipelining the acks of one poll. Counts only this run's documents.
    static func puller(_ plan: Plan, as code: String, agency: String?, progress: EndToEndProgress) -> PullerTally {
        var tally = PullerTally()
        var client: HTTPClient?
        let list = "/v1/inbox?limit=200&wait=1" + (agency.map { "&agency=\($0)" } ?? "")
        let prefix = "bench-\(plan.runID)-"
        while !progress.isStopped {
            do {
                if client?.isOpen != true { client = try plan.target.client(code) }
                guard let c = client else { break }
                let listed = try c.send(.get(list))
                guard listed.status == 200,
                      let object = try? JSONSerialization.jsonObject(with: Data(listed.body)) as? [String: Any],
                      let items = object["items"] as? [[String: Any]] else {
                    tally.errors["pull: " + describe(listed), default: 0] += 1
                    break
                }
                let acks = items.compactMap { item -> HTTPClientRequest? in
                    guard let id = item["id"] as? String, let recipient = item["recipient"] as? String else { return nil }
                    return .post("/v1/inbox/\(id)/ack?recipient=\(recipient)", body: [])
                }
                guard !acks.isEmpty, acks.count == items.count else {
                    if acks.count != items.count { tally.errors["pull: inbox item without id or recipient", default: 0] += 1 }
                    continue
                }
                let replies = try c.pipeline(acks)
                let now = SystemClock.monotonicNanos()
                var inWindow = 0, completed = 0
                for (item, reply) in zip(items, replies) {
                    guard reply.status == 200 else {
                        tally.errors["ack: " + describe(reply), default: 0] += 1
                        continue
                    }
                    // A delivery listed again after its lease ran out is answered "already acknowledged": not counted twice.
                    if reply.bodyText.contains("already acknowledged") { continue }
                    guard let id = item["senderDocumentId"] as? String, id.hasPrefix(prefix),
                          let last = id.split(separator: "-").last, let sent = UInt64(last) else { continue }
                    if now >= plan.windowStart && now <= plan.windowEnd { inWindow += 1 }
                    if sent >= plan.windowStart && sent < plan.windowEnd {
                        completed += 1
                        tally.latencies.append(now - sent)
                    }
                }
                progress.add(acknowledgedInWindow: inWindow, completed: completed)
            } catch {
                tally.errors["pull: \(error)", default: 0] += 1
                // One reconnect per failure; a server that is gone ends the puller.
                client = try? plan.target.client(code)
                if client == nil { break }
            }
        }
        return tally
    }
}

extension SubmitLoad {
    /// Before the clock starts: acknowledges everything already waiting in the inboxes the pullers
    /// will read (earlier runs' documents would otherwise be pulled first and hide this run's).
    /// Returns how many deliveries it acknowledged; gives up after `seconds`.
    static func emptyInboxes(_ target: SubmitBenchmark.Target, as code: String, agency: String?, seconds: Double) throws -> Int {
        let client = try target.client(code)
        defer { client.close() }
        let deadline = SystemClock.monotonicNanos() + UInt64(seconds * 1e9)
        let list = "/v1/inbox?limit=200&wait=0" + (agency.map { "&agency=\($0)" } ?? "")
        var acknowledged = 0
        while SystemClock.monotonicNanos() < deadline {
            let listed = try client.send(.get(list))
            guard listed.status == 200,
                  let object = try? JSONSerialization.jsonObject(with: Data(listed.body)) as? [String: Any],
                  let items = object["items"] as? [[String: Any]] else {
                throw AxisError(.config, "cannot list the inbox of \(agency ?? "the agencies \(code)'s system hosts") "
                    + "to empty it before the run: \(describe(listed))")
            }
            let acks = items.compactMap { item -> HTTPClientRequest? in
                guard let id = item["id"] as? String, let recipient = item["recipient"] as? String else { return nil }
                return .post("/v1/inbox/\(id)/ack?recipient=\(recipient)", body: [])
            }
            if acks.isEmpty { return acknowledged }
            acknowledged += try client.pipeline(acks).filter { $0.status == 200 }.count
        }
        throw AxisError(.config, "the inboxes still held documents after \(Int(seconds)) s of acknowledging \(acknowledged) earlier ones; "
            + "start from a fresh demo (--start-demo) for --e2e")
    }
}

/// Shared by the pullers and the main thread: what has been acknowledged, and when to stop.
final class EndToEndProgress: @unchecked Sendable {
    private let lock = ConditionLock()
    private var acknowledgedInWindow = 0  // guarded by `lock`
    private var completed = 0  // guarded by `lock`
    private var stopped = false  // guarded by `lock`

    var isStopped: Bool { lock.withLock { stopped } }
    /// Acknowledgements answered inside the window (the throughput figure).
    var inWindow: Int { lock.withLock { acknowledgedInWindow } }

    func add(acknowledgedInWindow a: Int, completed c: Int) {
        lock.withLock {
            acknowledgedInWindow += a
            completed += c
            lock.broadcast()
        }
    }

    /// Waits until `expected` deliveries of window documents are acknowledged or the monotonic clock
    /// passes `deadline`; returns how many were.
    func waitForCompleted(_ expected: Int, until deadline: UInt64) -> Int {
        lock.withLock {
            while completed < expected {
                let now = SystemClock.monotonicNanos()
                if now >= deadline { break }
                lock.wait(seconds: Double(deadline - now) / 1e9)
            }
            return completed
        }
    }

    func stop() { lock.withLock { stopped = true } }
}

/// The open-loop send times of `--rate`: request k is due at `start + k/R` (fixed) or after
/// exponentially distributed gaps of mean 1/R (Poisson). Connections take tickets in order, so the
/// earliest free connection always sends the earliest due request.
final class SubmitSchedule: @unchecked Sendable {
    enum Arrivals: String, CaseIterable, Sendable { case fixed, poisson }

    struct Ticket { var intended: UInt64 }

    let arrivals: Arrivals
    let rate: Double
    private let start: UInt64
    private let windowStart: UInt64
    private let windowEnd: UInt64
    private let drainDeadline: UInt64
    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var index = 0
    private var poissonOffsetNanos: Double = 0
    private var rng: SplitMix64
    private var abandoned = false
    private var takenInWindow = 0

    init(arrivals: Arrivals, rate: Double, start: UInt64, windowStart: UInt64, windowEnd: UInt64, drainDeadline: UInt64, seed: UInt64) {
        precondition(rate > 0 && windowEnd > windowStart && windowStart >= start, "a schedule needs a positive rate and a window")
        (self.arrivals, self.rate, self.start, self.windowStart, self.windowEnd, self.drainDeadline) =
            (arrivals, rate, start, windowStart, windowEnd, drainDeadline)
        rng = SplitMix64(seed: seed)
    }

    /// The next request's send time, or nil when the window's requests are all handed out (or the
    /// drain deadline passed: the remaining ones count as not sent).
    func take() -> Ticket? {
        lock.withLock {
            guard !abandoned else { return nil }
            let intended = due()
            guard intended < windowEnd else { return nil }
            guard SystemClock.monotonicNanos() <= drainDeadline else {
                abandoned = true
                return nil
            }
            if intended >= windowStart { takenInWindow += 1 }
            advance()
            return Ticket(intended: intended)
        }
    }

    /// Requests due inside the window, handed out or not. Call once the connections have stopped.
    func scheduledInWindow() -> Int {
        lock.withLock {
            switch arrivals {
            case .fixed:
                // Request k is due before X exactly when k < (X − start)·R.
                func dueBefore(_ x: UInt64) -> Int { Int((Double(x - start) * rate / 1e9).rounded(.up)) }
                return dueBefore(windowEnd) - dueBefore(windowStart)
            case .poisson:
                // Those not handed out are generated now, from where the schedule stopped.
                var count = takenInWindow
                while true {
                    let intended = due()
                    if intended >= windowEnd { break }
                    if intended >= windowStart { count += 1 }
                    advance()
                }
                return count
            }
        }
    }

    private func due() -> UInt64 {
        switch arrivals {
        case .fixed: return start + UInt64((Double(index) * 1e9 / rate).rounded(.down))
        case .poisson: return start + UInt64(poissonOffsetNanos)
        }
    }

    private func advance() {
        index += 1
        if arrivals == .poisson {
            // Inverse transform of a uniform in (0, 1]: an exponential gap of mean 1/R seconds.
            let u = (Double(rng.next() >> 11) + 1) / Double(1 << 53)
            poissonOffsetNanos += -log(u) / rate * 1e9
        }
    }
}
