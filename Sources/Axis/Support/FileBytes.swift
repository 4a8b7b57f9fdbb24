@preconcurrency import Glibc

/// Whole-file reads for the offline tools and for loading keys, certificates and CRLs.
public enum FileBytes {
    /// Reads the regular file at `path`, refusing (without reading) one larger than `limit` bytes.
    public static func read(_ path: String, limit: Int = 1 << 31) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AxisError(.storageIO, "cannot open \(path)", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AxisError(.storageIO, "cannot stat \(path)", errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw AxisError(.storageIO, "\(path) is not a regular file") }
        guard Int(st.st_size) <= limit else {
            throw AxisError(.limitExceeded, "\(path) is \(st.st_size) bytes; at most \(limit) are read for this kind of file")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress?.advanced(by: done), $0.count - done, off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw AxisError(.storageIO, "cannot read \(path)", errno: n < 0 ? errno : nil) }
            done += n
        }
        return bytes
    }

    /// Writes `bytes` to a new file at `path` (failing if it exists) with `mode`, and syncs it.
    public static func create(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AxisError(.storageIO, "cannot create \(path)", errno: errno) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress?.advanced(by: done), $0.count - done) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw AxisError(.storageIO, "cannot write \(path)", errno: errno) }
            done += n
        }
        guard fsync(fd) == 0 else { throw AxisError(.storageIO, "cannot sync \(path)", errno: errno) }
    }

    public static func create(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        try create(path, Array(text.utf8), mode: mode)
    }
}
