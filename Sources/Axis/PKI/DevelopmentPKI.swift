// A throwaway PKI for development, demos and tests: a root, an "Agencies CA", CRLs, the axis's own
// signing certificate, one signing certificate per agency, and a revoked and an expired certificate
// to test rejections. Made by `axisctl pki init` and `axisd --demo`.
//
//   README.txt                      what each file is and how to check it with openssl
//   trust/root-ca.pem               root CA, EC P-384 (the trust anchor)
//   private/root-ca.key             (0600, directory 0700)
//   intermediates/agencies-ca.pem   Agencies CA, EC P-256, issued by the root
//   private/agencies-ca.key
//   crl/root-ca.crl.pem             the root's CRL (empty)
//   crl/agencies-ca.crl.pem         the Agencies CA's CRL, listing test/revoked.pem
//   axis/axis.pem, axis.key         the axis's receipt-signing certificate (EC P-256), issued by the root
//   axis/chain.pem                  axis.pem then the root
//   agencies/<code>.pem, .key       per agency, issued by the Agencies CA; RSA-2048, EC P-256, Ed25519 in turn
//   test/revoked.pem, .key          issued to the first agency, revoked
//   test/expired.pem, .key          issued to the first agency, validity entirely in the past
//   (tls/                           TLS credentials, added later and separately: DevelopmentTLS.swift)
//
// Every subject carries O=Axis DEVELOPMENT PKI - NOT FOR PRODUCTION and every key is unencrypted.
// The whole tree is written into a hidden sibling directory and renamed into place in one step, so
// `directory` ends up either complete or untouched; an existing non-empty directory is refused and
// no file is ever overwritten.
@preconcurrency import Glibc

/// The files of a development PKI, with the facts tests and the demo need (paths, fingerprints).
public struct DevelopmentPKI: Sendable {
    /// A certificate and its private key on disk.
    public struct Credential: Sendable, Equatable {
        /// The agency code (OU) the certificate was issued to; `axis` for the axis's own.
        public let code: String
        public let certificatePath: String
        public let keyPath: String
        /// SHA-256 of the certificate's DER: what the agency directory registers.
        public let fingerprint: Digest256
        /// The key algorithm, as `Certificate.publicKeyDescription` prints it (`RSA-2048`, `EC P-256`, `Ed25519`).
        public let algorithm: String
    }

    public static let organization = "Axis DEVELOPMENT PKI - NOT FOR PRODUCTION"
    public static let banner = "DEVELOPMENT PKI — NOT FOR PRODUCTION"

    public let directory: String
    /// The axis's own signing certificate.
    public let axis: Credential
    /// One per agency, sorted by code (`open` cannot know the order they were given in).
    public let agencies: [Credential]
    /// Valid dates, but listed in the Agencies CA's CRL.
    public let revoked: Credential
    /// Issued by the Agencies CA, validity entirely in the past.
    public let expired: Credential

    public var rootCertificatePath: String { path(Files.rootCertificate) }
    public var intermediateCertificatePath: String { path(Files.agenciesCertificate) }
    public var rootCRLPath: String { path(Files.rootCRL) }
    public var agenciesCRLPath: String { path(Files.agenciesCRL) }
    public var readmePath: String { path(Files.readme) }
    public var axisCertificatePath: String { axis.certificatePath }
    public var axisKeyPath: String { axis.keyPath }
    /// The axis certificate followed by the root that issued it.
    public var axisChainPath: String { path(Files.axisChain) }

    /// Anchors from `trust/`, intermediates from `intermediates/`, CRLs from `crl/`.
    public var trustConfiguration: TrustConfiguration {
        TrustConfiguration(anchorsDirectory: path("trust"), intermediatesDirectory: path("intermediates"), crlDirectory: path("crl"))
    }

    /// The credential of agency `code`, if the PKI has one.
    public func agency(_ code: String) -> Credential? { agencies.first { $0.code == code } }

    func path(_ relative: String) -> String { PathJoin.join(directory, relative) }

