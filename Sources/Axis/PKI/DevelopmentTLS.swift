// TLS credentials for the development PKI, so `axisd --demo` can serve HTTPS and ask every caller
// for a client certificate. Everything is issued by the PKI's root and kept in its own directory:
//
//   tls/README.txt                  what each file is, how to check it, a curl example
//   tls/server.pem, server.key      EC P-256, CN=localhost; keyUsage digitalSignature, extendedKeyUsage
//                                   serverAuth and clientAuth (the axis presents it when it pushes
//                                   documents to recipients' endpoints), subjectAltName DNS:localhost,
//                                   IP:127.0.0.1 (+ hosts given)
//   tls/server-chain.pem            server.pem then the root: what a TLS server presents
//   tls/systems/<code>.pem, .key    one per system, EC P-256: OU=<code>, CN=System <code>;
//                                   keyUsage digitalSignature, extendedKeyUsage clientAuth
//
// Certificates are valid for two years from an hour before `now`, like the PKI's end entities.
// tls/ is not part of `DevelopmentPKI.create`, so a PKI made before it existed still opens unchanged;
// the demo adds tls/ when it is missing. It is written as the PKI is: staged in a hidden sibling
// directory and renamed into place in one step, so it ends up complete or absent. A non-empty tls/
// is refused and no file is ever overwritten; keys are unencrypted and mode 0600.
@preconcurrency import Glibc
import COpenSSL

/// The TLS files of a development PKI: the server's certificate for localhost and one client
/// certificate per system, with the facts tests and the demo need (paths, fingerprints).
public struct DevelopmentTLS: Sendable {
    public static let banner = "DEVELOPMENT — NOT FOR PRODUCTION"

    /// `<pki>/tls`.
    public let directory: String
    /// SHA-256 of the server certificate's DER.
    public let serverFingerprint: Digest256
    /// One per system, sorted by code (`open` cannot know the order they were given in). The
    /// fingerprint is what a system's directory entry registers for TLS client authentication.
    public let systems: [DevelopmentPKI.Credential]

    public var serverCertificatePath: String { path(Files.serverCertificate) }
    public var serverKeyPath: String { path(Files.serverKey) }
    /// The server certificate followed by the root that issued it.
    public var serverChainPath: String { path(Files.serverChain) }
    public var readmePath: String { path(Files.readme) }

    /// The client credential of system `code`, if there is one.
    public func system(_ code: String) -> DevelopmentPKI.Credential? { systems.first { $0.code == code } }

    /// Where the TLS files of `pki` live, whether or not they exist yet.
    public static func directory(of pki: DevelopmentPKI) -> String { pki.path("tls") }

    func path(_ relative: String) -> String { PathJoin.join(directory, relative) }

    /// Relative file names: one place that defines the layout above.
    enum Files {
        static let readme = "README.txt"
        static let serverCertificate = "server.pem"
        static let serverKey = "server.key"
        static let serverChain = "server-chain.pem"
        static let systems = "systems"
        static func systemCertificate(_ code: String) -> String { "systems/\(code).pem" }
        static func systemKey(_ code: String) -> String { "systems/\(code).key" }
        static let directories: [(String, mode_t)] = [(systems, 0o755)]
    }

    /// Names the server certificate always carries; `create` adds the hosts and addresses it is given.
    static let localHost = "localhost"
    static let loopbackIP = "127.0.0.1"
    /// RFC 1035's limit on a whole domain name.
    static let hostLengthMax = 253
}

