/// Where a server listens: an IPv4 address and a TCP port, written `HOST:PORT`.
///
/// The host is a dotted quad (`127.0.0.1`, `0.0.0.0` for every interface) because the listening
/// socket is IPv4 (`Socket.listen`); host names and IPv6 are refused with a message saying so rather
/// than failing later at bind time. Port 0 asks the kernel for a free port. Each part of the quad is
/// 0 to 255 without leading zeros (`010` is octal to some tools and decimal to others).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `HOST:PORT`.
    public var description: String { "\(host):\(port)" }

    /// Whether the host is `0.0.0.0`, which listens on every interface.
    public var isWildcard: Bool { host == "0.0.0.0" }

    /// Whether the host is on 127.0.0.0/8, reachable only from this machine.
    public var isLoopback: Bool { host.hasPrefix("127.") }

    /// Parses `HOST:PORT`, e.g. `127.0.0.1:7443`; throws `.usage` with what is wrong and an example.
    public static func parse(_ text: String) throws -> ListenAddress {
        switch check(text) {
        case .success(let address): return address
        case .failure(let problem):
            throw AxisError(.usage, "\(JSONValue.string(text).encoded()) is not a listen address (\(problem.reason)); "
                + "write HOST:PORT such as 127.0.0.1:7443, or 0.0.0.0:7443 for every interface (port 0 picks a free port)")
        }
    }

    /// Why a text is not a listen address, in words that fit inside parentheses.
    public struct Problem: Error, Sendable, Equatable {
        public var reason: String
    }

    /// Parses `HOST:PORT`, returning the reason instead of throwing (the configuration reader words
    /// its own message around it).
    public static func check(_ text: String) -> Result<ListenAddress, Problem> {
        func fail(_ reason: String) -> Result<ListenAddress, Problem> { .failure(Problem(reason: reason)) }
        if text.isEmpty { return fail("it is empty") }
        if text.hasPrefix("[") || text.filter({ $0 == ":" }).count > 1 {
            return fail("IPv6 addresses are not supported; use an IPv4 address such as 0.0.0.0")
        }
        guard let colon = text.lastIndex(of: ":") else {
            if isDottedQuad(text) { return fail("it has no port; add one, as in \(text):7443") }
            if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                return fail("it has no host; write 0.0.0.0:\(text) or 127.0.0.1:\(text)")
            }
            if text.contains(where: { $0.isLetter }) {
                return fail("host names are not supported, and there is no port; write an IPv4 address and a port such as 127.0.0.1:7443")
            }
            return fail("it is not HOST:PORT")
        }
        let host = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        if host.isEmpty { return fail("the host is missing; use 0.0.0.0 for every interface or 127.0.0.1 for this machine only") }
        guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              portText.utf8.count <= 5, let port = UInt32(portText), port <= 65535 else {
            return fail("the port must be a whole number from 0 to 65535")
        }
        guard isDottedQuad(host) else {
            if host.contains(where: { $0.isLetter }) {
                return fail("host names are not supported; the host must be an IPv4 address such as 127.0.0.1")
            }
            return fail("\(JSONValue.string(host).encoded()) is not an IPv4 address such as 127.0.0.1 or 0.0.0.0")
        }
        return .success(ListenAddress(host: host, port: UInt16(port)))
    }

    /// Four decimal parts 0…255, no leading zeros, no signs or spaces.
    static func isDottedQuad(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  part.utf8.count == 1 || part.utf8.first != UInt8(ascii: "0"), let value = Int(part) else { return false }
            return value <= 255
        }
    }
}
