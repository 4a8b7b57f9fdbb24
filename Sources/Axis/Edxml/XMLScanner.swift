// XML scanner for edXML — design notes
//
// A small incremental XML 1.0 + Namespaces tokenizer, written for `EdxmlReader` instead of Foundation's
// XMLParser: that one is libxml2 underneath, expands entities and keeps whole documents in memory, and
// an edXML file is mostly one base64 attachment of many megabytes that we only need to step over.
//
//     feed(chunk) … feed(chunk) → finish()        consumer.startElement / consumer.endElement
//
// The scanner keeps no input between chunks. A token split across chunks resumes from its state
// (`State`); the only bytes carried over are those of the current name, attribute, entity reference
// or captured field, each bounded by a limit. Nothing recurses: open elements live in an array.
//
// What the consumer gets: resolved element names (namespace URI + local name) with the position of
// their `<`, and — only for elements it asked for in `startElement` — their text, with the five
// predefined entities and numeric character references decoded, CDATA included, trimmed, at most
// `fieldBytesMax` bytes, valid UTF-8. Text nobody asked for is stepped over with `memchr` and never
// stored. Attributes are checked (quoting, duplicates, prefixes) but only `xmlns` values are kept.
//
// Refused: any `<!DOCTYPE` (see `refuseDeclaration`), any entity other than the five predefined ones,
// mismatched or missing end tags, a second root, text outside the root, unquoted or duplicate
// attributes, undeclared prefixes, and every limit in `EdxmlLimits`. The first problem throws an
// `EdxmlError` with the 1-based line and column (in characters) where it was found.
//
// Lenient on purpose: `--` inside comments and `]]>` in text, which signed files from the field
// contain and which cannot change what the document says; skipped text is not checked for UTF-8
// (only captured text is), because checking megabytes of base64 nobody reads buys nothing.
import Glibc

/// An element name with its prefix resolved.
struct XMLName: Equatable, Sendable {
    /// The namespace URI; "" for no namespace.
    var namespace: String
    var local: String
    /// As written, prefix included, for messages.
    var qualified: String
}

/// Where a token starts: 1-based line and column. Columns count characters (UTF-8 sequences), as
/// editors show them; only LF ends a line, so CRLF files count the same as LF files.
struct XMLPosition: Equatable, Sendable {
    var line: Int
    var column: Int
}

/// What receives the scanner's elements.
protocol XMLScannerConsumer {
    /// An element opened at `position` (its `<`). Return true to receive its text in `endElement`;
    /// an element whose text is captured must hold text only (a child element is an error).
    mutating func startElement(_ name: XMLName, at position: XMLPosition) throws(EdxmlError) -> Bool
    /// An element closed at `position` (the `<` of its end tag, or of its start tag when empty).
    /// `text` is the captured text, or nil when `startElement` did not ask for it.
    mutating func endElement(_ name: XMLName, text: String?, at position: XMLPosition) throws(EdxmlError)
}

/// The incremental tokenizer. One use per document.
struct XMLScanner {
    /// Where the scanner is in the grammar between two bytes.
    private enum State {
        case byteOrderMark      // at the very start: maybe EF BB BF
        case content            // text: before, inside or after the root
        case reference          // after `&`, in text or in an attribute value
        case markup             // after `<`
        case declaration        // after `<!`: a comment, a CDATA section or a refused declaration
        case comment
        case cdata
        case instructionTarget  // after `<?`
        case instruction        // the rest of a processing instruction, up to `?>`
        case startTagName
        case tagSpace           // inside a start tag, between attributes
        case attributeName
        case attributeEquals    // after an attribute name and whitespace, before `=`
        case attributeQuote     // after `=`, before the opening quote
        case attributeValue
        case emptyTagEnd        // after `/` in a start tag
        case endTagName
        case endTagSpace        // after an end tag's name, before `>`
    }

    private struct OpenElement {
        var qualified: [UInt8]
        var name: XMLName
        var position: XMLPosition
        /// `bindings.count` before this element's declarations, to drop them at its end.
        var bindingsBefore: Int
        var captures: Bool
    }

    /// One attribute of the start tag being read. Names share one buffer, `attributeNames`, so an
    /// element with many attributes costs no allocation per attribute.
    private struct Attribute {
        var name: Range<Int>
        /// FNV-1a of the name, so the duplicate check rarely compares bytes.
        var hash: UInt64
        /// `xmlns` or `xmlns:prefix`.
        var declaresNamespace: Bool
        /// Kept only for namespace declarations; empty otherwise.
        var value: [UInt8]
    }

    static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"
    static let xmlnsNamespace = "http://www.w3.org/2000/xmlns/"
    /// `&` plus this many bytes without `;` cannot be a reference we accept (`#x0010FFFF` is 10).
    private static let referenceBytesMax = 12

    let limits: EdxmlLimits
    private var state = State.byteOrderMark

    // The chunk being scanned, valid only during `feed`.
    private var input = UnsafeRawBufferPointer(start: nil, count: 0)
    private var index = 0
    /// Bytes of `input` before `mark` are already counted in `line` and `column`.
    private var mark = 0
    private var line = 1
    private var column = 1
    private var bytesFed = 0
    /// Offset in the whole input of `input`'s first byte.
    private var chunkOffset = 0
    private var byteOrderMarkBytes = 0

