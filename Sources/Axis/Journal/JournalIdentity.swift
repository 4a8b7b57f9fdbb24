import Foundation

/// `JOURNAL_ID` in the journal directory: the journal's 16-byte id in hex, written once when the
/// journal is created.
///
/// It makes a journal that *disappeared* an error instead of a fresh start: without it, a directory
/// whose segments were deleted (or a data disk that failed to mount, leaving an empty directory)
/// would silently become a new, empty journal and every accepted document would be forgotten.
/// Written to a temporary name, synced and renamed, so a crash never leaves a half-written id.
enum JournalIdentity {
    static let fileName = "JOURNAL_ID"

    static func read(directory: String, storage: any Storage) throws -> [UInt8]? {
        let path = PathJoin.join(directory, fileName)
        guard storage.fileExists(path) else { return nil }
        let file = try storage.open(path, mode: .readOnly)
        defer { file.close() }
        let text = String(decoding: try file.read(count: 64, at: 0), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let id = Hex.decode(text), id.count == 16 else {
            throw AxisError(.journalCorrupt,
                "'\(path)' does not hold a journal id (32 hex digits): restore it from a backup, or from the journal id " +
                "that `axisctl journal check` prints")
        }
        return id
    }

    static func write(_ id: [UInt8], directory: String, storage: any Storage) throws {
        let temporary = PathJoin.join(directory, fileName + ".tmp")
        if storage.fileExists(temporary) { try storage.remove(temporary) }
        let file = try storage.open(temporary, mode: .createExclusive)
        do {
            try file.write(Array((Hex.encode(id) + "\n").utf8), at: 0)
            try file.sync()
            file.close()
        } catch {
            file.close()
            throw error
        }
        try storage.rename(temporary, to: PathJoin.join(directory, fileName))
        try storage.syncDirectory(directory)
    }
}
