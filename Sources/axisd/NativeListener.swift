// The native API listener of axisd: HTTPS with required client certificates, in front of the
// ingress (verify, journal, receipt) and the inbox (leases, long polls).
import Axis

/// Where the native API's credentials come from: the configuration, or the demo's PKI.
struct NativeCredentials {
    var serverCertificateChain: String
    var serverKey: String
    /// Anchors, intermediates and CRLs: for client certificates and for document signatures.
    var trust: TrustConfiguration
    var receiptCertificate: String
    var receiptKey: String
}

/// The running listener and what it serves.
struct NativeListener {
    let server: HTTPServer
    let inbox: Inbox
    let port: UInt16

    static func start(core: AxisCore, configuration: AxisdConfiguration, credentials: NativeCredentials,
                      submitObserver: NativeAPI.SubmitObserver) throws -> NativeListener {
        let store = try TrustStore.load(credentials.trust)
        let verifier = SignatureVerifier(trust: store, clock: core.clock)
        let issuer = try ReceiptIssuer.load(keyPath: credentials.receiptKey, certificatePath: credentials.receiptCertificate)
        let tls = try TLSContext(try .server(certificateChainFile: credentials.serverCertificateChain, privateKeyFile: credentials.serverKey,
                                             clientAuthentication: .required(try TLSPeerTrust(store))))
        let inbox = Inbox(core: core, leaseMillis: configuration.api.leaseMillis)
        var apiOptions = NativeAPI.Options()
        apiOptions.documentBytesMax = configuration.api.documentBytesMax
        let api = NativeAPI(core: core, ingress: Ingress(core: core, verifier: verifier, issuer: issuer), inbox: inbox,
                            options: apiOptions, submitObserver: submitObserver)
        var options = HTTPServer.Options()
        options.host = configuration.api.listen.host
        options.port = configuration.api.listen.port
        options.tls = tls
        options.loops = configuration.api.eventLoops
        options.maxConnections = configuration.api.connectionsMax
        let server = HTTPServer(options: options, service: api)
        let port = try server.start()
        return NativeListener(server: server, inbox: inbox, port: port)
    }

    /// Graceful stop: waiting long polls are answered (empty) first, requests under way may finish
    /// within `graceMillis`, then every connection is closed. Returns the connections cut off.
    @discardableResult
    func stop(graceMillis: Int64) -> Int {
        inbox.close()
        let cut = server.drain(graceMillis: graceMillis)
        server.stop()
        return cut
    }
}
