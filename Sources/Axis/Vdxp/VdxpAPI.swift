import Dispatch

/// The VDXP-compatible API (docs/VDXP.md): the national platform's client SDK, unmodified, talking
/// to the same core as the native API. Each request names its operation as the last path segment
/// (`<endpoint>/sendEdoc`), carries its parameters in `XroadVnpt-*` headers and authenticates with its
/// system id and an HMAC over those headers; every reply is the SDK's JSON envelope, errors included
/// (`errorResponse` words the server's own refusals the same way).
///
/// Authentication and routing happen at the request head, before any body byte is read. The work
/// is in the operation files: VdxpAPI+Send (sendEdoc), +Inbox (received lists, getEdoc, downloadEdoc,
/// updateStatus, counts), +Sent (getSentEdocList), +Directory (agency lists and registration).
public final class VdxpAPI: HTTPService, @unchecked Sendable {
    public struct Options: Sendable {
        /// The largest edXML file accepted (the SDK's trailing CRLF aside).
        public var documentBytesMax = 64 << 20
        public var signaturePolicy = AxisdConfiguration.VDXP.SignaturePolicy.requirePresent
        /// The most items one list reply carries (oldest first); the rest follow once these are done.
        public var listMax = 1000
        /// The largest body of the operations other than sendEdoc (`{}`, registerAgency's JSON).
        public var smallBodyBytesMax = 64 << 10
        /// sendEdoc bodies are held in memory while parsed: all of them together at most this much;
        /// beyond, a sendEdoc is refused with 503 (the SDK retries) rather than memory running out.
        public var bufferedBytesMax = 1 << 30
        public init() {}
    }

    public enum Operation: String, CaseIterable, Sendable {
        case sendEdoc, getReceivedEdocList, getEdoc, downloadEdoc, updateStatus, getSentEdocList
        case countReceiveEdoc, countReceiveStatus
        case getAgenciesList, getAgenciesListQD20, getSynchronizeUnit, registerAgency, deleteAgency

        /// The SDK sends every call as POST except downloadEdoc; GET is accepted for the read-only ones too
        /// (handy with curl), never for the ones that change something.
        func allows(_ method: HTTPMethod) -> Bool {
            switch self {
            case .downloadEdoc: return method == .get || method == .post
            case .sendEdoc, .updateStatus, .registerAgency, .deleteAgency: return method == .post
            default: return method == .post || method == .get
            }
        }
    }

    /// The authenticated caller: the directory's system whose VDXP id and secret signed the request.
    public struct Caller: Sendable {
        public let system: SystemEntry
        public func hosts(_ agency: AgencyCode) -> Bool { system.agencies.contains(agency) }
    }

    public let options: Options
    public let core: AxisCore
    public let ingress: Ingress
    public let inbox: Inbox
    let workers: DispatchQueue
    /// Bytes of sendEdoc bodies held in memory now (bounded by `options.bufferedBytesMax`).
    private let buffered = Locked(0)

    public init(core: AxisCore, ingress: Ingress, inbox: Inbox, options: Options = Options(),
                workers: DispatchQueue = DispatchQueue(label: "axis.vdxp", qos: .userInitiated, attributes: .concurrent)) {
        self.core = core
        self.ingress = ingress
        self.inbox = inbox
        self.options = options
        self.workers = workers
    }

