@preconcurrency import Glibc
import Axis

/// An in-memory file system for fault injection, after SQLite's `test6.c`.
///
/// Model:
///
///     file node:   current bytes ──sync()──▶ synced bytes
///     namespace:   current entries ──syncDirectory(dir)──▶ durable entries of `dir`
///
/// - Each file keeps its current bytes (what reads see) and its last *synced* bytes.
/// - Creating, renaming and removing an entry changes the current namespace only; the change becomes
///   durable when its directory is synced. Directories themselves are durable as soon as they exist:
///   a simplification (the journal never fsyncs a directory's parent after `mkdir`, so modelling it
///   would only show that known gap).
/// - `crash(seed:)` replaces the state by a post-crash state chosen deterministically from the seed:
///   each entry whose current and durable versions differ is taken from one or the other at random
///   (a created file whose directory was never synced may vanish; a node still linked that was durably
///   linked somewhere never vanishes altogether); each surviving file keeps its synced bytes plus a
///   random prefix of its unsynced suffix, sometimes followed by random garbage or with whole sectors
///   of that suffix missing (the page cache writes back out of order). A file that was truncated or
///   overwritten since its last sync gets a sector-by-sector mix of old and new. Every handle opened
///   before the crash goes stale (its operations fail with EIO), and every `lockExclusive` lock is
///   released.
///
/// Fault knobs: `failNextSyncs(_:)` (EIO from the next N file syncs), `capacityBytes` (writes past it
/// fail with ENOSPC after writing what fits), `failWrites(to:)` (EIO on every write to one path) and
/// `powerOffNow()` / `powerOff(afterOperations:)` / `powerOff(whenCreating:afterOperations:)` (from
/// then on every call fails with EIO until `crash(seed:)`; a fatal write still lands in the page
/// cache, unsynced). To crash while other threads use the storage, power off first, let them stop,
/// then `crash(seed:)`.
///
/// Errors are `AxisError` with `.storageIO` or `.storageFull` and the errno, as `PosixStorage` throws.
/// Thread-safe: one lock guards everything, so file operations are atomic with respect to `crash`.
final class SimulatedStorage: Storage, @unchecked Sendable {
    /// Bytes per sector for the out-of-order write-back model.
    static let sectorBytes = 512

    final class Node {
        var current: [UInt8] = []
        var synced: [UInt8] = []
    }

    private let lock = ConditionLock()
    private var directories: Set<String> = ["/"]
    private var entries: [String: Node] = [:]
    private var durableEntries: [String: Node] = [:]
    private var locks: [String: Int] = [:]
    private var lockTokens = 0
    /// Bumped by every crash: handles and locks from an earlier generation are dead.
    private var generation = 0

    private var syncFailuresPending = 0
    private var failingWritePaths: Set<String> = []
    private var capacity: Int?
    private var operationsUntilPowerOff: Int?
    private var powerOffOnCreate: (suffix: String, operations: Int)?
    private var poweredOff = false

    private var mutations = 0
    private var fileSyncs = 0
    private var fileSyncFailures = 0
    private var crashes = 0

    init() {}

    // MARK: - Fault knobs

    /// The next `count` file `sync()` calls fail with EIO and change nothing.
    func failNextSyncs(_ count: Int) { lock.withLock { syncFailuresPending = count } }

    /// Every write to `path` fails with EIO (nothing is written).
    func failWrites(to path: String) { lock.withLock { _ = failingWritePaths.insert(Self.normalize(path)) } }

    /// Total bytes all files may hold; a write that would grow past it writes what fits, then fails with ENOSPC.
    var capacityBytes: Int? {
        get { lock.withLock { capacity } }
        set { lock.withLock { capacity = newValue } }
    }

