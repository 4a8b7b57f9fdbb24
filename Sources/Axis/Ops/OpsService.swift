/// The operations endpoints, on a plain-HTTP listener of their own (loopback by default) so that
/// monitoring needs no client certificate:
///
///     GET /healthz   200 {"status":"ready"} once the journal is replayed and accepting;
///                    503 {"status":"starting"} before, 503 {"status":"failed","reason":…} after a
///                    journal failure, 503 {"status":"stopping"} during shutdown
///     GET /metrics   Prometheus text exposition (docs/CONFIGURATION.md lists every metric)
public final class OpsService: HTTPService, @unchecked Sendable {
    public enum Health: Sendable, Equatable {
        case starting
        case ready
        case stopping
        case failed(String)
    }

    private let health = Locked(Health.starting)
    private let metrics: @Sendable () -> String

    /// `metrics` renders the exposition text at each scrape.
    public init(metrics: @escaping @Sendable () -> String) {
        self.metrics = metrics
    }

    public var currentHealth: Health { health.read { $0 } }

    /// A failure is final: nothing but a restart makes a failed daemon ready again.
    public func setHealth(_ new: Health) {
        health.update { current in
            if case .failed = current { return }
            current = new
        }
    }

    public func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
        let path = head.path
        guard path == "/healthz" || path == "/metrics" else {
            return .refuse(HTTPError(.notFound, HTTPError.Code("not_found"),
                                     "no route for \(head.method) \(path.prefix(200)); this listener serves GET /healthz and GET /metrics"))
        }
        guard head.method == .get else {
            return .refuse(HTTPError(.methodNotAllowed, HTTPError.Code("method_not_allowed"),
                                     "\(head.method) is not allowed on \(path); use GET"))
        }
        if path == "/metrics" {
            var headers = HTTPHeaders()
            headers.add("Content-Type", MetricsRegistry.contentType)
            return .accept(bodyLimit: 0, handler: Reply(HTTPResponse(status: .ok, headers: headers, body: Array(metrics().utf8))))
        }
        let status: (HTTPStatus, [(String, JSONValue)])
        switch currentHealth {
        case .starting: status = (.serviceUnavailable, [("status", .string("starting"))])
        case .ready: status = (.ok, [("status", .string("ready"))])
        case .stopping: status = (.serviceUnavailable, [("status", .string("stopping"))])
        case .failed(let reason): status = (.serviceUnavailable, [("status", .string("failed")), ("reason", .string(reason))])
        }
        return .accept(bodyLimit: 0, handler: Reply(.json(status.0, .object(status.1))))
    }
}
