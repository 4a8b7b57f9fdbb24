/// Chain-validation results per signer certificate (by SHA-256 fingerprint), so that in the steady
/// state a signature check costs one signature verification and the digest.
///
/// Only chains that built to an anchor with no revocation problem are cached: a failure is always
/// recomputed, so a signature carrying a wrong or missing intermediate cannot poison the result for a
/// signer whose next message carries the right ones. An entry lives until the earliest of the signer
/// certificate's expiry, the next CRL update, and the policy's cache lifetime.
final class ChainCache: @unchecked Sendable {
    struct Entry {
        let chain: [Certificate]
        /// The revocation check's outcome (passed or skipped), reused as is.
        let revocation: CheckOutcome
        let expires: Timestamp
        /// What reports say about this signer, built once rather than on every verification.
        let signer: SignerSummary
        let chainDetail: String
    }

    private let entries = Locked<[Digest256: Entry]>([:])
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func lookup(_ fingerprint: Digest256, now: Timestamp) -> Entry? {
        entries.update { table in
            guard let entry = table[fingerprint] else { return nil }
            if entry.expires <= now {
                table[fingerprint] = nil
                return nil
            }
            return entry
        }
    }

    func store(_ fingerprint: Digest256, _ entry: Entry, now: Timestamp) {
        entries.update { table in
            if table.count >= capacity {
                // Drop what has expired; if still full, start over (rare: more distinct signers than capacity).
                table = table.filter { $0.value.expires > now }
                if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            }
            table[fingerprint] = entry
        }
    }

    var count: Int { entries.read { $0.count } }
}