    /// After `count` more mutating operations (write, sync, truncate, create, rename, remove, directory
    /// sync) the power is off: that operation and every later call fail with EIO until `crash(seed:)`.
    /// A write that hits the limit still lands in the page cache, as an unsynced suffix.
    func powerOff(afterOperations count: Int) {
        precondition(count >= 1, "power off after at least one operation")
        lock.withLock { operationsUntilPowerOff = count }
    }

    /// Cuts the power now: every later call fails with EIO until `crash(seed:)`, which computes the
    /// post-crash state from the state frozen here. (Crashing while other threads still use the
    /// storage must go through this, or a writer could carry on against the rebooted disk.)
    func powerOffNow() { lock.withLock { poweredOff = true } }

    /// Arms a power-off for the next time a file whose path ends with `suffix` is created: the create
    /// itself fails when `operations` is 0, otherwise the `operations`-th mutating operation after it.
    /// (For crashes in the middle of a journal segment roll, which a random operation count rarely hits.)
    func powerOff(whenCreating suffix: String, afterOperations operations: Int) {
        precondition(operations >= 0, "a count of operations")
        lock.withLock { powerOffOnCreate = (suffix, operations) }
    }

    /// Disarms every power-off that has not fired yet.
    func cancelPowerOff() {
        lock.withLock {
            operationsUntilPowerOff = nil
            powerOffOnCreate = nil
        }
    }

    /// Clears every fault knob (not a power-off that already happened: that needs `crash(seed:)`).
    func clearFaults() {
        lock.withLock {
            syncFailuresPending = 0
            failingWritePaths = []
            capacity = nil
            operationsUntilPowerOff = nil
            powerOffOnCreate = nil
        }
    }

    var isPoweredOff: Bool { lock.withLock { poweredOff } }

    /// Mutating operations so far (they count towards `powerOff`).
    var mutationCount: Int { lock.withLock { mutations } }
    /// File `sync()` calls so far, failed ones included.
    var fileSyncCount: Int { lock.withLock { fileSyncs } }
    var fileSyncFailureCount: Int { lock.withLock { fileSyncFailures } }
    var crashCount: Int { lock.withLock { crashes } }

    // MARK: - Inspection, for tests

    /// Current bytes of a file (what a read sees now), or nil when it does not exist.
    func contents(of path: String) -> [UInt8]? { lock.withLock { entries[Self.normalize(path)]?.current } }

    /// Synced bytes of a file, or nil when it does not exist.
    func syncedContents(of path: String) -> [UInt8]? { lock.withLock { entries[Self.normalize(path)]?.synced } }

    /// Replaces a file's bytes, current and synced (creating it, durably), as an attacker or a bad disk would.
    func overwrite(_ path: String, with bytes: [UInt8]) {
        lock.withLock {
            let p = Self.normalize(path)
            let node = entries[p] ?? Node()
            node.current = bytes
            node.synced = bytes
            entries[p] = node
            durableEntries[p] = node
        }
    }

    /// An independent copy of the durable and current state (not of the knobs, locks or handles), so
    /// one fixture can be crashed many ways.
    func copy() -> SimulatedStorage {
        lock.withLock {
            let other = SimulatedStorage()
            var copies: [ObjectIdentifier: Node] = [:]
            func copied(_ node: Node) -> Node {
                if let done = copies[ObjectIdentifier(node)] { return done }
                let fresh = Node()
                fresh.current = node.current
                fresh.synced = node.synced
                copies[ObjectIdentifier(node)] = fresh
                return fresh
            }
            other.directories = directories
            other.entries = entries.mapValues(copied)
            other.durableEntries = durableEntries.mapValues(copied)
            return other
        }
    }

    /// Every file path, sorted.
    func filePaths() -> [String] { lock.withLock { entries.keys.sorted() } }

    /// Every file's current bytes, for "nothing changed" checks.
    func snapshot() -> [String: [UInt8]] { lock.withLock { entries.mapValues { $0.current } } }

    /// Bytes held by all files now.
    var usedBytes: Int { lock.withLock { usedBytesLocked() } }

