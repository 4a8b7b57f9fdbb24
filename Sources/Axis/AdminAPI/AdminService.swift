import Dispatch
import Foundation

/// The admin API: HTTP/1.1 over axisd's Unix-domain admin socket (mode 0600, so only the daemon's own
/// user — and root — can connect; `curl --unix-socket` works too). Every change is a journal record
/// whose actor is the caller's uid and gid, read from the kernel (SO_PEERCRED), never from the request.
/// `axisctl` never writes the journal itself: it asks here. Documented in docs/OPERATIONS.md.
///
///     GET  /v1/status                      uptime, listeners, journal, queue counts, oldest item, failing recipients
///     GET  /v1/queue?state=&recipient=&sender=&older-than=SECONDS&limit=
///     GET  /v1/queue/shape[?state=]        age buckets × recipients of what waits (like qshape)
///     GET  /v1/queue/{id}                  the document and its full trace
///     POST /v1/queue/{hold|release|retry|delete|expire}
///          {"ids":[…]} [+ "recipient"] | {"recipient":…} | {"all":true}, "reason", "dryRun"
///     /v1/agencies…, /v1/systems…          the directory: AdminService+Directory.swift
///     /v1/journal/compact, /v1/journal/compaction   compaction: AdminService+Journal.swift
public final class AdminService: HTTPService, @unchecked Sendable {
    /// What only the daemon knows about itself.
    public struct DaemonInfo: Sendable {
        public var pid: Int32
        public var startedAt: Timestamp
        public var data: String
        /// Listener descriptions (`native-api https://127.0.0.1:7443`, …), read at each status call.
        public var listeners: @Sendable () -> [String]
        public init(pid: Int32, startedAt: Timestamp, data: String, listeners: @escaping @Sendable () -> [String]) {
            (self.pid, self.startedAt, self.data, self.listeners) = (pid, startedAt, data, listeners)
        }
    }

    public let core: AxisCore
    public let info: DaemonInfo
    private let workers = DispatchQueue(label: "axis.admin", attributes: .concurrent)
    /// Queue actions are planned and journaled one at a time, so two administrators acting on the
    /// same delivery at once cannot both plan against the state before the other's change.
    private let actions = ConditionLock()
    /// Bodies are small JSON objects; ids on stdin lists are bounded by this too (~100,000 ids).
    static let bodyBytesMax = 4 << 20
    static let reasonBytesMax = 1024
    static let listLimitMax = 100_000

    /// Journal compaction (AdminService+Journal.swift): the compactor, the configured retention and
    /// the running or last job.
    let compactor: JournalCompactor
    let retentionDays: Int
    let compactionJob = Locked<CompactionJob?>(nil)
    let compactionWorkers = DispatchQueue(label: "axis.admin.journal")

    public init(core: AxisCore, info: DaemonInfo, compactor: JournalCompactor? = nil, retentionDays: Int = 90) {
        self.core = core
        self.info = info
        self.compactor = compactor ?? JournalCompactor(core: core, sign: nil)
        self.retentionDays = retentionDays
    }

