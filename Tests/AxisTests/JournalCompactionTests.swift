import XCTest
@testable import Axis

/// Journal compaction in-process: the planner's rules, a compaction of a real journal on disk that
/// reopens to the same state, the chain check that still refuses hand-deleted segments, and a
/// compaction cut short after its record (a crash part-way through the deletions).
final class JournalCompactionTests: XCTestCase {
    let g22 = try! AgencyCode("000.00.00.G22")
    let h29 = try! AgencyCode("000.00.00.H29")
    let day: Int64 = 86_400_000

    // MARK: The planner's rules

    func testPlannerRemovesOnlyDocumentsFinishedLongerAgoThanTheRetention() {
        let t0 = Timestamp(millis: 10 * day)
        var state = QueueState()
        let done = DocumentID(high: 1, low: 0), waiting = DocumentID(high: 2, low: 0), held = DocumentID(high: 3, low: 0)
        for (sequence, id) in [(UInt64(1), done), (2, waiting), (3, held)] {
            state.apply(.documentAccepted(DocumentAccepted(id: id, sender: g22, recipients: [h29], senderDocumentID: "s\(id.high)",
                                                           payload: PayloadRef(sha256: .zero, length: 1, segment: 1, offset: 0),
                                                           acceptedAt: t0)), sequence: sequence)
        }
        state.apply(.deliveryAcknowledged(DeliveryAcknowledged(document: done, recipient: h29, at: Timestamp(millis: t0.millis + day),
                                                               actor: .agency(h29))), sequence: 4)
        state.apply(.deliveryControl(DeliveryControl(action: .hold, document: held, recipient: h29, at: t0, actor: .system, reason: "x")),
                    sequence: 5)
        func segment(_ ids: Set<DocumentID>) -> CompactionPlanner.SegmentSummary {
            CompactionPlanner.SegmentSummary(name: "s", firstSequence: 1, nextSequence: 2, previousChain: .zero, endChain: .zero,
                                             records: 1, bytes: 100, documents: ids)
        }
        let finishedAt = t0.millis + day
        func judge(_ ids: Set<DocumentID>, at now: Int64, retention: Int64 = 7 * 86_400_000) -> CompactionPlanner.Verdict {
            CompactionPlanner.judge(segment(ids), isNewest: false, state: state, now: Timestamp(millis: now), retentionMillis: retention)
        }
        XCTAssertEqual(judge([done], at: finishedAt + 7 * day), .removable, "finished exactly the retention ago")
        guard case .kept(let early) = judge([done], at: finishedAt + 7 * day - 1) else { return XCTFail("kept one ms early") }
        XCTAssertTrue(early.contains("retention keeps it until"), early)
        guard case .kept(let queued) = judge([done, waiting], at: 100 * day) else { return XCTFail("a waiting document keeps its segment") }
        XCTAssertTrue(queued.contains("\(waiting) is still queued for \(h29)"), queued)
        guard case .kept(let two) = judge([waiting, held], at: 100 * day) else { return XCTFail("held keeps it too") }
        XCTAssertTrue(two.contains("and 1 more documents"), two)
        XCTAssertEqual(judge([DocumentID(high: 99, low: 0)], at: t0.millis), .removable, "a document the state no longer knows")
        XCTAssertEqual(CompactionPlanner.judge(segment([]), isNewest: true, state: state, now: Timestamp(millis: 100 * day),
                                               retentionMillis: 0), .kept("it is the segment being written"))
    }

