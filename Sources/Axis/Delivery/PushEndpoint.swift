@preconcurrency import Glibc

/// A recipient's push endpoint: an `https://host[:port]/path` URL from the agency directory.
///
/// Strict on purpose: the axis sends signed government documents there, so anything other than a
/// plain HTTPS URL (another scheme, user info, a fragment, spaces or control characters) is refused
/// with a reason the operator can act on, and the delivery is deferred rather than sent somewhere odd.
public struct PushEndpoint: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    /// The request target: path and query, at least `/`.
    public var target: String

    public var description: String { "https://\(host)\(port == 443 ? "" : ":\(port)")\(target)" }

    /// The longest URL accepted (well above any real endpoint, far below a header limit).
    public static let lengthMax = 2048

    public static func parse(_ url: String) throws -> PushEndpoint {
        func bad(_ why: String) -> AxisError {
            AxisError(.config, "push endpoint \"\(url.prefix(200))\" \(why); an endpoint is an https URL such as "
                + "https://docs.example.gov.vn:8443/axis/inbox — correct the agency's endpoint in the directory")
        }
        guard url.utf8.count <= lengthMax else { throw bad("is longer than \(lengthMax) bytes") }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw bad("contains spaces, control or non-ASCII characters (percent-encode them)")
        }
        let scheme = "https://"
        guard url.lowercased().hasPrefix(scheme) else { throw bad("is not an https URL") }
        let rest = url.dropFirst(scheme.count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        guard !target.contains("#") else { throw bad("has a fragment (#…), which is never sent to a server") }
        guard !authority.contains("@") else { throw bad("carries user information (user@host); authentication is by TLS certificate") }
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        var host = Substring(authority)
        var port: UInt16 = 443
        if let colon = authority.lastIndex(of: ":") {
            guard let parsed = UInt16(authority[authority.index(after: colon)...]), parsed > 0 else {
                throw bad("has a port that is not a number from 1 to 65535")
            }
            port = parsed
            host = authority[..<colon]
        }
        guard !host.isEmpty else { throw bad("has no host") }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
            throw bad("has a host that is not a DNS name or IPv4 address (IPv6 endpoints are not supported)")
        }
        return PushEndpoint(host: host.lowercased(), port: port, target: target)
    }

    /// The host's IPv4 address: the host itself when it is one, else the first DNS answer.
    public func resolveIPv4() throws -> String {
        var probe = in_addr()
        if inet_pton(AF_INET, host, &probe) == 1 { return host }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        defer { if let result { freeaddrinfo(result) } }
        guard status == 0, let first = result, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw AxisError(.connectionFailed, "could not resolve \(host) to an IPv4 address: \(reason)")
        }
        return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
            var addr = sin.pointee.sin_addr
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &addr, &text, socklen_t(INET_ADDRSTRLEN))
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
