// Issues X.509 v3 certificates with OpenSSL, for the development PKI and for tests.
//
// Not a CA product: there is no policy, database or request handling; the caller chooses every
// field. What it always does: a fresh positive 128-bit random serial, UTF-8 names in the order
// given, subjectKeyIdentifier (hash of the public key) and authorityKeyIdentifier (the issuer's
// key identifier, so chains build by key, not only by name), and a signature with SHA-256 (RSA, EC)
// or the key's own scheme (Ed25519, Ed448 take no separate digest). Any OpenSSL failure throws
// `.crypto` with OpenSSL's reasons; nothing half-built escapes.
@preconcurrency import Glibc
import COpenSSL

/// A certificate to issue: subject, validity and what it may be used for.
public struct CertificateBuilder: Sendable {
    /// What the certificate is for; decides basicConstraints and keyUsage (both critical).
    public enum Profile: Sendable {
        /// A CA: `CA:TRUE` (with `pathlen` when given), keyUsage keyCertSign and cRLSign.
        case authority(pathLength: Int?)
        /// An end entity: `CA:FALSE`, with these key usages (e.g. digitalSignature, nonRepudiation).
        case endEntity(KeyUsage)
    }

    /// Name attributes in certificate order, as OpenSSL short names (`C`, `O`, `OU`, `CN`, …).
    public var subject: [(type: String, value: String)]
    public var notBefore: Timestamp
    public var notAfter: Timestamp
    public var profile: Profile
    /// Further extensions in OpenSSL's configuration syntax, added after the profile's and the key
    /// identifiers, in this order: e.g. `(NID_ext_key_usage, "serverAuth")` or
    /// `(NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1")`. One the certificate already carries
    /// (basicConstraints, keyUsage, the key identifiers) is refused: a certificate must not hold an
    /// extension twice (RFC 5280 §4.2).
    public var extraExtensions: [(nid: Int32, value: String)]

    public init(subject: [(type: String, value: String)], notBefore: Timestamp, notAfter: Timestamp, profile: Profile,
                extraExtensions: [(nid: Int32, value: String)] = []) {
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.profile = profile
        self.extraExtensions = extraExtensions
    }

    /// A self-signed certificate for `key`: a root CA.
    public func selfSigned(key: PrivateKey) throws -> Certificate {
        try build(publicKey: key, issuer: nil, issuerKey: key)
    }

    /// A certificate for the public half of `subjectKey`, issued by `issuer` and signed with `issuerKey`.
    public func issue(for subjectKey: PrivateKey, issuer: Certificate, issuerKey: PrivateKey) throws -> Certificate {
        guard issuerKey.matches(issuer) else {
            throw AxisError(.crypto, "the issuer key does not belong to \(issuer.subject): pass the key that matches the issuing certificate")
        }
        return try build(publicKey: subjectKey, issuer: issuer, issuerKey: issuerKey)
    }

    /// `issuer == nil` means self-signed.
    private func build(publicKey: PrivateKey, issuer: Certificate?, issuerKey: PrivateKey) throws -> Certificate {
        guard notBefore < notAfter else {
            throw AxisError(.crypto, "certificate validity is empty (\(notBefore) is not before \(notAfter))")
        }
        let extensions = try self.extensions()
        OpenSSLErrors.clear()
        guard let x509 = X509_new() else { throw OpenSSLErrors.error("X509_new failed") }
        var owned: OpaquePointer? = x509
        defer { if let owned { X509_free(owned) } }

        guard X509_set_version(x509, 2) == 1 else { throw OpenSSLErrors.error("cannot set certificate version") }
        try PKIEncoding.setRandomSerial(X509_get_serialNumber(x509))
        let name = try PKIEncoding.name(subject)
        defer { X509_NAME_free(name) }
        let issuerName = issuer.map { X509_get_subject_name($0.handle) } ?? name
        guard X509_set_subject_name(x509, name) == 1, X509_set_issuer_name(x509, issuerName) == 1 else {
            throw OpenSSLErrors.error("cannot set the names of certificate \(DistinguishedName(name))")
        }
        guard ASN1_TIME_set(X509_getm_notBefore(x509), PKIEncoding.seconds(notBefore)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x509), PKIEncoding.seconds(notAfter)) != nil else {
            throw OpenSSLErrors.error("cannot set certificate validity \(notBefore) – \(notAfter)")
        }
        // Only the public half is encoded into the certificate.
        guard X509_set_pubkey(x509, publicKey.handle) == 1 else { throw OpenSSLErrors.error("cannot set certificate public key") }

