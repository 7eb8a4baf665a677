#!/usr/bin/env bash
# The test command (README "Run the tests"): installs what the tests need
# when it is missing, then runs every test. Run it as root: the ICMP and
# network-namespace tests need raw sockets and `ip netns`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
command -v prometheus >/dev/null || need+=(prometheus)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v openssl >/dev/null || need+=(openssl)
# The WAL durability test traces the agent's fsyncs.
command -v strace >/dev/null || need+=(strace)
# The status page test drives a real headless browser.
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/run.sh: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
        exit 1
    fi
    echo "tests/run.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packages ship services; nothing here wants them running.
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's packages start their services where systemd runs; the tests
# start their own servers on free ports and must not meet these.
for svc in prometheus victoria-metrics; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doc tests; they go first so that nextest's
    # summary closes the log.
    cargo test --doc
    cargo nextest run --lib --bins --tests --no-fail-fast "$@"
else
    cargo test --lib --bins --tests --no-fail-fast "$@"
fi
