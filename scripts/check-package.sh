#!/usr/bin/env bash
# Checks a built berth .deb: the files a user expects are in it, the binary and berthd
# run from it, the completions load in bash, the man pages render, and the systemd units
# pass `systemd-analyze verify` against the unpacked package.
set -euo pipefail
deb=${1:?usage: check-package.sh berth_<version>_amd64.deb}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
fail() { echo "check-package: $*" >&2; exit 1; }
for f in usr/bin/berth usr/bin/berthd lib/systemd/system/berth.service lib/systemd/system/berth.socket \
    usr/share/bash-completion/completions/berth usr/share/zsh/vendor-completions/_berth \
    usr/share/fish/vendor_completions.d/berth.fish usr/share/man/man1/berth.1 \
    usr/share/man/man1/berth-run.1 usr/share/man/man8/berthd.8; do
    [ -e "$root/$f" ] || fail "missing $f"
done
[ "$(readlink "$root/usr/bin/berthd")" = berth ] || fail "berthd is not a link to berth"
"$root/usr/bin/berth" --version | grep -q '^berth ' || fail "berth --version"
"$root/usr/bin/berthd" --help | grep -q -- '--add-runtime' || fail "berthd --help"
bash -c "source '$root/usr/share/bash-completion/completions/berth' && complete -p berth" >/dev/null \
    || fail "bash completion does not load"
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$root/usr/share/man/man1/berth-run.1" 2>/dev/null | grep -q -- '--runtime' \
        || fail "berth-run.1 does not render"
fi
dpkg-deb -I "$deb" | grep -q 'Depends:.*nftables' || fail "Depends lacks nftables"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --man=no --root="$root" \
        "$root/lib/systemd/system/berth.socket" "$root/lib/systemd/system/berth.service" \
        || fail "systemd-analyze verify"
fi
echo "check-package: $(basename "$deb") ok"
