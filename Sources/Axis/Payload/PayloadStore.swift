import Dispatch

/// Document bytes (and signatures and receipts), stored once, outside the journal.
///
/// Journal records stay small — they carry a `PayloadRef` — so replay reads only metadata however
/// large the documents, and a document sent to many recipients is stored once.
///
/// Layout: `<data>/payloads/NNNNNNNNNNNNNNNNNNNN.axp` segment files, numbered from 1. Each payload is
/// a 56-byte header then its bytes:
///
///     | magic "AXPL" | flags u32 | length u64 | sha256 [32] | crc32c u32 (of bytes 0..<48) | reserved u32 | bytes … |
///
/// Two ways in:
/// - `store(_:)` for bytes in memory: group-committed into the current segment (one write and one
///   `fdatasync` shared by every payload in the batch), like the journal.
/// - `beginStream()` for large bodies: written chunk by chunk into a segment file of its own with
///   bounded memory, synced and published (directory fsync) by `finish()`.
///
/// Either way a payload is durable before its `PayloadRef` is returned, so a journal record that
/// references it never points at bytes that could vanish in a crash. A crash can leave unreferenced
/// payload bytes (stored, but the journal record never written); they are harmless and are removed by
/// compaction. Each start begins a new segment, so nothing is ever appended after a torn write.
/// Reads check the header against the reference and the SHA-256 of the bytes.
public final class PayloadStore: @unchecked Sendable {
    public static let headerSize = 56
    static let magic: UInt32 = 0x4C50_5841  // "AXPL" in file order
    static let suffix = ".axp"

    public struct Options: Sendable {
        public var segmentBytesMax: Int = 256 << 20
        public var batchBytesMax: Int = 16 << 20
        /// The largest payload `store(_:)` takes in memory; larger ones must stream.
        public var inlineBytesMax: Int = 8 << 20
        public init() {}
    }

    public let directory: String
    public let options: Options
    private let storage: any Storage
    private let segments: SegmentCounter
    private let writer: PayloadWriter
    private let committer: GroupCommitter<[UInt8], PayloadRef>

    public init(directory: String, storage: any Storage = PosixStorage(), options: Options = Options()) throws {
        self.directory = directory
        self.options = options
        self.storage = storage
        try storage.createDirectory(directory)
        let highest = try storage.listDirectory(directory).compactMap(Self.segmentNumber).max() ?? 0
        segments = SegmentCounter(next: highest + 1)
        writer = PayloadWriter(directory: directory, storage: storage, segments: segments,
                               segmentBytesMax: options.segmentBytesMax)
        committer = GroupCommitter(
            name: "axis-payload-writer", batchBytesMax: options.batchBytesMax, batchCountMax: 1 << 16,
            commit: { [writer] payloads in try writer.commit(payloads) },
            describeFailure: { error in
                let cause = error as? AxisError ?? AxisError(.storageIO, "\(error)")
                return AxisError(cause.code == .storageFull ? .storageFull : .storageIO,
                    "payload store write failed: \(cause.description). It refuses new payloads until axisd is restarted")
            },
            describeTransient: { cause in
                AxisError(.storageFull, "payload store: \(cause.description). Nothing of this batch was kept; "
                    + "storing resumes as soon as there is space again")
            })
    }

    static func segmentName(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    static func segmentNumber(_ name: String) -> UInt64? {
        guard name.hasSuffix(suffix), name.count == 20 + suffix.count else { return nil }
        return UInt64(name.prefix(20))
    }

    /// One payload found in a segment file by `payloads(inSegment:storage:)`.
    public struct StoredPayload: Sendable {
        public var offset: UInt64
        public var length: UInt64
        public var sha256: Digest256
        /// Header and bytes: what the payload takes in the file.
        public var storedBytes: UInt64 { UInt64(PayloadStore.headerSize) + length }
    }

    /// The payloads of one segment file, in file order, from their headers (the bytes themselves are
    /// not read or checked). Stops at the first header that is not a valid payload header or whose
    /// bytes run past the end of the file: a segment being written, or a torn end. For tools that
    /// account for what is stored (`axis-bench submit` counts what a run wrote).
    public static func payloads(inSegment path: String, storage: any Storage = PosixStorage()) throws -> [StoredPayload] {
        let file = try storage.open(path, mode: .readOnly)
        defer { file.close() }
        let size = try file.size()
        var found: [StoredPayload] = []
        var offset: UInt64 = 0
        while offset + UInt64(headerSize) <= size {
            let bytes = try file.read(count: headerSize, at: offset)
            var r = ByteReader(bytes, offset: 8)
            guard bytes.count == headerSize, let length = try? r.u64(), let sha256 = try? r.digest(),
                  bytes == header(length: length, sha256: sha256), length <= size - offset - UInt64(headerSize) else { break }
            found.append(StoredPayload(offset: offset, length: length, sha256: sha256))
            offset += UInt64(headerSize) + length
        }
        return found
    }

    static func header(length: UInt64, sha256: Digest256) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.u32(magic)
        w.u32(0)
        w.u64(length)
        w.digest(sha256)
        w.u32(CRC32C.checksum(w.bytes))
        w.u32(0)
        return w.bytes
    }

