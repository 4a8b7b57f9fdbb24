import Axis

/// What the crash-loop driver knows about every document of the run — and so what axisd must
/// show after any number of kills. One entry per document index, guarded by one lock; no bodies.
///
///     signed ──take──▶ sending ──201/200──▶ accepted
///        ▲                │  └──4xx───────▶ refused (a violation: the driver sends only valid documents)
///        └──503───────────┤
///                         └──no answer (kill)──▶ cut off ──take (resubmitted first)──▶ sending …
///
/// A cut-off submission may or may not have been accepted before the kill; resubmitting the same
/// request answers which (`200` with the original receipt: it had been; `201`: it had not), as the
/// API tells every client to do. Inbox items are matched against the entries: an item for a
/// document never sent, for an agency it was not addressed to, under a second axis id, or with
/// other bytes, is a violation. Deliveries are counted per (document, recipient); more than one
/// is a duplicate (an ack, or a lease reply, lost in a kill), reported but allowed.
final class CrashLoopLedger: @unchecked Sendable {
    enum Phase: UInt8 { case signed, sending, cutOff, accepted, refused }

    struct Entry {
        var phase: Phase = .signed
        /// Recipient agencies as bits of their positions in the plan's agency list.
        var recipients: UInt8
        var sha256: Digest256
        /// The axis id from the receipt.
        var id: DocumentID?
        /// The axis id an inbox showed before the receipt was in hand (reply under way, or cut off).
        var seenID: DocumentID?
        /// Times listed to each agency: four 16-bit counters, by agency position.
        var deliveries: UInt64 = 0
        /// Agencies whose ack was answered 200 (or, after a lost answer, that the trace shows acknowledged).
        var acked: UInt8 = 0
        /// Agencies whose ack was sent but cut off by a kill before its answer.
        var ackUncertain: UInt8 = 0
        var cutOffs: UInt8 = 0

        func deliveryCount(_ agency: Int) -> Int { Int((deliveries >> (16 * UInt64(agency))) & 0xFFFF) }
    }

    /// What a submitter does next.
    enum Take {
        case document(index: Int, signature: String)
        /// Nothing to send in this generation (the signed queue ran dry): wait for the next axisd.
        case idle
        /// The final phase and nothing left to resolve: the submitter ends.
        case done
    }

    /// Counters for the summary.
    struct Counters: Codable, Sendable {
        var submissionsCutOff = 0
        var cutOffHadBeenAccepted = 0
        var cutOffHadNotBeenAccepted = 0
        var unavailable503 = 0
        var pollsCutOff = 0
        var contentReadsCutOff = 0
        var acksCutOff = 0
        var acksAnsweredAlready = 0
        var acksFoundOnTrace = 0
        var demoItems = 0
    }

    private let lock = ConditionLock()
    private var entries: [Entry] = []
    private var signatures: [Int: String] = [:]
    private var fresh: [Int] = []
    private var freshHead = 0
    private var retry: [Int] = []
    private var finalPhase = false
    /// Documents in `sending` or `cut off`.
    private var unresolved = 0
    /// Accepted (document, recipient) pairs not yet acknowledged.
    private var pendingAcks = 0
    private var acceptedOrder: [Int] = []
    private var uncheckedStart = 0
    private var counters = Counters()
    private var cutOffsThisGeneration = 0
    private var violationCount = 0
    private var violationLines: [String] = []
    static let violationLinesMax = 200

    // MARK: The coordinator

    /// Adds a signed document to the back of the queue.
    func addSigned(_ index: Int, recipients: UInt8, sha256: Digest256, signature: String) {
        lock.withLock {
            precondition(index == entries.count, "documents are signed in index order")
            entries.append(Entry(recipients: recipients, sha256: sha256))
            signatures[index] = signature
            fresh.append(index)
        }
    }

    var nextIndex: Int { lock.withLock { entries.count } }
    var freshCount: Int { lock.withLock { fresh.count - freshHead } }

    /// From now on submitters only resolve cut-off submissions; no new document is sent.
    func enterFinalPhase() { lock.withLock { finalPhase = true; lock.broadcast() } }

    /// How many submissions the last kill cut off; resets the count.
    func takeCutOffsThisGeneration() -> Int {
        lock.withLock { defer { cutOffsThisGeneration = 0 }; return cutOffsThisGeneration }
    }

