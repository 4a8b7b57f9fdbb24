@preconcurrency import Glibc

/// The one error type Axis throws.
///
/// An error carries a stable `code` (for programs and tests) and a `message` written for an operator:
/// what went wrong and what to do about it. Two errors are equal when their codes are equal, so tests
/// can match on the code without depending on the wording.
public struct AxisError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A read, write, sync or directory operation on the data directory failed.
        public static let storageIO = Code(rawValue: "storage_io")
        /// The disk (or quota) is full.
        public static let storageFull = Code(rawValue: "storage_full")
        /// Journal bytes are damaged somewhere other than a torn tail.
        public static let journalCorrupt = Code(rawValue: "journal_corrupt")
        /// The journal hit a write or sync failure earlier and refuses appends until restarted.
        public static let journalFailed = Code(rawValue: "journal_failed")
        /// The journal was closed.
        public static let journalClosed = Code(rawValue: "journal_closed")
        /// Another process holds the journal open for writing.
        public static let journalLocked = Code(rawValue: "journal_locked")
        /// A record or request exceeds a configured limit.
        public static let limitExceeded = Code(rawValue: "limit_exceeded")
        /// Bytes that should hold an encoded record or value do not decode.
        public static let malformed = Code(rawValue: "malformed")
        /// A stored payload does not match its recorded digest or length.
        public static let payloadCorrupt = Code(rawValue: "payload_corrupt")
        /// A referenced payload does not exist.
        public static let payloadMissing = Code(rawValue: "payload_missing")
        /// Command-line usage error.
        public static let usage = Code(rawValue: "usage")
        /// A configuration value is invalid.
        public static let config = Code(rawValue: "config")
        /// An OpenSSL call failed.
        public static let crypto = Code(rawValue: "crypto")
        /// The operation is already under way (e.g. a second journal compaction).
        public static let conflict = Code(rawValue: "conflict")
    }

    public let code: Code
    public let message: String
    /// The `errno` of the failing system call, when there was one.
    public let errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let errno {
            return "\(message) (\(String(cString: strerror(errno))), errno \(errno))"
        }
        return message
    }

    public static func == (lhs: AxisError, rhs: AxisError) -> Bool { lhs.code == rhs.code }
}
