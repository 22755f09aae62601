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
    # (man pages are packed gzipped, as Debian policy wants)
    [ -e "$root/$f" ] || [ -e "$root/$f.gz" ] || fail "missing $f"
done
[ "$(readlink "$root/usr/bin/berthd")" = berth ] || fail "berthd is not a link to berth"
"$root/usr/bin/berth" --version | grep '^berth ' >/dev/null || fail "berth --version"
"$root/usr/bin/berthd" --help | grep -- '--add-runtime' >/dev/null || fail "berthd --help"
bash -c "source '$root/usr/share/bash-completion/completions/berth' && complete -p berth" >/dev/null \
    || fail "bash completion does not load"
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$root/usr/share/man/man1/berth-run.1.gz" 2>/dev/null | grep -- '--runtime' >/dev/null \
        || fail "berth-run.1 does not render"
fi
dpkg-deb -f "$deb" Depends | grep nftables >/dev/null || fail "Depends lacks nftables"
if command -v systemd-analyze >/dev/null; then
    # Against this machine's units (sysinit.target, ...), the binary where it was unpacked.
    units="$root/units"
    mkdir "$units"
    for u in berth.socket berth.service; do
        sed "s#/usr/bin/berthd#$root/usr/bin/berthd#" "$root/lib/systemd/system/$u" > "$units/$u"
    done
    out=$(systemd-analyze verify --man=no "$units/berth.socket" "$units/berth.service" 2>&1) \
        || fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
echo "check-package: $(basename "$deb") ok"
