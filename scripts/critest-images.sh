#!/usr/bin/env bash
# Builds the images Kubernetes' CRI conformance suite (critest) pulls, from this machine's
# busybox, and pushes them to a registry on loopback under the paths critest names them
# by (gcr.io/k8s-staging-cri-tools/..., registry.k8s.io/e2e-test-images/..., pause). The
# daemon then pulls them through `--registry-mirror <registry>=<that registry>`.
#   scripts/critest-images.sh REGISTRY_ADDR   (BERTH=path/to/berth, BERTH_HOST=...,
#                                              BUSYBOX_DEB=Debian's busybox .deb, else fetched)
# Stand-ins keep what the tests look at: nginx and httpd serve a page on port 80 (httpd
# names itself in its log), nonewprivs is a set-user-ID root program printing its
# effective uid, the user images carry the USER that critest checks.
set -euo pipefail
REG=${1:?usage: critest-images.sh REGISTRY_ADDR}
BERTH=${BERTH:-berth}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/berth-critest-images.XXXX)
trap 'rm -rf "$work"' EXIT

BERTH=$BERTH ./scripts/make-busybox-image.sh critest-busybox:latest >/dev/null

# The base of every image: busybox with its applets as hard links (critest masks
# /bin/ls and expects /bin/sh to survive it), and the pgrep and ipcs that Debian's
# busybox-static lacks, as scripts over /proc.
mkdir -p "$work/base"
cat >"$work/base/pgrep" <<'SH'
#!/bin/sh
# pgrep PATTERN: the pids of the processes whose name matches (an extended regex).
status=1
for d in /proc/[0-9]*; do
    read -r comm <"$d/comm" 2>/dev/null || continue
    if echo "$comm" | grep -qE -- "$1"; then echo "${d#/proc/}"; status=0; fi
done
exit $status
SH
cat >"$work/base/ipcs" <<'SH'
#!/bin/sh
# ipcs [-m]: the System V shared memory segments of this IPC namespace.
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch"
tail -n +2 /proc/sysvipc/shm | while read -r key shmid perms size cpid lpid nattch uid rest; do
    printf '%-10s %-10s %-10s %-10s %-10s %s\n' "$key" "$shmid" "$uid" "$perms" "$size" "$nattch"
done
SH
chmod 0755 "$work/base/pgrep" "$work/base/ipcs"
# /bin/sh is Debian's dynamically linked busybox (with its libraries): built without the
# "standalone shell", it runs /bin/ls for `sh -c ls` as the e2e image's shell does, where
# the static one runs its own ls applet (critest masks /bin/ls and reads the shell's error).
deb=${BUSYBOX_DEB:-}
if [ -z "$deb" ]; then
    (cd "$work" && apt-get download -q busybox >/dev/null 2>&1) \
        || { echo "error: apt-get download busybox failed (or set BUSYBOX_DEB)" >&2; exit 1; }
    deb=$(echo "$work"/busybox_*.deb)
fi
dpkg-deb -x "$deb" "$work/busybox-deb"
cp "$work/busybox-deb/bin/busybox" "$work/base/sh"
ldd "$work/base/sh" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$work/base/libs$(dirname "$lib")"
    cp -L "$lib" "$work/base/libs$lib"
done
printf '%s\n' 'FROM critest-busybox:latest' \
    'RUN for a in $(busybox --list); do [ -L /bin/$a ] && ln -f /bin/busybox /bin/$a; done; mkdir -p /var/run' \
    'COPY libs/ /' \
    'COPY sh /bin/sh' \
    'COPY pgrep ipcs /usr/bin/' >"$work/base/Dockerfile"
"$BERTH" build -q -t critest-base:latest "$work/base" >/dev/null

