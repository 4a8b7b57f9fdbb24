import Dispatch
import Foundation

/// The directory routes of the admin API: agencies and client systems (`axisctl agency …`,
/// `axisctl system …`). Every change is an `agency-changed` / `system-changed` record whose actor is
/// the caller's uid and gid, with the reason given. The objects and checks are in `DirectoryEdits`;
/// documented in docs/OPERATIONS.md ("Agencies and systems").
///
///     GET  /v1/agencies                        {"agencies":[agency…]}            (by code)
///     GET  /v1/agencies/{code}                 {"agency":{…}, "hostedBy":[system id…]}
///     POST /v1/agencies                        {"mode":"add"|"update", "agency":{…}, "reason"?}
///     POST /v1/agencies/{code}/disable|enable  {"reason"}
///          → {"agency":{…}, "change":"created"|"updated"|"unchanged", "sequence":N|null, "warnings":[…]}
///     POST /v1/agencies/import                 {"agencies":[agency…], "dryRun"?, "reason"?}
///          → {"dryRun", "created", "updated", "unchanged", "recorded", "changes":[{"code","change"}…], "warnings":[…]}
///     GET  /v1/systems                         {"systems":[system…]}             (by id)
///     GET  /v1/systems/{id}                    {"system":{…}}
///     POST /v1/systems                         {"mode":"add"|"update", "system":{…}, "reason"?}
///     POST /v1/systems/{id}/disable|enable     {"reason"}
///          → {"system":{…}, "change", "sequence", "warnings"}
///
/// An unchanged entry writes no record (`"sequence":null`). A reply that could not be journaled is
/// 503 with `"error"`; an import says how many records were durable before that.
extension AdminService {
    /// The directory's own workers (AdminService's are private to its file); requests are rare and short.
    static let directoryWorkers = DispatchQueue(label: "axis.admin.directory", attributes: .concurrent)
    /// An import of ~100,000 agencies.
    static let importBytesMax = 32 << 20
    /// Records per journal append of an import (each append is one durable batch).
    static let directoryRecordsPerAppendMax = 1000

    func planDirectory(_ head: HTTPRequestHead, path: [String], caller: PeerCredentials) -> HTTPRequestPlan? {
        guard path.count >= 2, path[0] == "v1", path[1] == "agencies" || path[1] == "systems" else { return nil }
        // Segments are percent-decoded here (a system id may hold '/', which axisctl sends as %2F).
        var p: [String] = []
        for segment in path {
            guard let decoded = PercentEncoding.decodeUTF8(segment) else {
                return .refuse(HTTPError(.badRequest, HTTPError.Code("invalid_path"), "the path has a malformed %-escape"))
            }
            p.append(decoded)
        }
        let actor = Actor.admin(uid: caller.uid, gid: caller.gid)
        let agencies = p[1] == "agencies"
        switch (head.method, p.count) {
        case (.get, 2):
            return worker { [self] _ in .json(.ok, agencies ? listAgencies() : listSystems()) }
        case (.get, 3):
            return agencies ? showAgency(p[2]) : showSystem(p[2])
        case (.post, 2):
            return worker(bodyLimit: Self.bodyBytesMax) { [self] body in
                agencies ? postAgency(body, actor: actor) : postSystem(body, actor: actor)
            }
        case (.post, 3) where agencies && p[2] == "import":
            return worker(bodyLimit: Self.importBytesMax) { [self] body in importAgencies(body, actor: actor) }
        case (.post, 4) where p[3] == "disable" || p[3] == "enable":
            let (target, enable) = (p[2], p[3] == "enable")
            return worker(bodyLimit: Self.bodyBytesMax) { [self] body in
                agencies ? setAgency(target, enabled: enable, body: body, actor: actor)
                         : setSystem(target, enabled: enable, body: body, actor: actor)
            }
        case (.get, _), (.post, _):
            return .refuse(HTTPError(.notFound, HTTPError.Code("not_found"),
                                     "no admin route for \(head.method) \(head.path.prefix(200)); see docs/OPERATIONS.md"))
        default:
            let what = agencies ? "agencies" : "systems"
            return .refuse(HTTPError(.methodNotAllowed, HTTPError.Code("method_not_allowed"),
                "\(head.method) is not allowed on \(head.path.prefix(200)); use GET to read, POST /v1/\(what) to add or update, "
                + "POST /v1/\(what)/{…}/disable to disable (nothing is deleted)"))
        }
    }

    private func worker(bodyLimit: Int = 0, _ answer: @escaping @Sendable ([UInt8]) -> HTTPResponse) -> HTTPRequestPlan {
        .accept(bodyLimit: bodyLimit, handler: CollectBody(workers: Self.directoryWorkers) { body, responder in
            responder.respond(answer(body))
        })
    }

