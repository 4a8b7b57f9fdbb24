import Dispatch
import Foundation

/// Push delivery: carries out `PushScheduler`'s plans against recipients' HTTPS endpoints.
///
/// Every step is a journal fact before or after it happens: `deliveryAttempted` is durable before
/// the first byte is sent, and the outcome (`deliveryDelivered`, or `deliveryFailed` with the time
/// of the next try) is durable before the item can be planned again. So after any crash the state
/// says exactly what was under way, and the scheduler releases it and tries again (a recipient may
/// then see a document twice; `Axis-Id` lets it recognise the repeat — delivery is at least once).
///
/// Threads: plans are made on one serial queue (the scheduler's state lives there); each attempt
/// runs on its own thread with blocking I/O bounded by `attemptTimeoutMillis`, and the scheduler's
/// per-recipient and total limits bound how many such threads exist. A pass runs when a durable
/// batch may have made something due (coalesced: at most one pass waits), when an attempt ends,
/// and at the plan's `wakeAt`.
public final class PushDelivery: @unchecked Sendable {
    public struct Options: Sendable {
        public var policy = RetryPolicy()
        /// The limit for connecting with the TLS handshake, and again for sending the document and
        /// reading the reply (the name lookup before them is the system resolver's).
        public var attemptTimeoutMillis = 30_000
        /// The most of an endpoint's reply body read; a longer one fails the attempt (a recipient's
        /// reply is a short acknowledgement; only its first 200 characters are kept).
        public var responseBodyBytesMax = 1 << 20
        /// Documents are streamed from the payload store in pieces of this size.
        public var chunkBytes = 256 << 10
        /// A pass runs at least this often even when nothing seems due (a safety net, e.g. after the
        /// wall clock was set back).
        public var idlePassMillis = 60_000
        public init() {}
    }

    /// What happened, for logs and metrics (the journal has the facts; this is their echo).
    public enum Report: Sendable {
        case attempted(QueueState.DeliveryKey, attempt: UInt32, endpoint: String)
        case delivered(QueueState.DeliveryKey, attempt: UInt32, status: Int, attemptNanos: UInt64, sinceAcceptanceMillis: Int64)
        /// `outcome`: `http-status`, `timeout`, `connection`, `tls`, `endpoint`, `payload` (the stored
        /// bytes could not be read intact; nothing complete was sent) or `other`.
        case failed(QueueState.DeliveryKey, attempt: UInt32, outcome: String, reason: String, retryAt: Timestamp, attemptNanos: UInt64)
        /// `senderTold`: an `expired` event went to the sender (documents only).
        case expired(QueueState.DeliveryKey, lastError: String, senderTold: Bool)
        case released(QueueState.DeliveryKey, reason: String)
        case notRecorded(QueueState.DeliveryKey, AxisError)
    }

    public let core: AxisCore
    public let options: Options
    private let tls: TLSContext
    private let report: @Sendable (Report) -> Void
    private let queue = DispatchQueue(label: "axis.push")

    // Guarded by `queue`.
    private var scheduler: PushScheduler
    private var timer: DispatchSourceTimer?
    private var passPending = false
    private var running = false
    /// After a record could not be written, no pass before this (monotonic ns): a failing disk must
    /// not turn planning into a busy loop of refused appends.
    private var pausedUntilNanos: UInt64 = 0
    static let pauseAfterRefusalNanos: UInt64 = 1_000_000_000

    // Attempts under way, for shutdown; guarded by `attemptsLock`. An attempt that is recording its
    // outcome is `committing` (stop waits for it rather than releasing it); one that stop released
    // records nothing more (the release stands, and the restart sends it again).
    private let attemptsLock = ConditionLock()
    private var attemptsUnderWay: [QueueState.DeliveryKey: UInt32] = [:]
    private var committing = Set<QueueState.DeliveryKey>()
    private var releasedByStop = Set<QueueState.DeliveryKey>()

