// The configuration written back as a configuration file: every key that has a value, in table order,
// grouped into its section. Loading the result gives the same configuration (ConfigurationTests), so
// it can be logged at start-up or printed for an operator as the settings actually in effect.

extension AxisdConfiguration {
    /// The value `key` has in this configuration, as it would be written in the file; nil when unset.
    public func value(for key: ConfigKey) -> JSONValue? {
        func path(_ p: String?) -> JSONValue? { p.map(JSONValue.string) }
        func seconds(_ millis: Int64) -> JSONValue {
            millis % 1000 == 0 ? .int(millis / 1000) : .double(Double(millis) / 1000)
        }
        func number(_ d: Double) -> JSONValue {
            d == d.rounded() && abs(d) < 1e15 ? .int(Int64(d)) : .double(d)
        }
        switch key.path {
        case Key.data.path: return .string(data)
        case Key.apiListen.path: return .string(api.listen.description)
        case Key.apiTLSCertificate.path: return path(api.tlsCertificate)
        case Key.apiTLSKey.path: return path(api.tlsKey)
        case Key.apiLeaseSeconds.path: return seconds(api.leaseMillis)
        case Key.apiMaxDocumentBytes.path: return .int(Int64(api.documentBytesMax))
        case Key.apiMaxConnections.path: return .int(Int64(api.connectionsMax))
        case Key.apiEventLoops.path: return .int(Int64(api.eventLoops))
        case Key.trustAnchors.path: return path(trust.anchorsDirectory)
        case Key.trustAnchorsFile.path: return path(trust.anchorsFile)
        case Key.trustIntermediates.path: return path(trust.intermediatesDirectory)
        case Key.trustCRLs.path: return path(trust.crlDirectory)
        case Key.receiptsCertificate.path: return path(receipts.certificate)
        case Key.receiptsKey.path: return path(receipts.key)
        case Key.deliveryClientCertificate.path: return path(delivery.clientCertificate)
        case Key.deliveryClientKey.path: return path(delivery.clientKey)
        case Key.deliveryTrust.path: return path(delivery.trustDirectory)
        case Key.deliveryInitialBackoffSeconds.path: return seconds(delivery.backoffMillisInitial)
        case Key.deliveryMaxBackoffSeconds.path: return seconds(delivery.backoffMillisMax)
        case Key.deliveryBackoffMultiplier.path: return number(delivery.backoffMultiplier)
        case Key.deliveryJitter.path: return number(delivery.jitterFraction)
        case Key.deliveryMaxLifetimeSeconds.path: return seconds(delivery.lifetimeMillisMax)
        case Key.deliveryPerRecipientConcurrency.path: return .int(Int64(delivery.concurrencyPerRecipientMax))
        case Key.deliveryAttemptTimeoutSeconds.path: return seconds(delivery.attemptTimeoutMillis)
        case Key.deliveryWorkers.path: return .int(Int64(delivery.workers))
        case Key.journalSegmentBytes.path: return .int(Int64(journal.segmentBytes))
        case Key.journalRetentionDays.path: return .int(Int64(journal.retentionDays))
        case Key.vdxpListen.path: return .string(vdxp.listen?.description ?? "")
        case Key.vdxpTransport.path: return .string(vdxp.transport.rawValue)
        case Key.vdxpSignaturePolicy.path: return .string(vdxp.signaturePolicy.rawValue)
        case Key.vdxpMaxDocumentBytes.path: return .int(Int64(vdxp.documentBytesMax))
        case Key.opsListen.path: return .string(ops.listen?.description ?? "")
        case Key.adminSocket.path: return path(admin.socket)
        case Key.adminGroup.path: return admin.group.map(JSONValue.string)
        case Key.logFormat.path: return .string(log.format == .json ? "json" : "kv")
        case Key.logLevel.path: return .string(log.level.rawValue)
        case Key.shutdownGraceSeconds.path: return seconds(shutdown.graceMillis)
        default: return nil
        }
    }

    /// The whole configuration as a configuration file's JSON object.
    public func json() -> JSONValue {
        var top: [(String, JSONValue)] = []
        var sections: [(String, [(String, JSONValue)])] = []
        for key in Self.keys {
            guard let value = value(for: key) else { continue }
            guard let section = key.section else {
                top.append((key.path, value))
                continue
            }
            if let i = sections.firstIndex(where: { $0.0 == section }) {
                sections[i].1.append((key.leaf, value))
            } else {
                sections.append((section, [(key.leaf, value)]))
            }
        }
        return .object(top + sections.map { ($0.0, JSONValue.object($0.1)) })
    }
}