    /// Documents accepted since the last call (the new ones a restart must show), and how many were accepted before them.
    func takeUnchecked() -> (new: [Int], earlier: Int) {
        lock.withLock {
            let start = uncheckedStart
            uncheckedStart = acceptedOrder.count
            return (Array(acceptedOrder[start...]), start)
        }
    }

    /// The `k`-th accepted document, in acceptance order.
    func accepted(at k: Int) -> Int { lock.withLock { acceptedOrder[k] } }
    var acceptedCount: Int { lock.withLock { acceptedOrder.count } }
    var allAccepted: [Int] { lock.withLock { acceptedOrder } }

    func entry(_ index: Int) -> Entry { lock.withLock { entries[index] } }

    /// True once every sent document has its answer and every accepted pair is acknowledged.
    var settled: Bool { lock.withLock { unresolved == 0 && pendingAcks == 0 } }

    /// Waits until something changes (an answer or an ack), at most `seconds`.
    func waitForProgress(seconds: Double) {
        lock.withLock { _ = lock.wait(seconds: seconds) }
    }

    /// (unresolved submissions, pending acknowledgements), for progress lines.
    var outstanding: (submissions: Int, acks: Int) { lock.withLock { (unresolved, pendingAcks) } }

    /// Accepted pairs still waiting for an acknowledgement: (index, agency position, ack answer lost).
    func pendingPairs(limit: Int) -> [(index: Int, agency: Int, uncertain: Bool)] {
        lock.withLock {
            var out: [(Int, Int, Bool)] = []
            for index in acceptedOrder {
                let e = entries[index]
                let missing = e.recipients & ~e.acked
                guard missing != 0 else { continue }
                for agency in 0..<8 where missing & (1 << agency) != 0 {
                    out.append((index, agency, e.ackUncertain & (1 << agency) != 0))
                    if out.count >= limit { return out }
                }
            }
            return out
        }
    }

    /// The trace shows `agency`'s delivery of `index` acknowledged although no ack answer arrived.
    func ackFoundOnTrace(_ index: Int, agency: Int) {
        lock.withLock {
            if markAcked(index, agency) { counters.acksFoundOnTrace += 1 }
        }
    }

    var snapshot: (counters: Counters, violations: Int, lines: [String]) {
        lock.withLock { (counters, violationCount, violationLines) }
    }

    /// (pairs delivered at least once, items listed in all, duplicates) over accepted documents.
    func deliveryTotals() -> (pairs: Int, items: Int, duplicates: Int, pairsExpected: Int) {
        lock.withLock {
            var pairs = 0, items = 0, duplicates = 0, expected = 0
            for index in acceptedOrder {
                let e = entries[index]
                for agency in 0..<4 where e.recipients & (1 << agency) != 0 {
                    expected += 1
                    let n = e.deliveryCount(agency)
                    if n > 0 { pairs += 1 }
                    items += n
                    duplicates += max(0, n - 1)
                }
            }
            return (pairs, items, duplicates, expected)
        }
    }

    func violation(_ text: String) { lock.withLock { record(text) } }

    // MARK: Submitters

    func take() -> Take {
        lock.withLock {
            if let index = retry.popLast() {
                entries[index].phase = .sending
                return .document(index: index, signature: signatures[index] ?? "")
            }
            if finalPhase { return unresolved == 0 ? .done : .idle }
            guard freshHead < fresh.count else { return .idle }
            let index = fresh[freshHead]
            freshHead += 1
            if freshHead > 4096 && freshHead * 2 > fresh.count {
                fresh.removeFirst(freshHead)
                freshHead = 0
            }
            entries[index].phase = .sending
            unresolved += 1
            return .document(index: index, signature: signatures[index] ?? "")
        }
    }

    /// A 201 (`created`) or 200 answer with the receipt's axis id and SHA-256.
    func answered(_ index: Int, id: DocumentID, sha256: Digest256?, created: Bool) {
        lock.withLock {
            var e = entries[index]
            guard e.phase == .sending else {
                record("document \(index): answered while \(e.phase), not while being sent")
                return
            }
            if sha256 != e.sha256 {
                record("document \(index): the receipt names SHA-256 \(sha256?.hex ?? "none"), the body sent has \(e.sha256.hex)")
            }
            if let seen = e.seenID, seen != id {
                record("document \(index): an inbox showed it as \(seen.hex) but its receipt says \(id.hex) (accepted twice?)")
            }
            if e.cutOffs > 0 {
                if created { counters.cutOffHadNotBeenAccepted += 1 } else { counters.cutOffHadBeenAccepted += 1 }
            } else if !created {
                record("document \(index): its first submission was answered 200 (a resubmission), not 201")
            }
            e.phase = .accepted
            e.id = id
            entries[index] = e
            signatures[index] = nil
            unresolved -= 1
            pendingAcks += (e.recipients & ~e.acked).nonzeroBitCount
            acceptedOrder.append(index)
            lock.broadcast()
        }
    }

