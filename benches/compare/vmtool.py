#!/usr/bin/env python3
"""Questions to the VictoriaMetrics of the comparison (run.sh), loopback only.

    vmtool.py count VM_URL
        Flushes VM's buffers, exports every bench_metric_* series and prints
        "POINTS DISTINCT SERIES": all stored points, distinct (series,
        timestamp) pairs (a resent batch stores duplicates), series.
    vmtool.py rows VM_URL
        vm_rows_inserted_total{type="promremotewrite"} now.
    vmtool.py watch VM_URL TARGET TIMEOUT
        Polls that counter every 0.1 s. A rise of more than MIN_STEP rows
        (1000) between two polls is data arriving (smaller rises are an
        agent's own few samples per failed scrape). Stops 2 s after the
        last arrival once the counter reached TARGET, 10 s after it when it
        did not (samples lost), or after TIMEOUT seconds. Prints "T_FIRST
        T_LAST ROWS": Unix times of the first and last arrival seen, and
        the final counter.
"""
import json
import sys
import time
import urllib.parse
import urllib.request


def rows(base):
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('vm_rows_inserted_total{type="promremotewrite"}'):
                return int(float(line.split()[-1]))
    return 0


def count(base):
    try:
        urllib.request.urlopen(base + "/internal/force_flush", timeout=10).read()
    except OSError:
        pass
    q = urllib.parse.urlencode({"match[]": '{__name__=~"bench_metric_.*"}'})
    points = 0
    stamps = {}
    with urllib.request.urlopen(f"{base}/api/v1/export?{q}", timeout=120) as r:
        for line in r:
            obj = json.loads(line)
            key = tuple(sorted(obj["metric"].items()))
            points += len(obj["timestamps"])
            stamps.setdefault(key, set()).update(obj["timestamps"])
    distinct = sum(len(s) for s in stamps.values())
    print(points, distinct, len(stamps))


MIN_STEP = 1000


def watch(base, target, timeout):
    start = time.time()
    last_val = 0  # a fresh VM starts at 0
    t_first = t_last = None
    while True:
        now = time.time()
        try:
            v = rows(base)
        except OSError:
            v = None
        if v is not None:
            if v - last_val > MIN_STEP:
                t_first = t_first or now
                t_last = now
            last_val = v
        if t_last is not None:
            quiet = now - t_last
            if (last_val >= target and quiet >= 2) or quiet >= 10:
                break
        if now - start >= timeout:
            break
        time.sleep(0.1)
    print(f"{t_first or 0:.3f} {t_last or 0:.3f} {last_val}")


if __name__ == "__main__":
    cmd, base = sys.argv[1], sys.argv[2].rstrip("/")
    if cmd == "count":
        count(base)
    elif cmd == "rows":
        print(rows(base))
    elif cmd == "watch":
        watch(base, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(f"unknown command {cmd}")
