import COpenSSL

/// A private key (OpenSSL `EVP_PKEY`): loaded from PEM, or generated for the development PKI.
public final class PrivateKey: @unchecked Sendable {
    let handle: OpaquePointer

    public enum Algorithm: Sendable, CustomStringConvertible {
        case rsa(bits: Int), ecP256, ecP384, ed25519
        public var description: String {
            switch self {
            case .rsa(let bits): return "RSA-\(bits)"
            case .ecP256: return "EC P-256"
            case .ecP384: return "EC P-384"
            case .ed25519: return "Ed25519"
            }
        }
    }

    init(taking handle: OpaquePointer) { self.handle = handle }

    deinit { EVP_PKEY_free(handle) }

    public static func generate(_ algorithm: Algorithm) throws -> PrivateKey {
        let name: String
        switch algorithm {
        case .rsa: name = "RSA"
        case .ecP256, .ecP384: name = "EC"
        case .ed25519: name = "ED25519"
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, name, nil) else { throw OpenSSLErrors.error("no \(name) key support") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw OpenSSLErrors.error("\(algorithm) key generation setup failed") }
        switch algorithm {
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else { throw OpenSSLErrors.error("bad RSA size \(bits)") }
        case .ecP256, .ecP384:
            let curve = algorithm.description.hasSuffix("256") ? "P-256" : "P-384"
            guard EVP_PKEY_CTX_set_group_name(ctx, curve) == 1 else { throw OpenSSLErrors.error("no curve \(curve)") }
        case .ed25519:
            break
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw OpenSSLErrors.error("\(algorithm) key generation failed") }
        return PrivateKey(taking: key)
    }

    /// Loads a PEM private key (PKCS#8 or traditional), unencrypted.
    public static func load(pem bytes: [UInt8], source: String = "key") throws -> PrivateKey {
        let bio = try MemoryBIO(copying: bytes)
        OpenSSLErrors.clear()
        guard let key = PEM_read_bio_PrivateKey(bio.handle, nil, nil, nil) else {
            throw OpenSSLErrors.error("\(source) holds no readable unencrypted PEM private key", code: .config)
        }
        return PrivateKey(taking: key)
    }

    public static func load(file path: String) throws -> PrivateKey {
        try load(pem: try readSmallFile(path, limit: 1 << 20), source: path)
    }

    /// PKCS#8 PEM, unencrypted: for the development PKI only (files written with mode 0600).
    public func pkcs8PEM() throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PrivateKey(bio.handle, handle, nil, nil, 0, nil, nil) == 1 else {
            throw OpenSSLErrors.error("could not encode private key")
        }
        return bio.bytes
    }

    public var info: PublicKeyInfo { PublicKeyInfo(handle) }

    /// True when `certificate` carries this key's public half.
    public func matches(_ certificate: Certificate) -> Bool {
        X509_check_private_key(certificate.handle, handle) == 1
    }
}
