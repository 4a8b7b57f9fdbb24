/// A request the server refuses (or a response the client cannot use), as a value: the status to answer
/// with, a stable snake_case `code` for programs, and a `message` that tells the sender what was wrong.
///
/// The codec's own errors are listed below; handlers add their own codes (`not_found`,
/// `signature_rejected`, …) the same way. Two errors are equal when their codes are equal, as with
/// `AxisError`, so tests do not depend on wording. `jsonBody` gives the reply body.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The snake_case code as it appears in the JSON body.
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A code; keep it stable, programs match on it.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// 400: the request line is not `METHOD SP target SP HTTP/x.y`.
        public static let invalidRequestLine = Code("invalid_request_line")
        /// The status line is not `HTTP/x.y SP 3DIGIT SP reason` (client side).
        public static let invalidStatusLine = Code("invalid_status_line")
        /// 505: a well-formed version other than HTTP/1.x.
        public static let httpVersionNotSupported = Code("http_version_not_supported")
        /// 400: a header or trailer line is malformed (no colon, whitespace before the colon, obsolete
        /// line folding, a bad byte, a line not ended by CRLF).
        public static let invalidHeader = Code("invalid_header")
        /// 400: an HTTP/1.1 request without exactly one valid `Host`.
        public static let invalidHost = Code("invalid_host")
        /// 400: `Content-Length` is not a decimal number.
        public static let invalidContentLength = Code("invalid_content_length")
        /// 400: the body length is ambiguous (both `Content-Length` and `Transfer-Encoding`, differing
        /// `Content-Length`s, `chunked` twice, `Transfer-Encoding` in HTTP/1.0): the request-smuggling shapes.
        public static let ambiguousFraming = Code("ambiguous_framing")
        /// 501: a transfer coding other than `chunked`.
        public static let unsupportedTransferEncoding = Code("unsupported_transfer_encoding")
        /// 400: a chunk-size line or the CRLF after chunk data is malformed.
        public static let invalidChunk = Code("invalid_chunk")
        /// 417: an `Expect` other than `100-continue`.
        public static let expectationFailed = Code("expectation_failed")
        /// 414: the request line is longer than the limit.
        public static let requestLineTooLong = Code("request_line_too_long")
        /// The status line is longer than the limit (client side).
        public static let statusLineTooLong = Code("status_line_too_long")
        /// 431: the header (or trailer) section has more bytes than the limit.
        public static let headerSectionTooLarge = Code("header_section_too_large")
        /// 431: the header (or trailer) section has more fields than the limit.
        public static let tooManyHeaders = Code("too_many_headers")
        /// 413: the body is larger than the limit.
        public static let bodyTooLarge = Code("body_too_large")
        /// 400: the connection ended in the middle of a message.
        public static let truncatedMessage = Code("truncated_message")
    }

    /// The status to answer with.
    public let status: HTTPStatus
    /// The stable machine-readable code.
    public let code: Code
    /// What was wrong, for the person reading the reply or the log. Never contains body bytes.
    public let message: String
    /// Every individual reason, when there are several (e.g. each failed signature check); the
    /// reply lists them under `details`.
    public let details: [String]

    /// An error to answer with `status`; write `message` for the person who has to fix the request.
    public init(_ status: HTTPStatus, _ code: Code, _ message: String, details: [String] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public static func == (lhs: HTTPError, rhs: HTTPError) -> Bool { lhs.code == rhs.code }
}
