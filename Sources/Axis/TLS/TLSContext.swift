// An OpenSSL SSL_CTX built from a `TLSConfiguration`: the shared, read-only half of every connection
// (certificates, trust store, policy, session cache, ticket keys). One per listener or per client
// role; `TLSConnection`s are made from it on any thread.
//
// Settings every context gets, and why:
//   - modes RELEASE_BUFFERS (an idle connection frees its 16 KiB+ record buffers, so thousands of
//     keep-alive connections stay cheap), ENABLE_PARTIAL_WRITE and ACCEPT_MOVING_WRITE_BUFFER (a
//     non-blocking writer sends what fits and retries from wherever its buffer now lives);
//   - no renegotiation, no compression, the server's cipher order.
// Any failure throws with OpenSSL's drained reasons; nothing half-configured escapes.
import COpenSSL

/// An owning wrapper around OpenSSL's `SSL_CTX`. Immutable after `init`, so shared across threads.
public final class TLSContext: @unchecked Sendable {
    let handle: OpaquePointer
    /// What the context was built from.
    public let configuration: TLSConfiguration

    /// Server or client: which `TLSConnection` initializer takes this context.
    public var role: TLSConfiguration.Role { configuration.role }

    /// Builds the context; throws `.config` for an inconsistent configuration and `.crypto` when OpenSSL
    /// refuses a setting.
    public init(_ configuration: TLSConfiguration) throws {
        OpenSSLErrors.clear()
        let method = configuration.role == .server ? TLS_server_method() : TLS_client_method()
        guard let ctx = SSL_CTX_new(method) else { throw OpenSSLErrors.error("SSL_CTX_new failed") }
        handle = ctx
        self.configuration = configuration
        // From here `deinit` frees `ctx` if a step below throws.
        try applyPolicy()
        if let credential = configuration.credential { try use(credential) }
        switch configuration.role {
        case .server: try configureServer()
        case .client: try configureClient()
        }
    }

    deinit { SSL_CTX_free(handle) }

