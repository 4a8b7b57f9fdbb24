// axisd's Prometheus metrics (served on the ops listener at /metrics; docs/CONFIGURATION.md lists
// them). Counters are fed by the ingress observer, push delivery reports and the journal's batch
// observer; gauges are read at scrape time from the queue state and the listeners.
import Axis

final class DaemonMetrics: Sendable {
    let registry = MetricsRegistry()
    let accepted: Counter
    let duplicates: Counter
    let rejected: CounterFamily
    let acceptSeconds: Histogram
    let attempts: CounterFamily
    let attemptSeconds: Histogram
    let deliverySeconds: HistogramFamily
    let expired: Counter
    let acknowledged: Counter
    let journalBatchRecords: Histogram
    let journalSyncSeconds: Histogram
    let journalBytes: Counter

    /// Seconds, from a millisecond to a day: accept and attempt times at the low end, end-to-end
    /// delivery (which includes retries and recipients' pull intervals) at the high end.
    static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
                                           900, 3600, 21600, 86400]

    init() throws {
        accepted = try registry.counter("axis_documents_accepted_total", help: "Documents accepted (durable, receipt issued).")
        duplicates = try registry.counter("axis_documents_duplicate_total",
                                          help: "Resubmissions answered with the original receipt (same sender, id and bytes).")
        rejected = try registry.counterFamily("axis_documents_rejected_total",
                                              help: "Submissions refused, by the error code of the reply.", labels: ["reason"])
        acceptSeconds = try registry.histogram("axis_accept_seconds",
                                               help: "From a submission's request head to its receipt.", buckets: Self.latencyBuckets)
        attempts = try registry.counterFamily("axis_delivery_attempts_total",
                                              help: "Push attempts by outcome: delivered, http-status, timeout, connection, tls, endpoint, other.",
                                              labels: ["outcome"])
        attemptSeconds = try registry.histogram("axis_delivery_attempt_seconds", help: "Duration of one push attempt.",
                                                buckets: Self.latencyBuckets)
        deliverySeconds = try registry.histogramFamily("axis_delivery_seconds",
                                                       help: "From acceptance to delivery: push (endpoint answered 2xx) or pull (acknowledged).",
                                                       labels: ["mode"], buckets: Self.latencyBuckets)
        expired = try registry.counter("axis_deliveries_expired_total", help: "Deliveries expired at the end of their lifetime.")
        acknowledged = try registry.counter("axis_deliveries_acknowledged_total", help: "Deliveries acknowledged by recipients.")
        journalBatchRecords = try registry.histogram("axis_journal_batch_records", help: "Records per group-commit batch.",
                                                     buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096])
        journalSyncSeconds = try registry.histogram("axis_journal_sync_seconds", help: "fdatasync time per journal batch.",
                                                    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])
        journalBytes = try registry.counter("axis_journal_bytes_total", help: "Bytes appended to the journal.")
    }

    /// Gauges read at scrape time, and the observers that feed the counters from the core.
    func attach(core: AxisCore, health: OpsService) throws {
        try registry.gauge("axis_queue_deliveries", help: "Deliveries by state.", labels: ["state"]) {
            core.withState { state in state.countsByState().sorted { $0.key < $1.key }.map { ([$0.key], Double($0.value)) } }
        }
        try registry.gauge("axis_documents", help: "Documents known to the queue state (all states).") {
            Double(core.withState { $0.documents.count })
        }
        try registry.gauge("axis_journal_next_sequence", help: "The sequence number the next journal record gets.") {
            Double(core.journal.statistics.nextSequence)
        }
        try registry.gauge("axis_ready", help: "1 when axisd is ready (journal replayed and healthy), else 0.") {
            health.currentHealth == .ready ? 1 : 0
        }
        core.journal.observeBatches { [self] records, bytes, syncNanos in
            journalBatchRecords.observe(Double(records))
            journalSyncSeconds.observe(Double(syncNanos) / 1e9)
            journalBytes.increment(by: UInt64(bytes))
        }
        let pull = deliverySeconds.labels(["pull"])
        core.observe { [self] records in
            for record in records {
                guard case .deliveryAcknowledged(let ack) = record else { continue }
                acknowledged.increment()
                if let acceptedAt = core.withState({ $0.documents[ack.document]?.accepted.acceptedAt }) {
                    pull.observe(Double(max(0, ack.at.millis - acceptedAt.millis)) / 1000)
                }
            }
        }
    }

    func attach(listener: NativeListener) throws {
        try registry.gauge("axis_http_open_connections", help: "Open connections to the native API.") {
            Double(listener.server.connectionCount)
        }
        try registry.gauge("axis_inbox_waiting_polls", help: "Long polls waiting for something to arrive.") {
            Double(listener.inbox.waitingCount)
        }
    }

    func attach(push: PushDelivery) throws {
        try registry.gauge("axis_delivery_attempts_in_flight", help: "Push attempts under way.") { Double(push.attemptsInFlight) }
    }

    var submitObserver: NativeAPI.SubmitObserver {
        var observer = NativeAPI.SubmitObserver()
        observer.accepted = { [accepted, acceptSeconds] nanos in
            accepted.increment()
            acceptSeconds.observe(Double(nanos) / 1e9)
        }
        observer.duplicate = { [duplicates] in duplicates.increment() }
        observer.rejected = { [rejected] reason in rejected.labels([reason]).increment() }
        return observer
    }
}
