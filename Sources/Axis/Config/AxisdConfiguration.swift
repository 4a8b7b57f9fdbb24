/// Everything axisd can be configured with, each setting with its default.
///
/// Built by `AxisdConfiguration.load(path:)` / `parse(_:baseDirectory:)` from a JSON file, by
/// `resolve(configFile:flags:workingDirectory:)` from a file plus command-line overrides, or taken
/// as `.defaults`. Paths are absolute once loaded. Durations are milliseconds; the file says seconds.
/// The keys, their limits and defaults are listed once, in `AxisdConfiguration.keys`
/// (AxisdConfiguration+Keys.swift), and documented in docs/CONFIGURATION.md.
public struct AxisdConfiguration: Sendable, Equatable {
    /// The native API (HTTPS with client certificates).
    public struct API: Sendable, Equatable {
        public var listen = ListenAddress(host: "127.0.0.1", port: 7443)
        /// Server certificate chain (PEM).
        public var tlsCertificate: String?
        /// Its private key (PEM).
        public var tlsKey: String?
        /// How long a listed inbox item stays leased to the recipient.
        public var leaseMillis: Int64 = 300_000
        /// The largest document accepted (413 beyond).
        public var documentBytesMax = 268_435_456
        /// Open connections at once; more wait in the kernel's accept queue.
        public var connectionsMax = 20_000
        /// Event-loop threads serving connections.
        public var eventLoops = 2

        public init() {}
    }

    /// Trust material for client certificates and document signatures.
    public struct Trust: Sendable, Equatable {
        /// A directory of trust-anchor certificates.
        public var anchorsDirectory: String?
        /// A PEM bundle of trust anchors.
        public var anchorsFile: String?
        public var intermediatesDirectory: String?
        public var crlDirectory: String?

        public init() {}

        /// The same paths in the shape `TrustStore.load` takes.
        public var trustConfiguration: TrustConfiguration {
            TrustConfiguration(anchorsFile: anchorsFile, anchorsDirectory: anchorsDirectory,
                               intermediatesDirectory: intermediatesDirectory, crlDirectory: crlDirectory)
        }
    }

    /// The axis's own receipt-signing credential.
    public struct Receipts: Sendable, Equatable {
        public var certificate: String?
        public var key: String?

        public init() {}
    }

    /// Push delivery to recipients' endpoints: credentials, retry schedule and limits.
    public struct Delivery: Sendable, Equatable {
        /// Client certificate presented to recipients; nil means the API's TLS certificate.
        public var clientCertificate: String?
        public var clientKey: String?
        /// CA certificates that recipients' endpoint certificates must chain to; nil means the trust anchors.
        public var trustDirectory: String?
        /// The delay before the first retry.
        public var backoffMillisInitial: Int64 = 30_000
        /// The longest delay between attempts.
        public var backoffMillisMax: Int64 = 3_600_000
        /// Each retry's delay is the previous one times this (before the cap and jitter).
        public var backoffMultiplier = 2.0
        /// The fraction of each delay that is randomised away (0 = exact, 0.2 = up to 20 % earlier).
        public var jitterFraction = 0.2
        /// How long after acceptance an undelivered item expires.
        public var lifetimeMillisMax: Int64 = 259_200_000
        /// Deliveries in flight to one recipient at once.
        public var concurrencyPerRecipientMax = 4
        /// How long one delivery attempt (connect, send, response) may take.
        public var attemptTimeoutMillis: Int64 = 30_000
        /// Delivery agents in total.
        public var workers = 32

        public init() {}
    }

    /// Journal segments and retention (compaction).
    public struct JournalSettings: Sendable, Equatable {
        /// A segment closes when the next batch would take it past this size.
        public var segmentBytes = 64 << 20
        /// How long after a document finished its history is kept before compaction may remove it.
        public var retentionDays = 90
        public var retentionMillis: Int64 { Int64(retentionDays) * 86_400_000 }

        public init() {}
    }

    /// The VDXP-compatible API (docs/VDXP.md).
    public struct VDXP: Sendable, Equatable {
        public enum Transport: String, Sendable { case https, http }
        public enum SignaturePolicy: String, Sendable { case requirePresent = "require-present", ignore }
        /// nil when not served.
        public var listen: ListenAddress?
        public var transport = Transport.https
        public var signaturePolicy = SignaturePolicy.requirePresent
        public var documentBytesMax = 67_108_864

        public init() {}
    }

    /// The plain-HTTP operations endpoint (/healthz, /metrics).
    public struct Ops: Sendable, Equatable {
        /// nil when disabled (`"ops.listen": ""`).
        public var listen: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9464)

        public init() {}
    }

    public struct Log: Sendable, Equatable {
        public var format = LogFormat.keyValue
        public var level = LogLevel.info

        public init() {}
    }

    public struct Shutdown: Sendable, Equatable {
        /// After SIGTERM: how long in-flight requests and deliveries may take to finish.
        public var graceMillis: Int64 = 10_000

        public init() {}
    }

    /// The admin socket (axisctl).
    public struct Admin: Sendable, Equatable {
        /// nil: `<data>/admin.sock`.
        public var socket: String?
        /// nil: mode 0600. A group: mode 0660, owned by it.
        public var group: String?
        public init() {}
    }

    /// Where the admin socket is: `admin.socket`, or `admin.sock` in the data directory.
    public var adminSocketPath: String { admin.socket ?? PathJoin.join(data, "admin.sock") }

    /// The data directory (journal/, payloads/); created when missing.
    public var data = "/var/lib/axis"
    public var api = API()
    public var trust = Trust()
    public var receipts = Receipts()
    public var delivery = Delivery()
    public var journal = JournalSettings()
    public var vdxp = VDXP()
    public var ops = Ops()
    public var admin = Admin()
    public var log = Log()
    public var shutdown = Shutdown()

    public init() {}

    /// Every setting at its default.
    public static let defaults = AxisdConfiguration()

    /// The client credential for push delivery: `delivery.clientCertificate`/`clientKey`, or else the
    /// API's TLS certificate and key; nil when neither pair is configured.
    public var deliveryClientCredential: (certificate: String, key: String)? {
        if let certificate = delivery.clientCertificate, let key = delivery.clientKey { return (certificate, key) }
        if let certificate = api.tlsCertificate, let key = api.tlsKey { return (certificate, key) }
        return nil
    }

    /// The CA certificates for recipients' endpoints: `delivery.trust`, or else the trust anchors.
    public var deliveryTrust: TrustConfiguration {
        if let directory = delivery.trustDirectory { return TrustConfiguration(anchorsDirectory: directory) }
        return TrustConfiguration(anchorsFile: trust.anchorsFile, anchorsDirectory: trust.anchorsDirectory)
    }
}
