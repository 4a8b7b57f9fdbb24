/// Little-endian binary encoding for journal records and file headers.
///
/// `ByteWriter` appends to a growable buffer; `ByteReader` reads from a byte slice and throws
/// `AxisError(.malformed)` on any read past the end or any value out of range, so a decoder fed
/// damaged bytes fails cleanly instead of trapping.
///
/// Variable-length values (`bytes`, `string`, arrays) are prefixed with a LEB128 unsigned length.
public struct ByteWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func raw<C: Collection>(_ data: C) where C.Element == UInt8 { bytes.append(contentsOf: data) }

    public mutating func bytes<C: Collection>(_ data: C) where C.Element == UInt8 {
        varint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    public mutating func string(_ s: String) { bytes(Array(s.utf8)) }

    public mutating func digest(_ d: Digest256) { d.withBytes { bytes.append(contentsOf: $0) } }

    public mutating func optional<T>(_ value: T?, _ write: (inout ByteWriter, T) -> Void) {
        if let value {
            u8(1)
            write(&self, value)
        } else {
            u8(0)
        }
    }

    public mutating func array<T>(_ values: [T], _ write: (inout ByteWriter, T) -> Void) {
        varint(UInt64(values.count))
        for v in values { write(&self, v) }
    }
}

public struct ByteReader {
    private let data: [UInt8]
    public private(set) var offset: Int
    private let end: Int

    public init(_ data: [UInt8], offset: Int = 0) {
        self.data = data
        self.offset = offset
        self.end = data.count
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset == end }

    private mutating func take(_ n: Int, _ what: String) throws -> Range<Int> {
        guard n >= 0, n <= remaining else {
            throw AxisError(.malformed, "truncated \(what): need \(n) bytes at offset \(offset), have \(remaining)")
        }
        defer { offset += n }
        return offset..<(offset + n)
    }

    public mutating func u8(_ what: String = "u8") throws -> UInt8 { data[try take(1, what).lowerBound] }

    public mutating func bool(_ what: String = "bool") throws -> Bool {
        switch try u8(what) {
        case 0: return false
        case 1: return true
        case let v: throw AxisError(.malformed, "\(what): expected 0 or 1, found \(v)")
        }
    }

    private mutating func fixed<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let r = try take(MemoryLayout<T>.size, what)
        return data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: r.lowerBound, as: T.self)) }
    }

    public mutating func u16(_ what: String = "u16") throws -> UInt16 { try fixed(UInt16.self, what) }
    public mutating func u32(_ what: String = "u32") throws -> UInt32 { try fixed(UInt32.self, what) }
    public mutating func u64(_ what: String = "u64") throws -> UInt64 { try fixed(UInt64.self, what) }
    public mutating func i64(_ what: String = "i64") throws -> Int64 { Int64(bitPattern: try u64(what)) }

    public mutating func varint(_ what: String = "varint") throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8(what)
            if shift == 63 && b > 1 { throw AxisError(.malformed, "\(what): varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw AxisError(.malformed, "\(what): varint longer than 10 bytes") }
        }
    }

    /// A length prefix, checked against what is left so a damaged length cannot cause a huge allocation.
    public mutating func length(_ what: String, max: Int = .max) throws -> Int {
        let n = try varint(what)
        guard n <= UInt64(remaining), n <= UInt64(max) else {
            throw AxisError(.malformed, "\(what): length \(n) exceeds the \(min(remaining, max)) bytes allowed")
        }
        return Int(n)
    }

    public mutating func raw(_ n: Int, _ what: String = "bytes") throws -> [UInt8] {
        Array(data[try take(n, what)])
    }

    public mutating func bytes(_ what: String = "bytes", max: Int = .max) throws -> [UInt8] {
        let n = try length(what, max: max)
        return try raw(n, what)
    }

    public mutating func string(_ what: String = "string", max: Int = .max) throws -> String {
        let b = try bytes(what, max: max)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw AxisError(.malformed, "\(what): not valid UTF-8")
        }
        return s
    }

    public mutating func digest(_ what: String = "digest") throws -> Digest256 {
        let r = try take(32, what)
        return data.withUnsafeBytes { Digest256(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    public mutating func optional<T>(_ what: String, _ read: (inout ByteReader) throws -> T) throws -> T? {
        try bool(what) ? try read(&self) : nil
    }

    /// Each element takes at least one byte, so the count is bounded by what is left.
    public mutating func array<T>(_ what: String, max: Int = .max, _ read: (inout ByteReader) throws -> T) throws -> [T] {
        let n = try length(what, max: max)
        var out = [T]()
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try read(&self)) }
        return out
    }

    public func expectEnd(_ what: String) throws {
        guard isAtEnd else { throw AxisError(.malformed, "\(what): \(remaining) unexpected trailing bytes") }
    }
}
