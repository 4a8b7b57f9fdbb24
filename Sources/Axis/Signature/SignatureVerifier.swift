import COpenSSL

/// Checks detached CMS signatures over documents against a trust store, a policy and, when the
/// sender is known, the agency directory's binding.
///
/// `verify` runs every check it can and reports each one (see `SignatureCheck` for the order), so a
/// rejection lists every reason at once. It throws only when it could not check at all (OpenSSL out
/// of memory). Thread-safe: one verifier serves all connections; its chain cache is shared.
public final class SignatureVerifier: @unchecked Sendable {
    public let trust: TrustStore
    public let policy: SignaturePolicy
    private let clock: any TimeSource
    private let cache: ChainCache

    public init(trust: TrustStore, policy: SignaturePolicy = SignaturePolicy(), clock: any TimeSource = SystemClock()) {
        self.trust = trust
        self.policy = policy
        self.clock = clock
        cache = ChainCache(capacity: policy.chainCacheCapacity)
    }

    /// How many signer certificates have a cached chain result.
    public var cachedChains: Int { cache.count }

    public func verify(document: [UInt8], signature: [UInt8], binding: AgencyBinding?) throws -> SignatureReport {
        try document.withUnsafeBytes { doc in
            try signature.withUnsafeBytes { sig in try verify(document: doc, signature: sig, binding: binding) }
        }
    }

    public func verify(document: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer,
                       binding: AgencyBinding?) throws -> SignatureReport {
        try check(signature: signature, document: .bytes(document), binding: binding).report
    }

    /// Checks a signature over a document that was streamed (to the payload store) rather than held in
    /// memory: `digests` must include the signature's own digest algorithm (`digestAlgorithm(of:)`
    /// says which, before the body arrives). A signature without signed attributes covers the bytes
    /// themselves and is rejected on this path, with a reason saying so.
    public func verify(documentDigests digests: DocumentDigests, signature: [UInt8], binding: AgencyBinding?) throws -> SignatureReport {
        try signature.withUnsafeBytes { try check(signature: $0, document: .digests(digests), binding: binding).report }
    }

    /// The digest algorithm `signature` uses over the document, or nil when the signature cannot be read
    /// or uses one Axis does not accept (verification then reports why).
    public static func digestAlgorithm(of signature: [UInt8]) -> DigestAlgorithm? {
        signature.withUnsafeBytes { raw in
            guard let cms = try? SignedData.parse(raw), let signerInfo = cms.signerInfos.first else { return nil }
            return DigestAlgorithm(nid: SignedData.algorithms(signerInfo).digest)
        }
    }

    /// Checks a signature that embeds its content (as the axis's receipts do) and returns the
    /// report with the content, when it could be read.
    public func verifyAttached(signature: [UInt8], binding: AgencyBinding?) throws -> (report: SignatureReport, content: [UInt8]?) {
        try signature.withUnsafeBytes { try check(signature: $0, document: nil, binding: binding) }
    }

