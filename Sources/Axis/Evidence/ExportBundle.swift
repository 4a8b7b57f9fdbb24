@preconcurrency import Glibc

/// An evidence bundle for one stored document: everything an auditor needs to check it years later
/// with stock `openssl`, and a README with the exact commands.
///
///     document            the exact bytes accepted
///     document.p7s        the sender's detached CMS signature (DER), as received
///     signer.pem          the signer's certificate; chain.pem: the other certificates the signature carries
///     receipt.p7s         the axis receipt: CMS (DER) with the receipt JSON embedded
///     receipt.json        that JSON, extracted (canonical: sorted keys, ASCII)
///     recipient-<code>.p7s  receipts recipients signed when acknowledging, if any
///     trust.pem, crls.pem   copies of the trust anchors and CRLs, when given
///     README.txt
public enum ExportBundle {
    public struct Written: Sendable {
        public let directory: String
        public let files: [String]
    }

    public static func write(dataDirectory: String, document id: DocumentID, to output: String,
                             trust: TrustStore? = nil, storage: any Storage = PosixStorage()) throws -> Written {
        let layout = AxisCore.Layout(data: dataDirectory)
        let journalDirectory = try JournalInspection.journalDirectory(for: dataDirectory, storage: storage)
        var accepted: (record: DocumentAccepted, entry: JournalEntry)?
        var receiptRef: PayloadRef?
        var recipientReceipts: [(AgencyCode, PayloadRef)] = []
        let scan = try JournalScanner.scan(directory: journalDirectory, storage: storage, onRecord: { entry in
            guard let record = try? JournalRecord.decode(kind: entry.kind, body: entry.body) else { return }
            switch record {
            case .documentAccepted(let a) where a.id == id: accepted = (a, entry)
            case .receiptIssued(let r) where r.document == id: receiptRef = r.receipt
            case .deliveryAcknowledged(let ack) where ack.document == id:
                if let ref = ack.receipt { recipientReceipts.append((ack.recipient, ref)) }
            default: break
            }
        })
        guard let accepted else { throw AxisError(.usage, "document \(id) is not in the journal at \(journalDirectory)") }
        if !scan.damage.isEmpty {
            throw AxisError(.journalCorrupt, "the journal is damaged (\(scan.damage.count) problem(s)); run axisctl journal check "
                + "before exporting evidence from it")
        }
        try createEmptyDirectory(output)
        var files: [String] = []
        func put(_ name: String, _ bytes: [UInt8]) throws {
            try FileBytes.create(PathJoin.join(output, name), bytes)
            files.append(name)
        }
        func payload(_ ref: PayloadRef) throws -> [UInt8] { try PayloadStore.read(ref, directory: layout.payloads, storage: storage) }

        try put("document", try payload(accepted.record.payload))
        var signingTime: Timestamp?
        var ed25519Signers: Set<String> = []
        if let signatureRef = accepted.record.signature {
            let signature = try payload(signatureRef)
            try put("document.p7s", signature)
            let (signer, others, time) = try signatureCertificates(signature)
            signingTime = time
            if signer?.publicKey?.kind == .ed25519 { ed25519Signers.insert("document.p7s") }
            if let signer { try put("signer.pem", Array(signer.pem.utf8)) }
            if !others.isEmpty { try put("chain.pem", Array(others.map(\.pem).joined().utf8)) }
        }
        if let receiptRef {
            let signed = try payload(receiptRef)
            try put("receipt.p7s", signed)
            if let content = signed.withUnsafeBytes({ raw in (try? SignedData.parse(raw))?.embeddedContent }) {
                try put("receipt.json", content)
            }
        }
        for (recipient, ref) in recipientReceipts {
            let receipt = try payload(ref)
            let name = "recipient-\(recipient.rawValue).p7s"
            try put(name, receipt)
            if (try? signatureCertificates(receipt))?.0?.publicKey?.kind == .ed25519 { ed25519Signers.insert(name) }
        }
        if let trust {
            try put("trust.pem", Array(trust.anchors.map(\.pem).joined().utf8))
            if !trust.revocationLists.isEmpty { try put("crls.pem", Array(trust.revocationLists.map(\.pem).joined().utf8)) }
        }
        try put("README.txt", Array(readme(accepted.record, sequence: accepted.entry.sequence, files: Set(files),
                                           signingTime: signingTime, ed25519: ed25519Signers).utf8))
        return Written(directory: output, files: files)
    }

