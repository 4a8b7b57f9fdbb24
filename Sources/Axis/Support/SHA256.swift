import COpenSSL

/// A SHA-256 digest: 32 bytes, compared and hashed by value, printed as lowercase hex.
public struct Digest256: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    /// Four little-endian words: a fixed-size value with no heap allocation.
    public var w0, w1, w2, w3: UInt64

    public static let zero = Digest256(w0: 0, w1: 0, w2: 0, w3: 0)

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Reads 32 bytes from `raw` (which must hold at least 32).
    public init(_ raw: UnsafeRawBufferPointer) {
        precondition(raw.count >= 32, "a digest needs 32 bytes")
        w0 = raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self = bytes.withUnsafeBytes { Digest256($0) }
    }

    /// Parses 64 hex digits.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), let digest = Digest256(bytes: bytes) else { return nil }
        self = digest
    }

    public var bytes: [UInt8] {
        withUnsafeBytes(of: self) { Array($0) }
    }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: self) { try body($0) }
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
}

/// Incremental SHA-256 through OpenSSL's EVP interface (SHA-NI accelerated where the CPU has it).
///
/// Not thread-safe: one hasher per thread. `reset()` reuses the context, so a long-lived hasher
/// costs no allocation per digest.
public final class SHA256Hasher {
    private let ctx: OpaquePointer
    /// Fetched once: an implicit fetch on every init costs a provider lookup.
    nonisolated(unsafe) private static let md: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil)

    public init() {
        // EVP_MD_CTX_new fails only when malloc fails; there is nothing sensible to do then.
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new: out of memory") }
        self.ctx = ctx
        reset()
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func reset() {
        // SHA-256 is always available in the default provider; failing here means a broken OpenSSL install.
        guard EVP_DigestInit_ex(ctx, Self.md, nil) == 1 else {
            preconditionFailure("EVP_DigestInit_ex(SHA256) failed: is the OpenSSL default provider installed?")
        }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = EVP_DigestUpdate(ctx, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func update(_ digest: Digest256) {
        digest.withBytes { update($0) }
    }

    /// Finishes the digest and resets the hasher for the next one.
    public func finish() -> Digest256 {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(ctx, $0.baseAddress, &len) }
        reset()
        return Digest256(bytes: out) ?? .zero
    }

    public static func digest(_ bytes: UnsafeRawBufferPointer) -> Digest256 {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }

    public static func digest<C: Collection>(_ bytes: C) -> Digest256 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { digest($0) }
    }
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
