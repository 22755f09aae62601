#!/usr/bin/env bash
# The classic builder: a 3-step Dockerfile (two RUN, one COPY) built with no cache and
# with a warm cache, through the docker CLI (DOCKER_BUILDKIT=0), against berthd and
# against Debian's dockerd (its legacy builder) on its own roots, socket and bridge; and
# the same with a context of CONTEXT_MB megabytes. Medians of RUNS (hyperfine), with
# `--network none` for the RUN steps, as the issue measures.
#   bench/build.sh [RUNS] [CONTEXT_MB]      needs root and hyperfine
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
CONTEXT_MB=${2:-300}
source bench/lib.sh
W=$(mktemp -d /tmp/berth-build.XXXX)
TAG=bd
trap bench_cleanup EXIT

# The small context: the Dockerfile and one file.
mkdir -p "$W/small" "$W/big"
echo "payload" >"$W/small/payload.txt"
cat >"$W/small/Dockerfile" <<'EOF'
FROM busybox
RUN echo one > /one
COPY payload.txt /payload.txt
RUN cat /one /payload.txt > /both
EOF
# The big context: the same Dockerfile and CONTEXT_MB of incompressible data.
cp "$W/small/Dockerfile" "$W/small/payload.txt" "$W/big/"
head -c $((CONTEXT_MB << 20)) /dev/urandom >"$W/big/data.bin"

start_berthd 253
hosts=("berth=unix://$W/run/berth.sock")

if start_dockerd 254; then
    hosts+=("dockerd=unix://$W/docker.sock")
fi

build() { # host context [extra args]
    local host=$1 ctx=$2
    shift 2
    DOCKER_HOST=$host DOCKER_BUILDKIT=0 docker build -q --network none "$@" "$ctx" >/dev/null 2>&1
}
export -f build

for ctx in small big; do
    for h in "${hosts[@]}"; do
        name=${h%%=*} host=${h#*=}
        # Warm: built once, then every step from the cache.
        build "$host" "$W/$ctx" -t "bench:$ctx"
        hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$W/$name-$ctx.json" \
            -n cold "bash -c 'build $host $W/$ctx --no-cache'" \
            -n cached "bash -c 'build $host $W/$ctx'" >/dev/null
        python3 - "$W/$name-$ctx.json" "$name" "$ctx" "$CONTEXT_MB" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
size = "a few bytes" if sys.argv[3] == "small" else sys.argv[4] + " MB"
print("%-8s context of %-12s cold %7.0f ms   cached %6.0f ms" % (sys.argv[2], size, r["cold"] * 1000, r["cached"] * 1000))
PY
    done
done
