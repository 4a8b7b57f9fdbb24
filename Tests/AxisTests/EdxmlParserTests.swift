import Foundation
import XCTest
@testable import Axis

/// The edXML reader must give the routing facts of every public sample, the same facts however the
/// bytes are cut into chunks, and a clear, positioned refusal for every malformed or hostile input.
final class EdxmlParserTests: XCTestCase {
    static let namespace = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

    // MARK: Samples

    /// `../shared/edxml-samples` beside the repository (three levels above this file), or
    /// `$AXIS_SHARED_DIR/edxml-samples`.
    static func samplesDirectory(_ filePath: String = #filePath) -> URL {
        if let shared = ProcessInfo.processInfo.environment["AXIS_SHARED_DIR"], !shared.isEmpty {
            return URL(fileURLWithPath: shared).appendingPathComponent("edxml-samples")
        }
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent("../shared/edxml-samples").standardizedFileURL
    }

    func sample(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        let path = Self.samplesDirectory().appendingPathComponent(name).path
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "cannot read \(path)", file: file, line: line)
        return [UInt8](data)
    }

    static let malformedSample = "truclienthong-example__edoc.edxml"

    static let officeOfGovernment = "000.00.00.G22"
    static let ngheAn = "000.00.00.H41"
    static let caoBang = "000.00.00.H14"
    static let haiPhong = "000.00.00.G17"
    static let subject = "V/v kết nối, liên thông phần mềm quản lý văn bản"
    static let documentID = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    static let traceDocumentID = "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"

    static func facts(
        kind: EdxmlFacts.Kind = .document, from: String, to: [String] = [], documentID: String = "",
        codeNumber: String = "", codeNotation: String = "", promulgationDate: String = "", subject: String = "",
        responseFor: [EdxmlFacts.Reference] = [], statusCode: String = "", statusDescription: String = "",
        businessDocType: UInt8 = 0, businessDocumentID: String = "", businessReason: String = "",
        receivers: [String] = [], signaturePresent: Bool = false
    ) -> EdxmlFacts {
        EdxmlFacts(kind: kind, from: from, to: to, documentID: documentID, codeNumber: codeNumber,
                   codeNotation: codeNotation, promulgationDate: promulgationDate, subject: subject,
                   responseFor: responseFor, statusCode: statusCode, statusDescription: statusDescription,
                   businessDocType: businessDocType, businessDocumentID: businessDocumentID,
                   businessReason: businessReason, receivers: receivers, signaturePresent: signaturePresent)
    }

    /// The status samples all answer the same document of the Office of the Government.
    static func status(_ code: String, from: String = ngheAn, to: String = officeOfGovernment, _ description: String) -> EdxmlFacts {
        facts(kind: .status, from: from,
              responseFor: [EdxmlFacts.Reference(organID: to, documentID: documentID, code: "7816/VPCP-TTĐT",
                                                 promulgationDate: "2015/09/30")],
              statusCode: code, statusDescription: description)
    }

    /// Expected facts per sample, read off each file by hand (and cross-checked with another XML parser).
    static let expected: [String: EdxmlFacts] = [
        "truclienthong-example__edoc_new.edxml": facts(
            from: "000.00.00.A80", to: ["28.22.H17"], documentID: documentID, codeNumber: "74fass22",
            codeNotation: "VPCP-TTĐT", promulgationDate: "2019/01/16", subject: subject, businessDocType: 0,
            businessDocumentID: traceDocumentID, businessReason: "Văn bản điện tử mới", signaturePresent: true),
        "truclienthong-example__edoc_revocation.edxml": facts(
            from: officeOfGovernment, to: [ngheAn, caoBang, haiPhong], documentID: documentID, codeNumber: "7816",
            codeNotation: "VPCP-TTĐT", promulgationDate: "2018/09/28", subject: subject,
            responseFor: [EdxmlFacts.Reference(organID: caoBang, documentID: "000.00.04.G14,2012/08/06,267/VPCP-TTĐT",
                                               code: "267/VPCP-TTĐT", promulgationDate: "2018/09/28")],
            businessDocType: 1, businessReason: "Thu hồi văn bản điện tử", signaturePresent: true),
        "truclienthong-example__edoc_update.edxml": facts(
            from: officeOfGovernment, to: [ngheAn, caoBang, haiPhong], documentID: documentID, codeNumber: "7816",
            codeNotation: "VPCP-TTĐT", promulgationDate: "2018/09/28", subject: subject, businessDocType: 2,
            businessDocumentID: traceDocumentID, businessReason: "Cập nhật văn bản điện tử",
            receivers: [ngheAn, caoBang], signaturePresent: true),
        "truclienthong-example__status_acceptance_03.edxml": status("03",
            "Văn thư cơ - Phòng Văn thư - Lưu trữ: Tiếp nhận văn bản điện tử, vào sổ văn bản đến của đơn vị"),
        "truclienthong-example__status_cancellation_13.edxml": status("13", from: officeOfGovernment, to: ngheAn,
            "Văn thư yêu cầu lấy lại văn bản điện tử kèm lý do"),
        "truclienthong-example__status_change-acceptance_15.edxml": status("15",
            "Văn thư đồng ý yêu cầu cập nhật, lấy lại"),
        "truclienthong-example__status_finish_06.edxml": status("06",
            "Văn thư: Ban hành văn bản đến, hoàn thành xử lý"),
        "truclienthong-example__status_inbox_01.edxml": status("01",
            "Văn thư - Phòng Văn thư - Lưu trữ: Đã đến - Phần mềm QLVB đã nhận nhưng văn thư chưa xử lý"),
        "truclienthong-example__status_processing_05.edxml": status("05", "Đang xử lý văn bản đến"),
        "truclienthong-example__status_rejection_02.edxml": status("02",
            "Văn thư - Phòng Văn thư - Lưu trữ: Từ chối không tiếp nhận văn bản điện tử"),
    ]

    func testEverySampleIsCovered() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.samplesDirectory().path)
            .filter { $0.hasSuffix(".edxml") }
        XCTAssertEqual(Set(names), Set(Self.expected.keys).union([Self.malformedSample]),
                       "a sample was added or removed: give its expected facts here")
    }

    func testEverySampleGivesItsRoutingFacts() throws {
        for (name, expected) in Self.expected.sorted(by: { $0.key < $1.key }) {
            let facts = try EdxmlReader.parse(sample(name))
            XCTAssertEqual(facts, expected, name)
            // The fields one by one, so a failure says which.
            XCTAssertEqual(facts.kind, expected.kind, name)
            XCTAssertEqual(facts.from, expected.from, name)
            XCTAssertEqual(facts.to, expected.to, name)
            XCTAssertEqual(facts.documentID, expected.documentID, name)
            XCTAssertEqual(facts.codeNumber, expected.codeNumber, name)
            XCTAssertEqual(facts.codeNotation, expected.codeNotation, name)
            XCTAssertEqual(facts.promulgationDate, expected.promulgationDate, name)
            XCTAssertEqual(facts.subject, expected.subject, name)
            XCTAssertEqual(facts.responseFor, expected.responseFor, name)
            XCTAssertEqual(facts.statusCode, expected.statusCode, name)
            XCTAssertEqual(facts.statusDescription, expected.statusDescription, name)
            XCTAssertEqual(facts.businessDocType, expected.businessDocType, name)
            XCTAssertEqual(facts.businessDocumentID, expected.businessDocumentID, name)
            XCTAssertEqual(facts.businessReason, expected.businessReason, name)
            XCTAssertEqual(facts.receivers, expected.receivers, name)
            XCTAssertEqual(facts.signaturePresent, expected.signaturePresent, name)
        }
    }

    /// The malformed sample opens a second <From> on line 8, column 10, inside the <From> of line 7.
    func testRejectsMalformedSampleAtTheNestedFrom() throws {
        let error = try XCTUnwrap(failure(EdxmlReader.parse(sample(Self.malformedSample))))
        XCTAssertTrue(error.message.contains("<From> inside <From>"), error.description)
        XCTAssertTrue(error.message.contains("opened at line 7, column 9"), error.description)
        XCTAssertEqual(error.line, 8, error.description)
        XCTAssertEqual(error.column, 10, error.description)
        XCTAssertTrue(error.description.hasPrefix("line 8, column 10: <From> inside <From>"), error.description)
    }

    func testAcceptsSampleWithByteOrderMarkAndCRLF() throws {
        let name = "truclienthong-example__status_inbox_01.edxml"
        let bytes = try sample(name)
        XCTAssertTrue(bytes.contains(0x0D), "the sample has CRLF line ends")
        XCTAssertEqual(try EdxmlReader.parse([0xEF, 0xBB, 0xBF] + bytes), Self.expected[name])
    }

    // MARK: Chunking

    func outcome(_ bytes: [UInt8], cuts: [Int], limits: EdxmlLimits = EdxmlLimits()) -> Result<EdxmlFacts, EdxmlError> {
        let reader = EdxmlReader(limits: limits)
        var start = 0
        return Result { () throws(EdxmlError) -> EdxmlFacts in
            for end in cuts + [bytes.count] where end >= start {
                let result: Result<Void, EdxmlError> = bytes.withUnsafeBytes { all in
                    Result { () throws(EdxmlError) in try reader.feed(UnsafeRawBufferPointer(rebasing: all[start..<end])) }
                }
                try result.get()
                start = end
            }
            return try reader.finish()
        }
    }

    func randomCuts(_ count: Int, using rng: inout SeededRandom) -> [Int] {
        guard count > 1 else { return [] }
        return (0..<Int.random(in: 1...40, using: &rng)).map { _ in Int.random(in: 0...count, using: &rng) }.sorted()
    }

    func testEverySampleGivesTheSameOutcomeFedOneByteAtATime() throws {
        for name in Self.expected.keys.sorted() + [Self.malformedSample] {
            let bytes = try sample(name)
            let whole = outcome(bytes, cuts: [])
            XCTAssertEqual(outcome(bytes, cuts: Array(1..<bytes.count)), whole, name)
        }
    }

    func testEverySampleGivesTheSameOutcomeAtRandomSplits() throws {
        var rng = SeededRandom(seed: 0xED4D)
        for name in Self.expected.keys.sorted() + [Self.malformedSample] {
            let bytes = try sample(name)
            let whole = outcome(bytes, cuts: [])
            for round in 0..<25 {
                let cuts = randomCuts(bytes.count, using: &rng)
                XCTAssertEqual(outcome(bytes, cuts: cuts), whole, "\(name) round \(round) cuts \(cuts)")
            }
        }
    }

    /// Random byte damage to a sample: never a crash, and the same outcome whole and in pieces.
    func testDamagedSamplesGiveTheSameOutcomeWholeAndInPieces() throws {
        var rng = SeededRandom(seed: 7)
        let original = try sample("truclienthong-example__status_cancellation_13.edxml")
        let alphabet = Array("<>/&;=\"'!?-[]x: \n".utf8) + [0x00, 0xC3, 0xFF]
        for round in 0..<400 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = alphabet.randomElement(using: &rng) ?? 0
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &rng) ?? 0, at: at)
                }
            }
            let whole = outcome(bytes, cuts: [])
            XCTAssertEqual(outcome(bytes, cuts: randomCuts(bytes.count, using: &rng)), whole, "round \(round)")
            if case .failure(let error) = whole {
                XCTAssertGreaterThanOrEqual(error.line, 1, error.description)
                XCTAssertGreaterThanOrEqual(error.column, 1, error.description)
            }
        }
    }

    // MARK: Synthetic messages

    static let documentHeader = """
        <From><OrganId>000.00.00.G22</OrganId><OrganName>Văn phòng</OrganName></From>
        <To><OrganId>000.00.00.H41</OrganId></To>
        <DocumentId>000.00.00.G22,2024/01/02,1/VPCP</DocumentId>
        <Subject>Test</Subject>
        """

    static let statusHeader = """
        <From><OrganId>000.00.00.H41</OrganId></From>
        <ResponseFor><OrganId>000.00.00.G22</OrganId><DocumentId>d</DocumentId></ResponseFor>
        <StatusCode>03</StatusCode>
        """

    /// A small edXML message around `messageHeader`.
    static func message(_ messageHeader: String = documentHeader, trace: String = "", attachment: String = "x",
                        prolog: String = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", epilog: String = "\n") -> String {
        """
        \(prolog)<edXML xmlns="\(namespace)">
          <edXMLEnvelope>
            <edXMLHeader>
              <MessageHeader>
        \(messageHeader)
              </MessageHeader>\(trace)
            </edXMLHeader>
            <edXMLBody/>
          </edXMLEnvelope>
          <AttachmentEncoded><Attachment><ContentTransferEncoded>\(attachment)</ContentTransferEncoded></Attachment></AttachmentEncoded>
        </edXML>\(epilog)
        """
    }

    func parse(_ text: String, limits: EdxmlLimits = EdxmlLimits()) throws(EdxmlError) -> EdxmlFacts {
        try EdxmlReader.parse(Array(text.utf8), limits: limits)
    }

    func failure<T>(_ body: @autoclosure () throws -> T) -> EdxmlError? {
        do {
            _ = try body()
            return nil
        } catch let error as EdxmlError {
            return error
        } catch {
            XCTFail("not an EdxmlError: \(error)")
            return nil
        }
    }

    /// Refuses `bytes` with a message containing `expected`, the same whole and fed byte by byte.
    func assertRefused(_ bytes: [UInt8], _ expected: String, limits: EdxmlLimits = EdxmlLimits(),
                       file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let error) = outcome(bytes, cuts: [], limits: limits) else {
            return XCTFail("accepted; expected an error containing \"\(expected)\"", file: file, line: line)
        }
        XCTAssertTrue(error.message.contains(expected), "\"\(error.description)\" lacks \"\(expected)\"", file: file, line: line)
        XCTAssertGreaterThanOrEqual(error.line, 1, file: file, line: line)
        if bytes.count < 20_000 {
            XCTAssertEqual(outcome(bytes, cuts: Array(0..<bytes.count), limits: limits), .failure(error),
                           "byte-by-byte feeding changed the error", file: file, line: line)
        }
    }

    func assertRefused(_ text: String, _ expected: String, limits: EdxmlLimits = EdxmlLimits(),
                       file: StaticString = #filePath, line: UInt = #line) {
        assertRefused(Array(text.utf8), expected, limits: limits, file: file, line: line)
    }

    func testSyntheticDocumentAndStatusParse() throws {
        let document = try parse(Self.message())
        XCTAssertEqual(document, Self.facts(from: "000.00.00.G22", to: ["000.00.00.H41"],
                                            documentID: "000.00.00.G22,2024/01/02,1/VPCP", subject: "Test"))
        let status = try parse(Self.message(Self.statusHeader))
        XCTAssertEqual(status.kind, .status)
        XCTAssertEqual(status.statusCode, "03")
        XCTAssertEqual(status.responseFor, [EdxmlFacts.Reference(organID: "000.00.00.G22", documentID: "d")])
    }

    // MARK: Text, references and CDATA

    func subject(_ raw: String) throws -> String {
        try parse(Self.message("<From><OrganId>A</OrganId></From><To><OrganId>B</OrganId></To><Subject>\(raw)</Subject>")).subject
    }

    func testDecodesPredefinedEntitiesAndCharacterReferencesInSubject() throws {
        XCTAssertEqual(try subject("Tr&#x1EA1;m &amp; tr&#7841;m &lt;1&gt; &quot;a&apos;"), "Trạm & trạm <1> \"a'")
        XCTAssertEqual(try subject("&#x1F600;&#65;&#x41;"), "😀AA")
    }

    func testCapturesCDATAInSubjectAndTrimsOnlyTheEnds() throws {
        XCTAssertEqual(try subject("<![CDATA[a <b> & c]]>"), "a <b> & c")
        XCTAssertEqual(try subject("\n  x <![CDATA[ y ]]]]> z <!-- note --> w\n  "), "x  y ]] z  w")
        XCTAssertEqual(try subject("  "), "")
        XCTAssertEqual(try parse(Self.message("<From><OrganId>A</OrganId></From><To><OrganId>B</OrganId></To><Subject/>")).subject, "")
    }

    func testAcceptsPrefixesAttributesCommentsAndInstructionsAnywhereTheyAreAllowed() throws {
        let text = """
            <?xml version="1.0"?>
            <!-- before --><?pi data?>
            <e:edXML xmlns:e="\(Self.namespace)" xmlns:x='urn:other' x:a="1" b='2 &amp; &#x3C;'>
              <e:edXMLEnvelope><e:edXMLHeader><e:MessageHeader>
                <e:From ><e:OrganId>A</e:OrganId></e:From>
                <e:To><e:OrganId>B</e:OrganId></e:To><e:To><e:OrganId>C</e:OrganId></e:To>
                <x:Note>not ours</x:Note><Note>in no namespace</Note>
              </e:MessageHeader>
              <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>
              </e:edXMLHeader></e:edXMLEnvelope>
            </e:edXML >
            <!-- after -->
            """
        let facts = try parse(text)
        XCTAssertEqual(facts.to, ["B", "C"])
        XCTAssertTrue(facts.signaturePresent)
    }

    // MARK: Hostile input

    func testRefusesBillionLaughsDoctype() {
        let laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [
              <!ENTITY lol "lol">
              <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
              <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
              <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
            ]>
            <edXML xmlns="\(Self.namespace)">&lol9;</edXML>
            """
        assertRefused(laughs, "DOCTYPE")
        XCTAssertEqual(failure(try parse(laughs))?.line, 2)
    }

    func testRefusesExternalEntity() {
        assertRefused("""
            <?xml version="1.0"?>
            <!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <edXML xmlns="\(Self.namespace)"><Subject>&xxe;</Subject></edXML>
            """, "DOCTYPE")
        assertRefused("<!ENTITY xxe SYSTEM \"file:///etc/passwd\">", "'<!' declarations are refused")
    }

    func testRefusesUndefinedEntity() {
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "Test", with: "a &foo; b")),
                      "undefined entity &foo;")
        assertRefused(Self.message(attachment: "AAAA&nbsp;AAAA"), "undefined entity &nbsp;")
        assertRefused(Self.message(attachment: "AT&T"), "does not start an entity reference")
        assertRefused(Self.message(attachment: "&#0;"), "is malformed or not an XML character")
        assertRefused(Self.message(attachment: "&#x110000;"), "is malformed or not an XML character")
        assertRefused(Self.message(attachment: "&#x;"), "is malformed")
    }

    func testStopsHundredThousandDeepNestingAtDepthMax() {
        let deep = "<edXML xmlns=\"\(Self.namespace)\">" + String(repeating: "<a>", count: 100_000)
        let started = Date()
        assertRefused(deep, "depthMax (32)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "refusing deep nesting must be quick")
        var limits = EdxmlLimits()
        limits.depthMax = 5
        assertRefused(Self.message(), "depthMax (5)", limits: limits)
    }

    func testRefusesMoreElementsThanElementsMax() throws {
        var limits = EdxmlLimits()
        limits.elementsMax = 50
        XCTAssertNoThrow(try parse(Self.message(), limits: limits))
        let many = String(repeating: "<b/>", count: 100)
        assertRefused(Self.message(attachment: many), "elementsMax (50)", limits: limits)
    }

    func testRefusesMoreBytesThanBytesMax() throws {
        var limits = EdxmlLimits()
        limits.bytesMax = 1000
        let bytes = try sample("truclienthong-example__status_inbox_01.edxml")
        assertRefused(bytes, "bytesMax (1000 bytes)", limits: limits)
        limits.bytesMax = bytes.count
        XCTAssertNoThrow(try EdxmlReader.parse(bytes, limits: limits))
    }

    func testRefusesAttributeAndNameLimits() {
        var limits = EdxmlLimits()
        limits.attributesMax = 2
        assertRefused(Self.message(attachment: "<a x='1' y='2' z='3'/>"), "attributesMax (2)", limits: limits)
        limits = EdxmlLimits()
        limits.nameBytesMax = 24
        XCTAssertNoThrow(try parse(Self.message(), limits: limits))
        let long = String(repeating: "n", count: 25)
        assertRefused(Self.message(attachment: "<\(long)/>"), "element name 'nnnn", limits: limits)
        assertRefused(Self.message(attachment: "<a \(long)='1'/>"), "attribute name 'nnnn", limits: limits)
        assertRefused(Self.message(attachment: "<?\(long)?>"), "nameBytesMax (24 bytes)", limits: limits)
    }

    func testRefusesTruncatedAndUnterminatedInput() {
        let full = Self.message()
        let cut = String(full[..<(full.range(of: "<Subject>")?.upperBound ?? full.endIndex)])
        assertRefused(cut, "is never closed")
        assertRefused(Self.message() + "<!-- never closed", "unterminated")
        assertRefused(Self.message(attachment: "<![CDATA[ never closed"), "CDATA section (no closing ]]>)")
        assertRefused(String(full.dropLast(9)) + "</edXML", "unterminated")
        assertRefused("<edXML xmlns=\"\(Self.namespace)\"><edXMLEnvelope", "unterminated")
        assertRefused("<?xml version=\"1.0\"", "processing instruction (no closing ?>)")
        assertRefused("<edXML xmlns=\"\(Self.namespace)\">&amp", "an entity reference (no closing ';')")
    }

    func testRefusesBrokenStructureOfXML() {
        assertRefused(Self.message(attachment: "<a></b>"), "end tag </b> does not match <a>")
        assertRefused(Self.message(attachment: "<a x=1/>"), "is not quoted")
        assertRefused(Self.message(attachment: "<a x/>"), "has no value")
        assertRefused(Self.message(attachment: "<a x='1'y='2'/>"), "separated by whitespace")
        assertRefused(Self.message(attachment: "<a x='1' x=\"2\"/>"), "duplicate attribute 'x'")
        assertRefused(Self.message(attachment: "<a xmlns:p='urn:a' xmlns:q='urn:a' p:x='1' q:x='2'/>"), "duplicate attribute")
        assertRefused(Self.message(attachment: "<a x='<'/>"), "'<' in the value of attribute 'x'")
        assertRefused(Self.message(attachment: "a < b"), "does not start a tag")
        assertRefused(Self.message(epilog: "\n<edXML xmlns=\"\(Self.namespace)\"/>"), "a second root element")
        assertRefused(Self.message(epilog: "\ntrailing text"), "after the end of the root element")
        assertRefused(Self.message(prolog: "  <?xml version=\"1.0\"?>"), "XML declaration")
        assertRefused(Self.message(attachment: "<p:a/>"), "undeclared namespace prefix 'p'")
        assertRefused(Self.message(attachment: "<a p:x='1'/>"), "undeclared namespace prefix 'p' in attribute 'p:x'")
        assertRefused(Self.message(attachment: "</x>"), "does not match")
    }

    func testRefusesEmptyInputGarbageAndLoneByteOrderMark() {
        assertRefused([], "empty input")
        assertRefused([0xEF, 0xBB, 0xBF], "empty input")
        assertRefused(" \n\t ", "empty input")
        assertRefused([0xEF, 0xBB], "byte order mark")
        assertRefused([0xFF, 0xFE, 0x3C, 0x00], "before the root element")
        assertRefused([0x00, 0x01, 0x02, 0x9F, 0x80], "before the root element")
        assertRefused("PK\u{03}\u{04} this is a zip", "before the root element")
    }

    /// Columns count characters, not bytes, on long lines too (counted eight bytes at a time).
    func testColumnsCountCharactersNotBytes() {
        let prefix = "<edXML xmlns=\"\(Self.namespace)\">" + String(repeating: "Tiếng Việt ạ 😀 ", count: 50)
        let error = failure(try parse(prefix + "<p:x/></edXML>"))
        XCTAssertEqual(error?.line, 1)
        XCTAssertEqual(error?.column, prefix.unicodeScalars.count + 1, error?.description ?? "")
        XCTAssertEqual(failure(try parse("\r\n\r\n ạ<edXML/>"))?.line, 3)
    }

    func testAcceptsByteOrderMarkAtTheStart() throws {
        XCTAssertEqual(try EdxmlReader.parse([0xEF, 0xBB, 0xBF] + Array(Self.message().utf8)).to, ["000.00.00.H41"])
    }

    func testRefusesFieldLongerThanFieldBytesMax() throws {
        let long = String(repeating: "a", count: 4097)
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "Test", with: long)), "fieldBytesMax (4096 bytes)")
        // Exactly the limit passes, and surrounding whitespace does not count.
        let padded = String(repeating: " ", count: 5000) + String(repeating: "a", count: 4096) + String(repeating: "\n", count: 5000)
        XCTAssertEqual(try parse(Self.message(Self.documentHeader.replacingOccurrences(of: "Test", with: padded))).subject.utf8.count, 4096)
        let gap = "a" + String(repeating: " ", count: 4100) + "b"
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "Test", with: gap)), "fieldBytesMax")
    }

    func testRefusesInvalidUTF8AndControlCharactersInSubject() {
        var bytes = Array(Self.message().utf8)
        let at = Array(Self.message().utf8).firstRange(of: Array("Test".utf8))?.lowerBound ?? 0
        bytes.replaceSubrange(at..<(at + 4), with: [0x54, 0xC3, 0x28, 0x74])
        assertRefused(bytes, "is not valid UTF-8")
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "Test", with: "a\u{01}b")), "control character")
    }

    // MARK: edXML structure

    func testRefusesWrongNamespaces() {
        assertRefused(Self.message().replacingOccurrences(of: Self.namespace, with: "urn:wrong"), "namespace 'urn:wrong'")
        assertRefused("<edXML><edXMLEnvelope/></edXML>", "in no namespace")
        assertRefused("<other xmlns=\"\(Self.namespace)\"/>", "the root element is <other>, not <edXML>")
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "<To>", with: "<To xmlns='urn:x'>")
), "<To> is in namespace 'urn:x'")
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "<Subject>", with: "<x:Subject xmlns:x='urn:x'>")
            .replacingOccurrences(of: "</Subject>", with: "</x:Subject>")), "<x:Subject> is in namespace 'urn:x'")
        assertRefused(Self.message().replacingOccurrences(of: "<MessageHeader>", with: "<MessageHeader xmlns=''>"),
                      "<MessageHeader> is in no namespace")
    }

    func testRefusesFromInsideFromSecondFromAndMissingOrganID() {
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "<From>", with: "<From><From>")
            .replacingOccurrences(of: "</From>", with: "</From></From>")), "<From> inside <From>")
        assertRefused(Self.message("<From><OrganId>A</OrganId><To><OrganId>B</OrganId></To></From>"), "<To> inside <From>")
        assertRefused(Self.message(Self.documentHeader + "<From><OrganId>C</OrganId></From>"), "a second <From> in <MessageHeader>")
        assertRefused(Self.message("<From><OrganName>A</OrganName></From><To><OrganId>B</OrganId></To>"),
                      "<From> (opened at line 6, column 1) has no <OrganId>")
        assertRefused(Self.message("<From><OrganId> </OrganId></From><To><OrganId>B</OrganId></To>"), "has no <OrganId>")
        assertRefused(Self.message("<To><OrganId>B</OrganId></To>"), "has no <From>")
        assertRefused(Self.message("<From><OrganId>A</OrganId></From><To><OrganName>B</OrganName></To>"), "<To> (opened at")
        assertRefused(Self.message("<From><OrganId>A</OrganId><OrganId>B</OrganId></From><To><OrganId>B</OrganId></To>"),
                      "a second <OrganId> in <From>")
    }

    func testRefusesMissingMessageHeaderAndDocumentWithoutTo() {
        let noHeader = Self.message().replacingOccurrences(of: "<MessageHeader>", with: "<Other>")
            .replacingOccurrences(of: "</MessageHeader>", with: "</Other>")
        assertRefused(noHeader, "<edXMLHeader> (opened at line 4, column 5) has no <MessageHeader>")
        assertRefused("<edXML xmlns=\"\(Self.namespace)\"/>", "has no <edXMLEnvelope>")
        assertRefused(Self.message("<From><OrganId>A</OrganId></From><DocumentId>d</DocumentId>"), "has no <To> and no <StatusCode>")
        assertRefused(Self.message(Self.documentHeader + "<DocumentId>again</DocumentId>"),
                      "a second <DocumentId> in <MessageHeader> (the first is at line 8")
        assertRefused(Self.message(Self.documentHeader + "<Subject>again</Subject>"), "a second <Subject>")
        assertRefused(Self.message(Self.documentHeader.replacingOccurrences(of: "Test", with: "<b>bold</b>")), "holds text only")
    }

    func testRefusesStatusWithoutResponseForOrStatusCode() {
        let noResponseFor = "<From><OrganId>H</OrganId></From><StatusCode>03</StatusCode>"
        assertRefused(Self.message(noResponseFor), "is a status (StatusCode 03) with no <ResponseFor>")
        assertRefused(Self.message("<From><OrganId>H</OrganId></From><ResponseFor><OrganId>G</OrganId></ResponseFor>"),
                      "has no <To> and no <StatusCode>")
        assertRefused(Self.message(noResponseFor + "<ResponseFor><DocumentId>d</DocumentId></ResponseFor>"),
                      "<ResponseFor> has no <OrganId>")
        assertRefused(Self.message(Self.statusHeader.replacingOccurrences(of: ">03<", with: "><")), "empty <StatusCode>")
    }

    func testReadsBussinessTypeAndRefusesTypeSeven() throws {
        func trace(_ type: String) -> String {
            "<TraceHeaderList><TraceHeader/><Bussiness><BussinessDocType>\(type)</BussinessDocType></Bussiness></TraceHeaderList>"
        }
        for type: UInt8 in 0...3 {
            XCTAssertEqual(try parse(Self.message(trace: trace(" \(type) "))).businessDocType, type)
        }
        assertRefused(Self.message(trace: trace("7")), "BussinessDocType '7' is not 0 (new), 1 (revoke), 2 (update) or 3 (replace)")
        assertRefused(Self.message(trace: trace("")), "BussinessDocType '' is not")
        assertRefused(Self.message(trace: trace("-1")), "BussinessDocType '-1'")
        assertRefused(Self.message(trace: trace("1") + trace("2")), "a second <TraceHeaderList>")
    }

    // MARK: Reader

    func testReaderRepeatsItsErrorAndRefusesFeedAfterFinish() throws {
        let reader = EdxmlReader()
        let bad = Array("<edXML xmlns='urn:x'/>".utf8)
        let first = failure(try bad.withUnsafeBytes { try reader.feed($0) })
        XCTAssertNotNil(first)
        XCTAssertEqual(failure(try reader.finish()), first)

        let good = EdxmlReader()
        let bytes = Array(Self.message().utf8)
        try bytes.withUnsafeBytes { try good.feed($0) }
        _ = try good.finish()
        XCTAssertNotNil(failure(try bytes.withUnsafeBytes { try good.feed($0) }))
    }

    // MARK: Cost

    /// A large attachment is stepped over, not stored: 32 MB in 64 KB reads stays quick even in debug builds.
    func testSkipsLargeAttachmentQuickly() throws {
        let line = String(repeating: "QUJDRA", count: 12) + "\r\n"
        let attachment = String(repeating: line, count: 32 << 20 / line.utf8.count)
        let bytes = Array(Self.message(attachment: attachment).utf8)
        let started = Date()
        let facts = try outcome(bytes, cuts: Array(stride(from: 65536, to: bytes.count, by: 65536))).get()
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(facts.to, ["000.00.00.H41"])
        XCTAssertLessThan(seconds, 10)
        print("edXML: skipped \(bytes.count >> 20) MB in \(Int(seconds * 1000)) ms")
    }

    func testScansLargestSampleQuickly() throws {
        let bytes = try sample("truclienthong-example__edoc_update.edxml")
        _ = try EdxmlReader.parse(bytes)
        let rounds = 20
        let started = Date()
        for _ in 0..<rounds { _ = try EdxmlReader.parse(bytes) }
        let milliseconds = Date().timeIntervalSince(started) * 1000 / Double(rounds)
        // The 5 ms target is for release builds; a debug build gets head room.
        XCTAssertLessThan(milliseconds, 100)
        print("edXML: \(bytes.count / 1024) KB sample in \(String(format: "%.2f", milliseconds)) ms")
    }
}
