# Sourced by the benches from the repository root: installs what they need, builds the
# release binary into $BERTH, and gives helpers.
WITH_BENCH=1 ./scripts/install-deps.sh
# BERTH_BIN measures another build (an older commit's, for a before/after).
BERTH=${BERTH_BIN:-$(./scripts/build-release.sh)}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The >1 GB multi-layer OCI image built from this machine's files, cached in $IMG.
big_image() {
    IMG=/var/tmp/berth-bench-big-image
    bench/make-big-image.sh "$IMG"
}

# A berthd and (with start_dockerd) a dockerd beside it, each on its own roots, socket
# and bridge, and what cleans both up. A bench sets TAG (its cgroup parent and bridge
# names) and W (its work dir), calls `trap bench_cleanup EXIT`, then start_berthd.
DPID= DOCKERD_PID=
BENCH_PIDS=()
bench_cleanup() {
    set +e
    for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for sock in "$W/run/berth.sock" "$W/docker.sock"; do
        [ -S "$sock" ] || continue
        ids=$(DOCKER_HOST=unix://$sock docker ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$ids" ] && DOCKER_HOST=unix://$sock docker rm -f $ids >/dev/null 2>&1
    done
    for p in $DPID $DOCKERD_PID; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for d in /sys/fs/cgroup/*/berth-$TAG-$$ /sys/fs/cgroup/berth-$TAG-$$; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    ip link del "b$TAG$$" 2>/dev/null
    ip link del "d$TAG$$" 2>/dev/null
    nft delete table ip "berth_b$TAG$$" 2>/dev/null
    umount -R "$W/docker-root" 2>/dev/null
    rm -rf "$W"
}

# berthd on $W with its bridge on 10.<OCTET>.x.1/24 (and any further daemon flags),
# busybox made; sets DPID.
start_berthd() {
    local octet=$1
    shift
    "$BERTH" daemon --data-root "$W/data" --exec-root "$W/run" --cgroup-parent "/berth-$TAG-$$" \
        --bridge "b$TAG$$" --bip "10.$octet.$(($$ % 250)).1/24" --ip-forward=false "$@" \
        >"$W/daemon.log" 2>&1 &
    DPID=$!
    for _ in $(seq 100); do [ -S "$W/run/berth.sock" ] && break; sleep 0.05; done
    BERTH_HOST=unix://$W/run/berth.sock BERTH=$BERTH ./scripts/make-busybox-image.sh >/dev/null
}

# Debian's dockerd on $W with its own bridge on 10.<OCTET>.x.1/24, iptables and
# forwarding off, berth's busybox loaded; sets DOCKERD_PID. Returns 1 without dockerd.
start_dockerd() {
    local octet=$1
    command -v dockerd >/dev/null || return 1
    ip link add "d$TAG$$" type bridge
    ip addr add "10.$octet.$(($$ % 250)).1/24" dev "d$TAG$$"
    ip link set "d$TAG$$" up
    mkdir -p "$W/docker-root" "$W/docker-exec"
    dockerd --data-root "$W/docker-root" --exec-root "$W/docker-exec" \
        -H "unix://$W/docker.sock" --pidfile "$W/docker.pid" --bridge "d$TAG$$" \
        --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --containerd-namespace "$TAG$$" --containerd-plugins-namespace "${TAG}p$$" \
        >"$W/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 200); do [ -S "$W/docker.sock" ] && break; sleep 0.1; done
    BERTH_HOST=unix://$W/run/berth.sock "$BERTH" save busybox \
        | DOCKER_HOST=unix://$W/docker.sock docker load >/dev/null
}
