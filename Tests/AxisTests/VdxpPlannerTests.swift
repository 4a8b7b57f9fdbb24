import XCTest
@testable import Axis

/// The VDXP API's pure decisions: `VdxpSendPlanner.plan` (sendEdoc routing), `fileBytes` (the SDK's
/// CRLF trailer and unpadded hash), `statusRecords` (updateStatus), `registration` (registerAgency)
/// and `waiting` (the received lists and counts). Every state is built by folding records.
final class VdxpPlannerTests: XCTestCase {
    let g22 = try! AgencyCode("000.00.00.G22")
    let g23 = try! AgencyCode("000.00.00.G23")
    let h29 = try! AgencyCode("000.00.00.H29")
    let h41 = try! AgencyCode("000.00.00.H41")
    let x99 = try! AgencyCode("000.00.00.X99")
    let sys1 = try! SystemID("sys-1")
    let sys2 = try! SystemID("sys-2")
    let t0 = Timestamp(millis: 1_700_000_000_000)
    let sha = SHA256Hasher.digest(Array("the edXML bytes".utf8))

    // MARK: - Fixtures

    func doc(_ n: UInt64) -> DocumentID { DocumentID(high: n, low: 0) }

    var system1: SystemEntry { SystemEntry(id: sys1, name: "one", agencies: [g22], vdxpSystemID: "vdxp-1", vdxpSecret: "s1") }

    /// G22 (hosted by sys-1), H29 and H41 (hosted by sys-2), X99 disabled; the two systems.
    func directory() -> QueueState {
        var state = QueueState()
        var sequence: UInt64 = 0
        func add(_ record: JournalRecord) {
            sequence += 1
            state.apply(record, sequence: sequence)
        }
        add(.agencyChanged(AgencyChanged(agency: AgencyEntry(code: g22, name: "G22", system: sys1), at: t0, actor: .system)))
        add(.agencyChanged(AgencyChanged(agency: AgencyEntry(code: h29, name: "H29", system: sys2), at: t0, actor: .system)))
        add(.agencyChanged(AgencyChanged(agency: AgencyEntry(code: h41, name: "H41", system: sys2), at: t0, actor: .system)))
        add(.agencyChanged(AgencyChanged(agency: AgencyEntry(code: x99, name: "X99", enabled: false), at: t0, actor: .system)))
        add(.systemChanged(SystemChanged(system: system1, at: t0, actor: .system)))
        add(.systemChanged(SystemChanged(system: SystemEntry(id: sys2, name: "two", agencies: [h29, h41], vdxpSystemID: "vdxp-2"),
                                         at: t0, actor: .system)))
        return state
    }

    /// Applies `records` after what `state` holds, in sequence.
    func applying(_ records: [JournalRecord], to state: QueueState) -> QueueState {
        var state = state
        for record in records { state.apply(record, sequence: state.lastSequence + 1) }
        return state
    }

    func accepted(_ n: UInt64, from sender: AgencyCode, to recipients: [AgencyCode], edxmlID: String = "",
                  type: DocumentAccepted.MessageType = .document, statusCode: String = "",
                  refersTo: [DocumentID] = []) -> JournalRecord {
        .documentAccepted(DocumentAccepted(
            id: doc(n), sender: sender, recipients: recipients, senderDocumentID: "edxml:\(n)", subject: "subject \(n)",
            messageType: type, refersTo: refersTo, statusCode: statusCode, contentType: "application/xml",
            payload: PayloadRef(sha256: .zero, length: 10, segment: 1, offset: 0), ingress: .vdxp,
            acceptedAt: Timestamp(millis: t0.millis + Int64(n)),
            edxml: EdxmlSummary(documentID: edxmlID, codeNumber: "\(n)", codeNotation: "CV", promulgationDate: "2024/01/01",
                                signaturePresent: true)))
    }

    func documentFacts(from: String? = nil, to: [String]? = nil, documentID: String = "000.00.00.G22,2024/01/01,1/CV",
                       businessDocType: UInt8 = 0, businessDocumentID: String = "",
                       responseFor: [EdxmlFacts.Reference] = [], signed: Bool = true) -> EdxmlFacts {
        EdxmlFacts(kind: .document, from: from ?? g22.rawValue, to: to ?? [h29.rawValue], documentID: documentID, codeNumber: "1",
                   codeNotation: "CV", promulgationDate: "2024/01/01", subject: "Công văn", responseFor: responseFor,
                   statusCode: "", statusDescription: "", businessDocType: businessDocType,
                   businessDocumentID: businessDocumentID, businessReason: "", receivers: [], signaturePresent: signed)
    }

    func statusFacts(from: AgencyCode, about reference: EdxmlFacts.Reference, code: String = "03",
                     signed: Bool = false) -> EdxmlFacts {
        EdxmlFacts(kind: .status, from: from.rawValue, to: [], documentID: "", codeNumber: "", codeNotation: "",
                   promulgationDate: "", subject: "", responseFor: [reference], statusCode: code,
                   statusDescription: "Đã tiếp nhận", businessDocType: 0, businessDocumentID: "", businessReason: "",
                   receivers: [], signaturePresent: signed)
    }

