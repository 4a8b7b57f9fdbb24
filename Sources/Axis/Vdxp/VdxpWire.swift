// The pure wire pieces of the VDXP-compatible API: what the deployed Java client SDK ("SDKVXP 2.0.1")
// puts on the wire and what it can read back (see VDXP-WIRE.md). No I/O and no state here: the route
// handlers read parameters, check authentication, parse `to` and `hash-file`, and build replies with
// these types.
//
//   request:  POST <endpoint>/<operation>    parameters only in `XroadVnpt-<key>` headers (Latin-1 bytes,
//             key case varies: `XroadVnpt-docId` and `XroadVnpt-docid`, even both in one request)
//   reply:    {"status":"OK"|"FAIL","ErrorCode":"0"|<code>,"ErrorDesc":"…",…}   non-ASCII as \uXXXX
//
// Bad input is never a crash and never a silent guess: every refusal is a `VdxpFailure` with an honest
// HTTP status (the SDK ignores it, operators and logs do not), a stable VDXP `ErrorCode` and a message
// saying what was wrong and what to do. Authentication lives in `VdxpAuthentication.swift`.

/// A refusal the SDK can parse: HTTP status (honest: 400/401/403/404/409/413/503), a VDXP ErrorCode string,
/// and a message saying what was wrong and what to do.
public struct VdxpFailure: Error, Equatable, Sendable {
    public var status: HTTPStatus
    public var code: String
    public var message: String

    public init(_ status: HTTPStatus, _ code: String, _ message: String) {
        (self.status, self.code, self.message) = (status, code, message)
    }

    /// The `ErrorCode` strings this module uses. Stable: SDK-side integrations may branch on them.
    public enum Code {
        /// 401: a missing, malformed or non-matching signature, or signed values that differ from the headers.
        public static let authentication = "authentication_failed"
        /// 400: a parameter is missing, conflicting or malformed.
        public static let badParameter = "invalid_parameter"
    }
}

/// The request's `XroadVnpt-*` parameters.
public struct VdxpParameters: Sendable {
    /// Every VDXP parameter header starts with this (compared ignoring case).
    public static let headerPrefix = "XroadVnpt-"

    private let headers: HTTPHeaders

    public init(_ headers: HTTPHeaders) {
        self.headers = headers
    }

    /// `XroadVnpt-<key>` looked up case-insensitively. Several fields whose names differ only in case
    /// (docId/docid, even both in one request) are one parameter: the value is the first non-empty one;
    /// two different non-empty values → failure (400, naming both). Values are decoded as ISO-8859-1 and
    /// trimmed. `nil` when the parameter is absent or every field of it is empty.
    public func value(_ key: String) -> Result<String?, VdxpFailure> {
        let name = Self.headerPrefix + key
        var chosen: (name: String, value: String)?
        for field in headers where HTTPBytes.equalsIgnoringCase(field.nameBytes, name) {
            let value = Self.trimmed(field.value)
            if value.isEmpty { continue }
            guard let first = chosen else {
                chosen = (field.name, value)
                continue
            }
            if first.value != value {
                return .failure(VdxpFailure(.badRequest, VdxpFailure.Code.badParameter,
                    "the headers \(first.name) (\(Self.quoted(first.value))) and \(field.name) "
                        + "(\(Self.quoted(value))) give two different values for the parameter '\(key)'; "
                        + "send it once, or the same value in both"))
            }
        }
        return .success(chosen?.value)
    }

    /// `XroadVnpt-systemid`; nil when absent, empty or conflicting (`value("systemid")` says why).
    public var systemID: String? {
        guard case .success(let id) = value("systemid") else { return nil }
        return id
    }

    /// `text` without leading and trailing whitespace (spaces, tabs, line breaks).
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let start = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[start...last])
    }

    private static func isSpace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\r" || s == "\n" || s == "\u{A0}"
    }

    /// A value for a message: JSON-quoted (so empty and odd characters show) and cut at 60 characters.
    static func quoted(_ value: String) -> String {
        JSONValue.string(value.count > 60 ? String(value.prefix(60)) + "…" : value).encoded()
    }
}

/// The `to` parameter of `sendEdoc`.
public enum VdxpRecipients {
    /// The most recipients one document may name.
    public static let countMax = 1_000

    private static let accepted = #"send a JSON array such as ["000.00.00.H41","000.00.00.G22"], "#
        + #"a JSON string such as "000.00.00.H41", or bare codes such as 000.00.00.H41,000.00.00.G22"#

