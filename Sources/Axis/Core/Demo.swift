/// What `axisd --demo` sets up and shows: four demo agencies, and one document accepted and carried
/// through the journal to its recipient, so a new user sees the whole path on the first run.
///
/// Until the network listeners land, the demo exercises the core in-process: the document is
/// stored in the payload store, accepted, leased to the recipient and acknowledged — each step a
/// durable journal record, exactly as the daemon will write them for a real client.
public enum Demo {
    public static let agencyCodes = ["000.00.00.G22", "000.00.00.G17", "000.00.00.H29", "000.00.00.H41"]
    public static let agencyNames = ["Văn phòng Chính phủ (demo)", "Bộ Tài chính (demo)",
                                     "UBND tỉnh Hà Nội (demo)", "UBND TP Hồ Chí Minh (demo)"]

    /// Registers the demo agencies unless they exist. Returns how many records it wrote.
    public static func seedDirectory(_ core: AxisCore) throws -> Int {
        let now = core.clock.now()
        let missing = try zip(agencyCodes, agencyNames).compactMap { code, name -> JournalRecord? in
            let agency = try AgencyCode(code)
            if core.withState({ $0.agencies[agency] != nil }) { return nil }
            return .agencyChanged(AgencyChanged(agency: AgencyEntry(code: agency, name: name, email: "vanthu@\(code).demo"),
                                                at: now, actor: .policy("demo"), reason: "axisd --demo"))
        }
        if !missing.isEmpty { _ = try core.recordAndWait(missing) }
        return missing.count
    }

    public struct Exchange: Sendable {
        public var document: DocumentID
        public var payload: PayloadRef
        public var accepted: AppendReceipt
        public var acknowledged: AppendReceipt
    }

    /// Sends one demo document from G22 to H29 and has H29 take and acknowledge it.
    public static func exchangeOneDocument(_ core: AxisCore) throws -> Exchange {
        let sender = try AgencyCode(agencyCodes[0])
        let recipient = try AgencyCode(agencyCodes[2])
        let now = core.clock.now()
        var rng = SystemRandomNumberGenerator()
        let id = DocumentID.generate(at: now, using: &rng)
        let body = Array("Axis demo document \(id) sent \(now)\n".utf8)
        let payload = try core.payloads.storeAndWait(body)
        let accepted = try core.recordAndWait([.documentAccepted(DocumentAccepted(
            id: id, sender: sender, recipients: [recipient], senderDocumentID: "demo-\(id.hex.prefix(12))",
            subject: "Axis demo", contentType: "text/plain; charset=utf-8", payload: payload,
            ingress: .admin, acceptedAt: now))])[0]
        _ = try core.recordAndWait([.deliveryLeased(DeliveryLeased(
            document: id, recipient: recipient, at: now, until: Timestamp(millis: now.millis + 30_000),
            actor: .agency(recipient)))])
        // The recipient reads the exact bytes back before acknowledging, as a real client would.
        guard try core.payloads.read(payload) == body else {
            throw AxisError(.payloadCorrupt, "demo document did not read back byte-exact")
        }
        let acked = try core.recordAndWait([.deliveryAcknowledged(DeliveryAcknowledged(
            document: id, recipient: recipient, at: core.clock.now(), actor: .agency(recipient)))])[0]
        return Exchange(document: id, payload: payload, accepted: accepted, acknowledged: acked)
    }
}
