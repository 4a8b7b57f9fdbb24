import Foundation

/// What administrators change in the agency and system directory: pure functions from a request's
/// JSON and the current directory to the entries to record, so the admin socket, `--dry-run` and the
/// tests all see the same answers. Nothing here writes: `AdminService+Directory` appends the records.
///
/// Every refusal is an `HTTPError` whose message names the field and the fix: 400 for a bad value
/// (`invalid_<field>`, `unknown_field`, `invalid_import`), 404 for an unknown target (`unknown_agency`,
/// `unknown_system`), 409 for adding what exists (`agency_exists`, `system_exists`).
///
/// An agency object, in requests and replies (docs/OPERATIONS.md, "Agencies and systems"):
///
///     {"code":"000.00.00.G22", "parent":"000.00.00.G01"|null, "name":"…", "email":"…",
///      "endpoint":"https://…" | "" (pull), "system":"id"|null, "certificateFingerprints":["64 hex",…],
///      "subjectRule":"O=…", "enabled":true}
///
/// A system object: `{"id", "name", "tlsFingerprints", "subjectRule", "agencies", "vdxpSystemId",
/// "vdxpSecret", "enabled"}`; in replies `vdxpSecret` is only `"set"` or `"unset"`, never the secret.
///
/// On update only the fields given change; `add…`/`remove…` lists change one fingerprint or agency
/// without restating the rest (`axisctl agency update X --cert new.pem` during a rotation).
public enum DirectoryEdits {
    public static let nameBytesMax = 512
    public static let emailBytesMax = 254
    public static let subjectRuleBytesMax = 1024
    public static let vdxpSystemIDBytesMax = 128
    public static let vdxpSecretBytesMax = 1024
    /// Signing certificates bound to one agency (a rotation needs two or three).
    public static let fingerprintsPerEntryMax = 100
    /// Agencies one system may host.
    public static let agenciesPerSystemMax = 10_000

    /// How a request treats an existing entry: `add` refuses one (409), `update` needs one (404),
    /// `upsert` (import) creates or merges.
    public enum Mode: String, Sendable, CaseIterable {
        case add, update, upsert
    }

    public enum ChangeKind: String, Sendable {
        case created, updated, unchanged
    }

    public struct AgencyChange: Sendable, Equatable {
        public var entry: AgencyEntry
        public var kind: ChangeKind
    }

    public struct AgencyPlan: Sendable, Equatable {
        /// One per patch, in request order.
        public var changes: [AgencyChange]
        /// Accepted but probably not what was meant (e.g. a hosting system that does not list the agency).
        public var warnings: [String]
        public var records: [AgencyEntry] { changes.filter { $0.kind != .unchanged }.map(\.entry) }
    }

    public struct SystemChange: Sendable, Equatable {
        public var entry: SystemEntry
        public var kind: ChangeKind
        public var warnings: [String]
    }

    // MARK: Agency requests

    /// An agency object of a request. A nil field is not given (left as is on update); the double
    /// optionals say "given as null or empty: remove it".
    public struct AgencyPatch: Sendable, Equatable {
        public var code: AgencyCode
        public var parent: AgencyCode??
        public var name: String?
        public var email: String?
        /// `""`: pull.
        public var endpoint: String?
        public var system: SystemID??
        /// Replaces the list when given; then `addCertificateFingerprints` are added and
        /// `removeCertificateFingerprints` removed.
        public var certificateFingerprints: [Digest256]?
        public var addCertificateFingerprints: [Digest256] = []
        public var removeCertificateFingerprints: [Digest256] = []
        public var subjectRule: String?
        public var enabled: Bool?

        public init(code: AgencyCode) { self.code = code }
    }

    static let agencyFields = ["code", "parent", "name", "email", "endpoint", "system", "certificateFingerprints",
                               "addCertificateFingerprints", "removeCertificateFingerprints", "subjectRule", "enabled"]