    /// The `to` parameter: a JSON array of strings (`["A","B"]`), a JSON quoted string (`"A"`), or a bare
    /// code `A` (be lenient: also comma-separated bare codes). Empty/duplicates/non-strings → failure 400
    /// with an example of the accepted forms. At most 1,000 entries.
    public static func parse(_ text: String) -> Result<[String], VdxpFailure> {
        let text = VdxpParameters.trimmed(text)
        guard !text.isEmpty else { return refuse("the 'to' parameter is empty") }
        let codes: [String]
        switch text.unicodeScalars.first {
        case "[":
            guard case .array(let items)? = try? StrictJSON.parse(Array(text.utf8)) else {
                return refuse("the 'to' parameter \(VdxpParameters.quoted(text)) starts like a JSON array but is not valid JSON")
            }
            var strings: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let code) = item else {
                    return refuse("item \(i + 1) of the 'to' array is \(item.shortDescription), not a string")
                }
                strings.append(VdxpParameters.trimmed(code))
            }
            codes = strings
        case "\"":
            guard case .string(let inner)? = try? StrictJSON.parse(Array(text.utf8)) else {
                return refuse("the 'to' parameter \(VdxpParameters.quoted(text)) starts like a JSON string but is not one")
            }
            codes = splitBare(inner)
        default:
            codes = splitBare(text)
        }
        return check(codes)
    }

    /// Comma-separated codes, each trimmed.
    private static func splitBare(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { VdxpParameters.trimmed(String($0)) }
    }

    private static func check(_ codes: [String]) -> Result<[String], VdxpFailure> {
        guard !codes.isEmpty else { return refuse("the 'to' parameter names no recipient") }
        guard codes.count <= countMax else {
            return refuse("the 'to' parameter names \(codes.count) recipients; at most \(countMax) are accepted per document")
        }
        var seen = Set<String>()
        for (i, code) in codes.enumerated() {
            guard !code.isEmpty else { return refuse("recipient \(i + 1) of the 'to' parameter is empty") }
            if let bad = code.unicodeScalars.first(where: isForbidden) {
                return refuse("recipient \(VdxpParameters.quoted(code)) contains \(VdxpParameters.quoted(String(bad))), "
                    + "which no agency code has")
            }
            guard seen.insert(code).inserted else {
                return refuse("recipient \(VdxpParameters.quoted(code)) is named twice in the 'to' parameter")
            }
        }
        return .success(codes)
    }

    /// Characters that mean the text was meant as JSON (or a list) but is broken, or is not a code at all.
    private static func isForbidden(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || s.value == 0x7F || " \"'[]{},;\\".unicodeScalars.contains(s)
    }

    private static func refuse(_ reason: String) -> Result<[String], VdxpFailure> {
        .failure(VdxpFailure(.badRequest, VdxpFailure.Code.badParameter, reason + ": " + accepted))
    }
}

/// The `hash-file` parameter of `sendEdoc`.
public enum VdxpFileHash {
    /// The SDK's quirky hex: each byte as lowercase hex WITHOUT zero padding (0x0a → "a"), concatenated; so
    /// the string may be shorter than 64. (Java's `Integer.toHexString(b & 0xff)` per byte.)
    public static func unpaddedHex(_ digest: Digest256) -> String {
        digest.bytes.map { String($0, radix: 16) }.joined()
    }

    /// Whether `header` (case-insensitive hex) equals the unpadded form of `digest`; also accept the normal
    /// 64-char padded form.
    public static func matches(_ header: String, _ digest: Digest256) -> Bool {
        let given = VdxpParameters.trimmed(header).lowercased()
        return given == unpaddedHex(digest) || given == digest.hex
    }
}

/// The JSON replies the SDK reads.
public enum VdxpReply {
    /// The envelope's keys, always present, never null (without them the SDK sees nothing at all).
    static let envelopeKeys: Set<String> = ["status", "ErrorCode", "ErrorDesc"]

    /// `{"status":"OK","ErrorCode":"0","ErrorDesc":"",…extra}`, Content-Type application/json, every non-ASCII
    /// char escaped as \uXXXX, HTTP 200.
    public static func ok(_ extra: [(String, JSONValue)] = []) -> HTTPResponse {
        reply(.ok, [("status", .string("OK")), ("ErrorCode", .string("0")), ("ErrorDesc", .string(""))], extra)
    }

    /// `{"status":"FAIL","ErrorCode":failure.code,"ErrorDesc":failure.message,…extra}` with failure.status as
    /// the HTTP status. (sendEdoc's failure must carry "DocId":"" — the caller passes it in extra.)
    public static func fail(_ failure: VdxpFailure, _ extra: [(String, JSONValue)] = []) -> HTTPResponse {
        reply(failure.status,
              [("status", .string("FAIL")), ("ErrorCode", .string(failure.code)), ("ErrorDesc", .string(failure.message))],
              extra)
    }

    /// A list item without nulls or nested arrays: drops `.null` fields, refuses (precondition-free: just
    /// drops) array/object values, so one bad field never makes the SDK discard the list.
    public static func item(_ fields: [(String, JSONValue)]) -> JSONValue {
        .object(fields.filter { _, value in
            switch value {
            case .null, .array, .object: return false
            case .bool, .int, .double, .string: return true
            }
        })
    }

    /// The envelope, then `extra` minus any field that would repeat an envelope key (a duplicate key
    /// would let the SDK's parser pick either value).
    private static func reply(_ status: HTTPStatus, _ envelope: [(String, JSONValue)],
                              _ extra: [(String, JSONValue)]) -> HTTPResponse {
        HTTPResponse.json(status, .object(envelope + extra.filter { !envelopeKeys.contains($0.0) }))
    }
}
