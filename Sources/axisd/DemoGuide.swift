// What `axisd --demo` tells a new user: the banner with copy-paste commands (sign with openssl cms,
// submit with curl, pull as the recipient, acknowledge), and DIR/demo.json with every URL, code and
// file path, for scripts and tests.
@preconcurrency import Glibc
import Axis

struct DemoGuide {
    let data: String
    let setup: Demo.Setup
    let port: UInt16
    let exchange: Demo.Exchange
    /// `http://HOST:PORT` of the operations listener, when it runs.
    let ops: String?
    let adminSocket: String
    /// The VDXP API's base URL, when served, and each demo agency's VDXP system id and secret.
    let vdxp: String?
    let vdxpSystems: [(agency: String, systemID: String, secret: String)]

    var url: String { "https://localhost:\(port)" }
    var jsonPath: String { PathJoin.join(data, "demo.json") }
    /// The example's sender signs with RSA (openssl cms in OpenSSL 3.0 cannot sign with Ed25519).
    var sender: String { Demo.agencyCodes[0] }
    var recipient: String { Demo.agencyCodes[2] }

    func writeJSON() throws {
        let agencies: [JSONValue] = zip(Demo.agencyCodes, Demo.agencyNames).map { code, name in
            let signing = setup.pki.agency(code)
            let system = setup.tls.system(code)
            return .object([
                ("code", .string(code)),
                ("name", .string(name)),
                ("system", .string((try? Demo.systemID(for: code).rawValue) ?? "")),
                ("tlsCertificate", .string(system?.certificatePath ?? "")),
                ("tlsKey", .string(system?.keyPath ?? "")),
                ("signingCertificate", .string(signing?.certificatePath ?? "")),
                ("signingKey", .string(signing?.keyPath ?? "")),
                ("signingAlgorithm", .string(signing?.algorithm ?? "")),
            ])
        }
        let json = JSONValue.object([
            ("note", .string("Axis demo: development PKI, NOT FOR PRODUCTION")),
            ("dataDir", .string(data)),
            ("api", .string(url)),
            ("caFile", .string(setup.pki.rootCertificatePath)),
            ("intermediateFile", .string(setup.pki.intermediateCertificatePath)),
            ("pkiDir", .string(setup.pki.directory)),
            ("receiptCertificate", .string(setup.pki.axisCertificatePath)),
            ("ops", ops.map { .string($0) } ?? .null),
            ("adminSocket", .string(adminSocket)),
            ("agencies", .array(agencies)),
            ("vdxp", .object([
                ("url", vdxp.map { .string($0) } ?? .null),
                ("note", .string("the national platform's SDK: endpoint = url, systemId and secret per agency (docs/VDXP.md)")),
                ("systems", .array(vdxpSystems.map { .object([("agency", .string($0.agency)), ("systemId", .string($0.systemID)),
                                                               ("secret", .string($0.secret))]) })),
            ])),
        ])
        // Written beside and renamed over: a reader never sees half a file.
        let temporary = jsonPath + ".tmp"
        _ = unlink(temporary)
        try FileBytes.create(temporary, json.encoded() + "\n")
        guard rename(temporary, jsonPath) == 0 else {
            throw AxisError(.storageIO, "cannot write \(jsonPath)", errno: errno)
        }
    }

