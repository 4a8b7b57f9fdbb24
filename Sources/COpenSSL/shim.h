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

static inline void axis_openssl_free(void *p) { OPENSSL_free(p); }

#endif