    /// `document` nil: the signature must embed its content.
    private func check(signature: UnsafeRawBufferPointer, document: SignedContent?,
                       binding: AgencyBinding?) throws -> (report: SignatureReport, content: [UInt8]?) {
        var run = Run(now: clock.now())
        defer { OpenSSLErrors.clear() }

        // 1. Structure: a detached SignedData with one signer whose certificate we can find.
        guard signature.count > 0 else {
            return (run.stop(.failed(.structure, "the signature is empty; send the detached CMS (.p7s) made over the document")), nil)
        }
        guard signature.count <= policy.maximumSignatureBytes else {
            return (run.stop(.failed(.structure, "the signature is \(signature.count) bytes; at most \(policy.maximumSignatureBytes) "
                + "are accepted (a detached CMS signature is normally a few KiB; was the document sent as the signature?)")), nil)
        }
        if let document, let fast = try verifyWithCachedSigner(signature: signature, document: document, binding: binding, run: &run) {
            return (fast, nil)
        }
        let cms: SignedData
        do { cms = try SignedData.parse(signature) } catch let error as AxisError {
            return (run.stop(.failed(.structure, "the signature is not a CMS/PKCS#7 structure: \(error.message)")), nil)
        }
        guard cms.isSignedData else {
            return (run.stop(.failed(.structure, "the CMS structure is not SignedData (it is \(Self.name(OBJ_obj2nid(CMS_get0_type(cms.handle)))))")), nil)
        }
        let signerInfos = cms.signerInfos
        guard signerInfos.count == 1, let signerInfo = signerInfos.first else {
            return (run.stop(.failed(.structure, "the signature has \(signerInfos.count) signers; Axis accepts exactly one")), nil)
        }
        let content: [UInt8]?
        if document == nil {
            guard !cms.isDetached, let embedded = cms.embeddedContent else {
                return (run.stop(.failed(.structure, "the signature is detached; this check needs one that embeds its content")), nil)
            }
            content = embedded
        } else {
            guard cms.isDetached else {
                return (run.stop(.failed(.structure, "the signature embeds its content; Axis needs a detached signature over the "
                    + "document bytes (openssl cms -sign without -nodetach)")), nil)
            }
            content = nil
        }
        let report = try withCarriedCertificates(cms) { carried -> SignatureReport in
            guard let signerHandle = carried.first(where: { CMS_SignerInfo_cert_cmp(signerInfo, $0) == 0 })
                    ?? (trust.intermediates + trust.anchors).first(where: { CMS_SignerInfo_cert_cmp(signerInfo, $0.handle) == 0 })?.handle else {
                return run.stop(.failed(.structure, "the signature does not carry the signer's certificate; include it when signing "
                    + "(openssl cms -sign without -nocerts)"))
            }
            let form = content == nil ? "detached" : "content embedded"
            run.add(.passed(.structure, "CMS SignedData, \(form), one signer, \(carried.count) certificate(s) included"))
            if let document {
                return try verifySigner(signerInfo, signerHandle: signerHandle, cms: cms, carried: carried,
                                        document: document, binding: binding, run: &run)
            }
            return try (content ?? []).withUnsafeBytes {
                try verifySigner(signerInfo, signerHandle: signerHandle, cms: cms, carried: carried,
                                 document: .bytes($0), binding: binding, run: &run)
            }
        }
        return (report, content)
    }

    /// The steady-state path: when a carried certificate is one whose chain result is cached, parse
    /// the signature without its certificates (decoding them is most of the cost) and use the cached,
    /// already decoded signer. Nil when that does not apply; the caller then parses in full.
    private func verifyWithCachedSigner(signature: UnsafeRawBufferPointer, document: SignedContent,
                                        binding: AgencyBinding?, run: inout Run) throws -> SignatureReport? {
        guard !looksLikePEM(signature), let carried = CarriedCertificates.split(signature) else { return nil }
        var hits: [(Digest256, ChainCache.Entry)] = []
        var fingerprints: [Digest256] = []
        for range in carried.ranges {
            let fingerprint = SHA256Hasher.digest(UnsafeRawBufferPointer(rebasing: signature[range]))
            fingerprints.append(fingerprint)
            if let entry = cache.lookup(fingerprint, now: run.now) { hits.append((fingerprint, entry)) }
        }
        guard !hits.isEmpty else { return nil }
        // Only when every carried certificate is one already decoded (a cached signer or a certificate
        // of its chain): an unknown one may be malformed, and then the full parse must refuse the
        // signature, whatever the cache holds (found by fuzzing: Fuzz/failcases/cms/).
        let known = Set(hits.flatMap { hit in [hit.0] + hit.1.chain.map(\.fingerprint) })
        guard fingerprints.allSatisfy(known.contains) else { return nil }
        let parsed = carried.stripped.withUnsafeBytes { try? SignedData.parse($0) }
        guard let cms = parsed, cms.isSignedData, cms.isDetached, cms.signerInfos.count == 1, let signerInfo = cms.signerInfos.first,
              let (fingerprint, entry) = hits.first(where: { CMS_SignerInfo_cert_cmp(signerInfo, $0.1.chain[0].handle) == 0 }) else {
            return nil
        }
        let carriedCount = carried.ranges.count
        run.add(.passed(.structure, lazy: { "CMS SignedData, detached, one signer, \(carriedCount) certificate(s) included" }))
        return try verifySigner(signerInfo, signerHandle: entry.chain[0].handle, cms: cms, carried: [], document: document,
                                binding: binding, run: &run, known: (fingerprint, entry))
    }