    /// Parses and checks one agency object on its own (syntax, lengths, endpoint, subject rule);
    /// what it refers to is checked by `planAgencies`.
    public static func agencyPatch(_ value: Any) -> Result<AgencyPatch, HTTPError> {
        Result { () throws(HTTPError) -> AgencyPatch in
            let object = try JSONFields(value, what: "an agency", fields: agencyFields)
            guard let code = try object.agencyCode("code", required: true) else {
                throw invalid("code", "\"code\" is missing: give the agency code (e.g. 000.00.00.G22)")
            }
            var patch = AgencyPatch(code: code)
            if object.has("parent") { patch.parent = .some(try object.agencyCode("parent", required: false)) }
            patch.name = try object.text("name", max: nameBytesMax)
            if let name = patch.name, name.trimmingSpaces.isEmpty {
                throw invalid("name", "\"name\" is empty: give the agency's official name")
            }
            patch.email = try object.text("email", max: emailBytesMax)
            if let email = patch.email, !email.isEmpty, !isPlausibleEmail(email) {
                throw invalid("email", "\"email\": '\(email.prefix(80))' is not an e-mail address (name@domain); give one, or \"\" for none")
            }
            patch.endpoint = try object.text("endpoint", max: PushEndpoint.lengthMax)
            if let endpoint = patch.endpoint, !endpoint.isEmpty {
                do { _ = try PushEndpoint.parse(endpoint) } catch let error as AxisError {
                    throw invalid("endpoint", "\"endpoint\": \(error.message); or \"\" (axisctl: --pull) for pull delivery")
                } catch {
                    throw invalid("endpoint", "\"endpoint\": \(error)")
                }
            }
            if object.has("system") { patch.system = .some(try object.systemID("system")) }
            patch.certificateFingerprints = try object.fingerprints("certificateFingerprints")
            patch.addCertificateFingerprints = try object.fingerprints("addCertificateFingerprints") ?? []
            patch.removeCertificateFingerprints = try object.fingerprints("removeCertificateFingerprints") ?? []
            patch.subjectRule = try object.subjectRule("subjectRule")
            patch.enabled = try object.bool("enabled")
            return patch
        }
    }

    /// The agencies after applying `patches` in order, or the problem: one patch (add, update,
    /// disable, enable) fails with its own error (409/404/400).
    public static func planAgencies(_ patches: [AgencyPatch], mode: Mode, agencies: [AgencyCode: AgencyEntry],
                                    systems: [SystemID: SystemEntry]) -> Result<AgencyPlan, HTTPError> {
        plan(patches.enumerated().map { (index: $0.offset, result: .success($0.element)) }, mode: mode, agencies: agencies, systems: systems)
    }

    /// An import: every item created or merged (`upsert`), or every problem of every item — those
    /// found parsing it and those found against the directory — as one 400 `invalid_import` listing
    /// each in `details`; then nothing changes. Parents may be agencies of the same import.
    public static func planImport(_ request: ImportRequest, agencies: [AgencyCode: AgencyEntry],
                                  systems: [SystemID: SystemEntry]) -> Result<AgencyPlan, HTTPError> {
        plan(request.items.enumerated().map { (index: $0.offset, result: $0.element) }, mode: .upsert, agencies: agencies, systems: systems)
    }

