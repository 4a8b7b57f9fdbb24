/// An HTTP version as it appears on the wire: `HTTP/<major>.<minor>`, one digit each (RFC 9112 §2.3).
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The digit before the dot.
    public let major: Int
    /// The digit after the dot.
    public let minor: Int

    /// A version; both parts are single digits, as on the wire.
    public init(major: Int, minor: Int) {
        precondition((0...9).contains(major) && (0...9).contains(minor), "HTTP versions have one digit each")
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0: persistent only with `Connection: keep-alive`; no chunked coding.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1, the version Axis speaks.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// Whether this version gets HTTP/1.1 semantics (persistent connections by default, chunked coding,
    /// `Expect`). A higher minor version of HTTP/1 is processed as 1.1 (RFC 9110 §6.2).
    public var hasHTTP11Semantics: Bool { major == 1 && minor >= 1 }

    public var description: String { "HTTP/\(major).\(minor)" }

    /// Parses exactly `HTTP/<digit>.<digit>` (case-sensitive); nil for anything else.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> HTTPVersion? {
        guard bytes.count == 8,
              bytes[0] == 0x48, bytes[1] == 0x54, bytes[2] == 0x54, bytes[3] == 0x50, bytes[4] == 0x2F,  // "HTTP/"
              HTTPBytes.isDigit(bytes[5]), bytes[6] == 0x2E, HTTPBytes.isDigit(bytes[7])
        else { return nil }
        return HTTPVersion(major: Int(bytes[5] &- 0x30), minor: Int(bytes[7] &- 0x30))
    }

    /// Appends `HTTP/x.y`.
    func write(into out: inout [UInt8]) {
        out.append(contentsOf: [0x48, 0x54, 0x54, 0x50, 0x2F, UInt8(0x30 + major), 0x2E, UInt8(0x30 + minor)])
    }
}
