import Foundation

/// Prepares the next segment file ahead of time on a background thread: a file of
/// `segmentBytesMax` zeros, written and synced before the journal needs it.
///
/// Why: when every batch *extends* the segment file, each `fdatasync` must also commit the new size
/// and block allocation through the file system's journal (ext4's jbd2), which is shared with every
/// other writer on the disk. When the batch *overwrites* blocks that are already allocated and the
/// size does not change, `fdatasync` flushes data only — measured here 0.44–0.49 ms → 0.25–0.29 ms
/// for a 64-record batch (docs/PERFORMANCE.md). PostgreSQL and SQLite get the same effect by
/// recycling WAL files.
///
/// The file is named `next-segment-N.prep` until a roll writes its header and renames it to the
/// segment's real name; each preparation uses a new N, so the next one never touches a file the
/// roll still holds. The scanner ignores these names, and a new preparer removes stale ones. A segment's
/// unused preallocated end is all zeros, which the scanner reads as the end of its records.
///
/// Preparation is best effort: if it fails (a full disk, say), `take()` returns nil and the
/// journal creates a plain file as before; the failure surfaces, if it persists, on the write path.
final class SegmentPreparer: @unchecked Sendable {
    static let suffix = ".prep"
    /// Zeros written and synced per step.
    static let stepBytes = 256 << 10

    private let directory: String
    private let storage: any Storage
    private let segmentBytes: Int
    private let lock = ConditionLock()
    private var ready = false
    private var failed = false
    private var closing = false
    private var exited = false
    /// Number of the file being prepared or ready; only the preparer thread changes it.
    private var number = 0

    private func path(_ n: Int) -> String { PathJoin.join(directory, "next-segment-\(n)\(Self.suffix)") }

    private let background: Bool

    /// `background: false` prepares nothing ahead: `take()` then prepares the file itself, on the
    /// caller's thread (deterministic, for crash tests).
    init(directory: String, storage: any Storage, segmentBytes: Int, background: Bool) throws {
        self.directory = directory
        self.storage = storage
        self.segmentBytes = segmentBytes
        self.background = background
        // A leftover from before a crash. Errors are not swallowed here: at open, a disk that fails
        // must fail the open, not surface later.
        for name in try storage.listDirectory(directory) where name.hasSuffix(Self.suffix) {
            try storage.remove(PathJoin.join(directory, name))
        }
        if background {
            let thread = Thread { [self] in self.run() }
            thread.name = "axis-segment-preparer"
            thread.start()
        } else {
            exited = true
        }
    }

    /// The path of a prepared file, if one is ready; it is the caller's from then on (to rename).
    /// The next preparation starts under a new name. Never blocks in background mode.
    func take() -> String? {
        if !background {
            number += 1
            return prepare(path(number)) ? path(number) : nil
        }
        return lock.withLock {
            guard ready else {
                // A preparation that failed (a full disk) is tried again from now on.
                if failed {
                    failed = false
                    lock.broadcast()
                }
                return nil
            }
            ready = false
            lock.broadcast()
            return path(number)
        }
    }

    func close() {
        lock.withLock {
            closing = true
            lock.broadcast()
            while !exited { lock.wait() }
            if ready { try? storage.remove(path(number)) }
            ready = false
        }
    }

    private func run() {
        while true {
            let next: Int? = lock.withLock {
                while !closing && (ready || failed) { lock.wait() }
                if closing { return nil }
                number += 1
                return number
            }
            guard let next else { break }
            let ok = prepare(path(next))
            lock.withLock {
                if ok { ready = true } else { failed = true }
            }
        }
        lock.withLock {
            exited = true
            lock.broadcast()
        }
    }

    private func prepare(_ path: String) -> Bool {
        do {
            let file = try storage.open(path, mode: .createExclusive)
            defer { file.close() }
            // Small steps, each synced: one 64 MiB flush would hold the disk's queue for tens of
            // milliseconds, and every journal fdatasync issued meanwhile would wait behind it.
            let zeros = [UInt8](repeating: 0, count: Self.stepBytes)
            var offset = 0
            while offset < segmentBytes {
                if lock.withLock({ closing }) { return false }
                let n = min(zeros.count, segmentBytes - offset)
                try zeros.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: UInt64(offset)) }
                try file.sync()
                offset += n
            }
            return true
        } catch {
            try? storage.remove(path)
            return false
        }
    }
}