    /// The `<` (or `&`) that started the token being read.
    private var tokenPosition = XMLPosition(line: 1, column: 1)
    private var tokenOffset = 0

    private var open: [OpenElement] = []
    private var bindings: [(prefix: String, uri: String)] = []
    private var elementCount = 0
    private var rootSeen = false
    private var rootClosed = false

    // Pieces of the current token.
    private var name: [UInt8] = []
    private var attributes: [Attribute] = []
    private var attributeNames: [UInt8] = []
    private var attributeStart = 0
    private var attributeHash: UInt64 = 0
    private var attributeValue: [UInt8] = []
    private var attributeKept = false
    private var quote: UInt8 = 0
    private var sawSpace = false
    private var declaration: [UInt8] = []
    private var reference: [UInt8] = []
    private var referenceInAttribute = false
    /// Dashes before `>` in a comment, brackets before `>` in CDATA, `?` before `>` in an instruction,
    /// bytes of the byte order mark seen.
    private var run = 0

    private var capturing = false
    private var text = CapturedText()

    init(limits: EdxmlLimits) {
        self.limits = limits
    }

    // MARK: Driving

    /// Scans `chunk`, calling `consumer` for each element that opens or closes in it.
    mutating func feed<Consumer: XMLScannerConsumer>(
        _ chunk: UnsafeRawBufferPointer, into consumer: inout Consumer
    ) throws(EdxmlError) {
        guard chunk.count > 0 else { return }
        // Bytes up to the limit are scanned before refusing the rest, so the error (and its position)
        // is the same however the input is cut.
        let allowed = min(chunk.count, limits.bytesMax - bytesFed)
        chunkOffset = bytesFed
        bytesFed += allowed
        input = UnsafeRawBufferPointer(rebasing: chunk[..<allowed])
        index = 0
        mark = 0
        defer {
            sync(to: input.count)
            input = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        while index < input.count {
            switch state {
            case .byteOrderMark: try scanByteOrderMark()
            case .content: try scanContent()
            case .reference: try scanReference()
            case .markup: try scanMarkup()
            case .declaration: try scanDeclaration()
            case .comment: scanComment()
            case .cdata: try scanCDATA()
            case .instructionTarget: try scanInstructionTarget()
            case .instruction: scanInstruction()
            case .startTagName: try scanStartTagName(&consumer)
            case .tagSpace: try scanTagSpace(&consumer)
            case .attributeName: try scanAttributeName()
            case .attributeEquals: try scanAttributeEquals()
            case .attributeQuote: try scanAttributeQuote()
            case .attributeValue: try scanAttributeValue()
            case .emptyTagEnd: try scanEmptyTagEnd(&consumer)
            case .endTagName: try scanEndTagName(&consumer)
            case .endTagSpace: try scanEndTagSpace(&consumer)
            }
        }
        guard allowed == chunk.count else {
            throw failure("the input is larger than bytesMax (\(limits.bytesMax) bytes): send a smaller "
                + "document, or ask the operator to raise the limit")
        }
    }

    /// Checks that the input ended after a complete document.
    mutating func finish() throws(EdxmlError) {
        let what: String?
        switch state {
        case .content: what = nil
        case .byteOrderMark: what = run == 0 ? nil : "a byte order mark"
        case .comment: what = "a comment (no closing -->)"
        case .cdata: what = "a CDATA section (no closing ]]>)"
        case .instructionTarget, .instruction: what = "a processing instruction (no closing ?>)"
        case .declaration: what = "a '<!' declaration"
        case .reference: what = "an entity reference (no closing ';')"
        case .markup, .startTagName, .tagSpace, .attributeName, .attributeEquals, .attributeQuote,
             .attributeValue, .emptyTagEnd:
            what = "the tag <\(Self.show(name)) (no closing '>')"
        case .endTagName, .endTagSpace: what = "the end tag </\(Self.show(name)) (no closing '>')"
        }
        if let what {
            throw EdxmlError(message: "unterminated: the input ends inside \(what) that starts here; "
                + "the file is truncated or malformed: send the complete document", position: tokenPosition)
        }
        if let top = open.last {
            throw failure("the input ends inside <\(top.name.qualified)> opened at \(Self.show(top.position)), "
                + "which is never closed: the file is truncated; send the complete document")
        }
        guard rootSeen else {
            throw failure("empty input: there is no root element; send an edXML document (UTF-8 XML with the root <edXML>)")
        }
    }

    // MARK: Positions

    /// Where scanning stopped: just after the last byte fed.
    var position: XMLPosition { XMLPosition(line: line, column: column) }

    /// Counts lines and columns up to `end`.
    private mutating func sync(to end: Int) {
        guard end > mark, let base = input.baseAddress else { return }
        var from = mark
        while from < end, let newline = memchr(base + from, 0x0A, end - from) {
            line += 1
            column = 1
            from = UnsafeRawPointer(newline) - base + 1
        }
        // Columns count characters: every byte but UTF-8 continuation bytes (10xxxxxx). Base64 attachments
        // often sit on one line of megabytes, so count eight bytes at a time: bit 0 of each byte of
        // `continuation` is set where bit 7 is set and bit 6 clear.
        while end - from >= 8 {
            let word = UnsafeRawPointer(base + from).loadUnaligned(as: UInt64.self)
            let continuation = (word >> 7) & ~(word >> 6) & 0x0101_0101_0101_0101
            column += 8 - continuation.nonzeroBitCount
            from += 8
        }
        while from < end {
            if input[from] & 0xC0 != 0x80 { column += 1 }
            from += 1
        }
        mark = end
    }

    /// An error at the current byte.
    private mutating func failure(_ message: String) -> EdxmlError {
        sync(to: index)
        return EdxmlError(message: message, position: XMLPosition(line: line, column: column))
    }

    /// Notes that a token starts at the current byte.
    private mutating func startToken() {
        sync(to: index)
        tokenPosition = XMLPosition(line: line, column: column)
        tokenOffset = chunkOffset + index
    }

    // MARK: Text

    private mutating func scanByteOrderMark() throws(EdxmlError) {
        let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
        while index < input.count {
            let byte = input[index]
            if run == 0 && byte != byteOrderMark[0] {
                state = .content
                return
            }
            guard byte == byteOrderMark[run] else {
                throw failure("the input starts with \(Self.show(byte: byteOrderMark[0])) that is not a UTF-8 byte order mark: "
                    + "send the document as UTF-8")
            }
            run += 1
            index += 1
            mark = index  // the mark is invisible: it takes no column
            if run == byteOrderMark.count {
                byteOrderMarkBytes = run
                run = 0
                state = .content
                return
            }
        }
    }

    private mutating func scanContent() throws(EdxmlError) {
        if open.isEmpty {
            try scanOutsideRoot()
        } else if capturing {
            try scanCapturedText()
        } else {
            skipText()
        }
    }

    /// Before and after the root only whitespace, comments and processing instructions may appear.
    private mutating func scanOutsideRoot() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if Self.isWhitespace(byte) {
                index += 1
            } else if byte == ASCII.lessThan {
                beginMarkup()
                return
            } else if rootClosed {
                throw failure("\(Self.show(byte: byte)) after the end of the root element: nothing but whitespace, "
                    + "comments and processing instructions may follow it; remove the trailing text")
            } else {
                throw failure("\(Self.show(byte: byte)) before the root element: an edXML file is UTF-8 XML that "
                    + "starts with '<?xml' or '<edXML'; send a well-formed edXML document")
            }
        }
    }

    /// Steps over text nobody asked for: `memchr` to the next `<`, and to any `&` before it so that
    /// references are still checked.
    private mutating func skipText() {
        guard let base = input.baseAddress else { return }
        let lessThan = memchr(base + index, Int32(ASCII.lessThan), input.count - index)
        let end = lessThan.map { UnsafeRawPointer($0) - base } ?? input.count
        if let ampersand = memchr(base + index, Int32(ASCII.ampersand), end - index) {
            index = UnsafeRawPointer(ampersand) - base
            beginReference(inAttribute: false)
            return
        }
        index = end
        if lessThan != nil { beginMarkup() }
    }

    private mutating func scanCapturedText() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if byte == ASCII.lessThan {
                beginMarkup()
                return
            }
            if byte == ASCII.ampersand {
                beginReference(inAttribute: false)
                return
            }
            try capture(byte)
            index += 1
        }
    }

    /// Adds one byte to the captured field.
    private mutating func capture(_ byte: UInt8) throws(EdxmlError) {
        if byte < 0x20 && !Self.isWhitespace(byte) {
            throw failure("control character \(Self.show(byte: byte)) in <\(open.last?.name.qualified ?? "")>: "
                + "XML text cannot hold it; remove it")
        }
        guard text.append(byte, bytesMax: limits.fieldBytesMax) else {
            throw failure("the text of <\(open.last?.name.qualified ?? "")> is longer than fieldBytesMax "
                + "(\(limits.fieldBytesMax) bytes): shorten the field")
        }
    }

    // MARK: References

    private mutating func beginReference(inAttribute: Bool) {
        startToken()
        index += 1
        reference.removeAll(keepingCapacity: true)
        referenceInAttribute = inAttribute
        state = .reference
    }

    private mutating func scanReference() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            index += 1
            if byte == ASCII.semicolon {
                try resolveReference()
                state = referenceInAttribute ? .attributeValue : .content
                return
            }
            guard reference.count < Self.referenceBytesMax, Self.isNameByte(byte) || byte == ASCII.hash else {
                throw EdxmlError(message: "this '&' does not start an entity reference "
                    + "(&name; or &#number;): write &amp; for a literal '&'", position: tokenPosition)
            }
            reference.append(byte)
        }
    }

    private mutating func resolveReference() throws(EdxmlError) {
        let scalar: UInt32
        switch reference {
        case Literal.amp: scalar = 0x26
        case Literal.lt: scalar = 0x3C
        case Literal.gt: scalar = 0x3E
        case Literal.quot: scalar = 0x22
        case Literal.apos: scalar = 0x27
        default:
            guard reference.first == ASCII.hash else {
                throw EdxmlError(message: "undefined entity &\(Self.show(reference));: only &amp; &lt; &gt; &quot; &apos; "
                    + "and numeric character references are allowed (a DOCTYPE that could define others is refused); "
                    + "write the character itself or as &#number;", position: tokenPosition)
            }
            guard let value = Self.characterReference(reference.dropFirst()), Self.isXMLCharacter(value) else {
                throw EdxmlError(message: "character reference &\(Self.show(reference)); is malformed or not an XML character: "
                    + "write &#decimal; or &#xhex; of a character XML allows", position: tokenPosition)
            }
            scalar = value
        }
        for byte in Self.utf8(scalar) {
            if referenceInAttribute {
                if attributeKept { try keepAttributeByte(byte) }
            } else if capturing {
                guard text.append(byte, bytesMax: limits.fieldBytesMax) else {
                    throw failure("the text of <\(open.last?.name.qualified ?? "")> is longer than fieldBytesMax "
                        + "(\(limits.fieldBytesMax) bytes): shorten the field")
                }
            }
        }
    }

    /// The value of `#…` digits (`x` first for hex), or nil when malformed or too big.
    private static func characterReference(_ digits: ArraySlice<UInt8>) -> UInt32? {
        var digits = digits
        var radix: UInt32 = 10
        if digits.first == UInt8(ascii: "x") {
            radix = 16
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value: UInt32 = 0
        for byte in digits {
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value * radix + digit
            if value > 0x10FFFF { return nil }
        }
        return value
    }

    // MARK: Markup other than tags

    private mutating func beginMarkup() {
        startToken()
        index += 1
        name = []
        state = .markup
    }

    private mutating func scanMarkup() throws(EdxmlError) {
        let byte = input[index]
        switch byte {
        case ASCII.slash:
            index += 1
            state = .endTagName
        case ASCII.question:
            index += 1
            state = .instructionTarget
        case ASCII.exclamation:
            index += 1
            declaration.removeAll(keepingCapacity: true)
            state = .declaration
        case _ where Self.isNameStartByte(byte):
            attributes.removeAll(keepingCapacity: true)
            attributeNames.removeAll(keepingCapacity: true)
            sawSpace = false
            state = .startTagName
        default:
            throw failure("'<' followed by \(Self.show(byte: byte)) does not start a tag: write &lt; for a literal '<' in text")
        }
    }

    private mutating func scanDeclaration() throws(EdxmlError) {
        let comment = Literal.comment
        let cdata = Literal.cdata
        let doctype = Literal.doctype
        while index < input.count {
            declaration.append(input[index])
            index += 1
            if declaration == comment {
                run = 0
                state = .comment
                return
            }
            if declaration == cdata {
                guard !open.isEmpty else {
                    throw EdxmlError(message: "a CDATA section outside the root element: text, CDATA included, "
                        + "belongs inside <edXML>", position: tokenPosition)
                }
                run = 0
                state = .cdata
                return
            }
            if declaration == doctype { throw refuseDeclaration("<!DOCTYPE") }
            guard comment.starts(with: declaration) || cdata.starts(with: declaration)
                || doctype.starts(with: declaration) else {
                throw refuseDeclaration("<!\(Self.show(declaration))")
            }
        }
    }

    /// Every `<!` that is not a comment or CDATA is refused, DOCTYPE first of all. With no DOCTYPE
    /// there are no entity definitions, so nothing can expand ("billion laughs", quadratic blowup)
    /// and no external entity (`SYSTEM "file:///etc/passwd"`, a URL) can ever be read: the only
    /// references left are the five predefined ones and numeric ones, each one character long.
    /// edXML defines no DTD, so a sender loses nothing.
    private func refuseDeclaration(_ what: String) -> EdxmlError {
        EdxmlError(message: "DOCTYPE and other '<!' declarations are refused (found \(what)): "
            + "Axis expands no entities and reads no DTD or external entity; send the edXML without a <!DOCTYPE …>",
            position: tokenPosition)
    }

    private mutating func scanComment() {
        guard let base = input.baseAddress else { return }
        while index < input.count {
            let byte = input[index]
            if byte == ASCII.minus {
                run += 1
                index += 1
            } else if byte == ASCII.greaterThan && run >= 2 {
                index += 1
                state = .content
                return
            } else {
                run = 0
                let dash = memchr(base + index, Int32(ASCII.minus), input.count - index)
                index = dash.map { UnsafeRawPointer($0) - base } ?? input.count
            }
        }
    }

    /// CDATA is text: captured like any other when the element's text is wanted, skipped otherwise.
    private mutating func scanCDATA() throws(EdxmlError) {
        guard let base = input.baseAddress else { return }
        while index < input.count {
            let byte = input[index]
            if byte == ASCII.closeBracket {
                run += 1
                index += 1
            } else if byte == ASCII.greaterThan && run >= 2 {
                if capturing {
                    for _ in 0..<(run - 2) { try capture(ASCII.closeBracket) }
                }
                run = 0
                index += 1
                state = .content
                return
            } else if capturing {
                for _ in 0..<run { try capture(ASCII.closeBracket) }
                run = 0
                try capture(byte)
                index += 1
            } else {
                run = 0
                let bracket = memchr(base + index, Int32(ASCII.closeBracket), input.count - index)
                index = bracket.map { UnsafeRawPointer($0) - base } ?? input.count
            }
        }
    }

    private mutating func scanInstructionTarget() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if !name.isEmpty && (Self.isWhitespace(byte) || byte == ASCII.question) {
                try checkInstructionTarget()
                run = byte == ASCII.question ? 1 : 0
                index += 1
                state = .instruction
                return
            }
            guard name.isEmpty ? Self.isNameStartByte(byte) : Self.isNameByte(byte) else {
                throw failure("\(Self.show(byte: byte)) in the target of processing instruction <?\(Self.show(name)): "
                    + "write <?target …?>")
            }
            guard name.count < limits.nameBytesMax else { throw nameTooLong(name, what: "processing instruction target") }
            name.append(byte)
            index += 1
        }
    }

    /// `<?xml …?>` is the XML declaration, allowed only as the very first thing (after a byte order mark).
    private func checkInstructionTarget() throws(EdxmlError) {
        guard name.count == 3, name.map({ $0 | 0x20 }) == Literal.xml else { return }
        guard name == Literal.xml else {
            throw EdxmlError(message: "processing instruction target '\(Self.show(name))' is reserved: "
                + "write the XML declaration as <?xml …?>", position: tokenPosition)
        }
        guard tokenOffset == byteOrderMarkBytes else {
            throw EdxmlError(message: "the XML declaration <?xml …?> must be the very first thing in the file: "
                + "remove what comes before it, whitespace included", position: tokenPosition)
        }
    }

    private mutating func scanInstruction() {
        guard let base = input.baseAddress else { return }
        while index < input.count {
            let byte = input[index]
            index += 1
            if byte == ASCII.greaterThan && run == 1 {
                state = .content
                return
            }
            run = byte == ASCII.question ? 1 : 0
            if run == 0 {
                let question = memchr(base + index, Int32(ASCII.question), input.count - index)
                index = question.map { UnsafeRawPointer($0) - base } ?? input.count
            }
        }
    }

    // MARK: Start tags

    private mutating func scanStartTagName<Consumer: XMLScannerConsumer>(_ consumer: inout Consumer) throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if Self.isNameByte(byte) {
                guard name.count < limits.nameBytesMax else { throw nameTooLong(name, what: "element name") }
                name.append(byte)
                index += 1
                continue
            }
            index += 1
            switch byte {
            case _ where Self.isWhitespace(byte):
                sawSpace = true
                state = .tagSpace
            case ASCII.greaterThan:
                try completeStartTag(empty: false, &consumer)
            case ASCII.slash:
                state = .emptyTagEnd
            default:
                index -= 1
                throw failure("\(Self.show(byte: byte)) in the element name <\(Self.show(name)): write a name, "
                    + "then attributes as name=\"value\", then '>'")
            }
            return
        }
    }

    private mutating func scanTagSpace<Consumer: XMLScannerConsumer>(_ consumer: inout Consumer) throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            switch byte {
            case _ where Self.isWhitespace(byte):
                sawSpace = true
                index += 1
                continue
            case ASCII.greaterThan:
                index += 1
                try completeStartTag(empty: false, &consumer)
            case ASCII.slash:
                index += 1
                state = .emptyTagEnd
            case _ where Self.isNameStartByte(byte):
                guard sawSpace else {
                    throw failure("attributes of <\(Self.show(name))> must be separated by whitespace")
                }
                guard attributes.count < limits.attributesMax else {
                    throw failure("<\(Self.show(name))> has more than attributesMax (\(limits.attributesMax)) attributes: "
                        + "edXML elements need few; remove the extra attributes")
                }
                attributeStart = attributeNames.count
                attributeHash = 0xCBF2_9CE4_8422_2325
                state = .attributeName
            default:
                throw failure("\(Self.show(byte: byte)) inside the tag <\(Self.show(name))>: expected an attribute "
                    + "name=\"value\", '/>' or '>'")
            }
            return
        }
    }

    private mutating func scanAttributeName() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if Self.isNameByte(byte) {
                guard attributeName.count < limits.nameBytesMax else { throw nameTooLong(attributeName, what: "attribute name") }
                attributeNames.append(byte)
                attributeHash = (attributeHash ^ UInt64(byte)) &* 0x100_0000_01B3
                index += 1
                continue
            }
            if byte == ASCII.equals {
                try endAttributeName()
                index += 1
                state = .attributeQuote
            } else if Self.isWhitespace(byte) {
                index += 1
                state = .attributeEquals
            } else {
                throw missingValue()
            }
            return
        }
    }

    private mutating func scanAttributeEquals() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if Self.isWhitespace(byte) {
                index += 1
                continue
            }
            guard byte == ASCII.equals else { throw missingValue() }
            try endAttributeName()
            index += 1
            state = .attributeQuote
            return
        }
    }

    private mutating func missingValue() -> EdxmlError {
        failure("attribute '\(Self.show(attributeName))' of <\(Self.show(name))> has no value: "
            + "write \(Self.show(attributeName))=\"value\"")
    }

    private mutating func endAttributeName() throws(EdxmlError) {
        let name = attributeName
        if attributes.contains(where: { $0.hash == attributeHash && attributeNames[$0.name] == name }) {
            throw failure("duplicate attribute '\(Self.show(name))' in <\(Self.show(self.name))>: "
                + "an attribute may appear once per element; remove one")
        }
        attributeKept = Self.isNamespaceDeclaration(attributeName)
        if attributeKept { attributeValue = [] }
    }

    private mutating func scanAttributeQuote() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if Self.isWhitespace(byte) {
                index += 1
                continue
            }
            guard byte == ASCII.doubleQuote || byte == ASCII.singleQuote else {
                throw failure("the value of attribute '\(Self.show(attributeName))' in <\(Self.show(name))> is not "
                    + "quoted: write \(Self.show(attributeName))=\"value\"")
            }
            quote = byte
            index += 1
            state = .attributeValue
            return
        }
    }

    private mutating func scanAttributeValue() throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            switch byte {
            case quote:
                index += 1
                attributes.append(Attribute(name: attributeStart..<attributeNames.count, hash: attributeHash,
                                            declaresNamespace: attributeKept, value: attributeKept ? attributeValue : []))
                sawSpace = false
                state = .tagSpace
                return
            case ASCII.lessThan:
                throw failure("'<' in the value of attribute '\(Self.show(attributeName))': write &lt;")
            case ASCII.ampersand:
                beginReference(inAttribute: true)
                return
            default:
                // Attribute-value normalization: a tab or line break counts as a space.
                if attributeKept { try keepAttributeByte(Self.isWhitespace(byte) ? ASCII.space : byte) }
                index += 1
            }
        }
    }

    private mutating func keepAttributeByte(_ byte: UInt8) throws(EdxmlError) {
        guard attributeValue.count < limits.fieldBytesMax else {
            throw failure("the namespace name in '\(Self.show(attributeName))' is longer than fieldBytesMax "
                + "(\(limits.fieldBytesMax) bytes): use the edXML namespace URI")
        }
        attributeValue.append(byte)
    }

    private mutating func scanEmptyTagEnd<Consumer: XMLScannerConsumer>(_ consumer: inout Consumer) throws(EdxmlError) {
        guard input[index] == ASCII.greaterThan else {
            throw failure("'/' in the tag <\(Self.show(name))> must be followed by '>' (an empty element is written <name/>)")
        }
        index += 1
        try completeStartTag(empty: true, &consumer)
    }

    private mutating func completeStartTag<Consumer: XMLScannerConsumer>(
        empty: Bool, _ consumer: inout Consumer
    ) throws(EdxmlError) {
        state = .content
        let position = tokenPosition
        guard !rootClosed else {
            throw EdxmlError(message: "a second root element <\(Self.show(name))> after the first one closed: "
                + "an XML document has exactly one root; send one <edXML> per file", position: position)
        }
        guard open.count < limits.depthMax else {
            throw EdxmlError(message: "<\(Self.show(name))> is nested deeper than depthMax (\(limits.depthMax)) elements: "
                + "edXML needs far fewer levels; flatten the document", position: position)
        }
        elementCount += 1
        guard elementCount <= limits.elementsMax else {
            throw EdxmlError(message: "more than elementsMax (\(limits.elementsMax)) elements: send a smaller document",
                position: position)
        }
        let bindingsBefore = bindings.count
        for attribute in attributes where attribute.declaresNamespace {
            try declareNamespace(attribute)
        }
        let element = try resolve(name, isAttribute: false)
        try checkAttributeNames(of: element)
        if let parent = open.last, parent.captures {
            throw EdxmlError(message: "element <\(element.qualified)> inside <\(parent.name.qualified)>: "
                + "<\(parent.name.local)> holds text only; remove the markup from it", position: position)
        }
        let captures = try consumer.startElement(element, at: position)
        open.append(OpenElement(qualified: name, name: element, position: position,
                                bindingsBefore: bindingsBefore, captures: captures))
        rootSeen = true
        capturing = captures
        if captures { text = CapturedText() }
        if empty { try closeElement(at: position, &consumer) }
    }

    /// `xmlns` or `xmlns:…`, compared by hand: this runs once per attribute.
    private static func isNamespaceDeclaration(_ qualified: ArraySlice<UInt8>) -> Bool {
        guard qualified.count >= 5 else { return false }
        let start = qualified.startIndex
        return qualified[start] == UInt8(ascii: "x") && qualified[start + 1] == UInt8(ascii: "m")
            && qualified[start + 2] == UInt8(ascii: "l") && qualified[start + 3] == UInt8(ascii: "n")
            && qualified[start + 4] == UInt8(ascii: "s") && (qualified.count == 5 || qualified[start + 5] == ASCII.colon)
    }

    /// The name of the attribute being read.
    private var attributeName: ArraySlice<UInt8> { attributeNames[attributeStart...] }

    private mutating func declareNamespace(_ attribute: Attribute) throws(EdxmlError) {
        let qualified = Self.show(attributeNames[attribute.name])
        guard let uri = String(validating: attribute.value, as: UTF8.self) else {
            throw EdxmlError(message: "the namespace name in \(qualified) is not UTF-8", position: tokenPosition)
        }
        let prefix = qualified == "xmlns" ? "" : String(qualified.dropFirst("xmlns:".count))
        if prefix.contains(":") || (qualified != "xmlns" && prefix.isEmpty) {
            throw EdxmlError(message: "malformed namespace declaration \(qualified): write xmlns:prefix=\"uri\"",
                position: tokenPosition)
        }
        if prefix == "xmlns" || uri == Self.xmlnsNamespace || (prefix == "xml") != (uri == Self.xmlNamespace) {
            throw EdxmlError(message: "\(qualified)=\"\(uri)\" misuses a reserved prefix or namespace (xml, xmlns): "
                + "bind your own prefix to your own namespace", position: tokenPosition)
        }
        if !prefix.isEmpty && uri.isEmpty {
            throw EdxmlError(message: "\(qualified)=\"\" cannot undeclare a prefix in XML 1.0: give it a namespace URI",
                position: tokenPosition)
        }
        bindings.append((prefix, uri))
    }

    /// Resolves `qualified` against the namespace declarations in scope. An unprefixed attribute is in
    /// no namespace; an unprefixed element is in the default namespace.
    private func resolve(_ qualified: [UInt8], isAttribute: Bool) throws(EdxmlError) -> XMLName {
        guard let string = String(validating: qualified, as: UTF8.self) else {
            throw EdxmlError(message: "the name <\(Self.show(qualified))> is not UTF-8: save the file as UTF-8",
                position: tokenPosition)
        }
        guard let colon = qualified.firstIndex(of: ASCII.colon) else {
            return XMLName(namespace: isAttribute ? "" : lookup(""), local: string, qualified: string)
        }
        guard colon > 0, colon < qualified.count - 1, qualified.lastIndex(of: ASCII.colon) == colon else {
            throw EdxmlError(message: "malformed qualified name '\(string)': write name or prefix:name", position: tokenPosition)
        }
        // Splitting at an ASCII ':' keeps both halves valid UTF-8.
        let prefix = String(decoding: qualified[..<colon], as: UTF8.self)
        let local = String(decoding: qualified[(colon + 1)...], as: UTF8.self)
        let namespace: String
        if prefix == "xml" {
            namespace = Self.xmlNamespace
        } else if let bound = bindings.last(where: { $0.prefix == prefix }) {
            namespace = bound.uri
        } else {
            let place = isAttribute ? "attribute '\(string)' of <\(Self.show(name))>" : "<\(string)>"
            throw EdxmlError(message: "undeclared namespace prefix '\(prefix)' in \(place): "
                + "declare it with xmlns:\(prefix)=\"…\" on this element or an ancestor", position: tokenPosition)
        }
        return XMLName(namespace: namespace, local: local, qualified: string)
    }

    private func lookup(_ prefix: String) -> String {
        bindings.last(where: { $0.prefix == prefix })?.uri ?? ""
    }

    /// Prefixes of attributes must be declared, and two prefixes for one namespace must not make
    /// two attributes with the same expanded name.
    private func checkAttributeNames(of element: XMLName) throws(EdxmlError) {
        var expanded: [(String, String)] = []
        for attribute in attributes where !attribute.declaresNamespace {
            let qualified = attributeNames[attribute.name]
            guard qualified.contains(ASCII.colon) else { continue }
            let resolved = try resolve(Array(qualified), isAttribute: true)
            if expanded.contains(where: { $0 == (resolved.namespace, resolved.local) }) {
                throw EdxmlError(message: "duplicate attribute '\(resolved.qualified)' in <\(element.qualified)>: "
                    + "two prefixes name the same namespace; remove one", position: tokenPosition)
            }
            expanded.append((resolved.namespace, resolved.local))
        }
    }

    // MARK: End tags

    private mutating func scanEndTagName<Consumer: XMLScannerConsumer>(_ consumer: inout Consumer) throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if name.isEmpty ? Self.isNameStartByte(byte) : Self.isNameByte(byte) {
                guard name.count < limits.nameBytesMax else { throw nameTooLong(name, what: "element name") }
                name.append(byte)
                index += 1
                continue
            }
            guard !name.isEmpty, byte == ASCII.greaterThan || Self.isWhitespace(byte) else {
                throw failure("\(Self.show(byte: byte)) in the end tag </\(Self.show(name)): write </name>")
            }
            index += 1
            if byte == ASCII.greaterThan {
                try completeEndTag(&consumer)
            } else {
                state = .endTagSpace
            }
            return
        }
    }

    private mutating func scanEndTagSpace<Consumer: XMLScannerConsumer>(_ consumer: inout Consumer) throws(EdxmlError) {
        while index < input.count {
            let byte = input[index]
            if Self.isWhitespace(byte) {
                index += 1
                continue
            }
            guard byte == ASCII.greaterThan else {
                throw failure("\(Self.show(byte: byte)) in the end tag </\(Self.show(name)): an end tag has no attributes; write </name>")
            }
            index += 1
            try completeEndTag(&consumer)
            return
        }
    }

    private mutating func completeEndTag<Consumer: XMLScannerConsumer>(_ consumer: inout Consumer) throws(EdxmlError) {
        state = .content
        guard let top = open.last else {
            throw EdxmlError(message: "end tag </\(Self.show(name))> with no open element: remove it", position: tokenPosition)
        }
        guard top.qualified == name else {
            throw EdxmlError(message: "end tag </\(Self.show(name))> does not match <\(top.name.qualified)> opened at "
                + "\(Self.show(top.position)): close elements in the reverse order they were opened",
                position: tokenPosition)
        }
        try closeElement(at: tokenPosition, &consumer)
    }

    private mutating func closeElement<Consumer: XMLScannerConsumer>(
        at position: XMLPosition, _ consumer: inout Consumer
    ) throws(EdxmlError) {
        guard let element = open.popLast() else { return }
        var captured: String?
        if element.captures {
            guard let string = text.string else {
                throw EdxmlError(message: "the text of <\(element.name.qualified)> is not valid UTF-8: "
                    + "save the document as UTF-8", position: element.position)
            }
            captured = string
            capturing = false
            text = CapturedText()
        }
        bindings.removeSubrange(element.bindingsBefore...)
        if open.isEmpty { rootClosed = true }
        try consumer.endElement(element.name, text: captured, at: position)
    }

    // MARK: Bytes

    private mutating func nameTooLong<Bytes: Collection<UInt8>>(_ bytes: Bytes, what: String) -> EdxmlError {
        failure("\(what) '\(Self.show(bytes.prefix(40)))…' is longer than nameBytesMax (\(limits.nameBytesMax) bytes): "
            + "use the edXML element names")
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == ASCII.space || byte == ASCII.tab || byte == ASCII.lineFeed || byte == ASCII.carriageReturn
    }

    /// Names are checked by bytes: ASCII name characters, and any non-ASCII byte (the whole name is
    /// then checked to be UTF-8). Finer Unicode name classes do not matter to anything we read.
    private static func isNameStartByte(_ byte: UInt8) -> Bool {
        let lower = byte | 0x20
        return (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")) || byte == UInt8(ascii: "_")
            || byte == ASCII.colon || byte >= 0x80
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        isNameStartByte(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == ASCII.minus || byte == UInt8(ascii: ".")
    }

    private static func isXMLCharacter(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    private static func utf8(_ scalar: UInt32) -> [UInt8] {
        switch scalar {
        case ..<0x80: return [UInt8(scalar)]
        case ..<0x800: return [UInt8(0xC0 | scalar >> 6), UInt8(0x80 | scalar & 0x3F)]
        case ..<0x10000:
            return [UInt8(0xE0 | scalar >> 12), UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)]
        default:
            return [UInt8(0xF0 | scalar >> 18), UInt8(0x80 | scalar >> 12 & 0x3F),
                    UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)]
        }
    }

    /// Bytes for a message, invalid UTF-8 replaced.
    private static func show<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    private static func show(byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }

    static func show(_ position: XMLPosition) -> String {
        "line \(position.line), column \(position.column)"
    }
}