    private static func plan(_ items: [(index: Int, result: Result<AgencyPatch, HTTPError>)], mode: Mode,
                             agencies: [AgencyCode: AgencyEntry], systems: [SystemID: SystemEntry]) -> Result<AgencyPlan, HTTPError> {
        let single = items.count == 1 && mode != .upsert
        var problems: [(index: Int, error: HTTPError)] = []
        var working = agencies
        var changes: [(index: Int, change: AgencyChange)] = []
        var seen = Set<AgencyCode>()
        let label = { (index: Int, code: AgencyCode) in single ? "agency \(code)" : "agencies[\(index)] (\(code))" }
        for (index, result) in items {
            let patch: AgencyPatch
            switch result {
            case .success(let parsed): patch = parsed
            case .failure(let error):
                problems.append((index, error))  // labelled by importRequest
                continue
            }
            guard seen.insert(patch.code).inserted else {
                problems.append((index, invalid("code", "\(label(index, patch.code)): appears twice; give each agency once")))
                continue
            }
            let existing = agencies[patch.code]
            switch (mode, existing) {
            case (.add, .some):
                problems.append((index, HTTPError(.conflict, HTTPError.Code("agency_exists"),
                    "agency \(patch.code) already exists; change it with axisctl agency update \(patch.code) (mode \"update\")")))
                continue
            case (.update, .none):
                problems.append((index, HTTPError(.notFound, HTTPError.Code("unknown_agency"),
                    "no agency \(patch.code) in the directory; add it with axisctl agency add \(patch.code) --name NAME (mode \"add\")")))
                continue
            default:
                break
            }
            switch mergeAgency(patch, onto: existing) {
            case .failure(let error): problems.append((index, prefixed(error, label(index, patch.code))))
            case .success(let entry):
                working[entry.code] = entry
                let kind: ChangeKind = existing == nil ? .created : existing == entry ? .unchanged : .updated
                changes.append((index, AgencyChange(entry: entry, kind: kind)))
            }
        }
        // References, once every entry of the request is known.
        var warnings: [String] = []
        for (index, change) in changes where change.kind != .unchanged {
            let entry = change.entry
            if let problem = referenceProblem(entry, agencies: working, systems: systems) {
                problems.append((index, prefixed(problem, label(index, entry.code))))
            }
            if let id = entry.system, agencies[entry.code]?.system != id, let system = systems[id], !system.agencies.contains(entry.code) {
                warnings.append("system \(id) does not list \(entry.code) among the agencies it hosts, so its clients cannot send or "
                    + "fetch for it yet: axisctl system update \(id) --agency \(entry.code)")
            }
        }
        if single, let only = problems.first { return .failure(only.error) }
        guard problems.isEmpty else {
            let messages = problems.enumerated().sorted { ($0.element.index, $0.offset) < ($1.element.index, $1.offset) }.map(\.element.error.message)
            let summary = messages.count == 1 ? ": \(messages[0])" : "; each is listed in details"
            return .failure(HTTPError(.badRequest, HTTPError.Code("invalid_import"),
                "\(messages.count) problem\(messages.count == 1 ? "" : "s") in \(items.count) agencies, so nothing was changed\(summary)",
                details: messages))
        }
        return .success(AgencyPlan(changes: changes.map(\.change), warnings: warnings))
    }

    /// `patch` applied to `existing` (or to a new entry). Only fails for what needs the old entry:
    /// a new agency without a name, or removing a fingerprint that is not bound.
    public static func mergeAgency(_ patch: AgencyPatch, onto existing: AgencyEntry?) -> Result<AgencyEntry, HTTPError> {
        guard var entry = existing ?? patch.name.map({ AgencyEntry(code: patch.code, name: $0) }) else {
            return .failure(invalid("name", "a new agency needs a \"name\" (axisctl: --name NAME)"))
        }
        if let parent = patch.parent { entry.parent = parent }
        if let name = patch.name { entry.name = name }
        if let email = patch.email { entry.email = email }
        if let endpoint = patch.endpoint { entry.endpoint = endpoint }
        if let system = patch.system { entry.system = system }
        switch editList(entry.certificateFingerprints, replace: patch.certificateFingerprints, add: patch.addCertificateFingerprints,
                        remove: patch.removeCertificateFingerprints, field: "certificateFingerprints", describe: \.hex) {
        case .failure(let error): return .failure(error)
        case .success(let list): entry.certificateFingerprints = list
        }
        if let rule = patch.subjectRule { entry.subjectRule = rule }
        if let enabled = patch.enabled { entry.enabled = enabled }
        return .success(entry)
    }

    /// A parent or system that does not exist, or a parent chain that loops.
    static func referenceProblem(_ entry: AgencyEntry, agencies: [AgencyCode: AgencyEntry],
                                 systems: [SystemID: SystemEntry]) -> HTTPError? {
        if let parent = entry.parent {
            guard parent != entry.code else { return invalid("parent", "\"parent\" is the agency itself; name its parent agency or none") }
            guard agencies[parent] != nil else {
                return invalid("parent", "\"parent\": no agency \(parent) in the directory; add it first (axisctl agency add \(parent) "
                    + "--name NAME) or leave the parent out")
            }
            var seen: Set<AgencyCode> = [entry.code]
            var next: AgencyCode? = parent
            while let code = next {
                guard seen.insert(code).inserted else {
                    return invalid("parent", "\"parent\" \(parent) makes a loop (\(code) is its own ancestor); choose a parent above it")
                }
                next = agencies[code]?.parent
            }
        }
        if let system = entry.system, systems[system] == nil {
            return invalid("system", "\"system\": no system \(system) in the directory; add it first (axisctl system add \(system) "
                + "--name NAME) or leave the system out")
        }
        return nil
    }

