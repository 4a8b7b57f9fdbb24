// What push delivery reports becomes log lines and metrics. The journal holds the facts; these are
// for operators watching stderr or Prometheus. No document bytes or secrets: ids, codes, endpoints
// and the endpoint's own short error text only.
import Axis

func pushReporter(log: Logger, metrics: DaemonMetrics) -> @Sendable (PushDelivery.Report) -> Void {
    let delivered = metrics.attempts.labels(["delivered"])
    let push = metrics.deliverySeconds.labels(["push"])
    return { report in
        switch report {
        case .attempted(let key, let attempt, let endpoint):
            log.debug("delivery.attempt", ["document": key.document.hex, "recipient": key.recipient.rawValue,
                                           "attempt": String(attempt), "endpoint": endpoint])
        case .delivered(let key, let attempt, let status, let nanos, let sinceAcceptance):
            delivered.increment()
            metrics.attemptSeconds.observe(Double(nanos) / 1e9)
            push.observe(Double(max(0, sinceAcceptance)) / 1000)
            log.info("delivery.delivered", ["document": key.document.hex, "recipient": key.recipient.rawValue,
                                            "attempt": String(attempt), "status": String(status),
                                            "attempt_ms": String(nanos / 1_000_000)])
        case .failed(let key, let attempt, let outcome, let reason, let retryAt, let nanos):
            metrics.attempts.labels([outcome]).increment()
            metrics.attemptSeconds.observe(Double(nanos) / 1e9)
            log.warning("delivery.failed", ["document": key.document.hex, "recipient": key.recipient.rawValue,
                                            "attempt": String(attempt), "outcome": outcome, "reason": reason,
                                            "retry_at": retryAt.description])
        case .expired(let key, let lastError, let senderTold):
            metrics.expired.increment()
            log.warning("delivery.expired", ["document": key.document.hex, "recipient": key.recipient.rawValue,
                                             "last_error": lastError, "sender_told": String(senderTold)])
        case .released(let key, let reason):
            log.info("delivery.released", ["document": key.document.hex, "recipient": key.recipient.rawValue, "reason": reason])
        case .notRecorded(let key, let error):
            log.error("delivery.not_recorded", ["document": key.document.hex, "recipient": key.recipient.rawValue,
                                                "error": error.description,
                                                "action": "the record was refused (journal or payload store); see journal.failed, "
                                                    + "free space, then restart axisd"])
        }
    }
}
