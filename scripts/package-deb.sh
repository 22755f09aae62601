#!/usr/bin/env bash
# Builds the Debian package (target/debian/berth_<version>_amd64.deb) with cargo-deb:
# the release binary, berthd, the systemd units, shell completions and man pages
# (generated from the CLI's own definitions), then checks it (scripts/check-package.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deb >/dev/null; then
    cargo install cargo-deb --locked --quiet
fi
# The static release binary the quick start installs.
bin=$(./scripts/build-release.sh)
host=$(rustc -vV | sed -n 's/^host: //p')
out=packaging/build
rm -rf "$out"
mkdir -p "$out/completions" "$out/man"
"$bin" completion bash > "$out/completions/berth"
"$bin" completion zsh > "$out/completions/_berth"
"$bin" completion fish > "$out/completions/berth.fish"
"$bin" generate-man "$out/man" 2>/dev/null
ln -s berth "$out/berthd"
deb=$(cargo deb --no-build --quiet -p berth-cli --target "$host" -o target/debian/ | tail -n 1)
echo "$deb"
scripts/check-package.sh "$deb"
