#!/usr/bin/env bash
# Scale: 1,000 running containers (half named, half with generated names), then the
# daemon's RSS and open fds, and the time of `ps` and of a `run --rm` at that count.
# Also how many `run --rm` per second the daemon sustains with 16 parallel clients.
#   bench/many-containers.sh [COUNT] [CLIENTS]    needs root and hyperfine
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-1000}
CLIENTS=${2:-16}
source bench/lib.sh
W=$(mktemp -d /tmp/berth-many.XXXX)
DPID=
cleanup() {
    set +e
    if [ -n "$DPID" ]; then
        ids=$(BERTH_HOST=unix://$W/run/berth.sock "$BERTH" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$ids" ] && echo $ids | xargs -n 50 env BERTH_HOST=unix://$W/run/berth.sock "$BERTH" rm -f >/dev/null 2>&1
        kill "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
    fi
    for d in /sys/fs/cgroup/*/berth-many-$$ /sys/fs/cgroup/berth-many-$$; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    # Its own default bridge, which berth leaves in place as dockerd leaves docker0.
    ip link del bmc$$ 2>/dev/null
    nft delete table ip berth_bmc$$ 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
"$BERTH" daemon --data-root "$W/data" --exec-root "$W/run" --cgroup-parent "/berth-many-$$" --bridge bmc$$ --bip "10.250.$(($$ % 250)).1/24" --ip-forward=false >"$W/daemon.log" 2>&1 &
DPID=$!
export BERTH_HOST=unix://$W/run/berth.sock
for _ in $(seq 100); do [ -S "$W/run/berth.sock" ] && break; sleep 0.05; done
BERTH=$BERTH ./scripts/make-busybox-image.sh >/dev/null

# Throughput first, on an empty daemon: CLIENTS clients, each running 20 containers.
start=$(date +%s.%N)
clients=()
for c in $(seq "$CLIENTS"); do
    (for _ in $(seq 20); do "$BERTH" run --rm busybox true >/dev/null || echo "run failed" >&2; done) &
    clients+=($!)
done
wait "${clients[@]}" # not the daemon, also a child of this shell
end=$(date +%s.%N)
echo "parallel: $CLIENTS clients x 20 run --rm: $(echo "$CLIENTS * 20 / ($end - $start)" | bc -l | xargs printf '%.1f') runs/s"

start=$(date +%s.%N)
for i in $(seq "$COUNT"); do
    if [ $((i % 2)) = 0 ]; then
        "$BERTH" run -d --name "named-$i" busybox sleep 3600 >/dev/null
    else
        "$BERTH" run -d busybox sleep 3600 >/dev/null
    fi
done
end=$(date +%s.%N)
running=$("$BERTH" ps -q | wc -l)
echo "started $running containers in $(echo "$end - $start" | bc -l | xargs printf '%.1f') s"
rss=$(awk '/^VmRSS/ {print $2}' /proc/$DPID/status)
fds=$(ls /proc/$DPID/fd | wc -l)
echo "daemon with $running containers: RSS $((rss / 1024)) MB, $fds fds"
hyperfine -N --warmup 2 --runs 10 --export-json "$W/scale.json" \
    -n "ps" "$BERTH ps -q" \
    -n "run --rm" "$BERTH run --rm busybox true" >/dev/null
python3 - "$W/scale.json" "$running" <<'PY'
import json, sys
for x in json.load(open(sys.argv[1]))["results"]:
    print("  %-10s at %s containers: median %.1f ms" % (x["command"], sys.argv[2], x["median"] * 1000))
PY
