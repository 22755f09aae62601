#!/usr/bin/env bash
# Kubernetes pods on berth, against the same work through the Engine API:
#   - time to run a pod and start one container in it: `crictl run` on berth's CRI socket
#     (a pod without a pause process), against a pause container plus a container joining
#     its network and IPC namespaces through the Engine API (what cri-dockerd asks of
#     dockerd), on berthd and on Debian's dockerd;
#   - exec in a pod's container: ExecSync, and Exec streamed over SPDY and over WebSocket;
#   - what a pod costs: PODS pods of one `sleep` container each, then per pod the processes
#     added, their PSS, the daemon's RSS growth and the kernel memory they took;
#   - critest's own benchmarks (critest -benchmark) on berth's CRI socket.
#   bench/cri.sh [PODS] [RUNS]      needs root and hyperfine; runs in its own network namespace
set -euo pipefail
cd "$(dirname "$0")/.."
PODS=${1:-20}
RUNS=${2:-20}
if [ -z "${BERTH_BENCH_NETNS:-}" ]; then
    source bench/lib.sh
    ./scripts/build-peers.sh >/dev/null
    out=$(mktemp -d /tmp/berth-bench-cri.XXXX)
    trap 'rm -rf "$out"' EXIT
    # critest's benchmarks on the images critest.sh serves from its loopback registry.
    cat >"$out/params.yaml" <<EOF
containersNumber: $RUNS
containersNumberParallel: 1
podsNumber: $RUNS
podsNumberParallel: 1
imagesNumber: $RUNS
imagesNumberParallel: 1
imagePullingBenchmarkImage: gcr.io/k8s-staging-cri-tools/test-image-user-uid
imageListingBenchmarkImages:
  - gcr.io/k8s-staging-cri-tools/test-image-tags:1
  - gcr.io/k8s-staging-cri-tools/test-image-tags:2
  - gcr.io/k8s-staging-cri-tools/test-image-tags:3
EOF
    echo "== critest -benchmark ($RUNS samples each)"
    BERTH=$BERTH CRITEST_OUT="$out/critest.log" ./scripts/critest.sh -benchmark \
        -benchmarking-params-file "$out/params.yaml" -benchmarking-output-dir "$out" >/dev/null
    python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
for path in sorted(glob.glob(os.path.join(out, "*_benchmark_data.json"))):
    data = json.load(open(path))
    print(os.path.basename(path).replace("_benchmark_data.json", ""))
    for i, name in enumerate(data["operationsNames"]):
        ms = sorted(d["operationsDurationsNs"][i] / 1e6 for d in data["datapoints"])
        print("  %-26s median %7.2f ms  p90 %7.2f ms  (%d samples)"
              % (name, statistics.median(ms), ms[int(len(ms) * 0.9) - 1], len(ms)))
# The pod-and-container spec reports through gmeasure only.
for r in json.load(open(os.path.join(out, "critest.json"))):
    for s in r.get("SpecReports") or []:
        for e in s.get("ReportEntries") or []:
            v = json.loads((e.get("Value") or {}).get("AsJSON") or "null") or {}
            for m in v.get("Measurements") or []:
                if m.get("Type") == 1 or not m.get("Durations"):
                    continue
                ms = sorted(d / 1e6 for d in m["Durations"])
                print("%s: %s  %.2f ms" % (v.get("Name"), m["Name"], statistics.median(ms)))
PY
    export BERTH BERTH_BENCH_NETNS=1
    # Not exec'd: this shell's trap removes $out afterwards.
    unshare --net -- "$0" "$@"
    exit
fi

# In a network namespace of its own: the pods' bridge and the daemons' bridges live and
# die with it, and nothing can leave.
BERTH_BIN=$BERTH source bench/lib.sh
ip link set lo up
TAG=cri
W=$(mktemp -d /tmp/berth-bench-cri.XXXX)
CRICTL=(crictl --config "$W/crictl.yaml")
cleanup() {
    set +e
    [ -S "$W/cri.sock" ] && "${CRICTL[@]}" rmp -fa >/dev/null 2>&1
    bench_cleanup
}
trap cleanup EXIT
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\n' "$W/cri.sock" "$W/cri.sock" >"$W/crictl.yaml"
mkdir -p "$W/cni"
cat >"$W/cni/10-bench.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "bench",
  "plugins": [
    {"type": "bridge", "bridge": "cnibench", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.77.0.0/16"}]], "dataDir": "$W/cni/ipam"}}
  ]
}
EOF
start_berthd 76 --cri --cri-socket "$W/cri.sock" --cni-conf-dir "$W/cni"
for _ in $(seq 100); do [ -S "$W/cri.sock" ] && break; sleep 0.05; done
# The pause image: a process that only sleeps, as Kubernetes' pause does.
BERTH_HOST=unix://$W/run/berth.sock "$BERTH" tag busybox pause
dockerd_up=
if start_dockerd 75; then dockerd_up=1; fi
[ -n "$dockerd_up" ] && DOCKER_HOST=unix://$W/docker.sock docker tag busybox pause