/// The text of one captured field: leading whitespace dropped as it arrives, trailing whitespace
/// dropped at the end, at most `bytesMax` bytes kept.
private struct CapturedText {
    private var bytes: [UInt8] = []
    /// `bytes.count` without trailing whitespace.
    private var trimmedCount = 0
    /// Trailing whitespace ran past the limit: it is no longer kept, and any more text is too long.
    private var whitespaceOverflow = false

    /// Adds a byte; false when the trimmed text would be longer than `bytesMax`.
    mutating func append(_ byte: UInt8, bytesMax: Int) -> Bool {
        let isWhitespace = byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
        if isWhitespace {
            if bytes.isEmpty || whitespaceOverflow { return true }
            if bytes.count >= bytesMax {
                whitespaceOverflow = true
                return true
            }
            bytes.append(byte)
            return true
        }
        if whitespaceOverflow { return false }
        bytes.append(byte)
        trimmedCount = bytes.count
        return trimmedCount <= bytesMax
    }

    /// The trimmed text, or nil when it is not UTF-8.
    var string: String? {
        String(validating: bytes[..<trimmedCount], as: UTF8.self)
    }
}

/// The byte strings the scanner compares with.
private enum Literal {
    static let amp = Array("amp".utf8)
    static let lt = Array("lt".utf8)
    static let gt = Array("gt".utf8)
    static let quot = Array("quot".utf8)
    static let apos = Array("apos".utf8)
    static let comment = Array("--".utf8)
    static let cdata = Array("[CDATA[".utf8)
    static let doctype = Array("DOCTYPE".utf8)
    static let xml = Array("xml".utf8)
}

/// The bytes the scanner looks for.
private enum ASCII {
    static let tab: UInt8 = 0x09
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let exclamation = UInt8(ascii: "!")
    static let doubleQuote = UInt8(ascii: "\"")
    static let hash = UInt8(ascii: "#")
    static let ampersand = UInt8(ascii: "&")
    static let singleQuote = UInt8(ascii: "'")
    static let minus = UInt8(ascii: "-")
    static let slash = UInt8(ascii: "/")
    static let colon = UInt8(ascii: ":")
    static let semicolon = UInt8(ascii: ";")
    static let lessThan = UInt8(ascii: "<")
    static let equals = UInt8(ascii: "=")
    static let greaterThan = UInt8(ascii: ">")
    static let question = UInt8(ascii: "?")
    static let closeBracket = UInt8(ascii: "]")
}