pushed=()
# build NAME DOCKERFILE [FILE...]: a context with the files, built and pushed as REG/NAME.
# A label naming the image keeps every image distinct, as the real ones are.
build() {
    local name=$1 dockerfile=$2 ctx
    shift 2
    ctx=$work/$(echo "$name" | tr '/:' '__')
    mkdir -p "$ctx"
    [ $# -gt 0 ] && cp -a "$@" "$ctx/"
    printf 'FROM critest-base:latest\nLABEL io.berth.critest.image="%s"\n%s\n' "$name" "$dockerfile" > "$ctx/Dockerfile"
    "$BERTH" build -q -t "$REG/$name" "$ctx" >/dev/null
    "$BERTH" push "$REG/$name" >/dev/null
    pushed+=("$REG/$name")
}

staging=k8s-staging-cri-tools
e2e=e2e-test-images

# The default test container and the pod sandbox image.
build "$e2e/busybox:1.29-2" ''
build "pause:3.9" 'CMD ["sleep", "infinity"]'

# Web servers: busybox httpd serving what nginx and httpd would. The nginx stand-in is
# a program named nginx (critest finds it with pidof), titled "nginx: master process",
# writing /var/run/nginx.pid, with busybox httpd as its worker on $NGINX_PORT.
mkdir -p "$work/html" && echo '<h1>Welcome to nginx!</h1>' > "$work/html/index.html"
cat >"$work/nginx.c" <<'C'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static pid_t worker;
static void forward(int sig) { if (worker > 0) kill(worker, sig); }
int main(int argc, char **argv) {
    const char *title = "nginx: master process";
    size_t room = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
    if (room > strlen(title)) { memset(argv[0], 0, room); strcpy(argv[0], title); }
    FILE *f = fopen("/var/run/nginx.pid", "w");
    if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
    const char *port = getenv("NGINX_PORT") ? getenv("NGINX_PORT") : "80";
    signal(SIGTERM, forward); signal(SIGINT, forward); signal(SIGQUIT, forward);
    worker = fork();
    if (worker == 0) {
        execl("/bin/busybox", "httpd", "-f", "-v", "-p", port, "-h", "/usr/share/nginx/html", (char *)0);
        _exit(127);
    }
    for (;;) {
        int status;
        pid_t p = wait(&status);
        if (p < 0) return 1;
        if (p == worker) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}
C
gcc -static -Os -o "$work/nginx" "$work/nginx.c"
nginx_image='COPY html /usr/share/nginx/html
COPY nginx /usr/sbin/nginx
EXPOSE 80
CMD ["nginx", "-g", "daemon off; master_process on;"]'
build "$e2e/nginx:1.14-2" "$nginx_image" "$work/html" "$work/nginx"
build "$e2e/httpd:2.4.39-4" 'COPY html /usr/local/apache2/htdocs
EXPOSE 80
CMD ["sh", "-c", "echo httpd: serving /usr/local/apache2/htdocs on port 80 >&2; exec httpd -f -v -p 80 -h /usr/local/apache2/htdocs"]' "$work/html"
build "$staging/hostnet-nginx-$(go env GOARCH 2>/dev/null || echo amd64)" "$nginx_image
ENV NGINX_PORT=12003" "$work/html" "$work/nginx"

# nonewprivs: a set-user-ID root program, so the effective uid shows whether
# no_new_privs stopped the switch.
printf '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("Effective uid: %%d\\n", (int)geteuid()); return 0; }\n' > "$work/nnp.c"
gcc -static -Os -o "$work/nnp" "$work/nnp.c"
build "$e2e/nonewprivs:1.3" 'COPY nnp /usr/local/bin/nnp
RUN chmod 4755 /usr/local/bin/nnp
CMD ["/usr/local/bin/nnp"]' "$work/nnp"

# Images whose USER critest reads back from ImageStatus.
www='RUN echo www-data:x:33:33:www-data:/var/www:/bin/false >> /etc/passwd && echo www-data:x:33: >> /etc/group'
build "$staging/test-image-user-uid" 'USER 1002'
build "$staging/test-image-user-username" "$www
USER www-data"
build "$staging/test-image-user-uid-group" 'USER 1003:1003'
build "$staging/test-image-user-username-group" "$www
USER www-data:www-data"
build "$staging/test-image-predefined-group" 'RUN echo default-user:x:1000:1000::/home/default-user:/bin/sh >> /etc/passwd \
 && echo default-user:x:1000: >> /etc/group \
 && echo group-defined-in-image:x:50000:default-user >> /etc/group
USER 1000'

# Reference tests: tags, "latest", three distinct images, three tags of one image.
for t in latest tag:test tag:all; do
    build "$staging/test-image-$t" ''
done
for n in 1 2 3; do
    echo "$n" > "$work/test-$n"
    build "$staging/test-image-$n:latest" "ADD test-$n test-$n" "$work/test-$n"
done
build "$staging/test-image-tags:1" 'ADD test-1 test-1' "$work/test-1"
for n in 2 3; do
    "$BERTH" tag "$REG/$staging/test-image-tags:1" "$REG/$staging/test-image-tags:$n"
    "$BERTH" push "$REG/$staging/test-image-tags:$n" >/dev/null
    pushed+=("$REG/$staging/test-image-tags:$n")
done

# critest pulls these itself: the daemon keeps none of them.
"$BERTH" rmi "${pushed[@]}" critest-base:latest critest-busybox:latest >/dev/null
echo "${#pushed[@]} images pushed to $REG"
