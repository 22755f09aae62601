#!/usr/bin/env bash
# The real peers berth is tested against that Debian does not package, built with the
# machine's Go from their published modules (their code is never committed here):
#   - the `docker compose` CLI plugin (github.com/docker/compose), installed where the
#     docker CLI finds plugins;
#   - crictl and critest (sigs.k8s.io/cri-tools), Kubernetes' CRI client and conformance
#     suite, installed in $CRI_TOOLS_BIN.
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
