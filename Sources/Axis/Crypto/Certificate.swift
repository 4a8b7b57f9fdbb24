@preconcurrency import Glibc
import COpenSSL

/// An X.509 certificate: an owning wrapper around OpenSSL's `X509`, with the facts Axis reads
/// from it decoded once at load time.
///
/// Immutable after creation, so it is shared freely across threads (OpenSSL's `X509` is safe for
/// concurrent reads).
public final class Certificate: @unchecked Sendable, CustomStringConvertible {
    let handle: OpaquePointer
    /// The DER encoding, exactly as loaded.
    public let der: [UInt8]
    /// SHA-256 over the DER encoding: how agencies and systems register certificates.
    public let fingerprint: Digest256
    public let subject: DistinguishedName
    public let issuer: DistinguishedName
    public let serialHex: String
    public let notBefore: Timestamp
    public let notAfter: Timestamp

    /// Takes ownership of `handle` (the caller must not free it), also when it throws: a throwing
    /// initializer never reaches `deinit`, so the failure paths free the handle themselves (before this,
    /// each refused certificate leaked; found by fuzzing: Fuzz/failcases/cms/).
    init(taking handle: OpaquePointer) throws {
        self.handle = handle
        do {
            der = try derEncode({ i2d_X509(handle, $0) }, what: "certificate")
        } catch {
            X509_free(handle)
            throw error
        }
        fingerprint = SHA256Hasher.digest(der)
        subject = DistinguishedName(X509_get_subject_name(handle))
        issuer = DistinguishedName(X509_get_issuer_name(handle))
        serialHex = Certificate.serialHex(X509_get0_serialNumber(handle))
        guard let from = timestamp(fromASN1: X509_get0_notBefore(handle)),
              let until = timestamp(fromASN1: X509_get0_notAfter(handle)) else {
            X509_free(handle)
            throw AxisError(.crypto, "certificate \(subject) has an unreadable validity period")
        }
        notBefore = from
        notAfter = until
    }

    /// Shares `handle` (takes a reference of its own; the caller keeps and frees its own).
    convenience init(retaining handle: OpaquePointer) throws {
        guard X509_up_ref(handle) == 1 else { throw OpenSSLErrors.error("X509_up_ref failed") }
        try self.init(taking: handle)
    }

    deinit { X509_free(handle) }

    public var description: String { "\(subject) (sha256 \(fingerprint.hex.prefix(16))…)" }

    /// Parses one DER certificate.
    public convenience init(der bytes: [UInt8]) throws {
        let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw OpenSSLErrors.error("not a DER X.509 certificate", code: .malformed) }
        try self.init(taking: parsed)
    }

    /// Parses every certificate in `bytes`: a PEM bundle (one or more `CERTIFICATE` blocks) or a single DER
    /// certificate. Throws `.malformed` when none is found.
    public static func load(_ bytes: [UInt8], source: String = "input") throws -> [Certificate] {
        let isPEM = bytes.withUnsafeBytes { looksLikePEM($0) }
        guard isPEM else {
            do { return [try Certificate(der: bytes)] } catch let error as AxisError {
                throw AxisError(.malformed, "\(source): \(error.message)")
            }
        }
        let bio = try MemoryBIO(copying: bytes)
        var certificates: [Certificate] = []
        OpenSSLErrors.clear()
        while let x509 = PEM_read_bio_X509(bio.handle, nil, nil, nil) {
            certificates.append(try Certificate(taking: x509))
        }
        // Reading stops with "no start line" at the end of the input: that is not an error.
        OpenSSLErrors.clear()
        guard !certificates.isEmpty else {
            throw AxisError(.malformed, "\(source) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    public static func load(file path: String) throws -> [Certificate] {
        try load(try readSmallFile(path, limit: 16 << 20), source: path)
    }

    /// The PEM text of this certificate.
    public var pem: String {
        guard let bio = try? MemoryBIO(), PEM_write_bio_X509(bio.handle, handle) == 1 else { return "" }
        return bio.string
    }

    /// Key usage bits, or nil when the certificate has no keyUsage extension (unrestricted).
    public var keyUsage: KeyUsage? {
        let bits = X509_get_key_usage(handle)
        return bits == UInt32.max ? nil : KeyUsage(rawValue: bits)
    }

    public var isCA: Bool { X509_check_ca(handle) != 0 }

    public var isSelfIssued: Bool { X509_check_issued(handle, handle) == X509_V_OK }

    /// A short description of the public key, e.g. `RSA-2048`, `EC P-256`, `Ed25519`.
    public var publicKeyDescription: String {
        guard let key = X509_get0_pubkey(handle) else { return "unknown key" }
        return PublicKeyInfo(key).description
    }

    public var publicKey: PublicKeyInfo? { X509_get0_pubkey(handle).map(PublicKeyInfo.init) }

    static func serialHex(_ serial: UnsafePointer<ASN1_INTEGER>?) -> String {
        guard let serial, let data = ASN1_STRING_get0_data(serial) else { return "" }
        return Hex.encode(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(serial))))
    }
}

