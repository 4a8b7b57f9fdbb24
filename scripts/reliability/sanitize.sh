#!/usr/bin/env bash
# The unit and process tests under a sanitizer: builds the package and its tests with
# --sanitize=address or --sanitize=thread (its own scratch directory), runs the whole suite, and
# collects every sanitizer report of the test process and of each axisd/axisctl it starts (each
# writes to a file of its own, so a child whose stderr a test does not keep still reports).
#
#   scripts/reliability/sanitize.sh address|thread        (about 10 minutes each on 2 cores)
#
# Exit 0 when the suite passes and no sanitizer report was written; 1 otherwise (the reports are
# listed). Leak checking is off under AddressSanitizer: XCTest and Foundation leak at exit on this
# toolchain whatever the code under test does (docs/RELIABILITY.md, "Sanitizers", says which and how
# axisd itself was leak-checked).
set -euo pipefail
cd "$(dirname "$0")/../.."

kind=${1:-}
case "$kind" in
    address) options_var=ASAN_OPTIONS; extra="detect_leaks=0" ;;
    thread) options_var=TSAN_OPTIONS; extra="" ;;
    *) echo "usage: scripts/reliability/sanitize.sh address|thread" >&2; exit 64 ;;
esac

scratch=".build-sanitize-$kind"
reports=$(mktemp -d "/tmp/axis-sanitize-$kind.XXXXXX")
log="$reports/test.log"
echo "sanitize: building with --sanitize=$kind in $scratch"
swift build --build-tests --scratch-path "$scratch" --sanitize="$kind"
echo "sanitize: running the tests; reports go to $reports"
set +e
env "$options_var=log_path=$reports/report${extra:+:$extra}" \
    swift test --skip-build --scratch-path "$scratch" --sanitize="$kind" --disable-swift-testing >"$log" 2>&1
status=$?
set -e
grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true
found=$(find "$reports" -name 'report.*' -size +0 | sort)
if [ -n "$found" ]; then
    echo "sanitize: sanitizer reports:"
    for f in $found; do echo "== $f"; head -n 40 "$f"; done
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "sanitize: the test run failed (exit $status); failures:"
    grep -E "error: |failed \(" "$log" | head -n 40
    exit 1
fi
echo "sanitize: no $kind sanitizer reports; log kept in $log"
