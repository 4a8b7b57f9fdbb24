import Dispatch

/// The native API v1 (docs/API.md): routing, authentication and authorization at the request head,
/// before any body byte is read. The work itself is in `Ingress` (submissions), `Inbox` (leases) and
/// the small handlers in NativeAPI+Routes.swift.
///
///     POST /v1/documents                     submit (Axis-* headers, body = document)
///     GET  /v1/documents/{id}                trace
///     GET  /v1/documents/{id}/content        the exact bytes
///     POST /v1/documents/{id}/status         a recipient's processing status
///     GET  /v1/inbox?limit=N&wait=S[&agency=CODE]  lease what waits (long poll)
///     POST /v1/inbox/{id}/ack[?recipient=]   acknowledge (optional body: signed receipt)
///     POST /v1/inbox/{id}/nack[?recipient=]  give back
///     GET  /healthz                          liveness (any trusted client certificate, registered or not)
public final class NativeAPI: HTTPService, @unchecked Sendable {
    public struct Options: Sendable {
        /// The largest document accepted.
        public var documentBytesMax = 256 << 20
        /// Bodies up to this size are kept in memory; larger ones stream to the payload store.
        public var inlineBytesMax = 1 << 20
        public var inboxLimitDefault = 100
        public var inboxLimitMax = 1000
        public var waitSecondsMax: Int64 = 60
        /// The largest recipient receipt (ack body) or nack reason.
        public var smallBodyBytesMax = 1 << 20
        /// The largest status body (JSON).
        public var statusBodyBytesMax = 16 << 10
        public init() {}
    }

    /// What the daemon counts about submissions (metrics). Closures run on loop or worker threads.
    public struct SubmitObserver: Sendable {
        /// A new document was accepted; `nanos` from its request head to the receipt.
        public var accepted: @Sendable (_ nanos: UInt64) -> Void = { _ in }
        /// A resubmission was answered with the original receipt.
        public var duplicate: @Sendable () -> Void = {}
        /// A submission was refused; `reason` is the error code of the reply (`signature_invalid`, …).
        public var rejected: @Sendable (_ reason: String) -> Void = { _ in }
        public init() {}
    }

    public let options: Options
    public let submitObserver: SubmitObserver
    public let core: AxisCore
    public let ingress: Ingress
    public let inbox: Inbox
    let workers: DispatchQueue

    public init(core: AxisCore, ingress: Ingress, inbox: Inbox, options: Options = Options(),
                submitObserver: SubmitObserver = SubmitObserver(),
                workers: DispatchQueue = DispatchQueue(label: "axis.api", qos: .userInitiated, attributes: .concurrent)) {
        self.core = core
        self.submitObserver = submitObserver
        self.ingress = ingress
        self.inbox = inbox
        self.options = options
        self.workers = workers
    }

    public func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
        let path = head.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let query = Query(head.query)
        if path == ["healthz"] {
            guard head.method == .get else { return .refuse(Self.methodNotAllowed(head, "GET")) }
            return .accept(bodyLimit: 0, handler: Reply(.json(.ok, .object([("status", .string("ok"))]))))
        }
        guard path.first == "v1" else { return .refuse(Self.notFound(head)) }

        let caller: APICaller
        switch core.withState({ APICaller.resolve(peer.certificate, in: $0) }) {
        case .failure(let error): return .refuse(error)
        case .success(let resolved): caller = resolved
        }

