#!/usr/bin/env bash
# What the network costs: COUNT detached containers (`run -d busybox sleep`, one after
# the other, through the docker CLI and through berth's) with `--network none`, then the same on the
# default bridge; the wall time of each batch, the time per container, and the host
# memory a container costs (memory in use before and after, the batch still running);
# and the median `berth run --rm` with and without the bridge (hyperfine): what the
# network adds to one start.
# With dockerd installed (Debian's docker.io), the same against a dockerd on its own
# roots, socket and bridge, with iptables and forwarding left off.
#   bench/bridge-vs-none.sh [COUNT]      needs root
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-50}
source bench/lib.sh
W=$(mktemp -d /tmp/berth-bvn.XXXX)
TAG=bvn
trap bench_cleanup EXIT

# Memory in use, as `free` counts it (page cache and reclaimable slab left out, which
# would drown the containers' own cost in noise).
mem_used_kb() {
    awk '/^(MemTotal|MemFree|Buffers|Cached|SReclaimable):/ {v[$1]=$2}
        END {print v["MemTotal:"] - v["MemFree:"] - v["Buffers:"] - v["Cached:"] - v["SReclaimable:"]}' /proc/meminfo
}

# One batch: COUNT `run -d` with the given network through the given CLI (docker or
# berth), timed; the memory they hold; then removed.
batch() {
    local host=$1 network=$2 name=$3 cli=${4:-docker}
    sync
    local before start end after
    before=$(mem_used_kb)
    start=$(date +%s.%N)
    for _ in $(seq "$COUNT"); do
        # (dockerd warns on every run that forwarding is off, which it is on purpose.)
        DOCKER_HOST=$host BERTH_HOST=$host $cli run -d --network "$network" busybox sleep 3600 2>&1 >/dev/null \
            | { grep -v "IPv4 forwarding is disabled" >&2 || true; }
    done
    end=$(date +%s.%N)
    sleep 1
    after=$(mem_used_kb)
    local running
    running=$(DOCKER_HOST=$host docker ps -q | wc -l)
    printf '%-8s %-6s %-7s %3d running: %5.2f s (%5.1f ms each), %5.2f MB host memory each\n' \
        "$name" "${cli##*/}" "$network" "$running" "$(echo "$end - $start" | bc -l)" \
        "$(echo "($end - $start) * 1000 / $COUNT" | bc -l)" \
        "$(echo "($after - $before) / 1024 / $COUNT" | bc -l)"
    # shellcheck disable=SC2046
    DOCKER_HOST=$host docker rm -f $(DOCKER_HOST=$host docker ps -aq) >/dev/null
}

start_berthd 251
BERTH_SOCK=unix://$W/run/berth.sock
# Warm up the page cache and the daemon.
DOCKER_HOST=$BERTH_SOCK docker run --rm busybox true
batch "$BERTH_SOCK" none berth
batch "$BERTH_SOCK" bridge berth
batch "$BERTH_SOCK" none berth "$BERTH"
batch "$BERTH_SOCK" bridge berth "$BERTH"

hyperfine -N --warmup 3 --runs 40 --export-json "$W/one.json" \
    -n none "$BERTH -H $BERTH_SOCK run --rm --network none busybox true" \
    -n bridge "$BERTH -H $BERTH_SOCK run --rm --network bridge busybox true" >/dev/null
python3 - "$W/one.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print("berth run --rm, median of 40: none %.1f ms, bridge %.1f ms: the network adds %.1f ms"
      % (r["none"], r["bridge"], r["bridge"] - r["none"]))
PY

if start_dockerd 252; then
    DOCKER_SOCK=unix://$W/docker.sock
    DOCKER_HOST=$DOCKER_SOCK docker run --rm busybox true
    batch "$DOCKER_SOCK" none dockerd
    batch "$DOCKER_SOCK" bridge dockerd
fi
