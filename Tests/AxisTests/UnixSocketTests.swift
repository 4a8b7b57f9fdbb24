import Foundation
import XCTest
@testable import Axis

/// The HTTP server on a Unix-domain socket (the admin socket): file mode, the caller's uid/gid from
/// the kernel, our client and curl --unix-socket, a stale socket replaced, anything else refused.
final class UnixSocketTests: XCTestCase {
    final class WhoAmI: HTTPService, @unchecked Sendable {
        func plan(_ head: HTTPRequestHead, peer: HTTPPeer) -> HTTPRequestPlan {
            let who = peer.credentials.map { "uid=\($0.uid) gid=\($0.gid) pid=\($0.pid)" } ?? "unknown"
            return .accept(bodyLimit: 0, handler: Reply(HTTPResponse(status: .ok, body: Array(who.utf8))))
        }
    }

    func testServesOverAUnixSocketWithThePeersCredentials() throws {
        let dir = try makeTempDirectory(self, "unix")
        let path = dir + "/admin.sock"
        var options = HTTPServer.Options()
        options.unixSocket = .init(path: path, mode: 0o600)
        let server = HTTPServer(options: options, service: WhoAmI())
        XCTAssertEqual(try server.start(), 0)
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "only the owner may connect")

        let client = try HTTPClient(unixSocket: path)
        let reply = try client.send(.get("/whoami"))
        XCTAssertEqual(reply.bodyText, "uid=\(getuid()) gid=\(getgid()) pid=\(getpid())")
        let curl = try runTool("curl", ["-s", "--unix-socket", path, "http://localhost/whoami"])
        XCTAssertTrue(curl.output.hasPrefix("uid=\(getuid()) gid=\(getgid()) pid="), curl.output)
        client.close()
        server.stop()
        XCTAssertNotEqual(lstat(path, &info), 0, "the socket file is removed on stop")

        // A socket file left behind (a crashed daemon) is replaced; any other file is never removed.
        let stale = try Socket.listenUnix(path: path)
        close(stale)
        let again = HTTPServer(options: options, service: WhoAmI())
        XCTAssertEqual(try again.start(), 0)
        XCTAssertEqual(try HTTPClient(unixSocket: path).send(.get("/")).status, 200)
        again.stop()
        let plain = dir + "/not-a-socket"
        try "keep me".write(toFile: plain, atomically: true, encoding: .utf8)
        options.unixSocket = .init(path: plain)
        XCTAssertThrowsError(try HTTPServer(options: options, service: WhoAmI()).start()) { error in
            XCTAssertTrue("\(error)".contains("is not a socket"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: plain, encoding: .utf8), "keep me")
        XCTAssertThrowsError(try HTTPClient(unixSocket: dir + "/absent.sock")) { error in
            XCTAssertEqual((error as? AxisError)?.code, .connectionFailed, "\(error)")
        }
    }
}