        let route = Route(Array(path.dropFirst()))
        guard let route else { return .refuse(Self.notFound(head)) }
        guard head.method == route.method else { return .refuse(Self.methodNotAllowed(head, route.method.rawValue)) }
        switch route {
        case .submit:
            return planSubmit(head, caller: caller)
        case .inbox:
            return planInbox(query, caller: caller)
        case .acknowledge(let id):
            return withDelivery(id, query, caller) { self.planAcknowledge($0, $1, caller: caller) }
        case .release(let id):
            return withDelivery(id, query, caller) { self.planRelease($0, $1, caller: caller) }
        case .trace(let id):
            return withReadable(id, caller) { document in
                .accept(bodyLimit: 0, handler: Reply(.json(.ok, self.core.withState { APIJSON.trace(document, state: $0) })))
            }
        case .content(let id):
            return withReadable(id, caller) { self.planContent($0) }
        case .status(let id):
            return withDelivery(id, query, caller) { self.planStatus($0, recipient: $1, caller: caller) }
        }
    }

    /// The v1 routes, from the path after `/v1/`.
    enum Route {
        case submit, inbox
        case acknowledge(String), release(String), trace(String), content(String), status(String)

        init?(_ path: [String]) {
            switch path.count {
            case 1 where path[0] == "documents": self = .submit
            case 1 where path[0] == "inbox": self = .inbox
            case 2 where path[0] == "documents": self = .trace(path[1])
            case 3 where path[0] == "documents" && path[2] == "content": self = .content(path[1])
            case 3 where path[0] == "documents" && path[2] == "status": self = .status(path[1])
            case 3 where path[0] == "inbox" && path[2] == "ack": self = .acknowledge(path[1])
            case 3 where path[0] == "inbox" && path[2] == "nack": self = .release(path[1])
            default: return nil
            }
        }

        var method: HTTPMethod {
            switch self {
            case .inbox, .trace, .content: return .get
            case .submit, .acknowledge, .release, .status: return .post
            }
        }
    }

    // MARK: Lookups shared by the routes

    private func withDocument(_ hex: String, _ body: (QueueState.Document) -> HTTPRequestPlan) -> HTTPRequestPlan {
        guard let id = DocumentID(hex: hex) else {
            return .refuse(HTTPError(.badRequest, HTTPError.Code("invalid_document_id"),
                "'\(hex.prefix(64))' is not an axis document id (32 hexadecimal digits)"))
        }
        guard let document = core.withState({ $0.documents[id] }) else {
            return .refuse(HTTPError(.notFound, HTTPError.Code("unknown_document"), "no document \(id)"))
        }
        return body(document)
    }

    private func withReadable(_ hex: String, _ caller: APICaller, _ body: (QueueState.Document) -> HTTPRequestPlan) -> HTTPRequestPlan {
        withDocument(hex) { document in
            guard caller.mayRead(document.accepted) else {
                return .refuse(HTTPError(.forbidden, HTTPError.Code("not_your_document"),
                    "document \(document.accepted.id) was neither sent by nor addressed to an agency system \(caller.system.id) hosts"))
            }
            return body(document)
        }
    }

    private func withDelivery(_ hex: String, _ query: Query, _ caller: APICaller,
                              _ body: (QueueState.Document, AgencyCode) -> HTTPRequestPlan) -> HTTPRequestPlan {
        withDocument(hex) { document in
            switch recipient(of: document.accepted, query, caller) {
            case .failure(let error): return .refuse(error)
            case .success(let recipient): return body(document, recipient)
            }
        }
    }

    /// The recipient agency a request acts for: `?recipient=` when given (it must be hosted and
    /// addressed), otherwise the one hosted agency the document is addressed to.
    private func recipient(of document: DocumentAccepted, _ query: Query, _ caller: APICaller) -> Result<AgencyCode, HTTPError> {
        let hosted = document.recipients.filter(caller.hosts)
        if let named = query["recipient"] {
            guard let code = try? AgencyCode(named) else {
                return .failure(HTTPError(.badRequest, HTTPError.Code("invalid_recipient"), "recipient '\(named.prefix(64))' is not an agency code"))
            }
            guard caller.hosts(code) else {
                return .failure(HTTPError(.forbidden, HTTPError.Code("not_your_agency"),
                    "system \(caller.system.id) does not host \(code)"))
            }
            guard document.recipients.contains(code) else {
                return .failure(RecipientRequestDecision.notAddressed(document.id, code))
            }
            return .success(code)
        }
        guard let first = hosted.first else {
            return .failure(HTTPError(.forbidden, HTTPError.Code("not_your_document"),
                "document \(document.id) is not addressed to an agency system \(caller.system.id) hosts"))
        }
        guard hosted.count == 1 else {
            return .failure(HTTPError(.badRequest, HTTPError.Code("recipient_required"),
                "document \(document.id) is addressed to several agencies your system hosts "
                + "(\(hosted.map(\.rawValue).joined(separator: ", "))); name one with ?recipient=CODE"))
        }
        return .success(first)
    }

    // MARK: Errors

    static func notFound(_ head: HTTPRequestHead) -> HTTPError {
        HTTPError(.notFound, HTTPError.Code("not_found"), "no route for \(head.method) \(head.path.prefix(200)); see docs/API.md")
    }

    static func methodNotAllowed(_ head: HTTPRequestHead, _ allowed: String) -> HTTPError {
        HTTPError(.methodNotAllowed, HTTPError.Code("method_not_allowed"), "\(head.method) is not allowed on \(head.path.prefix(200)); use \(allowed)")
    }
}

/// `a=1&b=2` with percent-decoding; the first value of a repeated name wins.
struct Query {
    private var values: [String: String] = [:]

    init(_ text: Substring?) {
        guard let text else { return }
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decodeUTF8(String(parts[0])) else { continue }
            let value = parts.count > 1 ? PercentEncoding.decodeUTF8(String(parts[1]).replacingPlus) ?? "" : ""
            if values[name] == nil { values[name] = value }
        }
    }

    subscript(name: String) -> String? { values[name] }

    /// An integer parameter within `range`, `default` when absent.
    func integer(_ name: String, default value: Int64, in range: ClosedRange<Int64>) -> Result<Int64, HTTPError> {
        guard let text = values[name] else { return .success(value) }
        guard let number = Int64(text), range.contains(number) else {
            return .failure(HTTPError(.badRequest, HTTPError.Code("invalid_\(name)"),
                "\(name)=\(text.prefix(32)) must be a whole number from \(range.lowerBound) to \(range.upperBound)"))
        }
        return .success(number)
    }
}

private extension String {
    var replacingPlus: String { String(map { $0 == "+" ? " " : $0 }) }
}

/// A request without a body (or whose body is ignored) answered with a fixed response.
final class Reply: HTTPRequestHandler {
    let response: HTTPResponse
    init(_ response: HTTPResponse) { self.response = response }
    func body(_ chunk: UnsafeRawBufferPointer) throws {}
    func end(_ responder: HTTPResponder) { responder.respond(response) }
}

/// Collects a small body (the server enforces the limit), then hands it to `finish` on a worker.
final class CollectBody: HTTPRequestHandler {
    private var bytes: [UInt8] = []
    private let workers: DispatchQueue
    private let finish: @Sendable ([UInt8], HTTPResponder) -> Void

    init(workers: DispatchQueue, _ finish: @escaping @Sendable ([UInt8], HTTPResponder) -> Void) {
        self.workers = workers
        self.finish = finish
    }

    func body(_ chunk: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: chunk) }

    func end(_ responder: HTTPResponder) {
        let (bytes, finish) = (self.bytes, self.finish)
        workers.async { finish(bytes, responder) }
    }
}