    private func verifySigner(_ signerInfo: OpaquePointer, signerHandle: OpaquePointer, cms: SignedData, carried: [OpaquePointer],
                              document: SignedContent, binding: AgencyBinding?, run: inout Run,
                              known: (Digest256, ChainCache.Entry)? = nil) throws -> SignatureReport {
        let fingerprint = try known?.0 ?? Self.fingerprint(signerHandle)
        let cached = known?.1 ?? cache.lookup(fingerprint, now: run.now)
        let leaf: Certificate
        if let cachedLeaf = cached?.chain.first {
            leaf = cachedLeaf
        } else {
            // A certificate OpenSSL parsed but Axis cannot read (e.g. an unreadable validity period) is a
            // rejection with its reason, not a failure to check (found by fuzzing: Fuzz/failcases/cms/).
            do { leaf = try Certificate(retaining: signerHandle) } catch let error as AxisError {
                return run.stop(.failed(.chain, "the signer's certificate cannot be read: \(error.message)"))
            }
        }

        // 2. Algorithms.
        let algorithms = SignedData.algorithms(signerInfo)
        run.add(algorithmOutcome(digest: algorithms.digest, signature: algorithms.signature, key: leaf.publicKey))

        // 3. The signature over the exact bytes.
        run.add(signatureOutcome(signerInfo, signerHandle: signerHandle, cms: cms, digestNID: algorithms.digest, document: document))

        // 4. Signing time: the time validity is judged at.
        switch SignedData.signingTime(signerInfo) {
        case .absent:
            run.add(.skipped(.signingTime, "no signingTime attribute: validity is checked at the verification time, \(run.now)"))
        case .malformed:
            run.add(.failed(.signingTime, "the signingTime attribute is present but unreadable"))
        case .value(let signed):
            if signed.millis > run.now.millis + policy.futureSkewMillis {
                run.add(.failed(.signingTime, "signing time \(signed) is in the future (verification time \(run.now), "
                    + "allowed skew \(policy.futureSkewMillis / 1000) s): check the signer's clock"))
            } else {
                run.add(.passed(.signingTime, lazy: { "signed at \(signed)" }))
                run.validationTime = signed
                run.timeBasis = .signingTime
            }
        }

        // 5–8. Chain, validity, key usage, revocation.
        let chainResult: ChainResult
        if let cached {
            let detail = cached.chainDetail
            chainResult = ChainResult(chain: cached.chain, chainOutcome: .passed(.chain, lazy: { detail }),
                                      revocation: cached.revocation, cacheable: false)
        } else {
            // A carried certificate Axis cannot read is left out: the chain then fails to build if it was needed.
            let others = carried.filter { $0 != signerHandle }.compactMap { try? Certificate(retaining: $0) }
            chainResult = try buildChain(leaf: leaf, untrusted: others + trust.intermediates, now: run.now)
            if chainResult.cacheable {
                var expires = min(Timestamp(millis: run.now.millis + policy.chainCacheMillis), leaf.notAfter)
                if let crlUpdate = trust.earliestCRLUpdate { expires = min(expires, crlUpdate) }
                cache.store(fingerprint, ChainCache.Entry(chain: chainResult.chain, revocation: chainResult.revocation, expires: expires,
                                                          signer: SignerSummary(leaf, chain: chainResult.chain),
                                                          chainDetail: chainResult.chainOutcome.detail + " (cached)"), now: run.now)
            }
        }
        run.add(chainResult.chainOutcome)
        run.add(validityOutcome(chainResult.chain.isEmpty ? [leaf] : chainResult.chain, at: run.validationTime, basis: run.timeBasis))
        run.add(keyUsageOutcome(leaf))
        run.add(chainResult.revocation)

        // 9. Agency binding.
        run.add(binding?.check(leaf) ?? .skipped(.agencyBinding, "no sending agency given: binding not checked"))
        run.signer = cached?.signer ?? SignerSummary(leaf, chain: chainResult.chain)
        return run.report
    }

