@preconcurrency import Glibc
import COpenSSL

/// Where trust comes from: the anchors a signer's chain must reach, extra intermediates, and CRLs.
/// Loaded once at start (and again on reload) into a `TrustStore`.
public struct TrustConfiguration: Sendable, Equatable {
    /// A PEM bundle of trust anchors (root CA certificates).
    public var anchorsFile: String?
    /// A directory of anchor certificates (`*.pem`, `*.crt`, `*.cer`, `*.der`).
    public var anchorsDirectory: String?
    /// A directory of intermediate CA certificates, used when a signature does not carry them.
    public var intermediatesDirectory: String?
    /// A directory of CRLs (`*.pem`, `*.crl`, `*.der`). Without one, revocation is not checked and
    /// every report says so.
    public var crlDirectory: String?

    public init(anchorsFile: String? = nil, anchorsDirectory: String? = nil, intermediatesDirectory: String? = nil,
                crlDirectory: String? = nil) {
        self.anchorsFile = anchorsFile
        self.anchorsDirectory = anchorsDirectory
        self.intermediatesDirectory = intermediatesDirectory
        self.crlDirectory = crlDirectory
    }
}

/// The loaded trust material: anchors, intermediates and CRLs, plus the OpenSSL `X509_STORE` built
/// from them. Immutable; a reload builds a new one (and with it a new verifier and an empty cache).
public final class TrustStore: @unchecked Sendable {
    public let anchors: [Certificate]
    public let intermediates: [Certificate]
    public let revocationLists: [RevocationList]
    /// True when a CRL directory was configured (even an empty one): revocation is then checked.
    public let checksRevocation: Bool
    let store: OpaquePointer

    public init(anchors: [Certificate], intermediates: [Certificate] = [], revocationLists: [RevocationList] = [],
                checksRevocation: Bool? = nil) throws {
        guard !anchors.isEmpty else {
            throw AxisError(.config, "no trust anchors: configure a PEM bundle or a directory of root CA certificates")
        }
        self.anchors = anchors
        self.intermediates = intermediates
        self.revocationLists = revocationLists
        self.checksRevocation = checksRevocation ?? !revocationLists.isEmpty
        guard let store = X509_STORE_new() else { throw OpenSSLErrors.error("X509_STORE_new failed") }
        self.store = store
        for anchor in anchors where X509_STORE_add_cert(store, anchor.handle) != 1 {
            throw OpenSSLErrors.error("could not add trust anchor \(anchor.subject)")
        }
        for crl in revocationLists where X509_STORE_add_crl(store, crl.handle) != 1 {
            throw OpenSSLErrors.error("could not add CRL \(crl.source)")
        }
    }

    deinit { X509_STORE_free(store) }

    public static func load(_ configuration: TrustConfiguration) throws -> TrustStore {
        var anchors: [Certificate] = []
        if let file = configuration.anchorsFile { anchors += try Certificate.load(file: file) }
        if let directory = configuration.anchorsDirectory {
            for path in try files(in: directory, suffixes: certificateSuffixes, what: "trust anchor") {
                anchors += try Certificate.load(file: path)
            }
        }
        var intermediates: [Certificate] = []
        if let directory = configuration.intermediatesDirectory {
            for path in try files(in: directory, suffixes: certificateSuffixes, what: "intermediate") {
                intermediates += try Certificate.load(file: path)
            }
        }
        var crls: [RevocationList] = []
        if let directory = configuration.crlDirectory {
            for path in try files(in: directory, suffixes: [".pem", ".crl", ".der"], what: "CRL") {
                crls += try RevocationList.load(try readSmallFile(path, limit: 256 << 20), source: path)
            }
        }
        for anchor in anchors where !anchor.isCA {
            throw AxisError(.config, "trust anchor \(anchor.subject) is not a CA certificate (basicConstraints CA:TRUE is required)")
        }
        return try TrustStore(anchors: anchors, intermediates: intermediates, revocationLists: crls,
                              checksRevocation: configuration.crlDirectory != nil)
    }

    static let certificateSuffixes = [".pem", ".crt", ".cer", ".der"]

    /// The regular files in `directory` whose names end in one of `suffixes`, sorted by name.
    static func files(in directory: String, suffixes: [String], what: String) throws -> [String] {
        guard let dir = opendir(directory) else {
            throw AxisError(.config, "cannot open the \(what) directory \(directory)", errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix("."), suffixes.contains(where: { name.lowercased().hasSuffix($0) }) else { continue }
            names.append(name)
        }
        return names.sorted().map { PathJoin.join(directory, $0) }
    }

    /// The newest CRL issued (and signed) by `issuer`, if any.
    func newestCRL(issuedBy issuer: Certificate) -> RevocationList? {
        revocationLists
            .filter { $0.issuer == issuer.subject && $0.isSigned(by: issuer) }
            .max { $0.thisUpdate < $1.thisUpdate }
    }

    /// The earliest `nextUpdate` of any loaded CRL: cached chain results are not trusted past it.
    var earliestCRLUpdate: Timestamp? { revocationLists.compactMap(\.nextUpdate).min() }
}
