import Axis

/// The documents of one crash-loop run, each a pure function of (seed, index): who sends it, to
/// whom, its size and every byte of its body. The driver keeps no bodies: it derives one again to
/// submit it, and keeps only the SHA-256 to check what comes back (memory stays bounded however
/// many documents a run accepts).
///
/// Body: `Axis crash-loop seed S document I\n` followed by splitmix64 bytes up to the size. Most
/// documents are 256 B–16 KiB (held in memory by axisd); `largePercent` of them are 1.05–1.3 MiB,
/// over axisd's 1 MiB in-memory limit, so they take the streamed path (payload file first, then
/// the journal record) that a kill can also cut.
struct CrashLoopPlan: Sendable {
    struct Document: Sendable {
        var index: Int
        /// Positions in `agencies`.
        var sender: Int
        var recipients: [Int]
        var size: Int
        var senderDocumentID: String
    }

    static let smallBytes = 256...16_384
    static let largeBytes = 1_100_000...1_360_000

    let seed: UInt64
    let agencies: [String]
    let largePercent: Int

    /// Every `Axis-Document-Id` of the run starts with this, so what is ours is told apart from
    /// axisd's own demo document (`demo-…`) in inboxes and in the journal.
    var prefix: String { "crash-\(String(seed, radix: 16))-" }

    func document(_ index: Int) -> Document {
        var rng = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        let sender = Int.random(in: 0..<agencies.count, using: &rng)
        let others = (0..<agencies.count).filter { $0 != sender }
        // A non-empty subset of the other agencies: fan-out of one to all three.
        let mask = Int.random(in: 1..<(1 << others.count), using: &rng)
        let recipients = others.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
        let large = Int.random(in: 0..<100, using: &rng) < largePercent
        let size = Int.random(in: large ? Self.largeBytes : Self.smallBytes, using: &rng)
        return Document(index: index, sender: sender, recipients: recipients, size: size, senderDocumentID: prefix + String(index))
    }

    /// The document index named by an `Axis-Document-Id` of this run, or nil for any other id.
    func index(of senderDocumentID: String) -> Int? {
        guard senderDocumentID.hasPrefix(prefix) else { return nil }
        return Int(senderDocumentID.dropFirst(prefix.count))
    }

    func body(_ document: Document) -> [UInt8] {
        var out = Array("Axis crash-loop seed \(seed) document \(document.index)\n".utf8)
        out.reserveCapacity(document.size + 8)
        var state = (seed &+ 0x5DEE_CE66_D1CE_4E5B) ^ UInt64(document.index)
        while out.count < document.size {
            withUnsafeBytes(of: SplitMix64.next(&state).littleEndian) { out.append(contentsOf: $0) }
        }
        out.removeLast(out.count - document.size)
        return out
    }

    /// A bitmask of agency positions, for the ledger's per-recipient bits.
    static func mask(_ positions: [Int]) -> UInt8 {
        positions.reduce(0) { $0 | UInt8(1 << $1) }
    }
}