    // MARK: - Crash

    /// Replaces the state with a post-crash state derived deterministically from `seed` and the
    /// current state; powers the storage back on. Fault knobs other than the power-off stay set.
    func crash(seed: UInt64) {
        lock.withLock {
            var rng = SeededRandom(seed: seed)
            generation += 1
            crashes += 1
            locks.removeAll()
            poweredOff = false
            operationsUntilPowerOff = nil
            powerOffOnCreate = nil

            var survivors: [String: Node] = [:]
            for path in Set(entries.keys).union(durableEntries.keys).sorted() {
                let now = entries[path]
                let durable = durableEntries[path]
                if now === durable {
                    if let now { survivors[path] = now }
                    continue
                }
                if let pick = Bool.random(using: &rng) ? now : durable { survivors[path] = pick }
            }
            // A node that is still linked and was durably linked somewhere cannot vanish altogether
            // (an unsynced rename leaves it under its old name or its new one).
            let linkedNow = Set(entries.values.map(ObjectIdentifier.init))
            let surviving = Set(survivors.values.map(ObjectIdentifier.init))
            for (path, node) in durableEntries.sorted(by: { $0.key < $1.key })
            where linkedNow.contains(ObjectIdentifier(node)) && !surviving.contains(ObjectIdentifier(node))
                && survivors[path] == nil {
                survivors[path] = node
            }

            var done = Set<ObjectIdentifier>()
            for path in survivors.keys.sorted() {
                guard let node = survivors[path], done.insert(ObjectIdentifier(node)).inserted else { continue }
                let image = Self.postCrashImage(current: node.current, synced: node.synced, rng: &rng)
                node.current = image
                node.synced = image
            }
            entries = survivors
            durableEntries = survivors
        }
    }

    /// What one file holds after a crash.
    private static func postCrashImage(current: [UInt8], synced: [UInt8], rng: inout SeededRandom) -> [UInt8] {
        if current == synced { return synced }
        let appendOnly = current.count > synced.count && current.starts(with: synced)
        if appendOnly {
            let unsynced = current.count - synced.count
            let kept = Int.random(in: 0...unsynced, using: &rng)
            var image = Array(current[0..<(synced.count + kept)])
            let shape = UInt8.random(in: 0..<8, using: &rng)
            if shape < 2 && kept < unsynced {
                // The size reached the disk before the data: garbage where the rest should be.
                let garbage = Int.random(in: 1...(unsynced - kept), using: &rng)
                image += (0..<garbage).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else if shape == 2 {
                // Out-of-order write-back: the whole suffix's length, with some sectors never written.
                image = Array(current)
                var sector = synced.count / sectorBytes
                while sector * sectorBytes < current.count {
                    let lower = max(synced.count, sector * sectorBytes)
                    let upper = min(current.count, (sector + 1) * sectorBytes)
                    switch UInt8.random(in: 0..<3, using: &rng) {
                    case 0: for i in lower..<upper { image[i] = 0 }
                    case 1: for i in lower..<upper { image[i] = UInt8.random(in: 0...255, using: &rng) }
                    default: break
                    }
                    sector += 1
                }
            }
            return image
        }
        // Truncated or overwritten since the last sync: either length, each sector old or new.
        let length = Bool.random(using: &rng) ? current.count : synced.count
        var image = [UInt8](repeating: 0, count: length)
        var start = 0
        while start < length {
            let end = min(length, start + sectorBytes)
            let newer = Bool.random(using: &rng)
            for i in start..<end {
                let preferred = newer ? current : synced
                let other = newer ? synced : current
                image[i] = i < preferred.count ? preferred[i] : (i < other.count ? other[i] : 0)
            }
            start = end
        }
        return image
    }

    // MARK: - Storage

    func createDirectory(_ path: String) throws {
        try lock.withLock {
            try checkPower("creating directory '\(path)'", path)
            var current = ""
            for part in Self.components(path) {
                current += "/" + part
                if entries[current] != nil {
                    throw Self.failure("creating directory '\(current)'", current, EEXIST)
                }
                directories.insert(current)
            }
        }
    }

    func listDirectory(_ path: String) throws -> [String] {
        try lock.withLock {
            try checkPower("listing directory '\(path)'", path)
            let dir = Self.normalize(path)
            guard directories.contains(dir) else { throw Self.failure("listing directory '\(path)'", path, ENOENT) }
            let files = entries.keys.filter { Self.parent($0) == dir }
            let subdirectories = directories.filter { $0 != "/" && Self.parent($0) == dir }
            return (files + subdirectories).map(Self.lastComponent)
        }
    }

    func fileExists(_ path: String) -> Bool {
        lock.withLock {
            let p = Self.normalize(path)
            return entries[p] != nil || directories.contains(p)
        }
    }

    func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        try lock.withLock {
            try checkPower("opening '\(path)'", path)
            let p = Self.normalize(path)
            switch mode {
            case .readOnly, .readWrite:
                guard let node = entries[p] else { throw Self.failure("opening '\(path)'", path, ENOENT) }
                return SimulatedFile(storage: self, node: node, path: path, writable: mode == .readWrite,
                                     generation: generation)
            case .createExclusive:
                guard entries[p] == nil, !directories.contains(p) else {
                    throw Self.failure("opening '\(path)'", path, EEXIST)
                }
                guard directories.contains(Self.parent(p)) else { throw Self.failure("opening '\(path)'", path, ENOENT) }
                if let armed = powerOffOnCreate, p.hasSuffix(armed.suffix) {
                    powerOffOnCreate = nil
                    operationsUntilPowerOff = armed.operations + 1  // this create counts as one
                }
                if try mutation("creating '\(path)'", path) { throw powerFailure("creating '\(path)'", path) }
                let node = Node()
                entries[p] = node
                return SimulatedFile(storage: self, node: node, path: path, writable: true, generation: generation)
            }
        }
    }

