/// What differs between parsing requests and responses; the shared machine calls these at the start
/// line and at the end of the header section.
protocol HTTPMessageRole: Sendable {
    associatedtype Head

    /// Handles the start line (CRLF removed). `.skipped` ignores the line (an empty line before a request).
    mutating func startLine(_ line: UnsafeRawBufferPointer) -> HTTPStartLineOutcome
    /// The error for a start line longer than `limit` bytes.
    func startLineTooLong(limit: Int) -> HTTPError
    /// The error for a start line that ends in LF without CR.
    func startLineBareLineFeed() -> HTTPError
    /// Builds the head from the complete header section and decides the body framing.
    mutating func head(fields: HTTPHeaders, summary: HTTPFieldSummary) -> Result<(Head, HTTPBodyFraming), HTTPError>
    /// The message ended (its `.end` is being returned).
    mutating func messageEnded()
    /// The error as this side reports it.
    func adjust(_ error: HTTPError) -> HTTPError
}

/// What a role did with a start line.
enum HTTPStartLineOutcome {
    case accepted
    case skipped
    case rejected(HTTPError)
}
