/// The knobs of signature verification, with the defaults documented in docs/SIGNATURES.md.
public struct SignaturePolicy: Sendable, Equatable {
    public enum CRLProblem: String, Sendable { case reject, accept }

    /// A certificate in the chain whose issuer has no CRL in the CRL directory. Default: reject, so a
    /// missing CRL is noticed at once rather than silently disabling revocation for that CA.
    public var missingCRL: CRLProblem = .reject
    /// The newest CRL of an issuer is past its nextUpdate. Default: reject once `staleCRLGraceMillis` is over.
    public var staleCRL: CRLProblem = .reject
    /// How long past nextUpdate a CRL is still used as current. Default: 0.
    public var staleCRLGraceMillis: Int64 = 0
    /// How far in the future a signingTime may be (clock skew between offices). Default: 5 minutes.
    public var futureSkewMillis: Int64 = 5 * 60_000
    /// The smallest RSA key accepted. Default: 2048 bits.
    public var minimumRSABits = 2048
    /// The largest signature (CMS structure) accepted. Default: 1 MiB.
    public var maximumSignatureBytes = 1 << 20
    /// How long a chain result is reused at most (also bounded by certificate expiry and CRL nextUpdate).
    /// Default: 1 hour.
    public var chainCacheMillis: Int64 = 3_600_000
    /// How many signer certificates' chain results are kept. Default: 10,000.
    public var chainCacheCapacity = 10_000

    public init() {}
}
