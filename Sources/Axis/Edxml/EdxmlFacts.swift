// edXML routing facts — design notes
//
// Reads what Axis needs to route an edXML message (QCVN 102:2016) and nothing else, streaming, on
// top of `XMLScanner`:
//
//     <edXML>                                          namespace http://www.mic.gov.vn/TBT/QCVN_102_2016
//       <edXMLEnvelope>
//         <edXMLHeader>
//           <MessageHeader>  From/OrganId, To*/OrganId, DocumentId, Code/{CodeNumber, CodeNotation},
//                            PromulgationInfo/PromulgationDate, Subject, ResponseFor*/{OrganId,
//                            DocumentId, Code, PromulgationDate}, StatusCode, Description
//           <TraceHeaderList><Bussiness>  DocumentId, BussinessDocType, BussinessDocReason,
//                            BussinessDocumentInfo/ReceiverList/Receiver*/OrganId
//           <Signature>      any namespace: only its presence
//         <edXMLBody>        skipped
//       <AttachmentEncoded>  skipped (base64 attachments: stepped over, never stored)
//
// Every element above must be in the edXML namespace (Signature excepted); elements not listed are
// checked for well-formedness and otherwise ignored, wherever they are. The file itself is never
// rewritten: its XMLDSig covers the exact bytes, so the caller stores and forwards what it received.
//
// Bad input throws `EdxmlError` with the line and column and what the sender should change: broken
// XML, refused DTDs and entities, a limit of `EdxmlLimits`, or a header that cannot be routed (no
// From, a From inside a From, a field given twice, a document without To, a status without
// ResponseFor, BussinessDocType outside 0–3). Agency codes and dates are not checked here: the
// caller does that, against the directory.

/// What an edXML message says about its routing.
public struct EdxmlFacts: Equatable, Sendable {
    public enum Kind: Sendable {
        case document
        case status
    }

    /// A document this message answers or replaces (MessageHeader/ResponseFor).
    public struct Reference: Equatable, Sendable {
        public var organID: String
        public var documentID: String
        public var code: String
        public var promulgationDate: String

        public init(organID: String = "", documentID: String = "", code: String = "", promulgationDate: String = "") {
            self.organID = organID
            self.documentID = documentID
            self.code = code
            self.promulgationDate = promulgationDate
        }
    }

    /// A status when MessageHeader has StatusCode and no To; a document otherwise.
    public var kind: Kind
    /// MessageHeader/From/OrganId.
    public var from: String
    /// Every MessageHeader/To/OrganId, in document order.
    public var to: [String]
    /// MessageHeader/DocumentId; "" when absent (statuses).
    public var documentID: String
    public var codeNumber: String
    public var codeNotation: String
    /// MessageHeader/PromulgationInfo/PromulgationDate, as written.
    public var promulgationDate: String
    public var subject: String
    public var responseFor: [Reference]
    /// MessageHeader/StatusCode; "" for documents.
    public var statusCode: String
    /// MessageHeader/Description.
    public var statusDescription: String
    /// TraceHeaderList/Bussiness/BussinessDocType: 0 new, 1 revoke, 2 update, 3 replace; 0 when absent.
    public var businessDocType: UInt8
    /// TraceHeaderList/Bussiness/DocumentId; "" when absent.
    public var businessDocumentID: String
    public var businessReason: String
    /// Bussiness/BussinessDocumentInfo/ReceiverList/Receiver/OrganId, in order (updates and replacements).
    public var receivers: [String]
    /// edXMLHeader has a Signature child (in any namespace). Not verified here.
    public var signaturePresent: Bool
}

/// Bounds on what one edXML message may cost to read.
public struct EdxmlLimits: Sendable {
    /// Total bytes of the file.
    public var bytesMax = 256 << 20
    /// Elements open at once, the root included.
    public var depthMax = 32
    /// Elements in the whole file.
    public var elementsMax = 100_000
    /// Bytes of one captured field after trimming, and of one namespace URI.
    public var fieldBytesMax = 4096
    /// Attributes on one element.
    public var attributesMax = 64
    /// Bytes of one element, attribute or processing-instruction name, prefix included.
    public var nameBytesMax = 256

    public init() {}
}

