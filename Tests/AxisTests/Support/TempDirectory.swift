import Foundation
import XCTest
@testable import Axis

/// A fresh directory under the system temp dir, removed when the test ends.
func makeTempDirectory(_ test: XCTestCase, _ label: String = "axis") throws -> String {
    let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// A deterministic generator (SplitMix64) so every randomized test can be replayed from its seed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A clock tests move by hand.
final class ManualClock: TimeSource, @unchecked Sendable {
    private let lock = NSLock()
    private var millis: Int64
    private var nanos: UInt64 = 0
    init(millis: Int64 = 1_790_000_000_000) { self.millis = millis }
    func now() -> Timestamp { lock.withLock { Timestamp(millis: millis) } }
    func monotonicNanos() -> UInt64 { lock.withLock { nanos += 1; return nanos } }
    func advance(millis delta: Int64) { lock.withLock { millis += delta } }
}
