/// Everything a `TLSContext` is built from: which side it plays, what it proves itself with, whom it
/// trusts, and its limits. A value: build one, adjust fields, hand it to `TLSContext(_:)`.
///
/// Defaults are the policy: TLS 1.2 at least (1.3 is preferred automatically, being the highest both
/// sides share), OpenSSL 3's own TLS 1.3 suites (all AEAD), and for TLS 1.2 only ECDHE key exchange
/// with AEAD ciphers (forward secrecy, no CBC padding oracles, no RSA key transport).
public struct TLSConfiguration: Sendable {
    /// Which end of the handshake contexts made from this configuration play.
    public enum Role: Sendable, Equatable {
        /// Accepts connections and presents `credential`.
        case server
        /// Connects, verifies the server against `serverTrust`, and presents `credential` when asked.
        case client
    }

    /// Whether a server asks for a client certificate.
    public enum ClientAuthentication: Sendable {
        /// No certificate is asked for (a listener that authenticates callers some other way, or not at all).
        case none
        /// A certificate is asked for and verified when sent; a client without one still connects.
        case optional(TLSPeerTrust)
        /// A client without a certificate that verifies against the trust is refused in the handshake.
        case required(TLSPeerTrust)
    }

    /// The lowest protocol version accepted. There is no maximum: the highest version both sides know wins.
    public enum MinimumVersion: Sendable, Equatable {
        case tls12, tls13
    }

    /// TLS 1.2 suites: ECDHE (forward secret) with AES-GCM or ChaCha20-Poly1305, any certificate type.
    public static let tls12CiphersDefault = "ECDHE+AESGCM:ECDHE+CHACHA20"

    /// Server or client.
    public var role: Role
    /// The certificate this side presents: required for a server, optional for a client.
    public var credential: TLSCredential?
    /// Server only.
    public var clientAuthentication: ClientAuthentication
    /// Client only, and required there: the CAs the server's certificate must chain to.
    public var serverTrust: TLSPeerTrust?
    /// TLS 1.2 by default, for office systems whose TLS stacks lag; `.tls13` where every peer is known to be current.
    public var minimumVersion: MinimumVersion = .tls12
    /// An OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites keep OpenSSL's defaults).
    public var tls12Ciphers: String = TLSConfiguration.tls12CiphersDefault
    /// Server: sessions kept for TLS 1.2 session-ID resumption (TLS 1.3 tickets carry their state and
    /// take no server memory). Each entry is about 1 KiB.
    public var sessionCacheEntriesMax: Int = 20_000
    /// How long a session (ticket or cache entry) may be resumed. A resumed session skips certificate
    /// verification, so this bounds how long a revoked client certificate keeps working on resumption.
    public var sessionLifetimeSecondsMax: Int = 3_600
    /// Server: TLS 1.3 tickets sent after each full handshake (one is enough for a client that keeps
    /// one connection per server and reconnects).
    public var ticketsPerHandshake: Int = 1
    /// The longest peer chain accepted, counting intermediates only.
    public var verifyDepthMax: Int = 4

    /// A server presenting `credential`.
    public static func server(credential: TLSCredential, clientAuthentication: ClientAuthentication) -> TLSConfiguration {
        TLSConfiguration(role: .server, credential: credential, clientAuthentication: clientAuthentication, serverTrust: nil)
    }

    /// A server presenting the certificate chain and key in these PEM files.
    public static func server(certificateChainFile: String, privateKeyFile: String,
                              clientAuthentication: ClientAuthentication) throws -> TLSConfiguration {
        .server(credential: try TLSCredential.load(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile),
                clientAuthentication: clientAuthentication)
    }

    /// A client that verifies servers against `trust` and presents `credential` when asked.
    public static func client(trust: TLSPeerTrust, credential: TLSCredential? = nil) -> TLSConfiguration {
        TLSConfiguration(role: .client, credential: credential, clientAuthentication: .none, serverTrust: trust)
    }

    private init(role: Role, credential: TLSCredential?, clientAuthentication: ClientAuthentication, serverTrust: TLSPeerTrust?) {
        self.role = role
        self.credential = credential
        self.clientAuthentication = clientAuthentication
        self.serverTrust = serverTrust
    }
}