    // MARK: Reading

    func listAgencies() -> JSONValue {
        let entries = core.withState { $0.agencies }.values.sorted { $0.code < $1.code }  // sorted outside the state's lock
        return .object([("agencies", .array(entries.map(DirectoryEdits.agencyJSON)))])
    }

    func listSystems() -> JSONValue {
        let entries = core.withState { $0.systems }.values.sorted { $0.id < $1.id }
        return .object([("systems", .array(entries.map(DirectoryEdits.systemJSON)))])
    }

    private func showAgency(_ text: String) -> HTTPRequestPlan {
        guard let code = try? AgencyCode(text) else {
            return .refuse(DirectoryEdits.invalid("code", "'\(text.prefix(80))' is not an agency code (e.g. 000.00.00.G22)"))
        }
        let found = core.withState { state in
            state.agencies[code].map { ($0, state.systems.values.filter { $0.agencies.contains(code) }.map(\.id).sorted()) }
        }
        guard let (entry, hostedBy) = found else {
            return .refuse(HTTPError(.notFound, HTTPError.Code("unknown_agency"), "no agency \(code) in the directory; see axisctl agency list"))
        }
        return .accept(bodyLimit: 0, handler: Reply(.json(.ok, .object([
            ("agency", DirectoryEdits.agencyJSON(entry)), ("hostedBy", .array(hostedBy.map { .string($0.rawValue) })),
        ]))))
    }

    private func showSystem(_ text: String) -> HTTPRequestPlan {
        guard let id = try? SystemID(text) else {
            return .refuse(DirectoryEdits.invalid("id", "'\(text.prefix(80))' is not a system id (printable ASCII, no spaces)"))
        }
        guard let entry = core.withState({ $0.systems[id] }) else {
            return .refuse(HTTPError(.notFound, HTTPError.Code("unknown_system"), "no system \(id) in the directory; see axisctl system list"))
        }
        return .accept(bodyLimit: 0, handler: Reply(.json(.ok, .object([("system", DirectoryEdits.systemJSON(entry))]))))
    }

    // MARK: Agencies

