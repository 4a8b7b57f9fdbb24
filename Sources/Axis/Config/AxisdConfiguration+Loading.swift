// Loading axisd's configuration: the file (at most 1 MiB of UTF-8 JSON holding one object), then the
// command-line options that override it, then the checks that involve two keys. Every problem found
// is reported in one `.usage` error, one line each, naming the file, the key path (or the option),
// what is wrong and how to fix it. Problems that stop reading altogether (the file cannot be read,
// is too large, is not UTF-8 or not JSON) are reported alone.

@preconcurrency import Glibc

extension AxisdConfiguration {
    /// The largest configuration file read.
    public static let fileBytesMax = 1 << 20

    /// Loads and checks the configuration file at `path`. Relative paths in it resolve against the
    /// file's directory. `checkFiles: false` skips checking that named files and directories exist
    /// (for checking a file meant for another machine).
    public static func load(path: String, checkFiles: Bool = true) throws -> AxisdConfiguration {
        try resolve(configFile: path, flags: [:], checkFiles: checkFiles)
    }

    /// Parses configuration bytes. `source` names them in messages (normally the file's path);
    /// relative paths resolve against `baseDirectory`.
    public static func parse(_ bytes: [UInt8], baseDirectory: String, source: String = "configuration",
                             checkFiles: Bool = true) throws -> AxisdConfiguration {
        let root = try syntaxTree(bytes, source: source)
        var reader = ConfigReader(root: root, keys: keys, source: .file(source), baseDirectory: baseDirectory, checkFiles: checkFiles)
        var configuration = AxisdConfiguration.defaults
        configuration.read(from: &reader)
        var origins = Origins(file: reader, flags: nil)
        configuration.crossCheck(&origins)
        try origins.check()
        return configuration
    }

    /// The configuration axisd runs with: the defaults, overridden by the file at `configFile` (if
    /// any), overridden by command-line `flags` — option name without dashes to its value, for the
    /// options actually given (`"lease-seconds": "600"`; see `overridingFlags`). Relative paths in
    /// flags resolve against `workingDirectory` (the process's when nil). All problems in the file and
    /// the flags are reported together.
    public static func resolve(configFile: String?, flags: [String: String], workingDirectory: String? = nil,
                               checkFiles: Bool = true) throws -> AxisdConfiguration {
        let cwd = workingDirectory ?? currentDirectory()
        var configuration = AxisdConfiguration.defaults
        var origins = Origins(file: nil, flags: nil)
        if let configFile {
            let path = ConfigReader.resolve(configFile, against: cwd)
            let root = try syntaxTree(try readFile(path), source: path)
            var reader = ConfigReader(root: root, keys: keys, source: .file(path), baseDirectory: directory(of: path),
                                      checkFiles: checkFiles)
            configuration.read(from: &reader)
            origins.file = reader
        }
        if !flags.isEmpty {
            var reader = ConfigReader(flags: flags, keys: keys, baseDirectory: cwd, checkFiles: checkFiles)
            configuration.read(from: &reader)
            origins.flags = reader
        }
        configuration.crossCheck(&origins)
        try origins.check()
        return configuration
    }

    // MARK: - Reading

