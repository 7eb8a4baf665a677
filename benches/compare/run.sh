#!/usr/bin/env bash
# Sentinel against vmagent, end to end, on loopback: both agents scrape the
# same local /metrics endpoint (metrics_server.py, SERIES gauges) every
# second and remote-write into a real VictoriaMetrics (a fresh one per
# run). Sentinel runs its release binary with its real WAL and shipper
# (a `scrape` task); vmagent runs with -promscrape.config and its
# persistent queue (-remoteWrite.tmpDataPath). Runs alternate A B A B.
#
#   benches/compare/run.sh            (about 14 minutes on 2 cores)
#
# Scenarios, each run with a fresh data directory and a fresh VM:
#   steady  SERIES series every 1 s for STEADY_SECONDS (after WARMUP_SECONDS):
#           CPU seconds (/proc/PID/stat utime+stime), peak RSS (VmHWM),
#           bytes written per sample (/proc/PID/io write_bytes), and, once
#           the endpoint stops answering, samples stored in VM against
#           SERIES x scrapes served.
#   outage  no VM while BACKLOG_SCRAPES scrapes (10,000 x 100 = 1,000,000
#           samples) pile up; the endpoint stops answering, KILL_DELAY
#           seconds later the agent gets kill -9 and is restarted, 1 s
#           later VM starts: seconds from VM up to the last sample arriving,
#           drain rate, CPU, peak RSS, bytes on disk per buffered sample
#           (rates and bytes per sample kept: what arrived in VM),
#           samples lost (served vs distinct samples stored).
#   wire    both scenarios go through wireproxy.py, a counting TCP proxy
#           in front of VictoriaMetrics: wire bytes per sample (request
#           heads and bodies as the agent sends them) steady and draining.
#   idle    side by side for IDLE_SECONDS: Sentinel with one ping task
#           (127.0.0.1 every 10 s), vmagent with one tiny scrape every
#           10 s; RSS and CPU at the end. Plus both binaries' sizes.
#
# Needs: the Debian package victoria-metrics (victoria-metrics and vmagent
# 1.79 in /usr/bin), python3, curl, a release build (cargo build --release).
# Root only for the idle ping (without it Sentinel's ping fails, the agent
# idles all the same). Only 127.0.0.1 is used; ports are picked free.
#
# Knobs (environment): SERIES=10000 STEADY_SECONDS=45 WARMUP_SECONDS=5
# BACKLOG_SCRAPES=100 KILL_DELAY=2 DRAIN_TIMEOUT=120 IDLE_SECONDS=60 ROUNDS=2
# SENTINEL_BIN=target/release/sentinel VMAGENT_BIN=/usr/bin/vmagent
# SENTINEL_CONCURRENCY=4 (requests in flight to VM, as vmagent's 4 queues
# on 2 cores; unset for builds before the key existed)
# VM_BIN=/usr/bin/victoria-metrics OUT=FILE (the raw results, TSV)
# KEEP=1 (keep the temp dir with every log and data dir).
# Part of it: SCENARIOS="steady outage idle" AGENTS="sentinel vmagent"
# SENTINEL_LOG_LEVEL=warn (debug shows every batch delivered).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benches/compare

SERIES=${SERIES:-10000}
STEADY_SECONDS=${STEADY_SECONDS:-45}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
BACKLOG_SCRAPES=${BACKLOG_SCRAPES:-100}
KILL_DELAY=${KILL_DELAY:-2}
IDLE_SECONDS=${IDLE_SECONDS:-60}
ROUNDS=${ROUNDS:-2}
BIN=${SENTINEL_BIN:-target/release/sentinel}
VMAGENT=${VMAGENT_BIN:-/usr/bin/vmagent}
VMBIN=${VM_BIN:-/usr/bin/victoria-metrics}

