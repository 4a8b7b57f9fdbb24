#!/usr/bin/env bash
# Builds and runs Axis's libFuzzer targets (see Fuzz/README.md).
#
#   scripts/fuzz.sh TARGET SECONDS     build (cached) and fuzz one target: http journal edxml vdxp cms
#   scripts/fuzz.sh all SECONDS        each target in turn, SECONDS each
#   scripts/fuzz.sh build [TARGET]     only build (all targets when none is named)
#
# How the build works, and why not SwiftPM: the Axis module's sources (Sources/Axis/**/*.swift) are
# compiled once, whole-module, by swiftc with -sanitize=fuzzer,address (coverage instrumentation plus
# AddressSanitizer) into one object file and a .swiftmodule; the two C files are compiled by the
# toolchain's clang with -fsanitize=fuzzer-no-link,address; then each Fuzz/TARGET.swift harness is
# linked against them, with libFuzzer's main, into one binary per target. swiftc cannot find the C
# targets the way SwiftPM does, so the script writes a module map for CCRC32C and CAxisSys (COpenSSL
# has its own). Everything lives in the build directory, so Package.swift, `swift build` and
# `swift test` are untouched; `swift build --sanitize=fuzzer` was not used because it would need an
# executable target in Package.swift without a main, which a normal build cannot link.
#
# The build is cached: it is redone only when a source, the harness, the flags or the compiler change
# (a hash over all of them). The first build takes a few minutes (see Fuzz/README.md); a rebuild of one
# harness takes seconds.
#
# Running: libFuzzer writes new inputs into the build directory's corpus (kept between runs), and reads
# the checked-in seeds in Fuzz/corpus/TARGET as well; for edxml also the small edXML samples of
# ../shared/edxml-samples, copied to a temporary directory (they must not be copied into the project).
# A crash, a broken invariant (FuzzViolation), a leak or a timeout is saved in Fuzz/failcases/TARGET/;
# FuzzReplayTests replays that folder in the normal test suite, so keep a failcase until it passes.
#
# Environment: AXIS_FUZZ_BUILD (default .build/fuzz), AXIS_FUZZ_JOBS (compile threads for the C
# files, default 2), AXIS_FUZZ_ARGS (extra libFuzzer flags). Needs only the Swift toolchain and the
# libssl-dev package that the normal build needs. Exit status: 0 when every target ran clean, 1 when a
# target found something or the build failed, 2 on a usage error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${AXIS_FUZZ_BUILD:-$root/.build/fuzz}
targets=(http journal edxml vdxp cms)

usage() {
    echo "usage: scripts/fuzz.sh TARGET|all SECONDS   or   scripts/fuzz.sh build [TARGET]" >&2
    echo "targets: ${targets[*]}" >&2
    exit 2
}

is_target() {
    local t
    for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}

# The toolchain's own clang and symbolizer: they match the swiftc that links libFuzzer in.
swiftc=$(command -v swiftc || true)
[ -n "$swiftc" ] || { echo "fuzz.sh: swiftc is not on PATH: install the Swift toolchain" >&2; exit 2; }
# (swiftc is a symlink to swift-driver, which must be called by the name swiftc.)
bindir=$(dirname "$(readlink -f "$swiftc")")
clang="$bindir/clang"
[ -x "$clang" ] || clang=$(command -v clang || true)
[ -n "$clang" ] || { echo "fuzz.sh: no clang next to swiftc nor on PATH" >&2; exit 2; }

swift_flags=(-O -gline-tables-only -swift-version 6 -sanitize=fuzzer,address -parse-as-library)
c_flags=(-O2 -gline-tables-only -fsanitize=fuzzer-no-link,address)

