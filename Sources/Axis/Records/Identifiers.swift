/// Identifier value types. Records never carry a bare `String` where an identifier is meant.

/// An agency code (mã định danh), e.g. `000.00.00.G22`: dot-separated segments read right to left
/// (level-1 group first). Validated leniently: 1–64 characters of letters, digits, `.`, `-`, `_`.
public struct AgencyCode: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let lengthMax = 64
    public let rawValue: String

    public init(_ raw: String) throws {
        guard !raw.isEmpty, raw.utf8.count <= Self.lengthMax,
              raw.utf8.allSatisfy({ Self.allowed($0) }) else {
            throw AxisError(.malformed,
                "'\(raw.prefix(80))' is not an agency code: use 1–\(Self.lengthMax) letters, digits, '.', '-' or '_' (e.g. 000.00.00.G22)")
        }
        rawValue = raw
    }

    private static func allowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    public var description: String { rawValue }
    public static func < (a: AgencyCode, b: AgencyCode) -> Bool { a.rawValue < b.rawValue }
}

/// Axis's own id for an accepted document: 16 bytes, time-ordered (48-bit milliseconds, then
/// random), printed as 32 lowercase hex digits. Ids sort in acceptance order across restarts.
public struct DocumentID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func generate(at time: Timestamp, using rng: inout some RandomNumberGenerator) -> DocumentID {
        let millis = UInt64(max(0, time.millis)) & 0xFFFF_FFFF_FFFF
        return DocumentID(high: millis << 16 | UInt64.random(in: 0...0xFFFF, using: &rng), low: rng.next())
    }

    public init?(hex: String) {
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { return nil }
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    public var hex: String {
        Hex.encode((0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
                   + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) })
    }

    public var description: String { hex }
    public static func < (a: DocumentID, b: DocumentID) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

/// A client system (an office's document-management system) that hosts one or more agencies.
public struct SystemID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let lengthMax = 128
    public let rawValue: String

    public init(_ raw: String) throws {
        guard !raw.isEmpty, raw.utf8.count <= Self.lengthMax,
              raw.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw AxisError(.malformed, "'\(raw.prefix(80))' is not a system id: use 1–\(Self.lengthMax) printable ASCII characters without spaces")
        }
        rawValue = raw
    }

    public var description: String { rawValue }
    public static func < (a: SystemID, b: SystemID) -> Bool { a.rawValue < b.rawValue }
}

/// Who caused a record: the axis itself, an agency (through its system), an administrator (by the
/// peer uid of the admin socket), or a named policy (e.g. `lifetime`).
public enum Actor: Hashable, Sendable, CustomStringConvertible {
    case system
    case agency(AgencyCode)
    case admin(uid: UInt32, gid: UInt32)
    case policy(String)

    public var description: String {
        switch self {
        case .system: return "system"
        case .agency(let code): return "agency:\(code)"
        case .admin(let uid, let gid): return "admin:uid=\(uid),gid=\(gid)"
        case .policy(let name): return "policy:\(name)"
        }
    }
}