    // MARK: - The individual checks

    private func algorithmOutcome(digest: Int32, signature: Int32, key: PublicKeyInfo?) -> CheckOutcome {
        var problems: [String] = []
        if ![NID_sha256, NID_sha384, NID_sha512].contains(digest) {
            problems.append("digest \(Self.name(digest)) is not accepted; sign with SHA-256, SHA-384 or SHA-512")
        }
        let acceptedSignatures: Set<Int32> = [NID_rsaEncryption, NID_sha256WithRSAEncryption, NID_sha384WithRSAEncryption,
                                              NID_sha512WithRSAEncryption, NID_rsassaPss, NID_ecdsa_with_SHA256,
                                              NID_ecdsa_with_SHA384, NID_ecdsa_with_SHA512, NID_X9_62_id_ecPublicKey,
                                              NID_ED25519]
        if !acceptedSignatures.contains(signature) {
            problems.append("signature algorithm \(Self.name(signature)) is not accepted (RSA PKCS#1 v1.5 or PSS, ECDSA, Ed25519 are)")
        }
        var keyText = "unknown key"
        if let key {
            keyText = key.description
            switch key.kind {
            case .rsa, .rsaPSS:
                if key.bits < policy.minimumRSABits {
                    problems.append("\(key) is too weak; at least RSA-\(policy.minimumRSABits) is required")
                }
            case .ed25519:
                // RFC 8419 §3.1: with Ed25519 the message digest is SHA-512.
                if digest != NID_sha512 { problems.append("Ed25519 signatures must use SHA-512 as the digest (RFC 8419)") }
            case .ec where key.curve == "P-256" || key.curve == "P-384":
                break
            case .ec:
                problems.append("curve \(key.curve) is not accepted (P-256 and P-384 are)")
            case .ed448, .other:
                problems.append("\(key) keys are not accepted")
            }
        }
        guard problems.isEmpty else { return .failed(.algorithm, problems.joined(separator: "; ")) }
        let key = keyText
        return .passed(.algorithm, lazy: { "\(Self.name(signature)) with \(Self.name(digest)), \(key)" })
    }

    private func signatureOutcome(_ signerInfo: OpaquePointer, signerHandle: OpaquePointer, cms: SignedData, digestNID: Int32,
                                  document content: SignedContent) -> CheckOutcome {
        let ed25519 = Ed25519CMS.isEd25519(signerHandle)
        guard SignedData.hasSignedAttributes(signerInfo) else {
            guard case .bytes(let document) = content else {
                return .failed(.signature, "the signature has no signed attributes, so it covers the document bytes themselves, "
                    + "which this streamed check does not hold; sign with signed attributes (the default of openssl cms -sign)")
            }
            let result = ed25519 ? Ed25519CMS.verify(signerInfo, signer: signerHandle, content: document)
                                 : cms.verifyWithoutAttributes(content: document, signer: signerHandle)
            switch result {
            case .success:
                let count = document.count
                return .passed(.signature, lazy: { "valid over the \(count) document bytes (no signed attributes)" })
            case .failure(let error):
                return .failed(.signature, "the signature does not match the document bytes (altered document, or signed with "
                    + "another key): \(error.message)")
            }
        }
        // With signed attributes the signature covers the attributes, and the messageDigest attribute
        // covers the document: check both.
        guard case .value(let claimed) = SignedData.messageDigest(signerInfo) else {
            return .failed(.signature, "the signed attributes carry no readable messageDigest")
        }
        guard let actual = content.digest(nid: digestNID) else {
            return .failed(.signature, "the document was not hashed with \(Self.name(digestNID)), the signature's digest")
        }
        var problems: [String] = []
        if claimed != actual {
            problems.append("the document's \(Self.name(digestNID)) does not match the signed messageDigest: the document bytes "
                + "are not the ones that were signed")
        }
        // With signed attributes only the content's digest (above) is needed, not the content.
        let attributesResult = ed25519 ? Ed25519CMS.verify(signerInfo, signer: signerHandle, content: UnsafeRawBufferPointer(start: nil, count: 0))
                                       : SignedData.verifySignedAttributes(signerInfo, signer: signerHandle)
        if case .failure(let error) = attributesResult {
            problems.append("the signature over the signed attributes does not verify with the signer's key: \(error.message)")
        }
        let count = content.length
        return problems.isEmpty
            ? .passed(.signature, lazy: { "valid over the \(count) document bytes" })
            : .failed(.signature, problems.joined(separator: "; "))
    }

