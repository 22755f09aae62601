#!/usr/bin/env bash
# From a fresh Debian machine to a running container:
# packages, release build, `berth` installed, daemon started, busybox image, hello.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
    echo "run as root: berth creates namespaces, cgroups and mounts" >&2
    exit 1
fi
./scripts/install-deps.sh
bin=$(./scripts/build-release.sh)
install -m 0755 "$bin" /usr/local/bin/berth
ln -sf berth /usr/local/bin/berthd
SOCK=/run/berth/berth.sock
if ! berth version >/dev/null 2>&1; then
    mkdir -p /var/log
    nohup berthd --pidfile /run/berth/berthd.pid > /var/log/berthd.log 2>&1 &
    for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
fi
berth version >/dev/null
if ! berth image inspect busybox >/dev/null 2>&1; then
    BERTH=/usr/local/bin/berth ./scripts/make-busybox-image.sh busybox:latest
fi
berth run --rm busybox echo hello
echo "berth is running: try  berth run -it busybox sh  or  DOCKER_HOST=unix://$SOCK docker ps"