extension DevelopmentTLS {
    /// Issues the server certificate and one client certificate per code in `systems` into
    /// `<pki>/tls`, which must not exist or be empty. The server certificate always names
    /// `localhost` and `127.0.0.1`; `hosts` and `ips` add to them.
    public static func create(pki: DevelopmentPKI, systems: [String], hosts: [String] = ["localhost"],
                              ips: [String] = ["127.0.0.1"], now: Timestamp) throws -> DevelopmentTLS {
        var seen = Set<String>()
        for code in systems {
            // The code becomes a file name, so it must be a valid agency code (no '/', no "..").
            _ = try AgencyCode(code)
            guard seen.insert(code).inserted else { throw AxisError(.usage, "system \(code) is listed twice") }
            guard commonName(ofSystem: code).unicodeScalars.count <= Issuance.commonNameLengthMax else {
                throw AxisError(.usage, "system code \(code) is too long for the certificate's CN (\"\(commonName(ofSystem: code))\" "
                    + "must be at most \(Issuance.commonNameLengthMax) characters); use a shorter code")
            }
        }
        let alternativeNames = try subjectAlternativeNames(hosts: hosts, ips: ips)
        let directory = directory(of: pki)
        // Refuse before generating keys; the final rename refuses again if a file appears in between.
        guard try isEmptyOrAbsent(directory) else {
            throw AxisError(.config, "\(directory) is not empty: development TLS credentials are never written over existing "
                + "files; use them as they are (DevelopmentTLS.open), or remove \(directory) first to make new ones")
        }
        let (root, rootKey) = try loadRoot(of: pki)

        let issued = Issuance(now: now)
        var serverBuilder = issued.builder(localHost, profile: .endEntity([.digitalSignature]))
        serverBuilder.extraExtensions = [(NID_ext_key_usage, "serverAuth,clientAuth"), (NID_subject_alt_name, alternativeNames)]
        let serverKey = try PrivateKey.generate(.ecP256)
        let server = try serverBuilder.issue(for: serverKey, issuer: root, issuerKey: rootKey)
        var files: [PKIDirectory.File] = [.init(Files.serverCertificate, server.pem), .key(Files.serverKey, try serverKey.pkcs8PEM()),
                                          .init(Files.serverChain, server.pem + root.pem)]

        var credentials: [DevelopmentPKI.Credential] = []
        for code in systems {
            var builder = issued.builder(commonName(ofSystem: code), unit: code, profile: .endEntity([.digitalSignature]))
            builder.extraExtensions = [(NID_ext_key_usage, "clientAuth")]
            let key = try PrivateKey.generate(.ecP256)
            let certificate = try builder.issue(for: key, issuer: root, issuerKey: rootKey)
            files += [.init(Files.systemCertificate(code), certificate.pem), .key(Files.systemKey(code), try key.pkcs8PEM())]
            credentials.append(DevelopmentPKI.Credential(
                code: code, certificatePath: PathJoin.join(directory, Files.systemCertificate(code)),
                keyPath: PathJoin.join(directory, Files.systemKey(code)), fingerprint: certificate.fingerprint,
                algorithm: certificate.publicKeyDescription))
        }
        let tls = DevelopmentTLS(directory: directory, serverFingerprint: server.fingerprint,
                                 systems: credentials.sorted { $0.code < $1.code })
        files.append(.init(Files.readme, tls.readme(createdAt: now, alternativeNames: alternativeNames)))
        try PKIDirectory.publish(files, directories: Files.directories, at: directory)
        return tls
    }

