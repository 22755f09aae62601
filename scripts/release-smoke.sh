#!/usr/bin/env bash
# The static release binary, as the quick start installs it: a daemon in its own dirs, a
# busybox image, a container, and --init (berth's own init, which only a static build
# runs). CI tests the debug build everywhere else; this once broke only in release.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=$(./scripts/build-release.sh)
W=$(mktemp -d /tmp/berth-smoke.XXXX)
DPID=
cleanup() {
    set +e
    if [ -n "$DPID" ]; then
        for id in $(BERTH_HOST=unix://$W/run/berth.sock "$BERTH" ps -aq 2>/dev/null); do
            BERTH_HOST=unix://$W/run/berth.sock "$BERTH" rm -f "$id" >/dev/null 2>&1
        done
        kill "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
    fi
    for d in /sys/fs/cgroup/*/berth-smoke-$$ /sys/fs/cgroup/berth-smoke-$$; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    # Its own default bridge, which berth leaves in place as dockerd leaves docker0.
    ip link del bsm$$ 2>/dev/null
    nft delete table ip berth_bsm$$ 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
"$BERTH" daemon --data-root "$W/data" --exec-root "$W/run" --cgroup-parent "/berth-smoke-$$" --bridge bsm$$ --bip "10.250.$(($$ % 250)).1/24" --ip-forward=false >"$W/daemon.log" 2>&1 &
DPID=$!
export BERTH_HOST=unix://$W/run/berth.sock
for _ in $(seq 100); do [ -S "$W/run/berth.sock" ] && break; sleep 0.05; done
if ! "$BERTH" version >/dev/null 2>&1; then
    echo "release smoke: the daemon did not start:" >&2
    cat "$W/daemon.log" >&2
    exit 1
fi
BERTH=$BERTH ./scripts/make-busybox-image.sh >/dev/null
fail=0
check() {
    local want=$1; shift
    local got
    got=$("$@" 2>&1) || true
    if [ "$got" = "$want" ]; then
        echo "ok: $*"
    else
        echo "FAILED: $* gave '$got', wanted '$want'"
        fail=$((fail + 1))
    fi
}
check hello "$BERTH" run --rm busybox echo hello
check docker-init "$BERTH" run --rm --init busybox cat /proc/1/comm
check 3 sh -c "\"$BERTH\" run --rm --init busybox sh -c 'exit 3'; echo \$?"
passed=$((3 - fail))
echo "smoke: $passed passed, $fail failed"
[ "$fail" = 0 ]
