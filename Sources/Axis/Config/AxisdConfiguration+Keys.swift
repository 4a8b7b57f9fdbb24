// The table of axisd's configuration keys: path, kind and limits, default, overriding option and
// summary. The reader's checks and messages, the unknown-key suggestions, docs/CONFIGURATION.md
// (held to it by ConfigurationTests) and docs/axisd.sample.json all follow this table. A new setting
// is one line here, one field in AxisdConfiguration, one line in `read(from:)`, one in `json()`,
// a row in the docs and a line in the sample; the tests fail until all six agree.

extension AxisdConfiguration {
    /// Each key by name, so the loader and the cross-field checks refer to the same values.
    public enum Key {
        public static let data = ConfigKey(
            "data", .dataDirectory, default: .string("/var/lib/axis"), flag: "data",
            "Data directory: the journal (journal/) and document bytes (payloads/). Created when missing.")

        public static let apiListen = ConfigKey(
            "api.listen", .listen(disableable: false), default: .string("127.0.0.1:7443"), flag: "listen",
            "Address of the native API (HTTPS, client certificates required). Port 0 picks a free port.")
        public static let apiTLSCertificate = ConfigKey(
            "api.tlsCertificate", .file, default: nil, unset: "the native API is not served",
            example: .string("/etc/axis/tls/server.pem"), flag: "tls-cert",
            "The API's server certificate chain (PEM, leaf first).")
        public static let apiTLSKey = ConfigKey(
            "api.tlsKey", .file, default: nil, unset: "the native API is not served",
            example: .string("/etc/axis/tls/server.key"), flag: "tls-key", "Its private key (PEM).")
        public static let apiLeaseSeconds = ConfigKey(
            "api.leaseSeconds", .seconds(1...86_400, whole: true), default: .int(300), flag: "lease-seconds",
            "How long an inbox item listed to a recipient stays leased to it before it returns to the inbox.")
        public static let apiMaxDocumentBytes = ConfigKey(
            "api.maxDocumentBytes", .integer(1...1_099_511_627_776, unit: "bytes"), default: .int(268_435_456),
            flag: "max-document-bytes", "The largest document accepted; larger submissions get 413.")
        public static let apiMaxConnections = ConfigKey(
            "api.maxConnections", .integer(1...1_000_000, unit: nil), default: .int(20_000),
            "Open API connections at once; further clients wait in the kernel's accept queue.")
        public static let apiEventLoops = ConfigKey(
            "api.eventLoops", .integer(1...64, unit: nil), default: .int(2),
            "Event-loop threads serving API connections (one epoll loop each).")

        public static let trustAnchors = ConfigKey(
            "trust.anchors", .directory, default: nil, unset: "no anchors from a directory",
            example: .string("/etc/axis/trust/anchors"), flag: "trust",
            "Directory of trust-anchor (root CA) certificates for client certificates and document signatures.")
        public static let trustAnchorsFile = ConfigKey(
            "trust.anchorsFile", .file, default: nil, unset: "no anchors from a bundle",
            example: .string("/etc/axis/trust/anchors.pem"), "A PEM bundle of trust anchors, instead of or as well as the directory.")
        public static let trustIntermediates = ConfigKey(
            "trust.intermediates", .directory, default: nil, unset: "only intermediates carried in signatures and TLS handshakes",
            example: .string("/etc/axis/trust/intermediates"), flag: "intermediates",
            "Directory of intermediate CA certificates.")
        public static let trustCRLs = ConfigKey(
            "trust.crls", .directory, default: nil, unset: "revocation is not checked (every report says so)",
            example: .string("/etc/axis/trust/crls"), flag: "crl-dir",
            "Directory of CRLs (PEM or DER) checked for client certificates and signatures.")

