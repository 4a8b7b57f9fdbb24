import Foundation
import XCTest

/// A throwaway test PKI built with the `openssl` command-line tool only (never with Axis code), plus
/// two signers that do not share code with Axis: `openssl cms -sign` and Python `cryptography`
/// (Tests/tools/cms_sign.py; for Ed25519 with asn1crypto), and an Ed25519 CMS verifier in Python
/// (Tests/tools/cms_verify_ed25519.py). Tests of the Axis signature code use them as independent oracles.
///
/// Layout of `directory`:
///
///     trust/root.pem                    "Axis Test Root CA" (RSA-2048, CA:TRUE, 2019-01-01 … 2100-01-01)
///     intermediates/intermediate.pem    "Axis Test Intermediate CA" (EC P-384, CA:TRUE pathlen:0), issued by the root
///     crl/root.crl.pem                  root CRL (lists nothing), lastUpdate now, nextUpdate now + 30 days
///     crl/intermediate.crl.pem          intermediate CRL, lists `revoked` (keyCompromise, revoked one day ago)
///     untrusted/root.pem                "Axis Untrusted Root" (EC P-256), unrelated to the root above
///     untrusted/root.crl.pem            its (empty) CRL
///     leaves/<name>.pem, <name>.key     leaf certificate and unencrypted PKCS#8 private key (see `LeafName`)
///     ca/…                              the CAs' keys, `openssl ca` configs and index.txt databases
///     work/…                            scratch files of the signers
///
/// Leaves are `C=VN, O=<organization>, OU=<agency code>, CN=<name>`; ordinary ones are valid from 30 days
/// before generation to 365 days after, with keyUsage = critical, digitalSignature, nonRepudiation.
///
/// `TestPKI.shared()` generates one PKI per test process (1–2 s here, dominated by RSA-3072 key
/// generation, which runs in parallel) in a temp directory removed when the process exits.
final class TestPKI: Sendable {
    /// The leaf certificates the PKI holds.
    enum LeafName: String, CaseIterable, Sendable {
        /// RSA-2048, main agency, valid now.
        case rsa2048
        /// RSA-3072, main agency, valid now.
        case rsa3072
        /// EC P-256, main agency, valid now.
        case ecP256
        /// EC P-384, main agency, valid now.
        case ecP384
        /// Ed25519, main agency, valid now. `openssl cms` (OpenSSL 3.0) cannot make a CMS signature with it
        /// (no EdDSA: openssl/openssl#11915), so `opensslSign` throws `XCTSkip` for it; `pythonSign` builds
        /// the RFC 8419 structure itself (asn1crypto plus cryptography's Ed25519 primitive, always SHA-512).
        case ed25519
        /// EC P-256, main agency, valid 2020-01-01 … 2021-01-01.
        case expired
        /// EC P-256, main agency, valid 2099-01-01 … 2099-12-31.
        case notYetValid
        /// EC P-256, main agency, valid now, revoked (keyCompromise) one day before generation; listed in
        /// crl/intermediate.crl.pem.
        case revoked
        /// RSA-2048, main agency, valid now, keyUsage = critical, keyEncipherment only.
        case noSigningUsage
        /// EC P-256, valid signing certificate of a different agency (`TestPKI.otherOrganization`,
        /// `TestPKI.otherAgencyCode`).
        case otherAgency
        /// EC P-256, valid now, issued by "Axis Untrusted Root" (no intermediate), with the *main* agency's
        /// O and OU: a look-alike that only the chain check rejects.
        case untrusted
    }

    /// One leaf certificate and everything a test needs about it.
    struct Leaf: Sendable {
        let name: LeafName
        /// The certificate, PEM.
        let certPath: String
        /// Its private key, unencrypted PKCS#8 PEM.
        let keyPath: String
        /// The CA certificates between the leaf and its root, nearest first; the root is not included
        /// (`[intermediate.pem]` for every leaf but `untrusted`, which has `[]`).
        let chainPaths: [String]
        /// The root the leaf chains to: `trust/root.pem`, or `untrusted/root.pem` for `untrusted`.
        let rootPath: String
        let organization: String
        let agencyCode: String
        let commonName: String
        /// As Axis prints it: `RSA-2048`, `RSA-3072`, `EC P-256`, `EC P-384` or `Ed25519`.
        let keyAlgorithm: String
        /// Upper-case hex serial as `openssl x509 -serial` prints it, e.g. `2003`.
        let serialHex: String
        /// SHA-256 of the certificate's DER, lower-case hex without separators (from `openssl x509 -fingerprint`).
        let fingerprintSHA256: String
        let notBefore: Date
        let notAfter: Date
        /// Set for `revoked` only: the revocation date the intermediate's CRL lists.
        let revokedAt: Date?
    }