    /// Applies every key present in `reader` (the single place the table meets the struct).
    mutating func read(from r: inout ConfigReader) {
        if let v = r.path(Key.data) { data = v }

        if let v = r.listen(Key.apiListen), let address = v { api.listen = address }
        if let v = r.path(Key.apiTLSCertificate) { api.tlsCertificate = v }
        if let v = r.path(Key.apiTLSKey) { api.tlsKey = v }
        if let v = r.millis(Key.apiLeaseSeconds) { api.leaseMillis = v }
        if let v = r.integer(Key.apiMaxDocumentBytes) { api.documentBytesMax = Int(v) }
        if let v = r.integer(Key.apiMaxConnections) { api.connectionsMax = Int(v) }
        if let v = r.integer(Key.apiEventLoops) { api.eventLoops = Int(v) }

        if let v = r.path(Key.trustAnchors) { trust.anchorsDirectory = v }
        if let v = r.path(Key.trustAnchorsFile) { trust.anchorsFile = v }
        if let v = r.path(Key.trustIntermediates) { trust.intermediatesDirectory = v }
        if let v = r.path(Key.trustCRLs) { trust.crlDirectory = v }

        if let v = r.path(Key.receiptsCertificate) { receipts.certificate = v }
        if let v = r.path(Key.receiptsKey) { receipts.key = v }

        if let v = r.path(Key.deliveryClientCertificate) { delivery.clientCertificate = v }
        if let v = r.path(Key.deliveryClientKey) { delivery.clientKey = v }
        if let v = r.path(Key.deliveryTrust) { delivery.trustDirectory = v }
        if let v = r.millis(Key.deliveryInitialBackoffSeconds) { delivery.backoffMillisInitial = v }
        if let v = r.millis(Key.deliveryMaxBackoffSeconds) { delivery.backoffMillisMax = v }
        if let v = r.number(Key.deliveryBackoffMultiplier) { delivery.backoffMultiplier = v }
        if let v = r.number(Key.deliveryJitter) { delivery.jitterFraction = v }
        if let v = r.millis(Key.deliveryMaxLifetimeSeconds) { delivery.lifetimeMillisMax = v }
        if let v = r.integer(Key.deliveryPerRecipientConcurrency) { delivery.concurrencyPerRecipientMax = Int(v) }
        if let v = r.millis(Key.deliveryAttemptTimeoutSeconds) { delivery.attemptTimeoutMillis = v }
        if let v = r.integer(Key.deliveryWorkers) { delivery.workers = Int(v) }

        if let v = r.integer(Key.journalSegmentBytes) { journal.segmentBytes = Int(v) }
        if let v = r.integer(Key.journalRetentionDays) { journal.retentionDays = Int(v) }

        if let v = r.listen(Key.vdxpListen) { vdxp.listen = v }
        if let v = r.choice(Key.vdxpTransport), let transport = VDXP.Transport(rawValue: v) { vdxp.transport = transport }
        if let v = r.choice(Key.vdxpSignaturePolicy), let policy = VDXP.SignaturePolicy(rawValue: v) { vdxp.signaturePolicy = policy }
        if let v = r.integer(Key.vdxpMaxDocumentBytes) { vdxp.documentBytesMax = Int(v) }

        if let v = r.listen(Key.opsListen) { ops.listen = v }
        if let v = r.path(Key.adminSocket) { admin.socket = v }
        if let v = r.group(Key.adminGroup) { admin.group = v }

        if let v = r.choice(Key.logFormat) { log.format = v == "json" ? .json : .keyValue }
        if let v = r.choice(Key.logLevel), let level = LogLevel(rawValue: v) { log.level = level }

        if let v = r.millis(Key.shutdownGraceSeconds) { shutdown.graceMillis = v }
    }

    // MARK: - Checks across keys

    /// Where each key's value came from, so a cross-key message names a key the way the operator
    /// wrote it (`"api.listen"` in the file, `--listen` on the command line).
    struct Origins {
        var file: ConfigReader?
        var flags: ConfigReader?
        var problems: [String] = []

        func fromFlags(_ key: ConfigKey) -> Bool { flags?.given.contains(key.path) ?? false }
        func given(_ key: ConfigKey) -> Bool { fromFlags(key) || (file?.given.contains(key.path) ?? false) }
        func failed(_ key: ConfigKey) -> Bool {
            (flags?.failed.contains(key.path) ?? false) || (file?.failed.contains(key.path) ?? false)
        }

        /// `"delivery.maxBackoffSeconds"` or `--listen`.
        func name(_ key: ConfigKey) -> String {
            if fromFlags(key), let flags { return flags.name(key) }
            return JSONValue.string(key.path).encoded()
        }

        /// The name with its value: `"api.listen" (127.0.0.1:7443)`, or `(…, the default)` when not given.
        func name(_ key: ConfigKey, value: String) -> String {
            "\(name(key)) (\(value)\(given(key) ? "" : ", the default"))"
        }

        /// A cross-key problem, prefixed with the file when any of `keys` comes from it (or is a default).
        mutating func add(_ message: String, about keys: [ConfigKey]) {
            let prefix = keys.allSatisfy(fromFlags) ? "" : (file?.prefix ?? "")
            problems.append(prefix + message)
        }

        func check() throws {
            let all = (file?.problems ?? []) + (flags?.problems ?? []) + problems
            guard all.isEmpty else { throw AxisError(.usage, all.joined(separator: "\n")) }
        }
    }