    func syncDirectory(_ path: String) throws {
        try lock.withLock {
            try checkPower("fsync of directory '\(path)'", path)
            let dir = Self.normalize(path)
            guard directories.contains(dir) else {
                throw Self.failure("opening directory '\(path)' to sync it", path, ENOENT)
            }
            if try mutation("fsync of directory '\(path)'", path) { throw powerFailure("fsync of directory '\(path)'", path) }
            for key in durableEntries.keys where Self.parent(key) == dir { durableEntries[key] = nil }
            for (key, node) in entries where Self.parent(key) == dir { durableEntries[key] = node }
        }
    }

    func rename(_ from: String, to: String) throws {
        try lock.withLock {
            let what = "renaming '\(from)' to '\(to)'"
            try checkPower(what, from)
            let source = Self.normalize(from)
            let target = Self.normalize(to)
            guard let node = entries[source] else { throw Self.failure(what, from, ENOENT) }
            guard directories.contains(Self.parent(target)) else { throw Self.failure(what, from, ENOENT) }
            if try mutation(what, from) { throw powerFailure(what, from) }
            entries[source] = nil
            entries[target] = node
        }
    }

    func remove(_ path: String) throws {
        try lock.withLock {
            try checkPower("removing '\(path)'", path)
            let p = Self.normalize(path)
            guard entries[p] != nil else { throw Self.failure("removing '\(path)'", path, ENOENT) }
            if try mutation("removing '\(path)'", path) { throw powerFailure("removing '\(path)'", path) }
            entries[p] = nil
        }
    }

