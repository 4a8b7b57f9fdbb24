// axisd — the Axis daemon.
//
// Start: read the configuration (file, then command-line options; every problem reported at once),
// open the operations listener (/healthz says "starting"), open and replay the journal, start the
// native API and push delivery, then report ready. `--demo` uses a throwaway data directory and a
// development PKI, registers demo agencies and carries one document through the journal.
//
// Stop (SIGTERM or SIGINT, taken synchronously with sigwait): /healthz says "stopping"; the API stops
// accepting, answers waiting long polls, lets requests under way finish within the grace period;
// push delivery lets attempts under way finish within the same period and records a release for
// the rest; a checkpoint is recorded and the journal closed. Nothing acknowledged is lost at any
// point: receipts are only sent for durable records, and leases and retry times are journal facts.
@preconcurrency import Glibc
import Dispatch
import Axis

let demoData = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/axis-demo"

let spec = CommandSpec(
    "axisd",
    summary: "The Axis document exchange daemon: stores signed documents durably and delivers them.",
    options: [
        .value("config", valueName: "FILE",
               help: "JSON configuration (docs/CONFIGURATION.md, sample in docs/axisd.sample.json). The options below override its keys."),
        .value("data", valueName: "DIR", help: "Data directory (key data; default /var/lib/axis, with --demo \(demoData))."),
        .flag("demo", help: "Run the demo: throwaway data directory, development PKI, demo agencies, one document carried end to end."),
        .flag("salvage", help: "Move damaged journal segments to DIR/corrupt/ instead of refusing to start."),
        .value("listen", valueName: "HOST:PORT", help: "Native API address (api.listen; default 127.0.0.1:7443). Port 0 picks a free port."),
        .value("vdxp-listen", valueName: "HOST:PORT",
               help: "VDXP-compatible API address for the national platform's SDK (vdxp.listen; default off, --demo: 127.0.0.1, free port)."),
        .value("tls-cert", valueName: "FILE", help: "Server certificate chain, PEM (api.tlsCertificate). --demo uses the development PKI's."),
        .value("tls-key", valueName: "FILE", help: "Its private key, PEM (api.tlsKey)."),
        .value("trust", valueName: "DIR", help: "Trust anchors for client certificates and signatures (trust.anchors)."),
        .value("intermediates", valueName: "DIR", help: "Intermediate CA certificates (trust.intermediates)."),
        .value("crl-dir", valueName: "DIR", help: "CRLs checked for client certificates and signatures (trust.crls)."),
        .value("receipt-cert", valueName: "FILE", help: "The axis's receipt-signing certificate, PEM, chain after it (receipts.certificate)."),
        .value("receipt-key", valueName: "FILE", help: "Its private key, PEM (receipts.key)."),
        .value("lease-seconds", valueName: "N", help: "How long a listed inbox item stays leased (api.leaseSeconds; default 300)."),
        .value("max-document-bytes", valueName: "N", help: "The largest document accepted, 413 beyond (api.maxDocumentBytes)."),
        .value("log-format", valueName: "FORMAT", help: "Log line format on stderr: kv or json (log.format; default kv)."),
        .value("log-level", valueName: "LEVEL", help: "Least severe level logged: debug, info, warning, error (log.level)."),
    ],
    examples: ["axisd --demo", "axisd --demo --data /tmp/my-demo --listen 127.0.0.1:0",
               "axisd --config /etc/axis/axisd.json",
               "axisd --data /var/lib/axis --tls-cert server.pem --tls-key server.key --trust trust/ --intermediates ca/ "
                   + "--crl-dir crl/ --receipt-cert axis.pem --receipt-key axis.key",
               "axisd --config /etc/axis/axisd.json --salvage"])

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
var configuration: AxisdConfiguration
do {
    var flags: [String: String] = [:]
    for name in AxisdConfiguration.overridingFlags where parsed.isGiven(name) { flags[name] = parsed.value(name) }
    configuration = try AxisdConfiguration.resolve(configFile: parsed.isGiven("config") ? parsed.value("config") : nil, flags: flags)
    if demo { try DemoSettings.adjust(&configuration) }
} catch {
    fail("\(error)", code: 64)
}
let log = Logger(format: configuration.log.format, minimumLevel: configuration.log.level)
// A client that goes away mid-reply must be an error on that connection, not the end of the daemon.
Socket.ignoreBrokenPipes()

// Block the shutdown signals in every thread before any thread starts; the main thread then takes
// them synchronously with sigwait, so an early SIGTERM is never lost and no handler runs async.
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
sigaddset(&shutdownSignals, SIGINT)
sigaddset(&shutdownSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &shutdownSignals, nil)