    /// Relative file names: one place that defines the layout above.
    enum Files {
        static let readme = "README.txt"
        static let rootCertificate = "trust/root-ca.pem"
        static let rootKey = "private/root-ca.key"
        static let agenciesCertificate = "intermediates/agencies-ca.pem"
        static let agenciesKey = "private/agencies-ca.key"
        static let rootCRL = "crl/root-ca.crl.pem"
        static let agenciesCRL = "crl/agencies-ca.crl.pem"
        static let axisCertificate = "axis/axis.pem"
        static let axisKey = "axis/axis.key"
        static let axisChain = "axis/chain.pem"
        static let revokedCertificate = "test/revoked.pem"
        static let revokedKey = "test/revoked.key"
        static let expiredCertificate = "test/expired.pem"
        static let expiredKey = "test/expired.key"
        static func agencyCertificate(_ code: String) -> String { "agencies/\(code).pem" }
        static func agencyKey(_ code: String) -> String { "agencies/\(code).key" }
        /// Directories in creation order, with their modes: only `private/` holds nothing but keys.
        static let directories: [(String, mode_t)] = [("trust", 0o755), ("private", 0o700), ("intermediates", 0o755),
                                                      ("crl", 0o755), ("axis", 0o755), ("agencies", 0o755), ("test", 0o755)]
    }

    /// Re-reads a PKI made by `create`: certificates for fingerprints, keys to check that each matches
    /// its certificate. Agencies are the `agencies/*.pem` files; the code is the file name.
    public static func open(_ directory: String) throws -> DevelopmentPKI {
        let storage = PosixStorage()
        let hint = "is '\(directory)' a directory made by `axisctl pki init`?"
        guard storage.fileExists(PathJoin.join(directory, Files.rootCertificate)) else {
            throw AxisError(.config, "\(PathJoin.join(directory, Files.rootCertificate)) does not exist: \(hint)")
        }
        func credential(_ certificate: String, _ key: String, code: String? = nil) throws -> Credential {
            let certificatePath = PathJoin.join(directory, certificate), keyPath = PathJoin.join(directory, key)
            guard let loaded = try Certificate.load(file: certificatePath).first else {
                throw AxisError(.config, "\(certificatePath) holds no certificate: \(hint)")
            }
            guard try PrivateKey.load(file: keyPath).matches(loaded) else {
                throw AxisError(.config, "\(keyPath) is not the key of \(certificatePath): recreate the PKI with `axisctl pki init`")
            }
            return Credential(code: code ?? loaded.subject.values(of: "OU").first ?? "", certificatePath: certificatePath,
                              keyPath: keyPath, fingerprint: loaded.fingerprint, algorithm: loaded.publicKeyDescription)
        }
        let codes = try storage.listDirectory(PathJoin.join(directory, "agencies"))
            .filter { $0.hasSuffix(".pem") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(".pem".count)) }
            .sorted()
        guard !codes.isEmpty else { throw AxisError(.config, "\(PathJoin.join(directory, "agencies")) holds no <code>.pem: \(hint)") }
        return DevelopmentPKI(
            directory: directory,
            axis: try credential(Files.axisCertificate, Files.axisKey, code: "axis"),
            agencies: try codes.map { try credential(Files.agencyCertificate($0), Files.agencyKey($0), code: $0) },
            revoked: try credential(Files.revokedCertificate, Files.revokedKey),
            expired: try credential(Files.expiredCertificate, Files.expiredKey))
    }
}

