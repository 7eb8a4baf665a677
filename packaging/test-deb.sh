#!/usr/bin/env bash
# The package checks (issue 7), run by .ci/run:
#
#   1. static: the unit keeps its required settings, its TimeoutStopSec
#      stays above the agent's DRAIN_TIMEOUT, the changelog's version is
#      Cargo.toml's;
#   2. build the .deb with `cargo deb` (or take the one given as $1);
#   3. lintian: no error and no warning that is not overridden (with a
#      reason) in packaging/lintian-overrides;
#   4. in a throwaway Debian 12 root (debootstrap --variant=minbase), with
#      its own network namespace (only loopback): install with apt, check
#      files, owners and modes, `sentinel --version`, `sentinel check`,
#      the man page; run the agent the way the unit does (user sentinel,
#      CAP_NET_RAW only, no new privileges, $STATE_DIRECTORY) and stop it;
#      upgrade to a higher version whose default config changed, keeping
#      the WAL and the edited config; remove; purge, leaving nothing;
#   5. systemd-analyze verify and security on the installed unit.
#
# Usage (as root): packaging/test-deb.sh [path/to/sentinel_*.deb]
# It installs what it needs (lintian, debootstrap, dpkg-dev, systemd,
# iproute2, cargo-deb) when missing. Everything it starts or mounts it
# stops and removes on exit. SENTINEL_DEB_MIRROR overrides the Debian
# mirror (default: the one apt uses here).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
SUITE=bookworm
START=$SECONDS

step() { printf '\n== test-deb: %s\n' "$*"; }
fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}
pass() {
    PASSED=$((PASSED + 1))
    echo "  ok: $*"
}
PASSED=0
SKIPPED=0

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap, chroot, network namespaces)"

# ---------------------------------------------------------------- tools
step "tools"
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ $# -eq 0 ] && ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    echo "installing cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi

# ---------------------------------------------------------------- static
step "static checks"
UNIT=packaging/sentinel.service
for line in User=sentinel Group=sentinel \
    'ExecStart=/usr/bin/sentinel start -c /etc/sentinel/config.yaml' \
    'ExecReload=/bin/kill -HUP $MAINPID' \
    AmbientCapabilities=CAP_NET_RAW CapabilityBoundingSet=CAP_NET_RAW \
    NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    StateDirectory=sentinel Restart=always; do
    grep -qxF "$line" "$UNIT" || fail "$UNIT lacks the line: $line"
done
if grep -Eq '^(AmbientCapabilities|CapabilityBoundingSet)=' "$UNIT" &&
    [ "$(grep -Ec '^(AmbientCapabilities|CapabilityBoundingSet)=' "$UNIT")" -ne 2 ]; then
    fail "$UNIT: one AmbientCapabilities= and one CapabilityBoundingSet= line, CAP_NET_RAW only"
fi
pass "unit has its required settings"

drain=$(sed -nE 's/^pub const DRAIN_TIMEOUT: Duration = Duration::from_secs\(([0-9]+)\);.*/\1/p' src/supervisor/mod.rs)
[ -n "$drain" ] || fail "cannot read DRAIN_TIMEOUT (Duration::from_secs(N)) in src/supervisor/mod.rs: update this check"
stop=$(sed -nE 's/^TimeoutStopSec=([0-9]+)s?$/\1/p' "$UNIT")
[ -n "$stop" ] || fail "$UNIT: TimeoutStopSec=<seconds> missing"
# The stop also flushes the WAL twice and gives each drain 1 s of slack.
[ "$stop" -ge $((drain + 10)) ] ||
    fail "TimeoutStopSec=${stop}s must be at least DRAIN_TIMEOUT (${drain}s) + 10s"
pass "TimeoutStopSec=${stop}s > DRAIN_TIMEOUT ${drain}s + 10s"

cargo_version=$(sed -nE '0,/^version = "(.*)"/s//\1/p' Cargo.toml)
changelog_version=$(sed -nE '1s/^sentinel \(([^)]*)\).*/\1/p' packaging/changelog)
[ "${changelog_version%-*}" = "$cargo_version" ] ||
    fail "packaging/changelog's top entry is $changelog_version but Cargo.toml says $cargo_version: add a changelog entry"
pass "changelog $changelog_version matches Cargo.toml $cargo_version"

