@preconcurrency import Glibc
import COpenSSL

/// Ed25519 in CMS (RFC 8419), done with OpenSSL's primitives.
///
/// OpenSSL 3.0's CMS code hashes before it signs or verifies (`EVP_DigestSignInit` with SHA-512),
/// which pure EdDSA refuses ("invalid digest"), so `CMS_sign` and `CMS_SignerInfo_verify` fail for
/// Ed25519 keys. OpenSSL still parses and builds the structure; only the signature step is ours:
/// Ed25519 over the DER of the signed attributes (or over the content when there are none), exactly
/// as RFC 8419 §3 specifies.
enum Ed25519CMS {
    /// The DER encoding of the SignerInfo's signed attributes as a SET OF (tag 0x31): what the
    /// signature covers (RFC 5652 §5.4). DER orders a SET OF by the elements' encodings.
    static func signedAttributesDER(_ signerInfo: OpaquePointer) throws -> [UInt8] {
        var elements: [[UInt8]] = []
        for index in 0..<CMS_signed_get_attr_count(signerInfo) {
            var out: UnsafeMutablePointer<UInt8>?
            let length = axis_cms_signed_attr_der(signerInfo, index, &out)
            guard length > 0, let out else { throw OpenSSLErrors.error("could not encode a signed attribute") }
            elements.append(Array(UnsafeBufferPointer(start: out, count: Int(length))))
            axis_openssl_free(out)
        }
        elements.sort(by: derSetOrder)
        let body = elements.flatMap { $0 }
        return [0x31] + derLength(body.count) + body
    }

    /// X.690 §11.6: compare as octet strings, the shorter padded with zero octets at its end.
    static func derSetOrder(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            if x != y { return x < y }
        }
        return false
    }

    static func isEd25519(_ x509: OpaquePointer) -> Bool {
        guard let key = X509_get0_pubkey(x509) else { return false }
        return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519
    }

    /// Verifies the signature value: over the signed attributes when present (the caller checks the
    /// messageDigest attribute against the content), otherwise over `content` itself.
    static func verify(_ signerInfo: OpaquePointer, signer: OpaquePointer, content: UnsafeRawBufferPointer) -> Result<Void, AxisError> {
        OpenSSLErrors.clear()
        guard let key = X509_get0_pubkey(signer), let signature = CMS_SignerInfo_get0_signature(signerInfo),
              let sigBytes = ASN1_STRING_get0_data(signature) else {
            return .failure(OpenSSLErrors.error("the signer has no usable Ed25519 key or the signature value is missing"))
        }
        let signed: [UInt8]
        if SignedData.hasSignedAttributes(signerInfo) {
            do { signed = try signedAttributesDER(signerInfo) } catch let error as AxisError { return .failure(error) } catch {
                return .failure(AxisError(.crypto, "\(error)"))
            }
        } else {
            signed = Array(content)
        }
        guard let ctx = EVP_MD_CTX_new() else { return .failure(OpenSSLErrors.error("out of memory")) }
        defer { EVP_MD_CTX_free(ctx) }
        let ok = EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1
            && signed.withUnsafeBufferPointer {
                EVP_DigestVerify(ctx, sigBytes, Int(ASN1_STRING_length(signature)), $0.baseAddress, $0.count) == 1
            }
        return ok ? .success(()) : .failure(OpenSSLErrors.error("Ed25519 signature check failed"))
    }

    /// A detached CMS SignedData over `content` signed with an Ed25519 key: digest SHA-512 (RFC 8419
    /// §3.1), signed attributes content type, signing time and message digest.
    static func signDetached(_ content: [UInt8], key: PrivateKey, certificate: Certificate, chain: [Certificate],
                             signingTime: Timestamp) throws -> [UInt8] {
        OpenSSLErrors.clear()
        guard let stack = axis_sk_X509_new_null() else { throw OpenSSLErrors.error("out of memory") }
        defer { axis_sk_X509_pop_free(stack) }
        for extra in chain where axis_sk_X509_push_ref(stack, extra.handle) != 1 { throw OpenSSLErrors.error("out of memory") }
        // CMS_PARTIAL: OpenSSL builds the structure but does not sign (its signing step is what fails).
        let flags = UInt32(CMS_PARTIAL | CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP)
        guard let cmsHandle = CMS_sign(nil, nil, stack, nil, flags) else { throw OpenSSLErrors.error("CMS_sign failed") }
        let cms = SignedData(taking: cmsHandle)
        guard let sha512 = Digests.shared.md(NID_sha512),
              let signerInfo = CMS_add1_signer(cms.handle, certificate.handle, key.handle, sha512, flags) else {
            throw OpenSSLErrors.error("could not add the Ed25519 signer")
        }
        guard let digest = content.withUnsafeBytes({ SignedData.digest($0, nid: NID_sha512) }),
              let time = ASN1_TIME_set(nil, time_t(signingTime.millis / 1000)) else {
            throw OpenSSLErrors.error("could not prepare the signed attributes")
        }
        defer { ASN1_TIME_free(time) }
        let added = CMS_signed_add1_attr_by_NID(signerInfo, NID_pkcs9_contentType, V_ASN1_OBJECT, UnsafeRawPointer(OBJ_nid2obj(NID_pkcs7_data)), -1) == 1
            && CMS_signed_add1_attr_by_NID(signerInfo, NID_pkcs9_signingTime, time.pointee.type, time, -1) == 1
            && digest.withUnsafeBufferPointer {
                CMS_signed_add1_attr_by_NID(signerInfo, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, $0.baseAddress, Int32($0.count)) == 1
            }
        guard added else { throw OpenSSLErrors.error("could not add the signed attributes") }
        let toSign = try signedAttributesDER(signerInfo)
        guard let ctx = EVP_MD_CTX_new() else { throw OpenSSLErrors.error("out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = signature.count
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key.handle) == 1,
              EVP_DigestSign(ctx, &signature, &length, toSign, toSign.count) == 1,
              axis_cms_set_signature(signerInfo, signature, Int32(length)) == 1,
              // OpenSSL leaves the algorithm unset when it does not sign itself.
              axis_cms_set_signature_algorithm(signerInfo, NID_ED25519) == 1 else {
            throw OpenSSLErrors.error("Ed25519 signing failed")
        }
        // A partial structure keeps a placeholder for content to be streamed in later; drop it.
        guard CMS_set_detached(cms.handle, 1) == 1 else { throw OpenSSLErrors.error("could not mark the signature detached") }
        return try derEncode({ i2d_CMS_ContentInfo(cms.handle, $0) }, what: "CMS signature")
    }
}
