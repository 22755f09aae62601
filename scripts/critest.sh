#!/usr/bin/env bash
# Kubernetes' CRI conformance suite (critest, from sigs.k8s.io/cri-tools) against berth's
# CRI socket, with a summary of passed, failed and skipped specs.
#   scripts/critest.sh [critest args...]     (BERTH=path/to/berth; default: release build)
# Everything runs in a network namespace of its own: the daemon, its CNI bridge, a
# registry on loopback holding the images critest names (scripts/critest-images.sh) and
# critest itself. The daemon reaches the images through --registry-mirror; a pull the
# mirror cannot serve (critest's digest-pinned image) fails in the namespace instead of
# reaching gcr.io. Nothing leaves the machine, and the bridge, its nftables/iptables
# rules and forwarding vanish with the namespace.
# Skipped: AppArmor, SELinux and Windows specs (the issue's scope), and what the report
# below lists. Output: $CRITEST_OUT (default /tmp/berth-critest.log) and its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BERTH_CRITEST_NETNS:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "critest needs root (namespaces, cgroups, mounts)" >&2; exit 1; }
    ./scripts/build-peers.sh >/dev/null
    BERTH=${BERTH:-$(./scripts/build-release.sh)}
    # Fetched out here: the namespace below has no way out.
    cache=/var/cache/berth/critest
    mkdir -p "$cache"
    BUSYBOX_DEB=$(ls "$cache"/busybox_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$BUSYBOX_DEB" ]; then
        (cd "$cache" && apt-get download -q busybox >/dev/null)
        BUSYBOX_DEB=$(ls "$cache"/busybox_*.deb | head -1)
    fi
    export BERTH BUSYBOX_DEB BERTH_CRITEST_NETNS=1
    exec unshare --net -- "$0" "$@"
fi

OUT=${CRITEST_OUT:-/tmp/berth-critest.log}
W=$(mktemp -d /tmp/berth-critest.XXXX)
chmod 0755 "$W"
CG=berth-critest-$$
DPID= RPID=
cleanup() {
    set +e
    if [ -S "$W/cri.sock" ]; then
        crictl --config /dev/null -r "unix://$W/cri.sock" -i "unix://$W/cri.sock" rmp -af >/dev/null 2>&1
    fi
    if [ -S "$W/engine.sock" ]; then
        ids=$("$BERTH" -H "unix://$W/engine.sock" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$ids" ] && "$BERTH" -H "unix://$W/engine.sock" rm -f $ids >/dev/null 2>&1
    fi
    for p in $RPID $DPID; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    # critest's HostIpc specs make 1 MiB System V segments on the host (ipcmk -M 1048576)
    # and leave them: the ones that appeared during the run are removed.
    awk 'NR > 1 && $4 == 1048576 {print $2}' /proc/sysvipc/shm | sort | comm -13 "$W/shm-before" - \
        | xargs -r -n1 ipcrm -m 2>/dev/null
    grep -o " $W[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
ip link set lo up
awk 'NR > 1 && $4 == 1048576 {print $2}' /proc/sysvipc/shm | sort >"$W/shm-before"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$port
"$BERTH" registry serve --addr "$REG" --root "$W/registry" >"$W/registry.log" 2>&1 &
RPID=$!

# The pods' network: a bridge with a gateway (forwarding is turned on in this namespace
# only, which has no way out) and portmap for hostPort.
mkdir -p "$W/cni"
cat >"$W/cni/10-critest.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "critest",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]], "dataDir": "$W/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
mirrors=()
for r in gcr.io registry.k8s.io k8s.gcr.io; do mirrors+=(--registry-mirror "$r=http://$REG"); done
"$BERTH" daemon --data-root "$W/data" --exec-root "$W/run" -H "unix://$W/engine.sock" \
    --cgroup-parent "/$CG" --bridge berth0 --bip 10.89.0.1/24 --ip-forward=false \
    --cri --cri-socket "$W/cri.sock" --nri-socket "$W/nri.sock" --cni-conf-dir "$W/cni" "${mirrors[@]}" \
    >"$W/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$W/cri.sock" ] && curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
BERTH_HOST=unix://$W/engine.sock BERTH=$BERTH ./scripts/critest-images.sh "$REG"

skip='AppArmor|SELinux|[Ww]indows'
[ -n "${CRITEST_SKIP:-}" ] && skip="$skip|$CRITEST_SKIP"
set +e
critest -runtime-endpoint "unix://$W/cri.sock" -image-endpoint "unix://$W/cri.sock" \
    -nri-socket "$W/nri.sock" \
    -ginkgo.skip "$skip" -ginkgo.no-color -ginkgo.timeout 60m \
    -ginkgo.json-report "${OUT%.log}.json" "$@" >"$OUT" 2>&1
rc=$?
set -e
cp "$W/daemon.log" "${OUT%.log}-daemon.log"
# Every spec that did not pass, with why: skipped by this script's -ginkgo.skip, skipped
# by critest itself (its message), or failed (the failure's first line).
python3 - "${OUT%.log}.json" <<'PY'
import collections, json, sys
specs = [s for r in json.load(open(sys.argv[1])) for s in r.get("SpecReports") or []
         if s.get("LeafNodeType") == "It"]
count = collections.Counter(s["State"] for s in specs)
for s in sorted(specs, key=lambda s: (s["State"], s["LeafNodeText"])):
    if s["State"] == "passed":
        continue
    name = " ".join(s.get("ContainerHierarchyTexts") or []) + " " + s["LeafNodeText"]
    why = (s.get("Failure") or {}).get("Message", "").strip().splitlines()
    # The failure's first line, and the runtime's own error when the message holds one.
    detail = [l.strip() for l in why[1:] if "rpc error" in l][:1]
    why = " / ".join([why[0][:160]] + [d[:300] for d in detail]) if why else \
        "-ginkgo.skip (AppArmor, SELinux, Windows or CRITEST_SKIP)"
    print(f"{s['State']:8} {name}\n         {why}")
print(", ".join(f"{n} {k}" for k, n in sorted(count.items())))
PY
echo "critest exit $rc; output in $OUT, JSON report in ${OUT%.log}.json, daemon log in ${OUT%.log}-daemon.log"
exit $rc