    /// How to sign. The defaults are the common case: detached, DER, SHA-256, signed attributes (with
    /// signing time), RSA PKCS#1 v1.5, signer certificate and intermediate included.
    struct SignOptions: Sendable {
        enum Digest: String, Sendable, CaseIterable { case sha256, sha384, sha512 }
        /// Ignored for `ed25519` by `pythonSign`: RFC 8419 §3.1 fixes SHA-512 there.
        var digest: Digest = .sha256
        /// false: no signed attributes (`-noattr` / `NoAttributes`): no signing time, the signature covers
        /// the content itself.
        var signedAttributes = true
        /// RSA-PSS (MGF1 with `digest`). openssl uses its default salt length (OpenSSL 3.0: maximal, 222
        /// bytes for RSA-2048/SHA-256); the Python signer uses the digest length. Only for RSA leaves.
        var rsaPSS = false
        /// Put the leaf's `chainPaths` into the SignedData (`-certfile`).
        var includeChain = true
        /// Put the signer certificate into the SignedData. false: openssl `-nocerts` (the chain, if
        /// included, is still there); Python `NoCerts` (no certificates at all).
        var includeSignerCertificate = true
        /// false: the content is embedded (`-nodetach`); true: a detached signature.
        var detached = true
        /// PEM output (`-----BEGIN CMS-----` from openssl, `-----BEGIN PKCS7-----` from Python) instead of DER.
        var pem = false

        init(digest: Digest = .sha256, signedAttributes: Bool = true, rsaPSS: Bool = false, includeChain: Bool = true,
             includeSignerCertificate: Bool = true, detached: Bool = true, pem: Bool = false) {
            self.digest = digest
            self.signedAttributes = signedAttributes
            self.rsaPSS = rsaPSS
            self.includeChain = includeChain
            self.includeSignerCertificate = includeSignerCertificate
            self.detached = detached
            self.pem = pem
        }
    }

    static let organization = "Axis Test Ministry"
    static let agencyCode = "000.00.00.G22"
    static let otherOrganization = "Axis Test Province"
    static let otherAgencyCode = "000.00.00.H29"

    /// The PKI's root directory (see the layout above).
    let directory: String
    /// Holds `root.pem`, the one trust anchor.
    var trustDirectory: String { directory + "/trust" }
    var rootPEMPath: String { trustDirectory + "/root.pem" }
    /// Holds `intermediate.pem`.
    var intermediatesDirectory: String { directory + "/intermediates" }
    var intermediatePEMPath: String { intermediatesDirectory + "/intermediate.pem" }
    /// Holds `root.crl.pem` and `intermediate.crl.pem`.
    var crlDirectory: String { directory + "/crl" }
    var rootCRLPath: String { crlDirectory + "/root.crl.pem" }
    var intermediateCRLPath: String { crlDirectory + "/intermediate.crl.pem" }
    /// "Axis Untrusted Root": trusted by nothing; issuer of the `untrusted` leaf.
    var untrustedRootPEMPath: String { directory + "/untrusted/root.pem" }
    var untrustedRootCRLPath: String { directory + "/untrusted/root.crl.pem" }
    /// Wall-clock seconds the generation took.
    let generationSeconds: Double

    private let leaves: [LeafName: Leaf]

    /// The leaf called `name`.
    func leaf(_ name: LeafName) -> Leaf {
        // Every LeafName is generated by init (it fails otherwise), so the lookup cannot miss; the
        // fallback only keeps this non-optional without a force unwrap.
        leaves[name] ?? Leaf(name: name, certPath: "", keyPath: "", chainPaths: [], rootPath: "", organization: "",
                             agencyCode: "", commonName: "", keyAlgorithm: "", serialHex: "", fingerprintSHA256: "",
                             notBefore: .distantPast, notAfter: .distantPast, revokedAt: nil)
    }

    // MARK: - Shared instance