# Prints a hash of everything the library build depends on.
library_hash() {
    {
        "$swiftc" --version 2>&1
        echo "${swift_flags[*]} ${c_flags[*]}"
        find "$root/Sources/Axis" "$root/Sources/CCRC32C" "$root/Sources/CAxisSys" "$root/Sources/COpenSSL" -type f \
            \( -name '*.swift' -o -name '*.c' -o -name '*.h' -o -name '*.modulemap' \) -print0 | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}

build_library() {
    local hash
    hash=$(library_hash)
    if [ -f "$build/lib/Axis.o" ] && [ "$(cat "$build/lib/hash" 2>/dev/null)" = "$hash" ]; then
        return 0
    fi
    echo "fuzz.sh: building the Axis module with -sanitize=fuzzer,address into $build/lib (takes a few minutes)"
    local started=$SECONDS
    rm -rf "$build/lib"
    mkdir -p "$build/lib/modules"
    # SwiftPM makes a module of each C target from its include/ folder; swiftc alone needs a module map.
    cat > "$build/lib/modules/module.modulemap" <<EOF
module CCRC32C {
    header "$root/Sources/CCRC32C/include/ccrc32c.h"
    export *
}
module CAxisSys {
    header "$root/Sources/CAxisSys/include/CAxisSys.h"
    export *
}
EOF
    "$clang" "${c_flags[@]}" -I "$root/Sources/CCRC32C/include" -c "$root/Sources/CCRC32C/crc32c.c" -o "$build/lib/crc32c.o"
    "$clang" "${c_flags[@]}" -I "$root/Sources/CAxisSys/include" -c "$root/Sources/CAxisSys/sys.c" -o "$build/lib/sys.o"
    local sources=()
    mapfile -d '' sources < <(find "$root/Sources/Axis" -name '*.swift' -print0 | sort -z)
    # One whole-module object: -O across the module, as the release build has it.
    "$swiftc" "${swift_flags[@]}" -wmo -c -module-name Axis \
        -I "$build/lib/modules" -I "$root/Sources/COpenSSL" \
        -emit-module -emit-module-path "$build/lib/Axis.swiftmodule" \
        -o "$build/lib/Axis.o" "${sources[@]}"
    echo "$hash" > "$build/lib/hash"
    echo "fuzz.sh: Axis module built in $((SECONDS - started)) s"
}

build_target() {
    local target=$1 hash binary="$build/bin/fuzz-$1"
    build_library
    hash=$( { cat "$build/lib/hash"; sha256sum "$root/Fuzz/$target.swift"; } | sha256sum | cut -d' ' -f1)
    if [ -x "$binary" ] && [ "$(cat "$binary.hash" 2>/dev/null)" = "$hash" ]; then
        return 0
    fi
    mkdir -p "$build/bin"
    # ld.gold's "Cannot export local symbol" warnings about sanitizer symbols are harmless.
    "$swiftc" "${swift_flags[@]}" -module-name "Fuzz_$target" \
        -I "$build/lib" -I "$build/lib/modules" -I "$root/Sources/COpenSSL" \
        "$root/Fuzz/$target.swift" "$build/lib/Axis.o" "$build/lib/crc32c.o" "$build/lib/sys.o" \
        -o "$binary" 2> >(grep -v "Cannot export local symbol" >&2)
    echo "$hash" > "$binary.hash"
    echo "fuzz.sh: built $binary"
}

# Largest input libFuzzer makes per target: room for the seeds, small enough to stay fast.
max_len() {
    case $1 in
        edxml) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

run_target() {
    local target=$1 seconds=$2
    build_target "$target"
    local corpus="$build/corpus/$target" failcases="$root/Fuzz/failcases/$target" log="$build/logs/$target.log"
    mkdir -p "$corpus" "$failcases" "$build/logs"
    local seeds=("$root/Fuzz/corpus/$target") extra=""
    if [ "$target" = edxml ]; then
        extra=$(mktemp -d)
        local samples="$root/../shared/edxml-samples" sample
        if [ -d "$samples" ]; then
            # Only the small samples: the 360 KB ones would set the input size and slow every run.
            for sample in "$samples"/*.edxml; do
                if [ "$(stat -c %s "$sample")" -le "$(max_len edxml)" ]; then cp "$sample" "$extra/"; fi
            done
        else
            echo "fuzz.sh: $samples not found; fuzzing edxml from Fuzz/corpus/edxml only"
        fi
        seeds+=("$extra")
    fi
    local dict=() args=()
    [ -f "$root/Fuzz/dict/$target.dict" ] && dict=(-dict="$root/Fuzz/dict/$target.dict")
    read -r -a args <<< "${AXIS_FUZZ_ARGS:-}"
    local before
    before=$(find "$failcases" -type f | wc -l)
    echo "fuzz.sh: fuzzing $target for $seconds s (log: $log)"
    local status=0
    # -timeout: one input taking 10 s is a hang. detect_leaks stays on: a leak is a finding too.
    # SWIFT_BACKTRACE: Swift's own crash handler would run first and bury the report under its own.
    SWIFT_BACKTRACE=enable=no \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}" \
    ASAN_SYMBOLIZER_PATH="$bindir/llvm-symbolizer" \
        "$build/bin/fuzz-$target" -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$failcases/" "${dict[@]}" "${args[@]}" \
        "$corpus" "${seeds[@]}" > "$log" 2>&1 || status=$?
    if [ -n "$extra" ]; then rm -rf "$extra"; fi
    local execs rate after
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    after=$(find "$failcases" -type f | wc -l)
    printf 'fuzz %-8s %6s s  %12s execs  %8s execs/s  corpus %6s files  new failcases %s\n' \
        "$target" "$seconds" "${execs:-?}" "${rate:-?}" "$(find "$corpus" -type f | wc -l)" "$((after - before))"
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "fuzz.sh: $target FOUND SOMETHING (exit $status); the end of $log:" >&2
        tail -40 "$log" >&2
        return 1
    fi
}

[ $# -ge 1 ] || usage
case $1 in
    build)
        if [ $# -ge 2 ]; then
            is_target "$2" || usage
            build_target "$2"
        else
            for t in "${targets[@]}"; do build_target "$t"; done
        fi
        ;;
    all)
        [ $# -eq 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage
        failed=0
        for t in "${targets[@]}"; do run_target "$t" "$2" || failed=1; done
        exit $failed
        ;;
    *)
        is_target "$1" && [ $# -eq 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage
        run_target "$1" "$2"
        ;;
esac
