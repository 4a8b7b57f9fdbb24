/// The `vdxp` fuzz target: arbitrary bytes as the header section of a VDXP SDK request.
///
/// Input: header lines `Name: value`, separated by LF (a CR before it is dropped). Lines that the HTTP
/// parser would refuse (a name that is not a token, a control byte in the value) are skipped, so the
/// headers are ones a request could really carry. An input whose first byte is `!` is "signed": the
/// entry computes the right `XroadVnpt-hash-header` for the first `XroadVnpt-sign-header` under the
/// fuzz secret, so the checks behind the HMAC (the signed JSON, the key list, the pairs) are reached.
extension FuzzEntry {
    static let vdxpSecret = "fuzz-secret-\u{E9}"

    @Sendable
    public static func vdxp(_ data: UnsafeRawBufferPointer) throws(FuzzViolation) {
        let signed = data.first == UInt8(ascii: "!")
        var headers = vdxpHeaders(signed ? UnsafeRawBufferPointer(rebasing: data.dropFirst()) : data)
        if signed, let signHeader = headers.firstValueBytes(VdxpAuthentication.signHeaderName) {
            headers.set(VdxpAuthentication.hashHeaderName, VdxpAuthentication.signature(secret: vdxpSecret, signHeader: signHeader))
        }
        let parameters = VdxpParameters(headers)

        // Authentication: nothing passes without the right HMAC, and what passes names its system.
        let verdict = VdxpAuthentication.verify(headers, secret: vdxpSecret)
        if case .success = verdict {
            let signHeader = headers.firstValueBytes(VdxpAuthentication.signHeaderName) ?? []
            let hash = headers.firstValueBytes(VdxpAuthentication.hashHeaderName).map { Array($0.map(HTTPBytes.lowercased)) } ?? []
            let expected = [Array(signHeader), Array(HTTPBytes.latin1String(signHeader).utf8)].map {
                Array(VdxpAuthentication.signature(secret: vdxpSecret, signHeader: $0).utf8)
            }
            try check(expected.contains(hash), "vdxp", "a request whose hash-header is not the HMAC of its sign-header was accepted")
            try check(parameters.systemID != nil, "vdxp", "an authenticated request has no systemid parameter")
        }
        if case .failure(let failure) = verdict {
            try check(failure.status == .unauthorized || failure.status == .badRequest, "vdxp", "verify refused with \(failure.status)")
        }

        // Parameters: a value is non-empty and trimmed; the same lookup gives the same answer in any case.
        for key in ["systemid", "docId", "from", "to", "messagetype", "hash-file", "status", "servicetype"] {
            let value = parameters.value(key)
            if case .success(let text?) = value {
                try check(!text.isEmpty && VdxpParameters.trimmed(text) == text, "vdxp", "parameter \(key) is \(text.debugDescription)")
            }
            try check(vdxpSame(value, parameters.value(key.uppercased())), "vdxp", "parameter \(key) depends on the case of its key")
            if key == "to", case .success(let text?) = value { try vdxpRecipients(text) }
            if key == "hash-file", case .success(let text?) = value { try vdxpFileHash(text, body: data) }
        }
        // Every header value, whatever its name, as a `to` list and as a hash-file.
        for field in headers {
            try vdxpRecipients(field.value)
            try vdxpFileHash(field.value, body: data)
        }
    }

    /// Builds headers from `Name: value` lines, keeping only lines the HTTP parser would accept.
    static func vdxpHeaders(_ data: UnsafeRawBufferPointer) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for rawLine in data.split(separator: HTTPBytes.lf, omittingEmptySubsequences: true) {
            var line = rawLine
            if line.last == HTTPBytes.cr { line = line.dropLast() }
            guard let colon = line.firstIndex(of: HTTPBytes.colon) else { continue }
            let name = line[line.startIndex..<colon]
            var value = line[(colon + 1)...]
            while let first = value.first, HTTPBytes.isWhitespace(first) { value = value.dropFirst() }
            while let last = value.last, HTTPBytes.isWhitespace(last) { value = value.dropLast() }
            guard !name.isEmpty, name.allSatisfy(HTTPBytes.isTokenByte), value.allSatisfy(HTTPBytes.isFieldValueByte) else { continue }
            headers.append(name: name, value: value)
        }
        return headers
    }

    private static func vdxpSame(_ a: Result<String?, VdxpFailure>, _ b: Result<String?, VdxpFailure>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): return x == y
        case (.failure(let x), .failure(let y)): return x.code == y.code && x.status == y.status
        default: return false
        }
    }

    /// An accepted recipient list has 1…1,000 distinct, non-empty codes without the forbidden characters.
    static func vdxpRecipients(_ text: String) throws(FuzzViolation) {
        guard case .success(let codes) = VdxpRecipients.parse(text) else { return }
        try check(!codes.isEmpty && codes.count <= VdxpRecipients.countMax, "vdxp", "\(codes.count) recipients accepted")
        try check(Set(codes).count == codes.count, "vdxp", "duplicate recipients accepted: \(codes)")
        for code in codes {
            try check(!code.isEmpty && VdxpParameters.trimmed(code) == code, "vdxp", "recipient \(code.debugDescription) accepted")
            try check(!code.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || " \"'[]{},;\\".unicodeScalars.contains($0) },
                      "vdxp", "recipient \(code.debugDescription) with a forbidden character accepted")
        }
    }

    /// `hash-file` matches exactly the SDK's unpadded hex or the padded hex of the digest, in any case,
    /// and the body the SDK sent is found whichever of the two readings the hash names.
    static func vdxpFileHash(_ text: String, body: UnsafeRawBufferPointer) throws(FuzzViolation) {
        let bytes = Array(body)
        let digest = SHA256Hasher.digest(bytes)
        let given = VdxpParameters.trimmed(text).lowercased()
        try check(VdxpFileHash.matches(text, digest) == (given == VdxpFileHash.unpaddedHex(digest) || given == digest.hex), "vdxp",
                  "hash-file \(text.debugDescription) matching is not what it promises")
        try check(VdxpFileHash.matches(VdxpFileHash.unpaddedHex(digest).uppercased(), digest) && VdxpFileHash.matches(digest.hex, digest),
                  "vdxp", "the digest's own hex does not match it")
        if case .success(let file) = VdxpAPI.fileBytes(bytes, hashFile: text) {
            try check(SHA256Hasher.digest(file.bytes) == file.sha256 && VdxpFileHash.matches(text, file.sha256), "vdxp",
                      "fileBytes accepted a file that hash-file does not name")
        }
    }
}
