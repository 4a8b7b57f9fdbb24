import COpenSSL

/// The `cms` fuzz target: arbitrary bytes as a document and the CMS signature sent with it.
///
/// Input: `flags u8 | document length u16 LE | document | signature` (a short input is all document).
///
///     flags & 3   0: verify over the document bytes   1: over precomputed digests (the streamed path)
///                 2: verify an attached signature     3: parse only (OpenSSL and the DER walker)
///     flags & 4   check the binding to agency 000.00.00.F01 by the fixture's subject rule
///     flags & 8   check a binding whose subject rule is the document text
///
/// The trust store holds only the fixture root (`FuzzFixtures`), with a fixed verification time.
/// Each input is verified by a fresh verifier (cold: every chain built) and by one whose chain cache
/// holds every chain that builds to the fixture root (warm: the fast path, which parses the signature
/// without its carried certificates). The cache may remember a chain the input no longer carries, but
/// it must never change any other check, and what is trusted must also pass OpenSSL's CMS_verify.
extension FuzzEntry {
    struct CMSFixture: Sendable {
        let trust: TrustStore
        /// Warmed with the four fixture signatures when built: it then holds every chain that can build
        /// to the root (two leaves, the intermediate, the root), so no input changes it and a saved input
        /// replays the same in a fresh process.
        let warm: SignatureVerifier
        /// The fixture leaves and intermediate, to find a signer for the OpenSSL cross-check.
        let certificates: [Certificate]
    }

    struct FixedClock: TimeSource {
        func now() -> Timestamp { FuzzFixtures.verificationTime }
        func monotonicNanos() -> UInt64 { 0 }
    }

    static let cmsFixture: Result<CMSFixture, FuzzViolation> = {
        do {
            let trust = try TrustStore(anchors: Certificate.load(Array(FuzzFixtures.rootPEM.utf8), source: "fuzz root"))
            let warm = SignatureVerifier(trust: trust, clock: FixedClock())
            var certificates: [Certificate] = []
            for (index, encoded) in FuzzFixtures.signaturesBase64.enumerated() {
                guard let signature = FuzzFixtures.decodeWrapped(encoded) else { return .failure(FuzzViolation("cms", "a fixture signature is not base64")) }
                let report = try warm.verify(document: FuzzFixtures.document, signature: signature, binding: nil)
                // The leaves' signatures pass; the CAs' fail only their key usage.
                guard index < 2 ? report.isTrusted : report.failures.map(\.check) == [.keyUsage] else {
                    return .failure(FuzzViolation("cms", "fixture signature \(index) verifies as \(report.failures)"))
                }
                certificates += try signature.withUnsafeBytes { try SignedData.parse($0).certificates() }
            }
            guard warm.cachedChains == cmsChainsMax else {
                return .failure(FuzzViolation("cms", "the warm verifier caches \(warm.cachedChains) chains, not \(cmsChainsMax)"))
            }
            return .success(CMSFixture(trust: trust, warm: warm, certificates: certificates))
        } catch {
            return .failure(FuzzViolation("cms", "the fixture PKI does not load: \(error)"))
        }
    }()

    static let cmsAgency = (try? AgencyCode("000.00.00.F01"))

    /// The certificates that can chain to the fixture root, hence the most chains a verifier can cache.
    static let cmsChainsMax = 4

