#!/usr/bin/env bash
# Makes a `busybox` image from this machine's busybox-static: one layer with the
# binary, a link per applet, /etc/passwd and /etc/group, imported through berth.
#   scripts/make-busybox-image.sh [TAG]        (BERTH=path/to/berth, BERTH_HOST=...)
set -euo pipefail
BERTH=${BERTH:-berth}
TAG=${1:-busybox:latest}
BB=${BUSYBOX:-/bin/busybox}
if ! file -L "$BB" 2>/dev/null | grep -q 'statically linked' && ! ldd "$BB" 2>&1 | grep -q 'not a dynamic'; then
    echo "error: $BB is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var/tmp,proc,sys,dev}
cp "$BB" "$root/bin/busybox"
for app in $("$BB" --list); do
    [ "$app" = busybox ] || ln -s busybox "$root/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nnogroup:x:65534:\n' > "$root/etc/group"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . \
    | "$BERTH" import --change 'CMD ["sh"]' --message "busybox-static from this machine" - "$TAG"