        // The subject key identifier goes first: a self-signed certificate's authority key
        // identifier is read from its own subject key identifier.
        let issuerHandle = issuer?.handle ?? x509
        for (nid, value) in extensions {
            guard axis_x509v3_add_ext(x509, issuerHandle, nid, value) == 1 else {
                throw OpenSSLErrors.error("cannot add extension \(Self.name(of: nid)) = \(value)")
            }
        }
        guard X509_sign(x509, issuerKey.handle, PKIEncoding.digest(for: issuerKey)) > 0 else {
            throw OpenSSLErrors.error("cannot sign certificate \(DistinguishedName(name))")
        }
        owned = nil
        return try Certificate(taking: x509)
    }

    /// The profile's extensions, the key identifiers, then `extraExtensions`.
    private func extensions() throws -> [(Int32, String)] {
        var list: [(Int32, String)] = []
        switch profile {
        case .authority(let pathLength):
            list.append((NID_basic_constraints, "critical,CA:TRUE" + (pathLength.map { ",pathlen:\($0)" } ?? "")))
            list.append((NID_key_usage, "critical,keyCertSign,cRLSign"))
        case .endEntity(let usage):
            list.append((NID_basic_constraints, "critical,CA:FALSE"))
            if !usage.isEmpty { list.append((NID_key_usage, "critical," + PKIEncoding.configNames(usage))) }
        }
        list.append((NID_subject_key_identifier, "hash"))
        // `always`: fail rather than silently issue a certificate whose issuer has no key identifier.
        list.append((NID_authority_key_identifier, "keyid:always"))
        for (nid, value) in extraExtensions {
            guard !list.contains(where: { $0.0 == nid }) else {
                throw AxisError(.crypto, "extension \(Self.name(of: nid)) is given twice (\(value)): a certificate carries each extension once; "
                    + "drop it from extraExtensions (basicConstraints and keyUsage come from the profile)")
            }
            list.append((nid, value))
        }
        return list
    }

    /// OpenSSL's short name for an extension (`extendedKeyUsage`); callers may pass any NID, known or not.
    private static func name(of nid: Int32) -> String {
        OBJ_nid2sn(nid).map { String(cString: $0) } ?? "NID \(nid)"
    }
}

