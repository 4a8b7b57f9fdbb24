@preconcurrency import Glibc
import Axis
import COpenSSL
import Foundation

/// `axis-bench verify`: detached-signature verification throughput on a warm chain cache, next to
/// `openssl speed` for the same algorithms, measured in the same run.
///
/// Setup (in a temporary directory, removed at the end, also after a failure), with the `openssl`
/// CLI only: a root CA (EC P-256), an empty CRL from it (so revocation is checked as in
/// production), and one leaf per algorithm (RSA-2048, EC P-256, Ed25519) with keyUsage
/// digitalSignature. One random document of `--document-bytes` is signed per algorithm with
/// `DetachedSigner.sign` (signed attributes, signer certificate included). One `SignatureVerifier`
/// with that trust store serves every thread, and every call passes an `AgencyBinding` holding the
/// leaf fingerprints, so all nine checks run; the first verification of each signature must be
/// trusted (it also fills the chain cache: everything after it is the warm-cache path).
///
/// Measurement: for each algorithm and thread count, each thread calls `verify` and reads
/// `isTrusted` in a closed loop. Calls that start during the warm-up or end after the window are
/// not counted; every counted call's latency is kept, so percentiles are exact. Then
/// `openssl speed -mr -seconds S [-multi T] <algorithms>` runs, and its verify/s is the reference.
/// `openssl speed` divides by user CPU time, not wall time, so the CPU-normalized rate is reported
/// too: on a shared machine the two can differ, and `otherCoresBusy` says by how much it was shared.
enum VerifyBenchmark {
    static let spec = CommandSpec(
        "verify",
        summary: "Signature verifications/s (warm chain cache, all checks incl. CRL and agency binding) per algorithm and thread count, next to `openssl speed` verify/s from the same run.",
        options: [
            .value("algorithms", valueName: "LIST", default: "rsa2048,ecdsap256,ed25519",
                   help: "Algorithms, comma-separated (openssl speed names): rsa2048, ecdsap256, ed25519."),
            .value("threads", valueName: "LIST", default: "1,2", help: "Verifier thread counts, comma-separated."),
            .value("seconds", valueName: "S", default: "3", help: "Measured window per run (whole seconds: openssl speed takes no fraction)."),
            .value("warmup-seconds", valueName: "S", default: "0.5", help: "Unmeasured warm-up before each window."),
            .value("document-bytes", valueName: "N", default: "4096", help: "Size of the signed document."),
            .value("dir", valueName: "DIR", default: "/tmp", help: "Where the temporary PKI goes."),
            .value("target-percent", valueName: "P", default: "80", help: "Target: Axis verify/s as a share of openssl speed's."),
            .flag("no-openssl-speed", help: "Skip `openssl speed` (for profiling Axis alone)."),
            .flag("json", help: "Print JSON."),
        ],
        examples: ["axis-bench verify", "axis-bench verify --algorithms rsa2048 --threads 1 --seconds 1 --no-openssl-speed"])

    // MARK: - Configuration

    enum Algorithm: String, Codable, Sendable, CaseIterable {
        case rsa2048, ecdsap256, ed25519

        var label: String {
            switch self {
            case .rsa2048: return "RSA-2048"
            case .ecdsap256: return "ECDSA P-256"
            case .ed25519: return "Ed25519"
            }
        }

        /// `openssl req -newkey …` for the leaf key.
        var newKeyArguments: [String] {
            switch self {
            case .rsa2048: return ["-newkey", "rsa:2048"]
            case .ecdsap256: return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            case .ed25519: return ["-newkey", "ed25519"]
            }
        }

        /// The digest the signed document is hashed with (CMS default for RSA/EC; RFC 8419 for Ed25519).
        var documentDigestNID: Int32 { self == .ed25519 ? NID_sha512 : NID_sha256 }
        var documentDigestName: String { self == .ed25519 ? "SHA-512" : "SHA-256" }

        /// Whether a `openssl speed -mr` result line (`+F2:…`, `+F4:…`, `+F6:…`) is this algorithm's.
        func matches(speedFields f: [Substring]) -> Bool {
            switch self {
            case .rsa2048: return f.count >= 5 && f[0] == "+F2" && f[2] == "2048"
            case .ecdsap256: return f.count >= 5 && f[0] == "+F4" && f[2] == "256"
            case .ed25519: return f.count >= 6 && f[0] == "+F6" && f[3] == "Ed25519"
            }
        }
    }