    /// `{"mode":"add"|"update", "agency":{…}, "reason"?}` → the mode, the patch and the reason.
    public static func agencyRequest(_ body: [UInt8]) -> Result<(Mode, AgencyPatch, String), HTTPError> {
        Result { () throws(HTTPError) -> (Mode, AgencyPatch, String) in
            let object = try JSONFields(try parseJSON(body, hint: "{\"mode\":\"add\"|\"update\", \"agency\":{…}, \"reason\":…}"),
                                        what: "the request", fields: ["mode", "agency", "reason"])
            let mode = try object.mode()
            guard let agency = object.raw("agency") else {
                throw invalid("agency", "\"agency\" is missing: give the agency object ({\"code\":…, \"name\":…, …})")
            }
            let label = ((agency as? [String: Any])?["code"] as? String).map { "agency \($0.prefix(64))" }
            return (mode, try agencyPatch(agency).mapError { error in label.map { prefixed(error, $0) } ?? error }.get(), try object.reason())
        }
    }

    /// An import as parsed: each item's agency or why it cannot be read (reported by `planImport`
    /// with the directory's problems, so one run shows them all).
    public struct ImportRequest {
        public var items: [Result<AgencyPatch, HTTPError>]
        public var dryRun: Bool
        public var reason: String
    }

    /// `{"agencies":[…], "dryRun"?, "reason"?}` (or a bare list). Fails only when the body itself is
    /// unusable; a bad item is kept in `items` as its error.
    public static func importRequest(_ body: [UInt8]) -> Result<ImportRequest, HTTPError> {
        Result { () throws(HTTPError) -> ImportRequest in
            let hint = "{\"agencies\":[{\"code\":…, \"name\":…}, …], \"dryRun\":false}"
            let value = try parseJSON(body, hint: hint)
            var request = ImportRequest(items: [], dryRun: false, reason: "")
            let list: [Any]
            if let array = value as? [Any] {
                list = array
            } else {
                let object = try JSONFields(value, what: "the import", fields: ["agencies", "dryRun", "reason"])
                guard let array = object.raw("agencies") as? [Any] else {
                    throw invalid("agencies", "\"agencies\" is missing or not a list: send \(hint)")
                }
                list = array
                request.dryRun = try object.bool("dryRun") ?? false
                request.reason = try object.reason()
            }
            guard !list.isEmpty else { throw invalid("agencies", "\"agencies\" is empty: nothing to import") }
            guard list.count <= Limits.listMax else {
                throw invalid("agencies", "\(list.count) agencies in one import; split it into files of at most \(Limits.listMax)")
            }
            request.items = list.enumerated().map { index, item in
                agencyPatch(item).mapError { error in
                    let code = ((item as? [String: Any])?["code"] as? String).map { " (\($0.prefix(64)))" } ?? ""
                    return prefixed(error, "agencies[\(index)]\(code)")
                }
            }
            return request
        }
    }

    /// `{"reason":…}` for disable/enable: the reason, required.
    public static func reasonRequest(_ body: [UInt8], action: String) -> Result<String, HTTPError> {
        Result { () throws(HTTPError) -> String in
            let object = try JSONFields(try parseJSON(body, hint: "{\"reason\":\"…\"}"), what: "the request", fields: ["reason"])
            let reason = try object.reason()
            guard !reason.trimmingSpaces.isEmpty else {
                throw HTTPError(.badRequest, HTTPError.Code("reason_required"),
                    "\(action) needs a reason (it is kept in the journal); give --reason TEXT")
            }
            return reason
        }
    }

    // MARK: System requests

    public struct SystemPatch: Sendable, Equatable {
        public var id: SystemID
        public var name: String?
        public var tlsFingerprints: [Digest256]?
        public var addTlsFingerprints: [Digest256] = []
        public var removeTlsFingerprints: [Digest256] = []
        public var subjectRule: String?
        public var agencies: [AgencyCode]?
        public var addAgencies: [AgencyCode] = []
        public var removeAgencies: [AgencyCode] = []
        public var vdxpSystemID: String?
        public var vdxpSecret: String?
        public var enabled: Bool?

        public init(id: SystemID) { self.id = id }
    }

