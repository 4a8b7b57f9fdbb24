/// Where the parser is in a message, for the caller's timeouts: `idle` between messages (keep-alive
/// timeout), `head` while a head arrives (header timeout, against slowloris), `body` until the
/// message's `.end` (body idle timeout).
public enum HTTPParserStage: Sendable, Equatable {
    /// Between messages, nothing buffered: a close here loses nothing.
    case idle
    /// Reading a start line or header section.
    case head
    /// The head was returned; the body (or its `.end`) is still to come.
    case body
    /// An error was returned; the connection must close.
    case failed
}
