/// Who is calling the native API: the client system its TLS certificate maps to in the directory,
/// and the agencies that system hosts. Every authorization decision is a question to this value.
public struct APICaller: Sendable, Equatable {
    public let system: SystemEntry
    public var agencies: Set<AgencyCode> { Set(system.agencies) }

    public func hosts(_ agency: AgencyCode) -> Bool { system.agencies.contains(agency) }

    /// Whether the caller may read `document`: it was sent by, or is addressed to, a hosted agency.
    public func mayRead(_ document: DocumentAccepted) -> Bool {
        hosts(document.sender) || document.recipients.contains(where: hosts)
    }

    /// Maps the verified client certificate to an enabled system: by registered fingerprint first,
    /// then by subject rule. Pure: the directory is passed in.
    public static func resolve(_ certificate: Certificate?, in state: QueueState) -> Result<APICaller, HTTPError> {
        guard let certificate else {
            return .failure(HTTPError(.unauthorized, HTTPError.Code("client_certificate_required"),
                "the native API needs a TLS client certificate registered to a system in the agency directory"))
        }
        if let id = state.systemsByFingerprint[certificate.fingerprint], let system = state.systems[id], system.enabled {
            return .success(APICaller(system: system))
        }
        for system in state.systems.values.sorted(by: { $0.id < $1.id }) where system.enabled && !system.subjectRule.isEmpty {
            if case .success(let rule) = SubjectRule.parse(system.subjectRule), rule.matches(certificate.subject) {
                return .success(APICaller(system: system))
            }
        }
        return .failure(HTTPError(.forbidden, HTTPError.Code("unknown_system"),
            "client certificate \(certificate.subject) (sha256 \(certificate.fingerprint.hex)) is not registered to an enabled "
            + "system; ask the axis administrator to register it in the directory"))
    }
}

/// Decisions about one delivery that a recipient's request asks for. Pure: given the delivery's
/// state, what to record or why not.
public enum RecipientRequestDecision: Equatable, Sendable {
    case record
    /// Already in the requested end state: answer success, record nothing (a retried request).
    case alreadyDone
    case refuse(HTTPError)

    public static func acknowledge(_ delivery: QueueState.Delivery?, document: DocumentID, recipient: AgencyCode) -> Self {
        guard let delivery else { return .refuse(notAddressed(document, recipient)) }
        switch delivery.state {
        case .acknowledged: return .alreadyDone
        case .expired, .deleted:
            return .refuse(HTTPError(.conflict, HTTPError.Code("delivery_closed"),
                "the delivery of \(document) to \(recipient) is \(delivery.state.name); it can no longer be acknowledged"))
        case .held:
            return .refuse(HTTPError(.conflict, HTTPError.Code("delivery_held"),
                "the delivery of \(document) to \(recipient) is held by an operator; it can be acknowledged once released"))
        case .queued, .leased, .inFlight, .deferred, .delivered:
            return .record
        }
    }

    public static func release(_ delivery: QueueState.Delivery?, document: DocumentID, recipient: AgencyCode) -> Self {
        guard let delivery else { return .refuse(notAddressed(document, recipient)) }
        switch delivery.state {
        case .leased, .inFlight: return .record
        case .queued, .deferred: return .alreadyDone
        default:
            return .refuse(HTTPError(.conflict, HTTPError.Code("delivery_not_leased"),
                "the delivery of \(document) to \(recipient) is \(delivery.state.name), not leased; nothing to give back"))
        }
    }

    static func notAddressed(_ document: DocumentID, _ recipient: AgencyCode) -> HTTPError {
        HTTPError(.notFound, HTTPError.Code("not_in_inbox"), "document \(document) is not addressed to \(recipient)")
    }
}