    static let systemFields = ["id", "name", "tlsFingerprints", "addTlsFingerprints", "removeTlsFingerprints", "subjectRule",
                               "agencies", "addAgencies", "removeAgencies", "vdxpSystemId", "vdxpSecret", "enabled"]

    public static func systemPatch(_ value: Any) -> Result<SystemPatch, HTTPError> {
        Result { () throws(HTTPError) -> SystemPatch in
            let object = try JSONFields(value, what: "a system", fields: systemFields)
            guard let id = try object.systemID("id") else { throw invalid("id", "\"id\" is missing: give the system's id") }
            var patch = SystemPatch(id: id)
            patch.name = try object.text("name", max: nameBytesMax)
            if let name = patch.name, name.trimmingSpaces.isEmpty { throw invalid("name", "\"name\" is empty: name the system") }
            patch.tlsFingerprints = try object.fingerprints("tlsFingerprints")
            patch.addTlsFingerprints = try object.fingerprints("addTlsFingerprints") ?? []
            patch.removeTlsFingerprints = try object.fingerprints("removeTlsFingerprints") ?? []
            patch.subjectRule = try object.subjectRule("subjectRule")
            patch.agencies = try object.agencyCodes("agencies")
            patch.addAgencies = try object.agencyCodes("addAgencies") ?? []
            patch.removeAgencies = try object.agencyCodes("removeAgencies") ?? []
            patch.vdxpSystemID = try object.text("vdxpSystemId", max: vdxpSystemIDBytesMax)
            if let vdxp = patch.vdxpSystemID, vdxp.contains(where: { $0 == " " }) {
                throw invalid("vdxp_system_id", "\"vdxpSystemId\" contains spaces: give the system id the VDXP SDK sends")
            }
            patch.vdxpSecret = try object.text("vdxpSecret", max: vdxpSecretBytesMax, controlsAllowed: false)
            if let secret = patch.vdxpSecret, secret == "set" || secret == "unset" {
                throw invalid("vdxp_secret", "\"vdxpSecret\" is \"\(secret)\", which is how replies hide the secret, not a secret: "
                    + "leave the field out to keep the secret, or give the secret itself (axisctl: --vdxp-secret-file FILE)")
            }
            patch.enabled = try object.bool("enabled")
            return patch
        }
    }

    /// `{"mode":"add"|"update", "system":{…}, "reason"?}`.
    public static func systemRequest(_ body: [UInt8]) -> Result<(Mode, SystemPatch, String), HTTPError> {
        Result { () throws(HTTPError) -> (Mode, SystemPatch, String) in
            let object = try JSONFields(try parseJSON(body, hint: "{\"mode\":\"add\"|\"update\", \"system\":{…}, \"reason\":…}"),
                                        what: "the request", fields: ["mode", "system", "reason"])
            let mode = try object.mode()
            guard mode != .upsert else { throw invalid("mode", "\"mode\" must be \"add\" or \"update\"") }
            guard let system = object.raw("system") else {
                throw invalid("system", "\"system\" is missing: give the system object ({\"id\":…, \"name\":…, …})")
            }
            let label = ((system as? [String: Any])?["id"] as? String).map { "system \($0.prefix(128))" }
            return (mode, try systemPatch(system).mapError { error in label.map { prefixed(error, $0) } ?? error }.get(), try object.reason())
        }
    }