    // MARK: - Storing

    /// Stores `bytes` durably; the completion runs on the writer thread.
    public func store(_ bytes: [UInt8], completion: @escaping @Sendable (Result<PayloadRef, AxisError>) -> Void) {
        guard bytes.count <= options.inlineBytesMax else {
            completion(.failure(AxisError(.limitExceeded,
                "payload of \(bytes.count) bytes is over inlineBytesMax (\(options.inlineBytesMax)): stream it")))
            return
        }
        committer.submit(bytes, bytes: bytes.count + Self.headerSize, count: 1, completion: completion)
    }

    public func store(_ bytes: [UInt8]) async throws -> PayloadRef {
        try await withCheckedThrowingContinuation { continuation in
            store(bytes) { continuation.resume(with: $0) }
        }
    }

    public func storeAndWait(_ bytes: [UInt8]) throws -> PayloadRef {
        let promise = Promise<Result<PayloadRef, AxisError>>()
        store(bytes) { promise.fulfil($0) }
        return try promise.wait().get()
    }

    /// Starts a streamed payload in a segment file of its own.
    public func beginStream() throws -> PayloadStream {
        try PayloadStream(directory: directory, storage: storage, segments: segments)
    }

    // MARK: - Sweeping (after journal compaction)

    /// How long after this process handed out a reference into a segment the sweep leaves it alone:
    /// the reference's journal record is written moments later, but "moments" is not a bound.
    public static let sweepGraceNanos: UInt64 = 3600 * 1_000_000_000

    /// Payload segment files no journal record needs: not in `referenced`, not being written, and
    /// not handed out by this process within `graceNanos`. With each file's size.
    public func unreferencedSegments(referenced: Set<UInt64>, graceNanos: UInt64 = sweepGraceNanos) throws
        -> [(number: UInt64, bytes: UInt64)] {
        var found: [(number: UInt64, bytes: UInt64)] = []
        for number in try storage.listDirectory(directory).compactMap(Self.segmentNumber).sorted()
        where !referenced.contains(number) && !segments.isProtected(number, graceNanos: graceNanos) {
            let file = try storage.open(PathJoin.join(directory, Self.segmentName(number)), mode: .readOnly)
            defer { file.close() }
            found.append((number, try file.size()))
        }
        return found
    }

    /// Removes payload segment files (those `unreferencedSegments` named) and syncs the directory.
    public func removeSegments(_ numbers: [UInt64]) throws {
        for number in numbers {
            try storage.remove(PathJoin.join(directory, Self.segmentName(number)))
            segments.forget(number)
        }
        if !numbers.isEmpty { try storage.syncDirectory(directory) }
    }

    public func close() {
        committer.close()
        writer.close()
    }

    // MARK: - Reading

    /// Reads a whole payload into memory, verifying it. For large payloads use `read(_:chunkBytes:_:)`.
    public func read(_ ref: PayloadRef) throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Int(min(ref.length, UInt64(Int.max))))
        try read(ref, chunkBytes: 1 << 20) { out.append(contentsOf: $0) }
        return out
    }

    /// Streams a payload in chunks of at most `chunkBytes`, verifying the header first and the
    /// SHA-256 at the end: on a mismatch the last chunk is not handed out and `.payloadCorrupt` is
    /// thrown instead, so a caller forwarding bytes never completes a transfer of altered bytes.
    public func read(_ ref: PayloadRef, chunkBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try Self.read(ref, directory: directory, storage: storage, chunkBytes: chunkBytes, body)
    }

    /// Opens a payload for reading piece by piece, at the reader's pace (an HTTP response streaming
    /// a large document to a slow client). The header is checked now, the SHA-256 as the last piece is read.
    public func openReader(_ ref: PayloadRef) throws -> PayloadReader {
        try Self.openReader(ref, directory: directory, storage: storage)
    }

    /// Reads a payload without opening the store for writing (offline tools: `axisctl verify`, `export`).
    public static func read(_ ref: PayloadRef, directory: String, storage: any Storage = PosixStorage()) throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Int(min(ref.length, UInt64(Int.max))))
        try read(ref, directory: directory, storage: storage, chunkBytes: 1 << 20) { out.append(contentsOf: $0) }
        return out
    }

    public static func read(_ ref: PayloadRef, directory: String, storage: any Storage, chunkBytes: Int,
                            _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let reader = try openReader(ref, directory: directory, storage: storage)
        defer { reader.close() }
        var buffer = [UInt8](repeating: 0, count: max(1, min(chunkBytes, Int(min(ref.length, 1 << 24)))))
        while true {
            let got = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if got == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
        }
    }

    static func openReader(_ ref: PayloadRef, directory: String, storage: any Storage) throws -> PayloadReader {
        let path = PathJoin.join(directory, Self.segmentName(ref.segment))
        guard storage.fileExists(path) else {
            throw AxisError(.payloadMissing, "payload file '\(path)' is missing: restore the data directory from a backup")
        }
        let file = try storage.open(path, mode: .readOnly)
        do {
            guard try file.read(count: Self.headerSize, at: ref.offset) == Self.header(length: ref.length, sha256: ref.sha256) else {
                throw AxisError(.payloadCorrupt,
                    "payload header at '\(path)' offset \(ref.offset) does not match the journal's reference (\(ref.sha256.hex.prefix(16))…)")
            }
        } catch {
            file.close()
            throw error
        }
        return PayloadReader(file: file, ref: ref, start: ref.offset + UInt64(Self.headerSize))
    }
}