    struct Config: Codable, Sendable {
        var algorithms: [Algorithm]
        var threads: [Int]
        var seconds: Int
        var warmupSeconds: Double
        var documentBytes: Int
        var baseDirectory: String
        var targetPercent: Double
        var opensslSpeed: Bool
    }

    static func config(from args: ParsedCommand) throws -> Config {
        let text = try args.required("algorithms")
        let algorithms = try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard let a = Algorithm(rawValue: String(part)) else {
                throw args.usageError("option '--algorithms' takes rsa2048, ecdsap256 and/or ed25519 separated by commas, got '\(text)'.")
            }
            return a
        }
        return Config(
            algorithms: algorithms,
            threads: try args.intList("threads", in: 1...256),
            seconds: try args.requiredInt("seconds", in: 1...600),
            warmupSeconds: try args.double("warmup-seconds", in: 0...60),
            documentBytes: try args.requiredInt("document-bytes", in: 1...(64 << 20)),
            baseDirectory: try args.required("dir"),
            targetPercent: try args.double("target-percent", in: 1...1000),
            opensslSpeed: !args.flag("no-openssl-speed"))
    }

    // MARK: - Results

    struct Digest: Codable, Sendable {
        var algorithm: String
        var microsPerDocument: Double
    }

    struct Run: Codable, Sendable {
        var algorithm: Algorithm
        var label: String
        var threads: Int
        var windowSeconds: Double
        var verifications: Int
        /// Share of counted verifications whose report was trusted (must be 1.0).
        var trustedFraction: Double
        var verifiesPerSecond: Double
        var verifiesPerSecondPerThread: Double
        /// Verifications per second of the verifying threads' own CPU time (comparable with
        /// `openssl speed`, which divides by CPU time); summed over threads.
        var verifiesPerCPUSecond: Double
        var latency: LatencySummary
        /// Process CPU seconds per wall second during the window.
        var cpuCoresBusy: Double
        /// Cores other processes kept busy during the window (from /proc/stat).
        var otherCoresBusy: Double
        /// `openssl speed` verify/s for the same algorithm and `-multi` count; nil when skipped.
        var opensslVerifiesPerSecond: Double?
        /// `verifiesPerSecond / opensslVerifiesPerSecond` in percent.
        var ratioPercent: Double?
        var targetPercent: Double
        var met: Bool?
    }

    struct Report: Codable, Sendable {
        var benchmark = "verify"
        var command: String
        var machine: JournalBenchmark.Machine
        var config: Config
        /// One-thread cost of the document digest alone (part of every verification).
        var documentDigests: [Digest]
        /// The exact `openssl speed` command lines run.
        var opensslCommands: [String]
        var runs: [Run]
    }

    // MARK: - Running

    private struct Signed: Sendable {
        let algorithm: Algorithm
        let document: [UInt8]
        let signature: [UInt8]
    }

    static func run(_ config: Config, command: String, progress: (String) -> Void) throws -> Report {
        let temp = try TempDirectory(under: config.baseDirectory, prefix: "axis-bench-verify")
        defer { temp.remove() }
        progress("making a root CA, its CRL and \(config.algorithms.count) leaf certificate(s) with the openssl CLI in \(temp.path) …")
        let pki = try BenchPKI.make(in: temp.path, algorithms: config.algorithms)

        let trust = try TrustStore.load(TrustConfiguration(anchorsFile: pki.rootFile, crlDirectory: pki.crlDirectory))
        let verifier = SignatureVerifier(trust: trust)
        var signed: [Signed] = []
        var fingerprints: [Digest256] = []
        for algorithm in config.algorithms {
            guard let leaf = pki.leaves[algorithm] else { continue }
            let certificates = try Certificate.load(file: leaf.certificateFile)
            guard let certificate = certificates.first else {
                throw AxisError(.config, "\(leaf.certificateFile) holds no certificate")
            }
            let key = try PrivateKey.load(file: leaf.keyFile)
            var generator = SystemRandomNumberGenerator()
            let document = (0..<config.documentBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let signature = try DetachedSigner.sign(document, key: key, certificate: certificate)
            signed.append(Signed(algorithm: algorithm, document: document, signature: signature))
            fingerprints.append(certificate.fingerprint)
        }
        let binding = AgencyBinding(agency: try AgencyCode("BENCH.VERIFY"), fingerprints: fingerprints)

        // Every check must pass before anything is timed: a fast rejection is not a verification.
        for s in signed {
            let report = try verifier.verify(document: s.document, signature: s.signature, binding: binding)
            guard report.isTrusted else {
                throw AxisError(.crypto, "the \(s.algorithm.label) benchmark signature is not trusted, so there is nothing to measure:\n"
                    + report.textLines.joined(separator: "\n"))
            }
            let skipped = report.checks.filter { $0.status != .passed }.map(\.check.rawValue)
            guard skipped.isEmpty else {
                throw AxisError(.crypto, "the \(s.algorithm.label) benchmark signature skipped check(s) \(skipped.joined(separator: ", ")); "
                    + "every check must run:\n" + report.textLines.joined(separator: "\n"))
            }
        }

        var report = Report(command: command, machine: JournalBenchmark.machine(directory: config.baseDirectory), config: config,
                            documentDigests: [], opensslCommands: [], runs: [])
        report.documentDigests = measureDigests(config)

        for threads in config.threads {
            var reference: [Algorithm: Double] = [:]
            if config.opensslSpeed {
                var arguments = ["speed", "-mr", "-seconds", String(config.seconds)]
                if threads > 1 { arguments += ["-multi", String(threads)] }
                arguments += config.algorithms.map(\.rawValue)
                report.opensslCommands.append((["openssl"] + arguments).joined(separator: " "))
                progress("openssl \(arguments.joined(separator: " ")) …")
                reference = try opensslSpeed(arguments, algorithms: config.algorithms)
            }
            for s in signed {
                progress("\(s.algorithm.label), \(threads) thread(s): \(fixed(config.warmupSeconds, 1)) s warm-up + \(config.seconds) s …")
                var run = try measure(s, threads: threads, verifier: verifier, binding: binding, config: config)
                if let base = reference[s.algorithm], base > 0 {
                    run.opensslVerifiesPerSecond = base
                    run.ratioPercent = run.verifiesPerSecond / base * 100
                    run.met = run.verifiesPerSecond / base * 100 >= config.targetPercent
                }
                report.runs.append(run)
            }
        }
        return report
    }

    private struct ThreadResult: Sendable {
        var latencies: [UInt64] = []
        var trusted = 0
        var cpuSeconds = 0.0
        var failure: String?
    }

    private static func measure(_ s: Signed, threads: Int, verifier: SignatureVerifier, binding: AgencyBinding,
                                config: Config) throws -> Run {
        let start = SystemClock.monotonicNanos()
        let from = start + UInt64(config.warmupSeconds * 1e9)
        let until = from + UInt64(config.seconds) * 1_000_000_000

        let window = Locked<(cpu: Double, busy: Double)?>(nil)
        let observed = Latch(count: 1)
        Thread {
            sleep(untilMonotonicNanos: from)
            let cpu0 = processCPUSeconds()
            let system0 = SystemCPU.sample()
            sleep(untilMonotonicNanos: until)
            let cpu1 = processCPUSeconds()
            let system1 = SystemCPU.sample()
            window.update { $0 = (cpu1 - cpu0, SystemCPU.busyCores(from: system0, to: system1, seconds: Double(until - from) / 1e9)) }
            observed.countDown()
        }.start()

        let results: [ThreadResult] = ThreadGroup.run(count: threads, name: "bench-verify") { _ in
            var result = ThreadResult()
            result.latencies.reserveCapacity(1 << 16)
            var cpuStart: Double?
            while true {
                let t0 = SystemClock.monotonicNanos()
                if cpuStart == nil && t0 >= from { cpuStart = threadCPUSeconds() }
                let trusted: Bool
                do {
                    trusted = try verifier.verify(document: s.document, signature: s.signature, binding: binding).isTrusted
                } catch {
                    result.failure = "\(error)"
                    break
                }
                let t1 = SystemClock.monotonicNanos()
                if t1 >= until { break }
                if t0 >= from {
                    result.latencies.append(t1 - t0)
                    if trusted { result.trusted += 1 }
                }
            }
            result.cpuSeconds = cpuStart.map { threadCPUSeconds() - $0 } ?? 0
            return result
        }
        observed.wait()
        if let failure = results.compactMap(\.failure).first {
            throw AxisError(.crypto, "\(s.algorithm.label) verification could not run: \(failure)")
        }
        guard let w = window.read({ $0 }) else { throw AxisError(.crypto, "internal: the window observer stored no measurement") }

        let seconds = Double(until - from) / 1e9
        let latencies = results.flatMap(\.latencies)
        let count = latencies.count
        let trusted = results.reduce(0) { $0 + $1.trusted }
        let perCPU = results.reduce(0.0) { $0 + ($1.cpuSeconds > 0 ? Double($1.latencies.count) / $1.cpuSeconds : 0) }
        return Run(
            algorithm: s.algorithm, label: s.algorithm.label, threads: threads, windowSeconds: seconds,
            verifications: count,
            trustedFraction: count > 0 ? Double(trusted) / Double(count) : 0,
            verifiesPerSecond: Double(count) / seconds,
            verifiesPerSecondPerThread: Double(count) / seconds / Double(threads),
            verifiesPerCPUSecond: perCPU,
            latency: LatencySummary(nanos: latencies),
            cpuCoresBusy: w.cpu / seconds,
            otherCoresBusy: max(0, w.busy - w.cpu / seconds),
            opensslVerifiesPerSecond: nil, ratioPercent: nil, targetPercent: config.targetPercent, met: nil)
    }

    /// One-thread cost of hashing the document once with each digest the algorithms use.
    private static func measureDigests(_ config: Config) -> [Digest] {
        let document = [UInt8](repeating: 0xA5, count: config.documentBytes)
        var seen: Set<Int32> = []
        var out: [Digest] = []
        var sink: UInt8 = 0
        for algorithm in config.algorithms where seen.insert(algorithm.documentDigestNID).inserted {
            guard let name = OBJ_nid2sn(algorithm.documentDigestNID), let md = EVP_MD_fetch(nil, name, nil) else { continue }
            defer { EVP_MD_free(md) }
            var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var length: UInt32 = 0
            let budget: UInt64 = 200_000_000
            var n = 0
            let t0 = SystemClock.monotonicNanos()
            var t1 = t0
            document.withUnsafeBytes { raw in
                repeat {
                    for _ in 0..<64 { _ = EVP_Digest(raw.baseAddress, raw.count, &digest, &length, md, nil) }
                    sink &+= digest[0]
                    n += 64
                    t1 = SystemClock.monotonicNanos()
                } while t1 - t0 < budget
            }
            out.append(Digest(algorithm: algorithm.documentDigestName, microsPerDocument: Double(t1 - t0) / Double(n) / 1000))
        }
        if sink == 42 { printErr("") }  // keeps the optimizer from dropping the work
        return out
    }

    // MARK: - openssl speed

    /// Runs `openssl <arguments>` (a `speed -mr` command) and returns verify/s per algorithm: with
    /// `-multi`, the summed line OpenSSL prints after the children's `Got:` lines.
    private static func opensslSpeed(_ arguments: [String], algorithms: [Algorithm]) throws -> [Algorithm: Double] {
        let output = try BenchPKI.openssl(arguments, in: nil)
        var result: [Algorithm: Double] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("+F") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            for algorithm in algorithms where algorithm.matches(speedFields: fields) {
                if let last = fields.last, let value = Double(last) { result[algorithm] = value }
            }
        }
        let missing = algorithms.filter { result[$0] == nil }.map(\.rawValue)
        guard missing.isEmpty else {
            throw AxisError(.crypto, "`openssl \(arguments.joined(separator: " "))` printed no verify/s for \(missing.joined(separator: ", ")):\n"
                + output.split(separator: "\n").suffix(20).joined(separator: "\n"))
        }
        return result
    }

    // MARK: - Output

    static func render(_ report: Report) -> String {
        var lines = ["axis-bench verify — \(report.machine.date), \(report.machine.processors) CPU(s), \(report.machine.openSSL)",
                     "\(report.config.documentBytes)-byte document, warm chain cache, CRL + agency binding checked, "
                     + "\(report.config.seconds) s per run (openssl speed: verify/s over CPU time)", ""]
        var t = TextTable(["algorithm", "threads", "axis verify/s", "per thread", "per CPU-s", "openssl verify/s", "ratio",
                           "target", "met", "p50 µs", "p99 µs", "trusted", "other cores"])
        for r in report.runs {
            t.add([r.label, String(r.threads), grouped(Int(r.verifiesPerSecond.rounded())),
                   grouped(Int(r.verifiesPerSecondPerThread.rounded())), grouped(Int(r.verifiesPerCPUSecond.rounded())),
                   r.opensslVerifiesPerSecond.map { grouped(Int($0.rounded())) } ?? "–",
                   r.ratioPercent.map { fixed($0, 1) + "%" } ?? "–",
                   fixed(r.targetPercent, 0) + "%",
                   r.met.map { $0 ? "yes" : "NO" } ?? "–",
                   fixed(r.latency.p50Millis * 1000, 1), fixed(r.latency.p99Millis * 1000, 1),
                   fixed(r.trustedFraction * 100, 1) + "%", fixed(r.otherCoresBusy, 2)])
        }
        lines.append(t.render())
        if !report.documentDigests.isEmpty {
            lines.append("")
            lines.append("document digest alone (one thread): " + report.documentDigests
                .map { "\($0.algorithm) \(fixed($0.microsPerDocument, 2)) µs" }.joined(separator: ", "))
        }
        for c in report.opensslCommands { lines.append("reference: " + c) }
        return lines.joined(separator: "\n")
    }
}

