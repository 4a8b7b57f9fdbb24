/// What one side of a TLS connection proves itself with: its certificate, the intermediates a peer
/// needs to build a chain to its trust anchor, and the private key.
///
/// Loaded and checked once (the key must belong to the certificate), so a bad file is a clear
/// `.config` error at start rather than a handshake failure on the first connection.
public struct TLSCredential: Sendable {
    /// The end-entity certificate sent to the peer.
    public let certificate: Certificate
    /// Intermediate CA certificates sent after it, nearest first.
    public let chain: [Certificate]
    /// The key of `certificate`.
    public let privateKey: PrivateKey

    /// A credential from loaded objects; throws `.config` when `privateKey` is not the key of `certificate`.
    public init(certificate: Certificate, chain: [Certificate] = [], privateKey: PrivateKey) throws {
        guard privateKey.matches(certificate) else {
            throw AxisError(.config, "the TLS private key does not belong to certificate \(certificate.subject): "
                + "configure the key file that was issued with this certificate")
        }
        self.certificate = certificate
        self.chain = chain
        self.privateKey = privateKey
    }

    /// Loads a PEM chain file (the end-entity certificate first, then its intermediates) and an
    /// unencrypted PEM private key file.
    public static func load(certificateChainFile: String, privateKeyFile: String) throws -> TLSCredential {
        let certificates = try Certificate.load(file: certificateChainFile)
        guard let leaf = certificates.first else {
            throw AxisError(.config, "\(certificateChainFile) holds no certificate")
        }
        let key = try PrivateKey.load(file: privateKeyFile)
        guard key.matches(leaf) else {
            throw AxisError(.config, "\(privateKeyFile) is not the private key of the first certificate in "
                + "\(certificateChainFile) (\(leaf.subject)): the chain file must start with the server's own certificate")
        }
        return try TLSCredential(certificate: leaf, chain: Array(certificates.dropFirst()), privateKey: key)
    }
}
