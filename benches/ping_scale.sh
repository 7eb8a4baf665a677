#!/usr/bin/env bash
# Ping at scale: the agent and fping ping the same 10,000 loopback hosts
# every 10 s, side by side in one run, and each one's CPU time and peak
# memory are read from /proc. Prints the table for BENCHMARKS.md.
#
#   benches/ping_scale.sh [HOSTS] [SECONDS]     (defaults 10000 and 180)
#
# Needs root (raw ICMP for both), fping (`apt-get install fping`) and a
# release build (`cargo build --release`). Only 127.0.0.0/8 is pinged:
# every address in it answers on loopback. The agent runs with no backend
# (samples stay in its WAL, in a temp dir) and its own HTTP listener on a
# free loopback port, so its numbers include the WAL and telemetry, not
# only the pinging.
#
# SENTINEL_BIN=path runs another build (say, a copy of the previous one)
# instead of target/release/sentinel.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${1:-10000}
SECONDS_TO_RUN=${2:-180}
# The first runs (WAL creation, allocations) are not counted.
WARMUP=20
INTERVAL_S=10

command -v fping >/dev/null || { echo "fping is not installed: apt-get install fping" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root: both pingers need raw ICMP sockets" >&2; exit 1; }
BIN=${SENTINEL_BIN:-target/release/sentinel}
[ -x "$BIN" ] || { echo "build first: cargo build --release (or set SENTINEL_BIN)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/sentinel-ping-scale.XXXXXX)
AGENT_PID=""
FPING_PID=""
cleanup() {
    [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
    [ -n "$FPING_PID" ] && kill "$FPING_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

# 10,000 distinct addresses in 127.2.0.0/16 (127.2.0.1 ... 127.2.39.250).
python3 - "$HOSTS" > "$DIR/hosts.txt" <<'EOF'
import sys
n = int(sys.argv[1])
for i in range(n):
    print(f"127.2.{i // 250}.{i % 250 + 1}")
EOF

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
    echo "sentinel: {name: ping-scale-bench}"
    echo "http: {listen: \"127.0.0.1:$PORT\"}"
    echo "logging: {level: warn}"
    echo "buffer: {path: $DIR/wal}"
    echo "tasks:"
    echo "  - id: hub"
    echo "    plugin: ping"
    echo "    interval: ${INTERVAL_S}s"
    echo "    config:"
    echo "      count: 1"
    echo "      timeout: 1s"
    echo "      hosts:"
    sed 's/^/        - /' "$DIR/hosts.txt"
} > "$DIR/config.yaml"

# /proc/PID/stat fields 14 and 15: user and system time in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

"$BIN" start -c "$DIR/config.yaml" > "$DIR/agent.log" 2>&1 &
AGENT_PID=$!
# fping in loop mode: each target every 10 s (-p), packets 0.05 ms apart
# (-i, so a round of 10,000 takes 0.5 s, like the agent's spread), no
# retries, 1 s timeout, quiet.
fping -l -q -p $((INTERVAL_S * 1000)) -i 0.05 -r 0 -t 1000 -f "$DIR/hosts.txt" > "$DIR/fping.log" 2>&1 &
FPING_PID=$!

sleep "$WARMUP"
for pid in "$AGENT_PID" "$FPING_PID"; do
    kill -0 "$pid" 2>/dev/null || { echo "a pinger died; logs:" >&2; tail -5 "$DIR"/*.log >&2; exit 1; }
done
A0=$(ticks "$AGENT_PID"); F0=$(ticks "$FPING_PID")
sleep "$SECONDS_TO_RUN"
A1=$(ticks "$AGENT_PID"); F1=$(ticks "$FPING_PID")
A_HWM=$(hwm_kib "$AGENT_PID"); F_HWM=$(hwm_kib "$FPING_PID")
A_RSS=$(rss_kib "$AGENT_PID"); F_RSS=$(rss_kib "$FPING_PID")

# What the agent measured last: reachable hosts on its own /metrics.
# Lines are `name{labels} value [timestamp]`: the value follows "} ".
UP=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^ping_reachable\{/ {n++; sub(/.*\} /, ""); split($0, f, " "); s += f[1]} END {printf "%d of %d", s, n}')
WAL_KIB=$(du -sk "$DIR/wal" | cut -f1)

per_min() { python3 -c "print(f'{($2 - $1) / $HZ * 60 / $SECONDS_TO_RUN:.2f}')"; }
mib() { python3 -c "print(f'{$1 / 1024:.1f}')"; }
echo
echo "hosts $HOSTS, every ${INTERVAL_S}s, measured over ${SECONDS_TO_RUN}s after ${WARMUP}s warm-up, $(nproc) cores"
echo
echo "| pinger | hosts | interval | CPU s/min | share of one core | peak RSS MiB | RSS at end MiB |"
echo "|---|---|---|---|---|---|---|"
A_CPU=$(per_min "$A0" "$A1"); F_CPU=$(per_min "$F0" "$F1")
share() { python3 -c "print(f'{$1 / 60 * 100:.1f} %')"; }
echo "| sentinel (whole agent) | $HOSTS | ${INTERVAL_S}s | $A_CPU | $(share "$A_CPU") | $(mib "$A_HWM") | $(mib "$A_RSS") |"
echo "| fping -l | $HOSTS | ${INTERVAL_S}s | $F_CPU | $(share "$F_CPU") | $(mib "$F_HWM") | $(mib "$F_RSS") |"
echo
echo "sentinel: ping_reachable=1 for $UP hosts at the end; WAL ${WAL_KIB} KiB"