    /// Protocol versions, ciphers, options and modes: the same for both roles.
    private func applyPolicy() throws {
        let minimum = configuration.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        guard axis_ssl_ctx_set_min_proto_version(handle, minimum) == 1 else {
            throw OpenSSLErrors.error("cannot set the minimum TLS version")
        }
        guard SSL_CTX_set_cipher_list(handle, configuration.tls12Ciphers) == 1 else {
            throw OpenSSLErrors.error("the TLS 1.2 cipher list '\(configuration.tls12Ciphers)' selects no usable cipher",
                                      code: .config)
        }
        _ = SSL_CTX_set_options(handle, axis_ssl_options_axis())
        _ = axis_ssl_ctx_set_mode(handle, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE
                                      | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        // Bounds the chain a peer can make us walk; OpenSSL's depth counts intermediates.
        SSL_CTX_set_verify_depth(handle, Int32(clamping: configuration.verifyDepthMax))
        _ = SSL_CTX_set_timeout(handle, configuration.sessionLifetimeSecondsMax)
    }

    /// This side's certificate, chain and key.
    private func use(_ credential: TLSCredential) throws {
        guard SSL_CTX_use_certificate(handle, credential.certificate.handle) == 1 else {
            throw OpenSSLErrors.error("cannot use TLS certificate \(credential.certificate.subject)", code: .config)
        }
        for intermediate in credential.chain where axis_ssl_ctx_add1_chain_cert(handle, intermediate.handle) != 1 {
            throw OpenSSLErrors.error("cannot add \(intermediate.subject) to the TLS certificate chain", code: .config)
        }
        guard SSL_CTX_use_PrivateKey(handle, credential.privateKey.handle) == 1, SSL_CTX_check_private_key(handle) == 1 else {
            throw OpenSSLErrors.error("cannot use the TLS private key of \(credential.certificate.subject)", code: .config)
        }
    }

    private func configureServer() throws {
        guard configuration.credential != nil else {
            throw AxisError(.config, "a TLS server needs a certificate and private key: configure both files")
        }
        guard configuration.serverTrust == nil else {
            throw AxisError(.config, "serverTrust is for TLS clients; a server verifies clients through clientAuthentication")
        }
        switch configuration.clientAuthentication {
        case .none:
            SSL_CTX_set_verify(handle, SSL_VERIFY_NONE, nil)
        case .optional(let trust):
            try verifyPeers(with: trust, mode: SSL_VERIFY_PEER, advertise: true)
        case .required(let trust):
            try verifyPeers(with: trust, mode: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, advertise: true)
        }
        _ = axis_ssl_ctx_set_session_cache_mode(handle, Int(SSL_SESS_CACHE_SERVER))
        _ = axis_ssl_ctx_sess_set_cache_size(handle, configuration.sessionCacheEntriesMax)
        guard SSL_CTX_set_num_tickets(handle, Int(clamping: max(0, configuration.ticketsPerHandshake))) == 1 else {
            throw OpenSSLErrors.error("cannot set the number of TLS 1.3 session tickets")
        }
        // A server that verifies clients refuses to resume sessions without an id context (a session
        // from another context could otherwise skip verification). Derived from the trusted CAs, so a
        // configuration that trusts other CAs never resumes this one's sessions.
        let context = sessionIDContext()
        guard context.withUnsafeBufferPointer({ SSL_CTX_set_session_id_context(handle, $0.baseAddress, UInt32($0.count)) }) == 1 else {
            throw OpenSSLErrors.error("cannot set the TLS session id context")
        }
    }

    private func configureClient() throws {
        guard let trust = configuration.serverTrust else {
            throw AxisError(.config, "a TLS client needs the CA certificates that issued the server's certificate")
        }
        if case .none = configuration.clientAuthentication {} else {
            throw AxisError(.config, "clientAuthentication is for TLS servers; a client presents its credential instead")
        }
        // Servers are always verified; the name is checked per connection (`TLSConnection`).
        try verifyPeers(with: trust, mode: SSL_VERIFY_PEER, advertise: false)
        // Sessions are handed out explicitly (`TLSConnection.session`), not kept in a context-wide cache.
        _ = axis_ssl_ctx_set_session_cache_mode(handle, Int(SSL_SESS_CACHE_OFF))
    }

    /// Installs a fresh certificate store with `trust` and sets the verification mode. A server also
    /// names the CAs in its certificate request (`advertise`), so a client with several certificates
    /// picks the right one.
    private func verifyPeers(with trust: TLSPeerTrust, mode: Int32, advertise: Bool) throws {
        guard let store = X509_STORE_new() else { throw OpenSSLErrors.error("X509_STORE_new failed") }
        SSL_CTX_set_cert_store(handle, store)  // the context owns the store from here
        for certificate in trust.certificates {
            guard X509_STORE_add_cert(store, certificate.handle) == 1 else {
                throw OpenSSLErrors.error("cannot trust CA certificate \(certificate.subject) for TLS")
            }
            if advertise, SSL_CTX_add_client_CA(handle, certificate.handle) != 1 {
                throw OpenSSLErrors.error("cannot name CA \(certificate.subject) in the TLS certificate request")
            }
        }
        for crl in trust.revocationLists where X509_STORE_add_crl(store, crl.handle) != 1 {
            throw OpenSSLErrors.error("cannot add CRL \(crl.source) to the TLS trust store")
        }
        if trust.checksRevocation {
            guard X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)) == 1 else {
                throw OpenSSLErrors.error("cannot turn on CRL checking for TLS peers")
            }
        }
        SSL_CTX_set_verify(handle, mode, nil)
    }

    /// SHA-256 over the fingerprints of the trusted CAs and the verification mode (32 bytes, OpenSSL's maximum).
    private func sessionIDContext() -> [UInt8] {
        let hasher = SHA256Hasher()
        hasher.update(Array("axis-tls-server".utf8))
        switch configuration.clientAuthentication {
        case .none:
            hasher.update([0])
        case .optional(let trust), .required(let trust):
            let required: UInt8
            if case .required = configuration.clientAuthentication { required = 2 } else { required = 1 }
            hasher.update([required, trust.checksRevocation ? 1 : 0])
            for certificate in trust.certificates { hasher.update(certificate.fingerprint.bytes) }
        }
        return hasher.finish().bytes
    }
}
