#!/usr/bin/env bash
# make demo: a union mount at work. Two lower layers (one deletes a file of
# the other with an OCI whiteout), a writable upper, then a copy-up, a
# delete and a create, and what the upper holds afterwards.
set -euo pipefail
UNIONMOUNT=${1:-bin/unionmount}
UNIONMOUNT=$(cd "$(dirname "$UNIONMOUNT")" && pwd)/$(basename "$UNIONMOUNT")
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (it mounts FUSE and writes trusted xattrs)" >&2
	exit 1
fi
d=$(mktemp -d /tmp/lamina-demo.XXXXXX)
cleanup() {
	"$UNIONMOUNT" --unmount "$d/merged" 2>/dev/null || true
	rm -rf "$d"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
tree() { (cd "$1" && find . -mindepth 1 | sort | while read -r p; do
	printf '  %-28s %s\n' "$p" "$(stat -c '%F' "$p" | sed 's/character special file/whiteout (char 0\/0)/')"; done); }

mkdir -p "$d"/{base,app,upper,work,merged}
mkdir -p "$d/base/etc" "$d/base/bin" "$d/base/srv/www"
echo "lamina demo base 1.0" >"$d/base/etc/release"
echo "welcome to the base layer" >"$d/base/etc/motd"
printf '#!/bin/sh\necho hello from the base layer\n' >"$d/base/bin/hello"
chmod 755 "$d/base/bin/hello"
echo "<h1>old site</h1>" >"$d/base/srv/www/index.html"
mkdir -p "$d/app/etc" "$d/app/srv/www"
echo "app=demo" >"$d/app/etc/app.conf"
: >"$d/app/etc/.wh.motd"           # OCI whiteout: the app layer deletes etc/motd
: >"$d/app/srv/www/.wh..wh..opq"   # OCI opaque dir: hide the base layer's site
echo "<h1>new site</h1>" >"$d/app/srv/www/index.html"

step "lower layer 'base' (bottom)"
tree "$d/base"
step "lower layer 'app' (top): deletes etc/motd, replaces srv/www"
tree "$d/app"

step "unionmount --driver=fuse -o lowerdir=app:base,upperdir=upper,workdir=work merged"
"$UNIONMOUNT" --driver=fuse -o "lowerdir=$d/app:$d/base,upperdir=$d/upper,workdir=$d/work" "$d/merged"
grep " $d/merged " /proc/mounts | sed 's/^/  /'

step "the merged view: no etc/motd, no whiteout files, only the new site"
tree "$d/merged"

step "copy-up: append to etc/release (a base-layer file)"
ino_before=$(stat -c %i "$d/merged/etc/release")
echo "patched by the container" >>"$d/merged/etc/release"
sed 's/^/  merged: /' "$d/merged/etc/release"
sed 's/^/  base:   /' "$d/base/etc/release"
echo "  st_ino before copy-up $ino_before, after $(stat -c %i "$d/merged/etc/release")"

step "delete bin/hello (a lower file) and create var/log/demo.log"
rm "$d/merged/bin/hello"
mkdir -p "$d/merged/var/log"
date -u +"%F %T started" >"$d/merged/var/log/demo.log"
ls "$d/merged/bin" | sed 's/^/  bin: /'; [ -z "$(ls "$d/merged/bin")" ] && echo "  bin: (empty)"

step "the upper layer now: the copied-up file, a whiteout, the new file"
tree "$d/upper"
getfattr --absolute-names -d -m '' "$d/upper/etc/release" 2>/dev/null | sed '/^$/d; s/^/  /'

step "unmount, and the lower layers are unchanged"
"$UNIONMOUNT" --unmount "$d/merged"
tree "$d/base"
echo
echo "union demo: ok"