    public func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
        guard let caller = peer.credentials else {
            return .refuse(HTTPError(.forbidden, HTTPError.Code("no_credentials"),
                                     "the admin API is served only on the Unix-domain admin socket, where the caller's uid is known"))
        }
        let path = head.path.split(separator: "/").map(String.init)
        let query = Query(head.query)
        if let plan = planDirectory(head, path: path, caller: caller) { return plan }
        if let plan = planJournal(head, path: path, caller: caller) { return plan }
        switch (head.method, path) {
        case (.get, ["v1", "status"]):
            return .accept(bodyLimit: 0, handler: CollectBody(workers: workers) { [self] _, responder in responder.respond(.json(.ok, status())) })
        case (.get, ["v1", "queue"]):
            switch Self.filter(query) {
            case .failure(let error): return .refuse(error)
            case .success(let filter):
                return .accept(bodyLimit: 0, handler: CollectBody(workers: workers) { [self] _, responder in
                    responder.respond(.json(.ok, list(filter)))
                })
            }
        case (.get, ["v1", "queue", "shape"]):
            var states: Set<String> = []
            for name in (query["state"] ?? "").split(separator: ",").map(String.init) {
                guard QueueFilter.stateNames.contains(name) else {
                    return .refuse(HTTPError(.badRequest, HTTPError.Code("invalid_state"),
                                             "state '\(name.prefix(40))' is not one of \(QueueFilter.stateNames.joined(separator: ", "))"))
                }
                states.insert(name)
            }
            return .accept(bodyLimit: 0, handler: CollectBody(workers: workers) { [self, states] _, responder in
                responder.respond(.json(.ok, shape(states)))
            })
        case (.get, let p) where p.count == 3 && p[0] == "v1" && p[1] == "queue":
            guard let id = DocumentID(hex: p[2]) else {
                return .refuse(HTTPError(.badRequest, HTTPError.Code("invalid_id"), "'\(p[2].prefix(40))' is not an axis document id (32 hex digits)"))
            }
            guard let reply = core.withState({ state in state.documents[id].map { APIJSON.trace($0, state: state) } }) else {
                return .refuse(HTTPError(.notFound, HTTPError.Code("unknown_document"), "no document \(id) in the journal"))
            }
            return .accept(bodyLimit: 0, handler: Reply(.json(.ok, reply)))
        case (.post, let p) where p.count == 3 && p[0] == "v1" && p[1] == "queue":
            guard let action = DeliveryControl.Action.allCases.first(where: { $0.description == p[2] }) else {
                return .refuse(HTTPError(.notFound, HTTPError.Code("unknown_action"),
                                         "'\(p[2].prefix(40))' is not a queue action; use hold, release, retry, delete or expire"))
            }
            let actor = Actor.admin(uid: caller.uid, gid: caller.gid)
            return .accept(bodyLimit: Self.bodyBytesMax, handler: CollectBody(workers: workers) { [self] body, responder in
                act(action, body: body, actor: actor, responder: responder)
            })
        default:
            return .refuse(HTTPError(.notFound, HTTPError.Code("not_found"),
                                     "no admin route for \(head.method) \(head.path.prefix(200)); see docs/OPERATIONS.md"))
        }
    }

    // MARK: Status

    func status() -> JSONValue {
        let now = core.clock.now()
        let journal = core.journal.statistics
        let health: String
        switch core.journal.health {
        case .ok: health = "ok"
        case .failed(let error): health = "failed: \(error.message)"
        case .closed: health = "closed"
        }
        let files = journalFiles()
        return core.withState { state in
            // The oldest item still waiting is at the head of some recipient's queue.
            var oldest: (QueueState.Document, AgencyCode)?
            var failing: [AgencyCode: (deferred: Int, lastError: String)] = [:]
            for (recipient, queue) in state.open {
                for id in queue {
                    guard let delivery = state.deliveries[QueueState.DeliveryKey(document: id, recipient: recipient)] else { continue }
                    if case .deferred = delivery.state {
                        failing[recipient, default: (0, "")].deferred += 1
                        failing[recipient]?.lastError = delivery.lastError
                    }
                }
                if let head = queue.first(where: { _ in true }), let document = state.documents[head],
                   // Ties (one document waiting for several recipients) go to the lowest code:
                   // the reply must not depend on the dictionary's order.
                   oldest.map({ (document.sequence, recipient) < ($0.0.sequence, $0.1) }) ?? true {
                    oldest = (document, recipient)
                }
            }
            let counts = state.countsByState().sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int(Int64($0.value))) }
            return .object([
                ("pid", .int(Int64(info.pid))),
                ("startedAt", .string(info.startedAt.description)),
                ("uptimeSeconds", .int((now.millis - info.startedAt.millis) / 1000)),
                ("data", .string(info.data)),
                ("listeners", .array(info.listeners().map { .string($0) })),
                ("journal", .object([
                    ("health", .string(health)),
                    ("nextSequence", .int(Int64(journal.nextSequence))),
                    ("chainHead", .string(journal.chain.hex)),
                    ("recordsSinceStart", .int(Int64(journal.records))),
                    ("bytesSinceStart", .int(Int64(journal.bytes))),
                    ("batchesSinceStart", .int(Int64(journal.batches))),
                    ("lastSyncMicros", .int(Int64(journal.syncNanosLast / 1000))),
                    ("segments", .int(Int64(files.segments))),
                    ("bytes", .int(Int64(files.bytes))),
                    ("retentionDays", .int(Int64(retentionDays))),
                    ("lastCompaction", state.lastCompaction.map { note in .object([
                        ("at", .string(note.at.description)), ("firstKept", .int(Int64(note.firstKept))),
                        ("removedDocuments", .int(Int64(note.removedDocuments))),
                    ]) } ?? .null),
                ])),
                ("queue", .object([("documents", .int(Int64(state.documents.count))), ("byState", .object(counts))])),
                ("oldestWaiting", oldest.map { document, recipient in .object([
                    ("id", .string(document.accepted.id.hex)), ("recipient", .string(recipient.rawValue)),
                    ("acceptedAt", .string(document.accepted.acceptedAt.description)),
                    ("ageSeconds", .int((now.millis - document.accepted.acceptedAt.millis) / 1000)),
                ]) } ?? .null),
                ("failingRecipients", .array(failing.sorted { $0.key.rawValue < $1.key.rawValue }.map { code, value in .object([
                    ("agency", .string(code.rawValue)), ("deferred", .int(Int64(value.deferred))), ("lastError", .string(value.lastError)),
                ]) })),
            ])
        }
    }

    /// The journal's segment files and their total size on disk (preallocated space included).
    func journalFiles() -> (segments: Int, bytes: UInt64) {
        let names = (try? JournalScanner.segmentNames(in: core.layout.journal, storage: core.storage)) ?? []
        var bytes: UInt64 = 0
        for name in names {
            bytes += (try? JournalCompactor.size(PathJoin.join(core.layout.journal, name), storage: core.storage)) ?? 0
        }
        return (names.count, bytes)
    }

    // MARK: Queue list

    static func filter(_ query: Query) -> Result<QueueFilter, HTTPError> {
        var filter = QueueFilter()
        func bad(_ name: String, _ why: String) -> Result<QueueFilter, HTTPError> {
            .failure(HTTPError(.badRequest, HTTPError.Code("invalid_\(name.replacingOccurrences(of: "-", with: "_"))"), why))
        }
        if let states = query["state"] {
            for name in states.split(separator: ",").map(String.init) {
                guard QueueFilter.stateNames.contains(name) else {
                    return bad("state", "state '\(name.prefix(40))' is not one of \(QueueFilter.stateNames.joined(separator: ", "))")
                }
                filter.states.insert(name)
            }
        }
        for (name, assign) in [("recipient", { (f: inout QueueFilter, c: AgencyCode) in f.recipient = c }),
                               ("sender", { (f: inout QueueFilter, c: AgencyCode) in f.sender = c })] {
            guard let text = query[name] else { continue }
            guard let code = try? AgencyCode(text) else { return bad(name, "'\(text.prefix(40))' is not an agency code") }
            assign(&filter, code)
        }
        switch query.integer("older-than", default: -1, in: -1...(10 * 365 * 86_400)) {
        case .failure(let error): return .failure(error)
        case .success(let seconds): if seconds >= 0 { filter.olderThanMillis = seconds * 1000 }
        }
        switch query.integer("limit", default: 1000, in: 1...Int64(listLimitMax)) {
        case .failure(let error): return .failure(error)
        case .success(let limit): filter.limit = Int(limit)
        }
        return .success(filter)
    }

    func list(_ filter: QueueFilter) -> JSONValue {
        let now = core.clock.now()
        let (entries, truncated) = core.withState { QueueSelection.list($0, filter, now: now) }
        return .object([
            ("items", .array(entries.map { entry in
                var fields: [(String, JSONValue)] = [
                    ("id", .string(entry.key.document.hex)),
                    ("recipient", .string(entry.key.recipient.rawValue)),
                    ("sender", .string(entry.document.sender.rawValue)),
                    ("kind", .string(APIJSON.kind(entry.document.messageType))),
                    ("state", .string(entry.delivery.state.name)),
                ]
                switch entry.delivery.state {
                case .leased(let until), .deferred(let until): fields.append(("until", .string(until.description)))
                default: break
                }
                fields += [
                    ("attempts", .int(Int64(entry.delivery.attempts))),
                    ("acceptedAt", .string(entry.document.acceptedAt.description)),
                    ("ageSeconds", .int((now.millis - entry.document.acceptedAt.millis) / 1000)),
                    ("size", .int(Int64(entry.document.payload.length))),
                    ("senderDocumentId", .string(entry.document.senderDocumentID)),
                    ("subject", .string(entry.document.subject)),
                    ("lastError", .string(entry.delivery.lastError)),
                ]
                return .object(fields)
            })),
            ("truncated", .bool(truncated)),
        ])
    }

    // MARK: Queue shape

    func shape(_ states: Set<String>) -> JSONValue {
        let now = core.clock.now()
        let rows = core.withState { QueueSelection.shape($0, now: now, states: states) }
        let bounds = QueueSelection.shapeBucketsMinutes
        var totals = Array(repeating: 0, count: bounds.count + 1)
        for row in rows { for (i, n) in row.counts.enumerated() { totals[i] += n } }
        return .object([
            ("bucketsMinutes", .array(bounds.map { .int($0) })),
            ("total", .object([("total", .int(Int64(totals.reduce(0, +)))), ("counts", .array(totals.map { .int(Int64($0)) }))])),
            ("recipients", .array(rows.map { row in .object([
                ("recipient", .string(row.recipient.rawValue)), ("total", .int(Int64(row.counts.reduce(0, +)))),
                ("counts", .array(row.counts.map { .int(Int64($0)) })),
            ]) })),
        ])
    }

    // MARK: Actions

    func act(_ action: DeliveryControl.Action, body: [UInt8], actor: Actor, responder: HTTPResponder) {
        func refuse(_ code: String, _ message: String) {
            responder.respond(HTTPResponse(error: HTTPError(.badRequest, HTTPError.Code(code), message)))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return refuse("invalid_body", "send a JSON object: {\"ids\":[…]} or {\"recipient\":…} or {\"all\":true}, with \"reason\" and \"dryRun\"")
        }
        let reason = object["reason"] as? String ?? ""
        guard reason.utf8.count <= Self.reasonBytesMax else { return refuse("invalid_reason", "the reason is longer than \(Self.reasonBytesMax) bytes") }
        if (action == .delete || action == .expire) && reason.trimmingCharacters(in: .whitespaces).isEmpty {
            return refuse("reason_required", "\(action) needs a reason (it is kept in the journal and shown in the trace); give --reason TEXT")
        }
        let dryRun = object["dryRun"] as? Bool ?? false
        var recipient: AgencyCode?
        if let text = object["recipient"] as? String {
            guard let code = try? AgencyCode(text) else { return refuse("invalid_recipient", "'\(text.prefix(40))' is not an agency code") }
            recipient = code
        }
        let targets: QueueSelection.Targets
        if let ids = object["ids"] as? [String], !ids.isEmpty {
            var parsed: [DocumentID] = []
            for text in ids {
                guard let id = DocumentID(hex: text) else { return refuse("invalid_id", "'\(text.prefix(40))' is not an axis document id") }
                parsed.append(id)
            }
            targets = .documents(parsed, recipient: recipient)
        } else if let recipient {
            targets = .recipient(recipient)
        } else if object["all"] as? Bool == true {
            targets = .all
        } else {
            return refuse("no_targets", "name the deliveries: ids, a recipient, or all")
        }
        actions.withLock { planAndRecord(action, targets, reason: reason, dryRun: dryRun, actor: actor, responder: responder) }
    }

    private func planAndRecord(_ action: DeliveryControl.Action, _ targets: QueueSelection.Targets, reason: String, dryRun: Bool,
                               actor: Actor, responder: HTTPResponder) {
        let now = core.clock.now()
        let (changes, skipped) = core.withState { QueueSelection.plan(action, targets, in: $0, at: now) }
        let reply: @Sendable (String?) -> Void = { failure in
            var fields: [(String, JSONValue)] = [
                ("action", .string(action.description)), ("dryRun", .bool(dryRun)),
                ("changed", .array(changes.map { change in .object([
                    ("id", .string(change.key.document.hex)), ("recipient", .string(change.key.recipient.rawValue)),
                    ("from", .string(change.from.name)), ("to", .string(change.to.name)),
                ]) })),
                ("skipped", .array(skipped.map { skip in .object([
                    ("id", .string(skip.document.hex)), ("recipient", skip.recipient.map { .string($0.rawValue) } ?? .null),
                    ("why", .string(skip.why)),
                ]) })),
            ]
            if let failure { fields.append(("error", .string(failure))) }
            responder.respond(.json(failure == nil ? .ok : .serviceUnavailable, .object(fields)))
        }
        guard !dryRun, !changes.isEmpty else { return reply(nil) }
        let records = changes.map { change in
            JournalRecord.deliveryControl(DeliveryControl(action: action, document: change.key.document, recipient: change.key.recipient,
                                                          at: now, actor: actor, reason: reason))
        }
        // In batches the journal takes; all durable before the reply.
        let done = core.recordInBatches(records)
        reply(done.failure.map { "not recorded: \($0)" + (done.recorded > 0 ? " (the first \(done.recorded) changes were recorded)" : "") })
    }

}