        public static let receiptsCertificate = ConfigKey(
            "receipts.certificate", .file, default: nil, unset: "the native API is not served",
            example: .string("/etc/axis/receipts/axis.pem"), flag: "receipt-cert",
            "The axis's receipt-signing certificate (PEM, its chain after it).")
        public static let receiptsKey = ConfigKey(
            "receipts.key", .file, default: nil, unset: "the native API is not served",
            example: .string("/etc/axis/receipts/axis.key"), flag: "receipt-key", "Its private key (PEM).")

        public static let deliveryClientCertificate = ConfigKey(
            "delivery.clientCertificate", .file, default: nil, unset: "the API's TLS certificate is used",
            example: .string("/etc/axis/tls/client.pem"),
            "Client certificate chain (PEM) presented to recipients' endpoints when pushing documents.")
        public static let deliveryClientKey = ConfigKey(
            "delivery.clientKey", .file, default: nil, unset: "the API's TLS key is used",
            example: .string("/etc/axis/tls/client.key"), "Its private key (PEM).")
        public static let deliveryTrust = ConfigKey(
            "delivery.trust", .directory, default: nil, unset: "the trust anchors (trust.anchors, trust.anchorsFile)",
            example: .string("/etc/axis/trust/endpoints"),
            "Directory of CA certificates that recipients' endpoint (server) certificates must chain to.")
        public static let deliveryInitialBackoffSeconds = ConfigKey(
            "delivery.initialBackoffSeconds", .seconds(0.01...86_400, whole: false), default: .int(30),
            "Delay before the first retry of a failed push.")
        public static let deliveryMaxBackoffSeconds = ConfigKey(
            "delivery.maxBackoffSeconds", .seconds(0.01...604_800, whole: false), default: .int(3600),
            "Longest delay between two attempts; at least delivery.initialBackoffSeconds.")
        public static let deliveryBackoffMultiplier = ConfigKey(
            "delivery.backoffMultiplier", .number(1...10), default: .int(2),
            "Each retry's delay is the previous one times this (before the cap and jitter).")
        public static let deliveryJitter = ConfigKey(
            "delivery.jitter", .number(0...1), default: .double(0.2),
            "Fraction of each delay that is randomised: a delay d becomes a uniform value in [(1 − jitter)·d, d].")
        public static let deliveryMaxLifetimeSeconds = ConfigKey(
            "delivery.maxLifetimeSeconds", .seconds(1...31_536_000, whole: false), default: .int(259_200),
            "An item not delivered this long after acceptance expires; the sender gets an expired event.")
        public static let deliveryPerRecipientConcurrency = ConfigKey(
            "delivery.perRecipientConcurrency", .integer(1...256, unit: nil), default: .int(4),
            "Pushes in flight to one recipient at once, so one slow recipient cannot take every worker.")
        public static let deliveryAttemptTimeoutSeconds = ConfigKey(
            "delivery.attemptTimeoutSeconds", .seconds(0.1...3600, whole: false), default: .int(30),
            "Time one push attempt (connect, TLS, send, response) may take before it counts as failed.")
        public static let deliveryWorkers = ConfigKey(
            "delivery.workers", .integer(1...1024, unit: nil), default: .int(32),
            "Push deliveries in flight in total.")

        public static let journalSegmentBytes = ConfigKey(
            "journal.segmentBytes", .integer(65_536...1_073_741_824, unit: "bytes"), default: .int(67_108_864),
            "Size at which a journal segment file is closed and the next begun (prepared ahead, so each "
                + "segment takes this much disk at once). Compaction removes whole segments.")
        public static let journalRetentionDays = ConfigKey(
            "journal.retentionDays", .integer(0...36_500, unit: "days"), default: .int(90),
            "`axisctl journal compact` removes history only of documents finished (delivered, acknowledged, "
                + "expired or deleted) at least this long ago. Keep it longer than clients retry a submission.")