    /// `tls` is a client context: the axis's certificate and the CAs endpoints' certificates chain to.
    public init(core: AxisCore, tls: TLSContext, options: Options = Options(), report: @escaping @Sendable (Report) -> Void = { _ in }) {
        precondition(tls.role == .client, "push delivery needs a client TLS context")
        self.core = core
        self.tls = tls
        self.options = options
        self.report = report
        self.scheduler = PushScheduler(policy: options.policy)
    }

    /// Starts planning: at once (so what a previous run left is picked up), and whenever new facts
    /// may have made something due.
    public func start() {
        queue.sync {
            running = true
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [weak self] in self?.pass() }
            timer.schedule(deadline: .now() + .milliseconds(options.idlePassMillis))
            timer.resume()
            self.timer = timer
        }
        core.observe { [weak self] records in
            guard let self else { return }
            if self.mayMakeSomethingDue(records) { self.kick() }
        }
        kick()
    }

    /// Stops planning, waits up to `graceMillis` for attempts under way, then records a release for
    /// each one still running (it is tried again after the restart). Returns how many were released.
    @discardableResult
    public func stop(graceMillis: Int64) -> Int {
        queue.sync {
            running = false
            timer?.cancel()
            timer = nil
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(graceMillis, 0)) * 1_000_000
        let remaining = attemptsLock.withLock { () -> [QueueState.DeliveryKey] in
            while !attemptsUnderWay.isEmpty {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline else { break }
                attemptsLock.wait(seconds: Double(deadline - now) / 1e9)
            }
            // Outcomes being journaled finish (a journal append, not a network wait); the rest stop here.
            while !committing.isEmpty { attemptsLock.wait(seconds: 1) }
            let cut = Array(attemptsUnderWay.keys)
            releasedByStop.formUnion(cut)
            return cut
        }
        guard !remaining.isEmpty else { return 0 }
        let now = core.clock.now()
        let reason = "axisd stopped while the push attempt was under way; it is tried again after the restart"
        let records = remaining.map { key in
            JournalRecord.deliveryReleased(DeliveryReleased(document: key.document, recipient: key.recipient, at: now,
                                                            actor: .system, reason: reason))
        }
        do {
            _ = try core.recordAndWait(records)
            for key in remaining { report(.released(key, reason: reason)) }
        } catch let error as AxisError {
            // Not lost: the journal says in-flight, and the next start releases them.
            for key in remaining { report(.notRecorded(key, error)) }
        } catch {}
        return remaining.count
    }

    /// Run once at start, before push delivery or the API: every delivery the journal says is in
    /// flight was cut off with the process that ran it (`kill -9`, a crash, a release that could not
    /// be recorded). Each is released — a journal fact — whether or not push is configured now, so
    /// none is stranded (an in-flight item is neither pushed nor listed). Returns how many.
    public static func releaseInterrupted(core: AxisCore) throws -> Int {
        let stranded = core.withState { state in
            state.deliveries.compactMap { key, delivery -> QueueState.DeliveryKey? in
                if case .inFlight = delivery.state { return key }
                return nil
            }
        }
        guard !stranded.isEmpty else { return 0 }
        let now = core.clock.now()
        let reason = "the push attempt was cut off when axisd stopped; trying again"
        let records = stranded.sorted { ($0.document.hex, $0.recipient.rawValue) < ($1.document.hex, $1.recipient.rawValue) }.map { key in
            JournalRecord.deliveryReleased(DeliveryReleased(document: key.document, recipient: key.recipient, at: now,
                                                            actor: .system, reason: reason))
        }
        if let failure = core.recordInBatches(records).failure { throw failure }
        return records.count
    }

    /// Attempts under way now (status and tests).
    public var attemptsInFlight: Int { attemptsLock.withLock { attemptsUnderWay.count } }

    // MARK: Planning

    private func mayMakeSomethingDue(_ records: [JournalRecord]) -> Bool {
        var accepted: [AgencyCode] = []
        for record in records {
            switch record {
            case .documentAccepted(let r): accepted += r.recipients
            case .deliveryReleased, .deliveryControl, .agencyChanged: return true
            default: break
            }
        }
        guard !accepted.isEmpty else { return false }
        return core.withState { state in accepted.contains { state.agencies[$0].map { !$0.endpoint.isEmpty } ?? false } }
    }

    /// Asks for a pass soon; many asks before it runs make one pass.
    private func kick() {
        queue.async { [self] in
            guard running, !passPending else { return }
            passPending = true
            queue.async { self.pass() }
        }
    }

    private func pass() {
        passPending = false
        guard running else { return }
        // A failed journal refuses every append until axisd restarts: nothing to do but wait.
        guard core.journal.health == .ok else { return }
        let monotonic = core.clock.monotonicNanos()
        if monotonic < pausedUntilNanos {
            timer?.schedule(deadline: .now() + .nanoseconds(Int(pausedUntilNanos - monotonic)))
            return
        }
        let now = core.clock.now()
        let plan = core.withState { state in scheduler.plan(state, now: now) }
        if !plan.release.isEmpty { release(plan.release, at: now) }
        for key in plan.expire { expire(key, at: now) }
        for attempt in plan.attempts { launch(attempt) }
        let idle = Int64(options.idlePassMillis)
        let wait = plan.wakeAt.map { min(max($0.millis - now.millis, 1), idle) } ?? idle
        timer?.schedule(deadline: .now() + .milliseconds(Int(wait)))
    }

    /// Runs on any thread: the scheduler may plan `key` again; then looks for more work — at once,
    /// or after a pause when a record was refused (`refused`).
    private func finished(_ key: QueueState.DeliveryKey, wasAttempt: Bool, refused: Bool = false) {
        queue.async { [self] in
            scheduler.finished(key, wasAttempt: wasAttempt)
            if refused { pausedUntilNanos = core.clock.monotonicNanos() + Self.pauseAfterRefusalNanos }
            if running, !passPending {
                passPending = true
                queue.async { self.pass() }
            }
        }
    }

    /// An attempt whose outcome could not be journaled: see `PushScheduler.parked`.
    private func parked(_ key: QueueState.DeliveryKey) {
        queue.async { [self] in
            scheduler.parked(key)
            pausedUntilNanos = core.clock.monotonicNanos() + Self.pauseAfterRefusalNanos
        }
    }

    // MARK: Releases and expiries

    private func release(_ keys: [QueueState.DeliveryKey], at now: Timestamp) {
        let reason = "the previous push attempt was interrupted (axisd stopped during it); trying again"
        let records = keys.map { key in
            JournalRecord.deliveryReleased(DeliveryReleased(document: key.document, recipient: key.recipient, at: now,
                                                            actor: .system, reason: reason))
        }
        core.record(records) { [self] result in
            for key in keys {
                switch result {
                case .success:
                    report(.released(key, reason: reason))
                    finished(key, wasAttempt: false)
                case .failure(let error):
                    report(.notRecorded(key, error))
                    finished(key, wasAttempt: false, refused: true)
                }
            }
        }
    }

    private func expire(_ key: QueueState.DeliveryKey, at now: Timestamp) {
        let found = core.withState { state in (state.documents[key.document]?.accepted, state.delivery(key.document, key.recipient)) }
        guard let original = found.0 else { return finished(key, wasAttempt: false) }
        let lastError = found.1?.lastError ?? ""
        let lifetime = Self.duration(millis: options.policy.maxLifetimeMillis)
        let reason = "not delivered within \(lifetime) of acceptance" + (lastError.isEmpty ? "" : "; last error: \(lastError)")
        let control = JournalRecord.deliveryControl(DeliveryControl(action: .expire, document: key.document, recipient: key.recipient,
                                                                    at: now, actor: .policy("max-lifetime"), reason: reason))
        let journal: @Sendable ([JournalRecord]) -> Void = { [self] records in
            let senderTold = records.count > 1
            core.record(records) { [self] result in
                switch result {
                case .success:
                    report(.expired(key, lastError: lastError, senderTold: senderTold))
                    finished(key, wasAttempt: false)
                case .failure(let error):
                    report(.notRecorded(key, error))
                    finished(key, wasAttempt: false, refused: true)
                }
            }
        }
        guard DeliveryEvent.isReported(original) else { return journal([control]) }
        let body = DeliveryEvent.body(.expired, about: original, recipient: key.recipient, at: now, detail: reason)
        core.payloads.store(body) { stored in
            switch stored {
            case .failure:
                // The expiry is the fact that matters: without room for the event, it is recorded alone.
                journal([control])
            case .success(let payload):
                var rng = SystemRandomNumberGenerator()
                let event = DeliveryEvent.record(.expired, id: DocumentID.generate(at: now, using: &rng), about: original,
                                                 recipient: key.recipient, at: now, detail: reason, payload: payload)
                journal([control, .documentAccepted(event)])
            }
        }
    }

    static func duration(millis: Int64) -> String {
        if millis % 3_600_000 == 0 { return "\(millis / 3_600_000) h" }
        if millis % 1000 == 0 { return "\(millis / 1000) s" }
        return "\(millis) ms"
    }

    // MARK: Attempts

    private func launch(_ attempt: PushScheduler.Attempt) {
        attemptsLock.withLock { attemptsUnderWay[attempt.key] = attempt.number }
        Thread.detachNewThread { [self] in
            let ending = run(attempt)
            attemptsLock.withLock {
                attemptsUnderWay[attempt.key] = nil
                committing.remove(attempt.key)
                attemptsLock.broadcast()
            }
            switch ending {
            case .done: finished(attempt.key, wasAttempt: true)
            case .notStarted: finished(attempt.key, wasAttempt: true, refused: true)
            case .outcomeNotRecorded: parked(attempt.key)
            }
        }
    }

    enum Ending {
        /// The outcome is journaled, or there was nothing to do.
        case done
        /// The attempt's own record was refused: nothing was sent.
        case notStarted
        /// Sent, but the outcome could not be journaled: the delivery stays in flight (and busy) until
        /// the restart releases it, rather than being sent again and again while the disk fails.
        case outcomeNotRecorded
    }

    /// One attempt, on its own thread: journal it, send, journal the outcome.
    private func run(_ attempt: PushScheduler.Attempt) -> Ending {
        let key = attempt.key
        let started = core.clock.now()
        do {
            _ = try core.recordAndWait([.deliveryAttempted(DeliveryAttempted(document: key.document, recipient: key.recipient,
                                                                              at: started, attempt: attempt.number,
                                                                              endpoint: attempt.endpoint))])
        } catch {
            report(.notRecorded(key, error as? AxisError ?? AxisError(.storageIO, "\(error)")))
            return .notStarted
        }
        // Between the plan and this record, a recipient's acknowledgement or an administrator's hold
        // may have come first: then the record changed nothing, and nothing is sent.
        let (document, now0) = core.withState { ($0.documents[key.document]?.accepted, $0.delivery(key.document, key.recipient)?.state) }
        guard let document, now0 == .inFlight(since: started) else { return .done }
        report(.attempted(key, attempt: attempt.number, endpoint: attempt.endpoint))
        let clockStart = core.clock.monotonicNanos()
        let outcome = send(document, attempt: attempt)
        let elapsed = core.clock.monotonicNanos() &- clockStart
        let now = core.clock.now()
        // An administrator may have deleted or expired it meanwhile: then the outcome changes nothing.
        let current = core.withState { $0.delivery(key.document, key.recipient)?.state }
        guard let current, !current.isTerminal else { return .done }
        // Shutdown may have released it already (then the release stands); else its outcome is
        // journaled before shutdown records anything more.
        let proceed = attemptsLock.withLock { () -> Bool in
            guard !releasedByStop.contains(key) else { return false }
            committing.insert(key)
            return true
        }
        guard proceed else { return .done }
        do {
            switch outcome {
            case .success(let status):
                var records: [JournalRecord] = [.deliveryDelivered(DeliveryDelivered(document: key.document, recipient: key.recipient,
                                                                                     at: now, endpoint: attempt.endpoint))]
                if DeliveryEvent.isReported(document) {
                    let detail = "the endpoint answered \(status) to attempt \(attempt.number)"
                    let body = DeliveryEvent.body(.delivered, about: document, recipient: key.recipient, at: now, detail: detail)
                    // The delivery is the fact that matters: without room for the event, it is recorded alone.
                    if let payload = try? core.payloads.storeAndWait(body) {
                        var rng = SystemRandomNumberGenerator()
                        records.append(.documentAccepted(DeliveryEvent.record(
                            .delivered, id: DocumentID.generate(at: now, using: &rng), about: document, recipient: key.recipient,
                            at: now, detail: detail, payload: payload)))
                    }
                }
                _ = try core.recordAndWait(records)
                report(.delivered(key, attempt: attempt.number, status: status, attemptNanos: elapsed,
                                  sinceAcceptanceMillis: now.millis - document.acceptedAt.millis))
            case .failure(let failure):
                let retryAt = options.policy.retryAt(afterAttempt: attempt.number, now: now, acceptedAt: document.acceptedAt,
                                                     random: Double.random(in: 0..<1))
                _ = try core.recordAndWait([.deliveryFailed(DeliveryFailed(document: key.document, recipient: key.recipient, at: now,
                                                                           attempt: attempt.number, reason: failure.reason,
                                                                           retryAt: retryAt))])
                report(.failed(key, attempt: attempt.number, outcome: failure.outcome, reason: failure.reason, retryAt: retryAt,
                               attemptNanos: elapsed))
            }
        } catch {
            // The journal says in-flight; the next start releases it.
            report(.notRecorded(key, error as? AxisError ?? AxisError(.storageIO, "\(error)")))
            return .outcomeNotRecorded
        }
        return .done
    }

    struct Failure: Error {
        var outcome: String
        var reason: String
    }

    /// POSTs the document (streamed from the payload store) with the same headers as `content`.
    private func send(_ d: DocumentAccepted, attempt: PushScheduler.Attempt) -> Result<Int, Failure> {
        let endpoint: PushEndpoint
        do {
            endpoint = try PushEndpoint.parse(attempt.endpoint)
        } catch {
            return .failure(Failure(outcome: "endpoint", reason: "\(error)"))
        }
        do {
            let address = try endpoint.resolveIPv4()
            let signature = try d.signature.map { try core.payloads.read($0) }
            let client = try HTTPClient(host: address, port: endpoint.port, tls: tls, serverName: endpoint.host,
                                        timeoutMillis: options.attemptTimeoutMillis)
            defer { client.close() }
            client.responseBodyLimit = options.responseBodyBytesMax
            let headers = DocumentHeaders.fields(d, signature: signature) + [("Axis-Attempt", String(attempt.number))]
            let response = try client.send(head: .post(endpoint.target, headers: headers, body: []), bodyLength: Int(d.payload.length)) { write in
                // One piece is held back until the store has checked the whole payload's digest: a
                // damaged payload fails the read first, and the endpoint never gets a complete body.
                var held: [UInt8] = []
                try core.payloads.read(d.payload, chunkBytes: options.chunkBytes) { piece in
                    if !held.isEmpty { try held.withUnsafeBytes { try write($0) } }
                    held.removeAll(keepingCapacity: true)
                    held.append(contentsOf: piece)
                }
                if !held.isEmpty { try held.withUnsafeBytes { try write($0) } }
            }
            guard (200...299).contains(response.status) else {
                let excerpt = String(response.bodyText.unicodeScalars.prefix(200).map { $0.value < 0x20 ? " " : Character($0) })
                return .failure(Failure(outcome: "http-status", reason: "\(endpoint) answered \(response.status) \(response.reason)"
                    + (excerpt.isEmpty ? "" : ": \(excerpt)")))
            }
            return .success(response.status)
        } catch let error as AxisError {
            let outcome: String
            switch error.code {
            case .timedOut: outcome = "timeout"
            case .connectionFailed, .connectionClosed: outcome = "connection"
            case .invalidResponse, .limitExceeded: outcome = "http-status"
            case .payloadCorrupt, .payloadMissing, .storageIO: outcome = "payload"
            default: outcome = error.code.rawValue.hasPrefix("tls") ? "tls" : "other"
            }
            return .failure(Failure(outcome: outcome, reason: "\(endpoint): \(error)"))
        } catch {
            return .failure(Failure(outcome: "other", reason: "\(endpoint): \(error)"))
        }
    }
}
