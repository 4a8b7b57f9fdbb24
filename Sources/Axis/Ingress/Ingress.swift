import Dispatch

/// A submitted body: in memory (small documents), or already streamed durably into the payload store
/// with the digests its signature needs (large ones, which never sit whole in memory).
public enum SubmittedBody: Sendable {
    case memory([UInt8], sha256: Digest256)
    case stored(PayloadRef, DocumentDigests)

    public var sha256: Digest256 {
        switch self {
        case .memory(_, let sha256): return sha256
        case .stored(let ref, _): return ref.sha256
        }
    }
}

public enum IngressOutcome: Sendable {
    /// Newly accepted: durable, with the axis's signed receipt.
    case accepted(AcceptedDocument)
    /// Accepted before under the same sender and id with the same bytes: the original acceptance.
    case duplicate(QueueState.Document, signedReceipt: [UInt8])
    case refused(HTTPError)
}

/// Turns submissions into accepted documents: the one path every ingress (native API, VDXP API)
/// takes, so idempotency, verification, durability and receipts are decided in one place.
///
/// Per submission: reserve the idempotency key (sender, sender's id) so a concurrent resubmission
/// waits its turn instead of racing; decide against the journal (`SubmissionDecision`); verify the
/// signature on a worker; store the payload and signature (group-committed, durable); journal the
/// acceptance (group-committed, durable); sign the receipt and answer; store and journal the receipt;
/// release the key. Nothing here blocks a thread on I/O: storage and journal completions continue the work, CPU
/// work (verification, signing) runs on `workers`.
public final class Ingress: @unchecked Sendable {
    public let core: AxisCore
    public let verifier: SignatureVerifier
    public let issuer: ReceiptIssuer
    private let workers: DispatchQueue
    /// Keys with a submission under way, each with the submissions waiting behind it.
    private let reservations = Locked<[QueueState.SenderKey: [@Sendable () -> Void]]>([:])

    public init(core: AxisCore, verifier: SignatureVerifier, issuer: ReceiptIssuer,
                workers: DispatchQueue = DispatchQueue(label: "axis.ingress", qos: .userInitiated, attributes: .concurrent)) {
        self.core = core
        self.verifier = verifier
        self.issuer = issuer
        self.workers = workers
    }

    public func submit(_ submission: Submission, body: SubmittedBody, via ingress: DocumentAccepted.Ingress,
                       by system: SystemID?, completion: @escaping @Sendable (IngressOutcome) -> Void) {
        let key = QueueState.SenderKey(sender: submission.sender, senderDocumentID: submission.senderDocumentID)
        let start: @Sendable () -> Void = { [self] in
            workers.async {
                self.process(submission, body: body, ingress: ingress, system: system,
                             respond: completion, release: { self.release(key) })
            }
        }
        let runNow = reservations.update { waiting -> Bool in
            if waiting[key] != nil {
                waiting[key, default: []].append(start)
                return false
            }
            waiting[key] = []
            return true
        }
        if runNow { start() }
    }