extension DevelopmentPKI {
    /// Issues a new PKI into `directory`, which must not exist or be empty (its parent must exist).
    /// Agencies get RSA-2048, EC P-256 and Ed25519 keys in turn, so the four demo agencies cover all three.
    public static func create(at directory: String,
                              agencies: [(code: String, name: String)] = zip(Demo.agencyCodes, Demo.agencyNames).map { (code: $0, name: $1) },
                              now: Timestamp) throws -> DevelopmentPKI {
        guard let first = agencies.first else { throw AxisError(.usage, "a development PKI needs at least one agency") }
        var seen = Set<String>()
        for agency in agencies {
            // The code becomes a file name, so it must be a valid agency code (no '/', no "..").
            _ = try AgencyCode(agency.code)
            guard seen.insert(agency.code).inserted else { throw AxisError(.usage, "agency \(agency.code) is listed twice") }
            guard (1...Issuance.commonNameLengthMax).contains(agency.name.unicodeScalars.count) else {
                throw AxisError(.usage, "agency \(agency.code)'s name must be 1–\(Issuance.commonNameLengthMax) characters "
                    + "(it becomes the certificate's CN); shorten it")
            }
        }
        // Refuse before spending a second on key generation; the final rename refuses again if a
        // file appears in between.
        try PKIDirectory.requireEmptyOrAbsent(directory)

        var files: [PKIDirectory.File] = []
        let issued = Issuance(now: now)
        let rootKey = try PrivateKey.generate(.ecP384)
        let root = try issued.builder("Axis Development Root CA", profile: .authority(pathLength: 1)).selfSigned(key: rootKey)
        let caKey = try PrivateKey.generate(.ecP256)
        let ca = try issued.builder("Axis Development Agencies CA", profile: .authority(pathLength: 0))
            .issue(for: caKey, issuer: root, issuerKey: rootKey)
        files += [.init(Files.rootCertificate, root.pem), .key(Files.rootKey, try rootKey.pkcs8PEM()),
                  .init(Files.agenciesCertificate, ca.pem), .key(Files.agenciesKey, try caKey.pkcs8PEM())]

        func leaf(_ builder: CertificateBuilder, _ algorithm: PrivateKey.Algorithm, issuer: Certificate, issuerKey: PrivateKey,
                  code: String, _ certificatePath: String, _ keyPath: String) throws -> (Credential, Certificate) {
            let key = try PrivateKey.generate(algorithm)
            let certificate = try builder.issue(for: key, issuer: issuer, issuerKey: issuerKey)
            files += [.init(certificatePath, certificate.pem), .key(keyPath, try key.pkcs8PEM())]
            let credential = Credential(code: code, certificatePath: PathJoin.join(directory, certificatePath),
                                        keyPath: PathJoin.join(directory, keyPath), fingerprint: certificate.fingerprint,
                                        algorithm: certificate.publicKeyDescription)
            return (credential, certificate)
        }
        let (axis, axisCertificate) = try leaf(issued.builder("Axis Development Receipt Signer", unit: "axis"), .ecP256,
                                               issuer: root, issuerKey: rootKey, code: "axis", Files.axisCertificate, Files.axisKey)
        files.append(.init(Files.axisChain, axisCertificate.pem + root.pem))

        let cycle: [PrivateKey.Algorithm] = [.rsa(bits: 2048), .ecP256, .ed25519]
        var credentials: [Credential] = []
        for (index, agency) in agencies.enumerated() {
            credentials.append(try leaf(issued.builder(agency.name, unit: agency.code), cycle[index % cycle.count],
                                        issuer: ca, issuerKey: caKey, code: agency.code,
                                        Files.agencyCertificate(agency.code), Files.agencyKey(agency.code)).0)
        }
        // The test certificates use EC keys: they exist to be rejected, and RSA key generation is the slow part.
        let (revoked, revokedCertificate) = try leaf(issued.builder("Revoked test certificate", unit: first.code),
                                                     .ecP256, issuer: ca, issuerKey: caKey, code: first.code,
                                                     Files.revokedCertificate, Files.revokedKey)
        let (expired, _) = try leaf(issued.expiredBuilder("Expired test certificate", unit: first.code),
                                    .ecP256, issuer: ca, issuerKey: caKey, code: first.code,
                                    Files.expiredCertificate, Files.expiredKey)

        let rootCRL = try issued.crl().issue(issuer: root, issuerKey: rootKey)
        // Revoked as of its first valid moment, so every signature it ever makes is after the revocation.
        let caCRL = try issued.crl(revoking: [.init(certificate: revokedCertificate, revokedAt: issued.start)]).issue(issuer: ca, issuerKey: caKey)
        files += [.init(Files.rootCRL, rootCRL.pem), .init(Files.agenciesCRL, caCRL.pem)]

        let pki = DevelopmentPKI(directory: directory, axis: axis, agencies: credentials.sorted { $0.code < $1.code },
                                 revoked: revoked, expired: expired)
        files.append(.init(Files.readme, pki.readme(createdAt: now, root: root, intermediate: ca)))
        try PKIDirectory.publish(files, directories: Files.directories, at: directory)
        return pki
    }
}

/// Names and validity periods for one `create` run (of the PKI, or of its TLS credentials).
struct Issuance {
    static let hourMillis: Int64 = 3_600_000
    static let dayMillis: Int64 = 86_400_000
    /// X.520's upper bound for a common name, which OpenSSL enforces.
    static let commonNameLengthMax = 64
    /// One hour before `now`, so a verifier whose clock runs a little behind still sees valid certificates.
    let start: Timestamp

    init(now: Timestamp) {
        start = Timestamp(millis: now.millis - Self.hourMillis)
    }

    /// CAs for 10 years, signers (keyUsage digitalSignature, nonRepudiation) for 2.
    func builder(_ commonName: String, unit: String? = nil,
                 profile: CertificateBuilder.Profile = .endEntity([.digitalSignature, .nonRepudiation])) -> CertificateBuilder {
        var subject: [(type: String, value: String)] = [("C", "VN"), ("O", DevelopmentPKI.organization)]
        if let unit { subject.append(("OU", unit)) }
        subject.append(("CN", commonName))
        let years: Int32
        if case .authority = profile { years = 10 } else { years = 2 }
        return CertificateBuilder(subject: subject, notBefore: start, notAfter: Self.adding(years: years, to: start), profile: profile)
    }