let metrics: DaemonMetrics
do {
    metrics = try DaemonMetrics()
} catch {
    fail("metrics: \(error)", code: 70)
}
let ops = OpsService(metrics: { metrics.registry.render() })
var opsServer: HTTPServer?
var opsURL: String?
if let address = configuration.ops.listen {
    var options = HTTPServer.Options()
    options.host = address.host
    options.port = address.port
    options.loops = 1
    options.maxConnections = 256
    let server = HTTPServer(options: options, service: ops)
    do {
        let port = try server.start()
        opsServer = server
        opsURL = "http://\(address.host):\(port)"
        log.info("ops.listening", ["address": "\(address.host):\(port)", "serves": "/healthz /metrics", "tls": "none"])
        if address.host != "127.0.0.1" {
            log.warning("ops.plaintext_exposed", ["address": "\(address.host):\(port)",
                                                  "action": "metrics and health are served without TLS; keep ops.listen on loopback "
                                                      + "or behind a firewall"])
        }
    } catch {
        fail("cannot listen on ops.listen \(address): \(error); choose another address or \"\" to disable it", code: 1)
    }
}

var journalOptions = JournalOptions()
journalOptions.salvage = parsed.flag("salvage")
journalOptions.segmentBytesMax = configuration.journal.segmentBytes
let dataDir = configuration.data
let core: AxisCore
do {
    core = try AxisCore(layout: AxisCore.Layout(data: dataDir), journalOptions: journalOptions,
                        onJournalFailure: { failure in
                            ops.setHealth(.failed("journal: \(failure.description)"))
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
var push: PushDelivery?
var admin: HTTPServer?
let adminSocket = configuration.adminSocketPath
let startedAt = core.clock.now()
let apiAddress = Locked<String?>(nil)
let vdxpAddress = Locked<String?>(nil)
do {
    try metrics.attach(core: core, health: ops)
    _ = try core.recordAndWait([.checkpoint(Checkpoint(at: core.clock.now(), note: "axisd started pid=\(getpid())"))])
    let interrupted = try PushDelivery.releaseInterrupted(core: core)
    if interrupted > 0 {
        log.warning("delivery.interrupted_released", ["deliveries": String(interrupted),
                                                      "reason": "push attempts cut off when axisd last stopped; they are made again"])
    }
    var credentials: NativeCredentials?
    var demoRun: (setup: Demo.Setup, exchange: Demo.Exchange)?
    if demo {
        let setup = try Demo.prepare(core)
        log.info("demo.pki", ["directory": setup.pki.directory, "created": String(setup.createdPKI),
                              "note": "development PKI, not for production"])
        credentials = NativeCredentials(serverCertificateChain: setup.tls.serverChainPath, serverKey: setup.tls.serverKeyPath,
                                        trust: setup.pki.trustConfiguration, receiptCertificate: setup.pki.axisChainPath,
                                        receiptKey: setup.pki.axisKeyPath)
        DemoSettings.useDevelopmentPKI(&configuration, setup: setup)
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
        demoRun = (setup, exchange)
    } else {
        credentials = try NativeSettings.credentials(configuration)
        if credentials == nil {
            log.warning("api.disabled", ["reason": "api.tlsCertificate/api.tlsKey, trust.anchors and receipts.* are not configured",
                                         "action": "configure them (docs/CONFIGURATION.md) to serve the native API, or run axisd --demo"])
        }
    }
    if let credentials {
        let started = try NativeListener.start(core: core, configuration: configuration, credentials: credentials,
                                               submitObserver: metrics.submitObserver)
        listener = started
        apiAddress.update { $0 = "https://\(configuration.api.listen.host):\(started.port)" }
        try metrics.attach(listener: started)
        log.info("api.listening", ["address": "\(configuration.api.listen.host):\(started.port)", "tls": "required-client-certificate"])
        if let vdxp = started.vdxp {
            vdxpAddress.update { $0 = vdxp.url }
            log.info("vdxp.listening", ["url": vdxp.url, "auth": "system id + HMAC",
                                        "signature_policy": configuration.vdxp.signaturePolicy.rawValue])
            if configuration.vdxp.transport == .http, let address = configuration.vdxp.listen, !address.isLoopback {
                log.warning("vdxp.plaintext_exposed", ["address": address.description,
                    "action": "VDXP documents and HMAC headers travel unencrypted; set vdxp.transport to https or listen on loopback"])
            }
        }
        if let (setup, exchange) = demoRun {
            let guide = DemoGuide(data: dataDir, setup: setup, port: started.port, exchange: exchange, ops: opsURL,
                                  adminSocket: adminSocket, vdxp: started.vdxp?.url,
                                  vdxpSystems: core.withState { state in Demo.vdxpCredentials(state) })
            try guide.writeJSON()
            print(guide.banner())
            fflush(stdout)
        }
    }
    if let delivery = try NativeSettings.pushDelivery(core: core, configuration: configuration,
                                                      report: pushReporter(log: log, metrics: metrics)) {
        push = delivery
        try metrics.attach(push: delivery)
        delivery.start()
        let policy = delivery.options.policy
        log.info("delivery.started", ["per_recipient": String(policy.perRecipientConcurrency), "total": String(policy.totalConcurrency),
                                      "initial_backoff_ms": String(policy.initialBackoffMillis),
                                      "max_backoff_ms": String(policy.maxBackoffMillis),
                                      "max_lifetime_ms": String(policy.maxLifetimeMillis)])
    } else {
        log.warning("delivery.push_disabled", ["reason": "no client certificate for push (delivery.clientCertificate or api.tlsCertificate)",
                                               "action": "agencies with an endpoint wait in their inbox for a pull until one is configured"])
    }
    // The admin socket (axisctl): mode 0600, so only this user (and root) can steer the queues.
    let info = AdminService.DaemonInfo(pid: getpid(), startedAt: startedAt, data: dataDir, listeners: { [opsURL] in
        (apiAddress.read { $0 }.map { ["native-api \($0)"] } ?? []) + (vdxpAddress.read { $0 }.map { ["vdxp-api \($0)"] } ?? [])
            + (opsURL.map { ["ops \($0)"] } ?? []) + ["admin \(adminSocket)"]
    })
    var adminOptions = HTTPServer.Options()
    // With admin.group, members of that group may connect too (0660); else only this user and root.
    var adminGroup: gid_t?
    if let name = configuration.admin.group {
        guard let entry = getgrnam(name) else {
            throw AxisError(.config, "admin.group '\(name)' does not exist on this machine; create it (groupadd) or leave admin.group out")
        }
        adminGroup = entry.pointee.gr_gid
    }
    adminOptions.unixSocket = .init(path: adminSocket, mode: adminGroup == nil ? 0o600 : 0o660, group: adminGroup)
    adminOptions.maxConnections = 64
    // Compaction records are signed by the axis key, like receipts (unsigned only without one).
    var signCompaction: (@Sendable ([UInt8]) throws -> [UInt8])?
    if let credentials {
        let signer = try ReceiptIssuer.load(keyPath: credentials.receiptKey, certificatePath: credentials.receiptCertificate)
        signCompaction = { content in try signer.signAttached(content) }
    }
    let compactor = JournalCompactor(core: core, sign: signCompaction)
    let adminServer = HTTPServer(options: adminOptions, service: AdminService(core: core, info: info, compactor: compactor,
                                                                              retentionDays: configuration.journal.retentionDays))
    _ = try adminServer.start()
    admin = adminServer
    log.info("admin.listening", ["socket": adminSocket, "mode": adminGroup == nil ? "0600" : "0660",
                                 "group": configuration.admin.group ?? "-"])
} catch {
    log.error("axisd.start_failed", ["error": "\(error)"])
    core.close()
    fail("\(error)", code: 1)
}

ops.setHealth(.ready)
log.info("axisd.ready", ["data": dataDir, "pid": String(getpid())])

var received: Int32 = 0
sigwait(&shutdownSignals, &received)
let grace = configuration.shutdown.graceMillis
log.info("axisd.stopping", ["signal": received == SIGTERM ? "TERM" : "INT", "grace_ms": String(grace)])
ops.setHealth(.stopping)
// The API and push delivery wind down side by side, each within the grace period.
let pushStopped = Promise<Int>()
if let push {
    DispatchQueue.global().async { pushStopped.fulfil(push.stop(graceMillis: grace)) }
} else {
    pushStopped.fulfil(0)
}
let cut = listener?.stop(graceMillis: grace) ?? 0
let released = pushStopped.wait()
admin?.stop()
do {
    _ = try core.recordAndWait([.checkpoint(Checkpoint(at: core.clock.now(), note: "axisd stopped"))])
} catch {
    log.error("journal.checkpoint_failed", ["error": "\(error)"])
}
core.close()
opsServer?.stop()
log.info("axisd.stopped", ["records": String(core.journal.statistics.records), "connections_cut": String(cut),
                           "released": String(released)])
// _exit, not exit: a push attempt cut off at the end of the grace period may still be inside OpenSSL
// on its thread, and exit's handlers would tear OpenSSL down under it. Everything that matters is
// already on disk (journal closed, logs written unbuffered); stdout is flushed here.
fflush(stdout)
_exit(0)