    /// How to reach the VDXP API by hand: the SDK signs a JSON of its headers with HMAC-SHA256.
    var vdxpLines: String {
        guard let vdxp, let system = vdxpSystems.first(where: { $0.agency == recipient }) else {
            return "VDXP API: off (vdxp.listen)"
        }
        let signed = "{\"XroadVnpt-systemid\":\"\(system.systemID)\",\"XroadVnpt-timestamp\":\"24112026T000000+0000\"}"
        return """
            VDXP API (the national platform's SDK, unmodified): \(vdxp)  (system ids and secrets in \(jsonPath))
              List \(recipient)'s received edXML the way the SDK does (HMAC-SHA256 over the signed-header JSON):
                SIGNED='\(signed)'
                HASH=$(printf %s "$SIGNED" | openssl dgst -sha256 -hmac "\(system.secret)" -r | cut -d' ' -f1)
                curl -sS -X POST -H "XroadVnpt-systemid: \(system.systemID)" -H "XroadVnpt-timestamp: 24112026T000000+0000" \\
                    -H "XroadVnpt-sign-header: $SIGNED" -H "XroadVnpt-sign-header-key: XroadVnpt-systemid;XroadVnpt-timestamp" \\
                    -H "XroadVnpt-hash-header: $HASH" -H "Content-Type: application/json" -d '{}' \(vdxp)/getReceivedEdocList
            """
    }

    func banner() -> String {
        let pki = setup.pki
        let from = setup.tls.system(sender), to = setup.tls.system(recipient)
        let signing = pki.agency(sender)
        let tlsFrom = "--cacert \(pki.rootCertificatePath) --cert \(from?.certificatePath ?? "") --key \(from?.keyPath ?? "")"
        let tlsTo = "--cacert \(pki.rootCertificatePath) --cert \(to?.certificatePath ?? "") --key \(to?.keyPath ?? "")"
        let accepted = exchange.accepted
        return """
            Axis demo is running. Data directory: \(data)   (settings for scripts: \(jsonPath))
              accepted document \(exchange.document) from \(sender) to \(recipient) (journal sequence \(accepted.position.sequence))
                signature by \(exchange.signature.signer?.subject ?? "?") verified; receipt signed by the axis
              delivered and acknowledged by \(recipient) with its signed receipt (journal sequence \(exchange.acknowledged.sequence))
            Native API: \(url)  (client certificates required; development PKI, NOT FOR PRODUCTION: \(pki.directory))
            \(ops.map { "Operations: curl \($0)/healthz   curl \($0)/metrics" } ?? "Operations listener: off (ops.listen)")

            Try it from another terminal — send a signed document from \(sender) to \(recipient):
              echo "Công văn thử nghiệm $(date)" > /tmp/axis-doc.txt
              openssl cms -sign -binary -in /tmp/axis-doc.txt -signer \(signing?.certificatePath ?? "") \\
                  -inkey \(signing?.keyPath ?? "") -certfile \(pki.intermediateCertificatePath) -outform DER -out /tmp/axis-doc.p7s
              curl -sS \(tlsFrom) \\
                  -H "Axis-From: \(sender)" -H "Axis-To: \(recipient)" -H "Axis-Document-Id: demo-$(date +%s%N)" \\
                  -H "Content-Type: text/plain; charset=utf-8" \\
                  -H "Axis-Subject: C%C3%B4ng%20v%C4%83n%20th%E1%BB%AD" -H "Axis-Signature: $(base64 -w0 /tmp/axis-doc.p7s)" \\
                  --data-binary @/tmp/axis-doc.txt \(url)/v1/documents
            Pull it as \(recipient) (waits up to 10 s), read it, acknowledge it (put the "id" from the inbox in ID):
              curl -sS \(tlsTo) "\(url)/v1/inbox?wait=10"
              curl -sS \(tlsTo) -D - -o /tmp/axis-received.txt \(url)/v1/documents/ID/content
              curl -sS \(tlsTo) -X POST \(url)/v1/inbox/ID/ack
            The trace, as the sender:
              curl -sS \(tlsFrom) \(url)/v1/documents/ID
            Administer the queues (the admin socket \(adminSocket)):
              swift run axisctl status --data \(data)
              swift run axisctl queue list --data \(data)
            \(vdxpLines)
            Offline evidence:
              swift run axisctl verify --data \(data) \(exchange.document) --trust \(pki.directory)/trust --crl-dir \(pki.directory)/crl
            Stop with Ctrl-C; run again with the same --data to continue where it stopped.
            """
    }
}
