// axisd — the Axis daemon.
//
// Opens (or creates) the journal in the data directory, recovers and replays it, and runs until
// SIGINT or SIGTERM, then shuts down cleanly: it records a checkpoint and closes the journal so every
// acknowledged record is on disk. `--demo` uses a throwaway data directory, registers demo agencies
// and carries one document through the journal so a new user sees the whole path.
@preconcurrency import Glibc
import Axis

let defaultData = "/var/lib/axis"
let demoData = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/axis-demo"

let spec = CommandSpec(
    "axisd",
    summary: "The Axis document exchange daemon: stores signed documents durably and delivers them.",
    options: [
        .value("data", valueName: "DIR", default: defaultData,
               help: "Data directory (journal/, payloads/). With --demo the default is \(demoData)."),
        .flag("demo", help: "Run the demo: throwaway data directory, demo agencies, one document carried end to end."),
        .flag("salvage", help: "Move damaged journal segments to DIR/corrupt/ instead of refusing to start."),
        .value("listen", valueName: "HOST:PORT", default: "127.0.0.1:7443",
               help: "Native API (HTTPS, client certificates required). Port 0 picks a free port."),
        .value("tls-cert", valueName: "FILE", help: "Server certificate chain (PEM) for the native API. --demo uses the development PKI's."),
        .value("tls-key", valueName: "FILE", help: "Its private key (PEM)."),
        .value("trust", valueName: "DIR", help: "Trust anchors (PEM files) for client certificates and document signatures."),
        .value("intermediates", valueName: "DIR", help: "Intermediate CA certificates (PEM files)."),
        .value("crl-dir", valueName: "DIR", help: "CRLs (PEM or DER) checked for client certificates and signatures."),
        .value("receipt-cert", valueName: "FILE", help: "The axis's receipt-signing certificate (PEM, chain after it)."),
        .value("receipt-key", valueName: "FILE", help: "Its private key (PEM)."),
        .value("lease-seconds", valueName: "N", default: "300", help: "How long an inbox item listed to a recipient stays leased to it."),
        .value("max-document-bytes", valueName: "N", default: "268435456", help: "The largest document accepted (413 beyond)."),
        .value("log-format", valueName: "FORMAT", default: "kv", help: "Log line format on stderr: kv or json."),
        .value("log-level", valueName: "LEVEL", default: "info", help: "Least severe level logged: debug, info, warning, error."),
    ],
    examples: ["axisd --demo", "axisd --demo --data /tmp/my-demo --listen 127.0.0.1:0",
               "axisd --data /var/lib/axis --tls-cert server.pem --tls-key server.key --trust trust/ --intermediates ca/ "
                   + "--crl-dir crl/ --receipt-cert axis.pem --receipt-key axis.key",
               "axisd --data /var/lib/axis --salvage"])

func fail(_ message: String, code: Int32) -> Never {
    FileDescriptorLogSink.standardError.write(line: "axisd: \(message)\n")
    exit(code)
}

let parsed: ParsedCommand
do {
    switch try ArgumentParser(spec).parse(Array(CommandLine.arguments.dropFirst())) {
    case .help(_, let text):
        print(text, terminator: "")
        exit(0)
    case .run(let command):
        parsed = command
    }
} catch {
    fail("\(error)", code: 64)
}

let demo = parsed.flag("demo")
let dataDir = parsed.isGiven("data") ? (parsed.value("data") ?? defaultData) : (demo ? demoData : defaultData)
let formats: [String: LogFormat] = ["kv": .keyValue, "key-value": .keyValue, "json": .json]
guard let format = formats[parsed.value("log-format") ?? "kv"] else {
    fail("--log-format must be kv or json, not '\(parsed.value("log-format") ?? "")'", code: 64)
}
guard let level = LogLevel(rawValue: parsed.value("log-level") ?? "info") else {
    fail("--log-level must be one of debug, info, warning, error", code: 64)
}
let log = Logger(format: format, minimumLevel: level)
guard let leaseSeconds = Int64(parsed.value("lease-seconds") ?? "300"), (1...86_400).contains(leaseSeconds) else {
    fail("--lease-seconds must be a whole number of seconds from 1 to 86400", code: 64)
}
guard let documentBytesMax = Int(parsed.value("max-document-bytes") ?? ""), (1...(1 << 40)).contains(documentBytesMax) else {
    fail("--max-document-bytes must be a whole number of bytes from 1 to 1099511627776", code: 64)
}
let listenAddress: (String, UInt16)
do {
    listenAddress = try NativeListenerSettings.parseListen(parsed.value("listen") ?? "127.0.0.1:7443")
} catch {
    fail("\(error)", code: 64)
}
// A client that goes away mid-reply must be an error on that connection, not the end of the daemon.
signal(SIGPIPE, SIG_IGN)

// Block the shutdown signals in every thread before any thread starts; the main thread then takes
// them synchronously with sigwait, so an early SIGTERM is never lost and no handler runs async.
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
sigaddset(&shutdownSignals, SIGINT)
sigaddset(&shutdownSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &shutdownSignals, nil)

var journalOptions = JournalOptions()
journalOptions.salvage = parsed.flag("salvage")
let core: AxisCore
do {
    core = try AxisCore(layout: AxisCore.Layout(data: dataDir), journalOptions: journalOptions,
                        onJournalFailure: { failure in
                            log.error("journal.failed", ["error": failure.description,
                                                         "action": "appends refused; fix the disk, then restart axisd"])
                        })
} catch {
    log.error("journal.open_failed", ["data": dataDir, "error": "\(error)"])
    fail("\(error)", code: 1)
}

