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

    /// Body `{"pcode","code","name","mail","mobile","fax"}`: a unit under one of the caller's agencies
    /// (`pcode`), hosted by the caller. Registering it again with the same facts changes nothing.
    func planRegisterAgency(_ caller: Caller) -> HTTPRequestPlan {
        small { [self] body, responder in
            let now = core.clock.now()
            let planned = core.withState { state in
                Self.registration(body, caller: caller, now: now, state: state)
            }
            switch planned {
            case .failure(let failure):
                responder.respond(VdxpReply.fail(failure))
            case .success(let records) where records.isEmpty:
                responder.respond(VdxpReply.ok())
            case .success(let records):
                core.record(records) { result in
                    switch result {
                    case .failure(let error): responder.respond(VdxpReply.fail(Self.storageFailure(error, "the agency was not registered")))
                    case .success: responder.respond(VdxpReply.ok())
                    }
                }
            }
        }
    }

    /// The directory records a registerAgency body asks for. Pure.
    static func registration(_ body: [UInt8], caller: Caller, now: Timestamp,
                             state: QueueState) -> Result<[JournalRecord], VdxpFailure> {
        func bad(_ message: String) -> Result<[JournalRecord], VdxpFailure> {
            .failure(VdxpFailure(.badRequest, "invalid_agency", message + "; send JSON {\"pcode\":\"000.00.00.G22\",\"code\":"
                + "\"000.00.01.G22\",\"name\":\"…\",\"mail\":\"…\",\"mobile\":\"…\",\"fax\":\"…\"}"))
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
            case .string(let text) where text.utf8.count <= 1024: fields[member.key] = text
            case .null: fields[member.key] = ""
            default: return bad("\"\(member.key)\" must be a string of at most 1024 bytes")
            }
        }
        guard let codeText = fields["code"], let code = try? AgencyCode(codeText) else {
            return bad("\"code\" is missing or not an agency code")
        }
        guard let parentText = fields["pcode"], let parent = try? AgencyCode(parentText) else {
            return bad("\"pcode\" is missing or not an agency code (the unit is registered under one of your agencies)")
        }
        guard caller.hosts(parent) else {
            return .failure(VdxpFailure(.forbidden, "not_your_agency", "system \(caller.system.vdxpSystemID) does not host \(parent); "
                + "register units only under the agencies it hosts"))
        }
        guard let name = fields["name"], !name.isEmpty else { return bad("\"name\" is missing") }
        // A system registers new units, or updates the ones it already hosts; an agency already in the
        // directory under anyone else (or nobody) is the administrator's to move.
        let existing = state.agencies[code]
        let hostedElsewhere = state.systems.values.contains { $0.id != caller.system.id && $0.agencies.contains(code) }
        if hostedElsewhere || (existing != nil && !caller.hosts(code)) {
            return .failure(VdxpFailure(.conflict, "agency_exists", "\(code) is already in the directory and not hosted by system "
                + "\(caller.system.vdxpSystemID); ask the axis administrator if it should move"))
        }
        var entry = existing ?? AgencyEntry(code: code, name: name)
        entry.parent = parent
        entry.name = name
        entry.email = fields["mail"] ?? entry.email
        entry.system = caller.system.id
        entry.enabled = true
        var records: [JournalRecord] = []
        let reason = "registerAgency by VDXP system \(caller.system.vdxpSystemID)"
        if entry != existing {
            records.append(.agencyChanged(AgencyChanged(agency: entry, at: now, actor: .policy("vdxp"), reason: reason)))
        }
        if !caller.system.agencies.contains(code) {
            var system = caller.system
            system.agencies.append(code)
            records.append(.systemChanged(SystemChanged(system: system, at: now, actor: .policy("vdxp"), reason: reason)))
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
            var disabled = agency
            disabled.enabled = false
            let record = JournalRecord.agencyChanged(AgencyChanged(agency: disabled, at: core.clock.now(), actor: .policy("vdxp"),
                reason: "deleteAgency by VDXP system \(caller.system.vdxpSystemID)"))
            core.record([record]) { result in
                switch result {
                case .failure(let error): responder.respond(VdxpReply.fail(Self.storageFailure(error, "the agency was not removed")))
                case .success: responder.respond(VdxpReply.ok())
                }
            }
        }
    }
}
