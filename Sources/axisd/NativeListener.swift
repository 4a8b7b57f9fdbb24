// The native API listener of axisd: HTTPS with required client certificates, in front of the
// ingress (verify, journal, receipt) and the inbox (leases, long polls).
import Axis

/// Everything the native API needs, from the command line or from the demo's PKI.
struct NativeListenerSettings {
    var host: String
    var port: UInt16
    var serverCertificateChain: String
    var serverKey: String
    /// Anchors, intermediates and CRLs: for client certificates and for document signatures.
    var trust: TrustConfiguration
    var receiptCertificate: String
    var receiptKey: String
    var leaseMillis: Int64
    var documentBytesMax: Int
    var loops: Int

    /// `HOST:PORT` (IPv4); port 0 picks a free one.
    static func parseListen(_ text: String) throws -> (String, UInt16) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw AxisError(.usage, "--listen must be HOST:PORT, e.g. 127.0.0.1:7443 or 0.0.0.0:7443 (port 0 picks a free port)")
        }
        return (String(text[..<colon]), port)
    }
}

/// The running listener and what it serves.
struct NativeListener {
    let server: HTTPServer
    let inbox: Inbox
    let port: UInt16

    static func start(core: AxisCore, settings: NativeListenerSettings) throws -> NativeListener {
        let store = try TrustStore.load(settings.trust)
        let verifier = SignatureVerifier(trust: store, clock: core.clock)
        let issuer = try ReceiptIssuer.load(keyPath: settings.receiptKey, certificatePath: settings.receiptCertificate)
        let tls = try TLSContext(try .server(certificateChainFile: settings.serverCertificateChain, privateKeyFile: settings.serverKey,
                                             clientAuthentication: .required(try TLSPeerTrust(store))))
        let inbox = Inbox(core: core, leaseMillis: settings.leaseMillis)
        var apiOptions = NativeAPI.Options()
        apiOptions.documentBytesMax = settings.documentBytesMax
        let api = NativeAPI(core: core, ingress: Ingress(core: core, verifier: verifier, issuer: issuer), inbox: inbox, options: apiOptions)
        var options = HTTPServer.Options()
        options.host = settings.host
        options.port = settings.port
        options.tls = tls
        options.loops = settings.loops
        let server = HTTPServer(options: options, service: api)
        let port = try server.start()
        return NativeListener(server: server, inbox: inbox, port: port)
    }

    /// Stops accepting and closes connections; waiting long polls are answered empty first.
    func stop() {
        inbox.close()
        server.stop()
    }
}
