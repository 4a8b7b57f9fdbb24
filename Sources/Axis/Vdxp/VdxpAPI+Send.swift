import Dispatch

// sendEdoc: the edXML file in the body (plus the SDK's CRLF), routing from the headers and the
// edXML header, then the same ingress as the native API (idempotency, durability, the axis receipt).
extension VdxpAPI {
    func planSend(_ head: HTTPRequestHead, _ parameters: VdxpParameters, _ caller: Caller) -> HTTPRequestPlan {
        if case .contentLength(let declared) = head.bodyFraming, declared > options.documentBytesMax + 2 {
            return refuse(VdxpFailure(.contentTooLarge, "document_too_large", "the edXML file is \(declared) bytes; this axis accepts "
                + "at most \(options.documentBytesMax) (vdxp.maxDocumentBytes)"))
        }
        var values: [String: String] = [:]
        for key in ["from", "to", "messagetype", "hash-file"] {
            switch parameters.value(key) {
            case .failure(let failure): return refuse(failure)
            case .success(let value): if let value, !value.isEmpty { values[key] = value }
            }
        }
        if let hash = values["hash-file"], hash.count > 64 || !hash.allSatisfy(\.isHexDigit) {
            return refuse(VdxpFailure(.badRequest, "invalid_hash_file", "hash-file '\(hash.prefix(80))' is not a SHA-256 in hexadecimal"))
        }
        let request = SendRequest(from: values["from"], to: values["to"], messageType: values["messagetype"],
                                  hashFile: values["hash-file"], system: caller.system)
        return .accept(bodyLimit: options.documentBytesMax + 2, handler: SendHandler(api: self, request: request))
    }

    struct SendRequest: Sendable {
        var from: String?
        var to: String?
        var messageType: String?
        var hashFile: String?
        var system: SystemEntry
    }

    /// Runs on a worker once the whole body is in: the bytes the SDK meant, their edXML facts, the
    /// routing decision, then the ingress. `respond` runs once.
    func send(_ body: [UInt8], _ request: SendRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let fail: @Sendable (VdxpFailure) -> Void = { respond(VdxpReply.fail($0, docID: true)) }
        let file: (bytes: [UInt8], sha256: Digest256)
        switch Self.fileBytes(body, hashFile: request.hashFile) {
        case .failure(let failure): return fail(failure)
        case .success(let found): file = found
        }
        guard file.bytes.count <= options.documentBytesMax else {
            return fail(VdxpFailure(.contentTooLarge, "document_too_large", "the edXML file is \(file.bytes.count) bytes; this axis "
                + "accepts at most \(options.documentBytesMax) (vdxp.maxDocumentBytes)"))
        }
        let facts: EdxmlFacts
        do {
            var limits = EdxmlLimits()
            limits.bytesMax = options.documentBytesMax
            facts = try EdxmlReader.parse(file.bytes, limits: limits)
        } catch {
            return fail(VdxpFailure(.badRequest, "invalid_edxml", "the file is not a valid edXML message: \(error)"))
        }
        let planned = core.withState { state in
            VdxpSendPlanner.plan(VdxpSendPlanner.Request(
                facts: facts, sha256: file.sha256, from: request.from, to: request.to, messageType: request.messageType,
                system: request.system, signaturePolicy: options.signaturePolicy), state: state)
        }
        let submission: Submission
        switch planned {
        case .failure(let failure): return fail(failure)
        case .success(let planned): submission = planned
        }
        ingress.submit(submission, body: .memory(file.bytes, sha256: file.sha256), via: .vdxp, by: request.system.id) { outcome in
            switch outcome {
            case .accepted(let accepted):
                respond(VdxpReply.ok([("DocId", .string(accepted.record.id.hex))]))
            case .duplicate(let document, _):
                respond(VdxpReply.ok([("DocId", .string(document.accepted.id.hex))]))
            case .refused(let error) where error.code.rawValue == "document_id_conflict":
                fail(VdxpFailure(.conflict, "already_sent", "\(submission.sender) already sent this very edXML file to other "
                    + "recipients (\(error.message)); to send it to others, send a new edXML message"))
            case .refused(let error):
                fail(VdxpFailure(error.status, error.code.rawValue, error.message))
            }
        }
    }

    /// The file without the SDK's trailing CRLF, and its SHA-256, checked against `hash-file` (the
    /// SDK's unpadded hex). A client that sends no CRLF is served too: with `hash-file`, whichever of
    /// the two readings matches is the file; without, a final CRLF is taken to be the trailer.
    static func fileBytes(_ body: [UInt8], hashFile: String?) -> Result<(bytes: [UInt8], sha256: Digest256), VdxpFailure> {
        let hasTrailer = body.count >= 2 && body[body.count - 2] == 0x0D && body[body.count - 1] == 0x0A
        let stripped = hasTrailer ? Array(body.dropLast(2)) : body
        let strippedDigest = SHA256Hasher.digest(stripped)
        guard let hashFile else { return .success((stripped, strippedDigest)) }
        if VdxpFileHash.matches(hashFile, strippedDigest) { return .success((stripped, strippedDigest)) }
        if hasTrailer {
            let wholeDigest = SHA256Hasher.digest(body)
            if VdxpFileHash.matches(hashFile, wholeDigest) { return .success((body, wholeDigest)) }
        }
        return .failure(VdxpFailure(.badRequest, "hash_mismatch", "hash-file \(hashFile.prefix(64)) does not match the file received "
            + "(\(stripped.count) bytes, sha256 \(strippedDigest.hex)); the upload was damaged or the hash was computed over "
            + "other bytes: send it again"))
    }
}

/// Collects the sendEdoc body (bounded by the plan's limit and by the API's buffer budget) and hands
/// it to `VdxpAPI.send`; the budget is given back once the reply is sent or the connection is gone.
final class SendHandler: HTTPRequestHandler {
    private let api: VdxpAPI
    private let request: VdxpAPI.SendRequest
    private var bytes: [UInt8] = []
    /// Budget bytes this handler holds (handed to the worker at the end).
    private var reserved = 0

    init(api: VdxpAPI, request: VdxpAPI.SendRequest) {
        self.api = api
        self.request = request
    }

    deinit { if reserved > 0 { api.releaseBuffer(reserved) } }

    func body(_ chunk: UnsafeRawBufferPointer) throws {
        guard api.reserveBuffer(chunk.count) else {
            throw HTTPError(.serviceUnavailable, HTTPError.Code("busy"), "the axis is receiving too many documents at once "
                + "(vdxp buffer of \(api.options.bufferedBytesMax) bytes in use); send it again shortly")
        }
        reserved += chunk.count
        bytes.append(contentsOf: chunk)
    }

    func end(_ responder: HTTPResponder) {
        let (api, request, bytes, reserved) = (self.api, self.request, self.bytes, self.reserved)
        self.bytes = []
        self.reserved = 0
        api.workers.async {
            api.send(bytes, request) { response in
                responder.respond(response)
                api.releaseBuffer(reserved)
            }
        }
    }
}