    /// The PKI of this test process: generated on first use (thread-safe), in a temp directory removed at
    /// exit. A failed generation is remembered, so every later caller gets the same error quickly.
    static func shared() throws -> TestPKI {
        try sharedState.lock.withLock {
            if let result = sharedState.result { return try result.get() }
            let path = NSTemporaryDirectory() + "axis-pki-\(getpid())-\(UUID().uuidString.prefix(8))"
            let result: Result<TestPKI, TestPKIError>
            do {
                result = .success(try TestPKI(generatingIn: path))
            } catch {
                result = .failure(TestPKIError("generating the test PKI in \(path) failed: \(error)"))
            }
            sharedState.result = result
            sharedState.directory = path
            atexit { removeSharedTestPKIDirectory() }
            return try result.get()
        }
    }

    // MARK: - Generation

    private struct LeafSpec {
        let name: LeafName
        let keyAlgorithm: String
        let organization: String
        let agencyCode: String
        let extensions: String
        let validity: Validity
        let untrusted: Bool
    }

    private enum Validity {
        case current
        case fixed(start: String, end: String)
    }

    private static let leafSpecs: [LeafSpec] = [
        LeafSpec(name: .rsa2048, keyAlgorithm: "RSA-2048", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .rsa3072, keyAlgorithm: "RSA-3072", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .ecP256, keyAlgorithm: "EC P-256", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .ecP384, keyAlgorithm: "EC P-384", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .ed25519, keyAlgorithm: "Ed25519", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .expired, keyAlgorithm: "EC P-256", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .fixed(start: "20200101000000Z", end: "20210101000000Z"), untrusted: false),
        LeafSpec(name: .notYetValid, keyAlgorithm: "EC P-256", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .fixed(start: "20990101000000Z", end: "20991231000000Z"), untrusted: false),
        LeafSpec(name: .revoked, keyAlgorithm: "EC P-256", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .noSigningUsage, keyAlgorithm: "RSA-2048", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_no_signing", validity: .current, untrusted: false),
        LeafSpec(name: .otherAgency, keyAlgorithm: "EC P-256", organization: otherOrganization, agencyCode: otherAgencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: false),
        LeafSpec(name: .untrusted, keyAlgorithm: "EC P-256", organization: organization, agencyCode: agencyCode,
                 extensions: "v3_leaf", validity: .current, untrusted: true),
    ]

    private static func commonName(_ name: LeafName) -> String { "Axis Test Signer \(name.rawValue)" }

    /// `openssl req -newkey` arguments for an algorithm name as `Leaf.keyAlgorithm` spells it.
    private static func newKeyArguments(_ algorithm: String) throws -> [String] {
        switch algorithm {
        case "RSA-2048": return ["-newkey", "rsa:2048"]
        case "RSA-3072": return ["-newkey", "rsa:3072"]
        case "EC P-256": return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        case "EC P-384": return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]
        case "Ed25519": return ["-newkey", "ed25519"]
        default: throw TestPKIError("unknown key algorithm \(algorithm)")
        }
    }

