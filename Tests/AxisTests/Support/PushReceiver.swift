import Dispatch
import Foundation
@testable import Axis

/// An HTTPS endpoint like an agency's document system, for push delivery tests: it requires a client
/// certificate, records every request it gets, and answers as the test scripts it — the statuses in
/// `answers` in turn, then `then` — optionally after `delayMillis` (a slow system), or only once the
/// test calls `releaseHeld()` (`hold`: a system that answers when the test says so, so a test never
/// depends on its own steps fitting inside a delay).
final class PushReceiver: @unchecked Sendable {
    struct Received {
        /// Wall-clock arrival time (same clock as axisd's records).
        let at: Timestamp
        let target: String
        let headers: HTTPHeaders
        let body: [UInt8]
        let clientSubject: String
        let answered: Int
    }

    let server: HTTPServer
    let port: UInt16
    private let lock = ConditionLock()
    private var answers: [Int]
    private let then: Int
    private let delayMillis: Int
    private var holding: Bool
    private var held: [@Sendable () -> Void] = []
    private var received: [Received] = []
    private var underWay = 0

    var url: String { "https://localhost:\(port)/axis/inbox" }

    init(certificateChain: String, key: String, trust: TrustConfiguration, answers: [Int] = [], then: Int = 200,
         delayMillis: Int = 0, hold: Bool = false) throws {
        self.answers = answers
        self.then = then
        self.delayMillis = delayMillis
        holding = hold
        let store = try TrustStore.load(trust)
        var options = HTTPServer.Options()
        options.loops = 1
        options.tls = try TLSContext(try .server(certificateChainFile: certificateChain, privateKeyFile: key,
                                                 clientAuthentication: .required(try TLSPeerTrust(store))))
        let service = Service()
        server = HTTPServer(options: options, service: service)
        port = try server.start()
        service.receiver = self
    }

    deinit { server.stop() }

    func stop() { server.stop() }

    /// Everything received so far.
    var requests: [Received] { lock.withLock { received } }

    /// Requests being answered now (received, reply not yet sent).
    var inProgress: Int { lock.withLock { underWay } }

    /// Waits until at least `count` requests have been answered; fails after `seconds`.
    @discardableResult
    func waitFor(_ count: Int, seconds: Double = 30) throws -> [Received] {
        let deadline = Date().addingTimeInterval(seconds)
        return try lock.withLock {
            while received.count < count {
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else {
                    throw ProcessTestError("the receiver got \(received.count) of \(count) expected pushes in \(seconds) s")
                }
                lock.wait(seconds: left)
            }
            return received
        }
    }

    /// Waits until at least `count` requests are being answered at once (received, reply held back).
    func waitForInProgress(_ count: Int, seconds: Double = 30) throws {
        let deadline = Date().addingTimeInterval(seconds)
        try lock.withLock {
            while underWay < count {
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else {
                    throw ProcessTestError("the receiver had \(underWay) of \(count) expected requests in progress after \(seconds) s")
                }
                lock.wait(seconds: left)
            }
        }
    }

    /// Answers every held request now, and every later one at once.
    func releaseHeld() {
        let release = lock.withLock { () -> [@Sendable () -> Void] in
            holding = false
            defer { held = [] }
            return held
        }
        for finish in release { finish() }
    }

    fileprivate func arrived(_ head: HTTPRequestHead, body: [UInt8], peer: HTTPPeer, responder: HTTPResponder) {
        let now = SystemClock().now()
        let status = lock.withLock { () -> Int in
            underWay += 1
            lock.broadcast()
            return answers.isEmpty ? then : answers.removeFirst()
        }
        let finish: @Sendable () -> Void = { [self] in
            lock.withLock {
                underWay -= 1
                received.append(Received(at: now, target: head.target, headers: head.headers, body: body,
                                         clientSubject: peer.certificate?.subject.description ?? "", answered: status))
                lock.broadcast()
            }
            responder.respond(HTTPResponse(status: HTTPStatus(status), body: Array("answer \(status)".utf8)))
        }
        let heldBack = lock.withLock { () -> Bool in
            if holding { held.append(finish) }
            return holding
        }
        if heldBack { return }
        if delayMillis > 0 {
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delayMillis), execute: finish)
        } else {
            finish()
        }
    }

    private final class Service: HTTPService, @unchecked Sendable {
        weak var receiver: PushReceiver?

        func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
            .accept(bodyLimit: 64 << 20, handler: CollectBody(workers: DispatchQueue.global()) { [weak self] body, responder in
                guard let receiver = self?.receiver else { return responder.respond(HTTPResponse(status: .serviceUnavailable)) }
                receiver.arrived(head, body: body, peer: peer, responder: responder)
            })
        }
    }
}
