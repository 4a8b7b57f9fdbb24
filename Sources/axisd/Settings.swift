// From the resolved configuration to what axisd starts: the demo's adjustments, the native API's
// credentials, and push delivery's TLS client and policy.
import Axis

enum DemoSettings {
    /// `--demo`: a throwaway data directory unless one is chosen, and free ports for the ops and
    /// VDXP listeners unless configured (a demo must not collide with a running axisd). The demo
    /// brings its own development PKI, so credentials in the configuration are refused rather than
    /// silently ignored.
    static func adjust(_ configuration: inout AxisdConfiguration) throws {
        let defaults = AxisdConfiguration.defaults
        if configuration.data == defaults.data { configuration.data = demoData }
        if configuration.ops.listen == defaults.ops.listen { configuration.ops.listen = ListenAddress(host: "127.0.0.1", port: 0) }
        // The VDXP API too, in plain HTTP on loopback so any SDK or curl can talk to it at once.
        if configuration.vdxp.listen == nil {
            configuration.vdxp.listen = ListenAddress(host: "127.0.0.1", port: 0)
            configuration.vdxp.transport = .http
        }
        let configured: [(String, Bool)] = [
            ("api.tlsCertificate", configuration.api.tlsCertificate != nil), ("api.tlsKey", configuration.api.tlsKey != nil),
            ("trust.anchors", configuration.trust.anchorsDirectory != nil), ("trust.anchorsFile", configuration.trust.anchorsFile != nil),
            ("trust.intermediates", configuration.trust.intermediatesDirectory != nil), ("trust.crls", configuration.trust.crlDirectory != nil),
            ("receipts.certificate", configuration.receipts.certificate != nil), ("receipts.key", configuration.receipts.key != nil),
            ("delivery.clientCertificate", configuration.delivery.clientCertificate != nil),
            ("delivery.clientKey", configuration.delivery.clientKey != nil), ("delivery.trust", configuration.delivery.trustDirectory != nil),
        ]
        let given = configured.filter(\.1).map(\.0)
        guard given.isEmpty else {
            throw AxisError(.usage, "--demo brings its own development PKI, so it cannot use \(given.joined(separator: ", ")); "
                + "remove them (or their options) to run the demo, or run without --demo")
        }
    }

    /// Points the configuration at the development PKI `Demo.prepare` made.
    static func useDevelopmentPKI(_ configuration: inout AxisdConfiguration, setup: Demo.Setup) {
        let trust = setup.pki.trustConfiguration
        configuration.api.tlsCertificate = setup.tls.serverChainPath
        configuration.api.tlsKey = setup.tls.serverKeyPath
        configuration.trust.anchorsDirectory = trust.anchorsDirectory
        configuration.trust.anchorsFile = trust.anchorsFile
        configuration.trust.intermediatesDirectory = trust.intermediatesDirectory
        configuration.trust.crlDirectory = trust.crlDirectory
        configuration.receipts.certificate = setup.pki.axisChainPath
        configuration.receipts.key = setup.pki.axisKeyPath
    }
}

enum NativeSettings {
    /// The native API's credentials: nil when none is configured (the API is then off), an error
    /// naming what is missing when only some are.
    static func credentials(_ configuration: AxisdConfiguration) throws -> NativeCredentials? {
        let parts: [(String, String?)] = [
            ("api.tlsCertificate (--tls-cert)", configuration.api.tlsCertificate), ("api.tlsKey (--tls-key)", configuration.api.tlsKey),
            ("trust.anchors (--trust) or trust.anchorsFile", configuration.trust.anchorsDirectory ?? configuration.trust.anchorsFile),
            ("receipts.certificate (--receipt-cert)", configuration.receipts.certificate), ("receipts.key (--receipt-key)", configuration.receipts.key),
        ]
        let missing = parts.filter { $0.1 == nil }.map(\.0)
        if missing.count == parts.count { return nil }
        guard missing.isEmpty, let certificate = configuration.api.tlsCertificate, let key = configuration.api.tlsKey,
              let receiptCertificate = configuration.receipts.certificate, let receiptKey = configuration.receipts.key else {
            throw AxisError(.usage, "the native API needs a TLS certificate and key, trust anchors and a receipt certificate and key; "
                + "missing: " + missing.joined(separator: ", ") + " (docs/CONFIGURATION.md)")
        }
        return NativeCredentials(serverCertificateChain: certificate, serverKey: key, trust: configuration.trust.trustConfiguration,
                                 receiptCertificate: receiptCertificate, receiptKey: receiptKey)
    }

    /// Push delivery with the axis's client certificate (`delivery.clientCertificate`, else the API's)
    /// and the CAs recipients' endpoints chain to (`delivery.trust`, else the trust anchors); nil when
    /// no client certificate is configured.
    static func pushDelivery(core: AxisCore, configuration: AxisdConfiguration,
                             report: @escaping @Sendable (PushDelivery.Report) -> Void) throws -> PushDelivery? {
        guard let credential = configuration.deliveryClientCredential else { return nil }
        let store = try TrustStore.load(configuration.deliveryTrust)
        let tls = try TLSContext(.client(trust: try TLSPeerTrust(store),
                                         credential: try TLSCredential.load(certificateChainFile: credential.certificate,
                                                                            privateKeyFile: credential.key)))
        var options = PushDelivery.Options()
        options.policy = configuration.delivery.retryPolicy
        options.attemptTimeoutMillis = Int(configuration.delivery.attemptTimeoutMillis)
        return PushDelivery(core: core, tls: tls, options: options, report: report)
    }
}
