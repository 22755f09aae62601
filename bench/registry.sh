#!/usr/bin/env bash
# Registry throughput: `berth registry serve` against Debian's docker-registry, with the
# same client (skopeo) pushing and pulling the same >1 GB multi-layer image over loopback.
#   bench/registry.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
source bench/lib.sh
big_image
W=$(mktemp -d /tmp/berth-regbench.XXXX)
PIDS=()
cleanup() {
    # Every step runs even when one fails (a process already gone), or mounts would leak.
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
# A fresh registry (new root, new port) for every run: skopeo remembers where blobs went
# and would mount them instead of uploading to a registry it has seen.
start_registry() { # kind run -> sets PORT (not in a subshell, so PIDS reaches the trap)
    local root
    PORT=$(free_port)
    root="$W/$1-$2"
    if [ "$1" = berth ]; then
        "$BERTH" registry serve --addr "127.0.0.1:$PORT" --root "$root" >/dev/null 2>&1 &
    else
        printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$root" "$PORT" > "$root.yml"
        docker-registry serve "$root.yml" >/dev/null 2>&1 &
    fi
    PIDS+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
}
compressed=$(du -sb "$IMG/blobs" | cut -f1)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # name kind
    local push=() pull=()
    for i in $(seq "$RUNS"); do
        local port t0 t1 t2
        start_registry "$2" "$i"
        port=$PORT
        t0=$(date +%s.%N)
        skopeo copy -q --dest-tls-verify=false "oci:$IMG:latest" "docker://127.0.0.1:$port/big:latest"
        t1=$(date +%s.%N)
        rm -rf "$W/out"
        skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/big:latest" "oci:$W/out:x"
        t2=$(date +%s.%N)
        push+=("$(echo "$t1 - $t0" | bc)")
        pull+=("$(echo "$t2 - $t1" | bc)")
    done
    local pm qm
    pm=$(printf '%s\n' "${push[@]}" | median)
    qm=$(printf '%s\n' "${pull[@]}" | median)
    printf '  %-22s push %6.2f s (%4.0f MB/s)   pull %6.2f s (%4.0f MB/s)\n' "$1" "$pm" "$(echo "$compressed / 1000000 / $pm" | bc -l)" "$qm" "$(echo "$compressed / 1000000 / $qm" | bc -l)"
}
echo "image: $((compressed / 1000000)) MB of blobs; skopeo as the client, medians of $RUNS, a fresh registry each run"
run "berth registry serve" berth
run "docker-registry" distribution