/// Why an edXML message was refused, and where.
public struct EdxmlError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong and what the sender should do.
    public var message: String
    /// 1-based; columns count characters.
    public var line: Int
    public var column: Int

    public init(message: String, line: Int, column: Int) {
        self.message = message
        self.line = line
        self.column = column
    }

    init(message: String, position: XMLPosition) {
        self.init(message: message, line: position.line, column: position.column)
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Reads the routing facts of one edXML message fed in chunks of any size.
///
///     let reader = EdxmlReader()
///     try reader.feed(chunk)   // as often as needed
///     let facts = try reader.finish()
///
/// After an error every later call throws the same error.
public final class EdxmlReader {
    private var scanner: XMLScanner
    private var header = EdxmlHeaderReader()
    private var failure: EdxmlError?
    private var finished = false

    public init(limits: EdxmlLimits = EdxmlLimits()) {
        scanner = XMLScanner(limits: limits)
    }

    public func feed(_ chunk: UnsafeRawBufferPointer) throws(EdxmlError) {
        if let failure { throw failure }
        guard !finished else {
            throw EdxmlError(message: "bytes fed after finish(): use a new EdxmlReader per message", position: scanner.position)
        }
        do {
            try scanner.feed(chunk, into: &header)
        } catch {
            failure = error
            throw error
        }
    }

    /// The facts, once the input is a complete, well-formed, routable edXML message.
    public func finish() throws(EdxmlError) -> EdxmlFacts {
        if let failure { throw failure }
        do {
            try scanner.finish()
            finished = true
            return header.facts
        } catch {
            failure = error
            throw error
        }
    }

    public static func parse(_ bytes: [UInt8], limits: EdxmlLimits = EdxmlLimits()) throws(EdxmlError) -> EdxmlFacts {
        let reader = EdxmlReader(limits: limits)
        let result: Result<Void, EdxmlError> = bytes.withUnsafeBytes { chunk in
            Result { () throws(EdxmlError) in try reader.feed(chunk) }
        }
        try result.get()
        return try reader.finish()
    }
}

/// The scanner's consumer: follows the header structure, captures the fields, checks the rules.
private struct EdxmlHeaderReader: XMLScannerConsumer {
    static let namespace = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

    /// The elements we look into. Everything else is skipped whole.
    private enum Part: Equatable {
        case root, envelope, header, messageHeader, from, to, code, promulgationInfo, responseFor
        case traceHeaderList, bussiness, bussinessDocumentInfo, receiverList, receiver
        case field(Field)
    }

    /// The elements whose text we keep.
    private enum Field: Equatable {
        case fromOrganID, toOrganID, documentID, codeNumber, codeNotation, promulgationDate, subject
        case statusCode, statusDescription
        case referenceOrganID, referenceDocumentID, referenceCode, referencePromulgationDate
        case businessDocumentID, businessDocType, businessReason, receiverOrganID
    }

    private struct Frame {
        var part: Part
        var local: String
        var position: XMLPosition
        /// Children that may appear once, with where each first appeared.
        var seen: [(local: String, position: XMLPosition)] = []

        func has(_ local: String) -> Bool { seen.contains { $0.local == local } }
    }

    private var frames: [Frame] = []
    /// Depth inside an element we skip whole; 0 when not skipping.
    private var skipping = 0

    private(set) var facts = EdxmlFacts(
        kind: .document, from: "", to: [], documentID: "", codeNumber: "", codeNotation: "", promulgationDate: "",
        subject: "", responseFor: [], statusCode: "", statusDescription: "", businessDocType: 0,
        businessDocumentID: "", businessReason: "", receivers: [], signaturePresent: false)
    // The repeatable element being read.
    private var organID = ""
    private var reference = EdxmlFacts.Reference()

    mutating func startElement(_ name: XMLName, at position: XMLPosition) throws(EdxmlError) -> Bool {
        if skipping > 0 {
            skipping += 1
            return false
        }
        guard let parent = frames.last else {
            try checkRoot(name, at: position)
            frames.append(Frame(part: .root, local: name.local, position: position))
            return false
        }
        if parent.part == .header && name.local == "Signature" {
            facts.signaturePresent = true
            skipping = 1
            return false
        }
        if (parent.part == .from || parent.part == .to) && (name.local == "From" || name.local == "To") {
            throw EdxmlError(message: "<\(name.local)> inside <\(parent.local)> (opened at \(XMLScanner.show(parent.position))): "
                + "a <\(parent.local)> holds one agency and cannot contain another <From> or <To>; close "
                + "</\(parent.local)> before opening the next one", position: position)
        }
        guard let (part, once) = Self.child(name.local, of: parent.part) else {
            skipping = 1
            return false
        }
        guard name.namespace == Self.namespace else {
            throw EdxmlError(message: "<\(name.qualified)> is in \(Self.describe(name.namespace)), not the edXML namespace "
                + "'\(Self.namespace)': declare the edXML namespace for it (xmlns or its prefix)", position: position)
        }
        if once {
            if let first = parent.seen.first(where: { $0.local == name.local }) {
                throw EdxmlError(message: "a second <\(name.local)> in <\(parent.local)> (the first is at "
                    + "\(XMLScanner.show(first.position))): <\(name.local)> may appear only once there; remove one",
                    position: position)
            }
            frames[frames.count - 1].seen.append((name.local, position))
        }
        frames.append(Frame(part: part, local: name.local, position: position))
        switch part {
        case .to, .receiver: organID = ""
        case .responseFor: reference = EdxmlFacts.Reference()
        case .field: return true
        default: break
        }
        return false
    }

    mutating func endElement(_ name: XMLName, text: String?, at position: XMLPosition) throws(EdxmlError) {
        if skipping > 0 {
            skipping -= 1
            return
        }
        guard let frame = frames.popLast() else { return }
        switch frame.part {
        case .field(let field):
            try store(text ?? "", in: field, at: frame.position)
        case .from:
            try require(at: position, !facts.from.isEmpty, frame, "has no <OrganId>: give the sender's agency code in <From><OrganId>")
        case .to:
            try require(at: position, !organID.isEmpty, frame, "has no <OrganId>: give each recipient's agency code in <To><OrganId>")
            facts.to.append(organID)
        case .receiver:
            try require(at: position, !organID.isEmpty, frame, "has no <OrganId>: give each receiver's agency code in <Receiver><OrganId>")
            facts.receivers.append(organID)
        case .responseFor:
            facts.responseFor.append(reference)
        case .messageHeader:
            try checkMessageHeader(frame, at: position)
        case .header:
            try require(at: position, frame.has("MessageHeader"), frame, "has no <MessageHeader>: an edXML message needs one")
        case .envelope:
            try require(at: position, frame.has("edXMLHeader"), frame, "has no <edXMLHeader>: an edXML message needs one")
        case .root:
            try require(at: position, frame.has("edXMLEnvelope"), frame, "has no <edXMLEnvelope>: an edXML message needs one")
        case .code, .promulgationInfo, .traceHeaderList, .bussiness, .bussinessDocumentInfo, .receiverList:
            break
        }
    }

    /// Which child of `part` named `local` we read, and whether it may appear only once.
    private static func child(_ local: String, of part: Part) -> (Part, once: Bool)? {
        switch (part, local) {
        case (.root, "edXMLEnvelope"): return (.envelope, true)
        case (.envelope, "edXMLHeader"): return (.header, true)
        case (.header, "MessageHeader"): return (.messageHeader, true)
        case (.header, "TraceHeaderList"): return (.traceHeaderList, true)
        case (.messageHeader, "From"): return (.from, true)
        case (.messageHeader, "To"): return (.to, false)
        case (.messageHeader, "DocumentId"): return (.field(.documentID), true)
        case (.messageHeader, "Code"): return (.code, true)
        case (.messageHeader, "PromulgationInfo"): return (.promulgationInfo, true)
        case (.messageHeader, "Subject"): return (.field(.subject), true)
        case (.messageHeader, "ResponseFor"): return (.responseFor, false)
        case (.messageHeader, "StatusCode"): return (.field(.statusCode), true)
        case (.messageHeader, "Description"): return (.field(.statusDescription), true)
        case (.from, "OrganId"): return (.field(.fromOrganID), true)
        case (.to, "OrganId"): return (.field(.toOrganID), true)
        case (.code, "CodeNumber"): return (.field(.codeNumber), true)
        case (.code, "CodeNotation"): return (.field(.codeNotation), true)
        case (.promulgationInfo, "PromulgationDate"): return (.field(.promulgationDate), true)
        case (.responseFor, "OrganId"): return (.field(.referenceOrganID), true)
        case (.responseFor, "DocumentId"): return (.field(.referenceDocumentID), true)
        case (.responseFor, "Code"): return (.field(.referenceCode), true)
        case (.responseFor, "PromulgationDate"): return (.field(.referencePromulgationDate), true)
        case (.traceHeaderList, "Bussiness"): return (.bussiness, true)
        case (.bussiness, "DocumentId"): return (.field(.businessDocumentID), true)
        case (.bussiness, "BussinessDocType"): return (.field(.businessDocType), true)
        case (.bussiness, "BussinessDocReason"): return (.field(.businessReason), true)
        case (.bussiness, "BussinessDocumentInfo"): return (.bussinessDocumentInfo, true)
        case (.bussinessDocumentInfo, "ReceiverList"): return (.receiverList, true)
        case (.receiverList, "Receiver"): return (.receiver, false)
        case (.receiver, "OrganId"): return (.field(.receiverOrganID), true)
        default: return nil
        }
    }

    private func checkRoot(_ name: XMLName, at position: XMLPosition) throws(EdxmlError) {
        guard name.local == "edXML" else {
            throw EdxmlError(message: "the root element is <\(name.qualified)>, not <edXML>: send a QCVN 102:2016 edXML "
                + "message", position: position)
        }
        guard name.namespace == Self.namespace else {
            throw EdxmlError(message: "the root <\(name.qualified)> is in \(Self.describe(name.namespace)), not the edXML "
                + "namespace '\(Self.namespace)': write <edXML xmlns=\"\(Self.namespace)\">", position: position)
        }
    }

    private mutating func store(_ text: String, in field: Field, at position: XMLPosition) throws(EdxmlError) {
        switch field {
        case .fromOrganID: facts.from = text
        case .toOrganID, .receiverOrganID: organID = text
        case .documentID: facts.documentID = text
        case .codeNumber: facts.codeNumber = text
        case .codeNotation: facts.codeNotation = text
        case .promulgationDate: facts.promulgationDate = text
        case .subject: facts.subject = text
        case .statusCode: facts.statusCode = text
        case .statusDescription: facts.statusDescription = text
        case .referenceOrganID: reference.organID = text
        case .referenceDocumentID: reference.documentID = text
        case .referenceCode: reference.code = text
        case .referencePromulgationDate: reference.promulgationDate = text
        case .businessDocumentID: facts.businessDocumentID = text
        case .businessReason: facts.businessReason = text
        case .businessDocType:
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let value = UInt8(text), value <= 3 else {
                throw EdxmlError(message: "BussinessDocType '\(text)' is not 0 (new), 1 (revoke), 2 (update) or "
                    + "3 (replace): send one of these", position: position)
            }
            facts.businessDocType = value
        }
    }

    /// Decides document or status and checks that the message can be routed.
    private mutating func checkMessageHeader(_ frame: Frame, at position: XMLPosition) throws(EdxmlError) {
        try require(at: position, frame.has("From"), frame, "has no <From>: give the sender in <From><OrganId>")
        let hasStatusCode = frame.has("StatusCode")
        if hasStatusCode && facts.to.isEmpty {
            facts.kind = .status
            try require(at: position, !facts.statusCode.isEmpty, frame, "has an empty <StatusCode>: give the status code (01, 02, …)")
            try require(at: position, !facts.responseFor.isEmpty, frame, "is a status (StatusCode \(facts.statusCode)) with no "
                + "<ResponseFor>: a status travels to ResponseFor/OrganId; add the <ResponseFor> of the document it answers")
            try require(at: position, facts.responseFor.allSatisfy { !$0.organID.isEmpty }, frame, "is a status whose <ResponseFor> "
                + "has no <OrganId>: give the agency the status goes to in <ResponseFor><OrganId>")
        } else {
            facts.kind = .document
            try require(at: position, !facts.to.isEmpty, frame, "has no <To> and no <StatusCode>: a document needs at least one <To> "
                + "with the recipient's <OrganId>; a status needs <StatusCode> and <ResponseFor>")
        }
    }

    /// Throws at `position` (the end tag) when `condition` fails.
    private func require(at position: XMLPosition, _ condition: Bool, _ frame: Frame, _ problem: String) throws(EdxmlError) {
        guard !condition else { return }
        throw EdxmlError(message: "<\(frame.local)> (opened at \(XMLScanner.show(frame.position))) \(problem)",
            position: position)
    }

    private static func describe(_ namespace: String) -> String {
        namespace.isEmpty ? "no namespace" : "namespace '\(namespace)'"
    }
}