    /// Checks that involve two keys. A key whose own value was refused is left out, so one mistake
    /// is reported once.
    func crossCheck(_ origins: inout Origins) {
        let initial = Key.deliveryInitialBackoffSeconds, max = Key.deliveryMaxBackoffSeconds
        if !origins.failed(initial), !origins.failed(max), delivery.backoffMillisMax < delivery.backoffMillisInitial {
            origins.add("\(origins.name(max, value: Self.seconds(delivery.backoffMillisMax))) is less than "
                + "\(origins.name(initial, value: Self.seconds(delivery.backoffMillisInitial))); the longest delay must be at least the first one: "
                + "raise \(origins.name(max)) or lower \(origins.name(initial))", about: [initial, max])
        }
        let pairs: [(ConfigKey, String?, ConfigKey, String?, String)] = [
            (Key.apiTLSCertificate, api.tlsCertificate, Key.apiTLSKey, api.tlsKey, "the certificate and its private key"),
            (Key.receiptsCertificate, receipts.certificate, Key.receiptsKey, receipts.key, "the certificate and its private key"),
            (Key.deliveryClientCertificate, delivery.clientCertificate, Key.deliveryClientKey, delivery.clientKey,
             "the certificate and its private key"),
        ]
        for (a, aValue, b, bValue, what) in pairs where !origins.failed(a) && !origins.failed(b) {
            if (aValue == nil) != (bValue == nil) {
                let (set, unset) = aValue != nil ? (a, b) : (b, a)
                origins.add("\(origins.name(set)) is set but \(origins.name(unset)) is not; set both (\(what)) or neither",
                            about: [a, b])
            }
        }
        let apiKey = Key.apiListen, opsKey = Key.opsListen
        if let ops = ops.listen, !origins.failed(apiKey), !origins.failed(opsKey), ops.port != 0, ops.port == api.listen.port,
           ops.host == api.listen.host || ops.isWildcard || api.listen.isWildcard {
            origins.add("\(origins.name(opsKey, value: ops.description)) and \(origins.name(apiKey, value: api.listen.description)) use the same port; "
                + "give the ops endpoint its own port, such as \(api.listen.port == 9464 ? 9465 : 9464)", about: [apiKey, opsKey])
        }
    }

    /// Milliseconds as seconds for a message: `3600`, `0.5`.
    static func seconds(_ millis: Int64) -> String { ConfigKey.format(Double(millis) / 1000) }

    // MARK: - The file

    /// The file's bytes, or a message saying why they cannot be read and what to do.
    static func readFile(_ path: String) throws -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw AxisError(.usage, "\(path): the configuration file does not exist; check the path given to --config "
                    + "(docs/axisd.sample.json is a complete example)", errno: code)
            }
            throw AxisError(.usage, "\(path): cannot read the configuration file; check the path and that user uid \(getuid()) "
                + "may read it", errno: code)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw AxisError(.usage, "\(path): is a directory, not a configuration file; name the JSON file itself, e.g. \(PathJoin.join(path, "axisd.json"))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw AxisError(.usage, "\(path): is not a regular file; name a JSON configuration file")
        }
        guard Int(st.st_size) <= fileBytesMax else {
            throw AxisError(.usage, "\(path): the configuration file is \(st.st_size) bytes, more than the \(fileBytesMax) "
                + "(1 MiB) read; is it the right file?")
        }
        guard access(path, R_OK) == 0 else {
            let code = errno
            throw AxisError(.usage, "\(path): the configuration file is not readable by this user (uid \(getuid())); "
                + "let it read the file, e.g. chgrp axis \(path) && chmod 640 \(path)", errno: code)
        }
        do {
            return try FileBytes.read(path, limit: fileBytesMax)
        } catch let error as AxisError {
            throw AxisError(.usage, "\(path): cannot read the configuration file: \(error.message)", errno: error.errno)
        }
    }

    /// The file's JSON, or a message saying where and why it is not JSON.
    static func syntaxTree(_ bytes: [UInt8], source: String) throws -> StrictJSON {
        guard bytes.count <= fileBytesMax else {
            throw AxisError(.usage, "\(source): the configuration is \(bytes.count) bytes, more than the \(fileBytesMax) (1 MiB) read; "
                + "is it the right file?")
        }
        do {
            return try StrictJSON.parse(bytes)
        } catch {
            throw AxisError(.usage, "\(source): not valid JSON at line \(error.line), column \(error.column) (byte \(error.offset)): "
                + "\(error.reason); correct the file there (docs/axisd.sample.json shows the expected shape)")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
