/// The certificates a DER CMS SignedData carries, found by walking the DER without decoding it, and
/// the same structure with them removed.
///
/// Why: decoding a certificate (above all its public key) is most of the cost of parsing a CMS
/// signature in OpenSSL 3.0 — several times the RSA verification itself. When the verifier already
/// holds the signer's certificate (its chain cache, keyed by the SHA-256 of the certificate's DER),
/// it fingerprints the carried certificates straight from these byte ranges and parses the stripped
/// copy, reusing its own decoded certificate and key.
struct CarriedCertificates {
    /// Each carried certificate's full DER encoding, as a range of the input.
    let ranges: [Range<Int>]
    /// The input with the `certificates` field removed (and the enclosing lengths fixed).
    let stripped: [UInt8]

    /// Nil when the input is not a definite-length DER ContentInfo holding a SignedData with a
    /// certificates field of plain certificates; callers then parse the whole structure as usual.
    static func split(_ der: UnsafeRawBufferPointer) -> CarriedCertificates? {
        guard let outer = element(der, at: 0, end: der.count), outer.tag == 0x30 else { return nil }
        let outerEnd = outer.contentStart + outer.length
        guard let oid = element(der, at: outer.contentStart, end: outerEnd), oid.tag == 0x06,
              let wrapper = element(der, at: oid.end, end: outerEnd), wrapper.tag == 0xA0,
              let signedData = element(der, at: wrapper.contentStart, end: wrapper.end), signedData.tag == 0x30,
              let version = element(der, at: signedData.contentStart, end: signedData.end), version.tag == 0x02,
              let digests = element(der, at: version.end, end: signedData.end), digests.tag == 0x31,
              let encapsulated = element(der, at: digests.end, end: signedData.end), encapsulated.tag == 0x30,
              let certificates = element(der, at: encapsulated.end, end: signedData.end), certificates.tag == 0xA0 else { return nil }
        var ranges: [Range<Int>] = []
        var cursor = certificates.contentStart
        while cursor < certificates.end {
            // Only plain certificates (SEQUENCE); other CertificateChoices make us fall back.
            guard let certificate = element(der, at: cursor, end: certificates.end), certificate.tag == 0x30 else { return nil }
            ranges.append(cursor..<certificate.end)
            cursor = certificate.end
        }
        // Rebuild the three enclosing headers with their new lengths; copy everything else as is.
        let removed = certificates.end - certificates.start
        let signedDataLength = signedData.length - removed
        let wrapperLength = 1 + derLengthSize(signedDataLength) + signedDataLength
        let outerLength = (oid.end - oid.start) + 1 + derLengthSize(wrapperLength) + wrapperLength
        var stripped: [UInt8] = []
        stripped.reserveCapacity(1 + derLengthSize(outerLength) + outerLength)
        stripped.append(0x30)
        appendDERLength(outerLength, to: &stripped)
        stripped.append(contentsOf: UnsafeRawBufferPointer(rebasing: der[oid.start..<oid.end]))
        stripped.append(0xA0)
        appendDERLength(wrapperLength, to: &stripped)
        stripped.append(0x30)
        appendDERLength(signedDataLength, to: &stripped)
        stripped.append(contentsOf: UnsafeRawBufferPointer(rebasing: der[signedData.contentStart..<certificates.start]))
        stripped.append(contentsOf: UnsafeRawBufferPointer(rebasing: der[certificates.end..<signedData.end]))
        return CarriedCertificates(ranges: ranges, stripped: stripped)
    }

    struct Element {
        let tag: UInt8
        let start: Int
        let contentStart: Int
        let length: Int
        var end: Int { contentStart + length }
    }

    /// The element at `offset` (low tag numbers, definite lengths up to 4 length octets), or nil.
    static func element(_ der: UnsafeRawBufferPointer, at offset: Int, end: Int) -> Element? {
        guard offset + 2 <= end else { return nil }
        let tag = der[offset]
        guard tag & 0x1F != 0x1F else { return nil }
        var length = Int(der[offset + 1])
        var header = 2
        if length & 0x80 != 0 {
            let octets = length & 0x7F
            guard octets >= 1, octets <= 4, offset + 2 + octets <= end else { return nil }  // 0x80: indefinite (BER)
            length = 0
            for k in 0..<octets { length = length << 8 | Int(der[offset + 2 + k]) }
            header += octets
        }
        guard offset + header + length <= end else { return nil }
        return Element(tag: tag, start: offset, contentStart: offset + header, length: length)
    }
}

/// A DER length: short form below 128, long form above.
func derLength(_ n: Int) -> [UInt8] {
    var out: [UInt8] = []
    appendDERLength(n, to: &out)
    return out
}

func appendDERLength(_ n: Int, to out: inout [UInt8]) {
    if n < 0x80 { out.append(UInt8(n)); return }
    let octets = derLengthSize(n) - 1
    out.append(0x80 | UInt8(octets))
    for shift in stride(from: (octets - 1) * 8, through: 0, by: -8) { out.append(UInt8((n >> shift) & 0xFF)) }
}

/// How many bytes `appendDERLength` writes for `n`.
func derLengthSize(_ n: Int) -> Int {
    if n < 0x80 { return 1 }
    var octets = 0
    var v = n
    while v > 0 { octets += 1; v >>= 8 }
    return 1 + octets
}