    /// The signer's certificate, the other certificates, and the signing time of a detached signature.
    static func signatureCertificates(_ signature: [UInt8]) throws -> (Certificate?, [Certificate], Timestamp?) {
        let cms = try signature.withUnsafeBytes { try SignedData.parse($0) }
        let certificates = try cms.certificates()
        guard let signerInfo = cms.signerInfos.first else { return (nil, certificates, nil) }
        let signer = certificates.first { SignedData.signerMatches(signerInfo, $0) }
        var time: Timestamp?
        if case .value(let t) = SignedData.signingTime(signerInfo) { time = t }
        return (signer, certificates.filter { $0 !== signer }, time)
    }

    static func readme(_ a: DocumentAccepted, sequence: UInt64, files: Set<String>, signingTime: Timestamp?,
                       ed25519: Set<String>) -> String {
        let trustFile = files.contains("trust.pem") ? "trust.pem" : "YOUR-TRUSTED-ROOTS.pem"
        var step = 1
        func next() -> Int { step += 1; return step }
        var text = """
        Axis evidence bundle
        ====================
        Document \(a.id), from \(a.sender) to \(a.recipients.map(\.rawValue).joined(separator: ", ")),
        sender's id "\(a.senderDocumentID)", accepted \(a.acceptedAt), journal sequence \(sequence).
        SHA-256 of the document: \(a.payload.sha256.hex)

        Check it with stock OpenSSL 3 from this directory. Use your own copy of the trusted root
        certificates: \(files.contains("trust.pem") ? "trust.pem is the exporter's copy, for convenience only." : "replace YOUR-TRUSTED-ROOTS.pem with it.")

        1. The document is the one accepted (compare with "sha256" in receipt.json):

           sha256sum document

        """
        if files.contains("document.p7s") {
            let chain = files.contains("chain.pem") ? " -certfile chain.pem" : ""
            let attime = signingTime.map { " -attime \($0.millis / 1000)" } ?? ""
            let when = signingTime.map { "at the signing time \($0) (-attime)" } ?? "now (the signature carries no signing time)"
            text += """

            \(next()). The sender's signature over the exact bytes, and its certificate chain, \(when):

               openssl cms -verify -binary -inform DER -in document.p7s -content document -CAfile \(trustFile)\(chain) -purpose any\(attime) -out /dev/null

            """
            if files.contains("crls.pem") {
                let untrusted = files.contains("chain.pem") ? " -untrusted chain.pem" : ""
                text += """

                \(next()). The signer's certificate is not revoked by the exported CRLs (validity dates were checked in step 2):

                   openssl verify -no_check_time -crl_check -CRLfile crls.pem -CAfile \(trustFile)\(untrusted) signer.pem

                """
            }
        }
        if files.contains("receipt.p7s") {
            text += """

            \(next()). The axis receipt: signed by the axis, and its content is receipt.json:

               openssl cms -verify -binary -inform DER -in receipt.p7s -CAfile \(trustFile) -purpose any -out receipt.checked.json
               cmp receipt.json receipt.checked.json

            """
        }
        let recipientFiles = files.filter { $0.hasPrefix("recipient-") }.sorted()
        if !recipientFiles.isEmpty {
            text += """

            \(next()). Receipts signed by recipients when they acknowledged (detached signatures over the document):


            """
            for name in recipientFiles {
                text += "   openssl cms -verify -binary -inform DER -in \(name) -content document -CAfile \(trustFile) -purpose any -out /dev/null\n"
            }
        }
        if !ed25519.isEmpty {
            text += """

            Note: \(ed25519.sorted().joined(separator: ", ")) \(ed25519.count == 1 ? "is" : "are") signed with Ed25519 (RFC 8419). OpenSSL 3's
            cms command cannot check Ed25519 CMS signatures (openssl/openssl#11915), so its command above fails
            with "invalid digest"; axisctl verify --data checks them.

            """
        }
        text += """

        "Verification successful" (from openssl cms) and "signer.pem: OK" (from openssl verify) are the
        expected outputs. axisctl verify --data <dir> \(a.id) --trust <roots> runs all of these checks and more
        (agency binding, the journal's hash chain) in one command.

        """
        return text
    }

    static func createEmptyDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { return }
        guard errno == EEXIST else { throw AxisError(.storageIO, "cannot create \(path)", errno: errno) }
        guard let dir = opendir(path) else { throw AxisError(.storageIO, "cannot open \(path)", errno: errno) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." {
                throw AxisError(.usage, "\(path) is not empty; give a new or empty directory for the bundle")
            }
        }
    }
}