    private func validityOutcome(_ chain: [Certificate], at time: Timestamp, basis: SignatureReport.TimeBasis) -> CheckOutcome {
        let when: @Sendable () -> String = {
            basis == .signingTime ? "the signing time \(time)" : "the verification time \(time)"
        }
        var problems: [String] = []
        for certificate in chain {
            if time < certificate.notBefore {
                problems.append("\(certificate.subject) is not valid until \(certificate.notBefore), after \(when())")
            } else if time > certificate.notAfter {
                problems.append("\(certificate.subject) expired on \(certificate.notAfter), before \(when())")
            }
        }
        let count = chain.count
        return problems.isEmpty
            ? .passed(.validity, lazy: { "\(count) certificate(s) valid at \(when())" })
            : .failed(.validity, problems.joined(separator: "; "))
    }

    private func keyUsageOutcome(_ leaf: Certificate) -> CheckOutcome {
        guard let usage = leaf.keyUsage else { return .passed(.keyUsage, lazy: { "no keyUsage extension (unrestricted)" }) }
        if usage.contains(.digitalSignature) || usage.contains(.nonRepudiation) { return .passed(.keyUsage, lazy: { usage.description }) }
        return .failed(.keyUsage, "the signer's key usage is \(usage); signing needs digitalSignature or nonRepudiation")
    }

    // MARK: - Chain building

    private struct ChainResult {
        let chain: [Certificate]
        let chainOutcome: CheckOutcome
        let revocation: CheckOutcome
        let cacheable: Bool
    }

    /// Collects every error OpenSSL's chain verification meets (the callback tells it to go on).
    private final class ErrorCollector {
        struct Problem: Equatable { let code: Int32; let depth: Int32; let subject: String; let revokedOn: Timestamp? }
        var problems: [Problem] = []
        let crls: [RevocationList]
        init(crls: [RevocationList]) { self.crls = crls }
    }