    /// Generates a complete PKI in `directory` (created if missing; should be empty) with the `openssl` CLI.
    init(generatingIn directory: String) throws {
        let started = Date()
        let fm = FileManager.default
        let now = Date()
        let day: TimeInterval = 86_400
        let currentStart = Self.opensslTime(now.addingTimeInterval(-30 * day))
        let currentEnd = Self.opensslTime(now.addingTimeInterval(365 * day))
        let revokedAt = Date(timeIntervalSince1970: (now.timeIntervalSince1970 - day).rounded(.down))

        for sub in ["trust", "intermediates", "crl", "untrusted", "leaves", "work", "ca"] {
            try fm.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        let root = try CA(directory: directory + "/ca/root", firstSerial: "1000")
        let intermediate = try CA(directory: directory + "/ca/intermediate", firstSerial: "2000")
        let untrustedRoot = try CA(directory: directory + "/ca/untrusted", firstSerial: "3000")
        let leafDirectory = directory + "/leaves"

        // 1. Every key and CSR at once (RSA key generation dominates; in parallel it costs the slowest one).
        let pkiSubject = "/C=VN/O=Axis Test PKI/CN="
        var requests: [[String]] = [
            root.request(key: ["-newkey", "rsa:2048"], subject: pkiSubject + "Axis Test Root CA"),
            intermediate.request(key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
                                 subject: pkiSubject + "Axis Test Intermediate CA"),
            untrustedRoot.request(key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                                  subject: "/C=VN/O=Axis Untrusted PKI/CN=Axis Untrusted Root"),
        ]
        for spec in Self.leafSpecs {
            let subject = "/C=VN/O=\(spec.organization)/OU=\(spec.agencyCode)/CN=\(Self.commonName(spec.name))"
            requests.append(["req", "-new", "-config", intermediate.config] + (try Self.newKeyArguments(spec.keyAlgorithm))
                + ["-nodes", "-keyout", "\(leafDirectory)/\(spec.name.rawValue).key", "-subj", subject,
                   "-out", "\(leafDirectory)/\(spec.name.rawValue).csr"])
        }
        try Self.openssl(parallel: requests, logDirectory: directory + "/work")

        // 2. Certificates, one `openssl ca` at a time per database.
        let caStart = "20190101000000Z", caEnd = "21000101000000Z"
        try root.issue(csr: root.csr, out: root.cert, extensions: "v3_root", start: caStart, end: caEnd, selfSign: true, signer: root)
        try intermediate.issue(csr: intermediate.csr, out: intermediate.cert, extensions: "v3_intermediate",
                               start: caStart, end: caEnd, selfSign: false, signer: root)
        try untrustedRoot.issue(csr: untrustedRoot.csr, out: untrustedRoot.cert, extensions: "v3_root",
                                start: caStart, end: caEnd, selfSign: true, signer: untrustedRoot)
        for spec in Self.leafSpecs {
            let issuer = spec.untrusted ? untrustedRoot : intermediate
            var (start, end) = (currentStart, currentEnd)
            if case .fixed(let fixedStart, let fixedEnd) = spec.validity { (start, end) = (fixedStart, fixedEnd) }
            try issuer.issue(csr: "\(leafDirectory)/\(spec.name.rawValue).csr", out: "\(leafDirectory)/\(spec.name.rawValue).pem",
                             extensions: spec.extensions, start: start, end: end, selfSign: false, signer: issuer)
        }

        // 3. Revoke `revoked` with a revocation date one day in the past (`openssl ca -revoke` can only say
        //    "now", which would tie with the signing time of a signature made right away).
        let revokedPath = "\(leafDirectory)/\(LeafName.revoked.rawValue).pem"
        let revokedSerial = try Self.certificateFacts(revokedPath, logDirectory: directory + "/work").serial
        try intermediate.markRevoked(serialHex: revokedSerial, at: revokedAt, reason: "keyCompromise")

        // 4. Published files, CRLs and the facts tests compare against.
        try fm.copyItem(atPath: root.cert, toPath: directory + "/trust/root.pem")
        try fm.copyItem(atPath: intermediate.cert, toPath: directory + "/intermediates/intermediate.pem")
        try fm.copyItem(atPath: untrustedRoot.cert, toPath: directory + "/untrusted/root.pem")
        try Self.openssl(parallel: [
            root.generateCRL(out: directory + "/crl/root.crl.pem"),
            intermediate.generateCRL(out: directory + "/crl/intermediate.crl.pem"),
            untrustedRoot.generateCRL(out: directory + "/untrusted/root.crl.pem"),
        ], logDirectory: directory + "/work")

        var leaves: [LeafName: Leaf] = [:]
        for spec in Self.leafSpecs {
            let certPath = "\(leafDirectory)/\(spec.name.rawValue).pem"
            let facts = try Self.certificateFacts(certPath, logDirectory: directory + "/work")
            leaves[spec.name] = Leaf(
                name: spec.name, certPath: certPath, keyPath: "\(leafDirectory)/\(spec.name.rawValue).key",
                chainPaths: spec.untrusted ? [] : [directory + "/intermediates/intermediate.pem"],
                rootPath: spec.untrusted ? directory + "/untrusted/root.pem" : directory + "/trust/root.pem",
                organization: spec.organization, agencyCode: spec.agencyCode, commonName: Self.commonName(spec.name),
                keyAlgorithm: spec.keyAlgorithm, serialHex: facts.serial, fingerprintSHA256: facts.fingerprint,
                notBefore: facts.notBefore, notAfter: facts.notAfter, revokedAt: spec.name == .revoked ? revokedAt : nil)
            try? fm.removeItem(atPath: "\(leafDirectory)/\(spec.name.rawValue).csr")
        }
        self.directory = directory
        self.leaves = leaves
        self.generationSeconds = Date().timeIntervalSince(started)
    }

    /// One CA: key, certificate, `openssl ca` config and database under `directory`.
    private struct CA {
        let directory: String
        var key: String { directory + "/key.pem" }
        var cert: String { directory + "/cert.pem" }
        var csr: String { directory + "/csr.pem" }
        var config: String { directory + "/ca.cnf" }
        var database: String { directory + "/index.txt" }

        init(directory: String, firstSerial: String) throws {
            self.directory = directory
            let fm = FileManager.default
            try fm.createDirectory(atPath: directory + "/newcerts", withIntermediateDirectories: true)
            try Data().write(to: URL(fileURLWithPath: directory + "/index.txt"))
            try Data((firstSerial + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/serial"))
            try Data("1000\n".utf8).write(to: URL(fileURLWithPath: directory + "/crlnumber"))
            try Data(Self.configText(directory).utf8).write(to: URL(fileURLWithPath: config))
        }

        static func configText(_ dir: String) -> String {
            """
            # Generated by Tests/AxisTests/Support/TestPKI.swift.
            [ ca ]
            default_ca = CA_default

            [ CA_default ]
            dir = \(dir)
            database = $dir/index.txt
            new_certs_dir = $dir/newcerts
            serial = $dir/serial
            crlnumber = $dir/crlnumber
            default_md = sha256
            policy = policy_any
            unique_subject = no
            preserve = yes
            email_in_dn = no
            copy_extensions = none
            default_crl_days = 30

            [ policy_any ]
            countryName = optional
            organizationName = optional
            organizationalUnitName = optional
            commonName = supplied

            [ req ]
            distinguished_name = req_dn
            string_mask = utf8only
            utf8 = yes
            prompt = no

            [ req_dn ]
            CN = unused

            [ v3_root ]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid:always

            [ v3_intermediate ]
            basicConstraints = critical,CA:TRUE,pathlen:0
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid:always

            [ v3_leaf ]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,nonRepudiation
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid:always

            [ v3_no_signing ]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,keyEncipherment
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid:always

            """
        }

        func request(key: [String], subject: String) -> [String] {
            ["req", "-new", "-config", config] + key + ["-nodes", "-keyout", self.key, "-subj", subject, "-out", csr]
        }

        func issue(csr: String, out: String, extensions: String, start: String, end: String, selfSign: Bool, signer: CA) throws {
            var arguments = ["ca", "-batch", "-config", signer.config, "-keyfile", signer.key, "-in", csr, "-out", out,
                             "-notext", "-startdate", start, "-enddate", end, "-extensions", extensions]
            arguments += selfSign ? ["-selfsign"] : ["-cert", signer.cert]
            try TestPKI.openssl(arguments, logDirectory: signer.directory)
        }

        func generateCRL(out: String) -> [String] {
            ["ca", "-batch", "-config", config, "-keyfile", key, "-cert", cert, "-gencrl", "-crldays", "30", "-out", out]
        }

        /// Marks `serialHex` revoked in index.txt (the format `openssl ca -revoke` writes:
        /// `R <expiry> <revocation time>,<reason> <serial> unknown <subject>`, tab-separated).
        func markRevoked(serialHex: String, at date: Date, reason: String) throws {
            let text = try String(contentsOfFile: database, encoding: .utf8)
            var found = false
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                var fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard fields.count >= 6, fields[0] == "V", fields[3].uppercased() == serialHex.uppercased() else { return String(line) }
                found = true
                fields[0] = "R"
                fields[2] = TestPKI.utcTime(date) + "," + reason
                return fields.joined(separator: "\t")
            }
            guard found else { throw TestPKIError("serial \(serialHex) is not a valid entry of \(database):\n\(text)") }
            try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: database))
        }
    }