    func testCutLinksTheRemovedPrefixToTheFirstKeptSegmentAndCarriesSalvagePoints() {
        let a = CompactionPlanner.SegmentSummary(name: "a", firstSequence: 1, nextSequence: 10, previousChain: Digest256(w0: 0, w1: 0, w2: 0, w3: 0),
                                                 endChain: Digest256(w0: 1, w1: 0, w2: 0, w3: 0), records: 9, bytes: 900,
                                                 accepted: [DocumentID(high: 5, low: 0)], salvageResumes: [4, 30])
        let b = CompactionPlanner.SegmentSummary(name: "b", firstSequence: 10, nextSequence: 20, previousChain: Digest256(w0: 1, w1: 0, w2: 0, w3: 0),
                                                 endChain: Digest256(w0: 2, w1: 0, w2: 0, w3: 0), records: 10, bytes: 1000,
                                                 accepted: [DocumentID(high: 7, low: 0), DocumentID(high: 6, low: 0)])
        let kept = CompactionPlanner.SegmentSummary(name: "c", firstSequence: 20, nextSequence: 20, previousChain: Digest256(w0: 2, w1: 0, w2: 0, w3: 0),
                                                    endChain: Digest256(w0: 2, w1: 0, w2: 0, w3: 0), records: 0, bytes: 80)
        let cut = CompactionPlanner.cut(removed: [a, b], firstKept: kept)
        XCTAssertEqual(cut?.firstKept, 20)
        XCTAssertEqual(cut?.boundaryChain, Digest256(w0: 2, w1: 0, w2: 0, w3: 0))
        XCTAssertEqual(cut?.removedRecords, 19)
        XCTAssertEqual(cut?.removedBytes, 1900)
        XCTAssertEqual(cut?.removedDocuments, 3)
        XCTAssertEqual(cut?.newestRemovedDocument, DocumentID(high: 7, low: 0))
        XCTAssertEqual(cut?.resumesAt, [30], "only break points in what is kept")
        XCTAssertNil(CompactionPlanner.cut(removed: [a], firstKept: kept), "segments that do not link")
        XCTAssertNil(CompactionPlanner.cut(removed: [], firstKept: kept), "nothing to remove")
    }

    // MARK: A real journal

    /// A core with 64 KiB segments, an agency registered first, `finished` documents acknowledged
    /// and `waiting` documents left queued at the end; several segments.
    func makeJournal(finished: Int, waiting: Int) throws -> (AxisCore, ManualClock, done: [DocumentID], open: [DocumentID], data: String) {
        let data = try makeTempDirectory(self, "compaction")
        let clock = ManualClock(millis: 100 * day)
        var options = JournalOptions()
        options.segmentBytesMax = 1 << 16
        options.preallocation = .off
        var payloadOptions = PayloadStore.Options()
        payloadOptions.segmentBytesMax = 1 << 16
        let core = try AxisCore(layout: AxisCore.Layout(data: data), journalOptions: options, payloadOptions: payloadOptions, clock: clock)
        _ = try core.recordAndWait([.agencyChanged(AgencyChanged(agency: AgencyEntry(code: h29, name: "Recipient"), at: clock.now(),
                                                                 actor: .system))])
        func accept(_ n: Int) throws -> DocumentID {
            let id = DocumentID(high: UInt64(clock.now().millis) << 16 | UInt64(n), low: UInt64(n))
            let payload = try core.payloads.storeAndWait(Array("document \(n) ".utf8) + [UInt8](repeating: UInt8(n & 0xFF), count: 2000))
            _ = try core.recordAndWait([.documentAccepted(DocumentAccepted(
                id: id, sender: g22, recipients: [h29], senderDocumentID: "doc-\(n)", subject: String(repeating: "s", count: 3000),
                payload: payload, acceptedAt: clock.now()))])
            return id
        }
        var done: [DocumentID] = []
        for n in 0..<finished {
            let id = try accept(n)
            _ = try core.recordAndWait([.deliveryAcknowledged(DeliveryAcknowledged(document: id, recipient: h29, at: clock.now(),
                                                                                   actor: .agency(h29)))])
            done.append(id)
            clock.advance(millis: 1)
        }
        clock.advance(millis: 30 * day)
        let open = try (0..<waiting).map { try accept(finished + $0) }
        return (core, clock, done, open, data)
    }

    func state(_ core: AxisCore) -> (documents: Set<DocumentID>, agencies: [AgencyCode: AgencyEntry], counts: [String: Int]) {
        core.withState { (Set($0.documents.keys), $0.agencies, $0.countsByState()) }
    }