    /// A two-year certificate that ended a day before `start`.
    func expiredBuilder(_ commonName: String, unit: String) -> CertificateBuilder {
        var builder = builder(commonName, unit: unit)
        builder.notAfter = Timestamp(millis: start.millis - Self.dayMillis)
        builder.notBefore = Self.adding(years: -2, to: builder.notAfter)
        return builder
    }

    /// A CRL valid for 30 days from `start`.
    func crl(revoking entries: [RevocationListBuilder.Entry] = []) -> RevocationListBuilder {
        RevocationListBuilder(thisUpdate: start, nextUpdate: Timestamp(millis: start.millis + 30 * Self.dayMillis),
                              crlNumber: 1, revoked: entries)
    }

    /// Calendar years in UTC (29 February plus one year is 1 March).
    static func adding(years: Int32, to time: Timestamp) -> Timestamp {
        var seconds = PKIEncoding.seconds(time)
        var broken = tm()
        gmtime_r(&seconds, &broken)
        broken.tm_year += years
        return Timestamp(millis: Int64(timegm(&broken)) * 1000)
    }
}

/// Writes the tree all at once: into a hidden sibling directory first, then one rename(2) into
/// place. rename replaces only a missing or empty directory, so a non-empty one is never touched,
/// and a failure half-way leaves nothing behind but what the cleanup could not remove.
enum PKIDirectory {
    struct File {
        let relative: String
        let bytes: [UInt8]
        let mode: mode_t
        init(_ relative: String, _ text: String) { (self.relative, bytes, mode) = (relative, Array(text.utf8), 0o644) }
        private init(relative: String, key: [UInt8]) { (self.relative, bytes, mode) = (relative, key, 0o600) }
        /// A private key: readable by its owner only.
        static func key(_ relative: String, _ pem: [UInt8]) -> File { File(relative: relative, key: pem) }
    }

    /// Throws unless `directory` is missing or an empty directory.
    static func requireEmptyOrAbsent(_ directory: String) throws {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            if errno == ENOENT { return }
            throw AxisError(.storageIO, "cannot inspect \(directory): check its permissions", errno: errno)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw AxisError(.config, "\(directory) exists and is not a directory: give a new directory for the development PKI")
        }
        let entries = try PosixStorage().listDirectory(directory)
        guard entries.isEmpty else {
            throw AxisError(.config, "\(directory) is not empty (\(entries.count) entries): give a new or empty directory; "
                + "a development PKI is never written over existing files (remove the old one first if you mean to replace it)")
        }
    }

    static func publish(_ files: [File], directories: [(String, mode_t)], at directory: String) throws {
        let (parent, target) = try split(directory)
        var template = Array(PathJoin.join(parent, ".\(target.name).pki-XXXXXX").utf8CString)
        let staged: String? = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            return mkdtemp(base).map { String(cString: $0) }
        }
        guard let staged else {
            throw AxisError(.storageIO, "cannot create a staging directory in \(parent): check that it exists and is writable", errno: errno)
        }
        let storage = PosixStorage()
        var created: [String] = []
        do {
            for (relative, mode) in directories {
                let path = PathJoin.join(staged, relative)
                // chmod after mkdir: the umask must not loosen or tighten the modes this layout promises.
                guard mkdir(path, mode) == 0 else { throw AxisError(.storageIO, "cannot create \(path)", errno: errno) }
                created.append(path)
                guard chmod(path, mode) == 0 else { throw AxisError(.storageIO, "cannot set the mode of \(path)", errno: errno) }
            }
            for file in files {
                let path = PathJoin.join(staged, file.relative)
                // `Certificate.pem` and friends return "" when OpenSSL cannot encode: never write that.
                guard !file.bytes.isEmpty else { throw AxisError(.crypto, "\(file.relative) could not be encoded; nothing was written") }
                try FileBytes.create(path, file.bytes, mode: file.mode)
                created.append(path)
            }
            for (relative, _) in directories { try storage.syncDirectory(PathJoin.join(staged, relative)) }
            guard chmod(staged, 0o755) == 0 else { throw AxisError(.storageIO, "cannot set the mode of \(staged)", errno: errno) }
            try storage.syncDirectory(staged)
            guard rename(staged, target.path) == 0 else {
                let error = errno
                if error == ENOTEMPTY || error == EEXIST || error == ENOTDIR {
                    throw AxisError(.config, "\(target.path) was created or filled while the PKI was being made: "
                        + "nothing was written there; give a new or empty directory", errno: error)
                }
                throw AxisError(.storageIO, "cannot move the new PKI into \(target.path)", errno: error)
            }
        } catch {
            for path in created.reversed() { _ = remove(path) }
            _ = rmdir(staged)
            throw error
        }
        try storage.syncDirectory(parent)
    }

    /// The parent directory (which must exist) and the last component, without trailing slashes.
    private static func split(_ directory: String) throws -> (parent: String, target: (path: String, name: String)) {
        var path = directory
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        let name: String, parent: String
        if let slash = path.lastIndex(of: "/") {
            name = String(path[path.index(after: slash)...])
            parent = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            (name, parent) = (path, ".")
        }
        guard !name.isEmpty, name != ".", name != ".." else {
            throw AxisError(.usage, "'\(directory)' does not name a directory to create: give a path such as ./dev-pki")
        }
        return (parent, (path, name))
    }
}