for tool in python3 curl "$VMAGENT" "$VMBIN"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install victoria-metrics python3 curl)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "build first: cargo build --release (or set SENTINEL_BIN)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/sentinel-compare.XXXXXX)
# A private copy: a rebuild of target/ during the run (another engineer's
# cargo build) must not swap the binary between runs.
cp "$BIN" "$DIR/sentinel"
BIN_SHA=$(sha256sum "$BIN" | cut -c1-16)
BIN="$DIR/sentinel"
RESULTS=${OUT:-$DIR/results.tsv}
: > "$RESULTS"
PIDS=()          # everything started and not yet stopped
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    sleep 1
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept: $DIR" >&2
    else
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() { # PID: drop it from PIDS
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
# Stops a child: SIGTERM, up to 30 s, then SIGKILL.
stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget "$pid"
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
HZ=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
hwm_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
wbytes() { awk '/^write_bytes:/ {print $2}' "/proc/$1/io"; }
calc() { python3 -c "print($1)"; }
record() { # scenario agent round metric value
    printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"
    printf '  %-8s %-8s r%s %-32s %s\n' "$@"
}
now() { date +%s.%N; }

# The endpoint, for the whole run.
MPORT=$(free_port)
python3 "$HERE/metrics_server.py" "$MPORT" "$SERIES" > "$DIR/metrics_server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
srv() { curl -fsS --max-time 5 "http://127.0.0.1:$MPORT/$1"; }
for ((i = 0; i < 100; i++)); do srv count >/dev/null 2>&1 && break; sleep 0.1; done
srv count >/dev/null

VM_PID=""
VM_URL=""
PROXY_PID=""
WIRE_FILE=""
# VictoriaMetrics on a port of its own, behind wireproxy.py on PORT (the
# agents' URL), which counts the bytes they send into DATA_DIR.wire.
# VM_URL (queries) goes to VM directly.
start_vm() { # DATA_DIR PORT
    local vport
    vport=$(free_port)
    "$VMBIN" -storageDataPath="$1" -httpListenAddr="127.0.0.1:$vport" -retentionPeriod=1 \
        -loggerLevel=WARN > "$1.log" 2>&1 &
    VM_PID=$!
    PIDS+=("$VM_PID")
    VM_URL="http://127.0.0.1:$vport"
    WIRE_FILE="$1.wire"
    python3 "$HERE/wireproxy.py" "$2" "$vport" "$WIRE_FILE" > "$1.proxy.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    local i
    for ((i = 0; i < 200; i++)); do
        curl -fs --max-time 1 "http://127.0.0.1:$2/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "VictoriaMetrics (or its proxy) did not start; see $1.log" >&2
    exit 1
}
stop_vm() { stop "$PROXY_PID"; stop "$VM_PID"; }
wire() { cat "$WIRE_FILE"; }

AGENT_PID=""
# start_agent sentinel|vmagent DIR VM_PORT: scrapes the endpoint every 1 s.
start_agent() {
    local kind=$1 dir=$2 vmport=$3
    mkdir -p "$dir"
    if [ "$kind" = sentinel ]; then
        cat > "$dir/config.yaml" <<EOF
sentinel: {name: bench, self_metrics_interval: 0s}
sender:
  flush_interval: 1s
  batch_size: 10000
  direct:
    vm: {url: "http://127.0.0.1:$vmport/api/v1/write"${SENTINEL_CONCURRENCY:+, concurrency: $SENTINEL_CONCURRENCY}}
buffer: {path: $dir/wal, max_size: 2GiB, sync: interval, sync_interval: 1s}
http: {listen: "127.0.0.1:$(free_port)"}
logging: {level: ${SENTINEL_LOG_LEVEL:-warn}, format: text}
tasks:
  - id: bench-scrape
    device_id: bench-exporter
    plugin: scrape
    interval: 1s
    config: {url: "http://127.0.0.1:$MPORT/metrics", timeout: 1s}
EOF
        "$BIN" start -c "$dir/config.yaml" >> "$dir/agent.log" 2>&1 &
    else
        # The same series as Sentinel's, label for label: Sentinel adds
        # sentinel, device_id and task_id to every series and names the job
        # after the task, so vmagent's target carries the same (the bytes
        # on disk and on the wire compare the same data).
        cat > "$dir/scrape.yml" <<EOF
scrape_configs:
  - job_name: bench-scrape
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
        labels: {sentinel: bench, device_id: bench-exporter, task_id: bench-scrape}
EOF
        # maxRowsPerBlock 10000 is also vmagent's default: the same request
        # size as Sentinel's batch_size. Stale markers off, so the frozen
        # endpoint adds no bench_metric samples.
        "$VMAGENT" -promscrape.config="$dir/scrape.yml" \
            -remoteWrite.url="http://127.0.0.1:$vmport/api/v1/write" \
            -remoteWrite.tmpDataPath="$dir/queue" \
            -remoteWrite.maxRowsPerBlock=10000 \
            -promscrape.noStaleMarkers \
            -httpListenAddr="127.0.0.1:$(free_port)" \
            -loggerLevel=WARN >> "$dir/agent.log" 2>&1 &
    fi
    AGENT_PID=$!
    PIDS+=("$AGENT_PID")
}
data_dir_of() { if [ "$1" = sentinel ]; then echo "$2/wal"; else echo "$2/queue"; fi; }

# Waits (at most LIMIT s) until the endpoint served at least N scrapes.
wait_scrapes() {
    local n=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        [ "$(srv count)" -ge "$n" ] && return 0
        sleep 0.1
    done
    echo "  only $(srv count) of $n scrapes served in ${limit}s" >&2
}

steady() { # agent round
    local kind=$1 r=$2 d="$DIR/steady-$1-$2" vmport
    echo "steady: $kind, round $r"
    vmport=$(free_port)
    mkdir -p "$d"
    start_vm "$d/vm" "$vmport"
    srv reset >/dev/null
    start_agent "$kind" "$d/agent" "$vmport"
    sleep "$WARMUP_SECONDS"
    local c0 w0 s0 c1 w1 s1 t0 t1
    local n0 n1
    c0=$(cpu_s "$AGENT_PID"); w0=$(wbytes "$AGENT_PID"); s0=$(srv count); t0=$(now); n0=$(wire)
    sleep "$STEADY_SECONDS"
    c1=$(cpu_s "$AGENT_PID"); w1=$(wbytes "$AGENT_PID"); s1=$(srv count); t1=$(now); n1=$(wire)
    local hwm samples
    hwm=$(hwm_mib "$AGENT_PID")
    samples=$(((s1 - s0) * SERIES))
    srv freeze >/dev/null
    sleep 1.5   # a scrape being answered finishes
    local served expected got
    served=$(srv count)
    expected=$((served * SERIES))
    python3 "$HERE/vmtool.py" watch "$VM_URL" "$expected" 60 > /dev/null
    got=$(python3 "$HERE/vmtool.py" count "$VM_URL")
    stop "$AGENT_PID"
    stop_vm
    record steady "$kind" "$r" window_s "$(calc "round($t1 - $t0, 1)")"
    record steady "$kind" "$r" samples_in_window "$samples"
    record steady "$kind" "$r" cpu_s "$(calc "round($c1 - $c0, 2)")"
    record steady "$kind" "$r" cpu_us_per_sample "$(calc "round(($c1 - $c0) * 1e6 / max($samples, 1), 3)")"
    record steady "$kind" "$r" peak_rss_mib "$hwm"
    record steady "$kind" "$r" disk_write_bytes_per_sample "$(calc "round(($w1 - $w0) / max($samples, 1), 2)")"
    record steady "$kind" "$r" wire_bytes_per_sample "$(calc "round(($n1 - $n0) / max($samples, 1), 2)")"
    record steady "$kind" "$r" samples_expected "$expected"
    record steady "$kind" "$r" samples_stored_distinct "$(echo "$got" | cut -d' ' -f2)"
    record steady "$kind" "$r" samples_missing "$((expected - $(echo "$got" | cut -d' ' -f2)))"
}

outage() { # agent round
    local kind=$1 r=$2 d="$DIR/outage-$1-$2" vmport
    echo "outage: $kind, round $r"
    vmport=$(free_port)   # nothing listens there until the backlog is built
    mkdir -p "$d"
    srv reset >/dev/null
    local tb0 c_build hwm1 w_build du_kill du_after served expected
    tb0=$(now)
    start_agent "$kind" "$d/agent" "$vmport"
    wait_scrapes "$BACKLOG_SCRAPES" $((BACKLOG_SCRAPES + 60))
    srv freeze >/dev/null
    sleep "$KILL_DELAY"
    served=$(srv count)
    expected=$((served * SERIES))
    c_build=$(cpu_s "$AGENT_PID"); hwm1=$(hwm_mib "$AGENT_PID"); w_build=$(wbytes "$AGENT_PID")
    du_kill=$(du -sb "$(data_dir_of "$kind" "$d/agent")" | cut -f1)
    kill -KILL "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null || true
    forget "$AGENT_PID"
    du_after=$(du -sb "$(data_dir_of "$kind" "$d/agent")" | cut -f1)
    start_agent "$kind" "$d/agent" "$vmport"
    sleep 1
    local t_up watch t_first t_last c_drain hwm2 got distinct
    start_vm "$d/vm" "$vmport"
    t_up=$(now)
    watch=$(python3 "$HERE/vmtool.py" watch "$VM_URL" "$expected" "${DRAIN_TIMEOUT:-120}")
    read -r t_first t_last _ <<< "$watch"
    c_drain=$(cpu_s "$AGENT_PID"); hwm2=$(hwm_mib "$AGENT_PID")
    got=$(python3 "$HERE/vmtool.py" count "$VM_URL")
    distinct=$(echo "$got" | cut -d' ' -f2)
    local drain_wire sent
    drain_wire=$(wire)
    # Bytes and rates are per sample the agent kept and sent (what arrived,
    # duplicates included): an agent that loses samples at the kill never
    # wrote or sent those, so dividing by the backlog would flatter it.
    sent=$(echo "$got" | cut -d' ' -f1)
    stop "$AGENT_PID"
    stop_vm
    record outage "$kind" "$r" backlog_samples "$expected"
    record outage "$kind" "$r" build_cpu_s "$c_build"
    record outage "$kind" "$r" build_peak_rss_mib "$hwm1"
    record outage "$kind" "$r" build_write_bytes_per_sample "$(calc "round($w_build / max($sent, 1), 2)")"
    record outage "$kind" "$r" disk_bytes_per_sample_before_kill "$(calc "round($du_kill / max($sent, 1), 2)")"
    record outage "$kind" "$r" disk_bytes_per_sample_after_kill "$(calc "round($du_after / max($sent, 1), 2)")"
    record outage "$kind" "$r" drain_s_from_backend_up "$(calc "round(max($t_last - $t_up, 0), 2)")"
    record outage "$kind" "$r" drain_samples_per_s "$(calc "round($sent / max($t_last - $t_first, 0.1))")"
    record outage "$kind" "$r" drain_cpu_s "$c_drain"
    record outage "$kind" "$r" drain_wire_bytes_per_sample "$(calc "round($drain_wire / max($sent, 1), 2)")"
    record outage "$kind" "$r" drain_peak_rss_mib "$hwm2"
    record outage "$kind" "$r" cpu_us_per_sample_in_plus_out "$(calc "round(($c_build + $c_drain) * 1e6 / max($expected, 1), 3)")"
    record outage "$kind" "$r" samples_stored_distinct "$distinct"
    record outage "$kind" "$r" samples_stored_with_duplicates "$(echo "$got" | cut -d' ' -f1)"
    record outage "$kind" "$r" samples_lost "$((expected - distinct))"
}

idle() {
    local d="$DIR/idle" vmport s_pid v_pid
    echo "idle: both side by side, ${IDLE_SECONDS}s"
    vmport=$(free_port)
    mkdir -p "$d/sentinel" "$d/vmagent"
    start_vm "$d/vm" "$vmport"
    cat > "$d/sentinel/config.yaml" <<EOF
sentinel: {name: bench}
sender:
  direct:
    vm: {url: "http://127.0.0.1:$vmport/api/v1/write"}
buffer: {path: $d/sentinel/wal}
http: {listen: "127.0.0.1:$(free_port)"}
logging: {level: warn, format: text}
tasks:
  - id: ping-localhost
    plugin: ping
    interval: 10s
    config: {host: 127.0.0.1}
EOF
    "$BIN" start -c "$d/sentinel/config.yaml" > "$d/sentinel/agent.log" 2>&1 &
    s_pid=$!
    PIDS+=("$s_pid")
    cat > "$d/vmagent/scrape.yml" <<EOF
scrape_configs:
  - job_name: tiny
    scrape_interval: 10s
    metrics_path: /tiny
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF
    "$VMAGENT" -promscrape.config="$d/vmagent/scrape.yml" \
        -remoteWrite.url="http://127.0.0.1:$vmport/api/v1/write" \
        -remoteWrite.tmpDataPath="$d/vmagent/queue" \
        -httpListenAddr="127.0.0.1:$(free_port)" -loggerLevel=WARN > "$d/vmagent/agent.log" 2>&1 &
    v_pid=$!
    PIDS+=("$v_pid")
    sleep "$IDLE_SECONDS"
    record idle sentinel 1 rss_mib "$(rss_mib "$s_pid")"
    record idle vmagent 1 rss_mib "$(rss_mib "$v_pid")"
    record idle sentinel 1 peak_rss_mib "$(hwm_mib "$s_pid")"
    record idle vmagent 1 peak_rss_mib "$(hwm_mib "$v_pid")"
    record idle sentinel 1 cpu_s "$(cpu_s "$s_pid")"
    record idle vmagent 1 cpu_s "$(cpu_s "$v_pid")"
    stop "$s_pid"
    stop "$v_pid"
    stop_vm
    record binary sentinel 1 size_mib "$(calc "round($(stat -c %s "$BIN") / 1048576, 2)")"
    record binary vmagent 1 size_mib "$(calc "round($(stat -c %s "$(command -v "$VMAGENT")") / 1048576, 2)")"
}

echo "sentinel: $("$BIN" version 2>/dev/null | head -1), sha256 $BIN_SHA...; vmagent: $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo "$VMAGENT")"
echo "SERIES=$SERIES STEADY_SECONDS=$STEADY_SECONDS BACKLOG_SCRAPES=$BACKLOG_SCRAPES KILL_DELAY=$KILL_DELAY IDLE_SECONDS=$IDLE_SECONDS ROUNDS=$ROUNDS; $(nproc) CPUs; temp dir $DIR"
START=$(date +%s)
want() { [[ " ${SCENARIOS:-steady outage idle} " == *" $1 "* ]]; }
for scen in steady outage; do
    want "$scen" || continue
    for ((r = 1; r <= ROUNDS; r++)); do
        for kind in ${AGENTS:-sentinel vmagent}; do
            "$scen" "$kind" "$r"
        done
    done
done
want idle && idle
stop "$SERVER_PID"
echo "done in $(($(date +%s) - START)) s; results: $RESULTS"
python3 "$HERE/summarize.py" "$RESULTS"