/// The keyUsage extension's bits, as OpenSSL reports them (`KU_*`).
public struct KeyUsage: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let digitalSignature = KeyUsage(rawValue: UInt32(KU_DIGITAL_SIGNATURE))
    public static let nonRepudiation = KeyUsage(rawValue: UInt32(KU_NON_REPUDIATION))
    public static let keyEncipherment = KeyUsage(rawValue: UInt32(KU_KEY_ENCIPHERMENT))
    public static let dataEncipherment = KeyUsage(rawValue: UInt32(KU_DATA_ENCIPHERMENT))
    public static let keyAgreement = KeyUsage(rawValue: UInt32(KU_KEY_AGREEMENT))
    public static let keyCertSign = KeyUsage(rawValue: UInt32(KU_KEY_CERT_SIGN))
    public static let cRLSign = KeyUsage(rawValue: UInt32(KU_CRL_SIGN))

    public var description: String {
        let names: [(KeyUsage, String)] = [(.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"),
                                           (.keyEncipherment, "keyEncipherment"), (.dataEncipherment, "dataEncipherment"),
                                           (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"),
                                           (.cRLSign, "cRLSign")]
        let present = names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "none" : present.joined(separator: ", ")
    }
}

/// What kind of public key a certificate carries.
public struct PublicKeyInfo: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case rsa = "RSA", rsaPSS = "RSA-PSS", ec = "EC", ed25519 = "Ed25519", ed448 = "Ed448", other }
    public let kind: Kind
    public let bits: Int
    /// The curve name for EC keys (`P-256`, `P-384`, …), empty otherwise.
    public let curve: String

    init(_ key: OpaquePointer) {
        bits = Int(EVP_PKEY_get_bits(key))
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: kind = .rsa
        case EVP_PKEY_RSA_PSS: kind = .rsaPSS
        case EVP_PKEY_EC: kind = .ec
        case EVP_PKEY_ED25519: kind = .ed25519
        case EVP_PKEY_ED448: kind = .ed448
        default: kind = .other
        }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        if kind == .ec, EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 {
            let sn = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            curve = PublicKeyInfo.nistName[sn] ?? sn
        } else {
            curve = ""
        }
    }

    private static let nistName = ["prime256v1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"]

    public var description: String {
        switch kind {
        case .rsa, .rsaPSS: return "\(kind.rawValue)-\(bits)"
        case .ec: return "EC \(curve)"
        case .ed25519, .ed448: return kind.rawValue
        case .other: return "unsupported key type (\(bits) bits)"
        }
    }
}

/// An X.509 name as its ordered attributes (`C=VN`, `O=…`, `CN=…`), decoded to UTF-8.
public struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    public struct Attribute: Hashable, Sendable {
        /// OpenSSL's short name (`CN`, `O`, `OU`, `C`, `serialNumber`, …) or the dotted OID.
        public let type: String
        public let value: String
    }

    public let attributes: [Attribute]

    public init(attributes: [Attribute]) { self.attributes = attributes }

    init(_ name: OpaquePointer?) {
        guard let name else { attributes = []; return }
        var result: [Attribute] = []
        for i in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, i), let object = X509_NAME_ENTRY_get_object(entry) else { continue }
            result.append(Attribute(type: DistinguishedName.shortName(object),
                                    value: DistinguishedName.utf8(X509_NAME_ENTRY_get_data(entry))))
        }
        attributes = result
    }

    /// The values of every attribute of `type` (case-insensitive), in order.
    public func values(of type: String) -> [String] {
        attributes.filter { $0.type.caseInsensitiveCompare(type) }.map(\.value)
    }

    /// `C=VN, O=Bộ Tài chính, CN=…` in certificate order, with `,`, `=`, `+` and `\` escaped.
    public var description: String {
        attributes.map { "\($0.type)=\(DistinguishedName.escape($0.value))" }.joined(separator: ", ")
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for ch in value {
            if ch == "," || ch == "\\" || ch == "+" || ch == "=" { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    static func shortName(_ object: OpaquePointer) -> String {
        let nid = OBJ_obj2nid(object)
        if nid != NID_undef, let sn = OBJ_nid2sn(nid) { return String(cString: sn) }
        var buffer = [CChar](repeating: 0, count: 128)
        let n = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
        return n > 0 ? String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }

    static func utf8(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String {
        guard let string else { return "" }
        var out: UnsafeMutablePointer<UInt8>?
        let n = ASN1_STRING_to_UTF8(&out, string)
        guard n >= 0, let out else { return "" }
        defer { axis_openssl_free(out) }
        return String(decoding: UnsafeBufferPointer(start: out, count: Int(n)), as: UTF8.self)
    }
}

private extension String {
    func caseInsensitiveCompare(_ other: String) -> Bool { lowercased() == other.lowercased() }
}

/// Reads a whole file that must be small (certificates, keys, CRLs, signatures).
func readSmallFile(_ path: String, limit: Int) throws -> [UInt8] { try FileBytes.read(path, limit: limit) }
