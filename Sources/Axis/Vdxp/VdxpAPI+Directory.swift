// The agency directory as the SDK sees it: lists for its address books, and registering or removing
// the units a system hosts. Changes are journaled like `axisctl agency` edits, with the VDXP system
// named in the reason.
extension VdxpAPI {
    // MARK: getAgenciesList, getAgenciesListQD20, getSynchronizeUnit

    /// Codes are hierarchical, so an agency's code is also its id; `pid` is its parent's code.
    func planAgencyList(_ operation: Operation) -> HTTPRequestPlan {
        small { [self] _, responder in
            let data: [JSONValue] = core.withState { state in
                state.agencies.values.sorted { $0.code < $1.code }.compactMap { agency in
                    let code = JSONValue.string(agency.code.rawValue)
                    let parent = agency.parent.map { JSONValue.string($0.rawValue) } ?? .null
                    switch operation {
                    case .getAgenciesListQD20:
                        guard agency.enabled else { return nil }
                        return VdxpReply.item([("id", code), ("code", code), ("name", .string(agency.name)), ("mail", .string(agency.email)),
                                               ("code102", code)])
                    case .getSynchronizeUnit:
                        // Removed units are listed as deleted, so synchronizing clients learn of it.
                        return VdxpReply.item([("id", code), ("pid", parent), ("code", code), ("name", .string(agency.name)),
                                               ("mail", .string(agency.email)),
                                               ("version", .int(Int64(state.agencyRecordSequence[agency.code] ?? 0))),
                                               ("deleted", .bool(!agency.enabled)), ("isAgency", .bool(true))])
                    default:
                        guard agency.enabled else { return nil }
                        return VdxpReply.item([("id", code), ("pid", parent), ("code", code), ("name", .string(agency.name)),
                                               ("mail", .string(agency.email))])
                    }
                }
            }
            responder.respond(VdxpReply.ok([("data", .array(data))]))
        }
    }

    // MARK: registerAgency

    /// Body `{"pcode","code","name","mail","mobile","fax"}`: a new unit under one of the caller's
    /// agencies (`pcode`), hosted by the caller, or an update of one it already hosts. Registering it
    /// again with the same facts changes nothing. Planned and journaled under the directory lock
    /// against the directory as it is then, so a concurrent change (an administrator disabling the
    /// system, another registration) is never overwritten.
    func planRegisterAgency(_ caller: Caller) -> HTTPRequestPlan {
        small { [self] body, responder in
            let outcome = core.directoryWrites.update { _ -> Result<Void, VdxpFailure> in
                let now = core.clock.now()
                let planned = core.withState { Self.registration(body, caller: caller, now: now, state: $0) }
                return planned.flatMap { records in
                    guard !records.isEmpty else { return .success(()) }
                    return Result { _ = try core.recordAndWait(records) }.mapError { Self.storageFailure($0, "the agency was not registered") }
                }
            }
            switch outcome {
            case .failure(let failure): responder.respond(VdxpReply.fail(failure))
            case .success: responder.respond(VdxpReply.ok())
            }
        }
    }

    /// The caller's system as the directory has it now, if it still authenticates as it did when the
    /// request's head was checked (not disabled, same VDXP id and secret since).
    static func current(_ caller: Caller, in state: QueueState) -> Result<SystemEntry, VdxpFailure> {
        guard let system = state.systems[caller.system.id], system.enabled, system.vdxpSystemID == caller.system.vdxpSystemID,
              system.vdxpSecret == caller.system.vdxpSecret else {
            return .failure(VdxpFailure(.unauthorized, "unknown_system", "system \(caller.system.vdxpSystemID) was disabled or its "
                + "credentials changed while this request was under way; nothing was changed"))
        }
        return .success(system)
    }

