#!/usr/bin/env bash
# The real peers berth is tested against that Debian does not package, built with the
# machine's Go from their published modules (their code is never committed here):
#   - the `docker compose` CLI plugin (github.com/docker/compose), installed where the
#     docker CLI finds plugins;
#   - crictl and critest (sigs.k8s.io/cri-tools), Kubernetes' CRI client and conformance
#     suite, installed in $CRI_TOOLS_BIN;
#   - the kubelet (k8s.io/kubernetes cmd/kubelet), Kubernetes' node agent, installed in
#     $CRI_TOOLS_BIN too (scripts/kubelet-standalone.sh runs it on berth).
# Each is built once; a second run finds it and does nothing.
set -euo pipefail
# v5.6.0: the newest whose dependencies the Go module proxy serves (v5.7 needs
# github.com/docker/secrets-engine, which it does not), and it builds with Go 1.26.8.
COMPOSE_VERSION=${COMPOSE_VERSION:-v5.6.0}
PLUGINS=${DOCKER_CLI_PLUGINS:-/usr/local/lib/docker/cli-plugins}
if ! command -v go >/dev/null; then
    echo "error: Go is needed to build the docker compose plugin (apt-get install golang-go)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
have_compose=$("$PLUGINS/docker-compose" version --short 2>/dev/null || true)
if [ "$have_compose" != "${COMPOSE_VERSION#v}" ]; then
    export GOPATH=${GOPATH:-$HOME/go} GOFLAGS=-modcacherw
    # The module's own go.mod (with its exclude and replace directives) drives the build,
    # so it is built from a copy of the module, not with `go install`.
    src=$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    cp -r "$src" "$work/compose"
    chmod -R u+w "$work/compose"
    (cd "$work/compose" && go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
        -o "$work/docker-compose" ./cmd)
    install -d -m 0755 "$PLUGINS"
    install -m 0755 "$work/docker-compose" "$PLUGINS/docker-compose"
fi
docker compose version

# crictl and critest from the cri-tools module (critest is its Ginkgo suite, built as a
# test binary, as the module's Makefile does).
CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
CRI_TOOLS_BIN=${CRI_TOOLS_BIN:-/usr/local/bin}
stamp="$CRI_TOOLS_BIN/.berth-cri-tools-version"
if [ "$(cat "$stamp" 2>/dev/null)" != "$CRI_TOOLS_VERSION" ] \
    || [ ! -x "$CRI_TOOLS_BIN/crictl" ] || [ ! -x "$CRI_TOOLS_BIN/critest" ]; then
    export GOPATH=${GOPATH:-$HOME/go} GOFLAGS=-modcacherw
    src=$(go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    cp -r "$src" "$work/cri-tools"
    chmod -R u+w "$work/cri-tools"
    ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION"
    (cd "$work/cri-tools" \
        && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/crictl" ./cmd/crictl \
        && CGO_ENABLED=0 go test -c -trimpath -ldflags "$ldflags" -o "$work/critest" ./cmd/critest)
    install -d -m 0755 "$CRI_TOOLS_BIN"
    install -m 0755 "$work/crictl" "$work/critest" "$CRI_TOOLS_BIN/"
    echo "$CRI_TOOLS_VERSION" > "$stamp"
fi
"$CRI_TOOLS_BIN/crictl" --version

# The kubelet. k8s.io/kubernetes names its staging modules (k8s.io/api, ...) at v0.0.0
# and replaces them with its own directories, which a module used as a dependency
# cannot; a build module requires it and replaces each with the published release of
# the same minor version (Kubernetes v1.N.P publishes them as v0.N.P).
KUBELET_VERSION=${KUBELET_VERSION:-v1.37.2}
kstamp="$CRI_TOOLS_BIN/.berth-kubelet-version"
if [ "$(cat "$kstamp" 2>/dev/null)" != "$KUBELET_VERSION" ] || [ ! -x "$CRI_TOOLS_BIN/kubelet" ]; then
    export GOPATH=${GOPATH:-$HOME/go} GOFLAGS=-modcacherw
    ksrc=$(go mod download -json "k8s.io/kubernetes@$KUBELET_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    staging=v0.${KUBELET_VERSION#v1.}
    mkdir -p "$work/kubelet"
    {
        echo "module berth.test/kubelet-build"
        echo
        sed -n 's/^go \(.*\)$/go \1/p' "$ksrc/go.mod"
        echo
        echo "require k8s.io/kubernetes $KUBELET_VERSION"
        echo
        echo "replace ("
        sed -n "s|^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\t\1 => \1 $staging|p" "$ksrc/go.mod"
        echo ")"
    } >"$work/kubelet/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kubelet"\n' \
        >"$work/kubelet/tools.go"
    (cd "$work/kubelet" && go mod tidy \
        && CGO_ENABLED=0 go build -trimpath -o "$work/kubelet/kubelet" \
            -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBELET_VERSION" \
            k8s.io/kubernetes/cmd/kubelet)
    install -m 0755 "$work/kubelet/kubelet" "$CRI_TOOLS_BIN/kubelet"
    echo "$KUBELET_VERSION" > "$kstamp"
fi
"$CRI_TOOLS_BIN/kubelet" --version
