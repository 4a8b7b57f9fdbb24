import COpenSSL

/// The message digests a CMS signature may use over a document.
public enum DigestAlgorithm: String, CaseIterable, Sendable, Hashable {
    case sha256 = "SHA-256", sha384 = "SHA-384", sha512 = "SHA-512"

    var nid: Int32 {
        switch self {
        case .sha256: return NID_sha256
        case .sha384: return NID_sha384
        case .sha512: return NID_sha512
        }
    }

    init?(nid: Int32) {
        guard let match = Self.allCases.first(where: { $0.nid == nid }) else { return nil }
        self = match
    }
}

/// A document's length and digests, computed while it streamed to disk, so its signature can be
/// checked without holding the document in memory.
public struct DocumentDigests: Sendable, Equatable {
    public let length: UInt64
    public let values: [DigestAlgorithm: [UInt8]]

    public init(length: UInt64, values: [DigestAlgorithm: [UInt8]]) {
        self.length = length
        self.values = values
    }
}

/// Computes several digests of a stream in one pass (e.g. SHA-256 for the payload store and the
/// signature's own digest). One hasher per stream; not thread-safe.
public final class DocumentHasher {
    private var contexts: [(DigestAlgorithm, OpaquePointer)] = []
    private var length: UInt64 = 0

    public init(_ algorithms: Set<DigestAlgorithm>) throws {
        for algorithm in DigestAlgorithm.allCases where algorithms.contains(algorithm) {
            guard let md = Digests.shared.md(algorithm.nid), let ctx = EVP_MD_CTX_new() else {
                throw OpenSSLErrors.error("no \(algorithm.rawValue) in this OpenSSL")
            }
            guard EVP_DigestInit_ex(ctx, md, nil) == 1 else {
                EVP_MD_CTX_free(ctx)
                throw OpenSSLErrors.error("\(algorithm.rawValue) init failed")
            }
            contexts.append((algorithm, ctx))
        }
    }

    deinit { for (_, ctx) in contexts { EVP_MD_CTX_free(ctx) } }

    public func update(_ chunk: UnsafeRawBufferPointer) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        length += UInt64(chunk.count)
        for (_, ctx) in contexts { _ = EVP_DigestUpdate(ctx, base, chunk.count) }
    }

    public func finish() -> DocumentDigests {
        var values: [DigestAlgorithm: [UInt8]] = [:]
        for (algorithm, ctx) in contexts {
            var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var size: UInt32 = 0
            if EVP_DigestFinal_ex(ctx, &out, &size) == 1 { values[algorithm] = Array(out.prefix(Int(size))) }
        }
        return DocumentDigests(length: length, values: values)
    }
}