    private struct CertificateFacts {
        let serial: String
        let fingerprint: String
        let notBefore: Date
        let notAfter: Date
    }

    private static func certificateFacts(_ path: String, logDirectory: String) throws -> CertificateFacts {
        let output = try openssl(["x509", "-in", path, "-noout", "-serial", "-fingerprint", "-sha256",
                                  "-startdate", "-enddate", "-dateopt", "iso_8601"], logDirectory: logDirectory)
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let serial = values["serial"], let fingerprint = values["sha256 Fingerprint"],
              let notBefore = values["notBefore"].flatMap(parseISOTime), let notAfter = values["notAfter"].flatMap(parseISOTime)
        else { throw TestPKIError("cannot read `openssl x509` output for \(path):\n\(output)") }
        return CertificateFacts(serial: serial, fingerprint: fingerprint.replacingOccurrences(of: ":", with: "").lowercased(),
                                notBefore: notBefore, notAfter: notAfter)
    }

    // MARK: - Signing

    /// A detached (by default) CMS SignedData over `document` made by `openssl cms -sign -binary`, DER unless
    /// `options.pem`. Throws `XCTSkip` for `ed25519` (OpenSSL 3.0's cms cannot sign with EdDSA).
    func opensslSign(_ document: [UInt8], leaf name: LeafName, options: SignOptions = SignOptions()) throws -> [UInt8] {
        let leaf = self.leaf(name)
        if name == .ed25519 {
            throw XCTSkip("`openssl cms -sign` (OpenSSL 3.0) cannot make Ed25519 signatures (openssl/openssl#11915)")
        }
        try checkPSS(options, leaf)
        return try withScratch { input, output in
            try Data(document).write(to: URL(fileURLWithPath: input))
            var arguments = ["cms", "-sign", "-binary", "-in", input, "-signer", leaf.certPath, "-inkey", leaf.keyPath,
                             "-md", options.digest.rawValue, "-outform", options.pem ? "PEM" : "DER", "-out", output]
            if !options.signedAttributes { arguments.append("-noattr") }
            if options.rsaPSS { arguments += ["-keyopt", "rsa_padding_mode:pss"] }
            if !options.includeSignerCertificate { arguments.append("-nocerts") }
            if !options.detached { arguments.append("-nodetach") }
            if options.includeChain, !leaf.chainPaths.isEmpty {
                arguments += ["-certfile", try bundle(leaf.chainPaths, next: input)]
            }
            try Self.openssl(arguments, logDirectory: directory + "/work")
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        }
    }

