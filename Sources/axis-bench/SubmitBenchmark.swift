@preconcurrency import Glibc
import Axis
import Foundation

/// `axis-bench submit`: signed documents submitted over keep-alive TLS connections to a real axisd,
/// each answered only once durable and receipted, like any office system would.
///
/// Target: an `axisd --demo` found through its `demo.json` (`--demo-json`), or, with `--start-demo`,
/// one started for the run on a fresh data directory (removed afterwards) next to this binary.
/// Documents: one random document of `--size` bytes per connection, signed once up front with the
/// sender's development key (RSA-2048 for 000.00.00.G22), so the generator spends no CPU signing;
/// every request carries a new `Axis-Document-Id`, so each is a new acceptance (verify, store,
/// journal, receipt). Closed loop: each connection sends its next request when the previous answer
/// arrives. With `--e2e`, recipient connections long-poll the inbox and acknowledge every item, and
/// the report adds how many documents completed submit → pull → ack per second.
enum SubmitBenchmark {
    static let spec = CommandSpec(
        "submit",
        summary: "Signed documents/s accepted durably by axisd over TLS with client certificates (and, with --e2e, pulled and acknowledged).",
        options: [
            .value("demo-json", valueName: "FILE", help: "The demo.json of a running axisd --demo."),
            .flag("start-demo", help: "Start axisd --demo for the run on a temporary data directory."),
            .value("dir", valueName: "DIR", default: "/tmp", help: "Where --start-demo puts its data directory."),
            .value("connections", valueName: "N", default: "32", help: "Keep-alive TLS connections submitting."),
            .value("seconds", valueName: "S", default: "10", help: "Measured window."),
            .value("warmup-seconds", valueName: "S", default: "1", help: "Unmeasured warm-up."),
            .value("size", valueName: "BYTES", default: "4096", help: "Document size."),
            .value("from", valueName: "CODE", default: "000.00.00.G22", help: "Sending agency (its key type sets the algorithm)."),
            .value("to", valueName: "CODE", default: "000.00.00.H29", help: "Recipient agency."),
            .flag("e2e", help: "Also pull and acknowledge as the recipient; report end-to-end documents/s."),
            .value("pullers", valueName: "N", default: "4", help: "Recipient connections for --e2e."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench submit --start-demo", "axis-bench submit --start-demo --connections 64 --seconds 20 --e2e",
                   "axis-bench submit --demo-json /tmp/axis-demo/demo.json --connections 8"])

    struct Report: Codable {
        var command: String
        var algorithm: String
        var documentBytes: Int
        var connections: Int
        var seconds: Double
        var accepted: Int
        var acceptedPerSecond: Double
        var errors: [String: Int]
        var latency: LatencySummary
        var endToEnd: Int?
        var endToEndPerSecond: Double?
        var cpuBusyCores: Double
    }

    /// What a client needs, from demo.json.
    struct Target {
        var host = "127.0.0.1"
        var port: UInt16
        var caFile: String
        var agencies: [String: (tlsCertificate: String, tlsKey: String, signingCertificate: String, signingKey: String, algorithm: String)]
        var intermediateFile: String

        static func load(_ path: String) throws -> Target {
            let data = try FileBytes.read(path, limit: 1 << 20)
            guard let root = try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
                  let api = root["api"] as? String, let colon = api.lastIndex(of: ":"), let port = UInt16(api[api.index(after: colon)...]),
                  let ca = root["caFile"] as? String, let intermediate = root["intermediateFile"] as? String,
                  let list = root["agencies"] as? [[String: Any]] else {
                throw AxisError(.usage, "\(path) is not an axisd demo.json (api, caFile, intermediateFile, agencies)")
            }
            var agencies: [String: (String, String, String, String, String)] = [:]
            for entry in list {
                guard let code = entry["code"] as? String else { continue }
                agencies[code] = (entry["tlsCertificate"] as? String ?? "", entry["tlsKey"] as? String ?? "",
                                  entry["signingCertificate"] as? String ?? "", entry["signingKey"] as? String ?? "",
                                  entry["signingAlgorithm"] as? String ?? "")
            }
            return Target(port: port, caFile: ca, agencies: agencies, intermediateFile: intermediate)
        }

        func client(_ code: String) throws -> HTTPClient {
            guard let agency = agencies[code] else { throw AxisError(.usage, "demo.json has no agency \(code)") }
            let credential = try TLSCredential.load(certificateChainFile: agency.tlsCertificate, privateKeyFile: agency.tlsKey)
            let context = try TLSContext(.client(trust: try .load(caFile: caFile), credential: credential))
            return try HTTPClient(host: host, port: port, tls: context, serverName: "localhost", timeoutMillis: 30_000)
        }
    }

    static func run(_ command: ParsedCommand, words: [String], progress: (String) -> Void) throws -> Report {
        let connections = try command.requiredInt("connections", in: 1...4096)
        let seconds = try command.double("seconds", in: 0.1...3600)
        let warmup = try command.double("warmup-seconds", in: 0...600)
        let size = try command.requiredInt("size", in: 1...(64 << 20))
        let from = command.value("from") ?? "", to = command.value("to") ?? ""
        let e2e = command.flag("e2e")
        let pullers = try command.requiredInt("pullers", in: 1...256)

        var demo: DemoProcess?
        defer { demo?.stop() }
        let target: Target
        if command.flag("start-demo") {
            let started = try DemoProcess.start(in: command.value("dir") ?? "/tmp")
            demo = started
            progress("axisd --demo started on port \(started.port), data \(started.data)")
            target = try Target.load(started.data + "/demo.json")
        } else if let path = command.value("demo-json") {
            target = try Target.load(path)
        } else {
            throw AxisError(.usage, "give --demo-json FILE (of a running axisd --demo) or --start-demo")
        }
        guard let sender = target.agencies[from] else { throw AxisError(.usage, "demo.json has no agency \(from)") }

        // One signed document per connection, made before the clock starts.
        let key = try PrivateKey.load(file: sender.signingKey)
        guard let certificate = try Certificate.load(file: sender.signingCertificate).first else {
            throw AxisError(.usage, "\(sender.signingCertificate) holds no certificate")
        }
        let chain = try Certificate.load(file: target.intermediateFile)
        var rng = SystemRandomNumberGenerator()
        let documents: [(body: [UInt8], signature: String)] = try (0..<connections).map { _ in
            let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return (body, Base64.encode(try DetachedSigner.sign(body, key: key, certificate: certificate, chain: chain)))
        }
        let runID = String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 36)
        progress("signed \(connections) documents of \(size) bytes as \(from) (\(sender.algorithm)); run id \(runID)")

        let start = SystemClock.monotonicNanos()
        let windowStart = start + UInt64(warmup * 1e9)
        let windowEnd = windowStart + UInt64(seconds * 1e9)
        let stopPulling = Locked(false)
        let acknowledged = Locked(0)
        let cpuBefore = SystemCPU.sample()

        var pullerThreads: [Thread] = []
        let pullersDone = Latch(count: e2e ? pullers : 0)
        if e2e {
            for index in 0..<pullers {
                let thread = Thread {
                    defer { pullersDone.countDown() }
                    guard let client = try? target.client(to) else { return }
                    while !stopPulling.read({ $0 }) {
                        guard let listed = try? client.send(.get("/v1/inbox?limit=200&wait=1&agency=\(to)")), listed.status == 200,
                              let object = try? JSONSerialization.jsonObject(with: Data(listed.body)) as? [String: Any],
                              let items = object["items"] as? [[String: Any]] else { return }
                        let acks = items.compactMap { $0["id"] as? String }.map { HTTPClientRequest.post("/v1/inbox/\($0)/ack", body: []) }
                        guard !acks.isEmpty, let replies = try? client.pipeline(acks) else { continue }
                        let now = SystemClock.monotonicNanos()
                        if now >= windowStart && now <= windowEnd {
                            acknowledged.update { $0 += replies.filter { $0.status == 200 }.count }
                        }
                    }
                }
                thread.name = "puller-\(index)"
                pullerThreads.append(thread)
                thread.start()
            }
        }

        struct Worker: Sendable { var latencies: [UInt64] = []; var errors: [String: Int] = [:] }
        let results = ThreadGroup.run(count: connections, name: "submit") { index -> Worker in
            var worker = Worker()
            let client: HTTPClient
            do { client = try target.client(from) } catch {
                worker.errors["connect: \(error)", default: 0] += 1
                return worker
            }
            let document = documents[index]
            var n = 0
            while true {
                let begin = SystemClock.monotonicNanos()
                if begin >= windowEnd { break }
                n += 1
                let request = HTTPClientRequest.post("/v1/documents", headers: [
                    ("Axis-From", from), ("Axis-To", to), ("Axis-Document-Id", "bench-\(runID)-\(index)-\(n)"),
                    ("Axis-Signature", document.signature),
                ], body: document.body)
                do {
                    let reply = try client.send(request)
                    let end = SystemClock.monotonicNanos()
                    if reply.status == 201 {
                        if begin >= windowStart && end <= windowEnd { worker.latencies.append(end - begin) }
                    } else {
                        worker.errors["HTTP \(reply.status)", default: 0] += 1
                    }
                } catch {
                    // A failed connection ends this connection's run; the error is reported.
                    worker.errors["\(error)", default: 0] += 1
                    break
                }
            }
            return worker
        }
        let cpuAfter = SystemCPU.sample()
        stopPulling.update { $0 = true }
        pullersDone.wait()

        let latencies = results.flatMap(\.latencies)
        var errors: [String: Int] = [:]
        for worker in results { for (k, v) in worker.errors { errors[k, default: 0] += v } }
        let acked = acknowledged.read { $0 }
        return Report(command: "axis-bench " + words.joined(separator: " "), algorithm: sender.algorithm, documentBytes: size,
                      connections: connections, seconds: seconds, accepted: latencies.count,
                      acceptedPerSecond: Double(latencies.count) / seconds, errors: errors, latency: LatencySummary(nanos: latencies),
                      endToEnd: e2e ? acked : nil, endToEndPerSecond: e2e ? Double(acked) / seconds : nil,
                      cpuBusyCores: SystemCPU.busyCores(from: cpuBefore, to: cpuAfter, seconds: warmup + seconds))
    }

