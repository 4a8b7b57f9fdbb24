@preconcurrency import Glibc
import COpenSSL

/// A parsed CMS (PKCS#7) SignedData structure: an owning wrapper around `CMS_ContentInfo`, with the
/// accessors signature verification needs and the signing call the axis uses for its receipts.
///
/// Not shared between threads: verification sets the signer certificate inside the structure.
final class SignedData {
    let handle: OpaquePointer

    init(taking handle: OpaquePointer) { self.handle = handle }

    deinit { CMS_ContentInfo_free(handle) }

    /// Parses DER or PEM (`-----BEGIN CMS-----` or `-----BEGIN PKCS7-----`). Throws `.malformed` with
    /// OpenSSL's reason when the bytes are not CMS.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> SignedData {
        OpenSSLErrors.clear()
        if looksLikePEM(bytes) {
            let parsed = try MemoryBIO.withReadOnly(bytes) { PEM_read_bio_CMS($0, nil, nil, nil) }
            guard let parsed else { throw OpenSSLErrors.error("the PEM signature is not a CMS/PKCS#7 structure", code: .malformed) }
            return SignedData(taking: parsed)
        }
        let parsed: OpaquePointer? = bytes.withMemoryRebound(to: UInt8.self) { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_CMS_ContentInfo(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw OpenSSLErrors.error("the signature is not DER CMS/PKCS#7", code: .malformed) }
        return SignedData(taking: parsed)
    }

    var isSignedData: Bool { OBJ_obj2nid(CMS_get0_type(handle)) == NID_pkcs7_signed }

    var isDetached: Bool { CMS_is_detached(handle) == 1 }

    /// The embedded content of an attached signature (nil when detached).
    var embeddedContent: [UInt8]? {
        var data: UnsafePointer<UInt8>?
        let length = axis_cms_embedded_content(handle, &data)
        guard length >= 0 else { return nil }
        guard let data, length > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    var signerInfos: [OpaquePointer] {
        guard let stack = CMS_get0_SignerInfos(handle) else { return [] }
        return (0..<axis_sk_CMS_SignerInfo_num(stack)).compactMap { axis_sk_CMS_SignerInfo_value(stack, $0) }
    }

    /// The certificates carried in the structure (signer, often intermediates).
    func certificates() throws -> [Certificate] {
        guard let stack = CMS_get1_certs(handle) else { return [] }
        defer { axis_sk_X509_pop_free(stack) }
        return try (0..<axis_sk_X509_num(stack)).compactMap { i in
            try axis_sk_X509_value(stack, i).map { try Certificate(retaining: $0) }
        }
    }

    static func signerMatches(_ signerInfo: OpaquePointer, _ certificate: Certificate) -> Bool {
        CMS_SignerInfo_cert_cmp(signerInfo, certificate.handle) == 0
    }

    static func algorithms(_ signerInfo: OpaquePointer) -> (digest: Int32, signature: Int32) {
        var digest: Int32 = 0, signature: Int32 = 0
        axis_cms_signer_algs(signerInfo, &digest, &signature)
        return (digest, signature)
    }

    enum AttributeValue<T> { case absent, malformed, value(T) }

    static func signingTime(_ signerInfo: OpaquePointer) -> AttributeValue<Timestamp> {
        var broken = tm()
        switch axis_cms_signing_time(signerInfo, &broken) {
        case 0: return .absent
        case 1: return .value(timestamp(fromUTC: &broken))
        default: return .malformed
        }
    }

    static func messageDigest(_ signerInfo: OpaquePointer) -> AttributeValue<[UInt8]> {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = axis_cms_message_digest(signerInfo, &buffer, Int32(buffer.count))
        switch n {
        case 0: return .absent
        case 1...: return .value(Array(buffer.prefix(Int(n))))
        default: return .malformed
        }
    }

    static func hasSignedAttributes(_ signerInfo: OpaquePointer) -> Bool {
        CMS_signed_get_attr_count(signerInfo) > 0
    }

    /// Verifies the signature over the signed attributes with `signer`'s public key. The caller
    /// checks the messageDigest attribute against the content separately.
    static func verifySignedAttributes(_ signerInfo: OpaquePointer, signer: OpaquePointer) -> Result<Void, AxisError> {
        OpenSSLErrors.clear()
        CMS_SignerInfo_set1_signer_cert(signerInfo, signer)
        guard CMS_SignerInfo_verify(signerInfo) == 1 else { return .failure(OpenSSLErrors.error("signature check failed")) }
        return .success(())
    }

    /// Full verification of a SignerInfo without signed attributes (the signature is over the content
    /// itself): OpenSSL's `CMS_verify` with the chain check left to the caller.
    func verifyWithoutAttributes(content: UnsafeRawBufferPointer, signer: OpaquePointer) -> Result<Void, AxisError> {
        OpenSSLErrors.clear()
        guard let stack = axis_sk_X509_new_null() else { return .failure(OpenSSLErrors.error("out of memory")) }
        defer { axis_sk_X509_pop_free(stack) }
        guard axis_sk_X509_push_ref(stack, signer) == 1 else { return .failure(OpenSSLErrors.error("out of memory")) }
        let flags = UInt32(CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY)
        // An attached signature carries its content; OpenSSL refuses a second copy alongside it.
        // The detached content goes through a pass-through filter: given a memory BIO, OpenSSL 3.0's
        // CMS_verify reads from a copy it makes, and leaks that copy when it then cannot set up the
        // digests (an unknown algorithm in the SignedData's digestAlgorithms set), so a sender could
        // make every such request leak (found by fuzzing: Fuzz/failcases/cms/).
        let ok = isDetached
            ? (try? MemoryBIO.withReadOnly(content) { memory -> Bool in
                guard let method = BIO_f_null(), let filter = BIO_new(method) else { return false }
                defer {
                    _ = BIO_pop(filter)
                    BIO_free(filter)
                }
                _ = BIO_push(filter, memory)
                return CMS_verify(handle, stack, nil, filter, nil, flags) == 1
            }) ?? false
            : CMS_verify(handle, stack, nil, nil, nil, flags) == 1
        return ok ? .success(()) : .failure(OpenSSLErrors.error("signature check failed"))
    }

    /// Signs `content` detached, with signed attributes (content type, signing time, message
    /// digest), and returns DER. `chain` certificates are embedded after the signer's.
    static func sign(_ content: [UInt8], key: PrivateKey, certificate: Certificate, chain: [Certificate],
                     detached: Bool = true) throws -> [UInt8] {
        OpenSSLErrors.clear()
        guard let stack = axis_sk_X509_new_null() else { throw OpenSSLErrors.error("out of memory") }
        defer { axis_sk_X509_pop_free(stack) }
        for extra in chain where axis_sk_X509_push_ref(stack, extra.handle) != 1 { throw OpenSSLErrors.error("out of memory") }
        let flags = UInt32((detached ? CMS_DETACHED : 0) | CMS_BINARY | CMS_NOSMIMECAP)
        let bio = try MemoryBIO(copying: content)
        guard let cms = CMS_sign(certificate.handle, key.handle, stack, bio.handle, flags) else {
            throw OpenSSLErrors.error("CMS signing failed")
        }
        let signed = SignedData(taking: cms)
        return try derEncode({ i2d_CMS_ContentInfo(signed.handle, $0) }, what: "CMS signature")
    }

    /// One-shot digest of `content` with the algorithm `nid`, or nil when OpenSSL lacks it.
    static func digest(_ content: UnsafeRawBufferPointer, nid: Int32) -> [UInt8]? {
        guard let md = Digests.shared.md(nid) else { return nil }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        var empty: UInt8 = 0
        let base = content.baseAddress ?? withUnsafePointer(to: &empty) { UnsafeRawPointer($0) }
        guard EVP_Digest(base, content.count, &out, &length, md, nil) == 1 else { return nil }
        return Array(out.prefix(Int(length)))
    }
}

/// Message digests fetched once (an implicit fetch per call costs a provider lookup).
final class Digests: @unchecked Sendable {
    static let shared = Digests()
    private let table: [Int32: OpaquePointer]

