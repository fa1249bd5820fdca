#!/usr/bin/env bash
# Installs what lamina's tests, demo and benchmarks need on a Debian host,
# and prepares the unprivileged user the rootless tests run as. Idempotent:
# a second run installs nothing. Pass extra package names as arguments.
set -euo pipefail

# gcc, libc6-dev, pkg-config and libseccomp-dev: the runtime is cgo (the
# nsenter constructor, and seccomp over libseccomp).
# podman and buildah: the end-to-end tests of unionmount as their
# mount_program and lamina as podman's --runtime (runc is their default).
# git, rsync and python3 (with its sqlite3 module): the real clients that
# tests/clients_*_test.go run on the union.
# acl: setfacl and getfacl, for the POSIX ACL tests.
need=(fuse3 fuse-overlayfs attr uidmap busybox-static docker-registry skopeo umoci containerd gcc libc6-dev pkg-config libseccomp-dev podman buildah runc git rsync python3 acl "$@")
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$(id -u)" = 0 ]; then
	# The distro default: any user may open /dev/fuse (rootless FUSE).
	[ -e /dev/fuse ] && chmod 666 /dev/fuse
	# Let FUSE daemons that ask for it serve through io_uring queues
	# (Linux 6.14+; off by default). lamina's unionmount uses them when on
	# (uring=auto); the tests cover both transports. Daemons that do not ask
	# (libfuse 3.14's fuse-overlayfs) are unaffected.
	uring=/sys/module/fuse/parameters/enable_uring
	[ -w "$uring" ] && echo Y >"$uring"
	# The unprivileged user of the rootless tests, with subordinate ids.
	if ! id laminatest >/dev/null 2>&1; then
		useradd --create-home --shell /bin/sh laminatest
	fi
	grep -q '^laminatest:' /etc/subuid 2>/dev/null || echo 'laminatest:200000:65536' >>/etc/subuid
	grep -q '^laminatest:' /etc/subgid 2>/dev/null || echo 'laminatest:200000:65536' >>/etc/subgid
fi