    @Sendable
    public static func cms(_ data: UnsafeRawBufferPointer) throws(FuzzViolation) {
        let fixture = try cmsFixture.get()
        let flags = data.first ?? 0
        let declared = data.count >= 3 ? Int(data[1]) | Int(data[2]) << 8 : 0
        let documentEnd = min(data.count, 3 + declared)
        let document = data.count >= 3 ? Array(data[3..<documentEnd]) : Array(data)
        let signature = data.count >= 3 ? Array(data[documentEnd...]) : []

        try cmsWalk(signature)
        _ = SignatureVerifier.digestAlgorithm(of: signature)
        let mode = flags & 3
        if mode == 3 {
            _ = signature.withUnsafeBytes { try? SignedData.parse($0) }
            return
        }
        var binding: AgencyBinding?
        if let agency = cmsAgency {
            if flags & 8 != 0 {
                binding = AgencyBinding(agency: agency, subjectRule: String(decoding: document, as: UTF8.self))
            } else if flags & 4 != 0 {
                binding = AgencyBinding(agency: agency, subjectRule: "O=Axis Fuzz, OU=000.00.00.F01")
            }
        }
        let cold = SignatureVerifier(trust: fixture.trust, clock: FixedClock())
        let coldReport = try cmsVerify(cold, mode, document, signature, binding)
        let warmReport = try cmsVerify(fixture.warm, mode, document, signature, binding)
        try check(fixture.warm.cachedChains == cmsChainsMax, "cms",
                  "the warm verifier now caches \(fixture.warm.cachedChains) chains: a new certificate chains to the fixture root")
        try cmsCompare(cold: coldReport, warm: warmReport)
        if coldReport.isTrusted || warmReport.isTrusted, cmsDigestSetIsUsable(signature) {
            try cmsOpenSSLAgrees(document: mode == 2 ? nil : document, signature: signature, fixture: fixture)
        }
    }

    private static func cmsVerify(_ verifier: SignatureVerifier, _ mode: UInt8, _ document: [UInt8], _ signature: [UInt8],
                                  _ binding: AgencyBinding?) throws(FuzzViolation) -> SignatureReport {
        do {
            switch mode {
            case 0:
                return try verifier.verify(document: document, signature: signature, binding: binding)
            case 1:
                var values: [DigestAlgorithm: [UInt8]] = [:]
                for algorithm in DigestAlgorithm.allCases {
                    values[algorithm] = document.withUnsafeBytes { SignedData.digest($0, nid: algorithm.nid) }
                }
                let digests = DocumentDigests(length: UInt64(document.count), values: values)
                return try verifier.verify(documentDigests: digests, signature: signature, binding: binding)
            default:
                return try verifier.verifyAttached(signature: signature, binding: binding).report
            }
        } catch {
            // Verification throws only when it could not check at all (out of memory): never for bad input.
            throw FuzzViolation("cms", "verification threw instead of reporting: \(error)")
        }
    }

    /// The chain cache may only change the chain-derived checks, never make a good signature fail.
    private static func cmsCompare(cold: SignatureReport, warm: SignatureReport) throws(FuzzViolation) {
        let chainDerived: Set<SignatureCheck> = [.chain, .validity, .revocation]
        if cold.isTrusted {
            try check(warm.isTrusted, "cms", "trusted by a cold verifier, rejected by a warm one: \(warm.failures)")
        }
        if warm.isTrusted, !cold.isTrusted {
            try check(cold.failures.allSatisfy { chainDerived.contains($0.check) }, "cms",
                      "trusted with a cached chain, but a cold verifier finds more than chain problems: \(cold.failures)")
        }
        for check in SignatureCheck.allCases where !chainDerived.contains(check) && check != .structure {
            guard let c = cold.outcome(check), let w = warm.outcome(check) else { continue }
            try FuzzEntry.check(c.status == w.status, "cms", "\(check) is \(c.status) cold (\(c.detail)) but \(w.status) warm (\(w.detail))")
        }
    }

