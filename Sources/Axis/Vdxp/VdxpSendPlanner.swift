/// What `sendEdoc` makes of an edXML file: the submission (sender, recipients, idempotency key,
/// links to earlier documents, the status it reports) or the reason it is refused. Pure: the edXML
/// facts, the request's parameters and the directory go in; no I/O, so every rule is tested directly.
///
/// Rules (docs/VDXP.md):
/// - The sender is the `from` parameter, or the edXML From when it is absent; both present must agree.
///   The calling system must host it.
/// - A document goes to the `to` parameter (a JSON array or a quoted string), or to the edXML To list
///   when `to` is absent. A status goes to ResponseFor/OrganId (code 13 too: there the sender takes its
///   document back from that recipient); a `to` naming someone else is refused rather than guessed at.
/// - `messagetype` must match what the file is (a status has a StatusCode and no To).
/// - The idempotency key is the SHA-256 of the bytes: the SDK retries a POST up to three times, and
///   edXML DocumentIds are reused by revocations and updates, so only the bytes name a message.
/// - Revocations, updates and replacements link to the sender's earlier documents with the DocumentId
///   they name (Bussiness/DocumentId, else the header's own); statuses link to the document their
///   ResponseFor names, sent by ResponseFor/OrganId (or, for 13, by the status's own sender).
public enum VdxpSendPlanner {
    public struct Request: Sendable {
        public var facts: EdxmlFacts
        public var sha256: Digest256
        /// The `from`, `to` and `messagetype` parameters as sent (nil when absent).
        public var from: String?
        public var to: String?
        public var messageType: String?
        public var system: SystemEntry
        public var signaturePolicy: AxisdConfiguration.VDXP.SignaturePolicy

        public init(facts: EdxmlFacts, sha256: Digest256, from: String?, to: String?, messageType: String?, system: SystemEntry,
                    signaturePolicy: AxisdConfiguration.VDXP.SignaturePolicy) {
            self.facts = facts
            self.sha256 = sha256
            self.from = from
            self.to = to
            self.messageType = messageType
            self.system = system
            self.signaturePolicy = signaturePolicy
        }
    }

    public static let statusCodes: Set<String> = ["01", "02", "03", "04", "05", "06", "13", "15", "16"]

    public static func plan(_ request: Request, state: QueueState) -> Result<Submission, VdxpFailure> {
        let facts = request.facts
        let isStatus = facts.kind == .status
        if let declared = request.messageType?.lowercased(), !declared.isEmpty {
            guard declared == "edoc" || declared == "status" else {
                return .failure(bad("invalid_messagetype", "messagetype '\(declared.prefix(32))' is neither edoc nor status"))
            }
            guard (declared == "status") == isStatus else {
                return .failure(bad("messagetype_mismatch", "messagetype is \(declared) but the edXML is a "
                    + (isStatus ? "status message (it has a StatusCode)" : "document (it has no StatusCode)")
                    + "; send messagetype=\(isStatus ? "status" : "edoc")"))
            }
        }

        // The sender.
        let fromText = request.from.map(stripQuotes) ?? ""
        if !fromText.isEmpty, fromText != facts.from {
            return .failure(bad("from_mismatch", "the from parameter is \(fromText.prefix(64)) but the edXML From/OrganId is "
                + "\(facts.from.prefix(64)); they must name the same agency"))
        }
        guard let sender = try? AgencyCode(facts.from) else {
            return .failure(bad("invalid_from", "the edXML From/OrganId '\(facts.from.prefix(64))' is not an agency code"))
        }
        guard request.system.agencies.contains(sender) else {
            return .failure(VdxpFailure(.forbidden, "not_your_agency", "system \(request.system.vdxpSystemID) does not host \(sender), "
                + "so it cannot send as it (it hosts \(request.system.agencies.map(\.rawValue).joined(separator: ", ")))"))
        }

        // The recipients.
        var recipientTexts: [String]
        if isStatus {
            guard let target = facts.responseFor.first?.organID, !target.isEmpty else {
                return .failure(bad("invalid_status", "the status message has no ResponseFor/OrganId to send it to"))
            }
            recipientTexts = [target]
            if let to = request.to, !to.isEmpty {
                switch VdxpRecipients.parse(to) {
                case .failure(let failure): return .failure(failure)
                case .success(let named) where named != [target]:
                    return .failure(bad("to_mismatch", "a status message goes to its ResponseFor/OrganId \(target.prefix(64)), "
                        + "but to names \(named.joined(separator: ",").prefix(200)); leave to out or name the same agency"))
                case .success: break
                }
            }
        } else if let to = request.to, !to.isEmpty {
            switch VdxpRecipients.parse(to) {
            case .failure(let failure): return .failure(failure)
            case .success(let named): recipientTexts = named
            }
        } else {
            recipientTexts = facts.to
        }
        var recipients: [AgencyCode] = []
        for text in recipientTexts {
            guard let code = try? AgencyCode(text) else { return .failure(bad("invalid_to", "'\(text.prefix(64))' is not an agency code")) }
            if !recipients.contains(code) { recipients.append(code) }
        }
        guard !recipients.isEmpty else { return .failure(bad("invalid_to", "the document has no recipient: send to or edXML To")) }
        let unknown = recipients.filter { state.agencies[$0]?.enabled != true }
        guard unknown.isEmpty else {
            return .failure(VdxpFailure(.unprocessableContent, "unknown_recipient", "unknown or disabled recipient"
                + (unknown.count == 1 ? "" : "s") + ": \(unknown.map(\.rawValue).joined(separator: ", ")); check the codes "
                + "with getAgenciesList"))
        }

        // The signature policy.
        if !isStatus && request.signaturePolicy == .requirePresent && !facts.signaturePresent {
            return .failure(VdxpFailure(.unprocessableContent, "signature_missing", "the edXML document has no enveloped Signature "
                + "in edXMLHeader; sign it with the agency's certificate before sending (this axis requires it)"))
        }

        var submission = Submission(sender: sender, recipients: recipients, senderDocumentID: "edxml:" + request.sha256.hex,
                                    subject: facts.subject,
                                    contentType: "application/xml", signature: [])
        submission.verification = .edxmlEnvelope
        submission.edxml = EdxmlSummary(documentID: facts.documentID, codeNumber: facts.codeNumber, codeNotation: facts.codeNotation,
                                        promulgationDate: facts.promulgationDate, signaturePresent: facts.signaturePresent)
        if isStatus {
            guard statusCodes.contains(facts.statusCode) else {
                return .failure(bad("invalid_status", "StatusCode '\(facts.statusCode.prefix(8))' is not an edXML status code "
                    + "(01–06, 13, 15, 16)"))
            }
            submission.messageType = .status
            submission.statusCode = facts.statusCode
            submission.subject = facts.statusDescription
            let reference = facts.responseFor[0]
            // 13: the sender takes back its own document; otherwise the reporter answers the target's document.
            let originalSender = facts.statusCode == "13" ? facts.from : reference.organID
            let originals = documents(named: reference.documentID, sentBy: originalSender, in: state)
            submission.refersTo = originals
            // DocumentIds are reused by updates and revocations: the status is about the latest
            // of them that reached the reporting agency.
            if facts.statusCode != "13",
               let original = originals.last(where: { state.documents[$0]?.accepted.recipients.contains(sender) == true }) {
                submission.statusReport = Submission.StatusReport(document: original, recipient: sender,
                                                                  description: submission.subject)
            }
        } else {
            guard let business = DocumentAccepted.BusinessType(rawValue: facts.businessDocType) else {
                return .failure(bad("invalid_business_type", "BussinessDocType \(facts.businessDocType) is not 0–3"))
            }
            submission.businessType = business
            var links: [DocumentID] = []
            if business != .new {
                let named = facts.businessDocumentID.isEmpty ? facts.documentID : facts.businessDocumentID
                links += documents(named: named, sentBy: facts.from, in: state)
            }
            // A document that answers another (ResponseFor) links to it as well.
            for reference in facts.responseFor where !reference.documentID.isEmpty {
                links += documents(named: reference.documentID, sentBy: reference.organID, in: state)
            }
            var seen = Set<DocumentID>()
            submission.refersTo = links.filter { seen.insert($0).inserted }
        }
        return .success(submission)
    }