let recovery = core.recovery
log.info("journal.recovered", [
    "data": dataDir, "segments": String(recovery.scan.segments.count), "records": String(recovery.scan.records),
    "bytes": String(recovery.scan.bytes), "next_sequence": String(recovery.scan.nextSequence),
    "chain_head": recovery.scan.headChain.hex, "replay_ms": String(recovery.durationNanos / 1_000_000),
    "created": String(recovery.created),
])
if let torn = recovery.truncatedTail {
    log.warning("journal.torn_tail_truncated", ["segment": torn.segment, "offset": String(torn.offset), "bytes": String(torn.bytes)])
}
for name in recovery.removedIncompleteSegments {
    log.warning("journal.incomplete_segment_removed", ["segment": name])
}
for name in recovery.salvagedSegments {
    log.warning("journal.segment_salvaged", ["segment": name, "moved_to": core.layout.corrupt])
}
core.withState { state in
    let counts = state.countsByState().sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    log.info("queue.replayed", ["documents": String(state.documents.count), "deliveries": String(state.deliveries.count),
                                "by_state": counts.isEmpty ? "none" : counts, "agencies": String(state.agencies.count),
                                "anomalies": String(state.anomalies)])
}

var listener: NativeListener?
do {
    _ = try core.recordAndWait([.checkpoint(Checkpoint(at: core.clock.now(), note: "axisd started pid=\(getpid())"))])
    var settings: NativeListenerSettings?
    if !demo {
        let given = ["tls-cert", "tls-key", "trust", "receipt-cert", "receipt-key"].filter { parsed.isGiven($0) }
        if given.count == 5 {
            settings = NativeListenerSettings(
                host: listenAddress.0, port: listenAddress.1, serverCertificateChain: parsed.value("tls-cert") ?? "",
                serverKey: parsed.value("tls-key") ?? "",
                trust: TrustConfiguration(anchorsDirectory: parsed.value("trust"), intermediatesDirectory: parsed.value("intermediates"),
                                          crlDirectory: parsed.value("crl-dir")),
                receiptCertificate: parsed.value("receipt-cert") ?? "", receiptKey: parsed.value("receipt-key") ?? "",
                leaseMillis: leaseSeconds * 1000, documentBytesMax: documentBytesMax, loops: 2)
        } else if !given.isEmpty {
            throw AxisError(.usage, "the native API needs all of --tls-cert, --tls-key, --trust, --receipt-cert and --receipt-key; "
                + "missing: " + ["tls-cert", "tls-key", "trust", "receipt-cert", "receipt-key"].filter { !parsed.isGiven($0) }
                    .map { "--\($0)" }.joined(separator: ", "))
        } else {
            log.warning("api.disabled", ["reason": "no --tls-cert/--tls-key/--trust/--receipt-cert/--receipt-key given",
                                         "action": "give them to serve the native API, or run axisd --demo"])
        }
    }
    if demo {
        let setup = try Demo.prepare(core)
        log.info("demo.pki", ["directory": setup.pki.directory, "created": String(setup.createdPKI),
                              "note": "development PKI, not for production"])
        settings = NativeListenerSettings(
            host: listenAddress.0, port: listenAddress.1, serverCertificateChain: setup.tls.serverChainPath,
            serverKey: setup.tls.serverKeyPath, trust: setup.pki.trustConfiguration,
            receiptCertificate: setup.pki.axisChainPath, receiptKey: setup.pki.axisKeyPath,
            leaseMillis: leaseSeconds * 1000, documentBytesMax: documentBytesMax, loops: 2)
        let seeded = try Demo.seedDirectory(core, setup: setup)
        log.info("demo.directory", ["agencies": Demo.agencyCodes.joined(separator: ","), "registered_now": String(seeded)])
        let exchange = try Demo.exchangeOneDocument(core, setup: setup)
        let accepted = exchange.accepted
        log.info("demo.accepted", ["document": exchange.document.hex, "from": Demo.agencyCodes[0], "to": Demo.agencyCodes[2],
                                   "signer": exchange.signature.signer?.subject ?? "", "sequence": String(accepted.position.sequence),
                                   "chain": accepted.position.chain.hex, "sha256": accepted.record.payload.sha256.hex,
                                   "receipt_bytes": String(accepted.signedReceipt.count)])
        log.info("demo.delivered", ["document": exchange.document.hex, "recipient": Demo.agencyCodes[2],
                                    "acknowledged_sequence": String(exchange.acknowledged.sequence),
                                    "recipient_receipt": exchange.recipientReceipt.isTrusted ? "verified" : "rejected"])
        if let settings {
            let started = try NativeListener.start(core: core, settings: settings)
            listener = started
            log.info("api.listening", ["address": "\(settings.host):\(started.port)", "tls": "required-client-certificate"])
            let guide = DemoGuide(data: dataDir, setup: setup, port: started.port, exchange: exchange)
            try guide.writeJSON()
            print(guide.banner())
        }
        fflush(stdout)
    } else if let settings {
        let started = try NativeListener.start(core: core, settings: settings)
        listener = started
        log.info("api.listening", ["address": "\(settings.host):\(started.port)", "tls": "required-client-certificate"])
    }
} catch {
    log.error("axisd.start_failed", ["error": "\(error)"])
    core.close()
    fail("\(error)", code: 1)
}

log.info("axisd.ready", ["data": dataDir, "pid": String(getpid())])

var received: Int32 = 0
sigwait(&shutdownSignals, &received)
log.info("axisd.stopping", ["signal": received == SIGTERM ? "TERM" : "INT"])
listener?.stop()
do {
    _ = try core.recordAndWait([.checkpoint(Checkpoint(at: core.clock.now(), note: "axisd stopped"))])
} catch {
    log.error("journal.checkpoint_failed", ["error": "\(error)"])
}
core.close()
log.info("axisd.stopped", ["records": String(core.journal.statistics.records)])
exit(0)
