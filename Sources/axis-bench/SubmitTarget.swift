@preconcurrency import Glibc
import Axis
import Foundation

extension SubmitBenchmark {
    /// What a client needs from an `axisd --demo`'s demo.json: where the API and the admin socket are,
    /// the trust anchor, and each demo agency's TLS identity (its system's) and signing key.
    struct Target {
        struct Agency {
            var code: String
            /// The client system hosting the agency (its TLS certificate is the system's).
            var system: String
            var tlsCertificate: String
            var tlsKey: String
            var signingCertificate: String
            var signingKey: String
            /// As the development PKI names it: `RSA-2048`, `EC P-256`, `Ed25519`.
            var algorithm: String
        }

        var host = "127.0.0.1"
        var port: UInt16
        var caFile: String
        var intermediateFile: String
        var agencies: [String: Agency]
        /// Agency codes in demo.json order (the demo's own order: G22, G17, H29, H41).
        var order: [String]
        /// axisd's data directory and admin socket, when demo.json names them.
        var dataDirectory: String?
        var adminSocket: String?

        static func load(_ path: String) throws -> Target {
            let data = try FileBytes.read(path, limit: 1 << 20)
            guard let root = try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
                  let api = root["api"] as? String, let colon = api.lastIndex(of: ":"), let port = UInt16(api[api.index(after: colon)...]),
                  let ca = root["caFile"] as? String, let intermediate = root["intermediateFile"] as? String,
                  let list = root["agencies"] as? [[String: Any]] else {
                throw AxisError(.usage, "\(path) is not an axisd demo.json (api, caFile, intermediateFile, agencies)")
            }
            var agencies: [String: Agency] = [:]
            var order: [String] = []
            for entry in list {
                guard let code = entry["code"] as? String else { continue }
                func text(_ key: String) -> String { entry[key] as? String ?? "" }
                agencies[code] = Agency(code: code, system: text("system"), tlsCertificate: text("tlsCertificate"), tlsKey: text("tlsKey"),
                                        signingCertificate: text("signingCertificate"), signingKey: text("signingKey"),
                                        algorithm: text("signingAlgorithm"))
                order.append(code)
            }
            func optional(_ key: String) -> String? { (root[key] as? String).flatMap { $0.isEmpty ? nil : $0 } }
            return Target(port: port, caFile: ca, intermediateFile: intermediate, agencies: agencies, order: order,
                          dataDirectory: optional("dataDir"), adminSocket: optional("adminSocket"))
        }

        func client(_ code: String) throws -> HTTPClient {
            guard let agency = agencies[code] else { throw AxisError(.usage, "demo.json has no agency \(code)") }
            let credential = try TLSCredential.load(certificateChainFile: agency.tlsCertificate, privateKeyFile: agency.tlsKey)
            let context = try TLSContext(.client(trust: try .load(caFile: caFile), credential: credential))
            return try HTTPClient(host: host, port: port, tls: context, serverName: "localhost", timeoutMillis: 30_000)
        }
    }
}

/// `axisd --demo` started for a benchmark: the `axisd` in this binary's own directory (so build both
/// products into the same directory), a fresh data directory,
/// a free port; stopped with SIGTERM and its directory removed at the end.
final class DemoProcess {
    let process: Process
    let data: String
    let port: UInt16

    private init(process: Process, data: String, port: UInt16) {
        (self.process, self.data, self.port) = (process, data, port)
    }

    static func start(in directory: String) throws -> DemoProcess {
        let binary = URL(fileURLWithPath: ownExecutable()).deletingLastPathComponent().appendingPathComponent("axisd").path
        guard access(binary, X_OK) == 0 else {
            throw AxisError(.usage, "no axisd next to axis-bench (\(binary)): build both into the same directory first "
                + "(swift build -c release --product axisd)")
        }
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

    /// This binary's path: /proc/self/exe, so a bare `axis-bench` found on PATH still finds its axisd;
    /// argv[0] where /proc is not mounted.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// CPU seconds (user + system) axisd has used so far, from /proc/<pid>/stat; nil if unreadable.
    func cpuSeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm) ": state is field 3, utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: data)
    }
}
