import Axis
import Foundation

/// `axis-bench submit --fanout N`: N extra recipient agencies, registered in the running axisd's
/// directory over its admin socket (the same requests `axisctl agency import` and
/// `axisctl system update` send), so every document can be addressed to all of them.
///
/// Codes are `000.00.99.F001` … (`F0001` … above 999): valid agency codes that no demo agency uses.
/// They are pull agencies with no endpoint, so nothing is pushed; they stay in the directory after
/// the run (an import of the same entries again changes nothing). With `hostedBy`, the system
/// hosting `--to` also hosts them, so its client certificate can pull and acknowledge their inboxes.
enum SubmitFanout {
    /// What the request sizes and the server's 32 KiB header section allow with room to spare
    /// (each code adds 15 bytes to `Axis-To`; see `SubmitBenchmark.checkHeaderBudget`).
    static let recipientsMax = 1000

    static func codes(_ count: Int) -> [String] {
        precondition((1...recipientsMax).contains(count), "a fan-out of 1…\(recipientsMax) recipients")
        let width = max(3, String(count).count)
        return (1...count).map { n in
            let digits = String(n)
            return "000.00.99.F" + String(repeating: "0", count: width - digits.count) + digits
        }
    }

    /// Adds (or re-enables) the agencies in one journaled import; with `hostedBy`, also makes that
    /// system host them. Returns what axisd reported: created, updated, unchanged.
    static func register(_ codes: [String], adminSocket: String, hostedBy system: String?, reason: String) throws -> String {
        let client: HTTPClient
        do {
            client = try HTTPClient(unixSocket: adminSocket, timeoutMillis: 60_000)
        } catch {
            throw AxisError(.config, "cannot reach axisd's admin socket \(adminSocket) to register the --fanout recipients "
                + "(run axis-bench as the user axisd runs as, or use --start-demo): \(error)")
        }
        defer { client.close() }
        let agencies: [JSONValue] = codes.enumerated().map { index, code in
            var fields: [(String, JSONValue)] = [
                ("code", .string(code)), ("name", .string("axis-bench fan-out recipient \(index + 1)")),
                ("endpoint", .string("")), ("enabled", .bool(true)),
            ]
            if let system { fields.append(("system", .string(system))) }
            return .object(fields)
        }
        let imported = try post(client, "/v1/agencies/import", .object([("agencies", .array(agencies)), ("reason", .string(reason))]))
        let summary = ["created", "updated", "unchanged"].map { "\(imported[$0] as? Int ?? 0) \($0)" }.joined(separator: ", ")
        if let system {
            _ = try post(client, "/v1/systems", .object([
                ("mode", .string("update")),
                ("system", .object([("id", .string(system)), ("addAgencies", .array(codes.map { .string($0) }))])),
                ("reason", .string(reason)),
            ]))
        }
        return summary
    }

    private static func post(_ client: HTTPClient, _ path: String, _ body: JSONValue) throws -> [String: Any] {
        let reply = try client.send(.post(path, headers: [("Content-Type", "application/json")], body: Array(body.encoded().utf8)))
        let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any] ?? [:]
        guard reply.status == 200, object["error"] == nil else {
            let message = ((object["error"] as? [String: Any])?["message"] as? String) ?? (object["error"] as? String) ?? reply.bodyText
            throw AxisError(.config, "axisd refused POST \(path) (HTTP \(reply.status)) while registering the --fanout recipients: \(message)")
        }
        return object
    }
}
