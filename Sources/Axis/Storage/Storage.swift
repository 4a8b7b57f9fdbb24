/// The storage seam: every byte the journal and payload store read or write goes through these two
/// protocols, so tests can swap in `SimulatedStorage` (Tests) and inject crashes, failed syncs and a
/// full disk deterministically — the approach of SQLite's `test6.c`.
///
/// Paths are plain POSIX paths. Errors are `AxisError` with `.storageIO` or `.storageFull` and the errno.
public protocol Storage: Sendable {
    /// Creates the directory and any missing parents (`mkdir -p`), mode 0700, and makes each new
    /// entry durable (syncs its parent).
    func createDirectory(_ path: String) throws
    /// Names of the entries in a directory, unsorted, without `.` and `..`.
    func listDirectory(_ path: String) throws -> [String]
    func fileExists(_ path: String) -> Bool
    func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile
    /// fsync on the directory itself, so that created, renamed and removed entries are durable.
    func syncDirectory(_ path: String) throws
    func rename(_ from: String, to: String) throws
    func remove(_ path: String) throws
    /// Takes an exclusive, non-blocking advisory lock on `path` (created if missing) for as long as the
    /// returned object lives: two daemons on one data directory would corrupt each other's journal.
    func lockExclusive(_ path: String) throws -> any StorageLock
}

public enum FileOpenMode: Sendable {
    case readOnly
    case readWrite
    /// Create a new file; fail if it exists.
    case createExclusive
}

/// An open file. Offsets are absolute: the journal never relies on a file position.
public protocol StorageFile: AnyObject {
    var path: String { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (0 at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int
    /// Writes all of `bytes` at `offset` or throws.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// `fdatasync`: the file's data (and its size) are durable when this returns.
    func sync() throws
    func truncate(to size: UInt64) throws
    func size() throws -> UInt64
    func close()
}

public protocol StorageLock: AnyObject {}

extension StorageFile {
    public func write(_ bytes: [UInt8], at offset: UInt64) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer only at end of file.
    public func read(count: Int, at offset: UInt64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        try out.withUnsafeMutableBytes { buf in
            while got < count {
                let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buf[got...]), at: offset + UInt64(got))
                if n == 0 { break }
                got += n
            }
        }
        out.removeLast(count - got)
        return out
    }

    /// Fills `buffer` from `offset` as far as the file allows; returns how many bytes were read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var got = 0
        while got < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got...]), at: offset + UInt64(got))
            if n == 0 { break }
            got += n
        }
        return got
    }
}

public enum PathJoin {
    public static func join(_ a: String, _ b: String) -> String {
        a.hasSuffix("/") ? a + b : a + "/" + b
    }
}
