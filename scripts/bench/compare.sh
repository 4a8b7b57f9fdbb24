#!/usr/bin/env bash
# Side-by-side durable accepts/s on this machine, in one run: Redis (AOF, appendfsync always, XADD of a
# 4 KiB field, 50 clients), Postfix (SMTP into the hold queue, 4 KiB messages, 16 sessions) and axisd
# (signed 4 KiB documents over TLS, every signature verified, each answered once journaled and synced).
# Prints one table with each system's accepts/s and the ratio Axis / peer.
#
#   scripts/bench/compare.sh [SECONDS]        (default 20 s per system; needs root for apt and Postfix)
#
# Installs redis-server, redis-tools and postfix with apt when missing. Starts each peer on loopback
# with its own temporary data (nothing system-wide is configured or started), stops what it started by
# PID and removes its temporary data on exit. The load generators run on the same machine, as the
# issue asks: their CPU is part of every figure.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-20}
work=$(mktemp -d /tmp/axis-compare.XXXXXX)
chmod 755 "$work"  # Postfix's daemons run as the postfix user and must reach their directories
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -f "$work/postfix/conf/main.cf" ]; then postfix -c "$work/postfix/conf" stop >/dev/null 2>&1 || true; fi
    # Put the system's main.cf back as it was (see the Postfix section).
    if [ -f "$work/main.cf.saved" ]; then cp "$work/main.cf.saved" /etc/postfix/main.cf; elif [ -f "$work/main.cf.created" ]; then rm -f /etc/postfix/main.cf; fi
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v smtp-source >/dev/null || need+=(postfix)
if [ ${#need[@]} -gt 0 ]; then
    echo "compare: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The packages may start their system services: stop them so they do not compete for the cores.
service redis-server stop >/dev/null 2>&1 || true
service postfix stop >/dev/null 2>&1 || true

now() { date +%s.%N; }

# --- Redis: AOF with fsync on every write, XADD of one 4 KiB field --------------------------------------
echo "compare: redis (appendonly yes, appendfsync always), redis-benchmark -c 50 XADD 4 KiB, ${seconds} s"
mkdir -p "$work/redis"
redis-server --port 6391 --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always --save '' \
    --daemonize no --logfile "$work/redis/log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p 6391 ping >/dev/null 2>&1 && break; sleep 0.1; done
field=$(head -c 4096 /dev/zero | tr '\0' x)
# A first short run measures the rate; the second runs for about SECONDS at it.
probe=$(redis-benchmark -p 6391 -c 50 -n 20000 --csv XADD bench '*' f "$field" | tail -1 | cut -d'"' -f4)
requests=$(python3 -c "print(max(20000, int(float('$probe') * $seconds)))")
start=$(now)
redis-benchmark -p 6391 -c 50 -n "$requests" --csv XADD bench '*' f "$field" > "$work/redis/result.csv"
end=$(now)
redis_rate=$(tail -1 "$work/redis/result.csv" | cut -d'"' -f4)
redis_len=$(redis-cli -p 6391 XLEN bench)
echo "compare: redis ${requests} XADDs in $(python3 -c "print(round($end - $start, 1))") s, ${redis_rate}/s, stream length ${redis_len}"

# --- Postfix: SMTP into the hold queue ------------------------------------------------------------------
echo "compare: postfix (smtpd → hold queue, fsync'd queue files), smtp-source -s 16 4 KiB, ${seconds} s"
conf="$work/postfix/conf"
mkdir -p "$conf" "$work/postfix/spool" "$work/postfix/data"
cp /etc/postfix/master.cf "$conf/"
cat > "$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $work/postfix/spool
data_directory = $work/postfix/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = axis-compare.localdomain
mydestination =
mynetworks = 127.0.0.0/8
# Every message accepted goes to the hold queue: durable (queue file synced before 250), never delivered.
smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 100
maillog_file = $work/postfix/maillog
maillog_file_prefixes = /tmp
EOF
# The SMTP listener on a free loopback port instead of 25; no chroot (the spool is a temporary directory).
sed -i -e 's/^smtp \(.*inet.*smtpd\)$/127.0.0.1:2526 \1/' "$conf/master.cf"
postconf -c "$conf" -F '*/*/chroot = n'
chown postfix "$work/postfix/data"
# Postfix runs only configuration directories the default main.cf names: name ours there for the run
# (restored on exit), rather than configure or start the system's own instance.
if [ -f /etc/postfix/main.cf ]; then cp /etc/postfix/main.cf "$work/main.cf.saved"; else touch "$work/main.cf.created"; fi
echo "alternate_config_directories = $conf" >> /etc/postfix/main.cf
postfix -c "$conf" set-permissions >/dev/null 2>&1 || true
# Postfix reports its own problems to its log, not the terminal: show the log when it will not start.
if ! postfix -c "$conf" start >/dev/null 2>&1; then
    echo "compare: postfix did not start:" >&2
    tail -5 "$work/postfix/maillog" >&2 || true
    exit 1
fi
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/2526) 2>/dev/null && break; sleep 0.1; done
probe_count=2000
start=$(now)
smtp-source -s 16 -l 4096 -m "$probe_count" -f bench@axis-compare -t hold@axis-compare 127.0.0.1:2526
end=$(now)
postfix_probe=$(python3 -c "print($probe_count / ($end - $start))")
count=$(python3 -c "print(max(2000, int($postfix_probe * $seconds)))")
start=$(now)
smtp-source -s 16 -l 4096 -m "$count" -f bench@axis-compare -t hold@axis-compare 127.0.0.1:2526
end=$(now)
postfix_rate=$(python3 -c "print(round($count / ($end - $start)))")
held=$(find "$work/postfix/spool/hold" -type f | wc -l)
echo "compare: postfix ${count} messages in $(python3 -c "print(round($end - $start, 1))") s, ${postfix_rate}/s, hold queue $held files"
postfix -c "$conf" stop >/dev/null

# --- Axis: signed documents over TLS, verified, journaled, receipted -----------------------------------
echo "compare: axisd (release), axis-bench submit --connections 50, ${seconds} s"
swift build -c release --product axisd >/dev/null
swift build -c release --product axis-bench >/dev/null
bin=$(swift build -c release --show-bin-path)
"$bin/axis-bench" submit --start-demo --dir "$work" --connections 50 --seconds "$seconds" --json > "$work/axis.json"
axis_rate=$(python3 -c "import json; print(round(json.load(open('$work/axis.json'))['acceptedPerSecond']))")
axis_errors=$(python3 -c "import json; print(sum(json.load(open('$work/axis.json'))['errors'].values()))")
echo "compare: axis ${axis_rate}/s, errors ${axis_errors}"

# --- The table ------------------------------------------------------------------------------------------
python3 - "$redis_rate" "$postfix_rate" "$axis_rate" "$seconds" <<'EOF'
import sys, os, datetime
redis, postfix, axis, seconds = (float(a) for a in sys.argv[1:5])
cores = os.cpu_count()
print()
print(f"Durable accepts/s, {datetime.date.today()}, {cores} cores, generators on the same machine, {int(seconds)} s each")
print(f"{'system':<58} {'accepts/s':>10} {'Axis / peer':>12}")
print(f"{'Redis 7 XADD 4 KiB, appendfsync always, 50 clients':<58} {redis:>10.0f} {axis / redis:>11.2f}x")
print(f"{'Postfix 3.7 SMTP → hold queue, 4 KiB, 16 sessions':<58} {postfix:>10.0f} {axis / postfix:>11.2f}x")
print(f"{'Axis: signed 4 KiB over TLS, verified, journaled, receipted':<58} {axis:>10.0f} {'':>12}")
EOF