    public func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
        let name = head.path.split(separator: "/").last.map(String.init) ?? ""
        guard let operation = Operation.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            return refuse(VdxpFailure(.notFound, "unknown_operation", "'\(name.prefix(64))' is not a VDXP operation; "
                + "point the SDK's endpoint at this listener's base URL (docs/VDXP.md)"))
        }
        guard operation.allows(head.method) else {
            return refuse(VdxpFailure(.methodNotAllowed, "method_not_allowed", "\(operation.rawValue) is called with "
                + (operation == .downloadEdoc ? "GET" : "POST") + ", not \(head.method)"))
        }
        let parameters = VdxpParameters(head.headers)
        let caller: Caller
        switch authenticate(head.headers, parameters) {
        case .failure(let failure): return refuse(failure)
        case .success(let authenticated): caller = authenticated
        }
        switch operation {
        case .sendEdoc: return planSend(head, parameters, caller)
        case .getReceivedEdocList: return planReceivedList(parameters, caller)
        case .countReceiveEdoc: return planCount(messageType: .document, caller)
        case .countReceiveStatus: return planCount(messageType: .status, caller)
        case .getEdoc: return planGetEdoc(parameters, caller, raw: false)
        case .downloadEdoc: return planGetEdoc(parameters, caller, raw: true)
        case .updateStatus: return planUpdateStatus(parameters, caller)
        case .getSentEdocList: return planSentList(parameters, caller)
        case .getAgenciesList, .getAgenciesListQD20, .getSynchronizeUnit: return planAgencyList(operation)
        case .registerAgency: return planRegisterAgency(caller)
        case .deleteAgency: return planDeleteAgency(parameters, caller)
        }
    }

    /// The system named by `XroadVnpt-systemid`, if it is enabled, has a secret, and that secret's HMAC
    /// matches. The timestamp is not checked for freshness: the SDK sets it once per client object.
    func authenticate(_ headers: HTTPHeaders, _ parameters: VdxpParameters) -> Result<Caller, VdxpFailure> {
        if case .failure(let failure) = parameters.value("systemid") { return .failure(failure) }
        guard let id = parameters.systemID, !id.isEmpty else {
            return .failure(VdxpFailure(.unauthorized, "systemid_missing", "XroadVnpt-systemid is missing; configure the SDK with "
                + "the system id the axis administrator registered for your system"))
        }
        let system = core.withState { state in state.systemsByVdxpID[id].flatMap { state.systems[$0] } }
        guard let system, system.enabled, !system.vdxpSecret.isEmpty else {
            return .failure(VdxpFailure(.unauthorized, "unknown_system", "system id '\(id.prefix(128))' is not registered for VDXP "
                + "here (or is disabled); ask the axis administrator to register it (axisctl system add --vdxp-id)"))
        }
        return VdxpAuthentication.verify(headers, secret: system.vdxpSecret).map { Caller(system: system) }
    }

    /// Refuses at the head: nothing of the body is read, the reply is the SDK's envelope.
    func refuse(_ failure: VdxpFailure) -> HTTPRequestPlan {
        .refuse(HTTPError(failure.status, HTTPError.Code(failure.code), failure.message))
    }

    public func errorResponse(_ error: HTTPError, path: String?) -> HTTPResponse? {
        let failure = VdxpFailure(error.status, error.code.rawValue, error.message)
        // sendEdoc's reply must carry DocId even when it fails, or the SDK cannot read it. A head too
        // large or malformed to parse has no known path: it may have been a sendEdoc, so DocId too.
        let isSend = path.map { $0.split(separator: "/").last?.lowercased() == "sendedoc" } ?? true
        return VdxpReply.fail(failure, isSend ? [("DocId", .string(""))] : [])
    }

    /// Reserves `count` bytes of the sendEdoc buffer budget; false when that would exceed it.
    func reserveBuffer(_ count: Int) -> Bool {
        buffered.update { used in
            guard used + count <= options.bufferedBytesMax else { return false }
            used += count
            return true
        }
    }

    func releaseBuffer(_ count: Int) {
        buffered.update { $0 -= count }
    }

    // MARK: Shared lookups

    /// The document `docId` names (the axis document id the SDK got from sendEdoc or a list).
    func document(_ parameters: VdxpParameters) -> Result<QueueState.Document, VdxpFailure> {
        let text: String
        switch parameters.value("docId") {
        case .failure(let failure): return .failure(failure)
        case .success(let value): text = value ?? ""
        }
        guard !text.isEmpty else {
            return .failure(VdxpFailure(.badRequest, "docid_missing", "XroadVnpt-docId is missing; give the DocId from sendEdoc "
                + "or getReceivedEdocList"))
        }
        guard let id = DocumentID(hex: text) else {
            return .failure(VdxpFailure(.badRequest, "invalid_docid", "docId '\(text.prefix(64))' is not an axis document id "
                + "(32 hexadecimal digits)"))
        }
        guard let document = core.withState({ $0.documents[id] }) else {
            return .failure(VdxpFailure(.notFound, "unknown_document", "no document \(id)"))
        }
        return .success(document)
    }

    /// The `messagetype` parameter: edoc (documents, the default) or status.
    func messageType(_ parameters: VdxpParameters) -> Result<DocumentAccepted.MessageType, VdxpFailure> {
        switch parameters.value("messagetype") {
        case .failure(let failure): return .failure(failure)
        case .success(let value):
            switch value?.lowercased() ?? "" {
            case "", "edoc": return .success(.document)
            case "status": return .success(.status)
            case let other:
                return .failure(VdxpFailure(.badRequest, "invalid_messagetype", "messagetype '\(other.prefix(32))' is neither edoc nor status"))
            }
        }
    }

    /// Reads a small body (ignored or parsed by `finish`) and answers on a worker.
    func small(_ finish: @escaping @Sendable ([UInt8], HTTPResponder) -> Void) -> HTTPRequestPlan {
        .accept(bodyLimit: options.smallBodyBytesMax, handler: CollectBody(workers: workers, finish))
    }

    /// Answers with `reply` once the (ignored) body is read.
    func reply(_ response: HTTPResponse) -> HTTPRequestPlan {
        .accept(bodyLimit: options.smallBodyBytesMax, handler: Reply(response))
    }

    static func storageFailure(_ error: Error, _ what: String) -> VdxpFailure {
        VdxpFailure(.serviceUnavailable, "storage_unavailable", "the axis could not write durably (\(error)): \(what); retry later")
    }
}

extension VdxpReply {
    static func fail(_ failure: VdxpFailure, docID: Bool) -> HTTPResponse {
        fail(failure, docID ? [("DocId", .string(""))] : [])
    }
}
