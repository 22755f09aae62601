#!/usr/bin/env bash
# Every test: formatting, lints, unit tests, and the end-to-end suites (root, real
# namespaces, cgroups and overlay mounts; each test runs its own daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "the tests create namespaces, cgroups and mounts: run them as root" >&2
    exit 1
fi
# Peers the end-to-end tests drive that Debian does not package (docker compose).
./scripts/build-peers.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads="${TEST_THREADS:-4}"
# Kubernetes' CRI conformance suite on the debug build the tests used. Skipped beyond
# AppArmor/SELinux/Windows: the digest-pinned pull (it needs gcr.io's own manifest
# bytes, which no offline registry can serve).
BERTH=$PWD/target/debug/berth \
    CRITEST_SKIP='public image with digest should be pulled' \
    ./scripts/critest.sh
# Its streaming specs again over WebSocket (client-go's WebSocket executor, and port
# forwarding's SPDY tunnelled in a WebSocket), as kubectl speaks them since 1.30.
BERTH=$PWD/target/debug/berth CRITEST_OUT=/tmp/berth-critest-websocket.log \
    ./scripts/critest.sh -ginkgo.focus Streaming \
    -websocket-exec -websocket-attach -websocket-portforward
# A real kubelet (standalone, static pods) running a two-container pod on berth.
BERTH=$PWD/target/debug/berth ./scripts/kubelet-standalone.sh
# The static release binary that the quick start installs, once.
./scripts/release-smoke.sh
# The Debian package (cargo-deb): built from that release binary and checked.
./scripts/package-deb.sh
