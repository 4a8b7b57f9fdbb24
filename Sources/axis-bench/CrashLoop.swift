@preconcurrency import Glibc
import Axis
import Foundation

/// `axis-bench crash-loop`: kill -9 a loaded axisd N times and prove that nothing it acknowledged
/// was lost and nothing it never accepted was delivered.
///
///     start axisd --demo (fresh data dir) ─▶ ┌─ check the documents receipted so far (traces)
///                                            │  sign the next documents (before the clock runs)
///                                            │  open the gate: submitters + pullers run
///                                            │  sleep a random 50 ms–2 s, close the gate, SIGKILL
///                                            └─ restart on the same data dir, wait for axisd.ready ─┐
///                                               ◀──────────────────────────── N times ──────────────┘
///     final: resubmit cut-off documents, drain every inbox, then check every trace, stop axisd
///            cleanly and fold its journal offline.
///
/// Checks (each failure is a violation; the run exits 1 if there is any):
/// - after every restart: each document receipted since the last check, plus every earlier one
///   (`--recheck` of them at random once there are more), is on its trace with the facts sent, and every
///   recipient whose ack was answered 200 shows `acknowledged`; axisd replays at least as many
///   documents as were receipted (plus its own demo documents);
/// - every inbox item is a document of this run that was sent (receipted, or cut off by a kill),
///   addressed to that agency, under one axis id only, with the exact bytes sent;
/// - at the end: every receipted document is acknowledged by every recipient, was listed to each
///   at least once, no inbox holds anything more, axisd stops cleanly, its journal has no damage,
///   and the journal's documents are exactly the receipted ones (plus demo documents).
/// Duplicates (a document listed again to a recipient because an ack or a lease reply was lost in
/// a kill) are counted, not failures: delivery is at least once.
///
/// Randomness: `--seed` fixes the documents (who, to whom, size, bytes) and the kill delays; thread
/// timing still varies, so a seed replays the same load and schedule, not the same interleaving.
enum CrashLoop {
    static let spec = CommandSpec(
        "crash-loop",
        summary: "kill -9 a loaded axisd --demo N times, restarting it on the same data; check that every receipted document survives and is delivered.",
        options: [
            .value("kills", valueName: "N", help: "How many times to kill axisd under load (required)."),
            .value("seed", valueName: "S", help: "Seed for documents and kill moments (default: random; printed)."),
            .value("dir", valueName: "DIR", default: "/tmp", help: "Where the run's work directory (data, axisd.log) is made."),
            .value("submitters", valueName: "N", default: "6", help: "Submitting threads (each keeps one TLS connection per sender)."),
            .value("rate", valueName: "DOCS", default: "150", help: "Submissions per second, all submitters together."),
            .value("large-percent", valueName: "P", default: "2", help: "Share of 1.05–1.3 MiB documents (streamed to disk by axisd)."),
            .value("kill-min-ms", valueName: "MS", default: "50", help: "Shortest time under load before a kill."),
            .value("kill-max-ms", valueName: "MS", default: "2000", help: "Longest time under load before a kill."),
            .value("startup-kill-percent", valueName: "P", default: "5",
                   help: "After a kill, also kill this share of restarts during recovery (no load), before the real restart."),
            .value("lease-seconds", valueName: "N", default: "5", help: "axisd --lease-seconds: how soon an unacknowledged item returns."),
            .value("recheck", valueName: "N", default: "5000",
                   help: "After each restart re-read every earlier document while there are at most N, else N of them at random."),
            .flag("self-test", help: "Prove the checks bite: after the first kill, cut 4 KiB off the newest journal segment; the run must fail."),
            .flag("keep", help: "Keep the work directory even when every check holds."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench crash-loop --kills 20", "axis-bench crash-loop --kills 200 --seed 42",
                   "axis-bench crash-loop --kills 1000 --rate 60 --kill-max-ms 1000 --recheck 200"])

    struct Report: Codable {
        var command: String
        var seed: UInt64
        var kills: Int
        var startupKills: Int
        var killsCuttingSubmissions: Int
        var documentsAccepted: Int
        var documentsLarge: Int
        var counters: CrashLoopLedger.Counters
        var pairsExpected: Int
        var pairsDelivered: Int
        var itemsDelivered: Int
        var duplicates: Int
        var tracesChecked: Int
        var journalRecords: Int
        var journalDocuments: Int
        var tornTailsTruncated: Int
        var restartReady: LatencySummary
        var wallSeconds: Double
        var violationCount: Int
        var violations: [String]
        var workDirectory: String?
    }

    static func run(_ command: ParsedCommand, words: [String], progress: @escaping (String) -> Void) throws -> Report {
        let kills = try command.requiredInt("kills", in: 1...1_000_000)
        let seed: UInt64
        if let text = command.value("seed") {
            guard let value = UInt64(text) else { throw command.usageError("option '--seed' takes a whole number, got '\(text)'.") }
            seed = value
        } else {
            seed = UInt64.random(in: 0...UInt64(UInt32.max))
        }
        let submitters = try command.requiredInt("submitters", in: 1...256)
        let rate = try command.double("rate", in: 1...100_000)
        let largePercent = try command.requiredInt("large-percent", in: 0...100)
        let killMinMillis = try command.requiredInt("kill-min-ms", in: 1...600_000)
        let killMaxMillis = try command.requiredInt("kill-max-ms", in: killMinMillis...600_000)
        let startupKillPercent = try command.requiredInt("startup-kill-percent", in: 0...100)
        let leaseSeconds = try command.requiredInt("lease-seconds", in: 1...3600)
        let recheck = try command.requiredInt("recheck", in: 0...Int.max)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("axisd").path
        guard access(binary, X_OK) == 0 else { throw AxisError(.usage, "no axisd next to axis-bench (\(binary)): build it first") }

        let work = try TempDirectory(under: command.value("dir") ?? "/tmp", prefix: "axis-crash-loop")
        let data = PathJoin.join(work.path, "data")
        let logPath = PathJoin.join(work.path, "axisd.log")
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw AxisError(.storageIO, "cannot create \(logPath)", errno: errno) }
        defer { close(logFD) }
        let log = FileDescriptorLogSink(fileDescriptor: logFD)
        let arguments = ["--demo", "--data", data, "--listen", "127.0.0.1:0", "--lease-seconds", String(leaseSeconds)]
        progress("seed \(seed); \(kills) kills; work directory \(work.path) (axisd log: \(logPath))")

        let wallStart = SystemClock.monotonicNanos()
        var rng = SplitMix64(seed: seed ^ 0x6B69_6C6C_7469_6D65)
        // Restart (on existing data) to `axisd.ready`; the first start, which makes the PKI, is not one.
        var readyTimes: [UInt64] = []
        var tornTails = 0
        var readyStarts = 0
        var daemon = try CrashLoopDaemon(binary: binary, arguments: arguments, log: log)
        var startup = try daemon.waitUntilReady()
        readyStarts += 1
        let ledger = CrashLoopLedger()
        daemon.drainInBackground(onLine: logWatcher(ledger))

        // The demo's agencies, TLS identities and signing keys, from its demo.json.
        let target = try SubmitBenchmark.Target.load(PathJoin.join(data, "demo.json"))
        let trust = try TLSPeerTrust.load(caFile: target.caFile)
        let chain = try Certificate.load(file: target.intermediateFile)
        var agencies: [CrashLoopDrivers.Agency] = []
        var signers: [(key: PrivateKey, certificate: Certificate)] = []
        for code in Demo.agencyCodes {
            guard let a = target.agencies[code], let certificate = try Certificate.load(file: a.signingCertificate).first else {
                throw AxisError(.usage, "demo.json lacks agency \(code) or its signing certificate")
            }
            let credential = try TLSCredential.load(certificateChainFile: a.tlsCertificate, privateKeyFile: a.tlsKey)
            agencies.append(.init(code: code, algorithm: a.algorithm, tls: try TLSContext(.client(trust: trust, credential: credential))))
            signers.append((try PrivateKey.load(file: a.signingKey), certificate))
        }
        progress("agencies: " + agencies.map { "\($0.code) (\($0.algorithm))" }.joined(separator: ", "))

        let plan = CrashLoopPlan(seed: seed, agencies: Demo.agencyCodes, largePercent: largePercent)
        let gate = CrashLoopGate()
        let drivers = CrashLoopDrivers(plan: plan, ledger: ledger, gate: gate, pacer: CrashLoopPacer(perSecond: rate), agencies: agencies)
        let driversDone = Latch(count: submitters + agencies.count)
        for n in 0..<(submitters + agencies.count) {
            let thread = Thread {
                if n < submitters { drivers.submit() } else { drivers.pull(n - submitters) }
                driversDone.countDown()
            }
            thread.name = n < submitters ? "submit-\(n)" : "pull-\(agencies[n - submitters].code)"
            thread.start()
        }

        // Signed up front, a little more than a generation can send, so no kill costs a signature.
        let queueTarget = Int(rate * Double(killMaxMillis) / 1000 * 1.25) + submitters
        var large = 0
        func topUp() throws {
            while ledger.freshCount < queueTarget {
                let document = plan.document(ledger.nextIndex)
                let body = plan.body(document)
                let signer = signers[document.sender]
                let signature = try DetachedSigner.sign(body, key: signer.key, certificate: signer.certificate, chain: chain)
                if document.size > CrashLoopPlan.smallBytes.upperBound { large += 1 }
                ledger.addSigned(document.index, recipients: CrashLoopPlan.mask(document.recipients), sha256: SHA256Hasher.digest(body),
                                 signature: Base64.encode(signature))
            }
        }

        var tracesChecked = 0
        var killsCutting = 0
        var startupKills = 0
        var aborted = false
        for kill in 1...kills {
            try topUp()
            gate.open(port: startup.apiPort)
            sleep(untilMonotonicNanos: SystemClock.monotonicNanos() + UInt64(Int.random(in: killMinMillis...killMaxMillis, using: &rng)) * 1_000_000)
            gate.close()
            let status = daemon.kill9()
            if status != 128 + SIGKILL {
                ledger.violation("kill \(kill): axisd had already exited by itself (status \(status)); see \(logPath)")
            }
            log.write(line: "=== crash-loop: kill \(kill) (SIGKILL) ===\n")

            if kill == 1 && command.flag("self-test") {
                try cutJournalTail(PathJoin.join(data, "journal"), bytes: 4096)
                progress("self-test: cut 4096 bytes off the newest journal segment; violations must follow")
            }
            if Int.random(in: 0..<100, using: &rng) < startupKillPercent, let last = readyTimes.last {
                // A kill during recovery and the demo's start-up writes: recovery must survive its own crash.
                let early = try CrashLoopDaemon(binary: binary, arguments: arguments, log: log)
                sleep(untilMonotonicNanos: SystemClock.monotonicNanos() + UInt64.random(in: 0...last, using: &rng))
                early.kill9()
                startupKills += 1
                log.write(line: "=== crash-loop: kill \(kill) (SIGKILL during start-up) ===\n")
            }

            daemon = try CrashLoopDaemon(binary: binary, arguments: arguments, log: log)
            do {
                startup = try daemon.waitUntilReady()
            } catch {
                ledger.violation("restart after kill \(kill) failed: \(error)")
                aborted = true
                break
            }
            readyTimes.append(startup.readyNanos)
            tornTails += startup.tornTails
            daemon.drainInBackground(onLine: logWatcher(ledger))
            if ledger.takeCutOffsThisGeneration() > 0 { killsCutting += 1 }

            // Every receipt so far must be honoured: a count from the replay, then the traces.
            let receipted = ledger.acceptedCount
            if let replayed = startup.documentsReplayed, replayed < receipted + readyStarts {
                ledger.violation("after kill \(kill): axisd replayed \(replayed) documents, fewer than the \(receipted) receipted "
                    + "plus \(readyStarts) demo documents")
            }
            readyStarts += 1
            let (new, earlier) = ledger.takeUnchecked()
            var again = Array(0..<earlier)
            if earlier > recheck {
                var picked = Set<Int>()
                while picked.count < recheck { picked.insert(Int.random(in: 0..<earlier, using: &rng)) }
                again = picked.sorted()
            }
            do {
                tracesChecked += try drivers.checkTraces(new + again.map { ledger.accepted(at: $0) }, port: startup.apiPort,
                                                         when: "after kill \(kill)")
            } catch {
                ledger.violation("after kill \(kill): reading traces failed: \(error)")
            }
            if kill % max(1, kills / 10) == 0 || kill == kills {
                let s = ledger.snapshot
                progress("kill \(kill)/\(kills): \(ledger.acceptedCount) accepted, \(s.counters.submissionsCutOff) submissions cut off, "
                    + "ready in \(readyTimes.last.map { fixed(Double($0) / 1e6, 0) } ?? "?") ms, \(s.violations) violations")
            }
        }

        var journalRecords = 0, journalDocuments = 0
        if !aborted {
            tracesChecked += finish(drivers: drivers, ledger: ledger, gate: gate, driversDone: driversDone, port: startup.apiPort,
                                    leaseSeconds: leaseSeconds, progress: progress)
            let status = daemon.terminate()
            if status != 0 { ledger.violation("axisd did not stop cleanly on SIGTERM (status \(status)); see \(logPath)") }
            (journalRecords, journalDocuments) = foldJournal(PathJoin.join(data, "journal"), plan: plan, ledger: ledger)
        } else {
            gate.finish()
            daemon.kill9()
        }

        let totals = ledger.deliveryTotals()
        let snapshot = ledger.snapshot
        let passed = snapshot.violations == 0
        if passed && !command.flag("keep") { work.remove() }
        return Report(command: "axis-bench " + words.joined(separator: " "), seed: seed, kills: kills, startupKills: startupKills,
                      killsCuttingSubmissions: killsCutting, documentsAccepted: ledger.acceptedCount, documentsLarge: large,
                      counters: snapshot.counters, pairsExpected: totals.pairsExpected, pairsDelivered: totals.pairs,
                      itemsDelivered: totals.items, duplicates: totals.duplicates, tracesChecked: tracesChecked,
                      journalRecords: journalRecords, journalDocuments: journalDocuments, tornTailsTruncated: tornTails,
                      restartReady: LatencySummary(nanos: readyTimes),
                      wallSeconds: Double(SystemClock.monotonicNanos() - wallStart) / 1e9,
                      violationCount: snapshot.violations, violations: snapshot.lines,
                      workDirectory: passed && !command.flag("keep") ? nil : work.path)
    }