# The kubelet's default pod: each container in its own PID namespace (a pod that shares
# one, shareProcessNamespace, adds berth's pod-init, ~0.5 MiB).
cat >"$W/pod.json" <<EOF
{"metadata": {"name": "bench", "namespace": "bench", "uid": "bench-uid", "attempt": 0},
 "log_directory": "$W/pod-logs",
 "linux": {"cgroup_parent": "/berth-$TAG-$$",
           "security_context": {"namespace_options": {"pid": 1}}}}
EOF
cat >"$W/container.json" <<EOF
{"metadata": {"name": "sleeper"}, "image": {"image": "busybox"},
 "command": ["sleep", "3600"], "log_path": "sleeper.log"}
EOF
# The same pod in its own user namespace (hostUsers: false), with a range as the kubelet
# gives one: its layers are ID-mapped and its init made in two steps.
USERNS='{"mode": 0, "uids": [{"container_id": 0, "host_id": 2000000, "length": 65536}], "gids": [{"container_id": 0, "host_id": 2000000, "length": 65536}]}'
cat >"$W/pod-userns.json" <<EOF
{"metadata": {"name": "bench-userns", "namespace": "bench", "uid": "bench-userns-uid", "attempt": 0},
 "log_directory": "$W/pod-logs",
 "linux": {"cgroup_parent": "/berth-$TAG-$$",
           "security_context": {"namespace_options": {"pid": 1, "userns_options": $USERNS}}}}
EOF
cat >"$W/container-userns.json" <<EOF
{"metadata": {"name": "sleeper"}, "image": {"image": "busybox"},
 "command": ["sleep", "3600"], "log_path": "sleeper.log",
 "linux": {"security_context": {"namespace_options": {"pid": 1, "userns_options": $USERNS}}}}
EOF
# One pod through the Engine API, as cri-dockerd makes it: the pause container holds the
# namespaces, the workload joins them. $1: the client command; $2: the pod's name.
cat >"$W/engine-pod.sh" <<'EOF'
#!/bin/sh
set -e
client=$1 name=$2
$client run -d --name "$name" --ipc shareable pause sleep 3600 >/dev/null
$client run -d --name "$name-c" --network "container:$name" --ipc "container:$name" \
    busybox sleep 3600 >/dev/null
EOF
chmod +x "$W/engine-pod.sh"
# The clients find their daemons here (hyperfine passes the environment on).
export BERTH_HOST=unix://$W/run/berth.sock DOCKER_HOST=unix://$W/docker.sock

# Every pod and container of every daemon gone, between runs and measurements.
cat >"$W/remove-all" <<EOF
#!/bin/sh
crictl --config $W/crictl.yaml rmp -fa >/dev/null 2>&1
for client in $BERTH ${dockerd_up:+docker}; do
    ids=\$(\$client ps -aq)
    [ -z "\$ids" ] || \$client rm -f \$ids >/dev/null
done
true
EOF
chmod +x "$W/remove-all"
remove_all() { "$W/remove-all"; }

echo "== run a pod and start one container in it ($RUNS runs)"
hyperfine_args=(-N ${BENCH_SHOW_OUTPUT:+--show-output} --warmup 2 --runs "$RUNS" --export-json "$W/start.json" --prepare "$W/remove-all")
cmds=(-n "CRI: crictl run (berth, no pause process)"
    "crictl --config $W/crictl.yaml run --no-pull $W/container.json $W/pod.json"
    -n "CRI: crictl run, pod in its own user namespace"
    "crictl --config $W/crictl.yaml run --no-pull $W/container-userns.json $W/pod-userns.json"
    -n "Engine API: pause + container (berthd)" "$W/engine-pod.sh $BERTH pod"
    -n "Engine API: one container (berthd)" "$BERTH run -d --name pod busybox sleep 3600")
[ -n "$dockerd_up" ] && cmds+=(-n "Engine API: pause + container (dockerd)" "$W/engine-pod.sh docker pod")
hyperfine "${hyperfine_args[@]}" "${cmds[@]}" >"$W/hyperfine.log" || { cat "$W/hyperfine.log" "$W/daemon.log" >&2; exit 1; }
python3 - "$W/start.json" <<'PY'
import json, sys
for x in json.load(open(sys.argv[1]))["results"]:
    print("  %-44s median %7.1f ms" % (x["command"], x["median"] * 1000))
