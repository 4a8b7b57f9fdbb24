import Foundation
import XCTest
@testable import Axis

/// The VDXP-compatible API against a real `axisd --demo`, driven by a client that puts on the wire
/// exactly what the national platform's SDK does (`VdxpSDKClient`: piled-up docId headers, the Expect
/// handshake, the CRLF trailer, unpadded hash hex, a new connection per call), with the real edXML
/// samples. One core: what goes in through VDXP comes out through the native API and the other way.
final class VdxpProcessTests: XCTestCase {
    typealias Daemon = NativeAPIProcessTests.Daemon

    let g22 = Demo.agencyCodes[0], g17 = Demo.agencyCodes[1], h29 = Demo.agencyCodes[2], h41 = Demo.agencyCodes[3]

    /// `../shared/edxml-samples/NAME` (or `$AXIS_SHARED_DIR/edxml-samples/NAME`).
    static func sample(_ name: String) throws -> [UInt8] {
        let shared = ProcessInfo.processInfo.environment["AXIS_SHARED_DIR"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("shared").path
        return Array(try Data(contentsOf: URL(fileURLWithPath: shared + "/edxml-samples/" + name)))
    }

    /// The demo's VDXP URL's port and a client per demo agency (from DIR/demo.json).
    struct Vdxp {
        let port: UInt16
        let clients: [String: VdxpSDKClient]
        subscript(agency: String) -> VdxpSDKClient { clients[agency] ?? VdxpSDKClient(port: port, systemID: "none", secret: "none") }
    }

    func vdxp(_ daemon: Daemon) throws -> Vdxp {
        let demo = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: daemon.data + "/demo.json")))
                                 as? [String: Any])
        let section = try XCTUnwrap(demo["vdxp"] as? [String: Any])
        let url = try XCTUnwrap(section["url"] as? String)
        XCTAssertTrue(url.hasPrefix("http://127.0.0.1:"), url)
        let port = try XCTUnwrap(UInt16(url.split(separator: ":").last ?? ""))
        var clients: [String: VdxpSDKClient] = [:]
        for system in try XCTUnwrap(section["systems"] as? [[String: Any]]) {
            let agency = try XCTUnwrap(system["agency"] as? String)
            clients[agency] = VdxpSDKClient(port: port, systemID: try XCTUnwrap(system["systemId"] as? String),
                                            secret: try XCTUnwrap(system["secret"] as? String))
        }
        XCTAssertEqual(Set(clients.keys), Set(Demo.agencyCodes), "demo.json lists a VDXP system per demo agency")
        return Vdxp(port: port, clients: clients)
    }

    func axisctl(_ daemon: Daemon, _ arguments: [String]) throws {
        let result = try ProductProcess.run(try productPath("axisctl"), arguments + ["--data", daemon.data])
        XCTAssertEqual(result.code, 0, "axisctl \(arguments.joined(separator: " ")): \(result.out) \(result.err)")
    }

    func ok(_ reply: VdxpSDKClient.Reply, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.string("status"), "OK", "\(what): \(String(decoding: reply.body, as: UTF8.self))", file: file, line: line)
        XCTAssertEqual(reply.string("ErrorCode"), "0", what, file: file, line: line)
        XCTAssertEqual(reply.httpStatus, 200, what, file: file, line: line)
    }

    /// A FAIL envelope the SDK can parse: all three fields present, never null, the reason in ErrorDesc.
    func failed(_ reply: VdxpSDKClient.Reply, _ code: String, http: Int, mentions: String, file: StaticString = #filePath,
                line: UInt = #line) {
        let text = String(decoding: reply.body, as: UTF8.self)
        XCTAssertEqual(reply.string("status"), "FAIL", text, file: file, line: line)
        XCTAssertEqual(reply.string("ErrorCode"), code, text, file: file, line: line)
        XCTAssertTrue(reply.string("ErrorDesc")?.contains(mentions) == true, "ErrorDesc should mention '\(mentions)': \(text)",
                      file: file, line: line)
        XCTAssertEqual(reply.httpStatus, http, text, file: file, line: line)
        XCTAssertTrue(text.utf8.allSatisfy { $0 < 0x80 }, "replies are ASCII: \(text)", file: file, line: line)
    }

    func data(_ reply: VdxpSDKClient.Reply) throws -> [[String: Any]] {
        try XCTUnwrap(reply.json?["data"] as? [[String: Any]], String(decoding: reply.body, as: UTF8.self))
    }

    func docIDs(_ reply: VdxpSDKClient.Reply) throws -> [String] { try data(reply).compactMap { $0["docId"] as? String } }

    func trace(_ daemon: Daemon, _ agency: String, _ id: String) throws -> [String: Any] {
        let reply = try daemon.curl(agency, [], path: "/v1/documents/\(id)")
        XCTAssertEqual(reply.status, 200, reply.body)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
    }

    func events(_ trace: [String: Any]) -> [(event: String, detail: String)] {
        ((trace["events"] as? [[String: Any]]) ?? []).map { ($0["event"] as? String ?? "", $0["detail"] as? String ?? "") }
    }

    /// edoc_new as if G22 sent it to H41 and G17 (the sample's own agencies are not in the demo).
    func original() throws -> [UInt8] {
        let text = String(decoding: try Self.sample("truclienthong-example__edoc_new.edxml"), as: UTF8.self)
            .replacingOccurrences(of: "<edXML:OrganId>000.00.00.A80</edXML:OrganId>", with: "<edXML:OrganId>000.00.00.G22</edXML:OrganId>")
            .replacingOccurrences(of: "<edXML:OrganId>28.22.H17</edXML:OrganId>",
                                  with: "<edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To><edXML:To><edXML:OrganId>000.00.00.G17</edXML:OrganId>")
        return Array(text.utf8)
    }

    // MARK: - The whole exchange

    func testEveryOperationThroughTheSDKWireWithTheRealSamples() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let sdk = try vdxp(daemon)
        // The agencies the samples name that the demo lacks, hosted by a VDXP system of their own.
        for (code, name) in [("000.00.00.A80", "UBND xã Hòa Tiến"), ("28.22.H17", "UBND xã Hòa Sơn"), ("000.00.00.H14", "UBND Tỉnh Cao Bằng")] {
            try axisctl(daemon, ["agency", "add", code, "--name", name])
        }
        let secretFile = daemon.data + "/a80.secret"
        try "a80-secret-Công\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        try axisctl(daemon, ["system", "add", "office-a80", "--name", "A80 e-office", "--agency", "000.00.00.A80", "--agency", "28.22.H17",
                             "--agency", "000.00.00.H14", "--vdxp-id", "a80.edoc.01", "--vdxp-secret-file", secretFile])
        let a80 = VdxpSDKClient(port: sdk.port, systemID: "a80.edoc.01", secret: "a80-secret-Công")

        // sendEdoc of the sample as it is: routed to its edXML To; the Expect handshake answered.
        let newSample = try Self.sample("truclienthong-example__edoc_new.edxml")
        let sent = try a80.sendEdoc(newSample, from: "000.00.00.A80", to: nil)
        ok(sent, "sendEdoc edoc_new")
        XCTAssertEqual(sent.got100Continue, true, "the server answers Expect: 100-continue")
        let newID = try XCTUnwrap(sent.string("DocId"))
        XCTAssertEqual(newID.count, 32)
        // The SDK's retry of the same POST: the same DocId, nothing new.
        XCTAssertEqual(try a80.sendEdoc(newSample, from: "000.00.00.A80", to: ["28.22.H17"]).string("DocId"), newID)
        XCTAssertEqual(try docIDs(try a80.getReceivedEdocList()), [newID], "28.22.H17 (hosted by the same system) has it")
        let fetched = try a80.getEdoc(docId: newID)
        ok(fetched, "getEdoc")
        XCTAssertEqual(Base64.decode(try XCTUnwrap(fetched.string("data"))), newSample, "the exact bytes, without the CRLF trailer")
        XCTAssertEqual(try a80.downloadEdoc(docId: newID).body, newSample, "downloadEdoc: the raw bytes")

        // The original from G22 to H41 and G17; `to` as a quoted string ("A,B") this time.
        var g22Client = sdk[g22]
        g22Client.quirks.toAsArray = false
        let originalBytes = try original()
        let originalReply = try g22Client.sendEdoc(originalBytes, from: g22, to: [h41, g17])
        ok(originalReply, "sendEdoc original")
        let originalID = try XCTUnwrap(originalReply.string("DocId"))
        // An update (BussinessDocType 2) and a revocation (1) from G22, to every agency in their To lists.
        let updateID = try XCTUnwrap(try sdk[g22].sendEdoc(try Self.sample("truclienthong-example__edoc_update.edxml"), from: g22,
                                                            to: [h41, "000.00.00.H14", g17]).string("DocId"))
        let revocation = try sdk[g22].sendEdoc(try Self.sample("truclienthong-example__edoc_revocation.edxml"), from: g22,
                                               to: [h41, "000.00.00.H14", g17])
        ok(revocation, "sendEdoc revocation")
        let revocationID = try XCTUnwrap(revocation.string("DocId"))

        // H41 lists, fetches and confirms, through its SDK.
        let h41Client = sdk[h41]
        let listed = try h41Client.getReceivedEdocList()
        ok(listed, "getReceivedEdocList")
        XCTAssertEqual(try docIDs(listed), [originalID, updateID, revocationID])
        let first = try data(listed)[0]
        XCTAssertEqual(first["from"] as? String, g22)
        XCTAssertEqual(first["to"] as? String, h41)
        XCTAssertEqual(first["status"] as? String, "initial")
        XCTAssertEqual(first["messageType"] as? String, "edoc")
        XCTAssertFalse(first.values.contains { $0 is NSNull }, "no nulls in list items")
        XCTAssertEqual(try h41Client.countReceiveEdoc().json?["count"] as? Int, 3)
        XCTAssertEqual(Base64.decode(try XCTUnwrap(try h41Client.getEdoc(docId: originalID).string("data"))), originalBytes)
        XCTAssertEqual(try data(try h41Client.getReceivedEdocList())[0]["status"] as? String, "processing", "fetched = leased")
        ok(try h41Client.updateStatus(docId: originalID, status: "processing"), "updateStatus processing")
        ok(try h41Client.updateStatus(docId: originalID, status: "done"), "updateStatus done")
        ok(try h41Client.updateStatus(docId: originalID, status: "done"), "the SDK's retry of done")
        XCTAssertEqual(try docIDs(try h41Client.getReceivedEdocList()), [updateID, revocationID], "done: it leaves the list")
        _ = try h41Client.getEdoc(docId: updateID)
        ok(try h41Client.updateStatus(docId: updateID, status: "fail"), "updateStatus fail")
        let afterFail = try data(try h41Client.getReceivedEdocList())
        XCTAssertEqual(afterFail.first?["status"] as? String, "initial", "fail: back in the queue: \(afterFail)")

        // Statuses: 03 from H41 goes to G22 and lands on the original's trace; 13 from G22 goes to H41.
        let acceptance = try h41Client.sendEdoc(try Self.sample("truclienthong-example__status_acceptance_03.edxml"), from: h41, to: nil,
                                                messageType: "status")
        ok(acceptance, "sendEdoc status 03")
        let cancellation = try sdk[g22].sendEdoc(try Self.sample("truclienthong-example__status_cancellation_13.edxml"), from: g22, to: nil,
                                                 messageType: "status")
        ok(cancellation, "sendEdoc status 13")
        let g22Statuses = try sdk[g22].getReceivedEdocList(messageType: "status")
        XCTAssertEqual(try docIDs(g22Statuses), [acceptance.string("DocId") ?? "?"])
        XCTAssertEqual(try data(g22Statuses)[0]["messageType"] as? String, "status")
        XCTAssertEqual(try sdk[g22].countReceiveStatus().json?["count"] as? Int, 1)
        XCTAssertEqual(try docIDs(try h41Client.getReceivedEdocList(messageType: "status")), [cancellation.string("DocId") ?? "?"])

        // getSentEdocList: per recipient, H41 done with its last status, G17 still waiting.
        let sentList = try sdk[g22].getSentEdocList(docId: originalID)
        ok(sentList, "getSentEdocList")
        let perRecipient = Dictionary(uniqueKeysWithValues: try data(sentList).map { ($0["toCode"] as? String ?? "", $0) })
        XCTAssertEqual(perRecipient[h41]?["receiveStatus"] as? String, "done")
        XCTAssertNotNil(perRecipient[h41]?["receivedTime"])
        XCTAssertEqual(perRecipient[g17]?["receiveStatus"] as? String, "initial")
        XCTAssertNil(perRecipient[g17]?["receivedTime"], "unknown fields are left out, never null")
        XCTAssertEqual(perRecipient[h41]?["notation"] as? String, "74fass22/VPCP-TTĐT")
        XCTAssertEqual(perRecipient[h41]?["senderDocId"] as? String, originalID)

        // The original's trace (native API) shows the revocation, the update's sibling link, both statuses.
        let originalTrace = try trace(daemon, g22, originalID)
        let originalEvents = events(originalTrace)
        XCTAssertTrue(originalEvents.contains { $0.event == "referenced" && $0.detail.contains("revoke by document \(revocationID)") },
                      "\(originalEvents)")
        XCTAssertTrue(originalEvents.contains { $0.event == "status" && $0.detail.hasPrefix("13") }, "\(originalEvents)")
        XCTAssertTrue(originalEvents.contains { $0.event == "accepted" && $0.detail.contains("enveloped Signature present") })
        let edxml = try XCTUnwrap(originalTrace["edxml"] as? [String: Any])
        XCTAssertEqual(edxml["documentId"] as? String, "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT")
        XCTAssertEqual(edxml["signaturePresent"] as? Bool, true)
        let revocationTrace = try trace(daemon, g22, revocationID)
        XCTAssertEqual(revocationTrace["businessType"] as? String, "revoke")
        XCTAssertEqual(Set(revocationTrace["refersTo"] as? [String] ?? []), [originalID, updateID])
        // 03 from H41 is about the latest G22 document named 7816 that reached H41: the revocation.
        XCTAssertTrue(events(revocationTrace).contains { $0.event == "status" && $0.detail.hasPrefix("03") }, "\(events(revocationTrace))")
        let revocationSent = try data(try sdk[g22].getSentEdocList(docId: revocationID)).first { $0["toCode"] as? String == h41 }
        XCTAssertTrue((revocationSent?["receiveStatusDesc"] as? String ?? "").contains("last status is 03"), "\(String(describing: revocationSent))")
        // axisctl queue show prints the same trace.
        let shown = try ProductProcess.run(try productPath("axisctl"), ["queue", "show", originalID, "--data", daemon.data])
        XCTAssertEqual(shown.code, 0, shown.err)
        XCTAssertTrue(shown.out.contains("revoke by document \(revocationID)"), shown.out)

        // One core: G17 pulls the VDXP document through the native API; a native document reaches VDXP.
        let g17Items = try inbox(daemon, g17)
        XCTAssertTrue(g17Items.contains(originalID), "\(g17Items)")
        let content = try daemon.curl(g17, [], path: "/v1/documents/\(originalID)/content")
        XCTAssertEqual(content.status, 200)
        XCTAssertEqual(Array(content.body.utf8), originalBytes)
        let note = daemon.data + "/native.txt"
        try "Công văn gửi qua API gốc".write(toFile: note, atomically: true, encoding: .utf8)
        let native = try daemon.submit(note, from: g22, to: [h41], id: "native-1", signature: try daemon.opensslSign(note, as: g22))
        XCTAssertEqual(native.status, 201, native.body)
        let nativeID = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(native.body.utf8)) as? [String: Any])?["id"] as? String)
        XCTAssertTrue(try docIDs(try h41Client.getReceivedEdocList()).contains(nativeID))
        XCTAssertEqual(Base64.decode(try XCTUnwrap(try h41Client.getEdoc(docId: nativeID).string("data"))),
                       Array(try String(contentsOfFile: note, encoding: .utf8).utf8))
        ok(try h41Client.updateStatus(docId: nativeID, status: "done"), "done on a native document")
        // A status reported natively on a VDXP document shows on its trace and reaches the VDXP sender.
        let nativeStatus = try daemon.curl(g17, ["-X", "POST", "-H", "Content-Type: application/json",
                                                 "--data", #"{"code":"05","description":"đang xử lý"}"#],
                                           path: "/v1/documents/\(originalID)/status")
        XCTAssertEqual(nativeStatus.status, 201, nativeStatus.body)
        XCTAssertTrue(events(try trace(daemon, g22, originalID)).contains { $0.event == "status" && $0.detail.hasPrefix("05") })
        XCTAssertEqual(try sdk[g22].countReceiveStatus().json?["count"] as? Int, 2)

        // The directory as the SDK sees it, and the units a system registers.
        let agencies = try data(try sdk[g22].getAgenciesList())
        XCTAssertTrue(agencies.contains { $0["code"] as? String == h41 && $0["id"] as? String == h41 })
        XCTAssertFalse(agencies.contains { $0.values.contains { $0 is NSNull } })
        ok(try sdk[g22].registerAgency(#"{"pcode":"000.00.00.G22","code":"000.00.01.G22","name":"Vụ Tổng hợp","mail":"vth@g22.demo","mobile":"","fax":""}"#),
           "registerAgency")
        let unit = try data(try sdk[g17].getAgenciesList()).first { $0["code"] as? String == "000.00.01.G22" }
        XCTAssertEqual(unit?["pid"] as? String, g22)
        XCTAssertEqual(unit?["name"] as? String, "Vụ Tổng hợp", "non-ASCII came back through \\u escapes")
        XCTAssertTrue(try data(try sdk[g22].getAgenciesListQD20()).contains { $0["code102"] as? String == "000.00.01.G22" })
        failed(try sdk[g22].registerAgency(#"{pcode:'000.00.00.G22', code: "x"}"#), "invalid_agency", http: 400, mentions: "not JSON")
        failed(try sdk[g17].registerAgency(#"{"pcode":"000.00.00.G22","code":"000.00.02.G22","name":"x"}"#), "not_your_agency",
               http: 403, mentions: "does not host 000.00.00.G22")
        ok(try sdk[g22].deleteAgency(code: "000.00.01.G22"), "deleteAgency")
        let units = try data(try sdk[g22].getSynchronizeUnit())
        XCTAssertEqual(units.first { $0["code"] as? String == "000.00.01.G22" }?["deleted"] as? Bool, true)
        XCTAssertFalse(try data(try sdk[g22].getAgenciesList()).contains { $0["code"] as? String == "000.00.01.G22" })
    }

    // MARK: - Every sample, through both APIs

    /// Each sample goes in through the VDXP API as its sender's SDK would send it, and through the
    /// native API as `application/edxml+xml`; the routing facts recorded are asserted per file, and
    /// the malformed one is refused by both.
    func testEverySampleThroughBothAPIsWithItsRoutingFacts() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let sdk = try vdxp(daemon)
        for (code, name) in [("000.00.00.A80", "UBND xã Hòa Tiến"), ("28.22.H17", "UBND xã Hòa Sơn"), ("000.00.00.H14", "UBND Tỉnh Cao Bằng")] {
            try axisctl(daemon, ["agency", "add", code, "--name", name])
        }
        let secretFile = daemon.data + "/a80.secret"
        try "a80-secret".write(toFile: secretFile, atomically: true, encoding: .utf8)
        try axisctl(daemon, ["system", "add", "office-a80", "--name", "A80 e-office", "--agency", "000.00.00.A80",
                             "--vdxp-id", "a80.edoc.01", "--vdxp-secret-file", secretFile])
        var clients = sdk.clients
        clients["000.00.00.A80"] = VdxpSDKClient(port: sdk.port, systemID: "a80.edoc.01", secret: "a80-secret")

        let names = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/edxml-samples").path)
            .filter { $0.hasSuffix(".edxml") }.sorted()
        XCTAssertEqual(names.count, 11)
        for (index, name) in names.enumerated() {
            let bytes = try Self.sample(name)
            let file = daemon.data + "/sample-\(index).edxml"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            guard let facts = try? EdxmlReader.parse(bytes) else {
                // The malformed sample: refused by both APIs, with the reason.
                XCTAssertEqual(name, "truclienthong-example__edoc.edxml")
                failed(try sdk[g22].sendEdoc(bytes, from: g22, to: [h41]), "invalid_edxml", http: 400, mentions: "<From> inside <From>")
                let native = try daemon.submit(file, from: g22, to: [h41], id: "sample-\(index)", signature: try daemon.sign(bytes, as: g22),
                                               extra: ["-H", "Content-Type: application/edxml+xml"])
                XCTAssertEqual(native.status, 422, native.body)
                XCTAssertTrue(native.body.contains("invalid_edxml") && native.body.contains("line 8"), native.body)
                continue
            }
            let isStatus = facts.kind == .status
            let expectedTo = isStatus ? [facts.responseFor[0].organID] : facts.to
            let client = try XCTUnwrap(clients[facts.from], "\(name): no VDXP client for \(facts.from)")
            let sent = try client.sendEdoc(bytes, from: facts.from, to: nil, messageType: isStatus ? "status" : "edoc")
            ok(sent, name)
            let vdxpID = try XCTUnwrap(sent.string("DocId"))
            try assertFacts(daemon, vdxpID, facts, from: facts.from, to: expectedTo, name: name + " via VDXP")

            // The native API: signed CMS as a demo agency (edoc_new's own sender has no TLS system here).
            guard Demo.agencyCodes.contains(facts.from) else { continue }
            let native = try daemon.submit(file, from: facts.from, to: expectedTo, id: "sample-\(index)",
                                           signature: try daemon.sign(bytes, as: facts.from),
                                           extra: ["-H", "Content-Type: application/edxml+xml"])
            XCTAssertEqual(native.status, 201, "\(name): \(native.body)")
            let nativeID = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(native.body.utf8)) as? [String: Any])?["id"] as? String)
            try assertFacts(daemon, nativeID, facts, from: facts.from, to: expectedTo, name: name + " via the native API")
            // One core: the recipient's SDK fetches the natively sent file, byte for byte.
            if let recipient = expectedTo.first, let reader = clients[recipient] {
                XCTAssertEqual(Base64.decode(try XCTUnwrap(try reader.getEdoc(docId: nativeID).string("data"))), bytes, name)
            }
        }
    }

    /// The routing facts the axis recorded for `id` (axisctl queue show --json) match the file's.
    func assertFacts(_ daemon: Daemon, _ id: String, _ facts: EdxmlFacts, from: String, to: [String], name: String) throws {
        let shown = try ProductProcess.run(try productPath("axisctl"), ["queue", "show", id, "--json", "--data", daemon.data])
        XCTAssertEqual(shown.code, 0, shown.err)
        let trace = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shown.out.utf8)) as? [String: Any], shown.out)
        XCTAssertEqual(trace["from"] as? String, from, name)
        XCTAssertEqual(trace["to"] as? [String], to, name)
        XCTAssertEqual(trace["kind"] as? String, facts.kind == .status ? "status" : "document", name)
        if facts.kind == .status {
            XCTAssertEqual(trace["statusCode"] as? String, facts.statusCode, name)
            XCTAssertEqual(trace["subject"] as? String, facts.statusDescription, name)
        } else {
            XCTAssertEqual(trace["subject"] as? String, facts.subject, name)
            XCTAssertEqual(trace["businessType"] as? String, [0: nil, 1: "revoke", 2: "update", 3: "replace"][facts.businessDocType] ?? nil, name)
        }
        let edxml = try XCTUnwrap(trace["edxml"] as? [String: Any], name)
        XCTAssertEqual(edxml["documentId"] as? String, facts.documentID, name)
        XCTAssertEqual(edxml["signaturePresent"] as? Bool, facts.signaturePresent, name)
        XCTAssertEqual(edxml["promulgationDate"] as? String, facts.promulgationDate, name)
    }

    func inbox(_ daemon: Daemon, _ agency: String) throws -> [String] {
        let reply = try daemon.curl(agency, [], path: "/v1/inbox")
        XCTAssertEqual(reply.status, 200, reply.body)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
        return ((object["items"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
    }

    // MARK: - Refusals the SDK can read

    func testForgeriesStrangersAndBadFilesAreRefusedWithRepliesTheSDKParses() throws {
        let daemon = try Daemon(self)
        defer { daemon.stop() }
        let sdk = try vdxp(daemon)
        let h41Client = sdk[h41]

        failed(try h41Client.getReceivedEdocList(tamper: .forgeHash), "authentication_failed", http: 401, mentions: "hash")
        failed(try h41Client.getReceivedEdocList(tamper: .wrongSecret), "authentication_failed", http: 401, mentions: "secret")
        failed(try h41Client.getReceivedEdocList(tamper: .alterAfterSigning(name: "XroadVnpt-messagetype", value: "status")),
               "authentication_failed", http: 401, mentions: "messagetype")
        let stranger = VdxpSDKClient(port: sdk.port, systemID: "nobody.01", secret: "x")
        failed(try stranger.getAgenciesList(), "unknown_system", http: 401, mentions: "nobody.01")

        // The malformed sample: a clear reason and where; DocId present even on failure.
        let malformed = try sdk[g22].sendEdoc(try Self.sample("truclienthong-example__edoc.edxml"), from: g22, to: [h41])
        failed(malformed, "invalid_edxml", http: 400, mentions: "line 7")
        XCTAssertEqual(malformed.string("DocId"), "")

        // Sending as an agency the system does not host.
        let original = try original()
        failed(try sdk[h29].sendEdoc(original, from: g22, to: [h41]), "not_your_agency", http: 403, mentions: "does not host 000.00.00.G22")
        // The from header contradicting the file.
        failed(try sdk[g22].sendEdoc(original, from: h29, to: [h41]), "from_mismatch", http: 400, mentions: "From/OrganId")
        // hash-file over other bytes.
        let wrongHash = try sdk[g22].call("sendEdoc", params: [("from", g22), ("to", #"["\#(h41)"]"#), ("servicetype", "eDoc"),
                                                              ("messagetype", "edoc"), ("hash-file", "abc123")],
                                         body: original + [0x0D, 0x0A], contentType: "application/octet-stream")
        failed(wrongHash, "hash_mismatch", http: 400, mentions: "does not match")
        // An unknown recipient.
        failed(try sdk[g22].sendEdoc(original, from: g22, to: ["000.00.00.Z99"]), "unknown_recipient", http: 422, mentions: "Z99")
        // No enveloped Signature under the default policy.
        let unsigned = Array(String(decoding: original, as: UTF8.self)
            .replacingOccurrences(of: #"<Signature>[\s\S]*</Signature>"#, with: "", options: .regularExpression).utf8)
        failed(try sdk[g22].sendEdoc(unsigned, from: g22, to: [h41]), "signature_missing", http: 422, mentions: "Signature")

        // Reading another agency's document.
        let sent = try sdk[g22].sendEdoc(original, from: g22, to: [h41])
        ok(sent, "sendEdoc")
        let id = try XCTUnwrap(sent.string("DocId"))
        failed(try sdk[h29].getEdoc(docId: id), "not_your_document", http: 403, mentions: id)
        failed(try sdk[h29].downloadEdoc(docId: id), "not_your_document", http: 403, mentions: id)
        failed(try sdk[h29].updateStatus(docId: id, status: "done"), "not_your_document", http: 403, mentions: id)
        failed(try sdk[h29].getSentEdocList(docId: id), "not_your_document", http: 403, mentions: id)
        failed(try h41Client.updateStatus(docId: id, status: "finished"), "invalid_status", http: 400, mentions: "done, fail or processing")
        failed(try h41Client.getEdoc(docId: "nonsense"), "invalid_docid", http: 400, mentions: "32 hexadecimal")
        failed(try h41Client.call("noSuchOperation"), "unknown_operation", http: 404, mentions: "noSuchOperation")
        // A head too large to parse: the server's own refusal, still in the envelope, with DocId.
        let huge = try sdk[g22].call("sendEdoc", params: [("from", g22), ("to", String(repeating: "x", count: 140_000))],
                                     body: original, contentType: "application/octet-stream")
        failed(huge, "header_section_too_large", http: 431, mentions: "header")
        XCTAssertEqual(huge.string("DocId"), "")
        // Nothing refused reached H41.
        XCTAssertEqual(try docIDs(try h41Client.getReceivedEdocList()), [id])
    }

    // MARK: - TLS

    /// `vdxp.transport: https`: the SDK's calls over TLS with the API's server certificate and no
    /// client certificate; here with curl, the HMAC computed as the SDK computes it.
    func testTheVDXPListenerServesHTTPSWhenConfigured() throws {
        let work = try makeTempDirectory(self, "vdxp-tls")
        let config = work + "/axisd.json"
        try #"{"vdxp": {"transport": "https"}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(self, data: work + "/data", ["--config", config, "--vdxp-listen", "127.0.0.1:0"])
        defer { daemon.stop() }
        let demo = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: daemon.data + "/demo.json")))
                                 as? [String: Any])
        let section = try XCTUnwrap(demo["vdxp"] as? [String: Any])
        let url = try XCTUnwrap(section["url"] as? String)
        XCTAssertTrue(url.hasPrefix("https://127.0.0.1:"), url)
        let system = try XCTUnwrap((section["systems"] as? [[String: Any]])?.first { $0["agency"] as? String == h41 })
        let systemID = try XCTUnwrap(system["systemId"] as? String), secret = try XCTUnwrap(system["secret"] as? String)
        let signed = #"{"XroadVnpt-systemid":"\#(systemID)","XroadVnpt-timestamp":"24112026T092754+0183"}"#
        let hash = VdxpAuthentication.signature(secret: secret, signHeader: Array(signed.utf8))
        let reply = try runTool("curl", ["-sS", "--cacert", daemon.pki.rootCertificatePath,
                                         "-X", "POST", "-H", "XroadVnpt-systemid: \(systemID)", "-H", "XroadVnpt-timestamp: 24112026T092754+0183",
                                         "-H", "XroadVnpt-sign-header: \(signed)", "-H", "XroadVnpt-sign-header-key: XroadVnpt-systemid;XroadVnpt-timestamp",
                                         "-H", "XroadVnpt-hash-header: \(hash)", "-H", "Content-Type: application/json", "-d", "{}",
                                         url.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/getAgenciesList"])
        XCTAssertEqual(reply.status, 0, reply.output)
        XCTAssertTrue(reply.output.contains(#""status":"OK""#) && reply.output.contains(h41), reply.output)
    }

    // MARK: - Nothing acknowledged is lost

    func testKillNineKeepsWhatWasAcceptedAndRetriesStayIdempotent() throws {
        let data = try makeTempDirectory(self, "vdxp-kill")
        let original = try original()
        var daemon = try Daemon(self, data: data)
        var sdk = try vdxp(daemon)
        let id = try XCTUnwrap(try sdk[g22].sendEdoc(original, from: g22, to: [h41]).string("DocId"))
        _ = try sdk[h41].getEdoc(docId: id)
        daemon.process.signal(SIGKILL)
        _ = daemon.process.wait()

        daemon = try Daemon(self, data: data)
        defer { daemon.stop() }
        sdk = try vdxp(daemon)
        // The SDK retries after the crash: the same document, not a second one.
        XCTAssertEqual(try sdk[g22].sendEdoc(original, from: g22, to: [h41]).string("DocId"), id)
        XCTAssertEqual(try docIDs(try sdk[h41].getReceivedEdocList()), [id])
        XCTAssertEqual(Base64.decode(try XCTUnwrap(try sdk[h41].getEdoc(docId: id).string("data"))), original)
        ok(try sdk[h41].updateStatus(docId: id, status: "done"), "done after restart")
        XCTAssertEqual(try docIDs(try sdk[h41].getReceivedEdocList()), [])
    }
}