extension DevelopmentPKI {
    /// README.txt: the warning first, then each file, then how to check it all with stock openssl.
    func readme(createdAt now: Timestamp, root: Certificate, intermediate: Certificate) -> String {
        let rule = String(repeating: "=", count: 72)
        // openssl cms (3.0) cannot sign with Ed25519 keys, so the example uses an RSA or EC agency.
        let sample = (agencies.first { $0.algorithm != "Ed25519" } ?? agencies.first)?.code ?? "CODE"
        let codeWidth = max(6, agencies.map(\.code.count).max() ?? 0)
        let agencyLines = agencies.map { a in
            "  " + a.code.padding(codeWidth) + "  " + a.algorithm.padding(9) + "  sha256 " + a.fingerprint.hex
        }
        let files: [(String, String)] = [
            (Files.rootCertificate, "root CA, the trust anchor (\(root.publicKeyDescription), 10 years)"),
            (Files.rootKey, "its private key"),
            (Files.agenciesCertificate, "\"Agencies CA\" (\(intermediate.publicKeyDescription), 10 years), issued by the root"),
            (Files.agenciesKey, "its private key"),
            (Files.rootCRL, "the root's CRL (lists nothing), valid 30 days"),
            (Files.agenciesCRL, "the Agencies CA's CRL, lists \(Files.revokedCertificate); valid 30 days"),
            (Files.axisCertificate, "the axis's receipt-signing certificate (\(axis.algorithm)), issued by the root"),
            (Files.axisKey, "its private key"),
            (Files.axisChain, "axis.pem followed by the root"),
            ("agencies/<code>.pem", "one per agency, issued by the Agencies CA: OU=<code>, CN=<name>, 2 years"),
            ("agencies/<code>.key", "its private key"),
            (Files.revokedCertificate, "issued to \(revoked.code), valid dates, but revoked"),
            (Files.expiredCertificate, "issued to \(expired.code), validity entirely in the past"),
            ("test/*.key", "their private keys"),
        ]
        let pathWidth = files.map(\.0.count).max() ?? 0
        let fileLines = files.map { "  " + $0.0.padding(pathWidth) + "  " + $0.1 }
        let verify = "openssl verify -CAfile \(Files.rootCertificate) -untrusted \(Files.agenciesCertificate)"
        return """
            \(rule)
                        \(Self.banner)
            \(rule)
            Made by Axis on \(now). Every private key here is UNENCRYPTED, and
            every certificate's subject says O=\(Self.organization).
            Use it for development, demos and tests only. Never put trust/root-ca.pem
            into a production trust store, and never register these certificates for
            real agencies.

            Files (run the commands below from this directory)
            \(fileLines.joined(separator: "\n"))
            Private keys are mode 0600 and private/ is mode 0700.

            Agencies
            \(agencyLines.joined(separator: "\n"))

            Check it with openssl
              \(verify) agencies/\(sample).pem
              \(verify) -crl_check -CRLfile \(Files.agenciesCRL) \(Files.revokedCertificate)   (fails: revoked)
              \(verify) \(Files.expiredCertificate)   (fails: expired)

            Sign a document as an agency, and verify it
              openssl cms -sign -binary -in doc.pdf -signer agencies/\(sample).pem -inkey agencies/\(sample).key \\
                  -certfile \(Files.agenciesCertificate) -outform DER -out doc.pdf.p7s
              openssl cms -verify -binary -inform DER -in doc.pdf.p7s -content doc.pdf \\
                  -CAfile \(Files.rootCertificate) -purpose any -out /dev/null
            (openssl cms in OpenSSL 3.0 cannot make Ed25519 signatures: use an RSA or EC agency here.)
              axisctl verify doc.pdf --signature doc.pdf.p7s --trust trust --intermediates intermediates --crl-dir crl

            Trust configuration for axisd: anchors trust/, intermediates intermediates/, CRLs crl/.
            Make a fresh one with: axisctl pki init <new-directory>

            """
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
