@preconcurrency import Glibc

/// `Storage` on the real file system with POSIX calls (`pread`, `pwrite`, `fdatasync`, `flock`).
public struct PosixStorage: Storage {
    public init() {}

    static func failure(_ what: String, _ path: String, _ err: Int32 = errno) -> AxisError {
        let code: AxisError.Code = (err == ENOSPC || err == EDQUOT) ? .storageFull : .storageIO
        let hint: String
        switch err {
        case ENOSPC, EDQUOT: hint = "the disk holding '\(path)' is full: free space"
        case EACCES, EPERM: hint = "permission denied on '\(path)': check that the axisd user owns the data directory"
        case ENOENT: hint = "'\(path)' does not exist"
        case EROFS: hint = "'\(path)' is on a read-only file system"
        default: hint = "check the disk and the file system holding '\(path)'"
        }
        return AxisError(code, "\(what) failed: \(hint)", errno: err)
    }

    public func createDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            let parent = current
            current += "/" + part
            if mkdir(current, 0o700) == 0 {
                // A new directory entry is durable only once its parent is synced.
                try syncDirectory(parent.isEmpty ? "/" : parent)
            } else if errno != EEXIST {
                throw Self.failure("creating directory '\(current)'", current)
            }
        }
    }

    public func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw Self.failure("listing directory '\(path)'", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .createExclusive: flags = O_RDWR | O_CREAT | O_EXCL
        }
        let fd = Glibc.open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("opening '\(path)'", path) }
        return PosixFile(fd: fd, path: path)
    }

    public func syncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("opening directory '\(path)' to sync it", path) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw Self.failure("fsync of directory '\(path)'", path) }
    }

    public func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw Self.failure("renaming '\(from)' to '\(to)'", from) }
    }

    public func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw Self.failure("removing '\(path)'", path) }
    }

    public func lockExclusive(_ path: String) throws -> any StorageLock {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("opening lock file '\(path)'", path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            Glibc.close(fd)
            if err == EWOULDBLOCK {
                throw AxisError(.journalLocked,
                    "another process holds '\(path)': is axisd already running on this data directory? Stop it first")
            }
            throw Self.failure("locking '\(path)'", path, err)
        }
        return PosixLock(fd: fd)
    }
}

final class PosixLock: StorageLock {
    private let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }  // closing the descriptor releases the flock
}

public final class PosixFile: StorageFile {
    public let path: String
    private var fd: Int32

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close() }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw PosixStorage.failure("reading '\(path)' at offset \(offset)", path)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw PosixStorage.failure("writing '\(path)' at offset \(offset + UInt64(done))", path)
            }
            if n == 0 { throw AxisError(.storageIO, "writing '\(path)' made no progress at offset \(offset + UInt64(done))") }
            done += n
        }
    }

    public func sync() throws {
        guard fdatasync(fd) == 0 else { throw PosixStorage.failure("fdatasync of '\(path)'", path) }
    }

    public func truncate(to size: UInt64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw PosixStorage.failure("truncating '\(path)' to \(size) bytes", path) }
    }

    public func size() throws -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PosixStorage.failure("stat of '\(path)'", path) }
        return UInt64(st.st_size)
    }

    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
