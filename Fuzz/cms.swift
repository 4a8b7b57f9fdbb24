// libFuzzer harness: CMS signatures: parsing, the DER walker, verification cold and warm.
// Built and run by scripts/fuzz.sh cms SECONDS; the checks live in FuzzEntry.cms (Sources/Axis/Fuzz),
// which FuzzReplayTests also runs on Fuzz/corpus/cms and Fuzz/failcases/cms.
@preconcurrency import Glibc
import Axis

/// libFuzzer calls this once per input. `data` is optional because libFuzzer may pass NULL with size 0.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    do {
        try FuzzEntry.cms(UnsafeRawBufferPointer(start: data, count: size))
    } catch {
        // A broken invariant is a finding: abort so libFuzzer saves the input as a crash.
        fputs("\(error)\n", stderr)
        abort()
    }
    return 0
}
