/// The body of a benchmark or crash-test record: who wrote it, and a filler anyone can recompute.
///
///     | appender u32 | epoch u32 | counter u64 | filler … |
///
/// Little-endian. The filler is splitmix64 output seeded from (epoch, appender, counter), so a checker
/// that knows those three numbers and the length rebuilds the exact body and can compare every byte.
/// `Tests/AxisTests/JournalProcessCrashTests.swift` carries a copy of `make` (a test target cannot
/// import an executable target without a Package.swift dependency); change both together.
enum BenchRecordBody {
    /// The fixed fields; a body is at least this long.
    static let headerBytes = 16

    static func make(epoch: UInt32, appender: UInt32, counter: UInt64, bytes: Int) -> [UInt8] {
        precondition(bytes >= headerBytes, "a benchmark record body holds at least its 16-byte header")
        return [UInt8](unsafeUninitializedCapacity: bytes) { buf, initialized in
            let raw = UnsafeMutableRawBufferPointer(buf)
            raw.storeBytes(of: appender.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: epoch.littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: counter.littleEndian, toByteOffset: 8, as: UInt64.self)
            var state = (UInt64(epoch) << 32 | UInt64(appender)) ^ (counter &* 0xD1B5_4A32_D192_ED03)
            var offset = headerBytes
            while offset < bytes {
                let word = SplitMix64.next(&state).littleEndian
                let n = min(8, bytes - offset)
                withUnsafeBytes(of: word) { w in
                    for k in 0..<n { raw[offset + k] = w[k] }
                }
                offset += n
            }
            initialized = bytes
        }
    }
}

/// splitmix64: a tiny, well-mixed deterministic generator (Steele, Lea, Flood 2014).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 { Self.next(&state) }

    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