/// Hands out payload segment numbers to the group writer and to streams, and remembers which are
/// being written and when this process last handed out a reference into each (for the sweep).
final class SegmentCounter: @unchecked Sendable {
    private struct State {
        var next: UInt64
        var writing: [UInt64: Int] = [:]
        var lastHandout: [UInt64: UInt64] = [:]
    }
    private let state: Locked<State>
    init(next: UInt64) { state = Locked(State(next: next)) }

    /// A new number, marked as being written until `finished`.
    func take() -> UInt64 {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.update { s in
            defer { s.next += 1 }
            s.writing[s.next, default: 0] += 1
            s.lastHandout[s.next] = now
            return s.next
        }
    }

    func finished(_ number: UInt64) {
        state.update { s in
            s.writing[number, default: 0] -= 1
            if s.writing[number, default: 0] <= 0 { s.writing[number] = nil }
        }
    }

    /// A reference into `number` was just handed out.
    func handedOut(_ number: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.update { $0.lastHandout[number] = now }
    }

    /// Whether the sweep must leave `number` alone: it is being written, or this process handed out
    /// a reference into it less than `graceNanos` ago (its journal record may not be written yet).
    func isProtected(_ number: UInt64, graceNanos: UInt64) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.read { s in
            if s.writing[number] != nil || number >= s.next { return true }
            guard let last = s.lastHandout[number] else { return false }
            return now &- last < graceNanos
        }
    }

    func forget(_ number: UInt64) { state.update { $0.lastHandout[number] = nil } }
}

/// The payload writer thread's state: the current group-commit segment.
final class PayloadWriter: @unchecked Sendable {
    private let directory: String
    private let storage: any Storage
    private let segments: SegmentCounter
    private let segmentBytesMax: Int
    private var file: (any StorageFile)?
    private var number: UInt64 = 0
    private var size: UInt64 = 0
    private var buffer: [UInt8] = []

    init(directory: String, storage: any Storage, segments: SegmentCounter, segmentBytesMax: Int) {
        self.directory = directory
        self.storage = storage
        self.segments = segments
        self.segmentBytesMax = segmentBytesMax
    }

    func close() { file?.close() }

    func commit(_ payloads: [[UInt8]]) throws -> [PayloadRef] {
        let total = payloads.reduce(0) { $0 + PayloadStore.headerSize + $1.count }
        if file == nil || (size > 0 && size + UInt64(total) > UInt64(segmentBytesMax)) {
            if file != nil { segments.finished(number) }
            file?.close()
            file = nil
            number = segments.take()
            let path = PathJoin.join(directory, PayloadStore.segmentName(number))
            do {
                let f = try storage.open(path, mode: .createExclusive)
                file = f
                try storage.syncDirectory(directory)
            } catch {
                // Not published: the next batch starts another segment.
                file?.close()
                file = nil
                try? storage.remove(path)
                segments.finished(number)
                throw TransientStorageFailure.classify(error)
            }
            size = 0
        }
        guard let file else { throw AxisError(.storageIO, "payload segment is not open") }
        buffer.removeAll(keepingCapacity: true)
        var refs: [PayloadRef] = []
        refs.reserveCapacity(payloads.count)
        for payload in payloads {
            let digest = payload.withUnsafeBytes { SHA256Hasher.digest($0) }
            refs.append(PayloadRef(sha256: digest, length: UInt64(payload.count), segment: number,
                                   offset: size + UInt64(buffer.count)))
            buffer.append(contentsOf: PayloadStore.header(length: UInt64(payload.count), sha256: digest))
            buffer.append(contentsOf: payload)
        }
        do {
            try file.write(buffer, at: size)
        } catch {
            // A full disk mid-write leaves a torn tail no reference points at: leave this segment
            // and start the next batch in a new one, so nothing is ever appended after torn bytes.
            if (error as? AxisError)?.code == .storageFull {
                segments.finished(number)
                file.close()
                self.file = nil
                // A segment that holds nothing yet goes too: retries on a full disk leave no litter.
                if size == 0 { try? storage.remove(PathJoin.join(directory, PayloadStore.segmentName(number))) }
            }
            throw TransientStorageFailure.classify(error)
        }
        try file.sync()
        size += UInt64(buffer.count)
        segments.handedOut(number)
        return refs
    }
}