PY
remove_all

echo "== exec in a pod's container ($RUNS runs)"
cid=$("${CRICTL[@]}" run --no-pull "$W/container.json" "$W/pod.json")
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$W/exec.json" \
    -n "CRI ExecSync (crictl exec -s)" "crictl --config $W/crictl.yaml exec -s $cid true" \
    -n "CRI Exec, streamed over SPDY" "crictl --config $W/crictl.yaml exec --transport spdy $cid true" \
    -n "CRI Exec, streamed over WebSocket" "crictl --config $W/crictl.yaml exec --transport websocket $cid true" \
    >"$W/hyperfine-exec.log" || { cat "$W/hyperfine-exec.log" "$W/daemon.log" >&2; exit 1; }
python3 - "$W/exec.json" <<'PY'
import json, sys
for x in json.load(open(sys.argv[1]))["results"]:
    print("  %-44s median %7.1f ms" % (x["command"], x["median"] * 1000))
PY
remove_all

# What PODS pods cost: the processes that appeared with them, their proportional set
# size, the daemons' RSS growth and the kernel's unreclaimable memory growth.
snapshot() { ls /proc | grep -E '^[0-9]+$' | sort >"$1"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
pss_kb() {
    local sum=0 p kb
    while read -r p; do
        kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || kb=0
        sum=$((sum + ${kb:-0}))
    done <"$1"
    echo "$sum"
}
# The kernel's own memory that objects of a pod (namespaces, veths, mounts, cgroups,
# page tables, stacks) take; MemAvailable moves with the page cache and says little here.
kernel_kb() { awk '/^(SUnreclaim|KernelStack|PageTables):/ {s += $2} END {print s}' /proc/meminfo; }
daemons() { echo "$DPID"; [ -n "$dockerd_up" ] && echo "$DOCKERD_PID" && pgrep -P "$DOCKERD_PID"; true; }
measure() {
    local label=$1
    shift
    snapshot "$W/before"
    local d_before=0 p kernel_before
    for p in $(daemons); do d_before=$((d_before + $(rss_kb "$p"))); done
    kernel_before=$(kernel_kb)
    for i in $(seq "$PODS"); do "$@" "$i"; done
    sleep 1
    snapshot "$W/after"
    comm -13 "$W/before" "$W/after" | while read -r p; do
        if [ -r "/proc/$p/smaps_rollup" ]; then echo "$p"; fi
    done >"$W/new"
    local d_after=0 procs pss kernel_after
    for p in $(daemons); do d_after=$((d_after + $(rss_kb "$p"))); done
    kernel_after=$(kernel_kb)
    procs=$(wc -l <"$W/new")
    pss=$(pss_kb "$W/new")
    printf '  %-38s %4.1f processes, PSS %6.0f KiB, daemon RSS +%5.0f KiB, kernel +%5.0f KiB\n' \
        "$label" "$(echo "$procs / $PODS" | bc -l)" "$(echo "$pss / $PODS" | bc -l)" \
        "$(echo "($d_after - $d_before) / $PODS" | bc -l)" \
        "$(echo "($kernel_after - $kernel_before) / $PODS" | bc -l)"
    remove_all
}
cri_pod() {
    sed "s/\"bench\"/\"bench-$1\"/; s/bench-uid/bench-uid-$1/" "$W/pod.json" >"$W/pod-$1.json"
    "${CRICTL[@]}" run --no-pull "$W/container.json" "$W/pod-$1.json" >/dev/null
}
# Each in a range of its own, as the kubelet gives them.
cri_userns_pod() {
    local host=$((2000000 + $1 * 65536))
    sed "s/bench-userns/bench-userns-$1/g; s/2000000/$host/g" "$W/pod-userns.json" >"$W/pod-userns-$1.json"
    sed "s/2000000/$host/g" "$W/container-userns.json" >"$W/container-userns-$1.json"
    "${CRICTL[@]}" run --no-pull "$W/container-userns-$1.json" "$W/pod-userns-$1.json" >/dev/null
}
engine_pod() { "$W/engine-pod.sh" "$1" "pod$2"; }
echo "== what a pod with one sleeping container costs (per pod, $PODS pods)"
measure "CRI pod (berth, no pause process)" cri_pod
measure "CRI pod in its own user namespace" cri_userns_pod
measure "Engine API pause + container (berthd)" engine_pod "$BERTH"
[ -n "$dockerd_up" ] && measure "Engine API pause + container (dockerd)" engine_pod docker
true