    func testCompactionRemovesFinishedHistoryAndTheJournalReopensToTheSameState() throws {
        let (core, clock, done, open, data) = try makeJournal(finished: 150, waiting: 3)
        let segmentsBefore = try JournalScanner.segmentNames(in: core.layout.journal, storage: core.storage)
        XCTAssertGreaterThan(segmentsBefore.count, 3)
        let compactor = JournalCompactor(core: core, sign: nil)

        // Retention longer than the documents have been finished: nothing goes.
        let early = try compactor.run(.init(retentionMillis: 60 * day, dryRun: false), actor: .system, reason: "test")
        XCTAssertEqual(early.removedSegments, [])
        XCTAssertTrue(early.keptBecause?.contains("retention keeps it until") ?? false, "\(early)")

        // A dry run changes nothing.
        let head = core.journal.head.nextSequence
        let dry = try compactor.run(.init(retentionMillis: 7 * day, dryRun: true), actor: .system, reason: "test")
        XCTAssertFalse(dry.removedSegments.isEmpty)
        XCTAssertEqual(core.journal.head.nextSequence, head, "a dry run journals nothing")
        XCTAssertEqual(try JournalScanner.segmentNames(in: core.layout.journal, storage: core.storage), segmentsBefore)

        var options = JournalCompactor.Options(retentionMillis: 7 * day, dryRun: false)
        options.payloadGraceNanos = 0
        var progress: [String] = []
        let outcome = try compactor.run(options, actor: .admin(uid: 1000, gid: 1000), reason: "monthly") { progress.append("\($0)") }
        XCTAssertEqual(outcome.removedSegments, dry.removedSegments, "the dry run said what would go")
        XCTAssertGreaterThan(outcome.removedDocuments, 0)
        XCTAssertEqual(outcome.carriedForward, 1, "the agency registered in the first segment")
        XCTAssertGreaterThan(outcome.removedPayloadFiles, 0, "payload files only removed documents used")
        XCTAssertTrue(progress.contains { $0.hasPrefix("removed(") }, "\(progress)")
        let after = state(core)
        XCTAssertTrue(open.allSatisfy(after.documents.contains), "waiting documents stay")
        XCTAssertFalse(after.documents.contains(done[0]), "the oldest finished document is gone")
        XCTAssertEqual(after.agencies[h29]?.name, "Recipient", "the directory keeps its entry")
        XCTAssertEqual(after.counts["queued"], open.count)
        for id in open {
            let ref = try XCTUnwrap(core.withState { $0.documents[id]?.accepted.payload })
            XCTAssertEqual(try core.payloads.read(ref).count, Int(ref.length), "a kept document's bytes are still there")
        }
        // A status for a removed document is expected, not an anomaly.
        let anomalies = core.withState { $0.anomalies }
        _ = try core.recordAndWait([.recipientStatus(RecipientStatus(document: done[0], recipient: h29, at: clock.now(), code: "03", description: ""))])
        XCTAssertEqual(core.withState { $0.anomalies }, anomalies)
        let live = state(core)
        core.close()

        let reopened = try AxisCore(layout: AxisCore.Layout(data: data), clock: clock)
        defer { reopened.close() }
        XCTAssertTrue(reopened.recovery.scan.problems.isEmpty, "\(reopened.recovery.scan.problems)")
        let replayed = state(reopened)
        XCTAssertEqual(replayed.documents, live.documents, "replay of what is left equals the live state")
        XCTAssertEqual(replayed.agencies, live.agencies)
        XCTAssertEqual(replayed.counts, live.counts)
        XCTAssertEqual(reopened.withState { $0.lastCompaction?.firstKept }, outcome.firstKept)
        XCTAssertEqual(reopened.withState { $0.anomalies }, 0)
    }

    func testSegmentsDeletedByHandAreStillAChainBreak() throws {
        let made = try makeJournal(finished: 120, waiting: 1)
        made.0.close()
        let journal = PathJoin.join(made.data, "journal")
        let names = try JournalScanner.segmentNames(in: journal, storage: PosixStorage())
        try PosixStorage().remove(PathJoin.join(journal, names[0]))
        let scan = try JournalScanner.scan(directory: journal, storage: PosixStorage())
        XCTAssertEqual(scan.damage.first?.kind, .chainBreak, "\(scan.problems)")
        XCTAssertThrowsError(try AxisCore(layout: AxisCore.Layout(data: made.data))) { error in
            XCTAssertTrue("\(error)".contains("earlier segments are missing"), "\(error)")
        }
    }

