import XCTest
@testable import Axis

/// The hardware and table implementations must agree on every input, or journals written on one
/// machine would not read on another.
final class CRC32CTests: XCTestCase {
    func testSoftwarePathGivesTheStandardCheckValues() {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { CRC32C.updateSoftware(0, $0) }, 0xE306_9283)
        XCTAssertEqual([UInt8](repeating: 0, count: 32).withUnsafeBytes { CRC32C.updateSoftware(0, $0) }, 0x8A91_36AA)
        XCTAssertEqual([UInt8](repeating: 0xFF, count: 32).withUnsafeBytes { CRC32C.updateSoftware(0, $0) }, 0x62A8_AB43)
    }

    func testDispatchedPathMatchesSoftwareForEveryLengthAndAlignment() {
        var rng = SeededRandom(seed: 99)
        let data = (0..<4096 + 64).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 1000, 4096] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    XCTAssertEqual(CRC32C.update(0, slice), CRC32C.updateSoftware(0, slice),
                                   "start \(start) length \(length), hardware \(CRC32C.usesHardware)")
                    XCTAssertEqual(CRC32C.update(0x1234_5678, slice), CRC32C.updateSoftware(0x1234_5678, slice))
                }
            }
        }
    }

    func testRunningUpdateEqualsOneShot() {
        let bytes = Array("the quick brown fox jumps over the lazy dog".utf8)
        let whole = CRC32C.checksum(bytes)
        let split = bytes.withUnsafeBytes { b in
            CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: b[0..<10])), UnsafeRawBufferPointer(rebasing: b[10...]))
        }
        XCTAssertEqual(whole, split)
    }

    func testHardwareIsUsedOnX86WithSSE42() throws {
        #if arch(x86_64)
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if flags.contains(" sse4_2") { XCTAssertTrue(CRC32C.usesHardware) }
        #endif
    }
}
