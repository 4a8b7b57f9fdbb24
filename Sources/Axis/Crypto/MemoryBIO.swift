@preconcurrency import Glibc
import COpenSSL

/// Owning wrapper for an OpenSSL memory BIO: the way bytes go in and out of OpenSSL's
/// encoders and decoders.
final class MemoryBIO {
    let handle: OpaquePointer

    /// An empty, writable BIO.
    init() throws {
        guard let method = BIO_s_mem(), let bio = BIO_new(method) else { throw OpenSSLErrors.error("BIO_new failed") }
        handle = bio
    }

    deinit { BIO_free(handle) }

    /// A writable BIO holding a copy of `bytes` (copied so the BIO never points into Swift memory
    /// that may move or be freed).
    convenience init(copying bytes: [UInt8]) throws {
        try self.init()
        if bytes.isEmpty { return }
        let written = bytes.withUnsafeBytes { BIO_write(handle, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else { throw OpenSSLErrors.error("BIO_write failed") }
    }

    /// Runs `body` with a read-only BIO over `bytes`, without copying them.
    static func withReadOnly<R>(_ bytes: UnsafeRawBufferPointer, _ body: (OpaquePointer) throws -> R) throws -> R {
        // BIO_new_mem_buf needs a non-null pointer even for empty input.
        var empty: UInt8 = 0
        let base = bytes.baseAddress ?? withUnsafePointer(to: &empty) { UnsafeRawPointer($0) }
        guard bytes.count <= Int(Int32.max), let bio = BIO_new_mem_buf(base, Int32(bytes.count)) else {
            throw OpenSSLErrors.error("BIO_new_mem_buf failed")
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }

    /// Everything written so far.
    var bytes: [UInt8] {
        var data: UnsafePointer<UInt8>?
        let count = axis_bio_get_mem_data(handle, &data)
        guard let data, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// Encodes with an OpenSSL `i2d_*` function: asks for the length, then fills a buffer of that size.
func derEncode(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32, what: String) throws -> [UInt8] {
    let length = encode(nil)
    guard length > 0 else { throw OpenSSLErrors.error("could not DER-encode \(what)") }
    var out = [UInt8](repeating: 0, count: Int(length))
    let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
        return encode(&cursor)
    }
    guard written == length else { throw OpenSSLErrors.error("could not DER-encode \(what)") }
    return out
}

/// True when `bytes` look like PEM (after optional leading whitespace) rather than DER.
func looksLikePEM(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let marker = Array("-----BEGIN".utf8)
    var i = 0
    while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    guard bytes.count - i >= marker.count else { return false }
    return marker.indices.allSatisfy { bytes[i + $0] == marker[$0] }
}

/// Converts an ASN.1 time to a `Timestamp` (milliseconds since the epoch, UTC).
func timestamp(fromASN1 time: UnsafePointer<ASN1_TIME>?) -> Timestamp? {
    guard let time else { return nil }
    var broken = tm()
    guard ASN1_TIME_to_tm(time, &broken) == 1 else { return nil }
    return timestamp(fromUTC: &broken)
}

func timestamp(fromUTC broken: inout tm) -> Timestamp {
    Timestamp(millis: Int64(timegm(&broken)) * 1000)
}
