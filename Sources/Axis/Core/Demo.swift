/// What `axisd --demo` sets up and shows: a development PKI, four demo agencies bound to their
/// signing certificates, and one signed document accepted, receipted and carried through the journal
/// to its recipient, so a new user sees the whole path on the first run.
///
/// The first exchange runs in-process, exactly as the daemon does for a real client: the sender
/// signs, the axis verifies the signature against the PKI and the agency directory, journals the
/// acceptance, signs its receipt; the recipient leases the document, reads it back, and acknowledges
/// with its own signed receipt. Then axisd prints the commands that do the same over HTTPS.
public enum Demo {
    public static let agencyCodes = ["000.00.00.G22", "000.00.00.G17", "000.00.00.H29", "000.00.00.H41"]
    public static let agencyNames = ["Văn phòng Chính phủ (demo)", "Bộ Tài chính (demo)",
                                     "UBND tỉnh Hà Nội (demo)", "UBND TP Hồ Chí Minh (demo)"]

    /// The demo's signing material: the development PKI under `<data>/pki`, a verifier that trusts it,
    /// and the axis's receipt signer.
    public struct Setup: Sendable {
        public let pki: DevelopmentPKI
        /// The HTTPS server certificate and one client certificate per demo system (`<pki>/tls/`).
        public let tls: DevelopmentTLS
        public let verifier: SignatureVerifier
        public let issuer: ReceiptIssuer
        /// True when this run created the PKI.
        public let createdPKI: Bool
    }

    public static func pkiDirectory(_ core: AxisCore) -> String { PathJoin.join(core.layout.data, "pki") }

    /// Opens the development PKI under the data directory, creating it on the first run.
    public static func prepare(_ core: AxisCore) throws -> Setup {
        let directory = pkiDirectory(core)
        let created = !PosixStorage().fileExists(PathJoin.join(directory, "trust"))
        let pki = created ? try DevelopmentPKI.create(at: directory, now: core.clock.now()) : try DevelopmentPKI.open(directory)
        let verifier = SignatureVerifier(trust: try TrustStore.load(pki.trustConfiguration), clock: core.clock)
        let issuer = try ReceiptIssuer.load(keyPath: pki.axisKeyPath, certificatePath: pki.axisChainPath)
        // Made separately from the PKI, so a demo directory from before TLS gains it on its next start.
        let (tls, _) = try DevelopmentTLS.openOrCreate(pki: pki, systems: agencyCodes, now: core.clock.now())
        return Setup(pki: pki, tls: tls, verifier: verifier, issuer: issuer, createdPKI: created)
    }

    /// The demo system hosting `code`: one system per agency, named after it.
    public static func systemID(for code: String) throws -> SystemID { try SystemID("demo-\(code)") }

    /// Registers the demo agencies, each bound to its development signing certificate and hosted by a
    /// system of its own that authenticates with its TLS client certificate, unless already so.
    /// Returns how many directory records it wrote.
    public static func seedDirectory(_ core: AxisCore, setup: Setup) throws -> Int {
        let now = core.clock.now()
        var changes: [JournalRecord] = []
        for (code, name) in zip(agencyCodes, agencyNames) {
            let agency = try AgencyCode(code)
            let system = try systemID(for: code)
            let fingerprints = setup.pki.agency(code).map { [$0.fingerprint] } ?? []
            let existing = core.withState { $0.agencies[agency] }
            if existing?.certificateFingerprints != fingerprints || existing?.system != system {
                var entry = existing ?? AgencyEntry(code: agency, name: name, email: "vanthu@\(code).demo")
                entry.certificateFingerprints = fingerprints
                entry.system = system
                changes.append(.agencyChanged(AgencyChanged(agency: entry, at: now, actor: .policy("demo"),
                                                            reason: "axisd --demo: bind the development PKI certificate")))
            }
            let tlsFingerprints = setup.tls.system(code).map { [$0.fingerprint] } ?? []
            let existingSystem = core.withState { $0.systems[system] }
            if existingSystem?.tlsFingerprints != tlsFingerprints || existingSystem?.agencies != [agency]
                || existingSystem?.vdxpSystemID.isEmpty != false || existingSystem?.vdxpSecret.isEmpty != false {
                var entry = existingSystem ?? SystemEntry(id: system, name: "Demo system of \(name)")
                entry.tlsFingerprints = tlsFingerprints
                entry.agencies = [agency]
                // The VDXP SDK's credentials: a system id and a random secret, kept across runs.
                if entry.vdxpSystemID.isEmpty { entry.vdxpSystemID = vdxpSystemID(for: code) }
                if entry.vdxpSecret.isEmpty { entry.vdxpSecret = randomSecret() }
                changes.append(.systemChanged(SystemChanged(system: entry, at: now, actor: .policy("demo"),
                                                            reason: "axisd --demo: the system's TLS client certificate and VDXP credentials")))
            }
        }
        if !changes.isEmpty { _ = try core.recordAndWait(changes) }
        return changes.count
    }