    /// The system after `patch`, checked against the directory: hosted agencies exist, no TLS
    /// fingerprint identifies another enabled system, no other system has the VDXP system id, and a
    /// VDXP secret comes with a VDXP system id.
    public static func planSystem(_ patch: SystemPatch, mode: Mode, systems: [SystemID: SystemEntry],
                                  agencies: [AgencyCode: AgencyEntry]) -> Result<SystemChange, HTTPError> {
        Result { () throws(HTTPError) -> SystemChange in
            let existing = systems[patch.id]
            if mode == .add, existing != nil {
                throw HTTPError(.conflict, HTTPError.Code("system_exists"),
                    "system \(patch.id) already exists; change it with axisctl system update \(patch.id) (mode \"update\")")
            }
            if mode == .update, existing == nil {
                throw HTTPError(.notFound, HTTPError.Code("unknown_system"),
                    "no system \(patch.id) in the directory; add it with axisctl system add \(patch.id) --name NAME (mode \"add\")")
            }
            guard var entry = existing ?? patch.name.map({ SystemEntry(id: patch.id, name: $0) }) else {
                throw invalid("name", "a new system needs a \"name\" (axisctl: --name NAME)")
            }
            if let name = patch.name { entry.name = name }
            entry.tlsFingerprints = try editList(entry.tlsFingerprints, replace: patch.tlsFingerprints, add: patch.addTlsFingerprints,
                                                 remove: patch.removeTlsFingerprints, field: "tlsFingerprints", describe: \.hex).get()
            if let rule = patch.subjectRule { entry.subjectRule = rule }
            entry.agencies = try editList(entry.agencies, replace: patch.agencies, add: patch.addAgencies, remove: patch.removeAgencies,
                                          field: "agencies", describe: \.rawValue, max: agenciesPerSystemMax).get()
            if let vdxp = patch.vdxpSystemID { entry.vdxpSystemID = vdxp }
            if let secret = patch.vdxpSecret { entry.vdxpSecret = secret }
            if let enabled = patch.enabled { entry.enabled = enabled }

            let label = "system \(entry.id)"
            if let missing = entry.agencies.first(where: { agencies[$0] == nil }) {
                throw invalid("agencies", "\(label): \"agencies\": no agency \(missing) in the directory; add it first (axisctl agency add "
                    + "\(missing) --name NAME) or leave it out")
            }
            if entry.enabled {
                for fingerprint in entry.tlsFingerprints {
                    if let other = systems.values.first(where: { $0.id != entry.id && $0.enabled && $0.tlsFingerprints.contains(fingerprint) }) {
                        throw invalid("tls_fingerprints", "\(label): \"tlsFingerprints\": \(fingerprint.hex) already identifies system "
                            + "\(other.id); one TLS certificate identifies one system (disable \(other.id) or remove it there first)")
                    }
                }
            }
            if !entry.vdxpSystemID.isEmpty,
               let other = systems.values.first(where: { $0.id != entry.id && $0.vdxpSystemID == entry.vdxpSystemID }) {
                throw invalid("vdxp_system_id", "\(label): \"vdxpSystemId\" \(entry.vdxpSystemID) is already used by system \(other.id); "
                    + "each VDXP system id names one system")
            }
            if !entry.vdxpSecret.isEmpty && entry.vdxpSystemID.isEmpty {
                throw invalid("vdxp_system_id", "\(label): a VDXP secret needs a VDXP system id (axisctl: --vdxp-id ID)")
            }
            var warnings: [String] = []
            if entry.tlsFingerprints.isEmpty && entry.subjectRule.isEmpty && entry.vdxpSystemID.isEmpty && entry.enabled {
                warnings.append("system \(entry.id) has no TLS certificate, subject rule or VDXP id, so no client can authenticate as it "
                    + "yet: axisctl system update \(entry.id) --cert client.pem")
            }
            let kind: ChangeKind = existing == nil ? .created : existing == entry ? .unchanged : .updated
            return SystemChange(entry: entry, kind: kind, warnings: warnings)
        }
    }

    // MARK: Replies

    /// The agency object of replies: exactly the fields a request takes, so `agency list --json`
    /// can be imported again.
    public static func agencyJSON(_ a: AgencyEntry) -> JSONValue {
        .object([
            ("code", .string(a.code.rawValue)), ("parent", a.parent.map { .string($0.rawValue) } ?? .null),
            ("name", .string(a.name)), ("email", .string(a.email)), ("endpoint", .string(a.endpoint)),
            ("system", a.system.map { .string($0.rawValue) } ?? .null),
            ("certificateFingerprints", .array(a.certificateFingerprints.map { .string($0.hex) })),
            ("subjectRule", .string(a.subjectRule)), ("enabled", .bool(a.enabled)),
        ])
    }

    /// The system object of replies. The VDXP secret is never in a reply: only whether one is set.
    public static func systemJSON(_ s: SystemEntry) -> JSONValue {
        .object([
            ("id", .string(s.id.rawValue)), ("name", .string(s.name)),
            ("tlsFingerprints", .array(s.tlsFingerprints.map { .string($0.hex) })), ("subjectRule", .string(s.subjectRule)),
            ("agencies", .array(s.agencies.map { .string($0.rawValue) })), ("vdxpSystemId", .string(s.vdxpSystemID)),
            ("vdxpSecret", .string(s.vdxpSecret.isEmpty ? "unset" : "set")), ("enabled", .bool(s.enabled)),
        ])
    }