    /// The final phase on the last restart: resubmit what kills cut off, drain every inbox until each
    /// receipted (document, recipient) is acknowledged, wait out the leases from before the last
    /// kill, stop the drivers, and check that no inbox holds anything and every trace is acknowledged.
    static func finish(drivers: CrashLoopDrivers, ledger: CrashLoopLedger, gate: CrashLoopGate, driversDone: Latch, port: UInt16,
                       leaseSeconds: Int, progress: (String) -> Void) -> Int {
        ledger.enterFinalPhase()
        gate.open(port: port)
        let opened = SystemClock.monotonicNanos()
        progress("final phase: resubmitting cut-off documents and draining every inbox")
        let stallNanosMax = UInt64(leaseSeconds * 3 + 30) * 1_000_000_000
        var lastChange = opened
        var last = ledger.outstanding
        while !ledger.settled {
            ledger.waitForProgress(seconds: 1)
            let now = SystemClock.monotonicNanos()
            let current = ledger.outstanding
            if current != last {
                (last, lastChange) = (current, now)
                continue
            }
            // An ack whose answer a kill cut off may have been recorded: then it never comes back.
            let uncertain = ledger.pendingPairs(limit: 10_000).filter(\.uncertain)
            if !uncertain.isEmpty {
                _ = try? drivers.checkTraces(Array(Set(uncertain.map(\.index))), port: port, when: "final drain") { index, states in
                    for pair in uncertain where pair.index == index && states[drivers.agencies[pair.agency].code] == "acknowledged" {
                        ledger.ackFoundOnTrace(index, agency: pair.agency)
                    }
                }
            }
            if now - lastChange > stallNanosMax {
                let pending = ledger.pendingPairs(limit: 20)
                ledger.violation("final drain: no progress for \(stallNanosMax / 1_000_000_000) s with \(current.submissions) submissions "
                    + "unanswered and \(current.acks) deliveries unacknowledged, e.g. "
                    + pending.map { "document \($0.index) at \(drivers.agencies[$0.agency].code)" }.joined(separator: ", "))
                break
            }
        }
        // Anything leased before the last kill is listed again once its lease runs out: wait that
        // long with the pullers still running, so an item that should not exist cannot hide in a lease.
        sleep(untilMonotonicNanos: opened + UInt64(leaseSeconds) * 1_000_000_000 + 1_500_000_000)
        gate.finish()
        driversDone.wait()

        for (position, agency) in drivers.agencies.enumerated() {
            do {
                let client = try drivers.connect(position, port: port)
                let reply = try client.send(.get("/v1/inbox?limit=10&wait=0&agency=\(agency.code)"))
                let items = CrashLoopDrivers.json(reply.body)?["items"] as? [[String: Any]]
                if reply.status != 200 || items?.isEmpty != true {
                    ledger.violation("after the drain \(agency.code)'s inbox still holds: \(reply.bodyText.prefix(600))")
                }
                client.close()
            } catch {
                ledger.violation("final inbox check of \(agency.code) failed: \(error)")
            }
        }
        let totals = ledger.deliveryTotals()
        if totals.pairs != totals.pairsExpected {
            ledger.violation("\(totals.pairsExpected - totals.pairs) receipted (document, recipient) pairs were never listed to the recipient")
        }
        do {
            return try drivers.checkTraces(ledger.allAccepted, port: port, when: "at the end", requireAcknowledged: true)
        } catch {
            ledger.violation("final trace check failed: \(error)")
            return 0
        }
    }