    /// Same as `opensslSign`, made by Python `cryptography`'s `PKCS7SignatureBuilder` (Tests/tools/cms_sign.py);
    /// for `ed25519` the script assembles the RFC 8419 SignedData with asn1crypto and signs with
    /// cryptography's Ed25519 primitive, always with SHA-512 (`options.digest` is ignored; the other options
    /// apply). Throws `XCTSkip` for anything the script reports as unsupported (exit status 3); fails when
    /// python3, `cryptography` or (for Ed25519) `asn1crypto` is missing.
    func pythonSign(_ document: [UInt8], leaf name: LeafName, options: SignOptions = SignOptions()) throws -> [UInt8] {
        let leaf = self.leaf(name)
        try checkPSS(options, leaf)
        let digest = name == .ed25519 ? SignOptions.Digest.sha512 : options.digest
        return try withScratch { input, output in
            try Data(document).write(to: URL(fileURLWithPath: input))
            var arguments = [Self.pythonSignerPath(), "--cert", leaf.certPath, "--key", leaf.keyPath, "--in", input,
                             "--out", output, "--hash", digest.rawValue]
            if !options.signedAttributes { arguments.append("--no-attributes") }
            if options.rsaPSS { arguments.append("--pss") }
            if !options.includeSignerCertificate { arguments.append("--no-certs") }
            if !options.detached { arguments.append("--attached") }
            if options.pem { arguments.append("--pem") }
            if options.includeChain { for path in leaf.chainPaths { arguments += ["--certfile", path] } }
            let result = try Self.run("python3", arguments, logDirectory: directory + "/work")
            switch result.status {
            case 0: return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
            case 3: throw XCTSkip("cms_sign.py: \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            case 4: throw Self.missingPythonLibrary(result)
            default: throw TestPKIError("python3 cms_sign.py failed (exit \(result.status)):\n\(result.output)")
            }
        }
    }

    /// The verdict of Tests/tools/cms_verify_ed25519.py on a detached Ed25519 CMS signature.
    struct PythonVerification: Sendable {
        /// true: the signature is valid over `content` (RFC 8419 / RFC 5652 §5.4; the chain is not checked).
        let valid: Bool
        /// The script's one-line verdict: `valid: …` or `invalid: <why>`.
        let message: String
    }

    /// Verifies a detached Ed25519 CMS `signature` (DER or PEM) over `content` with Python only (asn1crypto
    /// parses, cryptography's Ed25519 primitive checks): true when valid, false when invalid. The chain is
    /// not checked. Fails when python3, `cryptography` or `asn1crypto` is missing, or on a usage error.
    func pythonVerifyEd25519(signature: [UInt8], content: [UInt8]) throws -> Bool {
        try pythonVerifyEd25519Verdict(signature: signature, content: content).valid
    }

    /// `pythonVerifyEd25519` with the script's reason, for messages and for asserting why it rejects.
    func pythonVerifyEd25519Verdict(signature: [UInt8], content: [UInt8]) throws -> PythonVerification {
        try withScratch { contentPath, signaturePath in
            try Data(content).write(to: URL(fileURLWithPath: contentPath))
            try Data(signature).write(to: URL(fileURLWithPath: signaturePath))
            let result = try Self.run("python3", [Self.pythonToolPath("cms_verify_ed25519.py"), "--signature", signaturePath,
                                                  "--content", contentPath], logDirectory: directory + "/work")
            let message = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            switch result.status {
            case 0: return PythonVerification(valid: true, message: message)
            case 1: return PythonVerification(valid: false, message: message)
            case 4: throw Self.missingPythonLibrary(result)
            default: throw TestPKIError("python3 cms_verify_ed25519.py failed (exit \(result.status)):\n\(result.output)")
            }
        }
    }

    private static func missingPythonLibrary(_ result: ProcessResult) -> TestPKIError {
        TestPKIError("a Python library is missing: `python3 -m pip install cryptography asn1crypto` or "
            + "`apt-get install python3-cryptography python3-asn1crypto` (.ci/run does this); \(result.output)")
    }

    /// Tests/tools/cms_sign.py, found from this source file's path.
    static func pythonSignerPath(_ filePath: String = #filePath) -> String {
        pythonToolPath("cms_sign.py", filePath)
    }

    /// Tests/tools/<name>, found from this source file's path.
    static func pythonToolPath(_ name: String, _ filePath: String = #filePath) -> String {
        // <package>/Tests/AxisTests/Support/TestPKI.swift → <package>/Tests/tools/<name>
        URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools").appendingPathComponent(name).path
    }

    private func checkPSS(_ options: SignOptions, _ leaf: Leaf) throws {
        if options.rsaPSS, !leaf.keyAlgorithm.hasPrefix("RSA") {
            throw TestPKIError("rsaPSS needs an RSA leaf; \(leaf.name) is \(leaf.keyAlgorithm)")
        }
    }

    /// Runs `body` with two fresh scratch paths (input, output) under work/, removed afterwards.
    private func withScratch<T>(_ body: (String, String) throws -> T) throws -> T {
        let base = "\(directory)/work/\(UUID().uuidString)"
        defer {
            for suffix in [".in", ".out", ".chain"] { try? FileManager.default.removeItem(atPath: base + suffix) }
        }
        return try body(base + ".in", base + ".out")
    }

    /// One PEM file holding `paths` (the path itself when there is one), next to the scratch input `next`.
    private func bundle(_ paths: [String], next input: String) throws -> String {
        if paths.count == 1 { return paths[0] }
        var data = Data()
        for path in paths { data.append(try Data(contentsOf: URL(fileURLWithPath: path))) }
        let bundlePath = (input as NSString).deletingPathExtension + ".chain"
        try data.write(to: URL(fileURLWithPath: bundlePath))
        return bundlePath
    }

    // MARK: - Processes

    /// Runs `openssl arguments…` and returns its stdout; a non-zero exit throws with the output.
    @discardableResult
    static func openssl(_ arguments: [String], logDirectory: String) throws -> String {
        let result = try run("openssl", arguments, logDirectory: logDirectory)
        guard result.status == 0 else {
            throw TestPKIError("openssl \(arguments.joined(separator: " ")) failed (exit \(result.status)):\n\(result.output)")
        }
        return result.stdout
    }

    /// Runs several `openssl` commands at the same time and waits for all; any failure throws.
    static func openssl(parallel commands: [[String]], logDirectory: String) throws {
        let running = try commands.map { try RunningProcess(tool: "openssl", arguments: $0, logDirectory: logDirectory) }
        var failures: [String] = []
        for process in running {
            let result = try process.finish()
            if result.status != 0 {
                failures.append("openssl \(process.arguments.joined(separator: " ")) failed (exit \(result.status)):\n\(result.output)")
            }
        }
        if !failures.isEmpty { throw TestPKIError(failures.joined(separator: "\n")) }
    }

    /// Runs `tool` (looked up on PATH) to completion: exit status, stdout, and stdout + stderr together.
    static func run(_ tool: String, _ arguments: [String], logDirectory: String) throws -> ProcessResult {
        try RunningProcess(tool: tool, arguments: arguments, logDirectory: logDirectory).finish()
    }

    struct ProcessResult: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
        /// stdout then stderr, for messages.
        var output: String { stdout + stderr }
    }

