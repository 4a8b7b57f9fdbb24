/// Agency directory records: the full new entry each time (upsert), so replay needs no history.

/// An agency: who it is, how it receives (push endpoint or pull), which system hosts it, and which
/// signing certificates are bound to it.
public struct AgencyEntry: Equatable, Sendable {
    public var code: AgencyCode
    public var parent: AgencyCode?
    public var name: String
    public var email: String
    /// HTTPS URL for push delivery; empty for pull.
    public var endpoint: String
    public var system: SystemID?
    /// SHA-256 fingerprints of the signing certificates bound to this agency.
    public var certificateFingerprints: [Digest256]
    /// A subject rule (e.g. `O=Ministry of Finance`) that binds certificates by subject instead.
    public var subjectRule: String
    public var enabled: Bool

    public init(code: AgencyCode, parent: AgencyCode? = nil, name: String, email: String = "", endpoint: String = "",
                system: SystemID? = nil, certificateFingerprints: [Digest256] = [], subjectRule: String = "",
                enabled: Bool = true) {
        self.code = code
        self.parent = parent
        self.name = name
        self.email = email
        self.endpoint = endpoint
        self.system = system
        self.certificateFingerprints = certificateFingerprints
        self.subjectRule = subjectRule
        self.enabled = enabled
    }

    func encode(into w: inout ByteWriter) {
        w.agency(code); w.optional(parent) { $0.agency($1) }; w.string(name); w.string(email); w.string(endpoint)
        w.optional(system) { $0.system($1) }; w.array(certificateFingerprints) { $0.digest($1) }
        w.string(subjectRule); w.bool(enabled)
    }

    init(from r: inout ByteReader) throws {
        code = try r.agency(); parent = try r.optional("parent") { try $0.agency("parent") }
        name = try r.text("name"); email = try r.text("email"); endpoint = try r.text("endpoint")
        system = try r.optional("system") { try $0.system() }
        certificateFingerprints = try r.array("certificate fingerprints", max: Limits.listMax) { try $0.digest() }
        subjectRule = try r.text("subject rule"); enabled = try r.bool("enabled")
    }
}

public struct AgencyChanged: Equatable, Sendable {
    public var agency: AgencyEntry
    public var at: Timestamp
    public var actor: Actor
    public var reason: String

    public init(agency: AgencyEntry, at: Timestamp, actor: Actor, reason: String = "") {
        (self.agency, self.at, self.actor, self.reason) = (agency, at, actor, reason)
    }

    func encode(into w: inout ByteWriter) { agency.encode(into: &w); w.time(at); w.actor(actor); w.string(reason) }

    init(from r: inout ByteReader) throws {
        agency = try AgencyEntry(from: &r); at = try r.time(); actor = try r.actor(); reason = try r.text("reason")
    }
}

/// A client system: its TLS identity, the agencies it hosts, and its VDXP credentials.
public struct SystemEntry: Equatable, Sendable {
    public var id: SystemID
    public var name: String
    public var tlsFingerprints: [Digest256]
    public var subjectRule: String
    public var agencies: [AgencyCode]
    /// The VDXP `systemid` and HMAC secret, for the VDXP-compatible API; empty when not used.
    public var vdxpSystemID: String
    public var vdxpSecret: String
    public var enabled: Bool

    public init(id: SystemID, name: String, tlsFingerprints: [Digest256] = [], subjectRule: String = "",
                agencies: [AgencyCode] = [], vdxpSystemID: String = "", vdxpSecret: String = "", enabled: Bool = true) {
        self.id = id
        self.name = name
        self.tlsFingerprints = tlsFingerprints
        self.subjectRule = subjectRule
        self.agencies = agencies
        self.vdxpSystemID = vdxpSystemID
        self.vdxpSecret = vdxpSecret
        self.enabled = enabled
    }

    func encode(into w: inout ByteWriter) {
        w.system(id); w.string(name); w.array(tlsFingerprints) { $0.digest($1) }; w.string(subjectRule)
        w.array(agencies) { $0.agency($1) }; w.string(vdxpSystemID); w.string(vdxpSecret); w.bool(enabled)
    }

    init(from r: inout ByteReader) throws {
        id = try r.system(); name = try r.text("name")
        tlsFingerprints = try r.array("tls fingerprints", max: Limits.listMax) { try $0.digest() }
        subjectRule = try r.text("subject rule")
        agencies = try r.array("hosted agencies", max: Limits.listMax) { try $0.agency() }
        vdxpSystemID = try r.text("vdxp system id"); vdxpSecret = try r.text("vdxp secret"); enabled = try r.bool("enabled")
    }
}

public struct SystemChanged: Equatable, Sendable {
    public var system: SystemEntry
    public var at: Timestamp
    public var actor: Actor
    public var reason: String

    public init(system: SystemEntry, at: Timestamp, actor: Actor, reason: String = "") {
        (self.system, self.at, self.actor, self.reason) = (system, at, actor, reason)
    }

    func encode(into w: inout ByteWriter) { system.encode(into: &w); w.time(at); w.actor(actor); w.string(reason) }

    init(from r: inout ByteReader) throws {
        system = try SystemEntry(from: &r); at = try r.time(); actor = try r.actor(); reason = try r.text("reason")
    }
}
