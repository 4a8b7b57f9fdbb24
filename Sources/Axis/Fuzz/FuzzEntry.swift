// Fuzzing entry points — design notes
//
// One function per parser that meets bytes from outside: the HTTP request parser, the journal frame
// and record decoders, the edXML header reader, the VDXP header and HMAC checks, and CMS signature
// handling. Each takes arbitrary bytes, must never crash, and checks invariants that a bug would break:
//
//   target    input                                   invariants (beyond "no trap, no memory error")
//   http      a connection's bytes                    same events however the bytes are cut into reads;
//                                                     a parsed head re-serialized parses to the same head
//   journal   a frame stream, and [kind] ++ body      prefixes of a frame are .incomplete, never .corrupt;
//                                                     a decoded record re-encodes to one that decodes equal
//   edxml     an edXML file                           same facts or error however the file is cut; the
//                                                     facts obey the routing rules the reader promises
//   vdxp      header lines "Name: value\n"            no forged HMAC passes; accepted parameters and
//                                                     recipient lists obey their documented rules
//   cms       flags | doc length | doc | signature    a verifier with a warm chain cache agrees with a
//                                                     cold one; OpenSSL's CMS_verify accepts what we trust
//
// The libFuzzer harnesses (Fuzz/*.swift, built by scripts/fuzz.sh) call these and abort on a
// violation; `FuzzReplayTests` replays Fuzz/corpus and Fuzz/failcases through them in the normal test
// suite. Everything is deterministic: "random" read cuts come from a hash of the input, the CMS
// verifier runs on a fixed clock, so a saved input reproduces its run exactly.

/// An invariant that a fuzz input broke: a bug in the code under test (or in the invariant).
public struct FuzzViolation: Error, Sendable, CustomStringConvertible {
    public let target: String
    public let message: String

    public init(_ target: String, _ message: String) {
        (self.target, self.message) = (target, message)
    }

    public var description: String { "fuzz target \(target): \(message)" }
}

/// The fuzz targets, callable from a libFuzzer harness or a unit test.
public enum FuzzEntry {
    /// The targets by name (the names of the Fuzz/corpus and Fuzz/failcases folders).
    public static let targets: [String: @Sendable (UnsafeRawBufferPointer) throws(FuzzViolation) -> Void] = [
        "http": httpRequest,
        "journal": journal,
        "edxml": edxml,
        "vdxp": vdxp,
        "cms": cms,
    ]

    /// Runs the target called `name` on `data`; false when there is no such target.
    public static func run(target name: String, _ data: UnsafeRawBufferPointer) throws(FuzzViolation) -> Bool {
        guard let target = targets[name] else { return false }
        try target(data)
        return true
    }

    /// Throws a violation of `target` unless `condition` holds.
    static func check(_ condition: Bool, _ target: String, _ message: @autoclosure () -> String) throws(FuzzViolation) {
        if !condition { throw FuzzViolation(target, message()) }
    }
}

/// Deterministic ways to cut an input into reads, so a chunking bug found once is found again.
enum FuzzCuts {
    /// The whole input as one read.
    static func whole(_ count: Int) -> [Range<Int>] { [0..<count] }

    /// One byte per read (capped: beyond `bytesMax` the rest comes in one read).
    static func byteAtATime(_ count: Int, bytesMax: Int = 16 << 10) -> [Range<Int>] {
        let single = min(count, bytesMax)
        var pieces = (0..<single).map { $0..<($0 + 1) }
        if single < count { pieces.append(single..<count) }
        return pieces
    }

    /// Cuts at pseudo-random points drawn from a hash of the input, with an empty read now and then.
    static func scattered(_ data: UnsafeRawBufferPointer, salt: UInt64 = 0) -> [Range<Int>] {
        var state = seed(data) ^ salt
        var pieces: [Range<Int>] = []
        var start = 0
        while start < data.count {
            let r = next(&state)
            if r % 7 == 0 { pieces.append(start..<start) }
            // Mostly short reads (they cross every kind of boundary), sometimes long ones.
            let length = r % 4 == 0 ? Int((r >> 8) % 512) + 1 : Int((r >> 8) % 9) + 1
            let end = min(data.count, start + length)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }

    /// FNV-1a of the input: a seed that depends on every byte.
    static func seed(_ data: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in data { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// SplitMix64.
    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