        public static let vdxpListen = ConfigKey(
            "vdxp.listen", .listen(disableable: true), default: .string(""), flag: "vdxp-listen",
            "Address of the VDXP-compatible API for the national platform's client SDK (docs/VDXP.md); \"\" disables it. "
                + "axisd --demo serves it on 127.0.0.1 (a free port) unless this is set.")
        public static let vdxpTransport = ConfigKey(
            "vdxp.transport", .choice(["https", "http"]), default: .string("https"),
            "https: TLS with the API's server certificate (api.tlsCertificate), no client certificate (the SDK "
                + "authenticates with its HMAC); http: plaintext, for loopback or a legacy network only (logged as a warning).")
        public static let vdxpSignaturePolicy = ConfigKey(
            "vdxp.signaturePolicy", .choice(["require-present", "ignore"]), default: .string("require-present"),
            "edXML documents sent through the VDXP API must carry their enveloped XMLDSig Signature (require-present), "
                + "or may come without (ignore). Presence is recorded either way; status messages are never required to.")
        public static let vdxpMaxDocumentBytes = ConfigKey(
            "vdxp.maxDocumentBytes", .integer(1024...1_073_741_824, unit: "bytes"), default: .int(67_108_864),
            "The largest edXML file sendEdoc accepts (413 beyond). VDXP bodies are held in memory while parsed.")

        public static let opsListen = ConfigKey(
            "ops.listen", .listen(disableable: true), default: .string("127.0.0.1:9464"),
            "Address of the plain-HTTP operations endpoint (/healthz, /metrics); \"\" disables it.")

        public static let adminSocket = ConfigKey(
            "admin.socket", .socket, default: nil, unset: "DATA/admin.sock (in the data directory)",
            example: .string("/run/axis/admin.sock"),
            "The Unix-domain socket axisctl talks to (mode 0600: only axisd's user and root can connect).")

        public static let adminGroup = ConfigKey(
            "admin.group", .group, default: nil, unset: "mode 0600: axisd's user and root only",
            example: .string("axis-admin"),
            "A group whose members may use axisctl too: the admin socket is then mode 0660 and owned by this group.")

        public static let logFormat = ConfigKey(
            "log.format", .choice(["kv", "json"]), default: .string("kv"), flag: "log-format",
            "Log line format on stderr: kv (key=value, for people and grep) or json (one object per line).")
        public static let logLevel = ConfigKey(
            "log.level", .choice(["debug", "info", "warning", "error"]), default: .string("info"), flag: "log-level",
            "Least severe level logged.")

        public static let shutdownGraceSeconds = ConfigKey(
            "shutdown.graceSeconds", .seconds(0...600, whole: false), default: .int(10),
            "After SIGTERM or SIGINT: how long requests and deliveries in flight may take to finish.")
    }

    /// Every key, in documentation order.
    public static let keys: [ConfigKey] = [
        Key.data,
        Key.apiListen, Key.apiTLSCertificate, Key.apiTLSKey, Key.apiLeaseSeconds, Key.apiMaxDocumentBytes,
        Key.apiMaxConnections, Key.apiEventLoops,
        Key.trustAnchors, Key.trustAnchorsFile, Key.trustIntermediates, Key.trustCRLs,
        Key.receiptsCertificate, Key.receiptsKey,
        Key.deliveryClientCertificate, Key.deliveryClientKey, Key.deliveryTrust, Key.deliveryInitialBackoffSeconds,
        Key.deliveryMaxBackoffSeconds, Key.deliveryBackoffMultiplier, Key.deliveryJitter, Key.deliveryMaxLifetimeSeconds,
        Key.deliveryPerRecipientConcurrency, Key.deliveryAttemptTimeoutSeconds, Key.deliveryWorkers,
        Key.journalSegmentBytes, Key.journalRetentionDays,
        Key.vdxpListen, Key.vdxpTransport, Key.vdxpSignaturePolicy, Key.vdxpMaxDocumentBytes,
        Key.opsListen,
        Key.adminSocket, Key.adminGroup,
        Key.logFormat, Key.logLevel,
        Key.shutdownGraceSeconds,
    ]

    /// The command-line options that override keys (without dashes), in table order.
    public static var overridingFlags: [String] { keys.compactMap(\.flag) }
}