    /// Re-reads what `create` made: certificates for fingerprints, keys to check that each matches its
    /// certificate, and each certificate's signature against the PKI's root. Systems are the
    /// `systems/*.pem` files; the code is the file name.
    public static func open(pki: DevelopmentPKI) throws -> DevelopmentTLS {
        let directory = directory(of: pki)
        let storage = PosixStorage()
        let remedy = "remove \(directory) and run `axisd --demo` again, which makes new TLS credentials when they are missing"
        guard storage.fileExists(directory) else {
            throw AxisError(.config, "\(directory) does not exist: the development PKI has no TLS credentials yet; "
                + "run `axisd --demo` (or DevelopmentTLS.create) to make them")
        }
        for relative in [Files.serverCertificate, Files.serverKey, Files.serverChain, Files.systems] {
            let path = PathJoin.join(directory, relative)
            guard storage.fileExists(path) else { throw AxisError(.config, "\(path) is missing: \(remedy)") }
        }
        let root = try loadRootCertificate(of: pki)

        func load(_ certificate: String, _ key: String) throws -> Certificate {
            let certificatePath = PathJoin.join(directory, certificate), keyPath = PathJoin.join(directory, key)
            guard storage.fileExists(keyPath) else { throw AxisError(.config, "\(keyPath) is missing: \(remedy)") }
            guard let loaded = try Certificate.load(file: certificatePath).first else {
                throw AxisError(.config, "\(certificatePath) holds no certificate: \(remedy)")
            }
            guard loaded.isSigned(by: root) else {
                throw AxisError(.config, "\(certificatePath) was not issued by the PKI's root \(pki.rootCertificatePath) "
                    + "(left from another PKI?): \(remedy)")
            }
            guard try PrivateKey.load(file: keyPath).matches(loaded) else {
                throw AxisError(.config, "\(keyPath) is not the key of \(certificatePath): \(remedy)")
            }
            return loaded
        }
        let server = try load(Files.serverCertificate, Files.serverKey)
        guard try Certificate.load(file: PathJoin.join(directory, Files.serverChain)).first?.fingerprint == server.fingerprint else {
            throw AxisError(.config, "\(PathJoin.join(directory, Files.serverChain)) does not start with "
                + "\(PathJoin.join(directory, Files.serverCertificate)): \(remedy)")
        }
        let codes = try storage.listDirectory(PathJoin.join(directory, Files.systems))
            .filter { $0.hasSuffix(".pem") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(".pem".count)) }
            .sorted()
        let systems = try codes.map { code in
            let certificate = try load(Files.systemCertificate(code), Files.systemKey(code))
            return DevelopmentPKI.Credential(code: code, certificatePath: PathJoin.join(directory, Files.systemCertificate(code)),
                                             keyPath: PathJoin.join(directory, Files.systemKey(code)),
                                             fingerprint: certificate.fingerprint, algorithm: certificate.publicKeyDescription)
        }
        return DevelopmentTLS(directory: directory, serverFingerprint: server.fingerprint, systems: systems)
    }

    /// Opens `<pki>/tls`, or creates it (for `localhost` and `127.0.0.1`) when it is missing or empty.
    /// An existing one must hold a client certificate for every code in `systems`: files are never
    /// rewritten, so a missing system is a `.config` error that says to remove tls/ and start again.
    public static func openOrCreate(pki: DevelopmentPKI, systems: [String], now: Timestamp) throws -> (DevelopmentTLS, created: Bool) {
        let directory = directory(of: pki)
        if try isEmptyOrAbsent(directory) { return (try create(pki: pki, systems: systems, now: now), true) }
        let tls = try open(pki: pki)
        let missing = systems.filter { tls.system($0) == nil }
        guard missing.isEmpty else {
            throw AxisError(.config, "\(directory) has no client certificate for system \(missing.joined(separator: ", ")): "
                + "remove \(directory) and start again to make TLS credentials for every system")
        }
        return (tls, false)
    }
}

extension DevelopmentTLS {
    static func commonName(ofSystem code: String) -> String { "System \(code)" }

    /// `DNS:localhost,IP:127.0.0.1,…` in OpenSSL's configuration syntax. Every name is checked first,
    /// since a comma or colon in one would smuggle in another entry.
    static func subjectAlternativeNames(hosts: [String], ips: [String]) throws -> String {
        var names: [String] = []
        var seen = Set<String>()
        for host in [localHost] + hosts {
            guard isHostName(host) else {
                throw AxisError(.usage, "'\(host.prefix(80))' is not a host name for the TLS certificate: use letters, digits, "
                    + "'-' and '.' (at most \(hostLengthMax) characters), e.g. axis.example.vn")
            }
            if seen.insert("DNS:" + host.lowercased()).inserted { names.append("DNS:" + host) }
        }
        for ip in [loopbackIP] + ips {
            guard let canonical = canonicalIP(ip) else {
                throw AxisError(.usage, "'\(ip.prefix(80))' is not an IP address for the TLS certificate: give an IPv4 or IPv6 "
                    + "address such as 192.0.2.10 or ::1")
            }
            if seen.insert("IP:" + canonical).inserted { names.append("IP:" + ip) }
        }
        return names.joined(separator: ",")
    }