    private init() {
        var table: [Int32: OpaquePointer] = [:]
        for nid in [NID_sha256, NID_sha384, NID_sha512] {
            if let name = OBJ_nid2sn(nid), let md = EVP_MD_fetch(nil, name, nil) { table[nid] = md }
        }
        self.table = table
    }

    func md(_ nid: Int32) -> OpaquePointer? { table[nid] }
}

/// Detached CMS signing with a key and certificate: what the axis uses for its receipts, and what
/// tests and benchmarks use to make signed documents.
public enum DetachedSigner {
    /// A DER CMS SignedData over `content` (not embedded), with signed attributes (content type,
    /// signing time, message digest) and the signer's certificate plus `chain`.
    public static func sign(_ content: [UInt8], key: PrivateKey, certificate: Certificate, chain: [Certificate] = [],
                            signingTime: Timestamp = SystemClock().now()) throws -> [UInt8] {
        guard key.matches(certificate) else {
            throw AxisError(.config, "the private key does not belong to certificate \(certificate.subject)")
        }
        if key.info.kind == .ed25519 {
            return try Ed25519CMS.signDetached(content, key: key, certificate: certificate, chain: chain, signingTime: signingTime)
        }
        return try SignedData.sign(content, key: key, certificate: certificate, chain: chain)
    }

    /// Like `sign`, but with `content` embedded: one file that holds both the facts and their
    /// signature (`openssl cms -verify` prints the content). Used for the axis's receipts.
    public static func signAttached(_ content: [UInt8], key: PrivateKey, certificate: Certificate,
                                    chain: [Certificate] = []) throws -> [UInt8] {
        guard key.matches(certificate) else {
            throw AxisError(.config, "the private key does not belong to certificate \(certificate.subject)")
        }
        guard key.info.kind != .ed25519 else {
            throw AxisError(.config, "attached (receipt) signatures need an RSA or EC key; OpenSSL 3.0 CMS cannot embed content with Ed25519")
        }
        return try SignedData.sign(content, key: key, certificate: certificate, chain: chain, detached: false)
    }
}