    /// A native API submission whose body is edXML (`Content-Type: application/edxml+xml`): the
    /// routing stays the `Axis-*` headers' (and the CMS signature is verified as for any document),
    /// but the edXML must agree with them (From = Axis-From; a status goes to its ResponseFor), and
    /// the facts, links and status report are recorded exactly as for the VDXP API.
    public static func enrich(_ native: Submission, with facts: EdxmlFacts, system: SystemEntry,
                              state: QueueState) -> Result<Submission, VdxpFailure> {
        let to = JSONValue.array(native.recipients.map { .string($0.rawValue) }).encoded()
        let request = Request(facts: facts, sha256: .zero, from: native.sender.rawValue, to: to, messageType: nil, system: system,
                              signaturePolicy: .ignore)
        return plan(request, state: state).map { planned in
            var enriched = native
            enriched.messageType = planned.messageType
            enriched.businessType = planned.businessType
            enriched.refersTo = planned.refersTo
            enriched.statusCode = planned.statusCode
            enriched.edxml = planned.edxml
            enriched.statusReport = planned.statusReport
            if enriched.subject.isEmpty { enriched.subject = planned.subject }
            return enriched
        }
    }

    /// The documents (not statuses) with edXML DocumentId `name` that `sender` sent, oldest first.
    /// A document that did not come as edXML (native API) is known to a VDXP recipient by its axis
    /// id, and to its sender by the sender's own id: `name` may be either.
    static func documents(named name: String, sentBy sender: String, in state: QueueState) -> [DocumentID] {
        guard !name.isEmpty else { return [] }
        let named = (state.edxmlDocuments[name] ?? []).filter { state.documents[$0]?.accepted.sender.rawValue == sender }
        guard named.isEmpty, let agency = try? AgencyCode(sender) else { return named }
        let candidate = DocumentID(hex: name).flatMap { state.documents[$0] }
            ?? state.document(sender: agency, senderDocumentID: name)
        guard let document = candidate?.accepted, document.sender == agency, document.messageType == .document else { return [] }
        return [document.id]
    }

    private static func bad(_ code: String, _ message: String) -> VdxpFailure { VdxpFailure(.badRequest, code, message) }

    /// `"A"` → `A` (the SDK sometimes quotes single values).
    private static func stripQuotes(_ text: String) -> String {
        text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
    }
}
