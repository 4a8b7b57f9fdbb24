// The native API listener of axisd: HTTPS with required client certificates, in front of the
// ingress (verify, journal, receipt) and the inbox (leases, long polls).
import Axis
import Dispatch

/// Where the native API's credentials come from: the configuration, or the demo's PKI.
struct NativeCredentials {
    var serverCertificateChain: String
    var serverKey: String
    /// Anchors, intermediates and CRLs: for client certificates and for document signatures.
    var trust: TrustConfiguration
    var receiptCertificate: String
    var receiptKey: String
}

/// The running listeners and what they serve: the native API and, when configured, the
/// VDXP-compatible API, both in front of the same ingress and inbox (one core).
struct NativeListener {
    let server: HTTPServer
    let inbox: Inbox
    let port: UInt16
    /// The VDXP API's server and its base URL (`http://127.0.0.1:PORT`), when served.
    var vdxp: (server: HTTPServer, url: String)?

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
        let ingress = Ingress(core: core, verifier: verifier, issuer: issuer)
        let api = NativeAPI(core: core, ingress: ingress, inbox: inbox, options: apiOptions, submitObserver: submitObserver)
        var options = HTTPServer.Options()
        options.host = configuration.api.listen.host
        options.port = configuration.api.listen.port
        options.tls = tls
        options.loops = configuration.api.eventLoops
        options.maxConnections = configuration.api.connectionsMax
        let server = HTTPServer(options: options, service: api)
        let port = try server.start()
        var listener = NativeListener(server: server, inbox: inbox, port: port)
        if let address = configuration.vdxp.listen {
            var vdxpOptions = VdxpAPI.Options()
            vdxpOptions.documentBytesMax = configuration.vdxp.documentBytesMax
            vdxpOptions.signaturePolicy = configuration.vdxp.signaturePolicy
            var serverOptions = HTTPServer.Options()
            serverOptions.host = address.host
            serverOptions.port = address.port
            serverOptions.loops = 1
            // `to` travels twice (as a header and inside the signed JSON): 1,000 recipients need ~60 KiB.
            serverOptions.limits.headerBytesMax = 128 << 10
            serverOptions.maxConnections = configuration.api.connectionsMax
            // The SDK authenticates with its HMAC, not a client certificate.
            if configuration.vdxp.transport == .https {
                serverOptions.tls = try TLSContext(try .server(certificateChainFile: credentials.serverCertificateChain,
                                                               privateKeyFile: credentials.serverKey, clientAuthentication: .none))
            }
            let vdxpServer = HTTPServer(options: serverOptions, service: VdxpAPI(core: core, ingress: ingress, inbox: inbox, options: vdxpOptions))
            do {
                let vdxpPort = try vdxpServer.start()
                listener.vdxp = (vdxpServer, "\(configuration.vdxp.transport.rawValue)://\(address.host):\(vdxpPort)")
            } catch {
                server.stop()
                throw AxisError(.config, "cannot listen on vdxp.listen \(address): \(error); choose another address or \"\" to disable it")
            }
        }
        return listener
    }

    /// Graceful stop: waiting long polls are answered (empty) first, requests under way may finish
    /// within `graceMillis`, then every connection is closed. Returns the connections cut off.
    @discardableResult
    func stop(graceMillis: Int64) -> Int {
        inbox.close()
        // Both listeners wind down side by side, each within the grace period.
        let vdxpCut = Promise<Int>()
        if let vdxp {
            DispatchQueue.global().async {
                let cut = vdxp.server.drain(graceMillis: graceMillis)
                vdxp.server.stop()
                vdxpCut.fulfil(cut)
            }
        } else {
            vdxpCut.fulfil(0)
        }
        let cut = server.drain(graceMillis: graceMillis)
        server.stop()
        return cut + vdxpCut.wait()
    }
}
