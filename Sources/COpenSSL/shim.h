// The slice of OpenSSL 3 that Axis uses, plus inline wrappers for what Swift cannot import
// (function-like macros, variadic functions). Deprecated pre-3.0 APIs are hidden so that using
// one is a compile error rather than a warning.
#ifndef AXIS_COPENSSL_SHIM_H
#define AXIS_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/hmac.h>
#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/asn1.h>
#include <string.h>

#include <time.h>

static inline void axis_openssl_free(void *p) { OPENSSL_free(p); }

static inline long axis_bio_get_mem_data(BIO *bio, const unsigned char **data) {
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    *data = (const unsigned char *)p;
    return n;
}

// STACK_OF(...) accessors are macros in OpenSSL 3.
static inline int axis_sk_X509_num(const STACK_OF(X509) *s) { return sk_X509_num(s); }
static inline X509 *axis_sk_X509_value(const STACK_OF(X509) *s, int i) { return sk_X509_value(s, i); }
static inline STACK_OF(X509) *axis_sk_X509_new_null(void) { return sk_X509_new_null(); }
/// Pushes `x` and takes a reference of its own; returns 0 on failure.
static inline int axis_sk_X509_push_ref(STACK_OF(X509) *s, X509 *x) {
    if (!X509_up_ref(x)) return 0;
    if (sk_X509_push(s, x) <= 0) { X509_free(x); return 0; }
    return 1;
}
static inline void axis_sk_X509_pop_free(STACK_OF(X509) *s) { sk_X509_pop_free(s, X509_free); }
static inline int axis_sk_CMS_SignerInfo_num(const STACK_OF(CMS_SignerInfo) *s) { return sk_CMS_SignerInfo_num(s); }
static inline CMS_SignerInfo *axis_sk_CMS_SignerInfo_value(const STACK_OF(CMS_SignerInfo) *s, int i) {
    return sk_CMS_SignerInfo_value(s, i);
}
static inline int axis_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *s) { return sk_X509_REVOKED_num(s); }

/// The signed signingTime attribute of a SignerInfo as a broken-down UTC time. Returns 1 when
/// present and readable, 0 when absent, -1 when present but malformed.
static inline int axis_cms_signing_time(CMS_SignerInfo *si, struct tm *out) {
    int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    if (idx < 0) return 0;
    X509_ATTRIBUTE *attr = CMS_signed_get_attr(si, idx);
    if (attr == NULL || X509_ATTRIBUTE_count(attr) != 1) return -1;
    ASN1_TYPE *value = X509_ATTRIBUTE_get0_type(attr, 0);
    if (value == NULL) return -1;
    if (value->type != V_ASN1_UTCTIME && value->type != V_ASN1_GENERALIZEDTIME) return -1;
    return ASN1_TIME_to_tm(value->value.utctime, out) == 1 ? 1 : -1;
}

/// The signed messageDigest attribute: copies up to `cap` bytes into `out`; returns its length,
/// 0 when absent, -1 when malformed.
static inline int axis_cms_message_digest(CMS_SignerInfo *si, unsigned char *out, int cap) {
    int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1);
    if (idx < 0) return 0;
    ASN1_OCTET_STRING *os = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
                                                        V_ASN1_OCTET_STRING);
    if (os == NULL) return -1;
    int n = ASN1_STRING_length(os);
    if (n <= 0 || n > cap) return -1;
    memcpy(out, ASN1_STRING_get0_data(os), (size_t)n);
    return n;
}

/// The NIDs of a SignerInfo's digest and signature algorithms.
static inline void axis_cms_signer_algs(CMS_SignerInfo *si, int *digest_nid, int *signature_nid) {
    X509_ALGOR *dig = NULL, *sig = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
    const ASN1_OBJECT *obj = NULL;
    *digest_nid = NID_undef;
    *signature_nid = NID_undef;
    if (dig != NULL) { X509_ALGOR_get0(&obj, NULL, NULL, dig); *digest_nid = OBJ_obj2nid(obj); }
    if (sig != NULL) { X509_ALGOR_get0(&obj, NULL, NULL, sig); *signature_nid = OBJ_obj2nid(obj); }
}

/// The content embedded in an attached SignedData: sets `*data` and returns its length, or -1.
static inline long axis_cms_embedded_content(CMS_ContentInfo *cms, const unsigned char **data) {
    ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
    if (pos == NULL || *pos == NULL) return -1;
    *data = ASN1_STRING_get0_data(*pos);
    return ASN1_STRING_length(*pos);
}

/// DER of one signed attribute of a SignerInfo (caller frees `*out` with OPENSSL_free); -1 on failure.
static inline int axis_cms_signed_attr_der(CMS_SignerInfo *si, int index, unsigned char **out) {
    X509_ATTRIBUTE *attr = CMS_signed_get_attr(si, index);
    if (attr == NULL) return -1;
    *out = NULL;
    return i2d_X509_ATTRIBUTE(attr, out);
}

/// Sets the SignerInfo's signature value (for signatures computed outside CMS, e.g. Ed25519).
static inline int axis_cms_set_signature(CMS_SignerInfo *si, const unsigned char *sig, int len) {
    ASN1_OCTET_STRING *os = CMS_SignerInfo_get0_signature(si);
    return os != NULL && ASN1_STRING_set(os, sig, len) == 1;
}

/// Sets the SignerInfo's signatureAlgorithm to `nid` with absent parameters (RFC 8419 for Ed25519).
static inline int axis_cms_set_signature_algorithm(CMS_SignerInfo *si, int nid) {
    X509_ALGOR *sig = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig);
    return sig != NULL && X509_ALGOR_set0(sig, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL) == 1;
}

/// X509_STORE_CTX app data lives at ex_data index 0 (the macro form is not importable).
static inline int axis_store_ctx_set_app_data(X509_STORE_CTX *ctx, void *data) {
    return X509_STORE_CTX_set_ex_data(ctx, 0, data);
}
static inline void *axis_store_ctx_get_app_data(X509_STORE_CTX *ctx) { return X509_STORE_CTX_get_ex_data(ctx, 0); }

static inline int axis_x509v3_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static inline int axis_crl_add_ext(X509_CRL *crl, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_CRL_add_ext(crl, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

#endif

// TLS (Sources/Axis/TLS): SSL_CTX_ctrl / SSL_ctrl macros and SSL_OP_* bits (built with a function-like
// macro), which Swift cannot import. Guarded on their own because they sit after the guard above.
#ifndef AXIS_COPENSSL_TLS_SHIM_H
#define AXIS_COPENSSL_TLS_SHIM_H
static inline int axis_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long axis_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long axis_ssl_get_mode(SSL *ssl) { return SSL_get_mode(ssl); }
static inline long axis_ssl_clear_mode(SSL *ssl, long mode) { return SSL_clear_mode(ssl, mode); }
static inline long axis_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline long axis_ssl_ctx_sess_set_cache_size(SSL_CTX *ctx, long size) { return SSL_CTX_sess_set_cache_size(ctx, size); }
/// Adds `x` to the context's own certificate chain, taking a reference of its own.
static inline int axis_ssl_ctx_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return (int)SSL_CTX_add1_chain_cert(ctx, x); }
static inline int axis_ssl_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
/// The options Axis sets on every context: no renegotiation (a CPU-exhaustion vector that nothing here
/// needs), no compression (CRIME), the server's cipher order, ChaCha20 first for clients without AES-NI.
static inline uint64_t axis_ssl_options_axis(void) {
    return SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;
}
#endif
