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