    // MARK: Helpers

    static func invalid(_ field: String, _ message: String) -> HTTPError {
        HTTPError(.badRequest, HTTPError.Code("invalid_\(field)"), message)
    }

    static func prefixed(_ error: HTTPError, _ label: String) -> HTTPError {
        error.message.hasPrefix(label) ? error : HTTPError(error.status, error.code, "\(label): \(error.message)", details: error.details)
    }

    /// `list` replaced (when given), then `add` appended (once each) and `remove` taken out; removing
    /// what is not there is refused, so a typo does not pass silently.
    static func editList<T: Equatable>(_ list: [T], replace: [T]?, add: [T], remove: [T], field: String,
                                       describe: (T) -> String, max: Int = fingerprintsPerEntryMax) -> Result<[T], HTTPError> {
        var result: [T] = []
        for item in (replace ?? list) + add where !result.contains(item) { result.append(item) }
        for item in remove {
            guard let index = result.firstIndex(of: item) else {
                return .failure(invalid(snake(field), "\"\(field)\": \(describe(item)) is not in the list, so it cannot be removed"))
            }
            result.remove(at: index)
        }
        guard result.count <= max else {
            return .failure(invalid(snake(field), "\"\(field)\" would hold \(result.count) entries; at most \(max)"))
        }
        return .success(result)
    }

    static func snake(_ camel: String) -> String {
        camel.reduce(into: "") { out, c in
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
    }

    static func isPlausibleEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
            && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F }
    }

    static func parseJSON(_ body: [UInt8], hint: String) throws(HTTPError) -> Any {
        guard let value = try? JSONSerialization.jsonObject(with: Data(body)) else {
            throw HTTPError(.badRequest, HTTPError.Code("invalid_body"), "the body is not JSON; send \(hint)")
        }
        return value
    }
}

/// Reads the fields of one JSON object (from `JSONSerialization`), refusing unknown ones.
private struct JSONFields {
    let object: [String: Any]
    let what: String

    init(_ value: Any, what: String, fields: [String]) throws(HTTPError) {
        guard let object = value as? [String: Any] else {
            throw HTTPError(.badRequest, HTTPError.Code("invalid_body"), "\(what) must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw HTTPError(.badRequest, HTTPError.Code("unknown_field"),
                "\"\(unknown.prefix(40))\" is not a field of \(what); the fields are \(fields.joined(separator: ", "))")
        }
        (self.object, self.what) = (object, what)
    }

    static func message(_ error: any Error) -> String { (error as? AxisError)?.message ?? "\(error)" }

    func has(_ key: String) -> Bool { object[key] != nil }
    func raw(_ key: String) -> Any? { object[key] }
    func isNull(_ key: String) -> Bool { object[key] is NSNull }

