#!/usr/bin/env bash
# Start latency: median wall time of
#   berth run --rm busybox true           (berth CLI → berthd → shim → container → removed)
#   docker run --rm busybox true          (the docker CLI against berthd)
#   runc run  (same busybox rootfs)       (the standard OCI runtime alone, no daemon)
#   berth exec / docker exec / runc exec  (a process in a running container)
# and memory per running container (shim RSS).
#   bench/start-latency.sh [RUNS]      needs root, runc and hyperfine (WITH_BENCH=1 scripts/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
source bench/lib.sh
W=$(mktemp -d /tmp/berth-bench.XXXX)
DPID=
cleanup() {
    # Every step runs even when one fails (a process already gone), or mounts would leak.
    set +e
    if [ -n "$DPID" ]; then
        for id in $(BERTH_HOST=unix://$W/run/berth.sock "$BERTH" ps -aq 2>/dev/null); do
            BERTH_HOST=unix://$W/run/berth.sock "$BERTH" rm -f "$id" >/dev/null 2>&1 || true
        done
        kill "$DPID" 2>/dev/null || true
        wait "$DPID" 2>/dev/null || true
    fi
    runc delete -f "bench-$$" >/dev/null 2>&1 || true
    runc delete -f "bench-exec-$$" >/dev/null 2>&1 || true
    # The cgroup parent this run's containers lived under.
    for d in /sys/fs/cgroup/*/berth-bench-$$ /sys/fs/cgroup/berth-bench-$$; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
    # Its own default bridge, which berth leaves in place as dockerd leaves docker0.
    ip link del bbl$$ 2>/dev/null
    nft delete table ip berth_bbl$$ 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
"$BERTH" daemon --data-root "$W/data" --exec-root "$W/run" --cgroup-parent "/berth-bench-$$" --bridge bbl$$ --bip "10.250.$(($$ % 250)).1/24" --ip-forward=false >"$W/daemon.log" 2>&1 &
DPID=$!
export BERTH_HOST=unix://$W/run/berth.sock DOCKER_HOST=unix://$W/run/berth.sock
for _ in $(seq 100); do [ -S "$W/run/berth.sock" ] && break; sleep 0.05; done
BERTH=$BERTH ./scripts/make-busybox-image.sh >/dev/null

# The same rootfs as an OCI bundle for runc.
mkdir -p "$W/bundle/rootfs"
"$BERTH" save busybox | tar -x -C "$W" --wildcards 'blobs/*' manifest.json
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0])' "$W/manifest.json")
tar -x -C "$W/bundle/rootfs" -f "$W/$layer"
# runc gets Docker's default seccomp profile too, as berth applies it (taken from a
# berth container's bundle), so both do the same work.
src=$("$BERTH" run -d busybox sleep 30)
seccomp_from="$W/data/containers/$src/bundle/config.json"
(cd "$W/bundle" && runc spec && python3 - "$seccomp_from" <<'PY'
import json, sys
s = json.load(open("config.json"))
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
s["linux"]["seccomp"] = json.load(open(sys.argv[1]))["linux"]["seccomp"]
json.dump(s, open("config.json", "w"))
PY
)
"$BERTH" rm -f "$src" >/dev/null

# Let earlier work (namespace teardown runs in the kernel, asynchronously) settle.
sleep 3
# Containers to exec into: berth's, and runc's from the same bundle (sleeping).
"$BERTH" run -d --name bench-exec busybox sleep 600 >/dev/null
(cd "$W/bundle" && python3 - <<'PY'
import json
s = json.load(open("config.json"))
s["process"]["args"] = ["sleep", "600"]
json.dump(s, open("config-exec.json", "w"))
PY
)
mkdir -p "$W/bundle-exec" && cp "$W/bundle/config-exec.json" "$W/bundle-exec/config.json" && cp -a "$W/bundle/rootfs" "$W/bundle-exec/rootfs"
runc run -d -b "$W/bundle-exec" "bench-exec-$$" >/dev/null 2>&1 </dev/null
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$W/latency.json" \
    -n "berth run --rm busybox true" "$BERTH run --rm busybox true" \
    -n "docker run --rm busybox true (docker CLI -> berthd)" "docker run --rm busybox true" \
    -n "runc run (same rootfs)" "runc run -b $W/bundle bench-$$" \
    -n "berth exec bench-exec true" "$BERTH exec bench-exec true" \
    -n "docker exec bench-exec true (docker CLI -> berthd)" "docker exec bench-exec true" \
    -n "runc exec (same rootfs)" "runc exec bench-exec-$$ true" >/dev/null
python3 - "$W/latency.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
print("start latency, median of %d runs:" % len(next(iter(r.values()))["times"]))
for name, x in r.items():
    print("  %-55s %7.1f ms" % (name, x["median"] * 1000))
b = r["berth run --rm busybox true"]["median"]
c = r["runc run (same rootfs)"]["median"]
print("  berth run / runc run = %.2f (goal: <= 0.5)" % (b / c))
e = r["berth exec bench-exec true"]["median"]
x = r["runc exec (same rootfs)"]["median"]
print("  berth exec / runc exec = %.2f" % (e / x))
PY

"$BERTH" rm -f bench-exec >/dev/null
# Memory: the shim of each of N sleeping containers (the parent of the container's init).
N=20
for i in $(seq $N); do "$BERTH" run -d busybox sleep 600 >/dev/null; done
rss=0
pss=0
for id in $("$BERTH" ps -q); do
    init=$("$BERTH" inspect -f '{{.State.Pid}}' "$id")
    shim=$(ps -o ppid= -p "$init" | tr -d ' ')
    rss=$((rss + $(awk '/^VmRSS/ {print $2}' /proc/$shim/status)))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' /proc/$shim/smaps_rollup)))
done
echo "memory per container (its shim), $N containers: RSS $((rss / N)) kB, PSS $((pss / N)) kB"