    private func buildChain(leaf: Certificate, untrusted: [Certificate], now: Timestamp) throws -> ChainResult {
        guard let stack = axis_sk_X509_new_null() else { throw OpenSSLErrors.error("out of memory") }
        defer { axis_sk_X509_pop_free(stack) }
        for certificate in untrusted where axis_sk_X509_push_ref(stack, certificate.handle) != 1 { throw OpenSSLErrors.error("out of memory") }
        guard let ctx = X509_STORE_CTX_new() else { throw OpenSSLErrors.error("out of memory") }
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, trust.store, leaf.handle, stack) == 1 else { throw OpenSSLErrors.error("X509_STORE_CTX_init failed") }
        // Times are checked by us, at the signing time; revocation by OpenSSL against the loaded CRLs.
        var flags = UInt(X509_V_FLAG_NO_CHECK_TIME)
        if trust.checksRevocation { flags |= UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) }
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), flags)
        let collector = ErrorCollector(crls: trust.revocationLists)
        withExtendedLifetime(collector) {
            _ = axis_store_ctx_set_app_data(ctx, Unmanaged.passUnretained(collector).toOpaque())
            X509_STORE_CTX_set_verify_cb(ctx) { ok, ctx in
                guard ok == 0, let ctx, let raw = axis_store_ctx_get_app_data(ctx) else { return ok }
                let collector = Unmanaged<ErrorCollector>.fromOpaque(raw).takeUnretainedValue()
                let code = X509_STORE_CTX_get_error(ctx)
                let current = X509_STORE_CTX_get_current_cert(ctx)
                let subject = current.map { DistinguishedName(X509_get_subject_name($0)).description } ?? "?"
                let revokedOn = code == X509_V_ERR_CERT_REVOKED
                    ? current.flatMap { cert in collector.crls.lazy.compactMap { $0.revocationDate(ofHandle: cert) }.first } : nil
                let problem = ErrorCollector.Problem(code: code, depth: X509_STORE_CTX_get_error_depth(ctx), subject: subject,
                                                     revokedOn: revokedOn)
                if !collector.problems.contains(problem) { collector.problems.append(problem) }
                return 1
            }
            OpenSSLErrors.clear()
            // The callback lets every verification error through, so anything but 1 is a failure to verify
            // at all (OpenSSL 3.0 says "internal error" for a leaf whose public key does not decode) that
            // reached no callback: without this, no problem was collected and the chain counted as trusted
            // (found by fuzzing: Fuzz/failcases/cms/).
            if X509_verify_cert(ctx) != 1, collector.problems.isEmpty {
                collector.problems.append(ErrorCollector.Problem(code: X509_V_ERR_UNSPECIFIED, depth: 0,
                                                                 subject: leaf.subject.description, revokedOn: nil))
            }
            OpenSSLErrors.clear()
        }
        var chain: [Certificate] = []
        if let built = X509_STORE_CTX_get0_chain(ctx) {
            chain = try (0..<axis_sk_X509_num(built)).compactMap { try axis_sk_X509_value(built, $0).map { try Certificate(retaining: $0) } }
        }
        return classify(collector.problems, chain: chain, now: now)
    }

    private static let revocationErrors: Set<Int32> = [
        X509_V_ERR_CERT_REVOKED, X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_CRL_SIGNATURE_FAILURE,
        X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN,
        X509_V_ERR_DIFFERENT_CRL_SCOPE, X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_CRL_HAS_EXPIRED,
        X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD, X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD, X509_V_ERR_CRL_PATH_VALIDATION_ERROR,
    ]

    private func classify(_ problems: [ErrorCollector.Problem], chain: [Certificate], now: Timestamp) -> ChainResult {
        var chainProblems: [String] = []
        var revocationProblems: [String] = []
        var revocationNotes: [String] = []
        let anchorDepth = Int32(chain.count - 1)
        for problem in problems {
            let text = Self.verifyErrorText(problem.code)
            // A trust anchor is trusted by configuration (to distrust one, remove it), so OpenSSL's
            // request for a CRL covering the anchor itself is not a finding.
            if problem.code == X509_V_ERR_UNABLE_TO_GET_CRL && problem.depth == anchorDepth && chain.count > 1 { continue }
            if problem.code == X509_V_ERR_CERT_REVOKED {
                let date = problem.revokedOn.map { " on \($0)" } ?? ""
                revocationProblems.append("\(problem.subject) was revoked\(date)")
            } else if problem.code == X509_V_ERR_UNABLE_TO_GET_CRL {
                // Without a trusted chain there is no issuer whose CRL we could want.
                if problems.contains(where: { !Self.revocationErrors.contains($0.code) }) { continue }
                let message = "no CRL for \(problem.subject) from its issuer in the CRL directory"
                if policy.missingCRL == .reject {
                    revocationProblems.append(message + " (policy missingCRL=reject: add the issuer's CRL)")
                } else {
                    revocationNotes.append(message + " (accepted by policy missingCRL=accept)")
                }
            } else if Self.revocationErrors.contains(problem.code) {
                revocationProblems.append("\(text) (\(problem.subject))")
            } else {
                chainProblems.append("\(text) at \(problem.subject)")
            }
        }
        let chainTrusted = chainProblems.isEmpty
        if trust.checksRevocation && chainTrusted {
            // OpenSSL's time checks are off (we judge validity at the signing time), so CRL freshness is ours.
            for (index, certificate) in chain.enumerated() where index + 1 < chain.count {
                guard let crl = trust.newestCRL(issuedBy: chain[index + 1]), let next = crl.nextUpdate else { continue }
                guard next.millis + policy.staleCRLGraceMillis < now.millis else { continue }
                let message = "the newest CRL of \(crl.issuer) (\(crl.source)) was due for update at \(next)"
                if policy.staleCRL == .reject {
                    revocationProblems.append(message + "; fetch a current CRL (policy staleCRL=reject) to check \(certificate.subject)")
                } else {
                    revocationNotes.append(message + " (used anyway: policy staleCRL=accept)")
                }
            }
        }
        let chainOutcome: CheckOutcome = chainTrusted
            ? .passed(.chain, Self.describe(chain: chain))
            : .failed(.chain, "not trusted: " + chainProblems.joined(separator: "; "))
        let revocation: CheckOutcome
        if !revocationProblems.isEmpty {
            revocation = .failed(.revocation, revocationProblems.joined(separator: "; "))
        } else if !trust.checksRevocation {
            revocation = .skipped(.revocation, "no CRL directory configured: revocation not checked")
        } else if !chainTrusted {
            revocation = .skipped(.revocation, "chain not trusted: revocation not judged")
        } else {
            let checked = max(0, chain.count - 1)
            revocation = .passed(.revocation, "\(checked) certificate(s) not revoked by current CRLs"
                + (revocationNotes.isEmpty ? "" : "; " + revocationNotes.joined(separator: "; ")))
        }
        return ChainResult(chain: chain, chainOutcome: chainOutcome, revocation: revocation,
                           cacheable: chainTrusted && revocationProblems.isEmpty && !chain.isEmpty)
    }

    // MARK: - Helpers

    /// Gets the certificates a CMS structure carries as raw handles, valid during `body`.
    private func withCarriedCertificates<R>(_ cms: SignedData, _ body: ([OpaquePointer]) throws -> R) rethrows -> R {
        guard let stack = CMS_get1_certs(cms.handle) else { return try body([]) }
        defer { axis_sk_X509_pop_free(stack) }
        return try body((0..<axis_sk_X509_num(stack)).compactMap { axis_sk_X509_value(stack, $0) })
    }

    static func fingerprint(_ x509: OpaquePointer) throws -> Digest256 {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard let md = Digests.shared.md(NID_sha256), X509_digest(x509, md, &out, &length) == 1,
              let digest = Digest256(bytes: Array(out.prefix(Int(length)))) else {
            throw OpenSSLErrors.error("could not fingerprint the signer certificate")
        }
        return digest
    }

    static func describe(chain: [Certificate]) -> String {
        guard !chain.isEmpty else { return "no chain" }
        return chain.map { $0.subject.description }.joined(separator: " ← ") + " (trust anchor)"
    }

    static func name(_ nid: Int32) -> String {
        guard nid != NID_undef, let ln = OBJ_nid2ln(nid) else { return "unknown algorithm" }
        return String(cString: ln)
    }

    static func verifyErrorText(_ code: Int32) -> String {
        guard let text = X509_verify_cert_error_string(Int(code)) else { return "verification error \(code)" }
        return String(cString: text)
    }
}