    /// Reads the journal offline (after the clean stop) and folds it as axisd does: no damage, and
    /// its documents are exactly the receipted ones (plus axisd's demo documents), each with the
    /// bytes' SHA-256 that was sent and every delivery acknowledged. Returns (records, documents).
    static func foldJournal(_ directory: String, plan: CrashLoopPlan, ledger: CrashLoopLedger) -> (Int, Int) {
        var state = QueueState()
        let report: JournalScanReport
        do {
            report = try JournalScanner.scan(directory: directory, storage: PosixStorage()) { try state.apply($0) }
        } catch {
            ledger.violation("the journal cannot be read after the run: \(error)")
            return (0, 0)
        }
        for problem in report.damage { ledger.violation("journal damage: \(problem)") }
        var found = 0
        for (id, document) in state.documents {
            let accepted = document.accepted
            guard accepted.messageType == .document else {
                ledger.violation("the journal holds a \(accepted.messageType) \(id.hex) nobody asked for")
                continue
            }
            guard let index = plan.index(of: accepted.senderDocumentID) else {
                if !accepted.senderDocumentID.hasPrefix("demo-") {
                    ledger.violation("the journal holds document \(id.hex) '\(accepted.senderDocumentID)', not sent by the driver")
                }
                continue
            }
            let entry = index < ledger.nextIndex ? ledger.entry(index) : nil
            guard let entry, entry.phase == .accepted, entry.id == id else {
                ledger.violation("the journal holds document \(index) as \(id.hex), which the driver has no receipt for "
                    + "(known as \(entry?.id?.hex ?? "none"), \(entry.map { "\($0.phase)" } ?? "never signed"))")
                continue
            }
            found += 1
            if accepted.payload.sha256 != entry.sha256 {
                ledger.violation("the journal's document \(index) (\(id.hex)) has SHA-256 \(accepted.payload.sha256.hex), sent \(entry.sha256.hex)")
            }
            for recipient in accepted.recipients {
                let delivery = state.deliveries[QueueState.DeliveryKey(document: id, recipient: recipient)]
                if delivery.map({ $0.state.name }) != "acknowledged" {
                    ledger.violation("the journal's document \(index) (\(id.hex)) is \(delivery?.state.name ?? "undelivered") at \(recipient)")
                }
            }
        }
        if found != ledger.acceptedCount {
            ledger.violation("the journal holds \(found) of the \(ledger.acceptedCount) receipted documents")
        }
        return (report.records, state.documents.count)
    }

