#!/usr/bin/env bash
# make demo: lamina's main job on an embedded default.
#   1. a union mount at work (scripts/demo-union.sh);
#   2. build a small busybox image locally, serve it from a local registry
#      (Debian's docker-registry), pull it with lamina, and run containers
#      from it through the union mount.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(pwd)/bin
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it mounts and creates namespaces and cgroups)" >&2; exit 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

bash scripts/demo-union.sh "$BIN/unionmount"

d=$(mktemp -d /tmp/lamina-demo2.XXXXXX)
cleanup() {
	"$BIN/lamina" rm --store "$d/store" --force demo-kept >/dev/null 2>&1 || true
	bash scripts/registry.sh stop "$d/registry" >/dev/null 2>&1 || true
	rm -rf "$d"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 5055)
ref=127.0.0.1:$port/lamina/demo:latest
lamina() { echo "\$ lamina $*" | sed "s|--store $d/store ||"; "$BIN/lamina" "$@"; }

step "a local registry on 127.0.0.1:$port, and the demo image built from busybox-static"
bash scripts/registry.sh start "$d/registry" "$port"
bash scripts/build-demo-image.sh "$ref"

step "pull it into a fresh image store ($d/store)"
lamina pull --root "$d/store" "$ref"
lamina images --root "$d/store"
echo "(lazy fetching is not built yet: lamina pulls every layer in full before running)"

step "run the image's own command through lamina's FUSE union (its layer 2 whiteout hides /etc/issue)"
lamina run --store "$d/store" --rm --driver fuse "$ref"

step "run with limits and overrides: 32 MiB memory, 20 processes, a hostname, an env var"
lamina run --store "$d/store" --rm --driver fuse --memory 32m --pids-limit 20 --hostname demo -e GREETING=hello "$ref" \
	sh -c 'echo "$GREETING from $(hostname), pid $$, uid $(id -u)"; ls /etc/issue 2>/dev/null || echo "/etc/issue: whited out by layer 2"'

step "a container's writable layer persists until lamina rm"
lamina run --store "$d/store" --name demo-kept --driver fuse "$ref" sh -c 'echo "written in the container" > /etc/note'
ls -l "$d"/store/containers/*/upper/etc/
lamina rm --store "$d/store" demo-kept

step "the same image through the kernel overlayfs driver"
lamina run --store "$d/store" --rm --driver overlay "$ref" sh -c 'cat /etc/motd | head -1'

echo
echo "demo: ok"
