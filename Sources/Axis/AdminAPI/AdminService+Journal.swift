import Foundation

/// Journal compaction over the admin socket. A compaction is a job of the daemon, not of the
/// connection: it runs to the end even if axisctl is interrupted, and anyone can watch it.
///
///     POST /v1/journal/compact  {"dryRun"?: bool, "reason"?: str, "retentionDays"?: int}
///          → 202 {"compaction":{…}}   (409 when one is running)
///     GET  /v1/journal/compaction
///          → 200 {"compaction":{…}}   the running or last job (404 when none ran since start)
///
/// The job object: `state` (running|finished|failed), `dryRun`, `startedAt`, `finishedAt`, `actor`,
/// `reason`, `retentionDays`, `segmentsRead`, `segmentsTotal`, `segmentsRemoved`, `progress` (lines,
/// in order: what axisctl prints), `outcome` (when finished) and `error` (when failed).
extension AdminService {
    /// One job's state, updated by the compaction thread and read by status requests.
    final class CompactionJob: @unchecked Sendable {
        struct State {
            var state = "running"
            var segmentsRead = 0
            var segmentsTotal = 0
            var segmentsRemoved = 0
            var progress: [String] = []
            var outcome: JournalCompactor.Outcome?
            var error: String?
            var finishedAt: Timestamp?
        }
        let dryRun: Bool
        let startedAt: Timestamp
        let actor: Actor
        let reason: String
        let retentionDays: Int
        let state = Locked(State())

        init(dryRun: Bool, startedAt: Timestamp, actor: Actor, reason: String, retentionDays: Int) {
            (self.dryRun, self.startedAt, self.actor, self.reason, self.retentionDays) = (dryRun, startedAt, actor, reason, retentionDays)
        }

        func note(_ progress: JournalCompactor.Progress) {
            state.update { s in
                switch progress {
                case .read(let segment, let index, let total, let verdict):
                    s.segmentsRead = index + 1
                    s.segmentsTotal = total
                    switch verdict {
                    case .removable: s.progress.append("read \(segment) (\(index + 1)/\(total)): removable")
                    case .kept(let why): s.progress.append("read \(segment) (\(index + 1)/\(total)): kept, \(why)")
                    }
                case .recorded(let sequence, let carried):
                    s.progress.append("recorded the compaction at sequence \(sequence)"
                        + (carried > 0 ? " after \(carried) carried-forward directory entr\(carried == 1 ? "y" : "ies")" : ""))
                case .removed(let segment, let bytes):
                    s.segmentsRemoved += 1
                    s.progress.append("removed \(segment) (\(bytes) bytes)")
                case .sweptPayloads(let files, let bytes):
                    s.progress.append("removed \(files) unreferenced payload file\(files == 1 ? "" : "s") (\(bytes) bytes)")
                }
            }
        }

        var json: JSONValue {
            state.read { s in
                .object([
                    ("state", .string(s.state)), ("dryRun", .bool(dryRun)), ("startedAt", .string(startedAt.description)),
                    ("finishedAt", s.finishedAt.map { .string($0.description) } ?? .null),
                    ("actor", .string(actor.description)), ("reason", .string(reason)),
                    ("retentionDays", .int(Int64(retentionDays))),
                    ("segmentsRead", .int(Int64(s.segmentsRead))), ("segmentsTotal", .int(Int64(s.segmentsTotal))),
                    ("segmentsRemoved", .int(Int64(s.segmentsRemoved))),
                    ("progress", .array(s.progress.map { .string($0) })),
                    ("outcome", s.outcome.map(Self.json) ?? .null),
                    ("error", s.error.map { .string($0) } ?? .null),
                ])
            }
        }

