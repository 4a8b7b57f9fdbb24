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
        /// Connect, TLS handshake, sending the document and reading the reply, together.
        public var attemptTimeoutMillis = 30_000
        /// The most of an endpoint's reply body read; a longer one fails the attempt.
        public var responseBodyBytesMax = 64 << 10
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
        /// `outcome`: `http-status`, `timeout`, `connection`, `tls`, `endpoint` or `other`.
        case failed(QueueState.DeliveryKey, attempt: UInt32, outcome: String, reason: String, retryAt: Timestamp, attemptNanos: UInt64)
        case expired(QueueState.DeliveryKey, lastError: String)
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

    // Attempts under way, for shutdown; guarded by `attemptsLock`.
    private let attemptsLock = ConditionLock()
    private var attemptsUnderWay: [QueueState.DeliveryKey: UInt32] = [:]
    private var stopping = false

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
            stopping = true
            while !attemptsUnderWay.isEmpty {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline else { break }
                attemptsLock.wait(seconds: Double(deadline - now) / 1e9)
            }
            return Array(attemptsUnderWay.keys)
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
            core.record(records) { [self] result in
                switch result {
                case .success:
                    report(.expired(key, lastError: lastError))
                    finished(key, wasAttempt: false)
                case .failure(let error):
                    report(.notRecorded(key, error))
                    finished(key, wasAttempt: false, refused: true)
                }
            }
        }
        guard DeliveryEvent.isReported(original) else { return journal([control]) }
        let body = DeliveryEvent.body(.expired, about: original, recipient: key.recipient, at: now, detail: reason)
        core.payloads.store(body) { [self] stored in
            switch stored {
            case .failure(let error):
                report(.notRecorded(key, error))
                finished(key, wasAttempt: false, refused: true)
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
            let recorded = run(attempt)
            attemptsLock.withLock {
                attemptsUnderWay[attempt.key] = nil
                attemptsLock.broadcast()
            }
            finished(attempt.key, wasAttempt: true, refused: !recorded)
        }
    }

    /// One attempt, on its own thread: journal it, send, journal the outcome. False when a record
    /// was refused (the journal or payload store failed).
    private func run(_ attempt: PushScheduler.Attempt) -> Bool {
        let key = attempt.key
        let started = core.clock.now()
        do {
            _ = try core.recordAndWait([.deliveryAttempted(DeliveryAttempted(document: key.document, recipient: key.recipient,
                                                                              at: started, attempt: attempt.number,
                                                                              endpoint: attempt.endpoint))])
        } catch {
            report(.notRecorded(key, error as? AxisError ?? AxisError(.storageIO, "\(error)")))
            return false
        }
        report(.attempted(key, attempt: attempt.number, endpoint: attempt.endpoint))
        guard let document = core.withState({ $0.documents[key.document]?.accepted }) else { return true }
        let clockStart = core.clock.monotonicNanos()
        let outcome = send(document, attempt: attempt)
        let elapsed = core.clock.monotonicNanos() &- clockStart
        let now = core.clock.now()
        // An administrator may have deleted or expired it meanwhile: then the outcome changes nothing.
        let current = core.withState { $0.delivery(key.document, key.recipient)?.state }
        guard let current, !current.isTerminal else { return true }
        do {
            switch outcome {
            case .success(let status):
                var records: [JournalRecord] = [.deliveryDelivered(DeliveryDelivered(document: key.document, recipient: key.recipient,
                                                                                     at: now, endpoint: attempt.endpoint))]
                if DeliveryEvent.isReported(document) {
                    let detail = "the endpoint answered \(status) to attempt \(attempt.number)"
                    let body = DeliveryEvent.body(.delivered, about: document, recipient: key.recipient, at: now, detail: detail)
                    var rng = SystemRandomNumberGenerator()
                    let event = DeliveryEvent.record(.delivered, id: DocumentID.generate(at: now, using: &rng), about: document,
                                                     recipient: key.recipient, at: now, detail: detail,
                                                     payload: try core.payloads.storeAndWait(body))
                    records.append(.documentAccepted(event))
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
            // The journal says in-flight; the next start (or pass after a restart) releases it.
            report(.notRecorded(key, error as? AxisError ?? AxisError(.storageIO, "\(error)")))
            return false
        }
        return true
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
                try core.payloads.read(d.payload, chunkBytes: options.chunkBytes) { try write($0) }
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
            default: outcome = error.code.rawValue.hasPrefix("tls") ? "tls" : "other"
            }
            return .failure(Failure(outcome: outcome, reason: "\(endpoint): \(error)"))
        } catch {
            return .failure(Failure(outcome: "other", reason: "\(endpoint): \(error)"))
        }
    }
}
