import COpenSSL
import Foundation
import XCTest
@testable import Axis

/// What an idle server-side TLS connection costs in heap, with and without SSL_MODE_RELEASE_BUFFERS.
/// Not a timing test: it counts bytes (glibc's `mallinfo2`), prints the figures, and checks that releasing
/// buffers is what keeps a thousand idle keep-alive connections cheap.
final class TLSMemoryTests: XCTestCase {
    static let connectionCount = 1_000
    /// The comparison without the mode needs fewer: the difference it shows is 30+ KiB per connection.
    static let comparisonCount = 200

    func testIdleServerConnectionsHoldLittleHeapWithReleasedBuffers() throws {
        let fixture = try TLSFixture.get()
        let server = try fixture.requiredClientCertificateServer()
        let client = try fixture.clientContext()
        // A first small round warms up OpenSSL's lazily built tables so they are not charged to connections.
        _ = try idleServerBytes(count: 16, server: server, client: client, releaseBuffers: true)
        let released = try idleServerBytes(count: Self.connectionCount, server: server, client: client, releaseBuffers: true)
        let kept = try idleServerBytes(count: Self.comparisonCount, server: server, client: client, releaseBuffers: false)
        print("TLS idle server connection (TLS 1.3, client certificate): \(released) heap bytes each with "
              + "SSL_MODE_RELEASE_BUFFERS (\(Self.connectionCount) connections), \(kept) without (\(Self.comparisonCount))")
        // Without the mode each idle connection keeps a read and a write record buffer (16 KiB+ each);
        // with it both are gone and what is left is OpenSSL's SSL object (about 9 KiB in OpenSSL 3.0),
        // the session, the keys, and the client certificate.
        XCTAssertGreaterThan(kept - released, 32 << 10, "the two record buffers were not released")
        XCTAssertLessThan(released, 32 << 10, "an idle connection holds more than its two record buffers would")
    }

    /// Heap bytes per idle server connection: `count` handshakes over socket pairs, both sides then idle
    /// (the server has read until `.wantRead`, the client has taken its session ticket), the client
    /// objects freed, and the heap compared with and without the server objects.
    func idleServerBytes(count: Int, server: TLSContext, client: TLSContext, releaseBuffers: Bool) throws -> Int {
        var servers: [TLSConnection] = [], clients: [TLSConnection] = [], fds: [Int32] = []
        defer { fds.forEach { close($0) } }
        for _ in 0..<count {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else {
                throw ProcessTestError("socketpair: errno \(errno) (raise `ulimit -n` above \(2 * count + 100))")
            }
            fds += pair
            for fd in pair { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            let accepted = try TLSConnection(context: server, fd: pair[0])
            if !releaseBuffers { _ = axis_ssl_clear_mode(accepted.handle, Int(SSL_MODE_RELEASE_BUFFERS)) }
            servers.append(accepted)
            clients.append(try TLSConnection(context: client, fd: pair[1], serverName: "localhost"))
        }
        var scratch = [UInt8](repeating: 0, count: 64)
        for (accepted, connecting) in zip(servers, clients) {
            try handshake(accepted, connecting)
            XCTAssertEqual(scratch.withUnsafeMutableBytes { accepted.read(into: $0) }, .wantRead)
            XCTAssertEqual(scratch.withUnsafeMutableBytes { connecting.read(into: $0) }, .wantRead)
            XCTAssertNotNil(accepted.peerCertificate)
        }
        clients.removeAll()
        let withServers = try heapBytesInUse()
        servers.removeAll()
        return (withServers - (try heapBytesInUse())) / count
    }

    /// Both ends in one thread: each step moves the handshake on, since a socket pair buffers every flight.
    func handshake(_ accepted: TLSConnection, _ connecting: TLSConnection) throws {
        for _ in 0..<32 {
            let (s, c) = (accepted.handshake(), connecting.handshake())
            if s == .done && c == .done { return }
            if case .failed(let error) = s { throw error }
            if case .failed(let error) = c { throw error }
        }
        throw ProcessTestError("the handshake over a socket pair did not finish")
    }

    /// Bytes allocated and not freed, all arenas plus mmapped chunks (what `mallinfo2`'s uordblks + hblkhd
    /// give; Swift's Glibc module does not import <malloc.h>, so glibc's `malloc_info` XML is read instead:
    /// after the last `</heap>`, system current − free "fast" − free "rest" + "mmap").
    func heapBytesInUse() throws -> Int {
        // Under AddressSanitizer or ThreadSanitizer, malloc is the sanitizer's allocator and glibc's arenas
        // stay empty (malloc_info reports no change at all); the sanitizer counts the bytes it hands out.
        if let sanitizer = dlsym(dlopen(nil, RTLD_NOW), "__sanitizer_get_current_allocated_bytes") {
            typealias AllocatedBytes = @convention(c) () -> Int
            return unsafeBitCast(sanitizer, to: AllocatedBytes.self)()
        }
        typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_info") else { throw ProcessTestError("no malloc_info in this libc") }
        var text: UnsafeMutablePointer<CChar>?
        var length = 0
        guard let stream = open_memstream(&text, &length) else { throw ProcessTestError("open_memstream: errno \(errno)") }
        let status = unsafeBitCast(symbol, to: MallocInfo.self)(0, stream)
        fclose(stream)
        defer { free(text) }
        guard status == 0, let text else { throw ProcessTestError("malloc_info failed") }
        let xml = String(cString: text)
        guard let lastHeap = xml.range(of: "</heap>", options: .backwards) else { throw ProcessTestError("unexpected malloc_info: \(xml)") }
        let totals = xml[lastHeap.upperBound...]
        func size(_ element: String, _ type: String) throws -> Int {
            let prefix = "<\(element) type=\"\(type)\""
            guard let start = totals.range(of: prefix), let sizeKey = totals[start.upperBound...].range(of: "size=\""),
                  let end = totals[sizeKey.upperBound...].firstIndex(of: "\""), let value = Int(totals[sizeKey.upperBound..<end]) else {
                throw ProcessTestError("no \(prefix) size in malloc_info: \(totals)")
            }
            return value
        }
        return try size("system", "current") - size("total", "fast") - size("total", "rest") + size("total", "mmap")
    }
}
