/// Records as ordered fields: the one description used by `axisctl journal dump` (text and
/// `--json`) and, later, by traces. Field names are part of the documented JSON schema.
extension JournalRecord {
    public var fields: [(String, JSONValue)] {
        func t(_ x: Timestamp) -> JSONValue { .string(x.description) }
        func s(_ x: CustomStringConvertible) -> JSONValue { .string(x.description) }
        func ref(_ r: PayloadRef?) -> JSONValue {
            guard let r else { return .null }
            return .object([("sha256", .string(r.sha256.hex)), ("length", .int(Int64(r.length))),
                            ("segment", .int(Int64(r.segment))), ("offset", .int(Int64(r.offset)))])
        }
        switch self {
        case .documentAccepted(let r):
            return [("document", s(r.id)), ("sender", s(r.sender)), ("recipients", .array(r.recipients.map(s))),
                    ("senderDocumentId", .string(r.senderDocumentID)), ("subject", .string(r.subject)),
                    ("messageType", .string("\(r.messageType)")), ("businessType", .string("\(r.businessType)")),
                    ("refersTo", .array(r.refersTo.map(s))), ("statusCode", .string(r.statusCode)),
                    ("contentType", .string(r.contentType)), ("payload", ref(r.payload)), ("signature", ref(r.signature)),
                    ("signerFingerprint", r.signerFingerprint.map { .string($0.hex) } ?? .null),
                    ("signerSubject", .string(r.signerSubject)), ("ingress", .string("\(r.ingress)")),
                    ("submittedBy", r.submittedBy.map(s) ?? .null), ("acceptedAt", t(r.acceptedAt))]
        case .deliveryLeased(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)), ("until", t(r.until)),
                    ("actor", s(r.actor))]
        case .deliveryAttempted(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)),
                    ("attempt", .int(Int64(r.attempt))), ("endpoint", .string(r.endpoint))]
        case .deliveryFailed(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)),
                    ("attempt", .int(Int64(r.attempt))), ("reason", .string(r.reason)), ("retryAt", t(r.retryAt))]
        case .deliveryReleased(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)), ("actor", s(r.actor)),
                    ("reason", .string(r.reason))]
        case .deliveryDelivered(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)),
                    ("endpoint", .string(r.endpoint))]
        case .deliveryAcknowledged(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)), ("actor", s(r.actor)),
                    ("receipt", ref(r.receipt))]
        case .recipientStatus(let r):
            return [("document", s(r.document)), ("recipient", s(r.recipient)), ("at", t(r.at)), ("code", .string(r.code)),
                    ("description", .string(r.description)), ("statusDocument", r.statusDocument.map(s) ?? .null)]
        case .deliveryControl(let r):
            return [("action", s(r.action)), ("document", s(r.document)), ("recipient", r.recipient.map(s) ?? .null),
                    ("at", t(r.at)), ("actor", s(r.actor)), ("reason", .string(r.reason))]
        case .agencyChanged(let r):
            let a = r.agency
            return [("agency", s(a.code)), ("parent", a.parent.map(s) ?? .null), ("name", .string(a.name)),
                    ("email", .string(a.email)), ("endpoint", .string(a.endpoint)), ("system", a.system.map(s) ?? .null),
                    ("certificateFingerprints", .array(a.certificateFingerprints.map { .string($0.hex) })),
                    ("subjectRule", .string(a.subjectRule)), ("enabled", .bool(a.enabled)), ("at", t(r.at)),
                    ("actor", s(r.actor)), ("reason", .string(r.reason))]
        case .systemChanged(let r):
            let x = r.system
            // The VDXP secret is never printed: dumps end up in tickets and chat.
            return [("system", s(x.id)), ("name", .string(x.name)),
                    ("tlsFingerprints", .array(x.tlsFingerprints.map { .string($0.hex) })),
                    ("subjectRule", .string(x.subjectRule)), ("agencies", .array(x.agencies.map(s))),
                    ("vdxpSystemId", .string(x.vdxpSystemID)), ("vdxpSecretSet", .bool(!x.vdxpSecret.isEmpty)),
                    ("enabled", .bool(x.enabled)), ("at", t(r.at)), ("actor", s(r.actor)), ("reason", .string(r.reason))]
        case .receiptIssued(let r):
            return [("document", s(r.document)), ("at", t(r.at)), ("receipt", ref(r.receipt))]
        case .checkpoint(let r):
            return [("at", t(r.at)), ("note", .string(r.note))]
        case .compaction(let n):
            return [("at", t(n.at)), ("firstKept", .int(Int64(n.firstKept))), ("boundaryChain", .string(n.boundaryChain.hex)),
                    ("removedSegments", .array(n.removedSegments.map { .string($0) })),
                    ("removedRecords", .int(Int64(n.removedRecords))), ("removedDocuments", .int(Int64(n.removedDocuments))),
                    ("newestRemovedDocument", n.newestRemovedDocument.map(s) ?? .null),
                    ("retentionSeconds", .int(n.retentionSeconds)), ("resumesAt", .array(n.resumesAt.map { .int(Int64($0)) })),
                    ("actor", s(n.actor)), ("reason", .string(n.reason)), ("signed", .bool(!n.signature.isEmpty)),
                    ("signature", .string(Base64.encode(n.signature)))]
        case .salvage(let n):
            return [("movedSegments", .array(n.movedSegments.map { .string($0) })),
                    ("resumesAt", .array(n.resumesAt.map { .int(Int64($0)) })), ("reason", .string(n.reason))]
        case .opaque(let bytes):
            return [("bytes", .int(Int64(bytes.count)))]
        }
    }
}