    func plan(_ facts: EdxmlFacts, from: String? = nil, to: String? = nil, messageType: String? = nil, system: SystemEntry? = nil,
              policy: AxisdConfiguration.VDXP.SignaturePolicy = .requirePresent,
              state: QueueState? = nil) -> Result<Submission, VdxpFailure> {
        VdxpSendPlanner.plan(VdxpSendPlanner.Request(facts: facts, sha256: sha, from: from, to: to, messageType: messageType,
                                                     system: system ?? system1, signaturePolicy: policy),
                             state: state ?? directory())
    }

    func submission(_ result: Result<Submission, VdxpFailure>, file: StaticString = #filePath,
                    line: UInt = #line) -> Submission? {
        switch result {
        case .success(let submission): return submission
        case .failure(let failure):
            XCTFail("refused: \(failure.code) \(failure.message)", file: file, line: line)
            return nil
        }
    }

    func assertRefused(_ result: Result<Submission, VdxpFailure>, _ status: HTTPStatus, _ code: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        switch result {
        case .success(let submission): XCTFail("accepted, expected \(code): \(submission)", file: file, line: line)
        case .failure(let failure):
            XCTAssertEqual(failure.code, code, failure.message, file: file, line: line)
            XCTAssertEqual(failure.status, status, failure.message, file: file, line: line)
            XCTAssertFalse(failure.message.isEmpty, file: file, line: line)
        }
    }

    // MARK: - Sender

    func testSenderComesFromTheEdxmlWhenFromIsAbsent() throws {
        let s = try XCTUnwrap(submission(plan(documentFacts())))
        XCTAssertEqual(s.sender, g22)
        XCTAssertEqual(s.recipients, [h29])
        XCTAssertEqual(s.messageType, .document)
        XCTAssertEqual(s.businessType, .new)
        XCTAssertEqual(s.refersTo, [])
        XCTAssertEqual(s.subject, "Công văn")
        XCTAssertEqual(s.contentType, "application/xml")
        XCTAssertNil(s.statusReport)
        XCTAssertEqual(s.edxml, EdxmlSummary(documentID: "000.00.00.G22,2024/01/01,1/CV", codeNumber: "1", codeNotation: "CV",
                                             promulgationDate: "2024/01/01", signaturePresent: true))
        XCTAssertEqual(try XCTUnwrap(submission(plan(documentFacts(), from: ""))).sender, g22, "an empty from is absent")
    }

    func testFromThatContradictsTheFileIsRefused() {
        assertRefused(plan(documentFacts(), from: h29.rawValue), .badRequest, "from_mismatch")
        assertRefused(plan(documentFacts(), from: "\"\(h29.rawValue)\""), .badRequest, "from_mismatch")
    }

    func testQuotedAndBareFromAreAccepted() throws {
        XCTAssertEqual(try XCTUnwrap(submission(plan(documentFacts(), from: "\"\(g22.rawValue)\""))).sender, g22)
        XCTAssertEqual(try XCTUnwrap(submission(plan(documentFacts(), from: g22.rawValue))).sender, g22)
    }

    func testSenderTheSystemDoesNotHostIsForbidden() {
        assertRefused(plan(documentFacts(from: h29.rawValue, to: [g22.rawValue])), .forbidden, "not_your_agency")
        assertRefused(plan(documentFacts(from: h29.rawValue, to: [g22.rawValue]), from: h29.rawValue), .forbidden, "not_your_agency")
    }

    // MARK: - Recipients

    func testToAsJSONArrayOverridesTheEdxmlTo() throws {
        let s = try XCTUnwrap(submission(plan(documentFacts(to: [x99.rawValue]), to: "[\"\(h29.rawValue)\",\"\(h41.rawValue)\"]")))
        XCTAssertEqual(s.recipients, [h29, h41])
    }

    func testToAsQuotedCommaSeparatedString() throws {
        let s = try XCTUnwrap(submission(plan(documentFacts(), to: "\"\(h41.rawValue),\(h29.rawValue)\"")))
        XCTAssertEqual(s.recipients, [h41, h29])
    }

