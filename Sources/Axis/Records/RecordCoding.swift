/// Encoding of the identifier and value types shared by record bodies.
enum Limits {
    static let textBytesMax = 4096
    static let subjectBytesMax = 4096
    static let recipientsMax = 100_000
    static let listMax = 100_000
}

extension ByteWriter {
    mutating func agency(_ a: AgencyCode) { string(a.rawValue) }
    mutating func document(_ d: DocumentID) { u64(d.high); u64(d.low) }
    mutating func time(_ t: Timestamp) { i64(t.millis) }
    mutating func system(_ s: SystemID) { string(s.rawValue) }

    mutating func actor(_ a: Actor) {
        switch a {
        case .system: u8(0)
        case .agency(let code): u8(1); agency(code)
        case .admin(let uid, let gid): u8(2); u32(uid); u32(gid)
        case .policy(let name): u8(3); string(name)
        }
    }
}

extension ByteReader {
    mutating func agency(_ what: String = "agency code") throws -> AgencyCode {
        try AgencyCode(try string(what, max: AgencyCode.lengthMax))
    }

    mutating func document(_ what: String = "document id") throws -> DocumentID {
        DocumentID(high: try u64(what), low: try u64(what))
    }

    mutating func time(_ what: String = "time") throws -> Timestamp { Timestamp(millis: try i64(what)) }

    mutating func system(_ what: String = "system id") throws -> SystemID {
        try SystemID(try string(what, max: SystemID.lengthMax))
    }

    mutating func text(_ what: String) throws -> String { try string(what, max: Limits.textBytesMax) }

    mutating func actor() throws -> Actor {
        switch try u8("actor") {
        case 0: return .system
        case 1: return .agency(try agency())
        case 2: return .admin(uid: try u32("uid"), gid: try u32("gid"))
        case 3: return .policy(try text("policy name"))
        case let tag: throw AxisError(.malformed, "unknown actor tag \(tag)")
        }
    }
}
