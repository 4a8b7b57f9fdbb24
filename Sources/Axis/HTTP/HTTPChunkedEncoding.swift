/// Writing a chunked body (RFC 9112 §7.1):
///
///     <size in hex>\r\n<size bytes>\r\n   … repeated …   0\r\n<trailer fields>\r\n
///
/// For a body produced piece by piece (a streamed document, a long listing) whose length is not known
/// when the head is sent.
public enum HTTPChunkedEncoding {
    private static let lastChunk: [UInt8] = [0x30, 0x0D, 0x0A]

    /// Appends one chunk holding `bytes`. Nothing is written for empty bytes: an empty chunk would end
    /// the body.
    public static func writeChunk(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        writeChunkHeader(byteCount: bytes.count, into: &out)
        out.append(contentsOf: bytes)
        out.append(contentsOf: HTTPBytes.crlf)
    }

    /// Appends the line that announces a chunk of `byteCount` (> 0) bytes, for a caller that writes the
    /// data itself (e.g. straight from a file); it must then write exactly that many bytes and CRLF.
    public static func writeChunkHeader(byteCount: Int, into out: inout [UInt8]) {
        precondition(byteCount > 0, "a chunk of 0 bytes ends the body; use writeLastChunk")
        HTTPBytes.appendHex(byteCount, to: &out)
        out.append(contentsOf: HTTPBytes.crlf)
    }

    /// Appends the zero-size chunk, the trailer fields and the final CRLF that end the body.
    public static func writeLastChunk(trailers: HTTPHeaders = HTTPHeaders(), into out: inout [UInt8]) {
        out.append(contentsOf: lastChunk)
        trailers.write(into: &out)
        out.append(contentsOf: HTTPBytes.crlf)
    }
}
