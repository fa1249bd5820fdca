#!/usr/bin/env bash
# Builds lamina's demo image from the host's static busybox and pushes it.
#
#   scripts/build-demo-image.sh [-busybox PATH] [-insecure] REGISTRY/REPO:TAG
#
# for example, with a registry from scripts/registry.sh:
#
#   scripts/registry.sh start /tmp/demo-registry 5000
#   scripts/build-demo-image.sh 127.0.0.1:5000/lamina/demo:latest
#
# Plain HTTP is used for loopback registries (127.0.0.1, localhost), and for
# others only with -insecure. The image layout is described in
# oci/internal/demoimage/main.go, which does the work.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 [-busybox PATH] [-insecure] REGISTRY/REPO:TAG" >&2; exit 2; }
exec go run ./oci/internal/demoimage "$@"