/// One large payload being written: `write` chunks in order, then `finish` (durable, returns the
/// reference) or `abort` (removes the file). Memory use is the caller's chunk size.
public final class PayloadStream {
    private let directory: String
    private let storage: any Storage
    private let segments: SegmentCounter
    private let number: UInt64
    private let path: String
    private var file: (any StorageFile)?
    private let hasher = SHA256Hasher()
    private var length: UInt64 = 0

    init(directory: String, storage: any Storage, segments: SegmentCounter) throws {
        self.directory = directory
        self.storage = storage
        self.segments = segments
        number = segments.take()
        path = PathJoin.join(directory, PayloadStore.segmentName(number))
        do {
            file = try storage.open(path, mode: .createExclusive)
        } catch {
            segments.finished(number)
            throw error
        }
    }

    deinit { if file != nil { abort() } }

    public var bytesWritten: UInt64 { length }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard let file else { throw AxisError(.storageIO, "payload stream is already finished") }
        try file.write(chunk, at: UInt64(PayloadStore.headerSize) + length)
        hasher.update(chunk)
        length += UInt64(chunk.count)
    }

    public func write(_ chunk: [UInt8]) throws { try chunk.withUnsafeBytes { try write($0) } }

    /// Writes the header, syncs the file and its directory entry, and returns the reference.
    public func finish() throws -> PayloadRef {
        guard let file else { throw AxisError(.storageIO, "payload stream is already finished") }
        let digest = hasher.finish()
        do {
            try file.write(PayloadStore.header(length: length, sha256: digest), at: 0)
            try file.sync()
            try storage.syncDirectory(directory)
        } catch {
            abort()
            throw error
        }
        file.close()
        self.file = nil
        segments.handedOut(number)
        segments.finished(number)
        return PayloadRef(sha256: digest, length: length, segment: number, offset: 0)
    }

    /// Drops the partial payload.
    public func abort() {
        if file != nil { segments.finished(number) }
        file?.close()
        file = nil
        try? storage.remove(path)
    }
}

/// One payload read in order, a piece at a time (`PayloadStore.openReader`). Hashes what it reads
/// and checks the SHA-256 before handing out the last piece: altered bytes make the last `read`
/// throw, so a reader forwarding pieces never completes a transfer of bytes that do not match.
/// Used by one thread at a time (the connection that streams it); `close` releases the file.
public final class PayloadReader: @unchecked Sendable {
    public let ref: PayloadRef
    private var file: (any StorageFile)?
    private let start: UInt64
    private var done: UInt64 = 0
    private let hasher = SHA256Hasher()

    init(file: any StorageFile, ref: PayloadRef, start: UInt64) {
        (self.file, self.ref, self.start) = (file, ref, start)
    }

    deinit { file?.close() }

    /// Fills `buffer` with the next bytes; 0 once every byte was read.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let file, done < ref.length, buffer.count > 0 else { return 0 }
        let want = Int(min(UInt64(buffer.count), ref.length - done))
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
        let got = try file.readFully(into: target, at: start + done)
        guard got == want else {
            throw AxisError(.payloadCorrupt, "payload at '\(file.path)' offset \(ref.offset) is truncated after \(done + UInt64(got)) of \(ref.length) bytes")
        }
        hasher.update(UnsafeRawBufferPointer(target))
        done += UInt64(want)
        if done == ref.length, hasher.finish() != ref.sha256 {
            throw AxisError(.payloadCorrupt, "payload at '\(file.path)' offset \(ref.offset) does not match its SHA-256: the stored bytes were altered or damaged")
        }
        return want
    }

    public func close() {
        file?.close()
        file = nil
    }
}
