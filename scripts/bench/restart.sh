#!/usr/bin/env bash
# Restart time and resident memory of axisd on an existing data directory: starts `axisd --demo`
# on DIR, times it from exec to the `axisd.ready` log line (journal replayed, queue state folded,
# listeners up), prints its resident memory and what it replayed, then stops it with SIGKILL, so
# every run (after the first) is a restart after a crash.
#
#   scripts/bench/restart.sh DIR [RUNS] [AXISD]      (RUNS default 3; AXISD default .build/release/axisd)
#
# Fill DIR first, for example with about a million queued documents (≈ 8 minutes at 2,000/s):
#   .build/release/axisd --demo --data DIR &           # then, in another shell:
#   .build/release/axis-bench submit --demo-json DIR/demo.json --connections 64 --seconds 500 --warmup-seconds 0
#   kill -9 %1
# Nothing else may be using DIR (axisd takes the journal's lock and would refuse to start).
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${1:?usage: scripts/bench/restart.sh DIR [RUNS] [AXISD]}
runs=${2:-3}
axisd=${3:-.build/release/axisd}
[ -d "$dir/journal" ] || { echo "restart: $dir has no journal/: give a data directory axisd has run on" >&2; exit 64; }
[ -x "$axisd" ] || { echo "restart: $axisd is not built: swift build -c release --product axisd" >&2; exit 64; }

log=$(mktemp /tmp/axis-restart.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -f "$log"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

for run in $(seq 1 "$runs"); do
    : > "$log"
    start=$(now_ms)
    "$axisd" --demo --data "$dir" --listen 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    # Waits for the event, not a fixed time; gives up after 30 minutes or if axisd exits.
    until grep -q 'event=axisd.ready' "$log"; do
        if ! kill -0 "$pid" 2>/dev/null; then echo "restart: axisd exited before it was ready:" >&2; cat "$log" >&2; exit 1; fi
        if [ $(( $(now_ms) - start )) -gt 1800000 ]; then echo "restart: not ready after 30 minutes" >&2; exit 1; fi
        sleep 0.02
    done
    ready=$(( $(now_ms) - start ))
    # CPU seconds axisd used until ready (utime + stime, fields 14 and 15 of /proc/PID/stat, in clock ticks):
    # next to the wall time, it says whether the restart waited for a core or used more than one.
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    replay=$(grep -o 'event=journal.recovered.*' "$log" | grep -o 'records=[0-9]*\|bytes=[0-9]*\|replay_ms=[0-9]*' | tr '\n' ' ')
    documents=$(grep -o 'event=queue.replayed documents=[0-9]*' "$log" | grep -o '[0-9]*$')
    per_document=$(( documents > 0 ? rss * 1024 / documents : 0 ))
    echo "run $run: ready in ${ready} ms (CPU ${cpu} s); ${documents} documents; RSS $((rss / 1024)) MiB (peak $((hwm / 1024)) MiB), ${per_document} bytes per document; ${replay}"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
done