    /// The VDXP `systemid` of the demo system hosting `code`.
    public static func vdxpSystemID(for code: String) -> String { "demo.vdxp.\(code)" }

    /// Each demo agency with its system's VDXP id and secret (for demo.json), in `agencyCodes` order.
    public static func vdxpCredentials(_ state: QueueState) -> [(agency: String, systemID: String, secret: String)] {
        agencyCodes.compactMap { code in
            guard let id = try? systemID(for: code), let system = state.systems[id], !system.vdxpSystemID.isEmpty else { return nil }
            return (code, system.vdxpSystemID, system.vdxpSecret)
        }
    }

    /// 24 random bytes in hexadecimal.
    static func randomSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.encode((0..<24).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    public struct Exchange: Sendable {
        public let accepted: AcceptedDocument
        public let signature: SignatureReport
        public let acknowledged: AppendReceipt
        public let recipientReceipt: SignatureReport
        public var document: DocumentID { accepted.record.id }
    }

    /// Sends one signed demo document from G22 to H29 and has H29 take it and acknowledge it with a
    /// signed receipt.
    public static func exchangeOneDocument(_ core: AxisCore, setup: Setup) throws -> Exchange {
        let sender = try AgencyCode(agencyCodes[0])
        let recipient = try AgencyCode(agencyCodes[2])
        let now = core.clock.now()
        var rng = SystemRandomNumberGenerator()
        let id = DocumentID.generate(at: now, using: &rng)
        let body = Array("Axis demo document \(id) sent \(now)\n".utf8)

        // The sender signs; the axis verifies against the PKI and the directory, as ingress will.
        let signature = try sign(body, as: sender.rawValue, pki: setup.pki)
        let senderBinding = try binding(for: sender, core)
        let report = try setup.verifier.verify(document: body, signature: signature, binding: senderBinding)
        guard case .trusted(let signer) = report.verdict else {
            throw AxisError(.crypto, "demo signature rejected: \(report.failures.map(\.description).joined(separator: "; "))")
        }
        let payload = try core.payloads.storeAndWait(body)
        let signatureRef = try core.payloads.storeAndWait(signature)
        let accepted = try core.accept(DocumentAccepted(
            id: id, sender: sender, recipients: [recipient], senderDocumentID: "demo-\(id.hex.prefix(12))",
            subject: "Axis demo", contentType: "text/plain; charset=utf-8", payload: payload, signature: signatureRef,
            signerFingerprint: signer.fingerprint, signerSubject: signer.subject, ingress: .admin, acceptedAt: now),
            issuer: setup.issuer)

        // The recipient takes the document, reads the exact bytes back, and acknowledges with its own
        // signed receipt (a detached signature over the bytes it received).
        _ = try core.recordAndWait([.deliveryLeased(DeliveryLeased(
            document: id, recipient: recipient, at: now, until: Timestamp(millis: now.millis + 30_000),
            actor: .agency(recipient)))])
        let received = try core.payloads.read(payload)
        guard received == body else { throw AxisError(.payloadCorrupt, "demo document did not read back byte-exact") }
        let receipt = try sign(received, as: recipient.rawValue, pki: setup.pki)
        let receiptReport = try ReceiptVerification.recipientReceipt(receipt, document: received,
                                                                     recipient: try binding(for: recipient, core),
                                                                     verifier: setup.verifier)
        guard receiptReport.isTrusted else {
            throw AxisError(.crypto, "demo recipient receipt rejected: \(receiptReport.failures.map(\.description).joined(separator: "; "))")
        }
        let receiptRef = try core.payloads.storeAndWait(receipt)
        let acked = try core.recordAndWait([.deliveryAcknowledged(DeliveryAcknowledged(
            document: id, recipient: recipient, at: core.clock.now(), actor: .agency(recipient), receipt: receiptRef))])[0]
        return Exchange(accepted: accepted, signature: report, acknowledged: acked, recipientReceipt: receiptReport)
    }

    static func sign(_ bytes: [UInt8], as code: String, pki: DevelopmentPKI) throws -> [UInt8] {
        guard let credential = pki.agency(code) else { throw AxisError(.config, "the development PKI has no certificate for \(code)") }
        guard let certificate = try Certificate.load(file: credential.certificatePath).first else {
            throw AxisError(.config, "\(credential.certificatePath) holds no certificate")
        }
        return try DetachedSigner.sign(bytes, key: try PrivateKey.load(file: credential.keyPath), certificate: certificate,
                                       chain: try Certificate.load(file: pki.intermediateCertificatePath))
    }

    static func binding(for agency: AgencyCode, _ core: AxisCore) throws -> AgencyBinding {
        guard let entry = core.withState({ $0.agencies[agency] }) else {
            throw AxisError(.config, "demo agency \(agency) is not in the directory")
        }
        return AgencyBinding(entry)
    }
}
