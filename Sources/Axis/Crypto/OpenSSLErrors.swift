import COpenSSL

/// OpenSSL reports failures on a per-thread error queue. Every failing call site drains it into the
/// message of the error it throws, so the queue never leaks stale entries into a later, unrelated
/// failure and the operator sees OpenSSL's own words next to ours.
enum OpenSSLErrors {
    /// Empties the calling thread's queue and returns its entries, oldest first, joined by "; ".
    static func drain() -> String {
        var parts: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.joined(separator: "; ")
    }

    /// Discards whatever is queued (before a call whose failure we want to report on its own).
    static func clear() { ERR_clear_error() }

    /// An `AxisError` with `code` whose message is `what`, followed by OpenSSL's drained reasons.
    static func error(_ what: String, code: AxisError.Code = .crypto) -> AxisError {
        let detail = drain()
        return AxisError(code, detail.isEmpty ? what : "\(what) (OpenSSL: \(detail))")
    }
}
