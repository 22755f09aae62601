#!/usr/bin/env bash
# The same `docker run --rm busybox true` through berthd with each OCI runtime it knows:
# berth's built-in one, runc, and crun where this machine lets it run. Median wall time
# (hyperfine) and the shim's RSS with a running container, per runtime.
#   bench/runtimes.sh [RUNS]      needs root, hyperfine, runc (WITH_BENCH=1 scripts/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
source bench/lib.sh
TAG=rt
W=$(mktemp -d /tmp/berth-bench-rt.XXXX)
trap bench_cleanup EXIT
start_berthd 248
export DOCKER_HOST=unix://$W/run/berth.sock
runtimes=$(docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')
printf '%-8s %12s %14s\n' runtime "median ms" "shim RSS KiB"
for rt in $runtimes; do
    if ! docker run --rm --pull never --runtime "$rt" busybox true >/dev/null 2>"$W/err"; then
        printf '%-8s %12s %14s  (%s)\n' "$rt" - - "$(tail -c 120 "$W/err" | tr '\n' ' ')"
        continue
    fi
    hyperfine -N -w 3 -r "$RUNS" --export-json "$W/$rt.json" \
        "docker run --rm --pull never --runtime $rt busybox true" >/dev/null 2>&1
    median=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$W/$rt.json")
    id=$(docker run -d --pull never --runtime "$rt" busybox sleep 60)
    pid=$(docker inspect -f '{{.State.Pid}}' "$id")
    shim=$(awk '/^PPid/{print $2}' "/proc/$pid/status")
    # With an external runtime the init's parent is the shim (its subreaper) too.
    rss=$(awk '/^VmRSS/{print $2}' "/proc/$shim/status")
    docker rm -f "$id" >/dev/null
    printf '%-8s %12s %14s\n' "$rt" "$median" "$rss"
done
