/// The axis's own signing identity, and the receipts it signs with it.
///
/// A receipt is an attached CMS SignedData whose content is the receipt's canonical JSON, so one
/// file carries both the facts and the proof; `openssl cms -verify -inform DER -in receipt.p7s
/// -CAfile trust.pem -purpose any` checks it and prints the JSON.
public final class ReceiptIssuer: @unchecked Sendable {
    public let certificate: Certificate
    /// Intermediate certificates embedded in every receipt, so a verifier needs only the root.
    public let chain: [Certificate]
    private let key: PrivateKey

    public init(key: PrivateKey, certificate: Certificate, chain: [Certificate] = []) throws {
        guard key.matches(certificate) else {
            throw AxisError(.config, "the axis private key does not belong to the axis certificate \(certificate.subject)")
        }
        if let usage = certificate.keyUsage, !usage.contains(.digitalSignature), !usage.contains(.nonRepudiation) {
            throw AxisError(.config, "the axis certificate \(certificate.subject) has key usage \(usage); receipts need "
                + "digitalSignature or nonRepudiation")
        }
        self.key = key
        self.certificate = certificate
        self.chain = chain
    }

    /// Loads the key and certificate files (the certificate file may hold the chain after the certificate).
    public static func load(keyPath: String, certificatePath: String) throws -> ReceiptIssuer {
        let certificates = try Certificate.load(file: certificatePath)
        guard let certificate = certificates.first else {
            throw AxisError(.config, "\(certificatePath) holds no certificate")
        }
        return try ReceiptIssuer(key: try PrivateKey.load(file: keyPath), certificate: certificate,
                                 chain: Array(certificates.dropFirst().filter { !$0.isSelfIssued }))
    }

    /// Signs the receipt: DER CMS with the canonical JSON embedded.
    public func sign(_ receipt: AcceptanceReceipt) throws -> [UInt8] {
        try DetachedSigner.signAttached(receipt.canonicalJSON, key: key, certificate: certificate, chain: chain)
    }

    /// Signs other evidence the axis vouches for (a journal compaction record): DER CMS with `content` embedded.
    public func signAttached(_ content: [UInt8]) throws -> [UInt8] {
        try DetachedSigner.signAttached(content, key: key, certificate: certificate, chain: chain)
    }

    /// Builds and signs the receipt for `accepted`, journaled at `position`.
    public func issue(for accepted: DocumentAccepted, at position: AppendReceipt) throws -> (receipt: AcceptanceReceipt, signed: [UInt8]) {
        let receipt = AcceptanceReceipt(accepted: accepted, position: position)
        return (receipt, try sign(receipt))
    }
}