    func text(_ key: String, max: Int, controlsAllowed: Bool = false) throws(HTTPError) -> String? {
        guard let value = object[key] else { return nil }
        guard let text = value as? String else { throw DirectoryEdits.invalid(DirectoryEdits.snake(key), "\"\(key)\" must be a string") }
        guard text.utf8.count <= max else {
            throw DirectoryEdits.invalid(DirectoryEdits.snake(key), "\"\(key)\" is \(text.utf8.count) bytes long; at most \(max)")
        }
        if !controlsAllowed, text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw DirectoryEdits.invalid(DirectoryEdits.snake(key), "\"\(key)\" contains control characters (a newline?); remove them")
        }
        return text
    }

    func bool(_ key: String) throws(HTTPError) -> Bool? {
        guard let value = object[key] else { return nil }
        // JSONSerialization gives 0 and 1 as NSNumber, which casts to Bool; only true and false
        // arrive as the Boolean subclass.
        guard let flag = value as? Bool, ObjectIdentifier(type(of: value)) != ObjectIdentifier(NSNumber.self) else {
            throw DirectoryEdits.invalid(DirectoryEdits.snake(key), "\"\(key)\" must be true or false")
        }
        return flag
    }

    /// A code; nil when absent (unless `required`), null or "".
    func agencyCode(_ key: String, required: Bool) throws(HTTPError) -> AgencyCode? {
        if object[key] == nil || isNull(key) {
            if required { throw DirectoryEdits.invalid(key, "\"\(key)\" is missing: give the agency code (e.g. 000.00.00.G22)") }
            return nil
        }
        guard let text = object[key] as? String else { throw DirectoryEdits.invalid(key, "\"\(key)\" must be a string (an agency code)") }
        if text.isEmpty && !required { return nil }
        do { return try AgencyCode(text) } catch { throw DirectoryEdits.invalid(key, "\"\(key)\": \(Self.message(error))") }
    }

    /// A system id; nil when absent, null or "".
    func systemID(_ key: String) throws(HTTPError) -> SystemID? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw DirectoryEdits.invalid(key, "\"\(key)\" must be a string (a system id)") }
        if text.isEmpty { return nil }
        do { return try SystemID(text) } catch { throw DirectoryEdits.invalid(key, "\"\(key)\": \(Self.message(error))") }
    }

    func agencyCodes(_ key: String) throws(HTTPError) -> [AgencyCode]? {
        guard let value = object[key] else { return nil }
        let field = DirectoryEdits.snake(key)
        guard let list = value as? [Any] else { throw DirectoryEdits.invalid(field, "\"\(key)\" must be a list of agency codes") }
        guard list.count <= DirectoryEdits.agenciesPerSystemMax else {
            throw DirectoryEdits.invalid(field, "\"\(key)\" lists \(list.count) agencies; at most \(DirectoryEdits.agenciesPerSystemMax)")
        }
        var codes: [AgencyCode] = []
        for (index, item) in list.enumerated() {
            guard let text = item as? String else { throw DirectoryEdits.invalid(field, "\"\(key)\"[\(index)] must be a string") }
            do { codes.append(try AgencyCode(text)) } catch { throw DirectoryEdits.invalid(field, "\"\(key)\"[\(index)]: \(Self.message(error))") }
        }
        return codes
    }

    /// SHA-256 fingerprints: 64 hex digits each (either case; the colons of `openssl x509 -fingerprint` allowed).
    func fingerprints(_ key: String) throws(HTTPError) -> [Digest256]? {
        guard let value = object[key] else { return nil }
        let field = DirectoryEdits.snake(key)
        guard let list = value as? [Any] else { throw DirectoryEdits.invalid(field, "\"\(key)\" must be a list of SHA-256 fingerprints") }
        guard list.count <= DirectoryEdits.fingerprintsPerEntryMax else {
            throw DirectoryEdits.invalid(field, "\"\(key)\" lists \(list.count) fingerprints; at most \(DirectoryEdits.fingerprintsPerEntryMax)")
        }
        var digests: [Digest256] = []
        for (index, item) in list.enumerated() {
            let text = item as? String ?? ""
            let hex = String(text.filter { $0 != ":" }).lowercased()
            guard hex.utf8.count == 64, let digest = Digest256(hex: hex) else {
                throw DirectoryEdits.invalid(field, "\"\(key)\"[\(index)]: '\(text.prefix(100))' is not a SHA-256 fingerprint: give 64 hex "
                    + "digits (openssl x509 -noout -fingerprint -sha256 -in cert.pem), or let axisctl compute it with --cert cert.pem")
            }
            digests.append(digest)
        }
        return digests
    }

    func subjectRule(_ key: String) throws(HTTPError) -> String? {
        guard let rule = try text(key, max: DirectoryEdits.subjectRuleBytesMax) else { return nil }
        if !rule.isEmpty, case .failure(let error) = SubjectRule.parse(rule) {
            throw DirectoryEdits.invalid(DirectoryEdits.snake(key), "\"\(key)\": \(error.message); write ATTR=value pairs separated by "
                + "commas, e.g. O=Bộ Tài chính, OU=000.00.00.G17 (\"\" for none)")
        }
        return rule
    }

    func mode() throws(HTTPError) -> DirectoryEdits.Mode {
        guard let text = object["mode"] as? String, let mode = DirectoryEdits.Mode(rawValue: text), mode != .upsert else {
            throw DirectoryEdits.invalid("mode", "\"mode\" must be \"add\" (refused if it exists) or \"update\" (only the fields given change)")
        }
        return mode
    }

    func reason() throws(HTTPError) -> String {
        try text("reason", max: AdminService.reasonBytesMax) ?? ""
    }
}
