/// The `edxml` fuzz target: arbitrary bytes as an edXML file sent to Axis.
extension FuzzEntry {
    /// Small limits, so that every limit is within reach of a short input.
    static var edxmlSmallLimits: EdxmlLimits {
        var limits = EdxmlLimits()
        limits.bytesMax = 4096
        limits.depthMax = 6
        limits.elementsMax = 64
        limits.fieldBytesMax = 24
        limits.attributesMax = 3
        limits.nameBytesMax = 20
        return limits
    }

    /// Reads `data` with the default and with small limits, in one piece, byte by byte and at scattered
    /// cuts: every cutting must give the same facts or the same error (message, line and column),
    /// an error must stick, and accepted facts must obey the rules `EdxmlReader` promises.
    @Sendable
    public static func edxml(_ data: UnsafeRawBufferPointer) throws(FuzzViolation) {
        for limits in [EdxmlLimits(), edxmlSmallLimits] {
            let expected = try edxmlRead(data, FuzzCuts.whole(data.count), limits)
            for cuts in [FuzzCuts.byteAtATime(data.count), FuzzCuts.scattered(data, salt: 1)] {
                let got = try edxmlRead(data, cuts, limits)
                try check(got == expected, "edxml", "reads cut at \(cuts.map(\.lowerBound).prefix(40)) give \(got) but one read gives \(expected)")
            }
            if case .success(let facts) = expected { try edxmlRules(facts) }
        }
    }

    static func edxmlRead(_ data: UnsafeRawBufferPointer, _ cuts: [Range<Int>],
                          _ limits: EdxmlLimits) throws(FuzzViolation) -> Result<EdxmlFacts, EdxmlError> {
        let reader = EdxmlReader(limits: limits)
        for cut in cuts {
            // Each read in its own exact-size buffer, so AddressSanitizer sees any read past its end.
            let read = UnsafeMutableRawBufferPointer.allocate(byteCount: cut.count, alignment: 1)
            defer { read.deallocate() }
            if cut.count > 0, let source = data.baseAddress, let target = read.baseAddress {
                target.copyMemory(from: source + cut.lowerBound, byteCount: cut.count)
            }
            do {
                try reader.feed(UnsafeRawBufferPointer(read))
            } catch {
                try edxmlSticks(reader, error)
                return .failure(error)
            }
        }
        let finished = Result { () throws(EdxmlError) in try reader.finish() }
        switch finished {
        case .success:
            // A finished reader takes no more bytes.
            let extra: [UInt8] = [0x20]
            let refused = extra.withUnsafeBytes { chunk in Result { () throws(EdxmlError) in try reader.feed(chunk) } }
            if case .success = refused { throw FuzzViolation("edxml", "a finished EdxmlReader accepted more bytes") }
        case .failure(let error):
            try edxmlSticks(reader, error)
        }
        return finished
    }

    /// After an error, feeding or finishing again gives the same error.
    private static func edxmlSticks(_ reader: EdxmlReader, _ error: EdxmlError) throws(FuzzViolation) {
        let again = Result { () throws(EdxmlError) in try reader.finish() }
        try check(again == .failure(error), "edxml", "after \(error), finish() gives \(again)")
    }

    /// What the reader promises about facts it returns (see the notes in EdxmlFacts.swift).
    static func edxmlRules(_ facts: EdxmlFacts) throws(FuzzViolation) {
        try check(!facts.from.isEmpty, "edxml", "accepted facts without From: \(facts)")
        try check(facts.businessDocType <= 3, "edxml", "BussinessDocType \(facts.businessDocType) accepted")
        try check(!facts.to.contains(where: \.isEmpty) && !facts.receivers.contains(where: \.isEmpty), "edxml",
                  "an empty To or Receiver OrganId accepted: \(facts)")
        switch facts.kind {
        case .document:
            try check(!facts.to.isEmpty, "edxml", "a document without To accepted: \(facts)")
        case .status:
            try check(facts.to.isEmpty && !facts.statusCode.isEmpty && !facts.responseFor.isEmpty
                      && facts.responseFor.allSatisfy { !$0.organID.isEmpty }, "edxml",
                      "a status that cannot be routed accepted: \(facts)")
        }
    }
}
