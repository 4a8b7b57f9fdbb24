import COpenSSL

// How the VDXP SDK authenticates a request, and how Axis checks it.
//
//   XroadVnpt-sign-header:     {"XroadVnpt-systemid":"sys","XroadVnpt-timestamp":"…","XroadVnpt-docId":"…"}
//   XroadVnpt-sign-header-key: XroadVnpt-systemid;XroadVnpt-timestamp;XroadVnpt-docId
//   XroadVnpt-hash-header:     lowercase hex of HMAC-SHA256(key: UTF-8 secret of `sys`, message: sign-header bytes)
//
// The HMAC covers the sign-header's bytes exactly as received: the SDK's key order varies, so the JSON is
// never rebuilt. Only after the HMAC matches is the JSON read, and every signed pair must then equal the
// header actually sent, so an unsigned header cannot stand in for a signed one. The timestamp is set once
// per SDK client object and never refreshed, so its freshness is not (and cannot be) enforced.
//
// Every refusal is a 401 naming the header at fault and what to check; the expected HMAC is never shown.

/// Signing and checking the SDK's HMAC over `XroadVnpt-sign-header`.
public enum VdxpAuthentication {
    static let signHeaderName = "XroadVnpt-sign-header"
    static let signHeaderKeyName = "XroadVnpt-sign-header-key"
    static let hashHeaderName = "XroadVnpt-hash-header"
    static let systemIDName = "XroadVnpt-systemid"

    /// HMAC-SHA256(key: UTF-8 secret, message: the exact received bytes of XroadVnpt-sign-header) as lowercase hex.
    public static func signature(secret: String, signHeader: some Collection<UInt8>) -> String {
        Hex.encode(hmac(secret: secret, message: Array(signHeader)))
    }

    /// Checks XroadVnpt-hash-header against the HMAC of XroadVnpt-sign-header's bytes AS RECEIVED (never
    /// rebuild the JSON), constant-time compare, then that sign-header parses as a flat JSON object of string
    /// values, that every key it names is listed in XroadVnpt-sign-header-key (`;`-separated,
    /// case-insensitive), that it includes XroadVnpt-systemid equal to the systemid header, and that each
    /// signed pair equals the real header's value (header looked up case-insensitively). Missing headers,
    /// bad JSON, mismatch → 401 failure whose message says which header and what the SDK/operator should
    /// check, never revealing the expected HMAC.
    ///
    /// Two additions to the SDK's scheme, neither of which it can trip over: when sign-header holds
    /// non-ASCII bytes, the HMAC over their UTF-8 transcoding is also accepted (a Java client may sign the
    /// string's UTF-8 while the header travels as ISO-8859-1); and a parameter whose case variants are
    /// both sent (`docId`/`docid`) must take its effective value (see `VdxpParameters.value`) from a signed field.
    public static func verify(_ headers: HTTPHeaders, secret: String) -> Result<Void, VdxpFailure> {
        let parameters = VdxpParameters(headers)
        let systemID: String
        switch parameters.value("systemid") {
        case .success(let id?): systemID = id
        case .success(nil):
            return refuse("the header \(systemIDName) is missing or empty: the SDK must be configured with the "
                + "system id Axis knows it by")
        case .failure(let conflict): return refuse(conflict.message)
        }
        let system = "system '\(systemID)'"
        guard let signHeader = nonEmptyBytes(headers, signHeaderName) else {
            return refuse("the header \(signHeaderName) is missing or empty: the client did not sign the request; "
                + "check that \(system) uses the VDXP SDK with signing enabled")
        }
        guard let hash = nonEmptyBytes(headers, hashHeaderName) else {
            return refuse("the header \(hashHeaderName) is missing or empty: the client did not send the HMAC of "
                + "\(signHeaderName); check that \(system) uses the VDXP SDK with signing enabled")
        }
        guard hashMatches(hash, signHeader: signHeader, secret: secret) else {
            return refuse("the header \(hashHeaderName) is not the HMAC-SHA256 of \(signHeaderName) under the secret "
                + "configured for \(system): check that the SDK's secret equals the one registered for this system "
                + "in Axis, and that no proxy rewrites the XroadVnpt-* headers")
        }
        return signedPairs(signHeader).flatMap { pairs in checkPairs(pairs, headers, parameters, systemID) }
    }

