import XCTest
@testable import Axis

/// documentAccepted body version 2 (the optional edXML summary), and what the fold derives from it:
/// the edXML DocumentId index, the sender's own status on its document's trace, the VDXP system ids.
final class EdxmlRecordTests: XCTestCase {
    let g22 = try! AgencyCode("000.00.00.G22")
    let h29 = try! AgencyCode("000.00.00.H29")
    let h41 = try! AgencyCode("000.00.00.H41")
    let t0 = Timestamp(millis: 1_700_000_000_000)

    func doc(_ n: UInt64) -> DocumentID { DocumentID(high: n, low: 7) }

    func summary(_ documentID: String) -> EdxmlSummary {
        EdxmlSummary(documentID: documentID, codeNumber: "7816", codeNotation: "VPCP-TTĐT", promulgationDate: "2024/03/05",
                     signaturePresent: true)
    }

    func accepted(_ n: UInt64, from sender: AgencyCode? = nil, to recipients: [AgencyCode]? = nil,
                  type: DocumentAccepted.MessageType = .document, statusCode: String = "", subject: String = "",
                  refersTo: [DocumentID] = [], edxml: EdxmlSummary?) -> DocumentAccepted {
        DocumentAccepted(id: doc(n), sender: sender ?? g22, recipients: recipients ?? [h29], senderDocumentID: "edxml:\(n)",
                         subject: subject, messageType: type, businessType: refersTo.isEmpty ? .new : .revoke, refersTo: refersTo,
                         statusCode: statusCode, contentType: "application/xml",
                         payload: PayloadRef(sha256: Digest256(w0: n, w1: 1, w2: 2, w3: 3), length: 100 + n, segment: 1, offset: n * 200),
                         signerSubject: "", ingress: .vdxp, submittedBy: try! SystemID("sys-1"),
                         acceptedAt: Timestamp(millis: t0.millis + Int64(n)), edxml: edxml)
    }

    // MARK: - Codec

    func testDocumentAcceptedWithEdxmlSummaryRoundTrips() throws {
        let record = JournalRecord.documentAccepted(accepted(1, edxml: summary("000.00.00.G22,2024/03/05,7816/VPCP-TTĐT")))
        let body = record.encoded()
        XCTAssertEqual(body[0], 2, "documentAccepted is written as body version 2")
        XCTAssertEqual(try JournalRecord.decode(kind: .documentAccepted, body: body), record)
        let unsigned = JournalRecord.documentAccepted(accepted(2, edxml: EdxmlSummary()))
        XCTAssertEqual(try JournalRecord.decode(kind: .documentAccepted, body: unsigned.encoded()), unsigned)
    }

    func testDocumentAcceptedWithoutSummaryRoundTrips() throws {
        let record = JournalRecord.documentAccepted(accepted(1, edxml: nil))
        let body = record.encoded()
        XCTAssertEqual(body.last, 0, "an absent optional is written as one 0 byte")
        XCTAssertEqual(try JournalRecord.decode(kind: .documentAccepted, body: body), record)
    }

    /// What an axisd before edXML wrote: version 1, ending at acceptedAt.
    func versionOneBody(_ record: DocumentAccepted) -> [UInt8] {
        precondition(record.edxml == nil)
        var body = JournalRecord.documentAccepted(record).encoded()
        XCTAssertEqual(body.removeLast(), 0)
        body[0] = 1
        return body
    }

    func testVersionOneBodyDecodesWithoutSummary() throws {
        let record = accepted(3, edxml: nil)
        let decoded = try JournalRecord.decode(kind: .documentAccepted, body: versionOneBody(record))
        XCTAssertEqual(decoded, .documentAccepted(record))
        guard case .documentAccepted(let d) = decoded else { return XCTFail("\(decoded)") }
        XCTAssertNil(d.edxml)
    }