    /// A child started with Foundation `Process` through `/usr/bin/env` (PATH lookup), stdin from
    /// /dev/null, stdout and stderr into files (no pipe can fill up, however much a child prints).
    private final class RunningProcess {
        let arguments: [String]
        private let process = Process()
        private let exited = DispatchSemaphore(value: 0)
        private let stdoutPath: String
        private let stderrPath: String
        private let tool: String

        init(tool: String, arguments: [String], logDirectory: String) throws {
            self.tool = tool
            self.arguments = arguments
            let base = "\(logDirectory)/\(tool)-\(UUID().uuidString)"
            stdoutPath = base + ".stdout"
            stderrPath = base + ".stderr"
            let fm = FileManager.default
            guard fm.createFile(atPath: stdoutPath, contents: nil), fm.createFile(atPath: stderrPath, contents: nil),
                  let out = FileHandle(forWritingAtPath: stdoutPath), let err = FileHandle(forWritingAtPath: stderrPath)
            else { throw TestPKIError("cannot create log files under \(logDirectory)") }
            defer {
                try? out.close()
                try? err.close()
            }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = out
            process.standardError = err
            let exited = self.exited
            process.terminationHandler = { _ in exited.signal() }
            do {
                try process.run()
            } catch {
                throw TestPKIError("cannot start \(tool): \(error)")
            }
        }