    // MARK: HMAC

    /// Whether `hash` is the lowercase (or uppercase) hex HMAC of the sign-header bytes.
    private static func hashMatches(_ hash: ArraySlice<UInt8>, signHeader: ArraySlice<UInt8>, secret: String) -> Bool {
        let given = hash.map(HTTPBytes.lowercased)
        var messages = [Array(signHeader)]
        if signHeader.contains(where: { $0 >= 0x80 }) {
            messages.append(Array(HTTPBytes.latin1String(signHeader).utf8))
        }
        var matched = false
        // Every candidate is compared, so the time taken does not say which one matched.
        for message in messages {
            let expected = Array(Hex.encode(hmac(secret: secret, message: message)).utf8)
            if constantTimeEqual(given, expected) { matched = true }
        }
        return matched
    }

    /// Equal length and equal bytes, comparing every byte whatever the first difference. A length
    /// mismatch returns at once: the length of an HMAC-SHA256 hex string is public.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                guard let x = pa.baseAddress, let y = pb.baseAddress else { return a.isEmpty }
                return CRYPTO_memcmp(x, y, a.count) == 0
            }
        }
    }

    private static func hmac(secret: String, message: [UInt8]) -> [UInt8] {
        // A one-byte buffer stands in for an empty key or message: OpenSSL wants non-null pointers.
        let key = Array(secret.utf8)
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let done = (key.isEmpty ? [0] : key).withUnsafeBytes { k in
            (message.isEmpty ? [0] : message).withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(key.count),
                         m.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, o.baseAddress, &length)
                }
            }
        }
        // HMAC-SHA256 fails only when OpenSSL cannot allocate or lacks SHA-256: a broken install, not a request.
        guard done != nil, length == 32 else { preconditionFailure("HMAC-SHA256 failed: is the OpenSSL default provider installed?") }
        return Array(out.prefix(32))
    }

    // MARK: The signed pairs

    /// The sign-header as a flat JSON object of string values, in order. Its bytes are ISO-8859-1, like every
    /// header, so they are decoded as such before being read as JSON.
    private static func signedPairs(_ signHeader: ArraySlice<UInt8>) -> Result<[(String, String)], VdxpFailure> {
        let json: StrictJSON
        do {
            json = try StrictJSON.parse(Array(HTTPBytes.latin1String(signHeader).utf8))
        } catch {
            return refuse("the header \(signHeaderName) is not valid JSON (\(error.description)); the SDK sends a "
                + #"compact object such as {"XroadVnpt-systemid":"…","XroadVnpt-timestamp":"…"}"#)
        }
        guard case .object(let members) = json else {
            return refuse("the header \(signHeaderName) is \(json.shortDescription), not a JSON object of the signed headers")
        }
        var pairs: [(String, String)] = []
        for member in members {
            guard case .string(let value) = member.value else {
                return refuse("in \(signHeaderName), \(VdxpParameters.quoted(member.key)) is "
                    + "\(member.value.shortDescription); every signed header value must be a JSON string")
            }
            // Exact names only: the SDK may sign both XroadVnpt-docId and XroadVnpt-docid.
            if pairs.contains(where: { $0.0 == member.key }) {
                return refuse("\(signHeaderName) names \(VdxpParameters.quoted(member.key)) twice; each header is signed once")
            }
            pairs.append((member.key, value))
        }
        return .success(pairs)
    }

    private static func checkPairs(_ pairs: [(String, String)], _ headers: HTTPHeaders, _ parameters: VdxpParameters,
                                   _ systemID: String) -> Result<Void, VdxpFailure> {
        guard let keyList = headers[signHeaderKeyName] else {
            return refuse("the header \(signHeaderKeyName) is missing: it must list the signed header names, separated by ';'")
        }
        let listed = keyList.split(separator: ";").map { VdxpParameters.trimmed(String($0)).lowercased() }
        for (name, value) in pairs {
            guard listed.contains(name.lowercased()) else {
                return refuse("\(signHeaderName) signs \(name), which \(signHeaderKeyName) does not list; "
                    + "the two headers must name the same headers")
            }
            guard let sent = field(headers, name) else {
                return refuse("\(signHeaderName) signs \(name), but the request has no such header")
            }
            guard VdxpParameters.trimmed(sent.value) == VdxpParameters.trimmed(value) else {
                return refuse("the header \(sent.name) is \(VdxpParameters.quoted(sent.value)) but "
                    + "\(VdxpParameters.quoted(value)) was signed: a header was changed after signing")
            }
        }
        guard let signedID = pairs.first(where: { HTTPBytes.equalsIgnoringCase(Array($0.0.utf8), systemIDName) })?.1 else {
            return refuse("\(signHeaderName) does not sign \(systemIDName); the SDK always signs it")
        }
        guard VdxpParameters.trimmed(signedID) == systemID else {
            return refuse("\(signHeaderName) signs \(systemIDName) \(VdxpParameters.quoted(signedID)) but the request "
                + "says \(VdxpParameters.quoted(systemID))")
        }
        return effectiveValuesSigned(pairs, parameters)
    }

    /// For each signed parameter, the value the handlers will read (first non-empty among its case variants)
    /// must itself be signed: a lone unsigned `XroadVnpt-docid` cannot override a signed empty `XroadVnpt-docId`.
    private static func effectiveValuesSigned(_ pairs: [(String, String)], _ parameters: VdxpParameters) -> Result<Void, VdxpFailure> {
        let prefix = VdxpParameters.headerPrefix
        for (name, _) in pairs where name.utf8.count > prefix.utf8.count
            && HTTPBytes.equalsIgnoringCase(name.utf8.prefix(prefix.utf8.count), prefix) {
            let key = String(name.dropFirst(prefix.count))
            switch parameters.value(key) {
            case .failure(let failure):
                return .failure(failure)
            case .success(let effective?):
                // The values signed under every case variant of this name (docId and docid alike).
                let signedValues = pairs.filter { HTTPBytes.equalsIgnoringCase(Array($0.0.utf8), name) }
                    .map { VdxpParameters.trimmed($0.1) }
                guard signedValues.contains(effective) else {
                    return refuse("the parameter '\(key)' takes the unsigned value \(VdxpParameters.quoted(effective)) "
                        + "from a header whose name differs only in case from a signed one; sign every XroadVnpt-\(key) header")
                }
            case .success(nil):
                continue
            }
        }
        return .success(())
    }

    // MARK: Helpers

    /// The field called exactly `name` if there is one, else the first whose name matches ignoring case.
    private static func field(_ headers: HTTPHeaders, _ name: String) -> HTTPHeaders.Field? {
        let exact = Array(name.utf8)
        return headers.first { $0.nameBytes.elementsEqual(exact) }
            ?? headers.first { HTTPBytes.equalsIgnoringCase($0.nameBytes, name) }
    }

    private static func nonEmptyBytes(_ headers: HTTPHeaders, _ name: String) -> ArraySlice<UInt8>? {
        guard let bytes = headers.firstValueBytes(name), !bytes.isEmpty else { return nil }
        return bytes
    }

    private static func refuse<T>(_ message: String) -> Result<T, VdxpFailure> {
        .failure(VdxpFailure(.unauthorized, VdxpFailure.Code.authentication, message))
    }
}