/// Encoding helpers shared by the certificate and CRL builders.
enum PKIEncoding {
    /// 16 random bytes with the top bit cleared: a positive serial (RFC 5280 §4.1.2.2 allows 20 octets)
    /// that no two certificates share in practice.
    static func setRandomSerial(_ serial: UnsafeMutablePointer<ASN1_INTEGER>?) throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw OpenSSLErrors.error("no random bytes for a serial number") }
        bytes[0] &= 0x7F
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw OpenSSLErrors.error("BN_bin2bn failed") }
        defer { BN_free(bn) }
        guard let serial, BN_to_ASN1_INTEGER(bn, serial) != nil else { throw OpenSSLErrors.error("cannot set serial number") }
    }

    /// A new `X509_NAME` (the caller frees it) from ordered attributes, every value UTF-8.
    static func name(_ attributes: [(type: String, value: String)]) throws -> OpaquePointer {
        guard let name = X509_NAME_new() else { throw OpenSSLErrors.error("X509_NAME_new failed") }
        for (type, value) in attributes {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1 else {
                X509_NAME_free(name)
                throw OpenSSLErrors.error("cannot put \(type)=\(value) in a name (is '\(type)' an attribute OpenSSL knows, and the value within its length limit?)")
            }
        }
        return name
    }

    static func seconds(_ time: Timestamp) -> time_t {
        time_t(time.millis >= 0 ? time.millis / 1000 : (time.millis - 999) / 1000)
    }

    /// SHA-256 for RSA and EC keys; none for Ed25519 and Ed448, which hash internally and reject a digest.
    static func digest(for key: PrivateKey) -> OpaquePointer? {
        switch EVP_PKEY_get_base_id(key.handle) {
        case EVP_PKEY_ED25519, EVP_PKEY_ED448: return nil
        default: return EVP_sha256()
        }
    }

    /// `digitalSignature,nonRepudiation`: the names OpenSSL's extension syntax uses for `usage`.
    static func configNames(_ usage: KeyUsage) -> String {
        let names: [(KeyUsage, String)] = [(.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"),
                                           (.keyEncipherment, "keyEncipherment"), (.dataEncipherment, "dataEncipherment"),
                                           (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"), (.cRLSign, "cRLSign")]
        return names.filter { usage.contains($0.0) }.map(\.1).joined(separator: ",")
    }
}

/// A certificate revocation list to issue (v2): the issuer's revoked certificates, with a CRL number
/// and the issuer's key identifier so verifiers find the right CRL when an issuer has several keys.
/// Kept next to `CertificateBuilder` because the two share every encoding helper.
public struct RevocationListBuilder: Sendable {
    /// One revoked certificate: its serial number (taken from the certificate) and when it was revoked.
    public struct Entry: Sendable {
        public var certificate: Certificate
        public var revokedAt: Timestamp
        public init(certificate: Certificate, revokedAt: Timestamp) {
            self.certificate = certificate
            self.revokedAt = revokedAt
        }
    }

    public var thisUpdate: Timestamp
    public var nextUpdate: Timestamp
    /// Increases with every CRL the issuer publishes (RFC 5280 §5.2.3).
    public var crlNumber: UInt64
    public var revoked: [Entry]

    public init(thisUpdate: Timestamp, nextUpdate: Timestamp, crlNumber: UInt64 = 1, revoked: [Entry] = []) {
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.crlNumber = crlNumber
        self.revoked = revoked
    }

    /// The CRL of `issuer`, signed with `issuerKey`.
    public func issue(issuer: Certificate, issuerKey: PrivateKey) throws -> RevocationList {
        guard issuerKey.matches(issuer) else {
            throw AxisError(.crypto, "the CRL signing key does not belong to \(issuer.subject): pass the key that matches the issuing certificate")
        }
        guard thisUpdate < nextUpdate else { throw AxisError(.crypto, "CRL nextUpdate \(nextUpdate) is not after thisUpdate \(thisUpdate)") }
        OpenSSLErrors.clear()
        guard let crl = X509_CRL_new() else { throw OpenSSLErrors.error("X509_CRL_new failed") }
        var owned: OpaquePointer? = crl
        defer { if let owned { X509_CRL_free(owned) } }

        guard X509_CRL_set_version(crl, 1) == 1,  // 1 encodes v2, which extensions require
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.handle)) == 1,
              try Self.withTime(thisUpdate, { X509_CRL_set1_lastUpdate(crl, $0) }) == 1,
              try Self.withTime(nextUpdate, { X509_CRL_set1_nextUpdate(crl, $0) }) == 1 else {
            throw OpenSSLErrors.error("cannot set the CRL header of \(issuer.subject)")
        }
        for entry in revoked { try Self.add(entry, to: crl) }
        try Self.addNumber(crlNumber, to: crl)
        guard axis_crl_add_ext(crl, issuer.handle, NID_authority_key_identifier, "keyid:always") == 1 else {
            throw OpenSSLErrors.error("cannot add authorityKeyIdentifier to the CRL (does \(issuer.subject) carry a subjectKeyIdentifier?)")
        }
        // DER requires the revoked entries in a canonical order; sort before signing.
        guard X509_CRL_sort(crl) == 1, X509_CRL_sign(crl, issuerKey.handle, PKIEncoding.digest(for: issuerKey)) > 0 else {
            throw OpenSSLErrors.error("cannot sign the CRL of \(issuer.subject)")
        }
        owned = nil
        return try RevocationList(taking: crl, source: "new CRL of \(issuer.subject)")
    }

    private static func add(_ entry: Entry, to crl: OpaquePointer) throws {
        guard let revokedEntry = X509_REVOKED_new() else { throw OpenSSLErrors.error("X509_REVOKED_new failed") }
        // set_serialNumber copies the serial; it only lacks `const` in its C signature.
        let serial = UnsafeMutablePointer(mutating: X509_get0_serialNumber(entry.certificate.handle))
        guard X509_REVOKED_set_serialNumber(revokedEntry, serial) == 1,
              try withTime(entry.revokedAt, { X509_REVOKED_set_revocationDate(revokedEntry, $0) }) == 1,
              X509_CRL_add0_revoked(crl, revokedEntry) == 1 else {  // add0: the CRL owns the entry from here
            X509_REVOKED_free(revokedEntry)
            throw OpenSSLErrors.error("cannot add revoked certificate \(entry.certificate.serialHex) to the CRL")
        }
    }

    private static func addNumber(_ number: UInt64, to crl: OpaquePointer) throws {
        // crlNumber has no text form in OpenSSL's extension syntax, so it is encoded from an ASN1_INTEGER.
        guard let value = ASN1_INTEGER_new() else { throw OpenSSLErrors.error("ASN1_INTEGER_new failed") }
        defer { ASN1_INTEGER_free(value) }
        guard ASN1_INTEGER_set_uint64(value, number) == 1,
              X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(value), 0, 0) == 1 else {
            throw OpenSSLErrors.error("cannot add crlNumber \(number) to the CRL")
        }
    }

    /// Runs `body` with a temporary ASN1_TIME for `time` (the setters copy it).
    private static func withTime(_ time: Timestamp, _ body: (UnsafeMutablePointer<ASN1_TIME>) -> Int32) throws -> Int32 {
        guard let asn1 = ASN1_TIME_set(nil, PKIEncoding.seconds(time)) else { throw OpenSSLErrors.error("cannot encode time \(time)") }
        defer { ASN1_TIME_free(asn1) }
        return body(asn1)
    }
}
