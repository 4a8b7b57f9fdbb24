/// Where a document's (or signature's, or receipt's) bytes are stored in the payload store, and
/// what they must hash to. Journal records carry this reference, never the bytes themselves, so the
/// journal stays small and replays fast, and a document sent to 100 recipients is stored once.
public struct PayloadRef: Hashable, Sendable, CustomStringConvertible {
    public var sha256: Digest256
    public var length: UInt64
    /// The payload segment file number and the offset of the payload's frame in it.
    public var segment: UInt64
    public var offset: UInt64

    public init(sha256: Digest256, length: UInt64, segment: UInt64, offset: UInt64) {
        self.sha256 = sha256
        self.length = length
        self.segment = segment
        self.offset = offset
    }

    public var description: String { "payload \(segment)@\(offset) \(length)B sha256=\(sha256.hex)" }

    func encode(into w: inout ByteWriter) {
        w.digest(sha256)
        w.varint(length)
        w.varint(segment)
        w.varint(offset)
    }

    static func decode(from r: inout ByteReader) throws -> PayloadRef {
        PayloadRef(sha256: try r.digest("payload sha256"), length: try r.varint("payload length"),
                   segment: try r.varint("payload segment"), offset: try r.varint("payload offset"))
    }
}