    static func isHostName(_ host: String) -> Bool {
        let bytes = Array(host.utf8)
        guard (1...hostLengthMax).contains(bytes.count) else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { c in
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-")
                }
        }
    }

    /// The address in inet_ntop's form (so `::1` and `0::1` count as one), or nil when it is not one.
    static func canonicalIP(_ text: String) -> String? {
        for family in [AF_INET, AF_INET6] {
            var address = [UInt8](repeating: 0, count: 16)
            guard inet_pton(family, text, &address) == 1 else { continue }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(family, address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return nil
    }

    /// True when `directory` does not exist or is an empty directory.
    static func isEmptyOrAbsent(_ directory: String) throws -> Bool {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            if errno == ENOENT { return true }
            throw AxisError(.storageIO, "cannot inspect \(directory): check its permissions", errno: errno)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw AxisError(.config, "\(directory) exists and is not a directory: remove it so the development TLS credentials can be made there")
        }
        return try PosixStorage().listDirectory(directory).isEmpty
    }

    static func loadRootCertificate(of pki: DevelopmentPKI) throws -> Certificate {
        guard let root = try Certificate.load(file: pki.rootCertificatePath).first else {
            throw AxisError(.config, "\(pki.rootCertificatePath) holds no certificate: is '\(pki.directory)' a directory made by `axisctl pki init`?")
        }
        return root
    }

    /// The root certificate and its key: the issuer of every TLS certificate.
    static func loadRoot(of pki: DevelopmentPKI) throws -> (Certificate, PrivateKey) {
        let root = try loadRootCertificate(of: pki)
        let keyPath = pki.path(DevelopmentPKI.Files.rootKey)
        guard PosixStorage().fileExists(keyPath) else {
            throw AxisError(.config, "\(keyPath) is missing: the root's key is needed to issue TLS certificates; "
                + "make a fresh PKI with `axisctl pki init`")
        }
        let key = try PrivateKey.load(file: keyPath)
        guard key.matches(root) else {
            throw AxisError(.config, "\(keyPath) is not the key of \(pki.rootCertificatePath): make a fresh PKI with `axisctl pki init`")
        }
        return (root, key)
    }

    /// README.txt: the warning first, then each file, then how to check and use them.
    func readme(createdAt now: Timestamp, alternativeNames: String) -> String {
        let rule = String(repeating: "=", count: 72)
        let sample = systems.first?.code ?? "<code>"
        let codeWidth = max(6, systems.map(\.code.count).max() ?? 0)
        let systemLines = systems.isEmpty ? ["  (none)"] : systems.map { s in
            "  " + s.code.padded(to: codeWidth) + "  sha256 " + s.fingerprint.hex
        }
        let rootPath = "../" + DevelopmentPKI.Files.rootCertificate
        let files: [(String, [String])] = [
            (Files.serverCertificate, ["the HTTPS server's certificate (EC P-256, 2 years), issued by the root:",
                                       "CN=\(Self.localHost), extendedKeyUsage serverAuth and clientAuth (push delivery),",
                                       "subjectAltName " + alternativeNames.split(separator: ",").joined(separator: ", ")]),
            (Files.serverKey, ["its private key"]),
            (Files.serverChain, ["server.pem followed by the root: what the server presents"]),
            (Files.systemCertificate("<code>"), ["one client certificate per system (EC P-256, 2 years), issued by the root:",
                                                 "OU=<code>, CN=System <code>, extendedKeyUsage clientAuth"]),
            (Files.systemKey("<code>"), ["its private key"]),
        ]
        let pathWidth = files.map(\.0.count).max() ?? 0
        let fileLines = files.flatMap { path, lines in
            lines.enumerated().map { index, line in
                "  " + (index == 0 ? path.padded(to: pathWidth) : "".padded(to: pathWidth)) + "  " + line
            }
        }
        return """
            \(rule)
                        \(Self.banner)
                        TLS credentials of the development PKI
            \(rule)
            Made by Axis on \(now). Every private key here is
            UNENCRYPTED and every certificate is issued by the development root
            (\(rootPath)). Use them for development, demos and tests only:
            never install them on a production server or give them to a real system.

            Files (run the commands below from this directory)
            \(fileLines.joined(separator: "\n"))
            Private keys are mode 0600.

            Systems (the fingerprint is what the directory registers for the system)
            \(systemLines.joined(separator: "\n"))

            Check them with openssl
              openssl verify -CAfile \(rootPath) -purpose sslserver \(Files.serverCertificate)
              openssl verify -CAfile \(rootPath) -purpose sslclient \(Files.systemCertificate(sample))

            Call the server as a system (PORT: the HTTPS port axisd listens on)
              curl --cacert \(rootPath) --cert \(Files.systemCertificate(sample)) --key \(Files.systemKey(sample)) https://localhost:PORT/...

            To make new ones, remove this directory; axisd --demo makes it again when it is missing.

            """
    }
}

private extension Certificate {
    /// True when `issuer`'s public key verifies this certificate's signature.
    func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.handle) else { return false }
        // X509_verify only reads the key; its C signature lacks `const`.
        let verified = X509_verify(handle, key) == 1
        OpenSSLErrors.clear()  // a failed check is an answer, not an error to report later
        return verified
    }
}

private extension String {
    func padded(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