    func testAbsentToFallsBackToTheEdxmlTo() throws {
        let facts = documentFacts(to: [h41.rawValue, h29.rawValue])
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts))).recipients, [h41, h29])
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, to: ""))).recipients, [h41, h29], "an empty to is absent")
    }

    func testUnknownOrDisabledRecipientIsUnprocessable() {
        assertRefused(plan(documentFacts(to: [h29.rawValue, "000.00.00.Z00"])), .unprocessableContent, "unknown_recipient")
        assertRefused(plan(documentFacts(to: [x99.rawValue])), .unprocessableContent, "unknown_recipient")
        assertRefused(plan(documentFacts(), to: "[\"\(x99.rawValue)\"]"), .unprocessableContent, "unknown_recipient")
    }

    func testRecipientThatIsNotAnAgencyCodeIsRefused() {
        assertRefused(plan(documentFacts(to: ["not a code"])), .badRequest, "invalid_to")
    }

    func testDuplicateRecipientsAreCollapsedInOrder() throws {
        let s = try XCTUnwrap(submission(plan(documentFacts(to: [h29.rawValue, h41.rawValue, h29.rawValue]))))
        XCTAssertEqual(s.recipients, [h29, h41])
    }

    // MARK: - Status routing

    func testStatusGoesToResponseForOrganId() throws {
        var state = directory()
        state = applying([accepted(1, from: h29, to: [g22], edxmlID: "H29-D1")], to: state)
        let facts = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "H29-D1"))
        let s = try XCTUnwrap(submission(plan(facts, state: state)))
        XCTAssertEqual(s.recipients, [h29])
        XCTAssertEqual(s.messageType, .status)
        XCTAssertEqual(s.statusCode, "03")
        XCTAssertEqual(s.subject, "Đã tiếp nhận")
        XCTAssertEqual(s.edxml?.documentID, "")
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, to: h29.rawValue, state: state))).recipients, [h29],
                       "a to naming the same agency is accepted")
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, to: "[\"\(h29.rawValue)\"]", state: state))).recipients, [h29])
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, to: "\"\(h29.rawValue)\"", state: state))).recipients, [h29])
    }

    func testStatusWithToNamingAnotherAgencyIsRefused() {
        let facts = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"))
        assertRefused(plan(facts, to: h41.rawValue), .badRequest, "to_mismatch")
        assertRefused(plan(facts, to: "[\"\(h29.rawValue)\",\"\(h41.rawValue)\"]"), .badRequest, "to_mismatch")
    }

    func testStatusToUnknownAgencyIsUnprocessable() {
        let facts = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: "000.00.00.Z00", documentID: "D"))
        assertRefused(plan(facts), .unprocessableContent, "unknown_recipient")
    }

    // MARK: - messagetype

    func testMessageTypeMustMatchTheFile() {
        let status = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"))
        assertRefused(plan(status, messageType: "edoc"), .badRequest, "messagetype_mismatch")
        assertRefused(plan(documentFacts(), messageType: "status"), .badRequest, "messagetype_mismatch")
        assertRefused(plan(documentFacts(), messageType: "fax"), .badRequest, "invalid_messagetype")
        assertRefused(plan(status, messageType: "fax"), .badRequest, "invalid_messagetype")
    }

    func testMatchingMessageTypeIsAcceptedInAnyCase() {
        let status = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"))
        XCTAssertNotNil(submission(plan(status, messageType: "status")))
        XCTAssertNotNil(submission(plan(status, messageType: "STATUS")))
        XCTAssertNotNil(submission(plan(documentFacts(), messageType: "edoc")))
        XCTAssertNotNil(submission(plan(documentFacts(), messageType: "eDoc")))
        XCTAssertNotNil(submission(plan(documentFacts(), messageType: "")), "an empty messagetype is absent")
    }

    // MARK: - Signature policy

    func testRequirePresentRefusesAnUnsignedDocument() {
        assertRefused(plan(documentFacts(signed: false), policy: .requirePresent), .unprocessableContent, "signature_missing")
    }

    func testRequirePresentDoesNotApplyToStatuses() throws {
        let status = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"), signed: false)
        let s = try XCTUnwrap(submission(plan(status, policy: .requirePresent)))
        XCTAssertEqual(s.edxml?.signaturePresent, false)
    }

    func testIgnorePolicyAcceptsAnUnsignedDocument() throws {
        let s = try XCTUnwrap(submission(plan(documentFacts(signed: false), policy: .ignore)))
        XCTAssertEqual(s.edxml?.signaturePresent, false)
    }

    func testIdempotencyKeyAndVerification() throws {
        let s = try XCTUnwrap(submission(plan(documentFacts())))
        XCTAssertEqual(s.senderDocumentID, "edxml:" + sha.hex)
        XCTAssertEqual(s.senderDocumentID.count, 6 + 64)
        XCTAssertEqual(s.verification, .edxmlEnvelope)
        XCTAssertEqual(s.signature, [])
        let reference = EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D")
        let status = try XCTUnwrap(submission(plan(statusFacts(from: g22, about: reference))))
        XCTAssertEqual(status.senderDocumentID, "edxml:" + sha.hex)
        XCTAssertEqual(status.verification, .edxmlEnvelope)
        XCTAssertEqual(status.signature, [])
    }

    // MARK: - Links

    /// doc1, doc2: G22's documents named D (to H29); doc3: H29's document also named D; doc4: a G22
    /// status whose summary (wrongly) carries D; doc5: G22's document named E.
    func linkState() -> QueueState {
        applying([
            accepted(1, from: g22, to: [h29], edxmlID: "D"),
            accepted(2, from: g22, to: [h29, h41], edxmlID: "D"),
            accepted(3, from: h29, to: [g22], edxmlID: "D"),
            accepted(4, from: g22, to: [h29], edxmlID: "D", type: .status, statusCode: "03"),
            accepted(5, from: g22, to: [h29], edxmlID: "E"),
        ], to: directory())
    }

    func testRevocationLinksToTheSendersEarlierDocumentsNamedInBussiness() throws {
        let facts = documentFacts(documentID: "F", businessDocType: 1, businessDocumentID: "D")
        let s = try XCTUnwrap(submission(plan(facts, state: linkState())))
        XCTAssertEqual(s.businessType, .revoke)
        XCTAssertEqual(s.refersTo, [doc(1), doc(2)], "not H29's document named D, nor the status message")
    }

    func testRevocationWithoutBussinessDocumentIdUsesTheHeadersDocumentId() throws {
        let facts = documentFacts(documentID: "D", businessDocType: 1)
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, state: linkState()))).refersTo, [doc(1), doc(2)])
        let update = documentFacts(documentID: "E", businessDocType: 2)
        let s = try XCTUnwrap(submission(plan(update, state: linkState())))
        XCTAssertEqual(s.businessType, .update)
        XCTAssertEqual(s.refersTo, [doc(5)])
    }

    func testRevocationOfAnotherSendersDocumentLinksNothing() throws {
        var system = system1
        system.agencies = [g22, h41]
        let facts = documentFacts(from: h41.rawValue, to: [h29.rawValue], businessDocType: 1, businessDocumentID: "D")
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, system: system, state: linkState()))).refersTo, [])
    }

    func testNewDocumentDoesNotLinkByItsDocumentId() throws {
        XCTAssertEqual(try XCTUnwrap(submission(plan(documentFacts(documentID: "D"), state: linkState()))).refersTo, [])
    }

    func testResponseForInADocumentLinksToTheNamedAgencysDocument() throws {
        let facts = documentFacts(responseFor: [EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D")])
        XCTAssertEqual(try XCTUnwrap(submission(plan(facts, state: linkState()))).refersTo, [doc(3)])
        let both = documentFacts(documentID: "D", businessDocType: 3,
                                 responseFor: [EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"),
                                               EdxmlFacts.Reference(organID: g22.rawValue, documentID: "D")])
        let s = try XCTUnwrap(submission(plan(both, state: linkState())))
        XCTAssertEqual(s.businessType, .replace)
        XCTAssertEqual(s.refersTo, [doc(1), doc(2), doc(3)], "each linked once")
    }

    func testStatusReportsOnTheLatestMatchingDocumentAddressedToTheReporter() throws {
        // G22 sends D to H29, then D again to H41 only: H29's status is about the first.
        let state = applying([
            accepted(1, from: g22, to: [h29], edxmlID: "D"),
            accepted(2, from: g22, to: [h29], edxmlID: "D"),
            accepted(3, from: g22, to: [h41], edxmlID: "D"),
            accepted(4, from: h41, to: [h29], edxmlID: "D"),
        ], to: directory())
        var system = system1
        system.agencies = [h29]
        let facts = statusFacts(from: h29, about: EdxmlFacts.Reference(organID: g22.rawValue, documentID: "D"))
        let s = try XCTUnwrap(submission(plan(facts, system: system, state: state)))
        XCTAssertEqual(s.recipients, [g22])
        XCTAssertEqual(s.refersTo, [doc(1), doc(2), doc(3)])
        XCTAssertEqual(s.statusReport, Submission.StatusReport(document: doc(2), recipient: h29, description: "Đã tiếp nhận"))
    }

    func testStatusAboutADocumentNeverAddressedToTheReporterHasNoReport() throws {
        let state = applying([accepted(1, from: g22, to: [h41], edxmlID: "D")], to: directory())
        var system = system1
        system.agencies = [h29]
        let facts = statusFacts(from: h29, about: EdxmlFacts.Reference(organID: g22.rawValue, documentID: "D"))
        let s = try XCTUnwrap(submission(plan(facts, system: system, state: state)))
        XCTAssertEqual(s.refersTo, [doc(1)])
        XCTAssertNil(s.statusReport)
    }

    func testStatus13FromTheOriginalSenderRefersToItsDocumentWithoutAReport() throws {
        let state = applying([
            accepted(1, from: g22, to: [h29], edxmlID: "D"),
            accepted(2, from: h29, to: [g22], edxmlID: "D"),
        ], to: directory())
        let facts = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"), code: "13")
        let s = try XCTUnwrap(submission(plan(facts, state: state)))
        XCTAssertEqual(s.recipients, [h29])
        XCTAssertEqual(s.statusCode, "13")
        XCTAssertEqual(s.refersTo, [doc(1)], "its own document, not H29's of the same DocumentId")
        XCTAssertNil(s.statusReport)
    }

    func testInvalidStatusCodeIsRefused() {
        let facts = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"), code: "99")
        assertRefused(plan(facts), .badRequest, "invalid_status")
        var noTarget = facts
        noTarget.statusCode = "03"
        noTarget.responseFor = []
        assertRefused(plan(noTarget), .badRequest, "invalid_status")
    }

    func testEveryEdxmlStatusCodeIsAccepted() {
        for code in ["01", "02", "03", "04", "05", "06", "13", "15", "16"] {
            let facts = statusFacts(from: g22, about: EdxmlFacts.Reference(organID: h29.rawValue, documentID: "D"), code: code)
            XCTAssertEqual(submission(plan(facts))?.statusCode, code)
        }
    }

    func testBusinessDocTypeOutsideZeroToThreeIsRefused() {
        assertRefused(plan(documentFacts(businessDocType: 7)), .badRequest, "invalid_business_type")
    }

    // MARK: - fileBytes

    /// A file whose SHA-256 has a byte below 0x10, so the SDK's unpadded hex differs from the padded one.
    func fileWithShortHexByte() -> [UInt8] {
        for n in 0..<1000 {
            let bytes = Array("<edXML>\(n)</edXML>".utf8)
            let digest = SHA256Hasher.digest(bytes)
            if VdxpFileHash.unpaddedHex(digest) != digest.hex { return bytes }
        }
        XCTFail("no candidate")
        return []
    }

    func testFileBytesStripsTheCRLFTrailerAndMatchesTheUnpaddedHash() throws {
        let file = fileWithShortHexByte()
        let digest = SHA256Hasher.digest(file)
        XCTAssertLessThan(VdxpFileHash.unpaddedHex(digest).count, 64)
        for hash in [VdxpFileHash.unpaddedHex(digest), digest.hex, digest.hex.uppercased()] {
            let found = try VdxpAPI.fileBytes(file + [0x0D, 0x0A], hashFile: hash).get()
            XCTAssertEqual(found.bytes, file)
            XCTAssertEqual(found.sha256, digest)
        }
    }

    func testFileBytesWithoutTrailerWhoseHashMatchesTheWhole() throws {
        let file = fileWithShortHexByte()
        let digest = SHA256Hasher.digest(file)
        let found = try VdxpAPI.fileBytes(file, hashFile: VdxpFileHash.unpaddedHex(digest)).get()
        XCTAssertEqual(found.bytes, file)
        XCTAssertEqual(found.sha256, digest)
    }

    func testFileEndingInCRLFSentWithoutTrailerIsKeptWhole() throws {
        let file = Array("<edXML>text</edXML>\r\n".utf8)
        let digest = SHA256Hasher.digest(file)
        let found = try VdxpAPI.fileBytes(file, hashFile: VdxpFileHash.unpaddedHex(digest)).get()
        XCTAssertEqual(found.bytes, file)
        XCTAssertEqual(found.sha256, digest)
    }

    func testFileBytesHashMismatchIsRefused() {
        let file = Array("<edXML/>".utf8)
        for body in [file, file + [0x0D, 0x0A]] {
            switch VdxpAPI.fileBytes(body, hashFile: SHA256Hasher.digest(Array("other".utf8)).hex) {
            case .success: XCTFail("a hash of other bytes was accepted")
            case .failure(let failure):
                XCTAssertEqual(failure.code, "hash_mismatch")
                XCTAssertEqual(failure.status, .badRequest)
            }
        }
    }

    func testFileBytesWithoutHashFileTakesAFinalCRLFAsTheTrailer() throws {
        let file = Array("<edXML/>".utf8)
        let found = try VdxpAPI.fileBytes(file + [0x0D, 0x0A], hashFile: nil).get()
        XCTAssertEqual(found.bytes, file)
        XCTAssertEqual(found.sha256, SHA256Hasher.digest(file))
        XCTAssertEqual(try VdxpAPI.fileBytes(file, hashFile: nil).get().bytes, file)
        XCTAssertEqual(try VdxpAPI.fileBytes(file + [0x0A], hashFile: nil).get().bytes, file + [0x0A], "a bare LF is not the trailer")
    }

    // MARK: - statusRecords (updateStatus)

    let now = Timestamp(millis: 1_700_000_100_000)
    var leaseUntil: Timestamp { Timestamp(millis: now.millis + 60_000) }

    func inboxState(_ extra: [JournalRecord] = []) -> QueueState {
        applying([accepted(1, from: h29, to: [g22])] + extra, to: directory())
    }

    func statusRecords(_ status: String, _ state: QueueState, recipients: [AgencyCode]? = nil) -> Result<[JournalRecord], VdxpFailure> {
        VdxpAPI.statusRecords(status, document: doc(1), recipients: recipients ?? [g22], system: "vdxp-1", now: now,
                              leaseUntil: leaseUntil, state: state)
    }

    func lease(until: Timestamp) -> JournalRecord {
        .deliveryLeased(DeliveryLeased(document: doc(1), recipient: g22, at: t0, until: until, actor: .agency(g22)))
    }

    func testDoneOnQueuedAcknowledges() throws {
        let records = try statusRecords("done", inboxState()).get()
        XCTAssertEqual(records, [.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: g22, at: now,
                                                                            actor: .agency(g22)))])
        XCTAssertEqual(applying(records, to: inboxState()).delivery(doc(1), g22)?.state, .acknowledged(at: now))
    }

    func testDoneOnAcknowledgedRecordsNothing() throws {
        let state = inboxState([.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: g22, at: t0,
                                                                            actor: .agency(g22)))])
        XCTAssertEqual(try statusRecords("done", state).get(), [])
    }

    func testFailOnLeasedReleases() throws {
        let records = try statusRecords("fail", inboxState([lease(until: leaseUntil)])).get()
        XCTAssertEqual(records, [.deliveryReleased(DeliveryReleased(document: doc(1), recipient: g22, at: now, actor: .agency(g22),
                                                                    reason: "updateStatus fail (VDXP system vdxp-1)"))])
    }

    func testFailOnQueuedRecordsNothing() throws {
        XCTAssertEqual(try statusRecords("fail", inboxState()).get(), [])
    }

    func testProcessingOnLeasedExtendsTheLease() throws {
        let records = try statusRecords("processing", inboxState([lease(until: Timestamp(millis: now.millis + 1))])).get()
        XCTAssertEqual(records, [.deliveryLeased(DeliveryLeased(document: doc(1), recipient: g22, at: now, until: leaseUntil,
                                                                actor: .agency(g22)))])
    }

    func testProcessingOnExpiredIsAConflict() {
        let expired = JournalRecord.deliveryControl(DeliveryControl(action: .expire, document: doc(1), recipient: g22, at: t0,
                                                                    actor: .system, reason: "too old"))
        switch statusRecords("processing", inboxState([expired])) {
        case .success(let records): XCTFail("recorded \(records)")
        case .failure(let failure):
            XCTAssertEqual(failure.status, .conflict)
            XCTAssertEqual(failure.code, "delivery_not_open")
        }
    }

    func testStatusForARecipientNotAddressedIsNotFound() {
        switch statusRecords("done", inboxState(), recipients: [h41]) {
        case .success(let records): XCTFail("recorded \(records)")
        case .failure(let failure): XCTAssertEqual(failure.status, .notFound)
        }
    }

    func testStatusActsOnEveryHostedRecipient() throws {
        let state = applying([accepted(1, from: h29, to: [g22, g23])], to: directory())
        let records = try VdxpAPI.statusRecords("done", document: doc(1), recipients: [g22, g23], system: "vdxp-1", now: now,
                                                leaseUntil: leaseUntil, state: state).get()
        XCTAssertEqual(records.count, 2)
    }

    func testStatusSkipsTheCallersRecipientsThatNoLongerWait() throws {
        // Listed under G23 while G22's delivery is held: done acts on G23 alone instead of failing on G22.
        let held = JournalRecord.deliveryControl(DeliveryControl(action: .hold, document: doc(1), recipient: g22, at: t0,
                                                                 actor: .system, reason: "check"))
        let state = applying([accepted(1, from: h29, to: [g22, g23]), held], to: directory())
        for status in ["done", "processing"] {
            let records = try VdxpAPI.statusRecords(status, document: doc(1), recipients: [g22, g23], system: "vdxp-1", now: now,
                                                    leaseUntil: leaseUntil, state: state).get()
            XCTAssertEqual(records.count, 1, status)
            XCTAssertEqual(applying(records, to: state).delivery(doc(1), g22)?.state, .held, status)
        }
        // Nothing waits any more: the first recipient's answer (a repeated done is OK).
        let done = applying([.deliveryAcknowledged(DeliveryAcknowledged(document: doc(1), recipient: g23, at: t0, actor: .agency(g23))),
                             .deliveryControl(DeliveryControl(action: .delete, document: doc(1), recipient: g22, at: t0, actor: .system,
                                                              reason: "x"))], to: state)
        for order in [[g22, g23], [g23, g22]] {
            XCTAssertEqual(try VdxpAPI.statusRecords("done", document: doc(1), recipients: order, system: "vdxp-1", now: now,
                                                     leaseUntil: leaseUntil, state: done).get(), [])
        }
        XCTAssertThrowsError(try VdxpAPI.statusRecords("processing", document: doc(1), recipients: [g22, g23], system: "vdxp-1",
                                                       now: now, leaseUntil: leaseUntil, state: done).get())
    }

    func testAStatusCanNameANativeDocumentByItsAxisIDOrItsSendersID() throws {
        // Document 7 came through the native API (no edXML): H29 answers it by axis id, then by G22's own id.
        var native = DocumentAccepted(id: doc(7), sender: g22, recipients: [h29], senderDocumentID: "12/VPCP",
                                      payload: PayloadRef(sha256: .zero, length: 1, segment: 1, offset: 0), acceptedAt: t0)
        native.contentType = "text/plain"
        let state = applying([.documentAccepted(native)], to: directory())
        let h29System = try XCTUnwrap(state.systems[sys2])
        for name in [doc(7).hex, "12/VPCP"] {
            let facts = statusFacts(from: h29, about: EdxmlFacts.Reference(organID: g22.rawValue, documentID: name))
            let planned = try VdxpSendPlanner.plan(VdxpSendPlanner.Request(facts: facts, sha256: sha, from: nil, to: nil,
                messageType: "status", system: h29System, signaturePolicy: .requirePresent), state: state).get()
            XCTAssertEqual(planned.refersTo, [doc(7)], name)
            XCTAssertEqual(planned.statusReport?.document, doc(7), name)
        }
        // Another sender's document by axis id is not linked.
        let facts = statusFacts(from: h29, about: EdxmlFacts.Reference(organID: h41.rawValue, documentID: doc(7).hex))
        let planned = try VdxpSendPlanner.plan(VdxpSendPlanner.Request(facts: facts, sha256: sha, from: nil, to: nil,
            messageType: "status", system: h29System, signaturePolicy: .requirePresent), state: state).get()
        XCTAssertEqual(planned.refersTo, [])
    }

    // MARK: - registration (registerAgency)

    let unit = try! AgencyCode("000.00.01.G22")

    func register(_ body: String, caller: VdxpAPI.Caller? = nil, state: QueueState? = nil) -> Result<[JournalRecord], VdxpFailure> {
        let state = state ?? directory()
        return VdxpAPI.registration(Array(body.utf8), caller: caller ?? VdxpAPI.Caller(system: state.systems[sys1]!), now: now,
                                    state: state)
    }

    var goodBody: String {
        #"{"pcode":"000.00.00.G22","code":"000.00.01.G22","name":"Phòng","mail":"p@g22.vn","mobile":"","fax":null}"#
    }

    func assertRefused(_ result: Result<[JournalRecord], VdxpFailure>, _ status: HTTPStatus, _ code: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        switch result {
        case .success(let records): XCTFail("recorded \(records), expected \(code)", file: file, line: line)
        case .failure(let failure):
            XCTAssertEqual(failure.code, code, failure.message, file: file, line: line)
            XCTAssertEqual(failure.status, status, failure.message, file: file, line: line)
        }
    }

    func testRegistrationRefusesADisabledAgencyALoopAndAStaleCaller() throws {
        let base = applying(try register(goodBody).get(), to: directory())
        // Disabled by the administrator: re-registering does not enable it.
        var disabledEntry = try XCTUnwrap(base.agencies[unit])
        disabledEntry.enabled = false
        let disabled = applying([.agencyChanged(AgencyChanged(agency: disabledEntry, at: t0, actor: .admin(uid: 0, gid: 0)))], to: base)
        assertRefused(register(goodBody, state: disabled), .conflict, "agency_disabled")
        // G22 under its own unit would make a loop: the directory's own check refuses it.
        assertRefused(register(#"{"pcode":"000.00.01.G22","code":"000.00.00.G22","name":"loop"}"#, state: base), .badRequest,
                      "invalid_parent")
        // The caller's secret was rotated (or the system disabled) after its request was authenticated.
        var rotated = try XCTUnwrap(base.systems[sys1])
        rotated.vdxpSecret = "new"
        let caller = VdxpAPI.Caller(system: try XCTUnwrap(base.systems[sys1]))
        let after = applying([.systemChanged(SystemChanged(system: rotated, at: t0, actor: .admin(uid: 0, gid: 0)))], to: base)
        assertRefused(register(goodBody, caller: caller, state: after), .unauthorized, "unknown_system")
    }

    func testRegistrationAddsTheAgencyAndHostsIt() throws {
        let records = try register(goodBody).get()
        let reason = "registerAgency by VDXP system vdxp-1"
        var system = system1
        system.agencies = [g22, unit]
        XCTAssertEqual(records, [
            .agencyChanged(AgencyChanged(agency: AgencyEntry(code: unit, parent: g22, name: "Phòng", email: "p@g22.vn", system: sys1),
                                         at: now, actor: .policy("vdxp"), reason: reason)),
            .systemChanged(SystemChanged(system: system, at: now, actor: .policy("vdxp"), reason: reason)),
        ])
        let after = applying(records, to: directory())
        XCTAssertEqual(after.agencies[unit]?.enabled, true)
        XCTAssertEqual(after.systems[sys1]?.agencies, [g22, unit])
        XCTAssertEqual(after.systemsByVdxpID["vdxp-1"], sys1)
    }

    func testRegisteringTheSameAgainRecordsNothing() throws {
        let after = applying(try register(goodBody).get(), to: directory())
        XCTAssertEqual(try register(goodBody, state: after).get(), [])
    }

    func testSloppyJSONIsRefused() {
        for body in [#"{pcode:"000.00.00.G22"}"#, #"{"pcode":"000.00.00.G22",}"#, "", "[]", #"{"code":'x'}"#] {
            assertRefused(register(body), .badRequest, "invalid_agency")
        }
    }

    func testUnknownFieldIsRefused() {
        let body = #"{"pcode":"000.00.00.G22","code":"000.00.01.G22","name":"P","phone":"1"}"#
        assertRefused(register(body), .badRequest, "invalid_agency")
        if case .failure(let failure) = register(body) { XCTAssertTrue(failure.message.contains("phone"), failure.message) }
    }

    func testDuplicateFieldIsRefused() {
        let body = #"{"pcode":"000.00.00.G22","code":"000.00.01.G22","name":"P","name":"Q"}"#
        assertRefused(register(body), .badRequest, "invalid_agency")
        if case .failure(let failure) = register(body) { XCTAssertTrue(failure.message.contains("twice"), failure.message) }
    }

    func testNonStringFieldIsRefused() {
        assertRefused(register(#"{"pcode":"000.00.00.G22","code":"000.00.01.G22","name":5}"#), .badRequest, "invalid_agency")
        assertRefused(register(#"{"pcode":"000.00.00.G22","code":"000.00.01.G22","name":"P","mail":true}"#), .badRequest,
                      "invalid_agency")
    }

    func testMissingOrBadCodesAndNameAreRefused() {
        assertRefused(register(#"{"pcode":"000.00.00.G22","name":"P"}"#), .badRequest, "invalid_agency")
        assertRefused(register(#"{"pcode":"000.00.00.G22","code":"a b","name":"P"}"#), .badRequest, "invalid_agency")
        assertRefused(register(#"{"code":"000.00.01.G22","name":"P"}"#), .badRequest, "invalid_agency")
        assertRefused(register(#"{"pcode":"000.00.00.G22","code":"000.00.01.G22"}"#), .badRequest, "invalid_agency")
    }

    func testParentTheSystemDoesNotHostIsForbidden() {
        assertRefused(register(#"{"pcode":"000.00.00.H29","code":"000.00.01.H29","name":"P"}"#), .forbidden, "not_your_agency")
    }

    func testAgencyHostedByAnotherSystemIsAConflict() {
        assertRefused(register(#"{"pcode":"000.00.00.G22","code":"000.00.00.H41","name":"P"}"#), .conflict, "agency_exists")
    }

    /// Hosting is `SystemEntry.agencies` (what `Caller.hosts` and `APICaller.hosts` read); an agency's
    /// own `system` field may lag behind it (the admin API only warns), so a system that lists the
    /// agency hosts it whatever the entry says.
    func testAgencyListedByAnotherSystemIsAConflictEvenWhenItsEntryNamesNoSystem() {
        let state = applying([.agencyChanged(AgencyChanged(agency: AgencyEntry(code: h41, name: "H41"), at: t0, actor: .system))],
                             to: directory())
        XCTAssertEqual(state.systems[sys2]?.agencies.contains(h41), true, "sys-2 hosts H41")
        assertRefused(register(#"{"pcode":"000.00.00.G22","code":"000.00.00.H41","name":"P"}"#, state: state), .conflict,
                      "agency_exists")
    }

    // MARK: - waiting (received lists and counts)

    /// sys-1 hosts G22 and G23. d1 queued (G22); d2 leased (G23); d3 to both; d4 held; d5 acknowledged;
    /// d6 a status message; d7 deferred; d8 in flight; d9 to someone else.
    func waitingState() -> (QueueState, VdxpAPI.Caller) {
        var system = system1
        system.agencies = [g22, g23]
        let state = applying([
            .agencyChanged(AgencyChanged(agency: AgencyEntry(code: g23, name: "G23", system: sys1), at: t0, actor: .system)),
            .systemChanged(SystemChanged(system: system, at: t0, actor: .system)),
            accepted(1, from: h29, to: [g22]),
            accepted(2, from: h29, to: [g23]),
            accepted(3, from: h29, to: [g22, g23]),
            accepted(4, from: h29, to: [g22]),
            accepted(5, from: h29, to: [g23]),
            accepted(6, from: h29, to: [g22], type: .status, statusCode: "03"),
            accepted(7, from: h41, to: [g23]),
            accepted(8, from: h41, to: [g22]),
            accepted(9, from: h41, to: [h29]),
            .deliveryLeased(DeliveryLeased(document: doc(2), recipient: g23, at: t0, until: leaseUntil, actor: .agency(g23))),
            .deliveryControl(DeliveryControl(action: .hold, document: doc(4), recipient: nil, at: t0, actor: .system, reason: "")),
            .deliveryAcknowledged(DeliveryAcknowledged(document: doc(5), recipient: g23, at: t0, actor: .agency(g23))),
            .deliveryFailed(DeliveryFailed(document: doc(7), recipient: g23, at: t0, attempt: 1, reason: "503", retryAt: leaseUntil)),
            .deliveryAttempted(DeliveryAttempted(document: doc(8), recipient: g22, at: t0, attempt: 1, endpoint: "https://g22")),
        ], to: directory())
        XCTAssertEqual(state.anomalies, 0)
        return (state, VdxpAPI.Caller(system: system))
    }

    func testWaitingListsOpenDeliveriesOnlyOldestFirstAcrossHostedAgencies() {
        let (state, caller) = waitingState()
        let found = VdxpAPI.waiting(for: caller, messageType: .document, limit: 100, in: state)
        XCTAssertEqual(found.items.map(\.document.accepted.id), [doc(1), doc(2), doc(3), doc(7), doc(8)])
        XCTAssertEqual(found.total, 5)
        XCTAssertEqual(found.items.map(\.state.name), ["queued", "leased", "queued", "deferred", "in-flight"])
    }

    func testWaitingListsOneItemPerDocumentForItsFirstHostedRecipient() {
        let (state, caller) = waitingState()
        let items = VdxpAPI.waiting(for: caller, messageType: .document, limit: 100, in: state).items
        XCTAssertEqual(items.filter { $0.document.accepted.id == doc(3) }.map(\.recipient), [g22])
    }

    func testWaitingFiltersByMessageType() {
        let (state, caller) = waitingState()
        let found = VdxpAPI.waiting(for: caller, messageType: .status, limit: 100, in: state)
        XCTAssertEqual(found.items.map(\.document.accepted.id), [doc(6)])
        XCTAssertEqual(found.total, 1)
    }

    func testWaitingLimitCapsItemsWhileTotalCountsAll() {
        let (state, caller) = waitingState()
        let two = VdxpAPI.waiting(for: caller, messageType: .document, limit: 2, in: state)
        XCTAssertEqual(two.items.map(\.document.accepted.id), [doc(1), doc(2)], "the oldest, across both agencies")
        XCTAssertEqual(two.total, 5)
        let none = VdxpAPI.waiting(for: caller, messageType: .document, limit: 0, in: state)
        XCTAssertEqual(none.items.count, 0)
        XCTAssertEqual(none.total, 5)
    }

    func testWaitingListsADocumentWhoseFirstHostedRecipientIsNoLongerWaiting() {
        let (base, caller) = waitingState()
        let state = applying([.deliveryAcknowledged(DeliveryAcknowledged(document: doc(3), recipient: g22, at: now,
                                                                          actor: .agency(g22)))], to: base)
        let items = VdxpAPI.waiting(for: caller, messageType: .document, limit: 100, in: state).items
        XCTAssertEqual(items.filter { $0.document.accepted.id == doc(3) }.map(\.recipient), [g23])
    }
}