    func lockExclusive(_ path: String) throws -> any StorageLock {
        try lock.withLock {
            try checkPower("locking '\(path)'", path)
            let p = Self.normalize(path)
            if locks[p] != nil {
                throw AxisError(.journalLocked,
                    "another process holds '\(path)': is axisd already running on this data directory? Stop it first")
            }
            if entries[p] == nil {
                guard directories.contains(Self.parent(p)) else {
                    throw Self.failure("opening lock file '\(path)'", path, ENOENT)
                }
                entries[p] = Node()
            }
            lockTokens += 1
            locks[p] = lockTokens
            return SimulatedLock(storage: self, path: p, token: lockTokens)
        }
    }

    fileprivate func releaseLock(path: String, token: Int) {
        lock.withLock {
            if locks[path] == token { locks[path] = nil }
        }
    }

    // MARK: - File operations (called by SimulatedFile)

    fileprivate func read(_ file: SimulatedFile, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try lock.withLock {
            try checkHandle(file, "reading '\(file.path)' at offset \(offset)")
            let bytes = file.node.current
            guard offset < UInt64(bytes.count) else { return 0 }
            let start = Int(offset)
            let n = min(buffer.count, bytes.count - start)
            bytes.withUnsafeBytes { src in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + n)]))
            }
            return n
        }
    }

    fileprivate func write(_ file: SimulatedFile, _ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try lock.withLock {
            let what = "writing '\(file.path)' at offset \(offset)"
            try checkHandle(file, what)
            guard file.writable else { throw Self.failure(what, file.path, EBADF) }
            if failingWritePaths.contains(Self.normalize(file.path)) { throw Self.failure(what, file.path, EIO) }
            let fatal = try mutation(what, file.path)
            let node = file.node
            let start = Int(offset)
            var count = bytes.count
            var full = false
            if let capacity {
                let growth = max(0, start + count - node.current.count)
                let room = max(0, capacity - usedBytesLocked())
                if growth > room {
                    full = true
                    count = max(0, min(count, node.current.count + room - start))
                }
            }
            if count > 0 {
                if node.current.count < start + count {
                    node.current += [UInt8](repeating: 0, count: start + count - node.current.count)
                }
                node.current.withUnsafeMutableBytes { dst in
                    UnsafeMutableRawBufferPointer(rebasing: dst[start..<(start + count)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
                }
            }
            if fatal { throw powerFailure(what, file.path) }
            if full { throw Self.failure("writing '\(file.path)' at offset \(offset + UInt64(count))", file.path, ENOSPC) }
        }
    }

    fileprivate func sync(_ file: SimulatedFile) throws {
        try lock.withLock {
            let what = "fdatasync of '\(file.path)'"
            try checkHandle(file, what)
            fileSyncs += 1
            if try mutation(what, file.path) {
                fileSyncFailures += 1
                throw powerFailure(what, file.path)
            }
            if syncFailuresPending > 0 {
                syncFailuresPending -= 1
                fileSyncFailures += 1
                throw Self.failure(what, file.path, EIO)
            }
            file.node.synced = file.node.current
        }
    }

    fileprivate func truncate(_ file: SimulatedFile, to size: UInt64) throws {
        try lock.withLock {
            let what = "truncating '\(file.path)' to \(size) bytes"
            try checkHandle(file, what)
            guard file.writable else { throw Self.failure(what, file.path, EINVAL) }
            if try mutation(what, file.path) { throw powerFailure(what, file.path) }
            let n = Int(size)
            if n < file.node.current.count {
                file.node.current.removeLast(file.node.current.count - n)
            } else {
                file.node.current += [UInt8](repeating: 0, count: n - file.node.current.count)
            }
        }
    }

    fileprivate func size(_ file: SimulatedFile) throws -> UInt64 {
        try lock.withLock {
            try checkHandle(file, "stat of '\(file.path)'")
            return UInt64(file.node.current.count)
        }
    }

    // MARK: - Helpers (call with the lock held)

    private func usedBytesLocked() -> Int {
        var seen = Set<ObjectIdentifier>()
        var total = 0
        for node in entries.values where seen.insert(ObjectIdentifier(node)).inserted { total += node.current.count }
        return total
    }

    private func checkPower(_ what: String, _ path: String) throws {
        if poweredOff { throw powerFailure(what, path) }
    }

    private func checkHandle(_ file: SimulatedFile, _ what: String) throws {
        try checkPower(what, file.path)
        if file.isClosed { throw Self.failure(what, file.path, EBADF) }
        if file.generation != generation {
            throw AxisError(.storageIO, "\(what) failed: the handle was opened before a simulated crash", errno: EIO)
        }
    }

    /// Counts a mutating operation; returns true when it is the one that cuts the power.
    private func mutation(_ what: String, _ path: String) throws -> Bool {
        try checkPower(what, path)
        mutations += 1
        guard let left = operationsUntilPowerOff else { return false }
        if left > 1 {
            operationsUntilPowerOff = left - 1
            return false
        }
        operationsUntilPowerOff = nil
        poweredOff = true
        return true
    }

    private func powerFailure(_ what: String, _ path: String) -> AxisError {
        AxisError(.storageIO, "\(what) failed: simulated power loss on '\(path)'", errno: EIO)
    }

    /// The error `PosixStorage` throws for the same errno.
    static func failure(_ what: String, _ path: String, _ err: Int32) -> AxisError {
        let code: AxisError.Code = (err == ENOSPC || err == EDQUOT) ? .storageFull : .storageIO
        let hint: String
        switch err {
        case ENOSPC, EDQUOT: hint = "the disk holding '\(path)' is full: free space"
        case ENOENT: hint = "'\(path)' does not exist"
        default: hint = "check the disk and the file system holding '\(path)'"
        }
        return AxisError(code, "\(what) failed: \(hint) (simulated)", errno: err)
    }

    static func components(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
    }

    /// Absolute, without `//`, `.` or a trailing `/` (relative paths are taken from `/`).
    static func normalize(_ path: String) -> String {
        "/" + components(path).joined(separator: "/")
    }

    static func parent(_ normalized: String) -> String {
        guard let slash = normalized.lastIndex(of: "/"), slash != normalized.startIndex else { return "/" }
        return String(normalized[..<slash])
    }

    static func lastComponent(_ normalized: String) -> String {
        guard let slash = normalized.lastIndex(of: "/") else { return normalized }
        return String(normalized[normalized.index(after: slash)...])
    }
}

/// A handle on a `SimulatedStorage` file; dead after `close()` or a simulated crash.
final class SimulatedFile: StorageFile {
    let path: String
    fileprivate let node: SimulatedStorage.Node
    fileprivate let writable: Bool
    fileprivate let generation: Int
    private let storage: SimulatedStorage
    // Read and written under the storage's lock only.
    fileprivate var isClosed = false

    fileprivate init(storage: SimulatedStorage, node: SimulatedStorage.Node, path: String, writable: Bool, generation: Int) {
        self.storage = storage
        self.node = node
        self.path = path
        self.writable = writable
        self.generation = generation
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try storage.read(self, into: buffer, at: offset)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws { try storage.write(self, bytes, at: offset) }
    func sync() throws { try storage.sync(self) }
    func truncate(to size: UInt64) throws { try storage.truncate(self, to: size) }
    func size() throws -> UInt64 { try storage.size(self) }
    func close() { storage.close(self) }
}

extension SimulatedStorage {
    fileprivate func close(_ file: SimulatedFile) { lock.withLock { file.isClosed = true } }
}

/// The lock object `lockExclusive` returns: released when it goes away, unless a crash released it first.
final class SimulatedLock: StorageLock {
    private let storage: SimulatedStorage
    private let path: String
    private let token: Int

    fileprivate init(storage: SimulatedStorage, path: String, token: Int) {
        self.storage = storage
        self.path = path
        self.token = token
    }

    deinit { storage.releaseLock(path: path, token: token) }
}
