#!/usr/bin/env bash
# kill -9 harness: starts axisd --demo on a fresh data directory, drives signed submissions (4 demo
# agencies, RSA-2048 / EC P-256 / Ed25519 signers, 1 to 3 recipients each, some over 1 MiB) and
# inbox pulls/acks against it, SIGKILLs it N times at random moments under that load, restarts it
# on the same data each time, and checks after every restart and at the end that every receipted
# document is there and is delivered to and acknowledged by every recipient, and that nothing else
# was ever delivered (docs/RELIABILITY.md lists every check). Prints a summary; the seed replays a run.
#
#   scripts/reliability/crash-loop.sh N [--seed S] [--release] [other `axis-bench crash-loop` options]
#
# Exit status: 0 when every check holds; 1 when any fails (each violation is printed, and the work
# directory with axisd.log and the data directory is kept and named); 64 for a usage error.
#
# Build: debug by default, for two reasons: CI has just built debug for the tests (same build
# directory, so nothing is compiled again), and debug keeps Swift's runtime checks (bounds, overflow,
# preconditions) on in axisd, so a recovery bug that corrupts state traps instead of slipping through.
# --release builds and runs optimized binaries instead: restarts and replay are faster, so long runs
# (N=200, N=1000) fit in less time. AXIS_SCRATCH_PATH sets swift build's --scratch-path.
#
# CI: scripts/reliability/crash-loop.sh 20   (about 1 minute on 2 cores, debug; docs/RELIABILITY.md)
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
    echo "usage: scripts/reliability/crash-loop.sh N [--seed S] [--release] [axis-bench crash-loop options]" >&2
    exit 64
}
[ $# -ge 1 ] || usage
case $1 in ''|*[!0-9]*) usage ;; esac
kills=$1
shift

config=debug
args=()
for arg in "$@"; do
    case $arg in
        --release) config=release ;;
        --kills|--kills=*) echo "crash-loop: N is the first argument, not --kills" >&2; exit 64 ;;
        *) args+=("$arg") ;;
    esac
done
build=(-c "$config")
if [ -n "${AXIS_SCRATCH_PATH:-}" ]; then build+=(--scratch-path "$AXIS_SCRATCH_PATH"); fi

echo "crash-loop: building axisd and axis-bench ($config)" >&2
swift build "${build[@]}" --product axisd >&2
swift build "${build[@]}" --product axis-bench >&2
bin=$(swift build "${build[@]}" --show-bin-path)
exec "$bin/axis-bench" crash-loop --kills "$kills" "${args[@]}"