        /// Waits (at most `seconds`) for the child to end and collects its output.
        func finish(seconds: Int = 120) throws -> ProcessResult {
            defer {
                try? FileManager.default.removeItem(atPath: stdoutPath)
                try? FileManager.default.removeItem(atPath: stderrPath)
            }
            if exited.wait(timeout: .now() + .seconds(seconds)) == .timedOut {
                process.terminate()
                exited.wait()
                throw TestPKIError("\(tool) \(arguments.joined(separator: " ")) did not finish within \(seconds) s")
            }
            let stdout = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            if process.terminationReason == .uncaughtSignal {
                return ProcessResult(status: 128 + process.terminationStatus, stdout: stdout, stderr: stderr)
            }
            // env exits 127 when the tool is not on PATH.
            if process.terminationStatus == 127, stderr.contains("No such file") {
                throw TestPKIError("`\(tool)` is not installed (or not on PATH): \(stderr)")
            }
            return ProcessResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
        }
    }

    // MARK: - Time formats

    private static let utc = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? .current

    private static func components(_ date: Date) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        return calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    }

    /// `YYYYMMDDHHMMSSZ`, the form `openssl ca -startdate/-enddate` takes.
    static func opensslTime(_ date: Date) -> String {
        let c = components(date)
        return String(format: "%04d%02d%02d%02d%02d%02dZ", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// `YYMMDDHHMMSSZ` (UTCTime), the form of index.txt dates.
    static func utcTime(_ date: Date) -> String { String(opensslTime(date).dropFirst(2)) }

    /// Parses `2020-01-01 00:00:00Z` (`openssl … -dateopt iso_8601`).
    static func parseISOTime(_ text: String) -> Date? {
        let parts = text.split(whereSeparator: { "-: Z".contains($0) }).compactMap { Int($0) }
        guard parts.count == 6 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2],
                                                  hour: parts[3], minute: parts[4], second: parts[5]))
    }
}

/// A failure of the test PKI or its signers, with the tool output in the message.
struct TestPKIError: Error, CustomStringConvertible, Sendable {
    var description: String
    init(_ description: String) { self.description = description }
}

private final class SharedTestPKIState: @unchecked Sendable {
    let lock = NSLock()
    var result: Result<TestPKI, TestPKIError>?
    var directory: String?
}

private let sharedState = SharedTestPKIState()

/// atexit handler: removes the shared PKI's temp directory.
private func removeSharedTestPKIDirectory() {
    if let directory = sharedState.directory { try? FileManager.default.removeItem(atPath: directory) }
}