    func testVersionOneBodyWithTheVersionTwoFieldIsRefused() {
        var body = JournalRecord.documentAccepted(accepted(3, edxml: nil)).encoded()
        body[0] = 1
        XCTAssertThrowsError(try JournalRecord.decode(kind: .documentAccepted, body: body)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .malformed)
        }
    }

    func testVersionThreeBodyTellsTheOperatorToUpgrade() {
        var body = JournalRecord.documentAccepted(accepted(4, edxml: summary("D"))).encoded()
        body[0] = 3
        XCTAssertThrowsError(try JournalRecord.decode(kind: .documentAccepted, body: body)) { error in
            XCTAssertEqual((error as? AxisError)?.code, .malformed)
            XCTAssertTrue("\(error)".contains("upgrade axisd"), "\(error)")
        }
        body[0] = 0
        XCTAssertThrowsError(try JournalRecord.decode(kind: .documentAccepted, body: body), "version 0 never existed")
    }

    func testOtherRecordKindsStillWriteVersionOne() throws {
        let records: [JournalRecord] = [
            .deliveryLeased(DeliveryLeased(document: doc(1), recipient: h29, at: t0, until: t0, actor: .agency(h29))),
            .deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: h29, at: t0, actor: .agency(h29))),
            .recipientStatus(RecipientStatus(document: doc(1), recipient: h29, at: t0, code: "03", description: "ok")),
            .agencyChanged(AgencyChanged(agency: AgencyEntry(code: g22, name: "G22"), at: t0, actor: .system)),
            .systemChanged(SystemChanged(system: SystemEntry(id: try SystemID("s"), name: "s", vdxpSystemID: "v"), at: t0,
                                         actor: .system)),
            .checkpoint(Checkpoint(at: t0, note: "x")),
        ]
        for record in records {
            let body = record.encoded()
            XCTAssertEqual(body[0], 1, "\(record.kind)")
            XCTAssertEqual(try JournalRecord.decode(kind: record.kind, body: body), record)
            var two = body
            two[0] = 2
            XCTAssertThrowsError(try JournalRecord.decode(kind: record.kind, body: two), "\(record.kind) has no version 2") { error in
                XCTAssertTrue("\(error)".contains("upgrade axisd"), "\(error)")
            }
        }
    }

    // MARK: - The fold

    func fold(_ records: [JournalRecord], into state: QueueState = QueueState()) -> QueueState {
        var state = state
        for record in records { state.apply(record, sequence: state.lastSequence + 1) }
        return state
    }

    func replay(_ records: [JournalRecord]) throws -> QueueState {
        var state = QueueState()
        for (i, record) in records.enumerated() {
            state.apply(try JournalRecord.decode(kind: record.kind, body: record.encoded()), sequence: UInt64(i + 1))
        }
        return state
    }

    func testEdxmlDocumentsIndexesDocumentsOnlyAndIsEqualAfterReplay() throws {
        let records: [JournalRecord] = [
            .documentAccepted(accepted(1, edxml: summary("D"))),
            .documentAccepted(accepted(2, from: h29, to: [g22], edxml: summary("E"))),
            .documentAccepted(accepted(3, edxml: summary("D"))),
            // A status whose summary names D (statuses normally carry none) is not a document named D.
            .documentAccepted(accepted(4, from: h29, to: [g22], type: .status, statusCode: "03", edxml: summary("D"))),
            // Native documents and edXML without a DocumentId are not indexed.
            .documentAccepted(accepted(5, edxml: nil)),
            .documentAccepted(accepted(6, edxml: summary(""))),
        ]
        let state = fold(records)
        XCTAssertEqual(state.edxmlDocuments, ["D": [doc(1), doc(3)], "E": [doc(2)]])
        XCTAssertEqual(state.anomalies, 0)
        XCTAssertEqual(try replay(records), state)
        XCTAssertTrue(state.documents[doc(1)]?.events.first?.detail.contains("edXML DocumentId D") == true,
                      "\(state.documents[doc(1)]?.events.first?.detail ?? "")")
    }

    func compaction(firstKept: UInt64, newest: DocumentID?) -> JournalRecord {
        .compaction(CompactionNote(at: t0, firstKept: firstKept, boundaryChain: Digest256(w0: 9, w1: 0, w2: 0, w3: 0),
                                   journalID: [UInt8](repeating: 1, count: 16), removedSegments: ["a.axj"], removedRecords: firstKept - 1,
                                   removedDocuments: 2, newestRemovedDocument: newest, retentionSeconds: 3600, resumesAt: [],
                                   actor: .system, reason: "retention"))
    }

    func testCompactionThatRemovesADocumentCleansTheIndex() throws {
        let kept: [JournalRecord] = [.documentAccepted(accepted(4, edxml: summary("D")))]
        let records: [JournalRecord] = [
            .documentAccepted(accepted(1, edxml: summary("D"))),
            .documentAccepted(accepted(2, edxml: summary("E"))),
            .deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: h29, at: t0, actor: .agency(h29))),
            .deliveryAcknowledged(DeliveryAcknowledged(document: doc(2), recipient: h29, at: t0, actor: .agency(h29))),
        ] + kept
        var state = fold(records)
        XCTAssertEqual(state.edxmlDocuments, ["D": [doc(1), doc(4)], "E": [doc(2)]])
        state = fold([compaction(firstKept: 5, newest: doc(2))], into: state)
        XCTAssertEqual(state.edxmlDocuments, ["D": [doc(4)]], "the removed documents leave the index; E goes entirely")
        XCTAssertEqual(Set(state.documents.keys), [doc(4)])
        XCTAssertEqual(state.anomalies, 0)

        // What is left, replayed from the first kept record, folds to the same index.
        var rest = QueueState()
        rest.apply(kept[0], sequence: 5)
        rest.apply(compaction(firstKept: 5, newest: doc(2)), sequence: 6)
        XCTAssertEqual(rest.edxmlDocuments, state.edxmlDocuments)
        XCTAssertEqual(rest.bySenderDocument, state.bySenderDocument)
        XCTAssertEqual(rest.deliveries, state.deliveries)
    }

    func testCompactionThatRemovesEveryDocumentEmptiesTheIndex() {
        var state = fold([.documentAccepted(accepted(1, edxml: summary("D")))])
        state = fold([compaction(firstKept: 2, newest: doc(1))], into: state)
        XCTAssertEqual(state.edxmlDocuments, [:])
        XCTAssertEqual(state.documents.count, 0)
    }

    func testStatusFromTheOriginalsSenderTracesStatusOnTheOriginal() throws {
        let state = fold([
            .documentAccepted(accepted(1, to: [h29, h41], edxml: summary("D"))),
            .documentAccepted(accepted(2, to: [h29], type: .status, statusCode: "13", subject: "thu hồi", refersTo: [doc(1)],
                                       edxml: EdxmlSummary())),
        ])
        let event = try XCTUnwrap(state.documents[doc(1)]?.events.last)
        XCTAssertEqual(event.event, "status")
        XCTAssertEqual(event.recipient, h29)
        XCTAssertEqual(event.actor, .agency(g22))
        XCTAssertEqual(event.sequence, 2)
        XCTAssertTrue(event.detail.hasPrefix("13 thu hồi"), event.detail)
        XCTAssertTrue(event.detail.contains(doc(2).hex), event.detail)
        XCTAssertEqual(state.delivery(doc(1), h29)?.lastStatus, "", "the sender's status is not the recipient's")
        XCTAssertEqual(state.anomalies, 0)
    }

    func testStatusFromARecipientIsNotTracedByItsAcceptance() {
        let state = fold([
            .documentAccepted(accepted(1, to: [h29], edxml: summary("D"))),
            .documentAccepted(accepted(2, from: h29, to: [g22], type: .status, statusCode: "03", refersTo: [doc(1)], edxml: EdxmlSummary())),
        ])
        XCTAssertEqual(state.documents[doc(1)]?.events.map(\.event), ["accepted"], "its recipientStatus record traces it")
    }

    func testDocumentReferringToAnEarlierOneTracesReferenced() {
        let state = fold([
            .documentAccepted(accepted(1, to: [h29], edxml: summary("D"))),
            .documentAccepted(accepted(2, to: [h29], refersTo: [doc(1)], edxml: summary("D"))),
        ])
        XCTAssertEqual(state.documents[doc(1)]?.events.map(\.event), ["accepted", "referenced"])
        XCTAssertEqual(state.edxmlDocuments["D"], [doc(1), doc(2)])
    }

    // MARK: - systemsByVdxpID

    func system(_ id: SystemID, vdxp: String, enabled: Bool = true) -> JournalRecord {
        .systemChanged(SystemChanged(system: SystemEntry(id: id, name: id.rawValue, agencies: [g22], vdxpSystemID: vdxp,
                                                         vdxpSecret: "secret", enabled: enabled), at: t0, actor: .system))
    }

    func testSystemsByVdxpIDFollowsSystemChanged() throws {
        let a = try SystemID("sys-a")
        let b = try SystemID("sys-b")
        var state = fold([system(a, vdxp: "vdxp-a"), system(b, vdxp: "")])
        XCTAssertEqual(state.systemsByVdxpID, ["vdxp-a": a], "a system without a VDXP id is not indexed")
        state = fold([system(a, vdxp: "vdxp-a2")], into: state)
        XCTAssertEqual(state.systemsByVdxpID, ["vdxp-a2": a], "the old id goes when it changes")
        state = fold([system(b, vdxp: "vdxp-b")], into: state)
        XCTAssertEqual(state.systemsByVdxpID, ["vdxp-a2": a, "vdxp-b": b])
        state = fold([system(a, vdxp: "vdxp-a2", enabled: false)], into: state)
        XCTAssertEqual(state.systemsByVdxpID, ["vdxp-b": b], "a disabled system is not indexed")
        state = fold([system(a, vdxp: "vdxp-a2")], into: state)
        XCTAssertEqual(state.systemsByVdxpID, ["vdxp-a2": a, "vdxp-b": b], "enabling it again restores it")
        state = fold([system(b, vdxp: "")], into: state)
        XCTAssertEqual(state.systemsByVdxpID, ["vdxp-a2": a], "clearing the id removes it")
        XCTAssertEqual(state.anomalies, 0)
    }
}