    private func postAgency(_ body: [UInt8], actor: Actor) -> HTTPResponse {
        switch DirectoryEdits.agencyRequest(body) {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let (mode, patch, reason)): return changeAgency(patch, mode: mode, reason: reason, actor: actor)
        }
    }

    private func setAgency(_ text: String, enabled: Bool, body: [UInt8], actor: Actor) -> HTTPResponse {
        guard let code = try? AgencyCode(text) else {
            return HTTPResponse(error: DirectoryEdits.invalid("code", "'\(text.prefix(80))' is not an agency code (e.g. 000.00.00.G22)"))
        }
        switch DirectoryEdits.reasonRequest(body, action: enabled ? "enable" : "disable") {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let reason):
            var patch = DirectoryEdits.AgencyPatch(code: code)
            patch.enabled = enabled
            return changeAgency(patch, mode: .update, reason: reason, actor: actor)
        }
    }

    private func changeAgency(_ patch: DirectoryEdits.AgencyPatch, mode: DirectoryEdits.Mode, reason: String, actor: Actor) -> HTTPResponse {
        let outcome = core.directoryWrites.update { _ -> Result<(DirectoryEdits.AgencyPlan, Appended), HTTPError> in
            let (agencies, systems) = directory()
            let planned = DirectoryEdits.planAgencies([patch], mode: mode, agencies: agencies, systems: systems)
            return planned.map { plan in (plan, appendAgencies(plan, reason: reason, actor: actor)) }
        }
        switch outcome {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let (plan, appended)):
            guard let change = plan.changes.first else { return HTTPResponse(error: Self.emptyPlan) }
            return changeReply(("agency", DirectoryEdits.agencyJSON(change.entry)), change.kind, appended, warnings: plan.warnings)
        }
    }

    private func importAgencies(_ body: [UInt8], actor: Actor) -> HTTPResponse {
        switch DirectoryEdits.importRequest(body) {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let request):
            let outcome = core.directoryWrites.update { _ -> Result<(DirectoryEdits.AgencyPlan, Appended), HTTPError> in
                let (agencies, systems) = directory()
                let planned = DirectoryEdits.planImport(request, agencies: agencies, systems: systems)
                return planned.map { plan in
                    (plan, request.dryRun ? Appended() : appendAgencies(plan, reason: request.reason, actor: actor))
                }
            }
            switch outcome {
            case .failure(let error): return HTTPResponse(error: error)
            case .success(let (plan, appended)):
                func count(_ kind: DirectoryEdits.ChangeKind) -> JSONValue { .int(Int64(plan.changes.filter { $0.kind == kind }.count)) }
                var fields: [(String, JSONValue)] = [
                    ("dryRun", .bool(request.dryRun)), ("created", count(.created)), ("updated", count(.updated)),
                    ("unchanged", count(.unchanged)), ("recorded", .int(Int64(appended.recorded))),
                    ("changes", .array(plan.changes.filter { $0.kind != .unchanged }.map { change in
                        .object([("code", .string(change.entry.code.rawValue)), ("change", .string(change.kind.rawValue))])
                    })),
                    ("warnings", .array(plan.warnings.map { .string($0) })),
                ]
                if let failure = appended.failure { fields.append(("error", .string(failure))) }
                return .json(appended.failure == nil ? .ok : .serviceUnavailable, .object(fields))
            }
        }
    }

    private func appendAgencies(_ plan: DirectoryEdits.AgencyPlan, reason: String, actor: Actor) -> Appended {
        let now = core.clock.now()
        return append(plan.records.map { .agencyChanged(AgencyChanged(agency: $0, at: now, actor: actor, reason: reason)) })
    }

    // MARK: Systems

    private func postSystem(_ body: [UInt8], actor: Actor) -> HTTPResponse {
        switch DirectoryEdits.systemRequest(body) {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let (mode, patch, reason)): return changeSystem(patch, mode: mode, reason: reason, actor: actor)
        }
    }

    private func setSystem(_ text: String, enabled: Bool, body: [UInt8], actor: Actor) -> HTTPResponse {
        guard let id = try? SystemID(text) else {
            return HTTPResponse(error: DirectoryEdits.invalid("id", "'\(text.prefix(80))' is not a system id (printable ASCII, no spaces)"))
        }
        switch DirectoryEdits.reasonRequest(body, action: enabled ? "enable" : "disable") {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let reason):
            var patch = DirectoryEdits.SystemPatch(id: id)
            patch.enabled = enabled
            return changeSystem(patch, mode: .update, reason: reason, actor: actor)
        }
    }

    private func changeSystem(_ patch: DirectoryEdits.SystemPatch, mode: DirectoryEdits.Mode, reason: String, actor: Actor) -> HTTPResponse {
        let outcome = core.directoryWrites.update { _ -> Result<(DirectoryEdits.SystemChange, Appended), HTTPError> in
            let (agencies, systems) = directory()
            let planned = DirectoryEdits.planSystem(patch, mode: mode, systems: systems, agencies: agencies)
            return planned.map { change in
                guard change.kind != .unchanged else { return (change, Appended()) }
                let record = SystemChanged(system: change.entry, at: core.clock.now(), actor: actor, reason: reason)
                return (change, append([.systemChanged(record)]))
            }
        }
        switch outcome {
        case .failure(let error): return HTTPResponse(error: error)
        case .success(let (change, appended)):
            return changeReply(("system", DirectoryEdits.systemJSON(change.entry)), change.kind, appended, warnings: change.warnings)
        }
    }

    // MARK: Recording

    /// The directory as it is now (copy-on-write: the state's lock is held only to take it). Called
    /// under `directoryWrites`, so no other directory change lands between the plan and its append.
    private func directory() -> ([AgencyCode: AgencyEntry], [SystemID: SystemEntry]) {
        core.withState { ($0.agencies, $0.systems) }
    }

    /// What an append made durable: how many records, the last one's sequence, and why it stopped.
    struct Appended {
        var recorded = 0
        var lastSequence: UInt64?
        var failure: String?
    }

    /// Appends `records` as durable batches (`AxisCore.recordInBatches`); stops at the first failure.
    private func append(_ records: [JournalRecord]) -> Appended {
        let done = core.recordInBatches(records, recordsPerBatchMax: Self.directoryRecordsPerAppendMax)
        var appended = Appended(recorded: done.recorded, lastSequence: done.lastSequence)
        if let error = done.failure {
            appended.failure = "not recorded: \(error)" + (done.recorded > 0 ? " (the first \(done.recorded) changes were recorded)" : "")
        }
        return appended
    }

    private func changeReply(_ entry: (String, JSONValue), _ kind: DirectoryEdits.ChangeKind, _ appended: Appended,
                             warnings: [String]) -> HTTPResponse {
        var fields: [(String, JSONValue)] = [
            entry, ("change", .string(kind.rawValue)),
            ("sequence", appended.lastSequence.map { .int(Int64($0)) } ?? .null),
            ("warnings", .array(warnings.map { .string($0) })),
        ]
        if let failure = appended.failure { fields.append(("error", .string(failure))) }
        return .json(appended.failure == nil ? .ok : .serviceUnavailable, .object(fields))
    }

    private static let emptyPlan = HTTPError(.internalServerError, HTTPError.Code("internal_error"), "the change planned nothing; report this")
}
