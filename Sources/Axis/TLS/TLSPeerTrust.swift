/// The certificates a TLS peer's chain is verified against: trust anchors (self-signed roots) and any
/// intermediates the peer may not send, plus optional CRLs.
///
/// OpenSSL puts them all in one store; a chain is accepted only when it ends at a self-signed
/// certificate of that store, so listing an intermediate here does not make it an anchor.
public struct TLSPeerTrust: Sendable {
    /// Roots and intermediates, in no particular order.
    public let certificates: [Certificate]
    public let revocationLists: [RevocationList]
    /// When true, every certificate of a peer's chain (but the anchor) must have a current CRL from its
    /// issuer that does not list it; a missing or expired CRL fails the handshake.
    public let checksRevocation: Bool

    /// Throws `.config` when `certificates` is empty: a peer could never be verified.
    public init(certificates: [Certificate], revocationLists: [RevocationList] = [], checksRevocation: Bool? = nil) throws {
        guard !certificates.isEmpty else {
            throw AxisError(.config, "no CA certificates to verify TLS peers with: configure a PEM file of the issuing CAs")
        }
        self.certificates = certificates
        self.revocationLists = revocationLists
        self.checksRevocation = checksRevocation ?? !revocationLists.isEmpty
    }

    /// Every certificate of a PEM bundle (or one DER certificate).
    public static func load(caFile path: String) throws -> TLSPeerTrust {
        try TLSPeerTrust(certificates: try Certificate.load(file: path))
    }

    /// The same anchors, intermediates and CRLs that verify document signatures.
    public init(_ store: TrustStore) throws {
        try self.init(certificates: store.anchors + store.intermediates, revocationLists: store.revocationLists,
                      checksRevocation: store.checksRevocation)
    }
}