    private func release(_ key: QueueState.SenderKey) {
        let next = reservations.update { waiting -> (@Sendable () -> Void)? in
            guard var queue = waiting[key], !queue.isEmpty else {
                waiting[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            waiting[key] = queue
            return first
        }
        next?()
    }

    // MARK: The steps

    /// Runs on a worker with the key reserved; `respond` and then `release` run exactly once each
    /// (a new acceptance is answered before its receipt is journaled; the key stays reserved until it is).
    private func process(_ submission: Submission, body: SubmittedBody, ingress: DocumentAccepted.Ingress, system: SystemID?,
                         respond: @escaping @Sendable (IngressOutcome) -> Void, release: @escaping @Sendable () -> Void) {
        let done: @Sendable (IngressOutcome) -> Void = { outcome in
            respond(outcome)
            release()
        }
        let (existing, senderEntry, unknown) = core.withState { state in
            (state.document(sender: submission.sender, senderDocumentID: submission.senderDocumentID),
             state.agencies[submission.sender],
             submission.recipients.filter { state.agencies[$0]?.enabled != true })
        }
        switch SubmissionDecision.decide(existing: existing, sha256: body.sha256, recipients: submission.recipients) {
        case .conflict(let id, let reason):
            return done(.refused(HTTPError(.conflict, HTTPError.Code("document_id_conflict"),
                "\(submission.sender) already sent document id '\(submission.senderDocumentID)' \(reason) as axis document \(id); "
                + "use a new Axis-Document-Id for a new document")))
        case .duplicate:
            guard let existing else { return done(.refused(Self.internalError("duplicate without a document"))) }
            return duplicate(existing, done: done)
        case .accept:
            break
        }
        guard let senderEntry, senderEntry.enabled else {
            return done(.refused(HTTPError(.forbidden, HTTPError.Code("unknown_sender"),
                "agency \(submission.sender) is not in the directory or is disabled")))
        }
        guard unknown.isEmpty else { return done(.refused(Self.unknownRecipients(unknown))) }

        let signer: (fingerprint: Digest256, subject: String)?
        switch submission.verification {
        case .edxmlEnvelope:
            signer = nil
        case .cms:
            switch verify(submission, body: body, senderEntry: senderEntry) {
            case .failure(let refusal): return done(.refused(refusal))
            case .success(let trusted): signer = trusted
            }
        }

        storePayloads(body: body, signature: submission.signature) { [self] stored in
            switch stored {
            case .failure(let error):
                done(.refused(Self.storageError(error)))
            case .success(let (payload, signature)):
                let now = core.clock.now()
                var rng = SystemRandomNumberGenerator()
                let record = DocumentAccepted(
                    id: DocumentID.generate(at: now, using: &rng), sender: submission.sender, recipients: submission.recipients,
                    senderDocumentID: submission.senderDocumentID, subject: submission.subject,
                    messageType: submission.messageType, businessType: submission.businessType, refersTo: submission.refersTo,
                    statusCode: submission.statusCode, contentType: submission.contentType, payload: payload, signature: signature,
                    signerFingerprint: signer?.fingerprint, signerSubject: signer?.subject ?? "", ingress: ingress,
                    submittedBy: system, acceptedAt: now, edxml: submission.edxml)
                var records: [JournalRecord] = [.documentAccepted(record)]
                if let report = submission.statusReport {
                    records.append(.recipientStatus(RecipientStatus(
                        document: report.document, recipient: report.recipient, at: now, code: submission.statusCode,
                        description: report.description, statusDocument: record.id)))
                }
                core.record(records) { journaled in
                    switch journaled {
                    case .failure(let error):
                        done(.refused(Self.storageError(error)))
                    case .success(let positions):
                        self.workers.async { self.issueReceipt(record, at: positions[0], respond: respond, release: release) }
                    }
                }
            }
        }
    }

    /// Checks the detached CMS signature and its binding to the sending agency.
    private func verify(_ submission: Submission, body: SubmittedBody,
                        senderEntry: AgencyEntry) -> Result<(fingerprint: Digest256, subject: String), HTTPError> {
        let report: SignatureReport
        do {
            switch body {
            case .memory(let bytes, _):
                report = try verifier.verify(document: bytes, signature: submission.signature, binding: AgencyBinding(senderEntry))
            case .stored(_, let digests):
                report = try verifier.verify(documentDigests: digests, signature: submission.signature, binding: AgencyBinding(senderEntry))
            }
        } catch {
            return .failure(HTTPError(.unprocessableContent, HTTPError.Code("signature_unreadable"),
                "the signature could not be checked: \(error)"))
        }
        guard case .trusted(let signer) = report.verdict else {
            let reasons = report.failures.map(\.description)
            return .failure(HTTPError(.unprocessableContent, HTTPError.Code("signature_rejected"),
                "the signature does not hold (\(reasons.count) check\(reasons.count == 1 ? "" : "s") failed): "
                + reasons.joined(separator: "; "), details: reasons))
        }
        return .success((signer.fingerprint, signer.subject))
    }

    /// Signs the receipt and answers at once (the acceptance is durable: that is what the receipt
    /// promises), then stores and journals the receipt before releasing the key, so a resubmission
    /// finds the very receipt the sender got. If the process dies in between, a resubmission gets a
    /// receipt signed afresh over the same journal facts.
    private func issueReceipt(_ record: DocumentAccepted, at position: AppendReceipt, respond: @escaping @Sendable (IngressOutcome) -> Void,
                              release: @escaping @Sendable () -> Void) {
        let receipt = AcceptanceReceipt(accepted: record, position: position)
        let signed: [UInt8]
        do {
            signed = try issuer.sign(receipt)
        } catch {
            // The document is accepted and durable; only the receipt failed. A resubmission re-issues it.
            respond(.refused(HTTPError(.internalServerError, HTTPError.Code("receipt_failed"),
                "document \(record.id) was accepted and stored, but the receipt could not be signed (\(error)); "
                + "resubmit the same request to get it")))
            return release()
        }
        respond(.accepted(AcceptedDocument(record: record, position: position, receipt: receipt, signedReceipt: signed)))
        journalReceipt(signed, for: record.id) { _ in release() }
    }

    private func duplicate(_ document: QueueState.Document, done: @escaping @Sendable (IngressOutcome) -> Void) {
        if let ref = document.receipt {
            do {
                return done(.duplicate(document, signedReceipt: try core.payloads.read(ref)))
            } catch {
                return done(.refused(Self.storageError(error)))
            }
        }
        // Accepted, but the process stopped before its receipt was journaled: sign it now over the
        // same facts (the journal position is known) and keep it.
        let position = AppendReceipt(sequence: document.sequence, chain: document.chain, segment: 0, offset: 0)
        do {
            let signed = try issuer.sign(AcceptanceReceipt(accepted: document.accepted, position: position))
            journalReceipt(signed, for: document.accepted.id) { _ in done(.duplicate(document, signedReceipt: signed)) }
        } catch {
            done(.refused(HTTPError(.internalServerError, HTTPError.Code("receipt_failed"),
                "document \(document.accepted.id) is accepted, but its receipt could not be signed (\(error)); retry")))
        }
    }

    /// Stores the receipt and journals `receiptIssued`; `then` runs either way (the receipt the caller
    /// holds is valid whether or not the axis kept a copy).
    private func journalReceipt(_ signed: [UInt8], for document: DocumentID, then: @escaping @Sendable (Bool) -> Void) {
        core.payloads.store(signed) { [core] stored in
            guard case .success(let ref) = stored else { return then(false) }
            core.record([.receiptIssued(ReceiptIssued(document: document, at: core.clock.now(), receipt: ref))]) { journaled in
                if case .success = journaled { then(true) } else { then(false) }
            }
        }
    }

    /// Stores the body (unless already streamed in) and the signature (when there is one: edXML has
    /// none) in the same group commit.
    private func storePayloads(body: SubmittedBody, signature: [UInt8],
                               completion: @escaping @Sendable (Result<(PayloadRef, PayloadRef?), AxisError>) -> Void) {
        let store: (@escaping @Sendable (Result<PayloadRef?, AxisError>) -> Void) -> Void = { [core] done in
            guard !signature.isEmpty else { return done(.success(nil)) }
            core.payloads.store(signature) { done($0.map { Optional($0) }) }
        }
        switch body {
        case .stored(let ref, _):
            store { completion($0.map { (ref, $0) }) }
        case .memory(let bytes, _):
            let results = Locked<(body: Result<PayloadRef, AxisError>?, signature: Result<PayloadRef?, AxisError>?)>((nil, nil))
            let join: @Sendable () -> Void = {
                let pair = results.read { $0 }
                guard let b = pair.body, let s = pair.signature else { return }
                completion(b.flatMap { body in s.map { (body, $0) } })
            }
            core.payloads.store(bytes) { result in
                let complete = results.update { $0.body = result; return $0.signature != nil }
                if complete { join() }
            }
            store { result in
                let complete = results.update { $0.signature = result; return $0.body != nil }
                if complete { join() }
            }
        }
    }

    // MARK: Errors

    static func unknownRecipients(_ codes: [AgencyCode]) -> HTTPError {
        HTTPError(.unprocessableContent, HTTPError.Code("unknown_recipient"),
                  "unknown or disabled recipient\(codes.count == 1 ? "" : "s"): \(codes.map(\.rawValue).joined(separator: ", ")); "
                  + "check the codes against the agency directory", details: codes.map(\.rawValue))
    }

    /// 503 for a failed durable write; `what` names what was not recorded.
    /// 507 `storage_full` when the disk is full (accepting resumes by itself once space is freed).
    static func storageError(_ error: Error, what: String = "the document was not accepted") -> HTTPError {
        if (error as? AxisError)?.code == .storageFull {
            return HTTPError(.insufficientStorage, HTTPError.Code("storage_full"),
                             "the axis's disk is full (\(error)): \(what); retry later (accepting resumes once space is freed)")
        }
        return HTTPError(.serviceUnavailable, HTTPError.Code("storage_unavailable"),
                         "the axis could not write durably (\(error)): \(what); retry later")
    }

    static func internalError(_ what: String) -> HTTPError {
        HTTPError(.internalServerError, HTTPError.Code("internal_error"), "internal error: \(what)")
    }
}