/// The document as a verification sees it: its bytes, or, for a streamed document, its digests.
enum SignedContent {
    case bytes(UnsafeRawBufferPointer)
    case digests(DocumentDigests)

    var length: UInt64 {
        switch self {
        case .bytes(let bytes): return UInt64(bytes.count)
        case .digests(let digests): return digests.length
        }
    }

    func digest(nid: Int32) -> [UInt8]? {
        switch self {
        case .bytes(let bytes): return SignedData.digest(bytes, nid: nid)
        case .digests(let digests): return DigestAlgorithm(nid: nid).flatMap { digests.values[$0] }
        }
    }
}

/// The state of one verification while it runs.
private struct Run {
    let now: Timestamp
    var checks: [CheckOutcome] = []
    var signer: SignerSummary?
    var validationTime: Timestamp
    var timeBasis: SignatureReport.TimeBasis = .verificationTime

    init(now: Timestamp) {
        self.now = now
        validationTime = now
    }

    mutating func add(_ outcome: CheckOutcome) { checks.append(outcome) }

    /// Records `outcome` and marks every check not yet run as skipped: nothing more can be checked.
    mutating func stop(_ outcome: CheckOutcome) -> SignatureReport {
        add(outcome)
        for check in SignatureCheck.allCases where check != .receiptContent && !checks.contains(where: { $0.check == check }) {
            checks.append(.skipped(check, "not checked: the signature could not be read"))
        }
        return report
    }

    var report: SignatureReport {
        SignatureReport(checks: checks, signer: signer, validationTime: validationTime, timeBasis: timeBasis, checkedAt: now)
    }
}
