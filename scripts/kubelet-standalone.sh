#!/usr/bin/env bash
# A real kubelet on berth: Kubernetes' node agent (k8s.io/kubernetes cmd/kubelet, built
# by scripts/build-peers.sh) in standalone mode, no API server, runs a static pod of two
# containers from --pod-manifest-path through berth's CRI socket, and the checks below
# watch it do so: both containers run in one pod, share its network and an emptyDir,
# and the kubelet restarts a container that dies.
#   scripts/kubelet-standalone.sh      (BERTH=path/to/berth; default: release build)
# The daemon runs in a network namespace of its own with a CNI bridge there, the kubelet
# also in a mount namespace where the host sysctls it would tune (vm.overcommit_memory,
# kernel.panic, ...) are files of this run: nothing of the host changes. Everything,
# pods, cgroups and mounts, is removed at the end, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BERTH_KUBELET_NETNS:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "the kubelet needs root (namespaces, cgroups, mounts)" >&2; exit 1; }
    ./scripts/build-peers.sh >/dev/null
    BERTH=${BERTH:-$(./scripts/build-release.sh)}
    export BERTH BERTH_KUBELET_NETNS=1
    exec unshare --net -- "$0" "$@"
fi
KUBELET=${KUBELET:-/usr/local/bin/kubelet}
W=$(mktemp -d /tmp/berth-kubelet.XXXX)
chmod 0755 "$W"
CG=berth-kubelet-$$
DPID= KPID=
E="unix://$W/engine.sock"
crictl() { command crictl --config /dev/null -r "unix://$W/cri.sock" -i "unix://$W/cri.sock" "$@"; }
cleanup() {
    set +e
    [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
    [ -S "$W/cri.sock" ] && crictl rmp -af >/dev/null 2>&1
    if [ -S "$W/engine.sock" ]; then
        ids=$("$BERTH" -H "$E" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$ids" ] && "$BERTH" -H "$E" rm -f $ids >/dev/null 2>&1
    fi
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    for d in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/"$CG"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    grep -o " $W[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
fail() {
    echo "kubelet-standalone: FAILED: $*" >&2
    echo "--- kubelet log (last lines)" >&2; tail -40 "$W/kubelet.log" >&2 || true
    echo "--- daemon log (last lines)" >&2; tail -20 "$W/daemon.log" >&2 || true
    exit 1
}
ip link set lo up

# The pods' network: a bridge of this namespace (no way out of it).
mkdir -p "$W/cni" "$W/manifests"
cat >"$W/cni/10-kubelet.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "kubelet-test", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.77.0.0/24"}]], "dataDir": "$W/cni/ipam"}}]}
EOF
"$BERTH" daemon --data-root "$W/data" --exec-root "$W/run" -H "$E" \
    --cgroup-parent "/$CG" --bridge berth0 --bip 10.78.0.1/24 --ip-forward=false \
    --cri --cri-socket "$W/cri.sock" --cni-conf-dir "$W/cni" >"$W/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$W/cri.sock" ] && break; sleep 0.1; done
[ -S "$W/cri.sock" ] || fail "the daemon did not serve CRI"
BERTH_HOST=$E BERTH=$BERTH ./scripts/make-busybox-image.sh busybox:latest >/dev/null

# Two containers: one serves a file from the pod's emptyDir on the pod's loopback, the
# other reads it there and counts its own restarts in the emptyDir, dying once.
cat >"$W/manifests/pair.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: pair
  namespace: default
spec:
  restartPolicy: Always
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: server
    image: busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "echo hello-from-server > /shared/index.html && exec httpd -f -p 8080 -h /shared"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: client
    image: busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "echo run >> /shared/runs; [ $(wc -l < /shared/runs) -ge 2 ] || exit 3; while true; do wget -qO- http://127.0.0.1:8080/index.html > /shared/fetched; sleep 1; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
EOF
cat >"$W/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: $W/manifests
fileCheckFrequency: 1s
syncFrequency: 2s
containerRuntimeEndpoint: unix://$W/cri.sock
imageServiceEndpoint: unix://$W/cri.sock
podLogsDir: $W/pod-logs
cgroupDriver: cgroupfs
# The machines seen so far have cgroup v1 controllers (see the README).
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
address: 127.0.0.1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: ""
EOF
# The kernel settings the kubelet tunes are host-wide: here they are files of this run.
# So are the paths it writes whatever its root dir (/var/lib/kubelet/device-plugins,
# /var/log/containers): tmpfs mounts of its own mount namespace.
mkdir -p "$W/sysctl"
kubelet_ns() {
    mount -t tmpfs -o mode=0755 berth-kubelet-var-lib /var/lib
    mount -t tmpfs -o mode=0755 berth-kubelet-var-log /var/log
    for f in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
        kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
        cp "/proc/sys/$f" "$W/sysctl/${f//\//.}"
        mount --bind "$W/sysctl/${f//\//.}" "/proc/sys/$f"
    done
    exec "$KUBELET" --config "$W/kubelet.yaml" --root-dir "$W/kubelet" \
        --cert-dir "$W/kubelet/pki" --hostname-override berth-node --v=2
}
export -f kubelet_ns
export W KUBELET
unshare --mount --propagation private -- bash -c kubelet_ns >"$W/kubelet.log" 2>&1 &
KPID=$!

# A static pod is named after its node. The client's first run exits at once, so two
# running containers count only once the client has been restarted (and the loop's own
# sample decides: a second look could land between the first run's exit and the restart).
running() { crictl ps --label io.kubernetes.pod.name=pair-berth-node --state running -q 2>/dev/null | wc -l; }
client_runs() { crictl ps -a --name client -q 2>/dev/null | wc -l; }
both_up=
for _ in $(seq 120); do
    if [ "$(client_runs)" -ge 2 ] && [ "$(running)" = 2 ]; then both_up=1; break; fi
    kill -0 "$KPID" 2>/dev/null || break
    sleep 1
done
[ -n "$both_up" ] || fail "the kubelet did not run both containers of the static pod (client runs: $(client_runs), running: $(running))"
pods=$(crictl pods --name pair-berth-node -q)
[ "$(echo "$pods" | wc -l)" = 1 ] || fail "expected one pod, got: $pods"
client=$(crictl ps --name client -q)
for _ in $(seq 30); do
    [ "$(crictl exec "$client" cat /shared/fetched 2>/dev/null)" = hello-from-server ] && break
    sleep 1
done
[ "$(crictl exec "$client" cat /shared/fetched 2>/dev/null)" = hello-from-server ] \
    || fail "the client did not reach the server on the pod's loopback"
restarts=$(crictl ps -a --name client -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["containers"]))')
[ "$restarts" -ge 2 ] || fail "the kubelet did not restart the client after it died ($restarts attempts)"
ip=$(crictl inspectp "$pods" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["network"]["ip"])')
case "$ip" in 10.77.0.*) ;; *) fail "the pod has no address on the CNI network: $ip" ;; esac
[ "$("$BERTH" -H "$E" ps -q | wc -l)" = 2 ] || fail "berth ps does not show the pod's two containers"
# Removing the manifest removes the pod.
rm "$W/manifests/pair.yaml"
for _ in $(seq 60); do [ -z "$(crictl pods --name pair-berth-node --state ready -q)" ] && break; sleep 1; done
[ -z "$(crictl pods --name pair-berth-node --state ready -q)" ] || fail "the kubelet did not stop the pod whose manifest went"
echo "kubelet-standalone: ok (static pod of 2 containers at $ip, client restarted $((restarts - 1)) time(s))"