    /// No answer: the connection failed under the request. `byKill` says whether the daemon was
    /// being killed; any other failure is also a violation.
    func cutOff(_ index: Int, byKill: Bool, error: String) {
        lock.withLock {
            entries[index].phase = .cutOff
            entries[index].cutOffs &+= 1
            retry.append(index)
            counters.submissionsCutOff += 1
            cutOffsThisGeneration += 1
            if !byKill { record("document \(index): submission failed while axisd was up (no kill): \(error)") }
        }
    }

    /// 503: nothing was accepted; send it again.
    func unavailable(_ index: Int) {
        lock.withLock {
            entries[index].phase = .cutOff
            retry.append(index)
            counters.unavailable503 += 1
        }
    }

    /// Refused (a 4xx/5xx other than 503): the document is never accepted.
    func refused(_ index: Int, _ reason: String) {
        lock.withLock {
            entries[index].phase = .refused
            signatures[index] = nil
            unresolved -= 1
            record("document \(index): refused: \(reason)")
            lock.broadcast()
        }
    }

    /// Picked up before a generation ended but never sent: queued again, first in line. Its phase
    /// goes back to `signed`, so an inbox item for it is still a violation unless an earlier
    /// submission was cut off.
    func notSent(_ index: Int) {
        lock.withLock {
            entries[index].phase = .signed
            retry.append(index)
        }
    }

    // MARK: Pullers

    /// An inbox listed `index` to `agency` as axis id `id`. Returns the SHA-256 its bytes must
    /// have, or nil after recording why the item should not exist.
    func listed(_ index: Int, agency: Int, id: DocumentID) -> Digest256? {
        lock.withLock {
            guard index < entries.count else {
                record("an inbox of agency #\(agency) listed document \(index) (\(id.hex)), which was never signed or sent")
                return nil
            }
            var e = entries[index]
            switch e.phase {
            case .signed where e.cutOffs == 0:
                record("an inbox listed document \(index) (\(id.hex)), which was signed but never sent")
                return nil
            case .refused:
                record("an inbox listed document \(index) (\(id.hex)), whose submission was refused")
                return nil
            default: break
            }
            if e.recipients & (1 << agency) == 0 {
                record("document \(index) (\(id.hex)) was listed to agency #\(agency), which it was not addressed to")
                return nil
            }
            if let known = e.id ?? e.seenID, known != id {
                record("document \(index) was listed as \(id.hex) but is known as \(known.hex) (accepted twice?)")
                return nil
            }
            if e.id == nil { e.seenID = id }
            if e.deliveryCount(agency) < 0xFFFF { e.deliveries += 1 << (16 * UInt64(agency)) }
            entries[index] = e
            return e.sha256
        }
    }

    func acked(_ index: Int, agency: Int, already: Bool) {
        lock.withLock {
            if already { counters.acksAnsweredAlready += 1 }
            _ = markAcked(index, agency)
        }
    }

    func ackCutOff(_ index: Int, agency: Int) {
        lock.withLock {
            entries[index].ackUncertain |= 1 << agency
            counters.acksCutOff += 1
        }
    }

    func pollCutOff() { lock.withLock { counters.pollsCutOff += 1 } }
    func contentCutOff() { lock.withLock { counters.contentReadsCutOff += 1 } }
    func demoItem() { lock.withLock { counters.demoItems += 1 } }

    // MARK: Under the lock

    private func record(_ text: String) {
        violationCount += 1
        if violationLines.count < Self.violationLinesMax { violationLines.append(text) }
    }

    /// Sets the ack bit; true if it was newly set.
    private func markAcked(_ index: Int, _ agency: Int) -> Bool {
        let bit = UInt8(1 << agency)
        guard entries[index].acked & bit == 0 else { return false }
        entries[index].acked |= bit
        if entries[index].phase == .accepted && entries[index].recipients & bit != 0 {
            pendingAcks -= 1
            lock.broadcast()
        }
        return true
    }
}
