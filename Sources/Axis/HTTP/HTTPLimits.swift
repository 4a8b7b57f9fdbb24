/// Size limits for the HTTP parsers. Every one is checked as bytes arrive, so a peer that exceeds a limit
/// is refused before it has sent the excess, and nothing grows without bound.
///
/// Defaults suit Axis's API: its requests carry a handful of short headers, and a document's size is
/// limited per route with `HTTPRequestParser.setBodyLimit(_:)`.
public struct HTTPLimits: Hashable, Sendable {
    /// Bytes in the request line (status line, for responses), CRLF excluded; more gives 414.
    /// Default 8 KiB, the figure RFC 9112 §3 recommends supporting at least.
    public var startLineBytesMax: Int
    /// Bytes in the header section, counting every field line with its CRLF; more gives 431.
    /// The trailer section of a chunked body has its own budget of the same size. Default 32 KiB.
    public var headerBytesMax: Int
    /// Field lines in the header section (and, separately, the trailer section); more gives 431. Default 100.
    public var headerCountMax: Int
    /// Body bytes for a message whose handler does not set its own limit with `setBodyLimit`; more gives
    /// 413. Default 1 MiB, enough for any JSON request; routes that take documents raise it.
    public var bodyBytesMax: Int
    /// Bytes in a chunk-size line (hex size plus ignored extensions), CRLF excluded; more gives 400.
    /// Default 4 KiB: extensions are ignored, so there is no reason to accept long ones.
    public var chunkLineBytesMax: Int

    /// Limits with the defaults above. Values must not be negative (a programming error): validate
    /// configured values when the configuration is loaded.
    public init(
        startLineBytesMax: Int = 8 * 1024,
        headerBytesMax: Int = 32 * 1024,
        headerCountMax: Int = 100,
        bodyBytesMax: Int = 1024 * 1024,
        chunkLineBytesMax: Int = 4 * 1024
    ) {
        precondition(startLineBytesMax > 0 && headerBytesMax >= 0 && headerCountMax >= 0
            && bodyBytesMax >= 0 && chunkLineBytesMax > 0, "HTTP limits must not be negative")
        self.startLineBytesMax = startLineBytesMax
        self.headerBytesMax = headerBytesMax
        self.headerCountMax = headerCountMax
        self.bodyBytesMax = bodyBytesMax
        self.chunkLineBytesMax = chunkLineBytesMax
    }
}