    func testACompactionCutShortAfterItsRecordLeavesAJournalThatOpensAndFinishesNextTime() throws {
        let (core, clock, _, open, data) = try makeJournal(finished: 150, waiting: 1)
        let compactor = JournalCompactor(core: core, sign: nil)
        let plan = try compactor.run(.init(retentionMillis: 0, dryRun: true), actor: .system, reason: "plan")
        XCTAssertGreaterThan(plan.removedSegments.count, 1)
        // What a crash after the record and the first (newest) deletion leaves.
        let names = try JournalScanner.segmentNames(in: core.layout.journal, storage: core.storage)
        let firstKept = try XCTUnwrap(plan.firstKept)
        let keptName = JournalFormat.segmentName(firstSequence: firstKept)
        let keptIndex = try XCTUnwrap(names.firstIndex(of: keptName))
        let header = try XCTUnwrap(try? SegmentHeader.decode(Array(FileBytes.read(PathJoin.join(core.layout.journal, keptName)).prefix(80))).get())
        let journalID = try XCTUnwrap(try JournalIdentity.read(directory: core.layout.journal, storage: core.storage))
        let note = CompactionNote(at: clock.now(), firstKept: firstKept, boundaryChain: header.previousChain, journalID: journalID,
                                  removedSegments: Array(names[..<keptIndex]), removedRecords: plan.removedRecords,
                                  removedDocuments: plan.removedDocuments, newestRemovedDocument: nil, retentionSeconds: 0,
                                  resumesAt: [], actor: .system, reason: "cut short")
        _ = try core.recordAndWait([.compaction(note)])
        try core.storage.remove(PathJoin.join(core.layout.journal, names[keptIndex - 1]))
        let live = Set(core.withState { Array($0.documents.keys) })
        XCTAssertTrue(Set(open).isSubset(of: live))
        core.close()

        let reopened = try AxisCore(layout: AxisCore.Layout(data: data), clock: clock)
        XCTAssertTrue(reopened.recovery.scan.problems.isEmpty, "the older prefix chains from genesis and the gap is accepted: "
                      + "\(reopened.recovery.scan.problems)")
        XCTAssertEqual(Set(reopened.withState { Array($0.documents.keys) }), live, "the fold forgot what the record removed")
        let again = try JournalCompactor(core: reopened, sign: nil).run(.init(retentionMillis: 0, dryRun: false), actor: .system, reason: "rest")
        XCTAssertEqual(again.removedSegments, Array(names[..<(keptIndex - 1)]), "the next compaction removes the rest")
        reopened.close()
        let final = try AxisCore(layout: AxisCore.Layout(data: data), clock: clock)
        defer { final.close() }
        XCTAssertTrue(final.recovery.scan.problems.isEmpty, "\(final.recovery.scan.problems)")
        XCTAssertEqual(Set(final.withState { Array($0.documents.keys) }), live)
    }

    func testCompactionRecordRoundTripsAndSignsItsCanonicalJSON() throws {
        let note = CompactionNote(at: Timestamp(millis: 5), firstKept: 42, boundaryChain: Digest256(w0: 7, w1: 0, w2: 0, w3: 0),
                                  journalID: [UInt8](repeating: 3, count: 16), removedSegments: ["a.axj"], removedRecords: 41,
                                  removedDocuments: 9, newestRemovedDocument: DocumentID(high: 1, low: 2), retentionSeconds: 86_400,
                                  resumesAt: [50], actor: .admin(uid: 1, gid: 2), reason: "why", signature: [1, 2, 3])
        XCTAssertEqual(try JournalRecord.decode(kind: .compaction, body: JournalRecord.compaction(note).encoded()), .compaction(note))
        let json = String(decoding: note.canonicalJSON, as: UTF8.self)
        XCTAssertTrue(json.hasPrefix("{\"actor\":\"admin:uid=1,gid=2\",\"at\":"), json)
        XCTAssertTrue(json.contains("\"firstKept\":42") && json.contains("\"type\":\"axis-journal-compaction\""), json)
        XCTAssertFalse(json.contains("signature"), "the signature is over the rest")
    }
}
