// libFuzzer harness: the edXML header reader.
// Built and run by scripts/fuzz.sh edxml SECONDS; the checks live in FuzzEntry.edxml (Sources/Axis/Fuzz),
// which FuzzReplayTests also runs on Fuzz/corpus/edxml and Fuzz/failcases/edxml.
@preconcurrency import Glibc
import Axis

/// libFuzzer calls this once per input. `data` is optional because libFuzzer may pass NULL with size 0.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    do {
        try FuzzEntry.edxml(UnsafeRawBufferPointer(start: data, count: size))
    } catch {
        // A broken invariant is a finding: abort so libFuzzer saves the input as a crash.
        fputs("\(error)\n", stderr)
        abort()
    }
    return 0
}
