#!/usr/bin/env bash
# What looking after containers costs: COUNT running containers, then
#  - stats: COUNT clients streaming `GET /containers/{id}/stats` at once (what
#    `docker stats` of COUNT containers does): the machine's CPU above idle (daemon,
#    and for dockerd its containerd and shims, which read the cgroups), in % of a core;
#  - health checks: COUNT containers with `--health-cmd true --health-interval 1s`: the
#    whole machine's CPU above idle (daemon, shims and the probes), per probe;
#  - events: how long after an event's own time a client streaming /events has it
#    (COUNT creates, median and worst).
# The same against a dockerd when one is installed (Debian's docker.io), on its own
# roots, socket and bridge, with iptables and forwarding left off.
#   bench/operations-cost.sh [COUNT] [SECONDS]      needs root
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-50}
WINDOW=${2:-20}
source bench/lib.sh
W=$(mktemp -d /tmp/berth-opc.XXXX)
TAG=opc
trap bench_cleanup EXIT

# CPU ticks a process has used (user + system).
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The machine's busy and total ticks.
machine_ticks() { awk '/^cpu / {busy=$2+$3+$4+$7+$8+$9; total=busy+$5+$6; print busy, total}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# The daemon's CPU over the window, in % of one core.
daemon_cpu() {
    local pid=$1 a b
    a=$(proc_ticks "$pid")
    sleep "$WINDOW"
    b=$(proc_ticks "$pid")
    echo "($b - $a) * 100 / ($HZ * $WINDOW)" | bc -l
}

# The machine's busy CPU over the window, in % of one core.
machine_cpu() {
    local a b
    read -r a _ < <(machine_ticks)
    sleep "$WINDOW"
    read -r b _ < <(machine_ticks)
    echo "($b - $a) * 100 / ($HZ * $WINDOW)" | bc -l
}

run_many() {
    local host=$1; shift
    for i in $(seq "$COUNT"); do
        DOCKER_HOST=$host docker run -d --network none --name "$1-$i" "${@:2}" >/dev/null 2>&1 \
            || DOCKER_HOST=$host docker run -d --network none --name "$1-$i" "${@:2}" >/dev/null
    done
}

measure() {
    local name=$1 host=$2 pid=$3 sock=${2#unix://}
    run_many "$host" s busybox sleep 3600
    local idle_m stats_m stats_d a b
    idle_m=$(machine_cpu)
    for id in $(DOCKER_HOST=$host docker ps -q --filter name=s-); do
        curl -sN --unix-socket "$sock" "http://x/containers/$id/stats" >/dev/null &
        BENCH_PIDS+=($!)
    done
    sleep 2
    read -r a _ < <(machine_ticks)
    stats_d=$(daemon_cpu "$pid")
    read -r b _ < <(machine_ticks)
    stats_m=$(echo "($b - $a) * 100 / ($HZ * $WINDOW)" | bc -l)
    for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
    BENCH_PIDS=()
    printf '%-7s stats: %d streams: machine %.1f%% of a core above idle (the daemon itself %.1f%%): %.3f%% per streaming container\n' \
        "$name" "$COUNT" "$(echo "$stats_m - $idle_m" | bc -l)" "$stats_d" \
        "$(echo "($stats_m - $idle_m) / $COUNT" | bc -l)"
    run_many "$host" h --health-cmd true --health-interval 1s busybox sleep 3600
    sleep 3
    local health_m
    health_m=$(machine_cpu)
    printf '%-7s health: %d checks a second: machine %.1f%% of a core above idle: %.2f ms of CPU per probe\n' \
        "$name" "$COUNT" "$(echo "$health_m - $idle_m" | bc -l)" \
        "$(echo "($health_m - $idle_m) * 10 / $COUNT" | bc -l)"
    python3 - "$host" "$COUNT" "$name" <<'PY'
import statistics, sys, threading, time
import docker
c = docker.DockerClient(base_url=sys.argv[1])
count, name = int(sys.argv[2]), sys.argv[3]
lags = []
done = threading.Event()
stream = c.events(decode=True, filters={"type": "container", "event": "create"})
def follow():
    for ev in stream:
        lags.append(time.time() - ev["timeNano"] / 1e9)
        if len(lags) == count:
            done.set()
            return
t = threading.Thread(target=follow, daemon=True)
t.start()
time.sleep(0.5)
for i in range(count):
    c.api.create_container("busybox", "true", name=f"ev-{i}", host_config=c.api.create_host_config(network_mode="none"))
done.wait(30)
stream.close()
lags.sort()
print("%-7s events: %d creates: seen %.2f ms after the event (median), %.2f ms at worst"
      % (name, len(lags), statistics.median(lags) * 1000, lags[-1] * 1000))
PY
    # shellcheck disable=SC2046
    DOCKER_HOST=$host docker rm -f $(DOCKER_HOST=$host docker ps -aq) >/dev/null
}

start_berthd 249
measure berthd "unix://$W/run/berth.sock" "$DPID"

if start_dockerd 248; then
    measure dockerd "unix://$W/docker.sock" "$DOCKERD_PID"
fi