    static func render(_ r: Report) -> String {
        var lines = [
            "axis-bench submit: \(r.connections) TLS connections, \(r.documentBytes)-byte documents signed with \(r.algorithm), \(fixed(r.seconds, 1)) s",
            "  accepted durably   \(grouped(r.accepted)) documents = \(grouped(Int(r.acceptedPerSecond))) /s",
            "  latency ms         p50 \(fixed(r.latency.p50Millis, 2))  p90 \(fixed(r.latency.p90Millis, 2))  p99 \(fixed(r.latency.p99Millis, 2))  "
                + "p99.9 \(fixed(r.latency.p999Millis, 2))  max \(fixed(r.latency.maxMillis, 2))",
        ]
        if let e2e = r.endToEndPerSecond, let n = r.endToEnd {
            lines.append("  end to end         \(grouped(n)) documents pulled and acknowledged = \(grouped(Int(e2e))) /s")
        }
        lines.append("  errors             " + (r.errors.isEmpty ? "none" : r.errors.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")))
        lines.append("  CPU busy (cores)   \(fixed(r.cpuBusyCores, 2)) of \(ProcessInfo.processInfo.activeProcessorCount) (generator and axisd together)")
        lines.append("  command            \(r.command)")
        return lines.joined(separator: "\n")
    }
}

/// `axisd --demo` started for a benchmark: the binary next to this one, a fresh data directory,
/// a free port; stopped with SIGTERM and its directory removed at the end.
final class DemoProcess {
    let process: Process
    let data: String
    let port: UInt16

    private init(process: Process, data: String, port: UInt16) {
        (self.process, self.data, self.port) = (process, data, port)
    }

    static func start(in directory: String) throws -> DemoProcess {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("axisd").path
        guard access(binary, X_OK) == 0 else { throw AxisError(.usage, "no axisd next to axis-bench (\(binary)): build it first") }
        let data = directory + "/axis-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--demo", "--data", data, "--listen", "127.0.0.1:0"]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var buffer = ""
        let reader = stderr.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty {
                throw AxisError(.usage, "axisd --demo exited before it was ready: \(buffer.suffix(2000))")
            }
            buffer += String(decoding: chunk, as: UTF8.self)
            if buffer.contains("event=axisd.ready") { break }
        }
        guard let range = buffer.range(of: "event=api.listening address=127.0.0.1:"),
              let port = UInt16(buffer[range.upperBound...].prefix { $0.isNumber }) else {
            process.terminate()
            throw AxisError(.usage, "axisd --demo did not report its port: \(buffer.suffix(2000))")
        }
        // Keep draining stderr so axisd never blocks on a full pipe.
        Thread.detachNewThread { while !reader.availableData.isEmpty {} }
        return DemoProcess(process: process, data: data, port: port)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: data)
    }
}