        static func json(_ o: JournalCompactor.Outcome) -> JSONValue {
            .object([
                ("segmentsBefore", .int(Int64(o.segmentsBefore))),
                ("removedSegments", .array(o.removedSegments.map { .string($0) })),
                ("removedRecords", .int(Int64(o.removedRecords))), ("removedDocuments", .int(Int64(o.removedDocuments))),
                ("freedJournalBytes", .int(Int64(o.freedJournalBytes))),
                ("firstKept", o.firstKept.map { .int(Int64($0)) } ?? .null),
                ("keptBecause", o.keptBecause.map { .string($0) } ?? .null),
                ("compactionSequence", o.compactionSequence.map { .int(Int64($0)) } ?? .null),
                ("carriedForward", .int(Int64(o.carriedForward))),
                ("removedPayloadFiles", .int(Int64(o.removedPayloadFiles))),
                ("freedPayloadBytes", .int(Int64(o.freedPayloadBytes))),
            ])
        }
    }

    func planJournal(_ head: HTTPRequestHead, path: [String], caller: PeerCredentials) -> HTTPRequestPlan? {
        switch (head.method, path) {
        case (.post, ["v1", "journal", "compact"]):
            let actor = Actor.admin(uid: caller.uid, gid: caller.gid)
            return .accept(bodyLimit: Self.bodyBytesMax, handler: CollectBody(workers: compactionWorkers) { [self] body, responder in
                responder.respond(startCompaction(body: body, actor: actor))
            })
        case (.get, ["v1", "journal", "compaction"]):
            guard let job = compactionJob.read({ $0 }) else {
                return .refuse(HTTPError(.notFound, HTTPError.Code("no_compaction"),
                                         "no journal compaction has run since axisd started; start one with `axisctl journal compact`"))
            }
            return .accept(bodyLimit: 0, handler: Reply(.json(.ok, .object([("compaction", job.json)]))))
        default:
            return nil
        }
    }

    private func startCompaction(body: [UInt8], actor: Actor) -> HTTPResponse {
        func refuse(_ code: String, _ message: String) -> HTTPResponse {
            HTTPResponse(error: HTTPError(.badRequest, HTTPError.Code(code), message))
        }
        let usage = "send a JSON object: {\"dryRun\":false, \"reason\":\"…\", \"retentionDays\":90}"
        var members: [StrictJSON.Member] = []
        if !body.isEmpty {
            guard case .object(let parsed)? = try? StrictJSON.parse(body) else { return refuse("invalid_body", usage) }
            members = parsed
        }
        var reason = "", dryRun = false, days = retentionDays
        for member in members {
            switch (member.key, member.value) {
            case ("reason", .string(let text)):
                guard text.utf8.count <= Self.reasonBytesMax else {
                    return refuse("invalid_reason", "the reason is longer than \(Self.reasonBytesMax) bytes")
                }
                reason = text
            case ("dryRun", .bool(let flag)):
                dryRun = flag
            case ("retentionDays", .number(let text)):
                guard let whole = Int(text), (0...36_500).contains(whole) else {
                    return refuse("invalid_retention", "retentionDays must be a whole number of days from 0 to 36500, not \(text.prefix(20))")
                }
                days = whole
            default:
                return refuse("invalid_body", "\"\(member.key.prefix(40))\" is not a compaction option of that type; \(usage)")
            }
        }
        let job = CompactionJob(dryRun: dryRun, startedAt: core.clock.now(), actor: actor, reason: reason, retentionDays: days)
        let started = compactionJob.update { current -> Bool in
            if let current, current.state.read({ $0.state == "running" }) { return false }
            current = job
            return true
        }
        guard started else {
            return HTTPResponse(error: HTTPError(.conflict, HTTPError.Code("compaction_running"),
                                                 "a journal compaction is already running: watch it with `axisctl journal compact --status`"))
        }
        let compactor = self.compactor
        let retentionMillis = Int64(days) * 86_400_000
        let options = JournalCompactor.Options(retentionMillis: retentionMillis, dryRun: dryRun)
        Thread.detachNewThread { [reason] in
            let result = Result { try compactor.run(options, actor: actor, reason: reason, progress: job.note) }
            let now = compactor.core.clock.now()
            job.state.update { s in
                s.finishedAt = now
                switch result {
                case .success(let outcome):
                    s.outcome = outcome
                    s.state = "finished"
                case .failure(let error):
                    s.error = "\(error)"
                    s.state = "failed"
                }
            }
        }
        return .json(.accepted, .object([("compaction", job.json)]))
    }
}
