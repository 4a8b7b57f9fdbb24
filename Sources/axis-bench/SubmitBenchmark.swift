@preconcurrency import Glibc
import Axis
import Foundation

/// `axis-bench submit`: signed documents submitted over keep-alive TLS connections to a real axisd,
/// each answered only once durable and receipted, like any office system would.
///
/// Target: an `axisd --demo` found through its `demo.json` (`--demo-json`), or, with `--start-demo`,
/// one started for the run on a fresh data directory (removed afterwards) next to this binary.
/// Documents: one random document of `--size` bytes per connection, signed once up front with the
/// sender's development key (RSA-2048 for 000.00.00.G22; `--algorithm` picks the demo agency with
/// another key type), so the generator spends no CPU signing; every request carries a new
/// `Axis-Document-Id`, so each is a new acceptance (verify, store, journal, receipt).
///
/// Load (threads in `SubmitLoad`):
/// - closed loop (default): each connection sends its next request when the previous answer arrives;
/// - open loop (`--rate R`, `--arrivals fixed|poisson`): requests are due at R/s in total, drawn by
///   whichever of the `--connections` is free; latency counts from the due time, so waiting for a
///   connection or a stalled server shows in it (see `SubmitSchedule`);
/// - `--fanout N`: N recipient agencies registered over the admin socket (`SubmitFanout`), every
///   document addressed to all of them;
/// - `--e2e`: recipient connections long-poll the inbox and acknowledge every item; the report adds
///   acknowledged deliveries per second and the submit → ack latency.
///
/// When axisd's data directory is readable (always with `--start-demo`), the bytes its payload store
/// and journal grew by are read from disk before and after and reported per document (`DiskSnapshot`).
///
/// Errors: a bad option is a usage error (exit 64); failed requests are counted by HTTP status and
/// axisd's error code, never retried under the same document id.
enum SubmitBenchmark {
    static let spec = CommandSpec(
        "submit",
        summary: "Signed documents/s accepted durably by axisd over TLS with client certificates: closed loop or at a fixed rate, "
            + "to one or many recipients, optionally pulled and acknowledged end to end.",
        options: [
            .value("demo-json", valueName: "FILE", help: "The demo.json of a running axisd --demo (or give --start-demo)."),
            .flag("start-demo", help: "Start axisd --demo (the axisd next to this binary) for the run on a temporary data directory, removed afterwards."),
            .value("dir", valueName: "DIR", default: "/tmp", help: "Where --start-demo makes its data directory."),
            .value("connections", valueName: "N", default: "32",
                   help: "Keep-alive TLS connections submitting, 1–4096. With --rate, the pool the schedule draws from: "
                       + "a request due while every connection is busy waits for one, and the wait counts in its latency."),
            .value("seconds", valueName: "S", default: "10", help: "Measured window, 0.1–3600."),
            .value("warmup-seconds", valueName: "S", default: "1", help: "Unmeasured warm-up before the window, 0–600."),
            .value("size", valueName: "BYTES", default: "4096",
                   help: "Document size, 1–67108864; one pre-signed document per connection, at most 1 GiB of them in all."),
            .value("algorithm", valueName: "ALG",
                   help: "rsa2048, ecdsa-p256 or ed25519: send as the first demo agency whose signing key is of that type "
                       + "(000.00.00.G22, 000.00.00.G17, 000.00.00.H29 in axisd --demo)."),
            .value("from", valueName: "CODE",
                   help: "Sending agency; its key type sets the algorithm (default: 000.00.00.G22, RSA-2048, or the agency --algorithm picks). "
                       + "Given with --algorithm, the two must agree."),
            .value("to", valueName: "CODE",
                   help: "Recipient agency (default: 000.00.00.H29, or 000.00.00.G22 when H29 sends). With --fanout (then only with --e2e): "
                       + "the agency whose system hosts the fan-out recipients and pulls for them."),
            .value("fanout", valueName: "N",
                   help: "Register N recipient agencies 000.00.99.F001… (1–\(SubmitFanout.recipientsMax)) over axisd's admin socket and address "
                       + "every document to all of them instead of --to. Reports deliveries/s and, from disk, the payload and journal "
                       + "bytes written per document."),
            .value("rate", valueName: "DOCS",
                   help: "Open loop: documents due per second, all connections together, 0.1–1000000. Latency counts from each "
                       + "request's due time; the report gives the achieved rate and how many requests started over 1 ms late."),
            .value("arrivals", valueName: "KIND", default: "fixed",
                   help: "With --rate: fixed (one request every 1/DOCS s) or poisson (random gaps of mean 1/DOCS s)."),
            .flag("e2e", help: "Also pull and acknowledge as the recipient(s); report acknowledged deliveries/s and submit → ack latency."),
            .value("pullers", valueName: "N", default: "4", help: "Recipient connections for --e2e, 1–256."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench submit --start-demo", "axis-bench submit --start-demo --connections 64 --seconds 20 --e2e",
                   "axis-bench submit --start-demo --rate 1000 --seconds 10",
                   "axis-bench submit --start-demo --fanout 100 --seconds 5",
                   "axis-bench submit --start-demo --algorithm ed25519 --seconds 3",
                   "axis-bench submit --demo-json /tmp/axis-demo/demo.json --connections 8"])

    /// A demo agency's signing key type, as `--algorithm` names it.
    enum SigningAlgorithm: String, CaseIterable {
        case rsa2048, ecdsaP256 = "ecdsa-p256", ed25519

        /// As the development PKI (and demo.json's `signingAlgorithm`) names it.
        var demoName: String {
            switch self {
            case .rsa2048: return "RSA-2048"
            case .ecdsaP256: return "EC P-256"
            case .ed25519: return "Ed25519"
            }
        }
    }

    static let defaultSender = "000.00.00.G22"
    static let defaultRecipient = "000.00.00.H29"
    static let alternateRecipient = "000.00.00.G22"
    /// Memory for the pre-signed documents: one per connection.
    static let documentsBytesMax = 1 << 30
    /// Requests a run may schedule (the Poisson schedule counts the ones never sent one by one).
    static let scheduledRequestsMax = 100_000_000

    /// The options, checked against each other before anything starts.
    struct Config {
        var connections: Int
        var seconds: Double
        var warmupSeconds: Double
        var documentBytes: Int
        var algorithm: SigningAlgorithm?
        var from: String?
        var to: String?
        var fanout: Int?
        var rate: Double?
        var arrivals: SubmitSchedule.Arrivals
        var e2e: Bool
        var pullers: Int
        var startDemo: Bool
        var demoJSON: String?
        var dir: String

        /// How long requests scheduled in the window may still start after it, and pullers may still
        /// acknowledge them.
        var drainSeconds: Double { min(30, max(2, seconds)) }

        init(_ command: ParsedCommand) throws {
            connections = try command.requiredInt("connections", in: 1...4096)
            seconds = try command.double("seconds", in: 0.1...3600)
            warmupSeconds = try command.double("warmup-seconds", in: 0...600)
            documentBytes = try command.requiredInt("size", in: 1...(64 << 20))
            guard connections * documentBytes <= documentsBytesMax else {
                throw command.usageError("--connections \(connections) × --size \(documentBytes) is \(grouped(connections * documentBytes)) bytes "
                    + "of pre-signed documents (one per connection); keep it at most \(grouped(documentsBytesMax)) (1 GiB).")
            }
            if let text = command.value("algorithm") {
                guard let a = SigningAlgorithm(rawValue: text) else {
                    throw command.usageError("option '--algorithm' takes \(SigningAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text.prefix(64))'.")
                }
                algorithm = a
            }
            from = command.value("from")
            to = command.value("to")
            for (name, code) in [("from", from), ("to", to)] {
                if let code, (try? AgencyCode(code)) == nil {
                    throw command.usageError("option '--\(name)': '\(code)' is not an agency code (e.g. 000.00.00.G22).")
                }
            }
            if let from, from == to { throw command.usageError("--from and --to are both \(from): send to another agency.") }

            startDemo = command.flag("start-demo")
            demoJSON = command.value("demo-json")
            dir = command.value("dir") ?? "/tmp"
            switch (startDemo, demoJSON) {
            case (true, .some): throw command.usageError("--start-demo and --demo-json exclude each other: start a demo, or name a running one.")
            case (false, .none): throw command.usageError("give --demo-json FILE (of a running axisd --demo) or --start-demo.")
            default: break
            }
            if command.isGiven("dir") && !startDemo { throw command.usageError("--dir is where --start-demo puts its data; give it with --start-demo.") }

            e2e = command.flag("e2e")
            pullers = try command.requiredInt("pullers", in: 1...256)
            if command.isGiven("pullers") && !e2e { throw command.usageError("--pullers is the number of --e2e recipient connections; add --e2e.") }

            if command.isGiven("fanout") {
                fanout = try command.requiredInt("fanout", in: 1...SubmitFanout.recipientsMax)
                if to != nil && !e2e {
                    throw command.usageError("--fanout addresses every document to the fan-out recipients, not --to; "
                        + "give --to only with --e2e, to choose whose system pulls for them.")
                }
            }

            guard let arrivals = SubmitSchedule.Arrivals(rawValue: command.value("arrivals") ?? "fixed") else {
                throw command.usageError("option '--arrivals' takes \(SubmitSchedule.Arrivals.allCases.map(\.rawValue).joined(separator: " or ")), "
                    + "got '\(command.value("arrivals")?.prefix(64) ?? "")'.")
            }
            self.arrivals = arrivals
            if command.isGiven("rate") {
                let r = try command.double("rate", in: 0.1...1_000_000)
                guard r * seconds >= 1 else {
                    throw command.usageError("--rate \(r) over --seconds \(seconds) schedules no request in the window; raise one of them.")
                }
                guard r * (seconds + warmupSeconds) <= Double(scheduledRequestsMax) else {
                    throw command.usageError("--rate \(r) for \(seconds + warmupSeconds) s (window and warm-up) is more than "
                        + "\(grouped(scheduledRequestsMax)) requests; shorten the run.")
                }
                rate = r
            } else if command.isGiven("arrivals") {
                throw command.usageError("--arrivals shapes the open-loop schedule of --rate; add --rate DOCS.")
            }
        }
    }

    struct OpenLoop: Codable {
        var arrivals: String
        var requestedPerSecond: Double
        /// Requests due inside the window (for fixed arrivals, rate × seconds).
        var scheduled: Int
        var offeredPerSecond: Double
        var sent: Int
        /// Scheduled in the window but never sent: still waiting for a connection `drainSeconds` after
        /// the window, or lost with a connection that failed. Not in the latency figures.
        var notSent: Int
        var drainSeconds: Double
        /// Documents accepted of those scheduled in the window, over the time it took to send them
        /// (the window, or longer when requests started late).
        var achievedPerSecond: Double
        var sendSpanSeconds: Double
        /// Under 99% of the offered rate.
        var short: Bool
        /// Started more than 1 ms after their due time (for any reason: a busy pool, a late wake-up).
        var lateStarts: Int
        /// Due before any connection was free for them (by more than 1 ms).
        var waitedForConnection: Int
        var lateMaxMillis: Double
        /// From the actual send to the answer: the server's part of `latency`.
        var serviceTime: LatencySummary
    }

    struct EndToEnd: Codable {
        /// Acknowledgements answered inside the window (per delivery: document × recipient).
        var deliveries: Int
        var deliveriesPerSecond: Double
        var documentsPerSecond: Double
        /// Submit (due or send time) → acknowledgement answered, for deliveries of documents sent in
        /// the window, waited for up to the drain time after it.
        var latency: LatencySummary
        /// Deliveries of window documents not acknowledged by the end of the drain (not in `latency`).
        var unfinished: Int
        var pullers: Int
        /// Deliveries already waiting before the run (earlier runs'), acknowledged before the clock started.
        var acknowledgedBeforeRun: Int
    }

    struct Report: Codable {
        var command: String
        /// closed-loop, fixed-rate or poisson.
        var mode: String
        var sender: String
        var algorithm: String
        var recipients: [String]
        var documentBytes: Int
        var signatureBytes: Int
        var connections: Int
        var seconds: Double
        var warmupSeconds: Double
        var accepted: Int
        var acceptedPerSecond: Double
        /// accepted × recipients, per second.
        var deliveriesPerSecond: Double
        var errors: [String: Int]
        /// Closed loop: send → answer. Open loop: due time → answer.
        var latency: LatencySummary
        var openLoop: OpenLoop?
        /// Acknowledged deliveries in the window and per second (kept for scripts; see `endToEndDetail`).
        var endToEnd: Int?
        var endToEndPerSecond: Double?
        var endToEndDetail: EndToEnd?
        var fanoutRegistration: String?
        var disk: DiskReport?
        /// Why the disk was not measured, or what to keep in mind about the figures.
        var diskNote: String?
        /// Cores busy on the whole machine during the run (warm-up, window and drain), and the shares
        /// of the generator, of axisd (known only with --start-demo) and of everything else.
        var cpuBusyCores: Double
        var generatorCores: Double
        var axisdCores: Double?
        var otherCores: Double?
    }

    static func run(_ command: ParsedCommand, words: [String], progress: (String) -> Void) throws -> Report {
        let config = try Config(command)

        var demo: DemoProcess?
        defer { demo?.stop() }
        let target: Target
        if config.startDemo {
            let started = try DemoProcess.start(in: config.dir)
            demo = started
            progress("axisd --demo started on port \(started.port), data \(started.data)")
            target = try Target.load(started.data + "/demo.json")
        } else {
            target = try Target.load(config.demoJSON ?? "")
        }

        let (from, sender, to, recipientAgency) = try parties(config, target, command)

        var recipients = [to]
        var registration: String?
        if let n = config.fanout {
            guard let socket = target.adminSocket else {
                throw AxisError(.config, "demo.json names no adminSocket: --fanout registers its recipients there")
            }
            recipients = SubmitFanout.codes(n)
            progress("registering \(n) fan-out recipients \(recipients[0]) … \(recipients[n - 1]) over \(socket)"
                     + (config.e2e ? ", hosted by system \(recipientAgency.system)" : ""))
            registration = try SubmitFanout.register(recipients, adminSocket: socket, hostedBy: config.e2e ? recipientAgency.system : nil,
                                                     reason: "axis-bench submit --fanout \(n)")
        }
        let recipientsHeader = recipients.joined(separator: ",")

        // One signed document per connection, made before the clock starts.
        let key = try PrivateKey.load(file: sender.signingKey)
        guard let certificate = try Certificate.load(file: sender.signingCertificate).first else {
            throw AxisError(.usage, "\(sender.signingCertificate) holds no certificate")
        }
        let chain = try Certificate.load(file: target.intermediateFile)
        var rng = SystemRandomNumberGenerator()
        var bodyDigests = Set<Digest256>(), signatureDigests = Set<Digest256>()
        var signatureBytes = 0
        let documents: [(body: [UInt8], signature: String)] = try (0..<config.connections).map { _ in
            let body = (0..<config.documentBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let signature = try DetachedSigner.sign(body, key: key, certificate: certificate, chain: chain)
            bodyDigests.insert(body.withUnsafeBytes { SHA256Hasher.digest($0) })
            signatureDigests.insert(signature.withUnsafeBytes { SHA256Hasher.digest($0) })
            signatureBytes = max(signatureBytes, signature.count)
            return (body, Base64.encode(signature))
        }
        let runID = String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 36)
        try checkHeaderBudget(command, from: from, to: recipientsHeader, recipients: recipients.count,
                              signatureBase64: documents.map(\.signature.utf8.count).max() ?? 0)
        progress("signed \(config.connections) documents of \(config.documentBytes) bytes as \(from) (\(sender.algorithm)); run id \(runID)")

        // --e2e pullers read as --to's system (which hosts the fan-out recipients too, when there are
        // any): first, out of the way, whatever earlier runs left in those inboxes.
        let pullAgency = config.fanout == nil ? to : nil
        var emptied: Int?
        if config.e2e {
            emptied = try SubmitLoad.emptyInboxes(target, as: to, agency: pullAgency, seconds: 60)
            if let emptied, emptied > 0 { progress("acknowledged \(emptied) deliveries left from earlier runs before starting") }
        }

        // The disk before the first request.
        var diskNote: String?
        var diskBefore: DiskSnapshot?
        var dataDirectory: String?
        switch DiskSnapshot.locate(target.dataDirectory) {
        case .failure(let why):
            diskNote = "not measured: \(why.message) (the data directory is read from demo.json; --start-demo always has it)"
        case .success(let data):
            dataDirectory = data
            diskBefore = try DiskSnapshot.take(data: data, bodies: bodyDigests, signatures: signatureDigests, since: nil)
        }

        let start = SystemClock.monotonicNanos()
        let windowStart = start + UInt64(config.warmupSeconds * 1e9)
        let windowEnd = windowStart + UInt64(config.seconds * 1e9)
        let drainDeadline = windowEnd + UInt64(config.drainSeconds * 1e9)
        let schedule = config.rate.map {
            SubmitSchedule(arrivals: config.arrivals, rate: $0, start: start, windowStart: windowStart, windowEnd: windowEnd,
                           drainDeadline: drainDeadline, seed: UInt64.random(in: 0...UInt64.max, using: &rng))
        }
        let plan = SubmitLoad.Plan(target: target, sender: from, recipientsHeader: recipientsHeader, documents: documents, runID: runID,
                                   windowStart: windowStart, windowEnd: windowEnd, drainDeadline: drainDeadline, schedule: schedule)
        let cpuBefore = SystemCPU.sample()
        let generatorBefore = processCPUSeconds(), axisdBefore = demo?.cpuSeconds()

        // Pullers: as --to's system, which hosts the fan-out recipients too when there are any.
        let endToEnd = EndToEndProgress()
        let pulled = Locked<[SubmitLoad.PullerTally]>([])
        let pullersDone = Latch(count: config.e2e ? config.pullers : 0)
        if config.e2e {
            for index in 0..<config.pullers {
                let thread = Thread {
                    let tally = SubmitLoad.puller(plan, as: to, agency: pullAgency, progress: endToEnd)
                    pulled.update { $0.append(tally) }
                    pullersDone.countDown()
                }
                thread.name = "puller-\(index)"
                thread.start()
            }
        }

        progress((schedule.map { "\($0.arrivals == .fixed ? "fixed-rate" : "poisson") \(fixed($0.rate, 1))/s" } ?? "closed loop")
                 + " over \(config.connections) connections to \(recipients.count) recipient\(recipients.count == 1 ? "" : "s"): "
                 + "\(fixed(config.warmupSeconds, 1)) s warm-up, \(fixed(config.seconds, 1)) s measured")
        let results = ThreadGroup.run(count: config.connections, name: "submit") { SubmitLoad.submitter($0, plan) }
        let cpuAfter = SystemCPU.sample()
        let generatorCPU = processCPUSeconds() - generatorBefore
        let axisdCPU = axisdBefore.flatMap { before in demo?.cpuSeconds().map { $0 - before } }
        let cpuSeconds = Double(SystemClock.monotonicNanos() - start) / 1e9
        let busy = SystemCPU.busyCores(from: cpuBefore, to: cpuAfter, seconds: cpuSeconds)

        var e2e: EndToEnd?
        if config.e2e {
            let expected = results.reduce(0) { $0 + $1.acceptedForEndToEnd } * recipients.count
            let completed = endToEnd.waitForCompleted(expected, until: max(SystemClock.monotonicNanos(), windowEnd) + UInt64(config.drainSeconds * 1e9))
            endToEnd.stop()
            pullersDone.wait()
            let tallies = pulled.read { $0 }
            let acknowledged = endToEnd.inWindow
            e2e = EndToEnd(deliveries: acknowledged, deliveriesPerSecond: Double(acknowledged) / config.seconds,
                           documentsPerSecond: Double(acknowledged) / config.seconds / Double(recipients.count),
                           latency: LatencySummary(nanos: tallies.flatMap(\.latencies)), unfinished: max(0, expected - completed),
                           pullers: config.pullers, acknowledgedBeforeRun: emptied ?? 0)
        }

        var errors: [String: Int] = [:]
        for tally in results { for (k, v) in tally.errors { errors[k, default: 0] += v } }
        for tally in pulled.read({ $0 }) { for (k, v) in tally.errors { errors[k, default: 0] += v } }
        let latencies = results.flatMap(\.latencies)
        let answered = results.reduce(0) { $0 + $1.answeredAccepted }

        let openLoop = schedule.map { OpenLoop($0, results, config: config, windowStart: windowStart) }

        var disk: DiskReport?
        if let data = dataDirectory, let before = diskBefore {
            progress("reading the payload store and journal in \(data)")
            let (after, settled) = try settledSnapshot(data: data, bodies: bodyDigests, signatures: signatureDigests,
                                                      since: before.journalLastSequence)
            disk = DiskReport(data: data, before: before, after: after, answered: answered, recipients: recipients.count,
                              documentBytes: config.documentBytes)
            if !settled {
                diskNote = "axisd had not journaled a receipt for every accepted document 10 s after the run: figures may be short"
            }
        }

        let mode = schedule.map { $0.arrivals == .fixed ? "fixed-rate" : "poisson" } ?? "closed-loop"
        let acceptedPerSecond = openLoop?.achievedPerSecond ?? Double(latencies.count) / config.seconds
        return Report(
            command: "axis-bench " + words.joined(separator: " "), mode: mode, sender: from, algorithm: sender.algorithm,
            recipients: recipients, documentBytes: config.documentBytes, signatureBytes: signatureBytes, connections: config.connections,
            seconds: config.seconds, warmupSeconds: config.warmupSeconds, accepted: latencies.count, acceptedPerSecond: acceptedPerSecond,
            deliveriesPerSecond: acceptedPerSecond * Double(recipients.count), errors: errors, latency: LatencySummary(nanos: latencies),
            openLoop: openLoop, endToEnd: e2e?.deliveries, endToEndPerSecond: e2e?.deliveriesPerSecond, endToEndDetail: e2e,
            fanoutRegistration: registration, disk: disk, diskNote: diskNote,
            cpuBusyCores: busy, generatorCores: generatorCPU / cpuSeconds, axisdCores: axisdCPU.map { $0 / cpuSeconds },
            otherCores: axisdCPU.map { max(0, busy - (generatorCPU + $0) / cpuSeconds) })
    }

    /// Who sends, with which key, to whom: `--algorithm` picks the first demo agency with that key
    /// type unless `--from` names one (then the two must agree); the recipient is `--to`, else H29,
    /// else G22 when H29 sends.
    static func parties(_ config: Config, _ target: Target, _ command: ParsedCommand) throws
        -> (from: String, sender: Target.Agency, to: String, recipient: Target.Agency) {
        let from: String
        if let algorithm = config.algorithm {
            guard let picked = target.order.first(where: { target.agencies[$0]?.algorithm == algorithm.demoName }) else {
                throw command.usageError("demo.json has no agency signing with \(algorithm.demoName) for --algorithm \(algorithm.rawValue).")
            }
            if let explicit = config.from {
                guard let agency = target.agencies[explicit] else { throw command.usageError("demo.json has no agency \(explicit) (--from).") }
                guard agency.algorithm == algorithm.demoName else {
                    throw command.usageError("--from \(explicit) signs with \(agency.algorithm), but --algorithm \(algorithm.rawValue) asks for "
                        + "\(algorithm.demoName) (\(picked) signs with it): give one of the two.")
                }
                from = explicit
            } else {
                from = picked
            }
        } else {
            from = config.from ?? defaultSender
        }
        guard let sender = target.agencies[from] else { throw command.usageError("demo.json has no agency \(from) (--from).") }
        let to = config.to ?? (from == defaultRecipient ? alternateRecipient : defaultRecipient)
        if from == to { throw command.usageError("\(from) would send to itself: give --to another agency.") }
        guard let recipient = target.agencies[to] else { throw command.usageError("demo.json has no agency \(to) (--to).") }
        return (from, sender, to, recipient)
    }

    /// A run in which no document was accepted measured nothing: exit 1 (after the report is printed).
    static func verdict(_ report: Report) throws {
        guard report.accepted > 0 else {
            throw AxisError(.config, "no document was accepted in the measured window"
                + (report.errors.isEmpty ? "" : "; errors: " + report.errors.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
                    .joined(separator: ", ")))
        }
    }

    /// Refuses a fan-out whose request headers would not fit axisd's header section (HTTP 431 on
    /// every request otherwise): `Axis-To` grows 15 bytes per recipient, next to a base64 signature.
    static func checkHeaderBudget(_ command: ParsedCommand, from: String, to: String, recipients: Int, signatureBase64: Int) throws {
        let fields = [("Host", "localhost:65535"), ("Content-Length", "67108864"), ("Axis-From", from), ("Axis-To", to),
                      ("Axis-Document-Id", "bench-" + String(repeating: "x", count: 13 + 1 + 4 + 1 + 10 + 1 + 20)),
                      ("Axis-Signature", String(repeating: "x", count: signatureBase64))]
        let bytes = fields.reduce(2) { $0 + $1.0.utf8.count + 2 + $1.1.utf8.count + 2 }
        let limit = HTTPLimits().headerBytesMax
        guard bytes + 256 > limit else { return }
        let perRecipient = max(1, to.utf8.count / max(1, recipients))
        throw command.usageError("the request headers would take about \(grouped(bytes)) bytes (Axis-To for \(recipients) recipients: "
            + "\(grouped(to.utf8.count)), the signature: \(grouped(signatureBase64))), over axisd's \(grouped(limit))-byte header section; "
            + "at most about \((limit - 256 - (bytes - to.utf8.count)) / perRecipient) recipients fit with this signature.")
    }

    /// The disk after the run, once the journal holds a receipt for every acceptance (axisd journals
    /// it just after answering), waiting at most 10 s. Returns the snapshot and whether it settled.
    static func settledSnapshot(data: String, bodies: Set<Digest256>, signatures: Set<Digest256>,
                                since: UInt64) throws -> (DiskSnapshot, Bool) {
        let deadline = SystemClock.monotonicNanos() + 10_000_000_000
        while true {
            let snapshot = try DiskSnapshot.take(data: data, bodies: bodies, signatures: signatures, since: since)
            let accepted = snapshot.journalRecordsSince["document-accepted"]?.count ?? 0
            let receipts = snapshot.journalRecordsSince["receipt-issued"]?.count ?? 0
            if receipts >= accepted { return (snapshot, true) }
            if SystemClock.monotonicNanos() >= deadline { return (snapshot, false) }
            sleep(untilMonotonicNanos: SystemClock.monotonicNanos() + 20_000_000)
        }
    }

    // MARK: - Output

    static func latencyText(_ s: LatencySummary) -> String {
        guard s.samples > 0 else { return "no samples" }
        return "p50 \(fixed(s.p50Millis, 2))  p90 \(fixed(s.p90Millis, 2))  p99 \(fixed(s.p99Millis, 2))  p99.9 \(fixed(s.p999Millis, 2))  "
            + "max \(fixed(s.maxMillis, 2))  (\(grouped(s.samples)) samples)"
    }

    static func render(_ r: Report) -> String {
        let to = r.recipients.count == 1 ? r.recipients[0] : "\(r.recipients.count) recipients"
        let load: String
        if let o = r.openLoop {
            load = "\(o.arrivals == "fixed" ? "fixed rate" : "Poisson arrivals at") \(grouped(Int(o.requestedPerSecond.rounded())))/s "
                + "over a pool of \(r.connections) TLS connections"
        } else {
            load = "\(r.connections) TLS connections, closed loop"
        }
        var lines = [
            "axis-bench submit: \(load), \(r.documentBytes)-byte documents signed with \(r.algorithm) by \(r.sender) to \(to), "
                + "\(fixed(r.seconds, 1)) s (after \(fixed(r.warmupSeconds, 1)) s warm-up)",
        ]
        func row(_ label: String, _ text: String) { lines.append("  " + label.padding(toLength: 19, withPad: " ", startingAt: 0) + text) }
        if let o = r.openLoop {
            row("scheduled", "\(grouped(o.scheduled)) requests due in the window (\(fixed(o.offeredPerSecond, 1))/s offered); "
                + "sent \(grouped(o.sent)), not sent \(grouped(o.notSent))"
                + (o.notSent > 0 ? " (no connection free for them \(fixed(o.drainSeconds, 1)) s after the window, or a connection failed; "
                   + "not in the latency figures)" : ""))
            let verdict = o.short
                ? "SHORT of the offered rate by \(fixed(100 * (1 - o.achievedPerSecond / max(o.offeredPerSecond, 1e-9)), 1))%"
                : "kept up (≥ 99% of the offered rate)"
            row("accepted durably", "\(grouped(r.accepted)) documents = \(grouped(Int(o.achievedPerSecond.rounded()))) /s achieved "
                + "over \(fixed(o.sendSpanSeconds, 2)) s: \(verdict)")
            row("latency ms", latencyText(r.latency) + ", from each request's due time")
            row("service time ms", latencyText(o.serviceTime) + ", from the actual send")
            row("late starts", "\(grouped(o.lateStarts)) started > 1 ms after their due time (\(grouped(o.waitedForConnection)) of them found "
                + "no free connection), latest \(fixed(o.lateMaxMillis, 2)) ms")
        } else {
            row("accepted durably", "\(grouped(r.accepted)) documents = \(grouped(Int(r.acceptedPerSecond.rounded()))) /s")
            row("latency ms", latencyText(r.latency))
        }
        if r.recipients.count > 1 {
            row("fan-out", "\(r.recipients.count) recipients per document (\(r.recipients.first ?? "") … \(r.recipients.last ?? "")): "
                + "\(grouped(Int((r.deliveriesPerSecond).rounded()))) deliveries/s queued"
                + (r.fanoutRegistration.map { "; directory: \($0)" } ?? ""))
        }
        if let e = r.endToEndDetail {
            row("end to end", "\(grouped(e.deliveries)) deliveries pulled and acknowledged = \(grouped(Int(e.deliveriesPerSecond.rounded()))) /s"
                + (r.recipients.count > 1 ? " (= \(fixed(e.documentsPerSecond, 1)) documents/s × \(r.recipients.count) recipients)" : "")
                + ", \(e.pullers) pullers"
                + (e.acknowledgedBeforeRun > 0 ? " (after acknowledging \(grouped(e.acknowledgedBeforeRun)) deliveries of earlier runs)" : ""))
            row("end-to-end ms", latencyText(e.latency) + ", submit → ack answered"
                + (e.unfinished > 0 ? "; \(grouped(e.unfinished)) deliveries not acknowledged by the end (not in these figures)" : ""))
        }
        row("errors", r.errors.isEmpty ? "none" : r.errors.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        if let d = r.disk, d.documents == 0 {
            row("on disk", "no document-accepted record in \(d.dataDirectory)'s journal during the run: nothing to divide")
        } else if let d = r.disk {
            let count = d.documents == d.documentsAnsweredAccepted
                ? "\(grouped(d.documents)) documents"
                : "\(grouped(d.documents)) documents in the journal, \(grouped(d.documentsAnsweredAccepted)) answered 201 to this run"
            row("on disk", "per document accepted (\(count), warm-up and drain included), read from \(d.dataDirectory):")
            func part(_ perDocument: Double, _ bytes: Double, _ what: String) -> String {
                "\(fixed(perDocument, 2)) × \(what) = \(grouped(Int(bytes.rounded())))"
            }
            let body = d.payloadBytesPerDocumentByClass["body"] ?? 0, bodies = d.payloadsPerDocument["body"] ?? 0
            let signatures = d.payloadsPerDocument["signature"] ?? 0, other = d.payloadsPerDocument["other"] ?? 0
            row("  payload store", "\(grouped(Int(d.payloadBytesPerDocument.rounded()))) bytes: "
                + part(bodies, body, "document body (\(grouped(d.documentBytes)) + 56-byte header)") + ", "
                + part(signatures, d.payloadBytesPerDocumentByClass["signature"] ?? 0, "signature") + ", "
                + part(other, d.payloadBytesPerDocumentByClass["other"] ?? 0, "other (axis receipts)"))
            row("", d.bodyStoredOnce
                ? "each document's body stored once for its \(d.recipientsPerDocument) recipient\(d.recipientsPerDocument == 1 ? "" : "s")"
                : "document bodies stored \(fixed(bodies, 2)) times per document for \(d.recipientsPerDocument) recipient(s): NOT once")
            let kinds = d.journalRecordsPerDocument.sorted { $0.key < $1.key }.map { kind, n in
                "\(fixed(n, 2)) × \(kind) = \(grouped(Int((d.journalBytesPerDocumentByKind[kind] ?? 0).rounded())))"
            }
            row("  journal", "\(grouped(Int(d.journalBytesPerDocument.rounded()))) bytes: " + kinds.joined(separator: ", "))
        }
        if let note = r.diskNote { row(r.disk == nil ? "on disk" : "", note) }
        row("CPU busy (cores)", "\(fixed(r.cpuBusyCores, 2)) of \(ProcessInfo.processInfo.activeProcessorCount) on the machine: generator \(fixed(r.generatorCores, 2))"
            + (r.axisdCores.map { ", axisd \(fixed($0, 2))" } ?? ", axisd not known (not started by this run)")
            + (r.otherCores.map { ", other processes \(fixed($0, 2))" } ?? ""))
        row("command", r.command)
        return lines.joined(separator: "\n")
    }
}

extension SubmitBenchmark.OpenLoop {
    /// The open-loop figures from the schedule and what the connections saw.
    init(_ schedule: SubmitSchedule, _ results: [SubmitLoad.SubmitterTally], config: SubmitBenchmark.Config, windowStart: UInt64) {
        let scheduled = schedule.scheduledInWindow()
        let sent = results.reduce(0) { $0 + $1.sentInWindow }
        let accepted = results.reduce(0) { $0 + $1.latencies.count }
        // Sending the window's requests took the window, or longer when they started late.
        let lastStart = results.map(\.lastStart).max() ?? windowStart
        let span = max(config.seconds, Double(lastStart > windowStart ? lastStart - windowStart : 0) / 1e9)
        let achieved = Double(accepted) / span
        let offered = Double(scheduled) / config.seconds
        self.init(
            arrivals: schedule.arrivals.rawValue, requestedPerSecond: schedule.rate, scheduled: scheduled, offeredPerSecond: offered,
            sent: sent, notSent: max(0, scheduled - sent), drainSeconds: config.drainSeconds, achievedPerSecond: achieved,
            sendSpanSeconds: span, short: achieved < 0.99 * offered,
            lateStarts: results.reduce(0) { $0 + $1.lateStarts },
            waitedForConnection: results.reduce(0) { $0 + $1.waitedForConnection },
            lateMaxMillis: Double(results.map(\.lateMaxNanos).max() ?? 0) / 1e6,
            serviceTime: LatencySummary(nanos: results.flatMap(\.serviceTimes)))
    }
}