/// Calling thread's CPU time (user + system) in seconds.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A throwaway PKI made with the `openssl` CLI: root CA, its (empty) CRL, one leaf per algorithm.
struct BenchPKI {
    struct Leaf {
        var certificateFile: String
        var keyFile: String
    }

    var rootFile: String
    var crlDirectory: String
    var leaves: [VerifyBenchmark.Algorithm: Leaf]

    static func make(in directory: String, algorithms: [VerifyBenchmark.Algorithm]) throws -> BenchPKI {
        func path(_ name: String) -> String { PathJoin.join(directory, name) }
        let rootKey = path("root.key"), rootFile = path("root.pem")
        _ = try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-keyout", rootKey, "-out", rootFile, "-days", "3650", "-sha256",
                         "-subj", "/O=Axis Bench/CN=Axis Bench Root CA",
                         "-addext", "basicConstraints=critical,CA:TRUE",
                         "-addext", "keyUsage=critical,keyCertSign,cRLSign"], in: directory)

        // `openssl ca -gencrl` needs a database (empty: nothing revoked) and a CRL number.
        let config = """
            [ ca ]
            default_ca = bench
            [ bench ]
            database = \(path("index.txt"))
            crlnumber = \(path("crlnumber"))
            default_md = sha256
            default_crl_days = 30

            """
        try write(config, to: path("ca.cnf"))
        try write("", to: path("index.txt"))
        try write("01\n", to: path("crlnumber"))
        let crlDirectory = path("crl")
        try PosixStorage().createDirectory(crlDirectory)
        _ = try openssl(["ca", "-batch", "-config", path("ca.cnf"), "-keyfile", rootKey, "-cert", rootFile,
                         "-gencrl", "-out", PathJoin.join(crlDirectory, "root.crl.pem")], in: directory)

        try write("""
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature
            subjectKeyIdentifier=hash
            authorityKeyIdentifier=keyid

            """, to: path("leaf.ext"))
        var leaves: [VerifyBenchmark.Algorithm: Leaf] = [:]
        for (index, algorithm) in algorithms.enumerated() where leaves[algorithm] == nil {
            let name = algorithm.rawValue
            let leaf = Leaf(certificateFile: path("\(name).pem"), keyFile: path("\(name).key"))
            _ = try openssl(["req", "-new"] + algorithm.newKeyArguments
                            + ["-nodes", "-keyout", leaf.keyFile, "-out", path("\(name).csr"),
                               "-subj", "/O=Axis Bench/CN=\(algorithm.label) signer"], in: directory)
            _ = try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", rootFile, "-CAkey", rootKey,
                             "-set_serial", String(0x1000 + index), "-days", "365", "-sha256",
                             "-extfile", path("leaf.ext"), "-out", leaf.certificateFile], in: directory)
            leaves[algorithm] = leaf
        }
        return BenchPKI(rootFile: rootFile, crlDirectory: crlDirectory, leaves: leaves)
    }

    private static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw AxisError(.storageIO, "cannot write \(path)")
        }
    }

    /// Runs `openssl arguments…` (found on PATH) and returns its standard output and error, merged.
    /// A non-zero exit throws with the output.
    static func openssl(_ arguments: [String], in directory: String?) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw AxisError(.config, "cannot run the openssl command-line tool (is it on PATH?): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw AxisError(.crypto, "`openssl \(arguments.joined(separator: " "))` exited with \(process.terminationStatus):\n"
                + output.split(separator: "\n").suffix(20).joined(separator: "\n"))
        }
        return output
    }
}