    /// The directory records a registerAgency body asks for, checked as `axisctl agency` edits are
    /// (parent exists and makes no loop, e-mail, lengths). Pure.
    static func registration(_ body: [UInt8], caller: Caller, now: Timestamp,
                             state: QueueState) -> Result<[JournalRecord], VdxpFailure> {
        func bad(_ message: String) -> Result<[JournalRecord], VdxpFailure> {
            .failure(VdxpFailure(.badRequest, "invalid_agency", message + "; send JSON {\"pcode\":\"000.00.00.G22\",\"code\":"
                + "\"000.00.01.G22\",\"name\":\"…\",\"mail\":\"…\",\"mobile\":\"…\",\"fax\":\"…\"}"))
        }
        let system: SystemEntry
        switch current(caller, in: state) {
        case .failure(let failure): return .failure(failure)
        case .success(let found): system = found
        }
        let parsed: StrictJSON
        do {
            parsed = try StrictJSON.parse(body)
        } catch {
            return bad("the body is not JSON (\(error))")
        }
        guard case .object(let members) = parsed else { return bad("the body is not a JSON object") }
        var fields: [String: String] = [:]
        for member in members {
            guard ["pcode", "code", "name", "mail", "mobile", "fax"].contains(member.key) else {
                return bad("unknown field \"\(member.key.prefix(32))\"")
            }
            guard fields[member.key] == nil else { return bad("\"\(member.key)\" is given twice") }
            switch member.value {
            case .string(let text) where text.utf8.count <= DirectoryEdits.nameBytesMax
                && !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }):
                fields[member.key] = text
            case .null: fields[member.key] = ""
            default: return bad("\"\(member.key)\" must be a string of at most \(DirectoryEdits.nameBytesMax) bytes without control characters")
            }
        }
        guard let codeText = fields["code"], let code = try? AgencyCode(codeText) else {
            return bad("\"code\" is missing or not an agency code")
        }
        guard let parentText = fields["pcode"], let parent = try? AgencyCode(parentText) else {
            return bad("\"pcode\" is missing or not an agency code (the unit is registered under one of your agencies)")
        }
        guard system.agencies.contains(parent) else {
            return .failure(VdxpFailure(.forbidden, "not_your_agency", "system \(system.vdxpSystemID) does not host \(parent); "
                + "register units only under the agencies it hosts"))
        }
        guard let name = fields["name"], !name.trimmingCharacters(in: .whitespaces).isEmpty else { return bad("\"name\" is missing") }
        let mail = fields["mail"] ?? ""
        guard mail.isEmpty || DirectoryEdits.isPlausibleEmail(mail) else { return bad("\"mail\" '\(mail.prefix(80))' is not an e-mail address") }

        // A system registers new units, or updates the ones it already hosts; an agency already in the
        // directory under anyone else (or nobody), or disabled by an administrator, is theirs to change.
        let existing = state.agencies[code]
        let hostedElsewhere = state.systems.values.contains { $0.id != system.id && $0.agencies.contains(code) }
        if hostedElsewhere || (existing != nil && !system.agencies.contains(code)) {
            return .failure(VdxpFailure(.conflict, "agency_exists", "\(code) is already in the directory and not hosted by system "
                + "\(system.vdxpSystemID); ask the axis administrator if it should move"))
        }
        if let existing, !existing.enabled {
            return .failure(VdxpFailure(.conflict, "agency_disabled", "\(code) was disabled by the axis administrator; ask them to "
                + "enable it (axisctl agency enable \(code))"))
        }
        var patch = DirectoryEdits.AgencyPatch(code: code)
        patch.parent = .some(parent)
        patch.name = name
        patch.email = mail
        patch.system = .some(system.id)
        let reason = "registerAgency by VDXP system \(system.vdxpSystemID)"
        let failure = { (error: HTTPError) in VdxpFailure(error.status, error.code.rawValue, error.message) }
        let agencyPlan: DirectoryEdits.AgencyPlan
        switch DirectoryEdits.planAgencies([patch], mode: existing == nil ? .add : .update, agencies: state.agencies, systems: state.systems) {
        case .failure(let error): return .failure(failure(error))
        case .success(let plan): agencyPlan = plan
        }
        var records: [JournalRecord] = agencyPlan.records.map {
            .agencyChanged(AgencyChanged(agency: $0, at: now, actor: .policy("vdxp"), reason: reason))
        }
        if !system.agencies.contains(code) {
            var agencies = state.agencies
            for entry in agencyPlan.records { agencies[entry.code] = entry }
            var hosting = DirectoryEdits.SystemPatch(id: system.id)
            hosting.addAgencies = [code]
            switch DirectoryEdits.planSystem(hosting, mode: .update, systems: state.systems, agencies: agencies) {
            case .failure(let error): return .failure(failure(error))
            case .success(let change):
                records.append(.systemChanged(SystemChanged(system: change.entry, at: now, actor: .policy("vdxp"), reason: reason)))
            }
        }
        return .success(records)
    }

    // MARK: deleteAgency

    /// Header `AgencyCode`: disables one of the caller's agencies (its history stays; an administrator
    /// can enable it again). Deleting an agency already disabled answers OK.
    func planDeleteAgency(_ parameters: VdxpParameters, _ caller: Caller) -> HTTPRequestPlan {
        let text: String
        switch parameters.value("AgencyCode") {
        case .failure(let failure): return refuse(failure)
        case .success(let value): text = value ?? ""
        }
        guard let code = try? AgencyCode(text) else {
            return refuse(VdxpFailure(.badRequest, "invalid_agency", "XroadVnpt-AgencyCode '\(text.prefix(64))' is missing or not an agency code"))
        }
        guard caller.hosts(code), let agency = core.withState({ $0.agencies[code] }) else {
            return refuse(VdxpFailure(.forbidden, "not_your_agency", "system \(caller.system.vdxpSystemID) does not host \(code)"))
        }
        guard agency.enabled else { return reply(VdxpReply.ok()) }
        return small { [self] _, responder in
            let outcome = core.directoryWrites.update { _ -> Result<Void, VdxpFailure> in
                let planned: Result<JournalRecord?, VdxpFailure> = core.withState { state in
                    Self.current(caller, in: state).flatMap { system in
                        guard system.agencies.contains(code), var entry = state.agencies[code] else {
                            return .failure(VdxpFailure(.forbidden, "not_your_agency", "system \(system.vdxpSystemID) does not host \(code)"))
                        }
                        guard entry.enabled else { return .success(nil) }
                        entry.enabled = false
                        return .success(.agencyChanged(AgencyChanged(agency: entry, at: core.clock.now(), actor: .policy("vdxp"),
                            reason: "deleteAgency by VDXP system \(system.vdxpSystemID)")))
                    }
                }
                return planned.flatMap { record in
                    guard let record else { return .success(()) }
                    return Result { _ = try core.recordAndWait([record]) }.mapError { Self.storageFailure($0, "the agency was not removed") }
                }
            }
            switch outcome {
            case .failure(let failure): responder.respond(VdxpReply.fail(failure))
            case .success: responder.respond(VdxpReply.ok())
            }
        }
    }
}
