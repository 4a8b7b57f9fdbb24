import Foundation
import XCTest

@testable import Axis

final class ConfigurationTests: XCTestCase {
    typealias Key = AxisdConfiguration.Key
    static let source = "/etc/axis/axisd.json"

    // MARK: - Helpers

    /// The package root, from this file's path (Tests/AxisTests/ConfigurationTests.swift).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    private func parse(_ json: String, checkFiles: Bool = false) throws -> AxisdConfiguration {
        try AxisdConfiguration.parse(Array(json.utf8), baseDirectory: "/etc/axis", source: Self.source, checkFiles: checkFiles)
    }

    /// Asserts that loading fails with a `.usage` error and returns its message.
    @discardableResult
    private func rejection(_ body: () throws -> AxisdConfiguration, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let configuration = try body()
            XCTFail("expected the configuration to be refused, got \(configuration)", file: file, line: line)
            return ""
        } catch let error as AxisError {
            XCTAssertEqual(error.code, .usage, file: file, line: line)
            return error.message
        } catch {
            XCTFail("not an AxisError: \(error)", file: file, line: line)
            return ""
        }
    }

    private func rejection(_ json: String, checkFiles: Bool = false, file: StaticString = #filePath, line: UInt = #line) -> String {
        rejection({ try parse(json, checkFiles: checkFiles) }, file: file, line: line)
    }

    private func assertContains(_ message: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in parts where !message.contains(part) {
            XCTFail("message does not contain \(part.debugDescription):\n\(message)", file: file, line: line)
        }
    }

    private func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Every key path present in a parsed file (sections walked into).
    private func keyPaths(in value: StrictJSON, prefix: String = "") -> Set<String> {
        guard case .object(let members) = value else { return [prefix] }
        var paths: Set<String> = []
        for member in members {
            let path = prefix.isEmpty ? member.key : prefix + "." + member.key
            if case .object = member.value { paths.formUnion(keyPaths(in: member.value, prefix: path)) } else { paths.insert(path) }
        }
        return paths
    }

    // MARK: - Defaults and the key table

    func testDefaultsMatchTheKeyTableAndTheBrief() throws {
        let d = AxisdConfiguration.defaults
        for key in AxisdConfiguration.keys {
            XCTAssertEqual(d.value(for: key), key.defaultValue, "default of \(key.path)")
        }
        XCTAssertEqual(d.data, "/var/lib/axis")
        XCTAssertEqual(d.api.listen, ListenAddress(host: "127.0.0.1", port: 7443))
        XCTAssertNil(d.api.tlsCertificate)
        XCTAssertNil(d.api.tlsKey)
        XCTAssertEqual(d.api.leaseMillis, 300_000)
        XCTAssertEqual(d.api.documentBytesMax, 268_435_456)
        XCTAssertEqual(d.api.connectionsMax, 20_000)
        XCTAssertEqual(d.api.eventLoops, 2)
        XCTAssertEqual(d.trust, AxisdConfiguration.Trust())
        XCTAssertNil(d.trust.anchorsDirectory)
        XCTAssertNil(d.receipts.certificate)
        XCTAssertNil(d.delivery.clientCertificate)
        XCTAssertNil(d.delivery.trustDirectory)
        XCTAssertEqual(d.delivery.backoffMillisInitial, 30_000)
        XCTAssertEqual(d.delivery.backoffMillisMax, 3_600_000)
        XCTAssertEqual(d.delivery.backoffMultiplier, 2)
        XCTAssertEqual(d.delivery.jitterFraction, 0.2)
        XCTAssertEqual(d.delivery.lifetimeMillisMax, 72 * 3_600_000)
        XCTAssertEqual(d.delivery.concurrencyPerRecipientMax, 4)
        XCTAssertEqual(d.delivery.attemptTimeoutMillis, 30_000)
        XCTAssertEqual(d.delivery.workers, 32)
        XCTAssertEqual(d.ops.listen, ListenAddress(host: "127.0.0.1", port: 9464))
        XCTAssertEqual(d.log.format, .keyValue)
        XCTAssertEqual(d.log.level, .info)
        XCTAssertEqual(d.shutdown.graceMillis, 10_000)
        XCTAssertNil(d.deliveryClientCredential)
    }

    func testEmptyObjectGivesTheDefaults() throws {
        XCTAssertEqual(try parse("{}"), AxisdConfiguration.defaults)
        XCTAssertEqual(try parse(" { \"api\": {}, \"delivery\": {} }\n"), AxisdConfiguration.defaults)
    }

    func testKeyTableHasUniquePathsAndFlagsMatchingAxisdOptions() {
        let paths = AxisdConfiguration.keys.map(\.path)
        XCTAssertEqual(Set(paths).count, paths.count)
        XCTAssertEqual(Set(AxisdConfiguration.overridingFlags), [
            "data", "listen", "vdxp-listen", "tls-cert", "tls-key", "trust", "intermediates", "crl-dir", "receipt-cert", "receipt-key",
            "lease-seconds", "max-document-bytes", "log-format", "log-level",
        ])
    }

    func testDocsListEveryKeyWithItsDefaultAndLimits() throws {
        let docs = try String(contentsOfFile: Self.packageRoot + "/docs/CONFIGURATION.md", encoding: .utf8)
        let lines = docs.split(separator: "\n").map(String.init)
        for key in AxisdConfiguration.keys {
            guard let row = lines.first(where: { $0.hasPrefix("| `\(key.path)` |") }) else {
                XCTFail("docs/CONFIGURATION.md has no table row for \(key.path); expected a line starting | `\(key.path)` |")
                continue
            }
            XCTAssertTrue(row.contains(key.defaultText), "the row of \(key.path) does not show the default \(key.defaultText):\n\(row)")
            XCTAssertTrue(row.contains(key.limitText), "the row of \(key.path) does not show the limits \(key.limitText):\n\(row)")
            if let flag = key.flag {
                XCTAssertTrue(row.contains("`--\(flag)`"), "the row of \(key.path) does not name its option --\(flag):\n\(row)")
            }
        }
        for flag in ["--data", "--listen", "--tls-cert", "--tls-key", "--trust", "--intermediates", "--crl-dir", "--receipt-cert",
                     "--receipt-key", "--lease-seconds", "--max-document-bytes", "--log-format", "--log-level", "--salvage", "--demo",
                     "--config"] {
            XCTAssertTrue(docs.contains("`\(flag)"), "docs/CONFIGURATION.md does not mention \(flag)")
        }
        XCTAssertTrue(docs.contains("packaging/axisd.service"))
    }

    // MARK: - The sample

    func testSampleLoadsWithFileChecksRelaxedAndSetsEveryKey() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.packageRoot + "/docs/axisd.sample.json")))
        let configuration = try AxisdConfiguration.parse(bytes, baseDirectory: "/etc/axis", source: "docs/axisd.sample.json",
                                                         checkFiles: false)
        XCTAssertEqual(keyPaths(in: try StrictJSON.parse(bytes)), Set(AxisdConfiguration.keys.map(\.path)))
        XCTAssertEqual(configuration.api.listen, ListenAddress(host: "0.0.0.0", port: 7443))
        XCTAssertEqual(configuration.api.tlsCertificate, "/etc/axis/tls/server.pem")
        XCTAssertEqual(configuration.receipts.key, "/etc/axis/receipts/axis.key")
        XCTAssertEqual(configuration.data, "/var/lib/axis")
        XCTAssertEqual(configuration.log.format, .json)
        for key in AxisdConfiguration.keys {
            XCTAssertNotNil(configuration.value(for: key), "the sample leaves \(key.path) unset")
        }
        // With the checks on, the sample's paths (absent on a build machine) are each reported.
        let message = rejection { try AxisdConfiguration.parse(bytes, baseDirectory: "/etc/axis", source: "sample", checkFiles: true) }
        let fileKeys = AxisdConfiguration.keys.filter { $0.kind == .file || $0.kind == .directory || $0.kind == .socket }
        if !FileManager.default.fileExists(atPath: "/etc/axis") {
            XCTAssertEqual(message.split(separator: "\n").count, fileKeys.count, message)
        }
    }

    // MARK: - A full file

    func testFullFileWithRealFilesLoadsToTheExpectedConfiguration() throws {
        let dir = try makeTempDirectory(self, "axis-config")
        for file in ["tls/server.pem", "tls/server.key", "trust/bundle.pem", "receipts/axis.pem", "receipts/axis.key",
                     "tls/client.pem", "tls/client.key"] {
            try write("-----BEGIN TEST-----\n", to: dir + "/" + file)
        }
        for directory in ["trust/anchors", "trust/intermediates", "trust/crls", "trust/endpoints"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + directory, withIntermediateDirectories: true)
        }
        let json = """
            {
              "data": "state",
              "api": {"listen": "10.1.2.3:8443", "tlsCertificate": "tls/server.pem", "tlsKey": "./tls/server.key",
                      "leaseSeconds": 600, "maxDocumentBytes": 1048576, "maxConnections": 500, "eventLoops": 8},
              "trust": {"anchors": "\(dir)/trust/anchors", "anchorsFile": "trust/bundle.pem",
                        "intermediates": "trust/intermediates", "crls": "trust/crls"},
              "receipts": {"certificate": "receipts/axis.pem", "key": "receipts/axis.key"},
              "delivery": {"clientCertificate": "tls/client.pem", "clientKey": "tls/client.key", "trust": "trust/endpoints",
                           "initialBackoffSeconds": 0.5, "maxBackoffSeconds": 7200, "backoffMultiplier": 1.5, "jitter": 0,
                           "maxLifetimeSeconds": 86400, "perRecipientConcurrency": 2, "attemptTimeoutSeconds": 12.25,
                           "workers": 100},
              "journal": {"segmentBytes": 1048576, "retentionDays": 30},
              "ops": {"listen": ""},
              "admin": {"socket": "run/admin.sock", "group": "root"},
              "log": {"format": "json", "level": "debug"},
              "shutdown": {"graceSeconds": 0}
            }
            """
        try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
        try write(json, to: dir + "/axisd.json")
        let loaded = try AxisdConfiguration.load(path: dir + "/axisd.json")

        var expected = AxisdConfiguration()
        expected.data = dir + "/state"
        expected.api.listen = ListenAddress(host: "10.1.2.3", port: 8443)
        expected.api.tlsCertificate = dir + "/tls/server.pem"
        expected.api.tlsKey = dir + "/tls/server.key"
        expected.api.leaseMillis = 600_000
        expected.api.documentBytesMax = 1_048_576
        expected.api.connectionsMax = 500
        expected.api.eventLoops = 8
        expected.trust.anchorsDirectory = dir + "/trust/anchors"
        expected.trust.anchorsFile = dir + "/trust/bundle.pem"
        expected.trust.intermediatesDirectory = dir + "/trust/intermediates"
        expected.trust.crlDirectory = dir + "/trust/crls"
        expected.receipts.certificate = dir + "/receipts/axis.pem"
        expected.receipts.key = dir + "/receipts/axis.key"
        expected.delivery.clientCertificate = dir + "/tls/client.pem"
        expected.delivery.clientKey = dir + "/tls/client.key"
        expected.delivery.trustDirectory = dir + "/trust/endpoints"
        expected.delivery.backoffMillisInitial = 500
        expected.delivery.backoffMillisMax = 7_200_000
        expected.delivery.backoffMultiplier = 1.5
        expected.delivery.jitterFraction = 0
        expected.delivery.lifetimeMillisMax = 86_400_000
        expected.delivery.concurrencyPerRecipientMax = 2
        expected.delivery.attemptTimeoutMillis = 12_250
        expected.delivery.workers = 100
        expected.ops.listen = nil
        expected.journal.segmentBytes = 1_048_576
        expected.journal.retentionDays = 30
        expected.admin.socket = dir + "/run/admin.sock"
        expected.admin.group = "root"
        expected.log.format = .json
        expected.log.level = .debug
        expected.shutdown.graceMillis = 0
        XCTAssertEqual(loaded, expected)
        XCTAssertEqual(loaded.deliveryClientCredential?.certificate, dir + "/tls/client.pem")
        XCTAssertEqual(loaded.deliveryTrust, TrustConfiguration(anchorsDirectory: dir + "/trust/endpoints"))
        XCTAssertEqual(loaded.trust.trustConfiguration.crlDirectory, dir + "/trust/crls")

        // Written back as JSON, it loads to the same configuration, and every key is written.
        let written = loaded.json().encoded()
        XCTAssertEqual(try AxisdConfiguration.parse(Array(written.utf8), baseDirectory: "/nowhere", checkFiles: false), loaded)
        XCTAssertEqual(keyPaths(in: try StrictJSON.parse(Array(written.utf8))), Set(AxisdConfiguration.keys.map(\.path)))
        XCTAssertEqual(try parse(AxisdConfiguration.defaults.json().encoded()), AxisdConfiguration.defaults)
    }

    func testRelativePathsResolveAgainstTheConfigurationFilesDirectory() throws {
        let dir = try makeTempDirectory(self, "axis-config-rel")
        try write("x", to: dir + "/etc/tls/server.pem")
        try write("x", to: dir + "/etc/tls/server.key")
        try FileManager.default.createDirectory(atPath: dir + "/etc/anchors", withIntermediateDirectories: true)
        try write(#"{"data": "../var", "api": {"tlsCertificate": "tls/server.pem", "tlsKey": "./tls/server.key"}, "trust": {"anchors": "anchors"}}"#,
                  to: dir + "/etc/axisd.json")
        let loaded = try AxisdConfiguration.load(path: dir + "/etc/axisd.json")
        XCTAssertEqual(loaded.data, dir + "/etc/../var")
        XCTAssertEqual(loaded.api.tlsCertificate, dir + "/etc/tls/server.pem")
        XCTAssertEqual(loaded.api.tlsKey, dir + "/etc/tls/server.key")
        XCTAssertEqual(loaded.trust.anchorsDirectory, dir + "/etc/anchors")
        XCTAssertEqual(loaded.deliveryClientCredential?.key, dir + "/etc/tls/server.key", "push falls back to the API's TLS key")
        XCTAssertEqual(loaded.deliveryTrust.anchorsDirectory, dir + "/etc/anchors", "push trust falls back to the anchors")

        // A relative config path resolves against the working directory, and the file's paths against its directory.
        let viaRelative = try AxisdConfiguration.resolve(configFile: "etc/axisd.json", flags: [:], workingDirectory: dir)
        XCTAssertEqual(viaRelative, loaded)
        // The message names the path as written and as resolved.
        try write(#"{"api": {"tlsCertificate": "tls/missing.pem", "tlsKey": "tls/server.key"}}"#, to: dir + "/etc/bad.json")
        let message = rejection { try AxisdConfiguration.load(path: dir + "/etc/bad.json") }
        assertContains(message, ["\(dir)/etc/bad.json: \"api.tlsCertificate\" names \(dir)/etc/tls/missing.pem (\"tls/missing.pem\" resolved against \(dir)/etc)"])
        XCTAssertEqual(ConfigReader.resolve("/abs/x", against: "/etc/axis"), "/abs/x")
        XCTAssertEqual(ConfigReader.resolve(".//x/y", against: "/etc/axis/"), "/etc/axis/x/y")
    }

    // MARK: - Failure classes

    func testUnknownKeysAreRefusedWithASuggestion() {
        var message = rejection(#"{"delivery": {"maxBackofSeconds": 60}}"#)
        XCTAssertEqual(message, "/etc/axis/axisd.json: unknown key \"delivery.maxBackofSeconds\" (did you mean \"delivery.maxBackoffSeconds\"?); "
            + "remove it or correct its spelling — every key is listed in docs/CONFIGURATION.md")

        message = rejection(#"{"leaseSeconds": 60, "deliver": {}, "log": {"Level": "info"}, "zzzzzz": 1}"#)
        assertContains(message, [
            "unknown key \"leaseSeconds\" (did you mean \"api.leaseSeconds\"?)",
            "unknown key \"deliver\" (did you mean \"delivery\"?)",
            "unknown key \"log.Level\" (did you mean \"log.level\"?)",
            "unknown key \"zzzzzz\"; remove it or correct its spelling",
        ])
        XCTAssertFalse(message.contains("\"zzzzzz\" (did you mean"), message)

        // An unknown object is refused as a whole, not walked into.
        message = rejection(#"{"delivery": {"retry": {"max": 3, "bogus": 1}}}"#)
        assertContains(message, ["unknown key \"delivery.retry\"", "it holds an object"])
        XCTAssertFalse(message.contains("delivery.retry.max"), message)
        XCTAssertFalse(message.contains("bogus"), message)

        // A dotted key is not a section.
        message = rejection(#"{"delivery.jitter": 0.1}"#)
        assertContains(message, ["key \"delivery.jitter\" must be written nested, as \"delivery\": {\"jitter\": …}"])
    }

    func testSuggestionsUseCaseInsensitiveEditDistanceWithTranspositions() {
        XCTAssertEqual(ConfigReader.editDistance("format", "fromat"), 1)
        XCTAssertEqual(ConfigReader.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(ConfigReader.editDistance("", "abc"), 3)
        let reader = ConfigReader(root: .object([]), keys: AxisdConfiguration.keys, source: .file("f"), baseDirectory: "/")
        XCTAssertEqual(reader.suggestion(for: "log.fromat"), "log.format")
        XCTAssertEqual(reader.suggestion(for: "API.LISTEN"), "api.listen")
        XCTAssertEqual(reader.suggestion(for: "api.graceSeconds"), "shutdown.graceSeconds")
        XCTAssertEqual(reader.suggestion(for: "delivery.worker"), "delivery.workers")
        XCTAssertNil(reader.suggestion(for: "colour"))
    }

    func testWrongTypesNameTheKeyTheValueAndTheFix() {
        XCTAssertEqual(rejection(#"{"delivery": {"maxBackoffSeconds": "ten"}}"#),
                       "/etc/axis/axisd.json: \"delivery.maxBackoffSeconds\" must be a number of seconds from 0.01 to 604800, not \"ten\"; "
                           + "set it to a number such as 3600")
        // A number where a string is expected.
        XCTAssertEqual(rejection(#"{"log": {"format": 3}}"#),
                       "/etc/axis/axisd.json: \"log.format\" must be one of \"kv\", \"json\", not 3; set it to one of them, such as \"kv\"")
        assertContains(rejection(#"{"data": 42}"#),
                       ["\"data\" must be a path to a directory (a string), not 42; set it to a path such as \"/var/lib/axis\""])
        // Booleans are not numbers, and numbers are not booleans.
        assertContains(rejection(#"{"api": {"leaseSeconds": true}}"#),
                       ["\"api.leaseSeconds\" must be a whole number of seconds from 1 to 86400, not true; set it to a number such as 300"])
        assertContains(rejection(#"{"delivery": {"jitter": false}}"#), ["\"delivery.jitter\" must be a number from 0 to 1, not false"])
        assertContains(rejection(#"{"api": {"listen": 1}}"#), ["\"api.listen\" must be \"HOST:PORT\"", "not 1;"])
        // A quoted number, null, arrays and objects.
        assertContains(rejection(#"{"api": {"maxConnections": "500"}}"#),
                       ["\"api.maxConnections\" must be a whole number from 1 to 1000000, not \"500\"; write the number without quotes, e.g. 20000"])
        assertContains(rejection(#"{"api": {"tlsCertificate": null}}"#),
                       ["\"api.tlsCertificate\" must be a path to a file (a string), not null; remove the key to use the default, or set it to a path such as \"/etc/axis/tls/server.pem\""])
        assertContains(rejection(#"{"log": {"level": ["info"]}}"#), ["\"log.level\" must be one of \"debug\", \"info\", \"warning\", \"error\", not an array"])
        assertContains(rejection(#"{"shutdown": {"graceSeconds": {}}}"#), ["\"shutdown.graceSeconds\" must be a number of seconds from 0 to 600, not an object"])
        assertContains(rejection(#"{"log": {"level": "INFO"}}"#), ["not \"INFO\"; write it in lower case: \"info\""])
        // A section that is not an object.
        assertContains(rejection(#"{"delivery": 5}"#), ["\"delivery\" must be an object of settings such as {\"clientCertificate\": \"/etc/axis/tls/client.pem\"}, not 5"])
        assertContains(rejection(#"{"data": ""}"#), ["\"data\" must be a path to a directory (a string), not \"\""])
        assertContains(rejection(#"{"data": "~/axis"}"#), ["\"~\" is not expanded; write the full path"])
    }

    func testOutOfRangeValuesAreRefused() {
        for (json, expected) in [
            (#"{"api": {"leaseSeconds": 0}}"#, "\"api.leaseSeconds\" must be a whole number of seconds from 1 to 86400, not 0; set it to a number such as 300"),
            (#"{"api": {"leaseSeconds": 86401}}"#, "not 86401"),
            (#"{"api": {"leaseSeconds": 2.5}}"#, "\"api.leaseSeconds\" must be a whole number of seconds from 1 to 86400, not 2.5"),
            (#"{"api": {"maxDocumentBytes": 1099511627777}}"#, "\"api.maxDocumentBytes\" must be a whole number of bytes from 1 to 1099511627776, not 1099511627777"),
            (#"{"api": {"maxConnections": 99999999999999999999}}"#, "not 99999999999999999999"),
            (#"{"api": {"eventLoops": 65}}"#, "\"api.eventLoops\" must be a whole number from 1 to 64, not 65; set it to a number such as 2"),
            (#"{"delivery": {"jitter": 1.5}}"#, "\"delivery.jitter\" must be a number from 0 to 1, not 1.5; set it to a number such as 0.2"),
            (#"{"delivery": {"backoffMultiplier": 0.5}}"#, "\"delivery.backoffMultiplier\" must be a number from 1 to 10, not 0.5"),
            (#"{"delivery": {"initialBackoffSeconds": 0.001}}"#, "\"delivery.initialBackoffSeconds\" must be a number of seconds from 0.01 to 86400, not 0.001"),
            (#"{"delivery": {"maxLifetimeSeconds": 1e400}}"#, "\"delivery.maxLifetimeSeconds\" must be a number of seconds from 1 to 31536000, not 1e400"),
            (#"{"delivery": {"workers": -1}}"#, "\"delivery.workers\" must be a whole number from 1 to 1024, not -1"),
            (#"{"delivery": {"perRecipientConcurrency": 257}}"#, "not 257"),
            (#"{"delivery": {"attemptTimeoutSeconds": 0.05}}"#, "from 0.1 to 3600, not 0.05"),
            (#"{"shutdown": {"graceSeconds": 601}}"#, "\"shutdown.graceSeconds\" must be a number of seconds from 0 to 600, not 601; set it to a number such as 10"),
        ] {
            let message = rejection(json)
            XCTAssertTrue(message.hasPrefix("/etc/axis/axisd.json: "), message)
            XCTAssertEqual(message.split(separator: "\n").count, 1, message)
            assertContains(message, [expected])
        }
        // Whole numbers may be written with a fraction or an exponent.
        XCTAssertEqual(try parse(#"{"api": {"maxConnections": 1e3, "leaseSeconds": 60.0}}"#).api.connectionsMax, 1000)
        XCTAssertEqual(try parse(#"{"api": {"leaseSeconds": 60.0}}"#).api.leaseMillis, 60_000)
    }

    func testBadListenAddressesAreRefused() throws {
        for (text, reason) in [
            ("localhost:7443", "host names are not supported"),
            ("127.0.0.1", "it has no port"),
            ("127.0.0.1:70000", "the port must be a whole number from 0 to 65535"),
            ("127.0.0.1:-1", "the port must be a whole number from 0 to 65535"),
            ("[::1]:7443", "IPv6 addresses are not supported"),
            ("256.0.0.1:7443", "\"256.0.0.1\" is not an IPv4 address"),
            ("7443", "it has no host; write 0.0.0.0:7443 or 127.0.0.1:7443"),
            ("10.0.0.01:7443", "is not an IPv4 address"),
            (":7443", "the host is missing"),
        ] {
            let message = rejection("{\"api\": {\"listen\": \(JSONValue.string(text).encoded())}}")
            assertContains(message, ["\"api.listen\" must be \"HOST:PORT\" with an IPv4 address and a port from 0 to 65535, not "
                                         + JSONValue.string(text).encoded(), reason, "set it to an address such as \"127.0.0.1:7443\""])
        }
        // "" disables the ops endpoint but is no address for the API.
        XCTAssertNil(try parse(#"{"ops": {"listen": ""}}"#).ops.listen)
        assertContains(rejection(#"{"api": {"listen": ""}}"#), ["\"api.listen\" must be \"HOST:PORT\"", "not \"\" (it is empty)"])
        XCTAssertEqual(try parse(#"{"ops": {"listen": "0.0.0.0:0"}}"#).ops.listen, ListenAddress(host: "0.0.0.0", port: 0))

        // The public parser axisd's --listen reuses.
        XCTAssertEqual(try ListenAddress.parse("0.0.0.0:7443"), ListenAddress(host: "0.0.0.0", port: 7443))
        XCTAssertEqual(try ListenAddress.parse("127.0.0.1:0").port, 0)
        XCTAssertEqual(ListenAddress(host: "10.0.0.1", port: 80).description, "10.0.0.1:80")
        do {
            _ = try ListenAddress.parse("localhost")
            XCTFail("accepted localhost")
        } catch let error as AxisError {
            XCTAssertEqual(error.code, .usage)
            XCTAssertTrue(error.message.hasPrefix("\"localhost\" is not a listen address (host names are not supported"), error.message)
            XCTAssertTrue(error.message.hasSuffix("write HOST:PORT such as 127.0.0.1:7443, or 0.0.0.0:7443 for every interface (port 0 picks a free port)"),
                          error.message)
        }
    }

    func testMissingOrWrongKindOfFilesAreRefused() throws {
        let dir = try makeTempDirectory(self, "axis-config-files")
        try write("x", to: dir + "/file.pem")
        let missing = dir + "/tls/server.pem"
        let message = rejection(
            "{\"api\": {\"tlsCertificate\": \"\(missing)\", \"tlsKey\": \"\(dir)\"}, \"receipts\": {\"certificate\": \"\(dir)/file.pem\", \"key\": \"\(dir)/file.pem\"}}",
            checkFiles: true)
        let lines = message.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            "/etc/axis/axisd.json: \"api.tlsCertificate\" names \(missing), which does not exist or is not readable by this user; create it or correct the path",
            "/etc/axis/axisd.json: \"api.tlsKey\" names \(dir), which is a directory, not a file; name the file itself",
        ])
        // Relaxed checks accept the same file.
        XCTAssertEqual(try parse("{\"api\": {\"tlsCertificate\": \"\(missing)\", \"tlsKey\": \"\(missing)\"}}").api.tlsCertificate, missing)
        if getuid() != 0 {
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: dir + "/file.pem")
            assertContains(rejection("{\"trust\": {\"anchorsFile\": \"\(dir)/file.pem\"}}", checkFiles: true),
                           ["\"trust.anchorsFile\" names \(dir)/file.pem, which exists but is not readable by this user"])
        }
    }

    func testMissingOrWrongKindOfDirectoriesAreRefused() throws {
        let dir = try makeTempDirectory(self, "axis-config-dirs")
        try write("x", to: dir + "/not-a-dir")
        let message = rejection(
            "{\"trust\": {\"anchors\": \"\(dir)/anchors\", \"crls\": \"\(dir)/not-a-dir\"}, \"data\": \"\(dir)/not-a-dir\", \"delivery\": {\"trust\": \"\(dir)\"}}",
            checkFiles: true)
        assertContains(message, [
            "/etc/axis/axisd.json: \"trust.anchors\" names \(dir)/anchors, which does not exist or is not readable by this user; create it or correct the path",
            "/etc/axis/axisd.json: \"trust.crls\" names \(dir)/not-a-dir, which is not a directory; name the directory that holds the files",
            "/etc/axis/axisd.json: \"data\" names \(dir)/not-a-dir, which exists and is not a directory; name a directory (axisd creates it when missing)",
        ])
        XCTAssertEqual(message.split(separator: "\n").count, 3, message)
        // A data directory that does not exist yet is fine: axisd creates it.
        XCTAssertEqual(try parse("{\"data\": \"\(dir)/new\"}", checkFiles: true).data, dir + "/new")
    }

    func testAdminGroupMustExistAndBeAName() throws {
        let missing = rejection("{\"admin\": {\"group\": \"no-such-group-axis\"}}", checkFiles: true)
        XCTAssertTrue(missing.contains("\"admin.group\"") && missing.contains("no such group on this machine"), missing)
        let malformed = rejection("{\"admin\": {\"group\": \"a b\"}}", checkFiles: false)
        XCTAssertTrue(malformed.contains("must be the name of a Unix group"), malformed)
        XCTAssertEqual(try parse("{\"admin\": {\"group\": \"root\"}}", checkFiles: true).admin.group, "root")
    }

    func testMaxBackoffBelowInitialBackoffNamesBothKeys() {
        XCTAssertEqual(rejection(#"{"delivery": {"initialBackoffSeconds": 120, "maxBackoffSeconds": 60}}"#),
                       "/etc/axis/axisd.json: \"delivery.maxBackoffSeconds\" (60) is less than \"delivery.initialBackoffSeconds\" (120); "
                           + "the longest delay must be at least the first one: raise \"delivery.maxBackoffSeconds\" or lower \"delivery.initialBackoffSeconds\"")
        // Against the default initial delay (30 s), which the message marks as a default.
        assertContains(rejection(#"{"delivery": {"maxBackoffSeconds": 10}}"#),
                       ["\"delivery.maxBackoffSeconds\" (10) is less than \"delivery.initialBackoffSeconds\" (30, the default);"])
        // Equal is fine; an invalid value is reported once, not again by the cross check.
        XCTAssertEqual(try parse(#"{"delivery": {"initialBackoffSeconds": 60, "maxBackoffSeconds": 60}}"#).delivery.backoffMillisMax, 60_000)
        let message = rejection(#"{"delivery": {"initialBackoffSeconds": 120, "maxBackoffSeconds": "x"}}"#)
        XCTAssertEqual(message.split(separator: "\n").count, 1, message)
    }

    func testHalfACredentialPairAndClashingPortsAreRefused() {
        assertContains(rejection(#"{"api": {"tlsCertificate": "/etc/axis/tls/server.pem"}}"#),
                       ["\"api.tlsCertificate\" is set but \"api.tlsKey\" is not; set both (the certificate and its private key) or neither"])
        assertContains(rejection(#"{"receipts": {"key": "/k"}}"#), ["\"receipts.key\" is set but \"receipts.certificate\" is not"])
        assertContains(rejection(#"{"delivery": {"clientCertificate": "/c"}}"#), ["\"delivery.clientCertificate\" is set but \"delivery.clientKey\" is not"])
        assertContains(rejection(#"{"api": {"listen": "0.0.0.0:9000"}, "ops": {"listen": "127.0.0.1:9000"}}"#),
                       ["\"ops.listen\" (127.0.0.1:9000) and \"api.listen\" (0.0.0.0:9000) use the same port; give the ops endpoint its own port, such as 9464"])
        // Different hosts on the same port, and port 0 twice, do not clash.
        XCTAssertNoThrow(try parse(#"{"api": {"listen": "10.0.0.1:9000"}, "ops": {"listen": "127.0.0.1:9000"}}"#))
        XCTAssertNoThrow(try parse(#"{"api": {"listen": "127.0.0.1:0"}, "ops": {"listen": "127.0.0.1:0"}}"#))
    }

    func testEveryProblemIsReportedTogetherOnePerLine() {
        let message = rejection("""
            {
              "api": {"leaseSeconds": "ten", "lisen": "127.0.0.1:1"},
              "delivery": {"jitter": 2, "workers": true},
              "log": {"format": "text"},
              "trust": {"anchors": "/nonexistent/axis/anchors"}
            }
            """, checkFiles: true)
        let lines = message.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, message)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("/etc/axis/axisd.json: ") }, message)
        assertContains(message, ["\"api.leaseSeconds\"", "unknown key \"api.lisen\" (did you mean \"api.listen\"?)", "\"delivery.jitter\"",
                                 "\"delivery.workers\"", "\"log.format\"", "\"trust.anchors\" names /nonexistent/axis/anchors"])
    }

    // MARK: - The file as a whole

    func testTopLevelMustBeAnObject() {
        for (json, shown) in [("[1, 2]", "an array"), ("\"api\"", "\"api\""), ("42", "42"), ("null", "null")] {
            XCTAssertEqual(rejection(json), "/etc/axis/axisd.json: the top level must be a JSON object such as {\"data\": \"/var/lib/axis\"}, "
                + "not \(shown); write the settings inside { }")
        }
    }

    func testInvalidJSONSaysWhereAndWhy() {
        assertContains(rejection("{\n  \"api\": {\n    \"listen\": \"127.0.0.1:7443\"\n    \"leaseSeconds\": 300\n  }\n}"), [
            "/etc/axis/axisd.json: not valid JSON at line 4, column 5 (byte 48): expected \",\" or \"}\" after the value of \"listen\", found \"\\\"\"",
            "correct the file there",
        ])
        assertContains(rejection("{\"api\": {\"leaseSeconds\": 300,}}"), ["line 1, column 30", "trailing comma before \"}\"; remove the comma"])
        assertContains(rejection("{\n  // the data\n  \"data\": \"/x\"\n}"), ["line 2, column 3", "JSON has no comments"])
        assertContains(rejection("{'data': 1}"), ["line 1, column 2", "keys must use double quotes"])
        assertContains(rejection("{\"data\": \"/x\"} {}"), ["line 1, column 16", "only whitespace may follow"])
        assertContains(rejection("{\"data\": \"/x"), ["a closing \" is missing"])
        assertContains(rejection(""), ["not valid JSON at line 1, column 1 (byte 0): there is no JSON value (the input is empty)"])
        assertContains(rejection("{\"api\": {\"leaseSeconds\": 0300}}"), ["numbers must not have leading zeros"])
        assertContains(rejection("{\"data\": TRUE}"), ["bare words are not JSON"])
        assertContains(rejection("{\"data\": \"a\\qb\"}"), ["\\q is not a JSON escape"])
        assertContains(rejection("{\"data\": \"\\ud800\"}"), ["high surrogate"])
        assertContains(rejection(String(repeating: "[", count: 40) + String(repeating: "]", count: 40)), ["nested more than 32 deep"])
        // Not UTF-8: the byte and where it is.
        let latin1: [UInt8] = Array("{\n \"data\": \"/caf".utf8) + [0xE9] + Array("\"}".utf8)
        assertContains(rejection { try AxisdConfiguration.parse(latin1, baseDirectory: "/", source: Self.source) },
                       ["/etc/axis/axisd.json: not valid JSON at line 2, column 15 (byte 16): byte 0xE9 is not UTF-8; save the file as UTF-8"])
    }

    func testDuplicateKeysAreRefusedWithBothLines() {
        assertContains(rejection("{\n\"api\": {\"leaseSeconds\": 1,\n \"leaseSeconds\": 2}}"),
                       ["\"api.leaseSeconds\" appears twice (lines 2 and 3); JSON keys must be unique: keep one"])
        assertContains(rejection("{\"api\": {},\n\"log\": {},\n\"api\": {\"eventLoops\": 1}}"),
                       ["\"api\" appears twice (lines 1 and 3); JSON keys must be unique: keep one and move its settings into it"])
    }

    func testStrictJSONKeepsLexemesOrderAndDuplicates() throws {
        let value = try StrictJSON.parse(Array("\u{FEFF}{\"b\": -0.5e3, \"a\": [true, null], \"b\": \"\\u00e9\\ud83d\\ude00\\n\"}".utf8))
        guard case .object(let members) = value else { return XCTFail("not an object") }
        XCTAssertEqual(members.map(\.key), ["b", "a", "b"])
        XCTAssertEqual(members[0].value, .number("-0.5e3"))
        XCTAssertEqual(members[1].value, .array([.bool(true), .null]))
        XCTAssertEqual(members[2].value, .string("é😀\n"))
        XCTAssertEqual(members[2].column, 34)
        XCTAssertEqual(members[2].line, 1)
        XCTAssertTrue(StrictJSON.isNumber("12.5"))
        XCTAssertFalse(StrictJSON.isNumber("12."))
        XCTAssertFalse(StrictJSON.isNumber("0x10"))
        XCTAssertFalse(StrictJSON.isNumber(""))
    }

    func testFileProblemsAreReportedBeforeParsing() throws {
        let dir = try makeTempDirectory(self, "axis-config-file")
        var message = rejection { try AxisdConfiguration.load(path: dir + "/missing.json") }
        XCTAssertEqual(message, "\(dir)/missing.json: the configuration file does not exist; check the path given to --config "
            + "(docs/axisd.sample.json is a complete example)")
        message = rejection { try AxisdConfiguration.load(path: dir) }
        assertContains(message, ["\(dir): is a directory, not a configuration file; name the JSON file itself"])
        try Data(repeating: 0x20, count: AxisdConfiguration.fileBytesMax + 1).write(to: URL(fileURLWithPath: dir + "/big.json"))
        message = rejection { try AxisdConfiguration.load(path: dir + "/big.json") }
        assertContains(message, ["\(dir)/big.json: the configuration file is 1048577 bytes, more than the 1048576 (1 MiB) read"])
        if getuid() != 0 {
            try write("{}", to: dir + "/secret.json")
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: dir + "/secret.json")
            assertContains(rejection { try AxisdConfiguration.load(path: dir + "/secret.json") },
                           ["\(dir)/secret.json: the configuration file is not readable by this user"])
        }
        try write("{\"log\": {\"level\": \"debug\"}}", to: dir + "/ok.json")
        XCTAssertEqual(try AxisdConfiguration.load(path: dir + "/ok.json").log.level, .debug)
    }

    // MARK: - Command-line overrides

    func testFlagsOverrideTheFileAndAreCheckedTheSameWay() throws {
        let dir = try makeTempDirectory(self, "axis-config-flags")
        try FileManager.default.createDirectory(atPath: dir + "/cwd/crl", withIntermediateDirectories: true)
        try write(#"{"data": "/srv/axis", "api": {"leaseSeconds": 60, "listen": "127.0.0.1:7000"}, "log": {"level": "warning"}}"#,
                  to: dir + "/axisd.json")
        let resolved = try AxisdConfiguration.resolve(
            configFile: dir + "/axisd.json",
            flags: ["lease-seconds": "600", "listen": "0.0.0.0:8443", "log-format": "json", "crl-dir": "crl"],
            workingDirectory: dir + "/cwd")
        XCTAssertEqual(resolved.data, "/srv/axis")
        XCTAssertEqual(resolved.api.leaseMillis, 600_000)
        XCTAssertEqual(resolved.api.listen, ListenAddress(host: "0.0.0.0", port: 8443))
        XCTAssertEqual(resolved.log.level, .warning)
        XCTAssertEqual(resolved.log.format, .json)
        XCTAssertEqual(resolved.trust.crlDirectory, dir + "/cwd/crl", "a relative flag path resolves against the working directory")

        // Without a file: the defaults plus the flags.
        XCTAssertEqual(try AxisdConfiguration.resolve(configFile: nil, flags: [:]), AxisdConfiguration.defaults)

        // Problems in the file and in the flags come together; flags are named as options.
        try write(#"{"api": {"eventLoops": 0}}"#, to: dir + "/bad.json")
        let message = rejection {
            try AxisdConfiguration.resolve(configFile: dir + "/bad.json",
                                           flags: ["lease-seconds": "ten", "listen": "localhost:1", "max-document-bytes": "0"],
                                           workingDirectory: dir)
        }
        XCTAssertEqual(message.split(separator: "\n").map(String.init), [
            "\(dir)/bad.json: \"api.eventLoops\" must be a whole number from 1 to 64, not 0; set it to a number such as 2",
            "--listen must be \"HOST:PORT\" with an IPv4 address and a port from 0 to 65535, not \"localhost:1\" "
                + "(host names are not supported; the host must be an IPv4 address such as 127.0.0.1); set it to an address such as \"127.0.0.1:7443\"",
            "--lease-seconds must be a whole number of seconds from 1 to 86400, not \"ten\"; set it to a number such as 300",
            "--max-document-bytes must be a whole number of bytes from 1 to 1099511627776, not 0; set it to a number such as 268435456",
        ])
        // A cross check names each key as the operator gave it.
        try write(#"{"ops": {"listen": "0.0.0.0:8443"}}"#, to: dir + "/ops.json")
        assertContains(rejection { try AxisdConfiguration.resolve(configFile: dir + "/ops.json", flags: ["listen": "127.0.0.1:8443"]) },
                       ["\(dir)/ops.json: \"ops.listen\" (0.0.0.0:8443) and --listen (127.0.0.1:8443) use the same port"])
        // An option that sets no key is reported rather than ignored (a wiring mistake in axisd).
        assertContains(rejection { try AxisdConfiguration.resolve(configFile: nil, flags: ["salvage": ""]) },
                       ["--salvage does not set a configuration key; only --crl-dir, --data,"])
        // A flag can complete a pair the file started.
        try write(#"{"receipts": {"certificate": "/etc/axis/receipts/axis.pem"}}"#, to: dir + "/half.json")
        let completed = try AxisdConfiguration.resolve(configFile: dir + "/half.json", flags: ["receipt-key": "/etc/axis/receipts/axis.key"],
                                                       checkFiles: false)
        XCTAssertEqual(completed.receipts.key, "/etc/axis/receipts/axis.key")
    }

    // MARK: - Retry schedule

    func testRetryDelayFollowsTheDocumentedFormula() {
        var delivery = AxisdConfiguration.Delivery()  // 30 s, ×2, cap 3600 s, jitter 0.2
        var policy = delivery.retryPolicy
        XCTAssertEqual(policy.delayMillis(afterAttempt: 1, random: 0), 30_000)
        XCTAssertEqual(policy.delayMillis(afterAttempt: 2, random: 0), 60_000)
        XCTAssertEqual(policy.delayMillis(afterAttempt: 3, random: 0.5), 108_000)  // 120 s − 0.5 × 0.2 × 120 s
        XCTAssertEqual(policy.delayMillis(afterAttempt: 1, random: 1), 24_000)  // the lower bound (1 − jitter)·d
        XCTAssertEqual(policy.delayMillis(afterAttempt: 8, random: 0), 3_600_000)  // 30 × 2^7 = 3840 s, capped
        XCTAssertEqual(policy.delayMillis(afterAttempt: 10_000, random: 0), 3_600_000)  // no overflow
        var random = SeededRandom(seed: 7)
        for retry in 1...40 {
            let d = min(3_600_000.0, 30_000 * pow(2, Double(retry - 1)))
            let wait = Double(policy.delayMillis(afterAttempt: UInt32(retry), random: Double.random(in: 0..<1, using: &random)))
            XCTAssertTrue(wait >= (0.8 * d).rounded(.down) && wait <= d, "retry \(retry): \(wait) outside [\(0.8 * d), \(d)] (seed 7)")
        }
        delivery.jitterFraction = 0
        policy = delivery.retryPolicy
        XCTAssertEqual(policy.delayMillis(afterAttempt: 3, random: 0.9), 120_000)
        // Every delivery setting reaches the policy.
        delivery.lifetimeMillisMax = 5_000
        delivery.concurrencyPerRecipientMax = 3
        delivery.workers = 9
        delivery.backoffMultiplier = 3
        policy = delivery.retryPolicy
        XCTAssertEqual([policy.maxLifetimeMillis, Int64(policy.perRecipientConcurrency), Int64(policy.totalConcurrency)], [5_000, 3, 9])
        XCTAssertEqual(policy.delayMillis(afterAttempt: 3, random: 0), 270_000)
    }

}