    /// OpenSSL's CMS_verify (signer certificate given, chain not checked) must accept what Axis trusts.
    private static func cmsOpenSSLAgrees(document: [UInt8]?, signature: [UInt8], fixture: CMSFixture) throws(FuzzViolation) {
        let outcome: Result<Void, AxisError>? = signature.withUnsafeBytes { raw in
            guard let cms = try? SignedData.parse(raw), let signerInfo = cms.signerInfos.first else { return nil }
            let carried = (try? cms.certificates()) ?? []
            guard let signer = (carried + fixture.certificates).first(where: { SignedData.signerMatches(signerInfo, $0) }) else { return nil }
            if Ed25519CMS.isEd25519(signer.handle) { return .success(()) }  // OpenSSL 3.0's CMS_verify cannot check Ed25519
            return (document ?? []).withUnsafeBytes { cms.verifyWithoutAttributes(content: $0, signer: signer.handle) }
        }
        switch outcome {
        case nil:
            throw FuzzViolation("cms", "Axis trusts a signature that OpenSSL cannot parse or whose signer it cannot find")
        case .failure(let error)?:
            throw FuzzViolation("cms", "Axis trusts a signature that OpenSSL's CMS_verify refuses: \(error.message)")
        case .success?:
            break
        }
    }

    /// False when the SignedData's digestAlgorithms set names an algorithm OpenSSL cannot fetch. CMS_verify
    /// then refuses the whole structure ("unknown digest algorithm") while Axis, which reads only the
    /// signer's own digest algorithm (RFC 5652 §5.1 lets that set hold anything), does not: a known,
    /// harmless difference, so the cross-check is skipped. True when the set cannot be found (BER).
    private static func cmsDigestSetIsUsable(_ signature: [UInt8]) -> Bool {
        signature.withUnsafeBytes { der in
            typealias E = CarriedCertificates
            guard let outer = E.element(der, at: 0, end: der.count), let oid = E.element(der, at: outer.contentStart, end: outer.end),
                  let wrapper = E.element(der, at: oid.end, end: outer.end),
                  let signedData = E.element(der, at: wrapper.contentStart, end: wrapper.end),
                  let version = E.element(der, at: signedData.contentStart, end: signedData.end),
                  let set = E.element(der, at: version.end, end: signedData.end), set.tag == 0x31 else { return true }
            var cursor = set.contentStart
            while cursor < set.end {
                guard let algorithm = E.element(der, at: cursor, end: set.end),
                      let identifier = E.element(der, at: algorithm.contentStart, end: algorithm.end), identifier.tag == 0x06,
                      let base = der.baseAddress else { return false }
                var p: UnsafePointer<UInt8>? = (base + identifier.start).assumingMemoryBound(to: UInt8.self)
                guard let object = d2i_ASN1_OBJECT(nil, &p, identifier.end - identifier.start) else { return false }
                let nid = OBJ_obj2nid(object)
                ASN1_OBJECT_free(object)
                guard nid != NID_undef, let name = OBJ_nid2sn(nid), EVP_get_digestbyname(name) != nil else { return false }
                cursor = algorithm.end
            }
            return true
        }
    }

    /// The DER walker that finds carried certificates must stay inside the input and describe it exactly.
    private static func cmsWalk(_ signature: [UInt8]) throws(FuzzViolation) {
        let split: CarriedCertificates? = signature.withUnsafeBytes { CarriedCertificates.split($0) }
        guard let split else { return }
        var previousEnd = 0
        for range in split.ranges {
            try check(range.lowerBound >= previousEnd && range.upperBound <= signature.count && !range.isEmpty
                      && signature[range.lowerBound] == 0x30, "cms", "carried certificate range \(range) in \(signature.count) bytes")
            previousEnd = range.upperBound
        }
        let carried = split.ranges.reduce(0) { $0 + $1.count }
        try check(split.stripped.count + carried <= signature.count, "cms",
                  "stripping \(carried) certificate bytes from \(signature.count) left \(split.stripped.count)")
        let outer = split.stripped.withUnsafeBytes { CarriedCertificates.element($0, at: 0, end: $0.count) }
        try check(outer.map { $0.tag == 0x30 && $0.end == split.stripped.count } ?? false, "cms",
                  "the stripped signature is not one DER SEQUENCE of \(split.stripped.count) bytes")
    }
}