    /// `--self-test`: loses the newest records as a broken disk or a daemon that answered before
    /// writing would, so the run shows that such a loss is caught.
    static func cutJournalTail(_ directory: String, bytes: Int) throws {
        guard let newest = try JournalScanner.segmentNames(in: directory, storage: PosixStorage()).last else { return }
        let path = PathJoin.join(directory, newest)
        var info = stat()
        guard stat(path, &info) == 0, truncate(path, max(0, info.st_size - off_t(bytes))) == 0 else {
            throw AxisError(.storageIO, "self-test: cannot shorten \(path)", errno: errno)
        }
    }

    /// Watches axisd's log while it runs: an error it logs (a failed journal, say) is a violation.
    static func logWatcher(_ ledger: CrashLoopLedger) -> @Sendable (String) -> Void {
        { line in
            if line.contains("level=error") { ledger.violation("axisd logged an error: \(line.prefix(400))") }
        }
    }

    static func render(_ r: Report) -> String {
        let c = r.counters
        var lines = [
            "axis-bench crash-loop: seed \(r.seed), \(r.kills) kills under load (+\(r.startupKills) during start-up), "
                + "\(r.killsCuttingSubmissions) of them cut off submissions",
            "  accepted            \(grouped(r.documentsAccepted)) documents receipted (\(r.documentsLarge) of those signed were over 1 MiB)",
            "  cut off by kills    \(c.submissionsCutOff) submissions, of \(c.cutOffHadBeenAccepted + c.cutOffHadNotBeenAccepted) documents: "
                + "resubmitted, \(c.cutOffHadBeenAccepted) had been accepted (200), \(c.cutOffHadNotBeenAccepted) had not (201); "
                + "\(c.unavailable503) answers 503",
            "  delivered           \(grouped(r.pairsDelivered)) of \(grouped(r.pairsExpected)) (document, recipient) pairs, "
                + "\(grouped(r.itemsDelivered)) items listed, \(r.duplicates) duplicates; all acknowledged unless a violation says otherwise",
            "  acks                \(c.acksCutOff) cut off (\(c.acksFoundOnTrace) found recorded on the trace, \(c.acksAnsweredAlready) answered "
                + "'already acknowledged'); \(c.pollsCutOff) polls and \(c.contentReadsCutOff) content reads cut off; \(c.demoItems) demo items",
            "  checked             \(grouped(r.tracesChecked)) traces; journal \(grouped(r.journalRecords)) records, "
                + "\(grouped(r.journalDocuments)) documents; \(r.tornTailsTruncated) torn tails truncated at restart",
            "  restart to ready    p50 \(fixed(r.restartReady.p50Millis, 0)) ms  p99 \(fixed(r.restartReady.p99Millis, 0)) ms  "
                + "max \(fixed(r.restartReady.maxMillis, 0)) ms (\(r.restartReady.samples) starts)",
            "  wall time           \(fixed(r.wallSeconds, 1)) s",
            "  violations          \(r.violationCount)",
        ]
        for line in r.violations { lines.append("    ✗ " + line) }
        if r.violationCount > r.violations.count { lines.append("    … and \(r.violationCount - r.violations.count) more") }
        if let dir = r.workDirectory { lines.append("  kept                \(dir) (data/, axisd.log)") }
        lines.append("  command             \(r.command)")
        return lines.joined(separator: "\n")
    }

    /// Throws (exit 1) when any check failed; the report has already been printed.
    static func verdict(_ r: Report) throws {
        guard r.violationCount == 0 else {
            fflush(stdout)  // the report first, then the verdict on stderr
            throw AxisError(AxisError.Code(rawValue: "crash_loop_violations"), "\(r.violationCount) violations (listed above); seed \(r.seed); evidence kept in \(r.workDirectory ?? "?")")
        }
    }
}
