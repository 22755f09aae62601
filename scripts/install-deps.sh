#!/usr/bin/env bash
# System packages berth needs to build, run and test on Debian.
set -euo pipefail
pkgs=(busybox-static nftables iproute2 docker-compose file procps ca-certificates gcc pkg-config libseccomp-dev python3-pip docker-registry skopeo curl apache2-utils bc tini runc crun containernetworking-plugins)
[ "${WITH_BENCH:-0}" = 1 ] && pkgs+=(hyperfine)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# docker-py, for the SDK compatibility test.
python3 -c 'import docker' 2>/dev/null || python3 -m pip install -q docker 2>/dev/null \
    || python3 -m pip install -q --break-system-packages docker
