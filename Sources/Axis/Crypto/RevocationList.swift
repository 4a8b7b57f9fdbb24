import COpenSSL

/// A certificate revocation list (OpenSSL `X509_CRL`), with its issuer and update times decoded.
public final class RevocationList: @unchecked Sendable {
    let handle: OpaquePointer
    public let issuer: DistinguishedName
    public let thisUpdate: Timestamp
    /// When the issuer promises the next CRL; nil when the CRL does not say.
    public let nextUpdate: Timestamp?
    public let source: String

    init(taking handle: OpaquePointer, source: String) throws {
        self.handle = handle
        self.source = source
        issuer = DistinguishedName(X509_CRL_get_issuer(handle))
        guard let this = timestamp(fromASN1: X509_CRL_get0_lastUpdate(handle)) else {
            throw AxisError(.malformed, "\(source): CRL has an unreadable thisUpdate time")
        }
        thisUpdate = this
        nextUpdate = timestamp(fromASN1: X509_CRL_get0_nextUpdate(handle))
    }

    deinit { X509_CRL_free(handle) }

    /// Parses every CRL in `bytes` (PEM blocks, or one DER CRL).
    public static func load(_ bytes: [UInt8], source: String) throws -> [RevocationList] {
        OpenSSLErrors.clear()
        if !bytes.withUnsafeBytes({ looksLikePEM($0) }) {
            let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509_CRL(nil, &cursor, buffer.count)
            }
            guard let parsed else { throw OpenSSLErrors.error("\(source) is not a DER or PEM CRL", code: .malformed) }
            return [try RevocationList(taking: parsed, source: source)]
        }
        let bio = try MemoryBIO(copying: bytes)
        var lists: [RevocationList] = []
        while let crl = PEM_read_bio_X509_CRL(bio.handle, nil, nil, nil) {
            lists.append(try RevocationList(taking: crl, source: source))
        }
        OpenSSLErrors.clear()
        guard !lists.isEmpty else { throw AxisError(.malformed, "\(source) holds no PEM CRL (expected -----BEGIN X509 CRL-----)") }
        return lists
    }

    /// The revocation date of `certificate` when this CRL lists it.
    public func revocationDate(of certificate: Certificate) -> Timestamp? { revocationDate(ofHandle: certificate.handle) }

    func revocationDate(ofHandle certificate: OpaquePointer) -> Timestamp? {
        var entry: OpaquePointer?
        guard X509_CRL_get0_by_cert(handle, &entry, certificate) == 1, let entry else { return nil }
        return timestamp(fromASN1: X509_REVOKED_get0_revocationDate(entry))
    }

    /// True when `issuer`'s key signed this CRL.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.handle) else { return false }
        let ok = X509_CRL_verify(handle, key) == 1
        OpenSSLErrors.clear()
        return ok
    }

    public var pem: String {
        guard let bio = try? MemoryBIO(), PEM_write_bio_X509_CRL(bio.handle, handle) == 1 else { return "" }
        return bio.string
    }
}