# ---------------------------------------------------------------- build
WORK=$(mktemp -d /tmp/sentinel-deb.XXXXXX)
ROOT=$WORK/root
NS=sentinel-deb-$$
AGENT_PID=

cleanup() {
    local rc=$?
    set +e
    if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
        kill -KILL "$AGENT_PID"
        wait "$AGENT_PID" 2>/dev/null
    fi
    ip netns del "$NS" 2>/dev/null
    # Every mount under the root, deepest first.
    awk -v r="$ROOT" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m"; done
    if awk -v r="$ROOT" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "test-deb: mounts left under $ROOT; not removing $WORK" >&2
    else
        rm -rf --one-file-system "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ $# -gt 0 ]; then
    DEB=$(realpath "$1")
    step "package $DEB (given)"
else
    step "cargo deb --locked"
    t=$SECONDS
    out=$(cargo deb --locked) || fail "cargo deb failed"
    DEB=$(printf '%s\n' "$out" | tail -n1)
    echo "built in $((SECONDS - t)) s"
fi
[ -f "$DEB" ] || fail "no package at $DEB"
V1=$(dpkg-deb -f "$DEB" Version)
ARCH=$(dpkg-deb -f "$DEB" Architecture)
[ "${V1%-*}" = "$cargo_version" ] || fail "package version $V1 is not Cargo.toml's $cargo_version"
echo "package: $(basename "$DEB"), $(stat -c %s "$DEB") bytes, Installed-Size $(dpkg-deb -f "$DEB" Installed-Size) KiB"
echo "Depends: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb -f "$DEB" Depends | grep -q 'libc6' || fail "Depends has no libc6: were dependencies computed?"
pass "version $V1, dependencies computed"

# The upgrade: the same binary at the next revision, whose default config
# changed (so dpkg must keep the administrator's edited one).
upstream=${V1%-*}
rev=${V1##*-}
[[ "$rev" =~ ^[0-9]+$ ]] || fail "revision $rev of $V1 is not a number"
V2="$upstream-$((rev + 1))"
if [ $# -eq 0 ]; then
    # cargo-deb deletes the earlier package of target/debian when it makes
    # this one: keep a copy and put it back.
    cp -p "$DEB" "$WORK/v1.deb"
    cargo deb --locked --no-build --deb-version "$V2" -o "$WORK/base-v2.deb" >/dev/null
    cp -p "$WORK/v1.deb" "$DEB"
else
    cp "$DEB" "$WORK/base-v2.deb"
fi
dpkg-deb -R "$WORK/base-v2.deb" "$WORK/v2"
sed -i "s/^Version: .*/Version: $V2/" "$WORK/v2/DEBIAN/control"
printf '\n# A line added by version %s of the default config.\n' "$V2" >>"$WORK/v2/etc/sentinel/config.yaml"
DEB2=$WORK/sentinel_${V2}_$ARCH.deb
dpkg-deb --root-owner-group -b "$WORK/v2" "$DEB2" >/dev/null
[ "$(dpkg-deb -f "$DEB2" Version)" = "$V2" ] || fail "upgrade package has the wrong version"

# ---------------------------------------------------------------- lintian
step "lintian"
lintian_out=$(lintian --fail-on error,warning --display-info "$DEB" 2>&1 | { grep -v 'running with root privileges' || true; }) ||
    { printf '%s\n' "$lintian_out"; fail "lintian found errors or warnings (fix them, or override with a reason in packaging/lintian-overrides)"; }
printf '%s\n' "${lintian_out:-(no tags)}"
pass "lintian: no errors, no warnings beyond packaging/lintian-overrides"

# ---------------------------------------------------------------- root
step "Debian 12 root (debootstrap --variant=minbase $SUITE)"
mirror=${SENTINEL_DEB_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
echo "mirror: $mirror"
t=$SECONDS
debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
echo "debootstrap: $((SECONDS - t)) s"
mount -t proc proc "$ROOT/proc"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

# Run in the root; `net` runs it in the namespace that has only loopback,
# so nothing here can reach, or be reached by, a backend on this machine.
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
net() { ip netns exec "$NS" chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
owner_mode() { in_root stat -c '%U:%G %a' "$1"; }
expect_owner_mode() {
    local got
    got=$(owner_mode "$1") || fail "$1 is missing"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
    pass "$1 $2"
}
# The unit's privileges: user sentinel, CAP_NET_RAW only, no new
# privileges, $STATE_DIRECTORY, UMask=0027 (the rest of the unit's
# sandboxing is systemd's own). A plain command, so that `&` and $! give
# the agent's own pid (ip, chroot, env and setpriv each exec the next).
# shellcheck disable=SC2054 # the commas belong to setpriv's capability lists
AS_SERVICE=(ip netns exec "$NS" chroot "$ROOT"
    env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 STATE_DIRECTORY=/var/lib/sentinel LOGS_DIRECTORY=/var/log/sentinel
    setpriv --reuid=sentinel --regid=sentinel --init-groups
    --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw --bounding-set=-all,+net_raw --no-new-privs)
as_service() { (umask 027 && exec "${AS_SERVICE[@]}" "$@"); }
http_get() { # path -> body, from the agent in the namespace (no curl in the root)
    ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9851 && printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$1" >&3 && cat <&3' _ "$1"
}

cp "$DEB" "$DEB2" "$ROOT/tmp/"
chmod 644 "$ROOT/tmp/"*.deb
in_root apt-get update -qq >/dev/null

# ---------------------------------------------------------------- install
step "install $V1 (apt resolves Depends; no systemd running)"
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$DEB")" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; fail "apt-get install failed"; }
if grep -Ei 'not found|error|warn|fail|denied|cannot' "$WORK/install.log"; then
    fail "the install complained (above)"
fi
pass "installed quietly in a root without systemd"

[ "$(in_root dpkg-query -W -f '${Status} ${Version}' sentinel)" = "install ok installed $V1" ] || fail "dpkg does not show sentinel $V1 installed"
out=$(in_root sentinel --version)
[ "$out" = "sentinel $upstream" ] || fail "sentinel --version printed '$out', expected 'sentinel $upstream'"
pass "sentinel --version: $out"

in_root getent passwd sentinel >/dev/null || fail "no user sentinel"
in_root getent group sentinel >/dev/null || fail "no group sentinel"
uid=$(in_root id -u sentinel)
[ "$uid" -lt 1000 ] || fail "sentinel has uid $uid: not a system user"
shell=$(in_root getent passwd sentinel | cut -d: -f7)
[ "$shell" = /usr/sbin/nologin ] || fail "sentinel's shell is $shell"
pass "system user sentinel (uid $uid, $shell)"

expect_owner_mode /usr/bin/sentinel "root:root 755"
expect_owner_mode /etc/sentinel/config.yaml "root:sentinel 640"
expect_owner_mode /var/lib/sentinel "sentinel:sentinel 750"
expect_owner_mode /usr/lib/systemd/system/sentinel.service "root:root 644"
for f in /usr/share/doc/sentinel/config.example.yaml /usr/share/doc/sentinel/README.md \
    /usr/share/doc/sentinel/copyright /usr/share/doc/sentinel/changelog.Debian.gz \
    /usr/share/man/man1/sentinel.1.gz; do
    [ -f "$ROOT$f" ] || fail "$f missing"
done
pass "docs, example config, copyright, changelog, man page"
grep -qx /etc/sentinel/config.yaml "$ROOT/var/lib/dpkg/info/sentinel.conffiles" || fail "config.yaml is not a conffile"
pass "/etc/sentinel/config.yaml is a conffile"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/sentinel.service" ] ||
    fail "sentinel.service is not enabled (no multi-user.target.wants link)"
pass "sentinel.service enabled for multi-user.target (starts when the image boots)"

# Every command of `sentinel --help` has an entry (.B/.BR/.BI line) in
# the man page.
man=$(zcat "$ROOT/usr/share/man/man1/sentinel.1.gz" | sed 's/\\-/-/g')
cmds=$(in_root sentinel --help | sed -n '/^Commands:/,/^$/p' | awk 'NF && !/^Commands:/ { print $1 }' | grep -vx help)
[ -n "$cmds" ] || fail "no commands found in sentinel --help"
for c in $cmds; do
    printf '%s\n' "$man" | grep -qE "^\.B[RI]? \"?$c( |\"|$)" ||
        fail "the man page (packaging/sentinel.1) has no entry for \`sentinel $c\`"
done
pass "man page names every command: ${cmds//$'\n'/ }"

# ---------------------------------------------------------------- check
step "sentinel check"
out=$(in_root sentinel check --offline -c /etc/sentinel/config.yaml) ||
    { echo "$out"; fail "the installed config does not load"; }
pass "installed config loads: $(printf '%s' "$out" | head -n1)"
set +e
out=$(net sentinel check -c /etc/sentinel/config.yaml 2>&1)
rc=$?
set -e
printf '%s\n' "$out" | sed 's/^/  | /'
[ "$rc" -eq 1 ] || fail "sentinel check with no backend exited $rc, expected 1"
printf '%s\n' "$out" | grep -q 'connection refused by 127.0.0.1:8428: is the backend running' ||
    fail "sentinel check does not explain the refused connection"
pass "sentinel check exits 1 and explains the refused connection"

# ---------------------------------------------------------------- run
step "run the agent as the unit does (user sentinel, CAP_NET_RAW only)"
umask 027
"${AS_SERVICE[@]}" /usr/bin/sentinel start -c /etc/sentinel/config.yaml >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
umask 022
[ "$(cat "/proc/$AGENT_PID/comm" 2>/dev/null)" != bash ] || fail "\$! is a subshell, not the agent"
metrics=
for _ in $(seq 1 50); do
    metrics=$(http_get /metrics 2>/dev/null || true)
    printf '%s\n' "$metrics" | grep -qE '^ping_reachable\{.*\} 1( |$)' && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log"; fail "the agent exited"; }
    sleep 0.2
done
printf '%s\n' "$metrics" | grep -qE '^ping_reachable\{.*\} 1( |$)' ||
    { cat "$WORK/agent.log"; printf '%s\n' "$metrics" | tail -n 20; fail "no successful ping in /metrics within 10 s"; }
pass "ping works with CAP_NET_RAW alone: $(printf '%s\n' "$metrics" | grep -m1 -E '^ping_reachable\{')"
stats=$(net sentinel wal stats -c /etc/sentinel/config.yaml) || { echo "$stats"; fail "sentinel wal stats failed"; }
printf '%s\n' "$stats" | sed 's/^/  | /'
printf '%s\n' "$stats" | grep -qE 'backlog [1-9][0-9]* samples' || fail "no backlog in the WAL while the backend is down"
pass "samples wait in the WAL for the absent backend"
expect_owner_mode /var/lib/sentinel/wal "sentinel:sentinel 750"
t0=$(date +%s%N)
kill -TERM "$AGENT_PID"
set +e
wait "$AGENT_PID"
rc=$?
set -e
AGENT_PID=
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 0 ] || { cat "$WORK/agent.log"; fail "the agent exited $rc on SIGTERM"; }
grep -q 'Sender stopped' "$WORK/agent.log" || { cat "$WORK/agent.log"; fail "no 'Sender stopped' line at stop"; }
[ "$ms" -lt $((stop * 1000)) ] || fail "the stop took ${ms} ms, more than TimeoutStopSec=${stop}s"
pass "SIGTERM: clean exit in ${ms} ms (TimeoutStopSec=${stop}s)"
if grep -q '"level":"ERROR"' "$WORK/agent.log"; then
    grep '"level":"ERROR"' "$WORK/agent.log"
    fail "the agent logged errors"
fi

# ---------------------------------------------------------------- upgrade
step "upgrade $V1 -> $V2 (edited config, planted WAL file)"
sed -i 's/^    interval: 30s$/    interval: 20s/' "$ROOT/etc/sentinel/config.yaml"
grep -q '^    interval: 20s$' "$ROOT/etc/sentinel/config.yaml" || fail "could not edit the config"
echo "planted by test-deb" >"$ROOT/var/lib/sentinel/planted-wal"
in_root chown sentinel:sentinel /var/lib/sentinel/planted-wal
# (wal stats opens the WAL, so it goes before the checksums.)
backlog_before=$(as_service /usr/bin/sentinel wal stats --json -c /etc/sentinel/config.yaml | grep -Eo '"pending_samples": *[0-9]+' | head -n1)
sum_before=$(cd "$ROOT/var/lib/sentinel" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
conf_before=$(sha256sum <"$ROOT/etc/sentinel/config.yaml")
in_root apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
    "/tmp/$(basename "$DEB2")" >"$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log"; fail "upgrade failed"; }
[ "$(in_root dpkg-query -W -f '${Version}' sentinel)" = "$V2" ] || fail "$V2 is not installed after the upgrade"
pass "upgraded to $V2"
[ "$(sha256sum <"$ROOT/etc/sentinel/config.yaml")" = "$conf_before" ] || fail "the upgrade changed the edited config"
[ -f "$ROOT/etc/sentinel/config.yaml.dpkg-dist" ] || fail "the new default config was not set aside as config.yaml.dpkg-dist"
pass "edited config kept; the new default is config.yaml.dpkg-dist"
expect_owner_mode /etc/sentinel/config.yaml "root:sentinel 640"
[ "$(cd "$ROOT/var/lib/sentinel" && find . -type f -print0 | sort -z | xargs -0 sha256sum)" = "$sum_before" ] ||
    fail "the upgrade changed files under /var/lib/sentinel"
pass "WAL and planted file unchanged ($(find "$ROOT/var/lib/sentinel" -type f | wc -l) files)"
expect_owner_mode /var/lib/sentinel "sentinel:sentinel 750"
backlog_after=$(as_service /usr/bin/sentinel wal stats --json -c /etc/sentinel/config.yaml | grep -Eo '"pending_samples": *[0-9]+' | head -n1)
[ -n "$backlog_before" ] && [ "$backlog_after" = "$backlog_before" ] ||
    fail "WAL backlog before the upgrade '$backlog_before', after '$backlog_after'"
pass "the new version reads the old WAL: $backlog_after"
[ "$(in_root id -u sentinel)" = "$uid" ] || fail "the upgrade changed sentinel's uid"

# ---------------------------------------------------------------- systemd
step "systemd-analyze (systemd installed in the root, not running)"
if in_root apt-get install -y -qq --no-install-recommends systemd >"$WORK/systemd.log" 2>&1; then
    # The man page is checked by lintian above; man-db is not in the root.
    if out=$(in_root systemd-analyze verify --man=no sentinel.service 2>&1); then
        pass "systemd-analyze verify sentinel.service${out:+: $out}"
    else
        printf '%s\n' "$out"
        fail "systemd-analyze verify sentinel.service"
    fi
    sec=$(in_root systemd-analyze security --offline=yes /usr/lib/systemd/system/sentinel.service 2>&1 | tail -n1)
    echo "  systemd-analyze security: $sec"
else
    tail -n 5 "$WORK/systemd.log"
    echo "  SKIP systemd-analyze verify: could not install systemd in the root (see above)"
    SKIPPED=$((SKIPPED + 1))
fi

# ---------------------------------------------------------------- remove
step "remove (keeps config, WAL and user)"
in_root apt-get remove -y -qq sentinel >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; fail "remove failed"; }
[ ! -e "$ROOT/usr/bin/sentinel" ] || fail "/usr/bin/sentinel left after remove"
[ -f "$ROOT/etc/sentinel/config.yaml" ] && [ -f "$ROOT/var/lib/sentinel/planted-wal" ] &&
    in_root getent passwd sentinel >/dev/null || fail "remove lost the config, the WAL or the user"
pass "removed; config, WAL and user kept"

step "purge"
in_root apt-get purge -y -qq sentinel >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "purge failed"; }
grep -i 'warning' "$WORK/purge.log" && fail "purge warned (above)"
for p in /etc/sentinel /var/lib/sentinel /var/log/sentinel /usr/bin/sentinel \
    /usr/lib/systemd/system/sentinel.service /etc/systemd/system/multi-user.target.wants/sentinel.service \
    /usr/share/doc/sentinel /var/lib/systemd/deb-systemd-helper-enabled/sentinel.service.dsh-also; do
    [ ! -e "$ROOT$p" ] && [ ! -L "$ROOT$p" ] || fail "$p left after purge"
done
! in_root getent passwd sentinel >/dev/null || fail "user sentinel left after purge"
! in_root getent group sentinel >/dev/null || fail "group sentinel left after purge"
! in_root dpkg-query -W -f '${Status}\n' sentinel 2>/dev/null | grep -q installed || fail "dpkg still lists sentinel"
left=$(find "$ROOT/etc" "$ROOT/var" "$ROOT/usr" -name '*sentinel*' 2>/dev/null | sed "s|^$ROOT||" || true)
[ -z "$left" ] || fail "left after purge: $left"
pass "purge left nothing (no /etc/sentinel, /var/lib/sentinel, user or group)"

echo
echo "test-deb: took $((SECONDS - START)) s"
if [ "$SKIPPED" -gt 0 ]; then
    echo "test-deb: $PASSED passed, 0 failed, $SKIPPED skipped"
else
    echo "test-deb: $PASSED passed, 0 failed"
fi
