import Foundation
import XCTest
@testable import Axis

/// The agency and system directory: the pure checks and merges of `DirectoryEdits`, then
/// `axisctl agency …` and `axisctl system …` against a real axisd (tables, --json, exit codes, the
/// journal records with the caller's uid, a disabled agency refused as a recipient, import dry runs).
final class AxisctlDirectoryTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon
    typealias Edits = DirectoryEdits

    // MARK: Pure: parsing one agency object

    func code(_ text: String) throws -> AgencyCode { try AgencyCode(text) }

    func patch(_ json: String) -> Result<Edits.AgencyPatch, HTTPError> {
        guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return .failure(Edits.invalid("test", json)) }
        return Edits.agencyPatch(value)
    }

    func failure<T>(_ result: Result<T, HTTPError>, file: StaticString = #filePath, line: UInt = #line) -> HTTPError? {
        guard case .failure(let error) = result else {
            XCTFail("expected a refusal, got \(result)", file: file, line: line)
            return nil
        }
        return error
    }

    let fingerprint = String(repeating: "ab", count: 32)

    func testAgencyObjectParsesEveryFieldAndOpensslStyleFingerprints() throws {
        let colons = stride(from: 0, to: 64, by: 2).map { i in String(fingerprint.uppercased().dropFirst(i).prefix(2)) }.joined(separator: ":")
        let parsed = try patch("""
            {"code":"000.01.00.G17","parent":"000.00.00.G17","name":"Tổng cục Thuế","email":"vt@gdt.gov.vn",
             "endpoint":"https://edoc.gdt.gov.vn:8443/in","system":"mof","certificateFingerprints":["\(colons)"],
             "subjectRule":"O=Bộ Tài chính, OU=000.01.00.G17","enabled":true}
            """).get()
        XCTAssertEqual(parsed.code, try code("000.01.00.G17"))
        XCTAssertEqual(parsed.parent, .some(.some(try code("000.00.00.G17"))))
        XCTAssertEqual(parsed.name, "Tổng cục Thuế")
        XCTAssertEqual(parsed.endpoint, "https://edoc.gdt.gov.vn:8443/in")
        XCTAssertEqual(parsed.system, .some(.some(try SystemID("mof"))))
        XCTAssertEqual(parsed.certificateFingerprints?.map(\.hex), [fingerprint])
        XCTAssertEqual(parsed.enabled, true)

        // Absent is "leave as is"; null or "" is "remove".
        let sparse = try patch(#"{"code":"A1","parent":null,"system":"","endpoint":""}"#).get()
        XCTAssertEqual(sparse.parent, .some(nil))
        XCTAssertEqual(sparse.system, .some(nil))
        XCTAssertEqual(sparse.endpoint, "", "empty endpoint: pull")
        XCTAssertNil(sparse.name)
        XCTAssertTrue(try patch(#"{"code":"A1"}"#).get().parent == nil, "absent: not given")
    }

    func testAgencyObjectRefusalsNameTheFieldAndTheFix() throws {
        let cases: [(String, String, String)] = [
            (#"{"code":"bad code!"}"#, "invalid_code", "\"code\""),
            (#"{"name":"x"}"#, "invalid_code", "\"code\" is missing"),
            (#"{"code":"A1","endpoint":"http://x.example/in"}"#, "invalid_endpoint", "is not an https URL"),
            (#"{"code":"A1","endpoint":"https://u@x.example/"}"#, "invalid_endpoint", "--pull"),
            (#"{"code":"A1","certificateFingerprints":["abcd"]}"#, "invalid_certificate_fingerprints", "64 hex"),
            (#"{"code":"A1","subjectRule":"no equals sign"}"#, "invalid_subject_rule", "ATTR=value"),
            (#"{"code":"A1","email":"not-an-address"}"#, "invalid_email", "\"email\""),
            (#"{"code":"A1","name":"  "}"#, "invalid_name", "\"name\" is empty"),
            (#"{"code":"A1","name":"two\nlines"}"#, "invalid_name", "control characters"),
            (#"{"code":"A1","enabled":1}"#, "invalid_enabled", "true or false"),
            (#"{"code":"A1","parent":"a b"}"#, "invalid_parent", "\"parent\""),
            (#"{"code":"A1","endpiont":"https://x.example/"}"#, "unknown_field", "\"endpiont\" is not a field"),
        ]
        for (json, code, fragment) in cases {
            guard let error = failure(patch(json)) else { continue }
            XCTAssertEqual(error.code.rawValue, code, json)
            XCTAssertEqual(error.status, .badRequest, json)
            XCTAssertTrue(error.message.contains(fragment), "\(json): \(error.message)")
        }
    }

    // MARK: Pure: planning against the directory

    func directory() throws -> ([AgencyCode: AgencyEntry], [SystemID: SystemEntry]) {
        let root = AgencyEntry(code: try code("000.00.00.G17"), name: "Bộ Tài chính", system: try SystemID("mof"),
                               certificateFingerprints: [try XCTUnwrap(Digest256(hex: fingerprint))])
        let child = AgencyEntry(code: try code("000.01.00.G17"), parent: root.code, name: "Tổng cục Thuế")
        let mof = SystemEntry(id: try SystemID("mof"), name: "MOF", agencies: [root.code])
        return ([root.code: root, child.code: child], [mof.id: mof])
    }

    func testAddRefusesAnExistingCodeAndUpdateAnUnknownOne() throws {
        let (agencies, systems) = try directory()
        var add = Edits.AgencyPatch(code: try code("000.00.00.G17"))
        add.name = "again"
        XCTAssertEqual(failure(Edits.planAgencies([add], mode: .add, agencies: agencies, systems: systems))?.status, .conflict)
        var update = Edits.AgencyPatch(code: try code("000.09.00.G17"))
        update.email = "a@b.vn"
        let unknown = failure(Edits.planAgencies([update], mode: .update, agencies: agencies, systems: systems))
        XCTAssertEqual(unknown?.status, .notFound)
        XCTAssertEqual(unknown?.code.rawValue, "unknown_agency")
        var nameless = Edits.AgencyPatch(code: try code("000.09.00.G17"))
        nameless.email = "a@b.vn"
        XCTAssertEqual(failure(Edits.planAgencies([nameless], mode: .add, agencies: agencies, systems: systems))?.code.rawValue, "invalid_name")
    }

    func testUpdateMergesOnlyTheGivenFields() throws {
        let (agencies, systems) = try directory()
        let g17 = try code("000.00.00.G17")
        var update = Edits.AgencyPatch(code: g17)
        update.endpoint = "https://edoc.mof.gov.vn/in"
        update.addCertificateFingerprints = [try XCTUnwrap(Digest256(hex: String(repeating: "cd", count: 32)))]
        let plan = try Edits.planAgencies([update], mode: .update, agencies: agencies, systems: systems).get()
        let entry = try XCTUnwrap(plan.changes.first?.entry)
        XCTAssertEqual(plan.changes.first?.kind, .updated)
        XCTAssertEqual(entry.endpoint, "https://edoc.mof.gov.vn/in")
        XCTAssertEqual(entry.name, "Bộ Tài chính", "not given: unchanged")
        XCTAssertEqual(entry.system, try SystemID("mof"))
        XCTAssertEqual(entry.certificateFingerprints.map(\.hex), [fingerprint, String(repeating: "cd", count: 32)], "added, not replaced")
        XCTAssertEqual(plan.warnings, [])

        // Back to pull, and the old certificate removed; the same again is no change.
        var back = Edits.AgencyPatch(code: g17)
        back.endpoint = ""
        back.removeCertificateFingerprints = [try XCTUnwrap(Digest256(hex: fingerprint))]
        var after = agencies
        after[g17] = entry
        let pulled = try Edits.planAgencies([back], mode: .update, agencies: after, systems: systems).get()
        XCTAssertEqual(pulled.changes.first?.entry.endpoint, "")
        XCTAssertEqual(pulled.changes.first?.entry.certificateFingerprints.count, 1)
        var same = Edits.AgencyPatch(code: g17)
        same.name = "Bộ Tài chính"
        XCTAssertEqual(try Edits.planAgencies([same], mode: .update, agencies: agencies, systems: systems).get().changes.first?.kind, .unchanged)
        XCTAssertEqual(try Edits.planAgencies([same], mode: .update, agencies: agencies, systems: systems).get().records, [])

        // Removing what is not bound is refused, not ignored.
        var typo = Edits.AgencyPatch(code: g17)
        typo.removeCertificateFingerprints = [try XCTUnwrap(Digest256(hex: String(repeating: "ee", count: 32)))]
        XCTAssertEqual(failure(Edits.planAgencies([typo], mode: .update, agencies: agencies, systems: systems))?.code.rawValue,
                       "invalid_certificate_fingerprints")
    }

    func testReferencesMustExistAndParentsMustNotLoop() throws {
        let (agencies, systems) = try directory()
        var orphan = Edits.AgencyPatch(code: try code("000.02.00.G17"))
        orphan.name = "x"
        orphan.parent = .some(try code("000.99.00.G17"))
        let parent = failure(Edits.planAgencies([orphan], mode: .add, agencies: agencies, systems: systems))
        XCTAssertEqual(parent?.code.rawValue, "invalid_parent")
        XCTAssertTrue(parent?.message.contains("axisctl agency add 000.99.00.G17") ?? false, parent?.message ?? "")

        var loop = Edits.AgencyPatch(code: try code("000.00.00.G17"))
        loop.parent = .some(try code("000.01.00.G17"))
        XCTAssertTrue(failure(Edits.planAgencies([loop], mode: .update, agencies: agencies, systems: systems))?.message.contains("loop") ?? false)

        var hosted = Edits.AgencyPatch(code: try code("000.01.00.G17"))
        hosted.system = .some(try SystemID("nowhere"))
        XCTAssertEqual(failure(Edits.planAgencies([hosted], mode: .update, agencies: agencies, systems: systems))?.code.rawValue, "invalid_system")

        // A system that exists but does not list the agency: accepted, with a warning saying what to run.
        hosted.system = .some(try SystemID("mof"))
        let plan = try Edits.planAgencies([hosted], mode: .update, agencies: agencies, systems: systems).get()
        XCTAssertEqual(plan.warnings.count, 1)
        XCTAssertTrue(plan.warnings[0].contains("axisctl system update mof --agency 000.01.00.G17"), plan.warnings[0])
    }

    func testImportIsAllOrNothingAndReportsEveryProblemInOrder() throws {
        let (agencies, systems) = try directory()
        // Parents may come later in the same file.
        let good = try Edits.importRequest(Array("""
            [{"code":"000.03.01.G17","name":"Child","parent":"000.03.00.G17"},
             {"code":"000.03.00.G17","name":"Parent","parent":"000.00.00.G17"},
             {"code":"000.01.00.G17","name":"Tổng cục Thuế"},
             {"code":"000.00.00.G17","email":"vt@mof.gov.vn"}]
            """.utf8)).get()
        XCTAssertFalse(good.dryRun)
        let plan = try Edits.planImport(good, agencies: agencies, systems: systems).get()
        XCTAssertEqual(plan.changes.map(\.kind), [.created, .created, .unchanged, .updated])
        XCTAssertEqual(plan.records.map(\.code.rawValue), ["000.03.01.G17", "000.03.00.G17", "000.00.00.G17"])

        let bad = try Edits.importRequest(Array("""
            {"agencies":[{"code":"X1","name":"a","parent":"NOPE"},{"code":"X2","endpiont":"x"},
                         {"code":"X3","name":"b","endpoint":"ftp://x"},{"code":"X1","name":"dup"},{"code":"X4"}],
             "dryRun":true}
            """.utf8)).get()
        XCTAssertTrue(bad.dryRun)
        let error = try XCTUnwrap(failure(Edits.planImport(bad, agencies: agencies, systems: systems)))
        XCTAssertEqual(error.code.rawValue, "invalid_import")
        XCTAssertEqual(error.status, .badRequest)
        XCTAssertEqual(error.details.count, 5, error.details.joined(separator: "\n"))
        XCTAssertEqual(error.details.map { String($0.prefix(16)) },
                       ["agencies[0] (X1)", "agencies[1] (X2)", "agencies[2] (X3)", "agencies[3] (X1)", "agencies[4] (X4)"])
        XCTAssertTrue(error.details[0].contains("\"parent\""))
        XCTAssertTrue(error.details[1].contains("\"endpiont\" is not a field"))
        XCTAssertTrue(error.details[2].contains("\"endpoint\""))
        XCTAssertTrue(error.details[3].contains("appears twice"))
        XCTAssertTrue(error.details[4].contains("needs a \"name\""))

        XCTAssertEqual(failure(Edits.importRequest(Array("[]".utf8)))?.code.rawValue, "invalid_agencies")
        XCTAssertEqual(failure(Edits.importRequest(Array("{".utf8)))?.code.rawValue, "invalid_body")
    }

    func testSystemChecksAndTheSecretNeverInAReply() throws {
        let (agencies, systems) = try directory()
        let used = try XCTUnwrap(Digest256(hex: String(repeating: "11", count: 32)))
        var all = systems
        let other = SystemEntry(id: try SystemID("other"), name: "Other", tlsFingerprints: [used], vdxpSystemID: "V1")
        all[other.id] = other

        func system(_ json: String) throws -> Edits.SystemPatch {
            try Edits.systemPatch(try JSONSerialization.jsonObject(with: Data(json.utf8))).get()
        }
        let taken = try system(#"{"id":"new","name":"N","tlsFingerprints":["\#(used.hex)"]}"#)
        XCTAssertEqual(failure(Edits.planSystem(taken, mode: .add, systems: all, agencies: agencies))?.code.rawValue, "invalid_tls_fingerprints")
        let ghost = try system(#"{"id":"new","name":"N","agencies":["000.77.00.G17"]}"#)
        XCTAssertEqual(failure(Edits.planSystem(ghost, mode: .add, systems: all, agencies: agencies))?.code.rawValue, "invalid_agencies")
        let secretOnly = try system(#"{"id":"new","name":"N","vdxpSecret":"s3cret"}"#)
        XCTAssertEqual(failure(Edits.planSystem(secretOnly, mode: .add, systems: all, agencies: agencies))?.code.rawValue, "invalid_vdxp_system_id")
        let sameVDXP = try system(#"{"id":"new","name":"N","vdxpSystemId":"V1"}"#)
        XCTAssertEqual(failure(Edits.planSystem(sameVDXP, mode: .add, systems: all, agencies: agencies))?.code.rawValue, "invalid_vdxp_system_id")
        XCTAssertEqual(failure(Edits.planSystem(try system(#"{"id":"mof","name":"again"}"#), mode: .add, systems: all, agencies: agencies))?.status,
                       .conflict)
        XCTAssertEqual(failure(Edits.planSystem(try system(#"{"id":"nope","name":"x"}"#), mode: .update, systems: all, agencies: agencies))?.status,
                       .notFound)
        XCTAssertEqual(failure(Edits.systemPatch(try JSONSerialization.jsonObject(with: Data(#"{"id":"x","vdxpSecret":"set"}"#.utf8))))?
                        .code.rawValue, "invalid_vdxp_secret", "the reply's placeholder is not taken for a secret")

        let good = try system(#"{"id":"new","name":"N","agencies":["000.01.00.G17"],"vdxpSystemId":"V2","vdxpSecret":"s3cret"}"#)
        let change = try Edits.planSystem(good, mode: .add, systems: all, agencies: agencies).get()
        XCTAssertEqual(change.kind, .created)
        XCTAssertEqual(change.entry.vdxpSecret, "s3cret")
        let reply = Edits.systemJSON(change.entry).encoded()
        XCTAssertFalse(reply.contains("s3cret"), reply)
        XCTAssertTrue(reply.contains(#""vdxpSecret":"set""#), reply)

        // A disabled system's certificate may be reused; update adds agencies without restating them.
        var disabled = all
        disabled[other.id]?.enabled = false
        XCTAssertNoThrow(try Edits.planSystem(taken, mode: .add, systems: disabled, agencies: agencies).get())
        var add = Edits.SystemPatch(id: try SystemID("mof"))
        add.addAgencies = [try code("000.01.00.G17")]
        XCTAssertEqual(try Edits.planSystem(add, mode: .update, systems: all, agencies: agencies).get().entry.agencies.map(\.rawValue),
                       ["000.00.00.G17", "000.01.00.G17"])
    }

    // MARK: Processes

    func axisctl(_ arguments: [String]) throws -> (code: Int32, out: String, err: String) {
        try ProductProcess.run(try productPath("axisctl"), arguments)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func nextSequence(_ data: String) throws -> Int {
        let status = try axisctl(["status", "--data", data, "--json"])
        XCTAssertEqual(status.code, 0, status.err)
        return try XCTUnwrap((try json(status.out)["journal"] as? [String: Any])?["nextSequence"] as? Int)
    }

    /// `openssl x509 -fingerprint -sha256` of `pem`, as lowercase hex without colons.
    func opensslFingerprint(_ pem: String) throws -> String {
        let result = try runTool("openssl", ["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"])
        XCTAssertEqual(result.status, 0, result.output)
        let value = try XCTUnwrap(result.output.split(separator: "=").last)
        return value.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "").lowercased()
    }

    func testAgencyAddListShowUpdateDisableEnableAgainstARealDaemon() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let d = ["--data", daemon.data]
        let pem = daemon.data + "/pki/agencies/000.00.00.G17.pem"
        let expected = try opensslFingerprint(pem)

        let added = try axisctl(["agency", "add", "000.01.00.G17", "--name", "Tổng cục Thuế", "--parent", "000.00.00.G17",
                                 "--email", "vanthu@gdt.gov.vn", "--cert", pem, "--reason", "ticket 4411"] + d)
        XCTAssertEqual(added.code, 0, added.err)
        XCTAssertTrue(added.out.contains("sha256 \(expected)"), added.out)
        XCTAssertTrue(added.out.contains("added agency 000.01.00.G17 (journal sequence "), added.out)
        let again = try axisctl(["agency", "add", "000.01.00.G17", "--name", "x"] + d)
        XCTAssertEqual(again.code, 1, "exists: \(again.err)")
        XCTAssertTrue(again.err.contains("already exists"), again.err)

        let list = try axisctl(["agency", "list"] + d)
        XCTAssertEqual(list.code, 0, list.err)
        let lines = list.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first?.split(separator: " ", omittingEmptySubsequences: true),
                       ["CODE", "NAME", "PARENT", "DELIVERY", "SYSTEM", "CERTS", "ENABLED"])
        XCTAssertEqual(lines.count, 1 + 5 + 1, list.out)
        XCTAssertEqual(lines.last, "5 agencies")
        let row = try XCTUnwrap(lines.first { $0.hasPrefix("000.01.00.G17") })
        XCTAssertEqual(row.split(separator: " ", omittingEmptySubsequences: true).suffix(5), ["000.00.00.G17", "pull", "-", "1", "yes"], row)
        XCTAssertTrue(row.contains("Tổng cục Thuế"))
        // Aligned: every column starts at the header's offset.
        let header = try XCTUnwrap(lines.first)
        for column in ["PARENT", "DELIVERY", "SYSTEM", "CERTS", "ENABLED"] {
            let offset = try XCTUnwrap(header.range(of: column)).lowerBound.utf16Offset(in: header)
            for line in lines.dropFirst().dropLast() {
                let prefix = String(line.prefix(offset)), cell = line.dropFirst(offset)
                XCTAssertEqual(prefix.count, offset, line)
                XCTAssertTrue(prefix.hasSuffix(" ") && cell.first != " ", "\(column) misaligned in: \(line)")
            }
        }

        let shown = try axisctl(["agency", "show", "000.01.00.G17"] + d)
        XCTAssertEqual(shown.code, 0, shown.err)
        XCTAssertTrue(shown.out.contains("delivery      pull"), shown.out)
        XCTAssertTrue(shown.out.contains("certificates  sha256 \(expected)"), shown.out)
        let shownJSON = try json(try axisctl(["agency", "show", "000.01.00.G17", "--json"] + d).out)
        let agency = try XCTUnwrap(shownJSON["agency"] as? [String: Any])
        XCTAssertEqual(agency["certificateFingerprints"] as? [String], [expected])
        XCTAssertEqual(agency["parent"] as? String, "000.00.00.G17")
        XCTAssertEqual(agency["endpoint"] as? String, "")
        XCTAssertEqual(shownJSON["hostedBy"] as? [String], [])
        XCTAssertEqual(try axisctl(["agency", "show", "000.99.00.G17"] + d).code, 1)

        // Push and back to pull; a bad endpoint changes nothing and names the field.
        let push = try axisctl(["agency", "update", "000.01.00.G17", "--endpoint", "https://edoc.gdt.gov.vn:8443/axis/inbox"] + d)
        XCTAssertEqual(push.code, 0, push.err)
        XCTAssertTrue(try axisctl(["agency", "show", "000.01.00.G17"] + d).out.contains("push to https://edoc.gdt.gov.vn:8443/axis/inbox"))
        let before = try nextSequence(daemon.data)
        let bad = try axisctl(["agency", "update", "000.01.00.G17", "--endpoint", "http://edoc.gdt.gov.vn/in"] + d)
        XCTAssertEqual(bad.code, 64, bad.err)
        XCTAssertTrue(bad.err.contains("\"endpoint\"") && bad.err.contains("not an https URL"), bad.err)
        let both = try axisctl(["agency", "update", "000.01.00.G17", "--endpoint", "https://x.example/", "--pull"] + d)
        XCTAssertEqual(both.code, 64, both.err)
        let unchanged = try axisctl(["agency", "update", "000.01.00.G17", "--name", "Tổng cục Thuế"] + d)
        XCTAssertEqual(unchanged.code, 0, unchanged.err)
        XCTAssertEqual(unchanged.out, "agency 000.01.00.G17 unchanged: nothing recorded")
        XCTAssertEqual(try nextSequence(daemon.data), before, "refusals and no-op updates record nothing")
        let pull = try axisctl(["agency", "update", "000.01.00.G17", "--pull", "--reason", "endpoint retired"] + d)
        XCTAssertEqual(pull.code, 0, pull.err)
        XCTAssertTrue(try axisctl(["agency", "list"] + d).out.split(separator: "\n").contains { $0.hasPrefix("000.01.00.G17") && $0.contains(" pull ") })

        // A disabled recipient is refused by the native API; enabled again, it is accepted.
        let h41 = Demo.agencyCodes[3], g22 = Demo.agencyCodes[0]
        XCTAssertEqual(try axisctl(["agency", "disable", h41] + d).code, 64, "a reason is required")
        let disabled = try axisctl(["agency", "disable", h41, "--reason", "merged into H29"] + d)
        XCTAssertEqual(disabled.code, 0, disabled.err)
        XCTAssertTrue(disabled.out.hasPrefix("disabled agency \(h41)"), disabled.out)
        let text = "directory test\n", file = daemon.data + "/dir-1.txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try daemon.submit(file, from: g22, to: [h41], id: "dir-1", signature: try daemon.sign(Array(text.utf8), as: g22))
        XCTAssertEqual(refused.status, 422, refused.body)
        XCTAssertTrue(refused.body.contains("unknown_recipient"), refused.body)
        XCTAssertTrue(try axisctl(["agency", "show", h41] + d).out.contains("enabled       no"))
        XCTAssertEqual(try axisctl(["agency", "enable", h41, "--reason", "merger cancelled"] + d).code, 0)
        let accepted = try daemon.submit(file, from: g22, to: [h41], id: "dir-1", signature: try daemon.sign(Array(text.utf8), as: g22))
        XCTAssertEqual(accepted.status, 201, accepted.body)

        // Every change is on the record, with the caller's uid and the reason.
        let dump = try axisctl(["journal", "dump", daemon.data, "--kind", "agency-changed", "--json"])
        XCTAssertEqual(dump.code, 0, dump.err)
        let admin = "admin:uid=\(getuid()),gid=\(getgid())"
        let mine = try dump.out.split(separator: "\n").map { try json(String($0)) }.filter { $0["actor"] as? String == admin }
        XCTAssertEqual(mine.map { record -> String in
            let enabled = (record["enabled"] as? Bool).map { $0 ? "on" : "off" } ?? "?"
            return "\(record["agency"] ?? "") \(enabled) \(record["endpoint"] ?? "") \(record["reason"] ?? "")"
        }, [
            "000.01.00.G17 on  ticket 4411",
            "000.01.00.G17 on https://edoc.gdt.gov.vn:8443/axis/inbox ",
            "000.01.00.G17 on  endpoint retired",
            "\(h41) off  merged into H29",
            "\(h41) on  merger cancelled",
        ])
        XCTAssertEqual(mine.first?["certificateFingerprints"] as? [String], [expected])
    }

    func testImportDryRunChangesNothingAndTheImportIsJournaled() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let d = ["--data", daemon.data]
        let file = daemon.data + "/agencies.json"
        try """
            [
              {"code": "000.02.00.G17", "name": "Kho bạc Nhà nước", "parent": "000.00.00.G17", "email": "vanthu@kbnn.gov.vn"},
              {"code": "000.02.01.G17", "name": "KBNN Hà Nội", "parent": "000.02.00.G17", "endpoint": "https://edoc.kbnn.gov.vn/axis"},
              {"code": "000.00.00.H41", "email": "vanthu@tphcm.gov.vn"}
            ]
            """.write(toFile: file, atomically: true, encoding: .utf8)

        let before = try nextSequence(daemon.data)
        let dry = try axisctl(["agency", "import", file, "--dry-run"] + d)
        XCTAssertEqual(dry.code, 0, dry.err)
        XCTAssertEqual(dry.out.split(separator: "\n").map(String.init), [
            "would import 3 agencies: 2 created, 1 updated, 0 unchanged (dry run: nothing recorded)",
            "  would be created 000.02.00.G17", "  would be created 000.02.01.G17", "  would be updated 000.00.00.H41",
        ])
        XCTAssertEqual(try nextSequence(daemon.data), before, "a dry run writes nothing")
        XCTAssertEqual(try axisctl(["agency", "list"] + d).out.split(separator: "\n").last, "4 agencies")

        let imported = try axisctl(["agency", "import", file, "--reason", "directory 2025-06", "--json"] + d)
        XCTAssertEqual(imported.code, 0, imported.err)
        let reply = try json(imported.out)
        XCTAssertEqual(reply["created"] as? Int, 2)
        XCTAssertEqual(reply["updated"] as? Int, 1)
        XCTAssertEqual(reply["unchanged"] as? Int, 0)
        XCTAssertEqual(reply["recorded"] as? Int, 3)
        XCTAssertEqual(try nextSequence(daemon.data), before + 3)
        let list = try axisctl(["agency", "list"] + d)
        XCTAssertTrue(list.out.contains("https://edoc.kbnn.gov.vn/axis"), list.out)
        XCTAssertEqual(list.out.split(separator: "\n").last, "6 agencies")

        // Again: nothing to do. The list's own JSON imports back unchanged.
        let again = try axisctl(["agency", "import", file] + d)
        XCTAssertEqual(again.out, "imported 3 agencies: 0 created, 0 updated, 3 unchanged; 0 records")
        let exported = daemon.data + "/export.json"
        try axisctl(["agency", "list", "--json"] + d).out.write(toFile: exported, atomically: true, encoding: .utf8)
        XCTAssertTrue(try axisctl(["agency", "import", exported] + d).out.hasPrefix("imported 6 agencies: 0 created, 0 updated, 6 unchanged"))

        // One bad object: nothing of the file is recorded, and every problem is listed.
        try #"[{"code":"000.04.00.G17","name":"ok"},{"code":"000.04.01.G17","name":"x","parent":"000.99.00.G17"},{"code":"x y"}]"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try axisctl(["agency", "import", file] + d)
        XCTAssertEqual(bad.code, 64, bad.err)
        XCTAssertTrue(bad.err.contains("2 problems in 3 agencies, so nothing was changed"), bad.err)
        XCTAssertTrue(bad.err.contains("agencies[1] (000.04.01.G17): \"parent\""), bad.err)
        XCTAssertTrue(bad.err.contains("agencies[2] (x y): \"code\""), bad.err)
        XCTAssertEqual(try nextSequence(daemon.data), before + 3)
        try "not json".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try axisctl(["agency", "import", file] + d).code, 64)

        // A large import is appended in batches of at most 1000 records, every one recorded.
        let many = (0..<2500).map { #"{"code":"BULK.\#($0)","name":"Bulk agency \#($0)","parent":"000.00.00.G17"}"# }
        try ("[" + many.joined(separator: ",\n") + "]").write(toFile: file, atomically: true, encoding: .utf8)
        let batches = { () throws -> Int in
            let status = try self.json(try self.axisctl(["status", "--json"] + d).out)
            return try XCTUnwrap((status["journal"] as? [String: Any])?["batchesSinceStart"] as? Int)
        }
        let (sequenceBefore, batchesBefore) = (try nextSequence(daemon.data), try batches())
        let bulk = try axisctl(["agency", "import", file, "--json"] + d)
        XCTAssertEqual(bulk.code, 0, bulk.err)
        XCTAssertEqual(try json(bulk.out)["recorded"] as? Int, 2500)
        XCTAssertEqual(try nextSequence(daemon.data), sequenceBefore + 2500)
        XCTAssertGreaterThanOrEqual(try batches() - batchesBefore, 3, "2500 records take at least three appends")
        XCTAssertEqual(try axisctl(["agency", "list"] + d).out.split(separator: "\n").last, "2506 agencies")
    }

    func testSystemAddListShowDisableNeverPrintTheSecret() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let d = ["--data", daemon.data]
        let key = daemon.data + "/client.key", pem = daemon.data + "/client.pem"
        let made = try runTool("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                                           "-subj", "/O=MOF/CN=edoc", "-keyout", key, "-out", pem])
        XCTAssertEqual(made.status, 0, made.output)
        let expected = try opensslFingerprint(pem)
        let secret = "vdxp-Secret-\(UUID().uuidString)"
        let secretFile = daemon.data + "/vdxp.secret"
        try (secret + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)

        let added = try axisctl(["system", "add", "mof-edoc", "--name", "MOF e-office", "--cert", pem, "--agency", Demo.agencyCodes[1],
                                 "--vdxp-id", "000.00.00.G17", "--vdxp-secret-file", secretFile, "--reason", "new client"] + d)
        XCTAssertEqual(added.code, 0, added.err)
        XCTAssertTrue(added.out.contains("added system mof-edoc"), added.out)
        let list = try axisctl(["system", "list"] + d)
        let row = try XCTUnwrap(list.out.split(separator: "\n").first { $0.hasPrefix("mof-edoc") }.map(String.init), list.out)
        XCTAssertEqual(row.split(separator: " ", omittingEmptySubsequences: true).suffix(5),
                       [Demo.agencyCodes[1][...], "1", "000.00.00.G17", "set", "yes"], row)
        XCTAssertEqual(list.out.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true),
                       ["ID", "NAME", "AGENCIES", "TLS", "CERTS", "VDXP", "ID", "VDXP", "SECRET", "ENABLED"])
        let shown = try axisctl(["system", "show", "mof-edoc"] + d)
        XCTAssertTrue(shown.out.contains("tls certificates  sha256 \(expected)"), shown.out)
        XCTAssertTrue(shown.out.contains("vdxp secret       set"), shown.out)
        let shownJSON = try json(try axisctl(["system", "show", "mof-edoc", "--json"] + d).out)
        XCTAssertEqual((shownJSON["system"] as? [String: Any])?["tlsFingerprints"] as? [String], [expected])
        XCTAssertEqual((shownJSON["system"] as? [String: Any])?["vdxpSecret"] as? String, "set")

        // The same TLS certificate cannot identify a second system.
        let twice = try axisctl(["system", "add", "mof-edoc-2", "--name", "copy", "--cert", pem] + d)
        XCTAssertEqual(twice.code, 64, twice.err)
        XCTAssertTrue(twice.err.contains("already identifies system mof-edoc"), twice.err)
        let ghost = try axisctl(["system", "add", "ghost", "--name", "g", "--agency", "000.99.00.G17"] + d)
        XCTAssertEqual(ghost.code, 64, ghost.err)
        XCTAssertTrue(ghost.err.contains("\"agencies\""), ghost.err)

        let updated = try axisctl(["system", "update", "mof-edoc", "--agency", Demo.agencyCodes[0], "--json"] + d)
        XCTAssertEqual(updated.code, 0, updated.err)
        XCTAssertEqual(((try json(updated.out))["system"] as? [String: Any])?["agencies"] as? [String], [Demo.agencyCodes[1], Demo.agencyCodes[0]])
        XCTAssertEqual(try axisctl(["system", "disable", "mof-edoc"] + d).code, 64, "a reason is required")
        let disabled = try axisctl(["system", "disable", "mof-edoc", "--reason", "decommissioned"] + d)
        XCTAssertEqual(disabled.code, 0, disabled.err)
        XCTAssertTrue(try axisctl(["system", "list"] + d).out.split(separator: "\n").contains { $0.hasPrefix("mof-edoc") && $0.hasSuffix(" no") })
        XCTAssertEqual(try axisctl(["system", "show", "nope"] + d).code, 1)

        let dump = try axisctl(["journal", "dump", daemon.data, "--kind", "system-changed", "--json"])
        let mine = try dump.out.split(separator: "\n").map { try json(String($0)) }
            .filter { $0["actor"] as? String == "admin:uid=\(getuid()),gid=\(getgid())" }
        XCTAssertEqual(mine.map { "\($0["system"] ?? "") \($0["reason"] ?? "")" }, ["mof-edoc new client", "mof-edoc ", "mof-edoc decommissioned"])
        XCTAssertEqual(mine.first?["vdxpSecretSet"] as? Bool, true)

        let outputs = [added, list, shown, updated, disabled, dump, try axisctl(["system", "list", "--json"] + d),
                       try axisctl(["journal", "dump", daemon.data])]
        for output in outputs { XCTAssertFalse((output.out + output.err).contains(secret), "the VDXP secret was printed") }
    }

    func testHelpHasExamplesAndAnUnavailableDaemonIs69() throws {
        for path in [["agency", "add"], ["agency", "update"], ["agency", "list"], ["agency", "show"], ["agency", "disable"], ["agency", "enable"],
                     ["agency", "import"], ["system", "add"], ["system", "update"], ["system", "list"], ["system", "show"],
                     ["system", "disable"], ["system", "enable"]] {
            let help = try axisctl(path + ["--help"])
            XCTAssertEqual(help.code, 0, help.err)
            XCTAssertTrue(help.out.hasPrefix("Usage: axisctl \(path.joined(separator: " ")) [options]"), help.out)
            XCTAssertTrue(help.out.contains("Examples:\n  axisctl \(path.joined(separator: " "))"), help.out)
        }
        let top = try axisctl(["--help"])
        XCTAssertTrue(top.out.contains("  agency ") && top.out.contains("  system "), top.out)
        let missing = try axisctl(["agency", "list", "--socket", "/nonexistent/axis/admin.sock"])
        XCTAssertEqual(missing.code, 69)
        XCTAssertTrue(missing.err.contains("/nonexistent/axis/admin.sock"), missing.err)
        XCTAssertEqual(try axisctl(["agency", "add", "000.01.00.G17", "--socket", "/nonexistent/admin.sock"]).code, 64, "--name is required")
    }
}
