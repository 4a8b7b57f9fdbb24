import Foundation
import XCTest
@testable import Axis

/// The epoll loop with a trivial echo protocol: many idle connections held, every one still served.
final class EventLoopTests: XCTestCase {
    final class Echo: Selectable {
        let fd: Int32
        init(fd: Int32) { self.fd = fd }
        func ready(_ events: UInt32, loop: EventLoop) {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n > 0 {
                    _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, n) }
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
                loop.remove(self)  // closed by the peer, or an error
                close(fd)
                return
            }
        }
    }

    /// Asks the loop (on its thread) for a value.
    func ask<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) -> T {
        let promise = Promise<T>()
        loop.execute { promise.fulfil(body()) }
        return promise.wait()
    }

    func testHoldsAThousandIdleConnectionsAndServesEachOfThem() throws {
        let loop = try EventLoop(name: "test-loop")
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { close(listener) }
        let port = try Socket.localPort(listener)
        let acceptor = Acceptor(listening: listener, accepted: { fd, loop in try? loop.add(Echo(fd: fd), events: IOEvents.readable) })
        let registered = Promise<Void>()
        loop.execute {
            try? loop.add(acceptor, events: IOEvents.readable)
            registered.fulfil(())
        }
        let finished = Promise<Void>()
        Thread { loop.run(); finished.fulfil(()) }.start()
        registered.wait()

        var clients: [Int32] = []
        defer { for fd in clients { close(fd) } }
        for _ in 0..<1000 { clients.append(try Socket.connect(host: "127.0.0.1", port: port)) }
        // Every connection, idle until now, still gets its own answer.
        for (i, fd) in clients.enumerated() {
            let message = Array("ping \(i)\n".utf8)
            XCTAssertEqual(message.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, message.count)
            var reply = [UInt8](repeating: 0, count: message.count)
            var got = 0
            while got < reply.count {
                let n = reply.withUnsafeMutableBytes { read(fd, $0.baseAddress?.advanced(by: got), $0.count - got) }
                guard n > 0 else { return XCTFail("connection \(i) closed after \(got) bytes") }
                got += n
            }
            XCTAssertEqual(reply, message, "connection \(i)")
        }
        XCTAssertEqual(ask(loop) { loop.registeredCount }, 1001, "the acceptor and 1,000 connections")

        // Closing the clients releases every server-side connection.
        for fd in clients { close(fd) }
        clients.removeAll()
        while ask(loop, { loop.registeredCount }) > 1 {}
        loop.stop()
        finished.wait()
    }

    func testPeriodicWorkAndCrossThreadTasksRunOnTheLoopThread() throws {
        let loop = try EventLoop(name: "tick-loop")
        let ticked = Promise<Bool>()
        let fired = Locked(false)
        loop.every(millis: 5) {
            if !fired.read({ $0 }) {
                fired.update { $0 = true }
                ticked.fulfil(loop.inLoop)
            }
        }
        let finished = Promise<Void>()
        Thread { loop.run(); finished.fulfil(()) }.start()
        XCTAssertTrue(ticked.wait(), "periodic work runs on the loop thread")
        XCTAssertTrue(ask(loop) { loop.inLoop })
        XCTAssertFalse(loop.inLoop, "the test thread is not the loop thread")
        loop.stop()
        finished.wait()
    }
}
