package tests

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copySource is a tree for copy tools: hard links (within and across
// directories), symlinks, user xattrs, a fifo, a sparse and a 2 MiB file,
// odd modes and owners.
func copySource() layer {
	big := make([]byte, 2<<20)
	rand.New(rand.NewSource(7)).Read(big)
	return layer{
		file("top", "top\n").xattr("user.a", "1").xattr("user.b", "two"),
		file("d/x", "x\n").mode(0o600).own(1000),
		hardlink("d/x2", "d/x"),
		hardlink("x3", "d/x"),
		file("d/e/deep", "deep\n").xattr("user.deep", "y"),
		symlink("d/to_top", "../top"),
		symlink("dangling", "nowhere"),
		fifo("pipe"),
		sparse("holes", 1<<20, "middle"),
		file("big", string(big)),
		file("setuid", "#!/bin/sh\n").mode(0o4755),
		dir("sticky").mode(0o1777),
		dir("xd").xattr("user.dirattr", "d").own(1000),
	}
}

// copyLower is the lower layer the copy tools write over: some names of
// copySource with other contents and types, and hard links of its own.
func copyLower() layer {
	return layer{
		file("tree/top", "old top\n").xattr("user.a", "old"),
		file("tree/d/x", "old x\n"),
		hardlink("tree/d/x2", "tree/d/x"),
		dir("tree/big"), file("tree/big/inside", "i\n"),
		file("tree/stale", "stale\n"),
		symlink("tree/dangling", "somewhere"),
		file("tree/d/e/deep", "old deep\n"),
	}
}

// compareTrees reports "same" when b's tree matches a's, or the difference.
func compareTrees(t *testing.T, what, a, b string) string {
	t.Helper()
	d := diffSnapshots("source", takeSnapshot(a), "copy", takeSnapshot(b))
	if len(d) == 0 {
		return what + ": same\n"
	}
	t.Errorf("%s: the copy differs from its source (%d paths):\n%s", what, len(d), strings.Join(d, "\n"))
	return what + ": differs:\n" + strings.Join(d, "\n") + "\n"
}

// copyClientEnv builds the source tree and the lower layer under a fresh
// directory and returns their paths.
func copyClientEnv(t *testing.T) (src, lower string) {
	t.Helper()
	root := t.TempDir()
	src, lower = filepath.Join(root, "src"), filepath.Join(root, "lower")
	if err := buildLayer(src, copySource()); err != nil {
		t.Fatalf("build source tree: %v", err)
	}
	if err := buildLayer(lower, copyLower()); err != nil {
		t.Fatalf("build lower: %v", err)
	}
	return src, lower
}

// TestClientRsync copies a tree into the mount with rsync -aHAX (into a new
// directory, and with --delete over a tree that starts in a lower layer),
// back out, and compares each copy with the source.
func TestClientRsync(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "rsync")
	src, lower := copyClientEnv(t)
	runClient(t, []string{lower}, func(t *testing.T, mnt string) string {
		out := filepath.Join(filepath.Dir(mnt), "out")
		tr := shellStep(t, mnt, []string{"SRC=" + src, "OUT=" + out}, `set -e
rsync -aHAX "$SRC/" "$1/in/"
rsync -aHAX --delete "$SRC/" "$1/tree/"
rsync -aHAX "$1/tree/" "$OUT/"
rsync -aHAX --delete -n -i "$SRC/" "$1/tree/" | sort
`)
		tr += compareTrees(t, "rsync into a new directory", src, mnt+"/in")
		tr += compareTrees(t, "rsync --delete over a lower tree", src, mnt+"/tree")
		return tr + compareTrees(t, "rsync back out", src, out)
	}, nil)
}

// TestClientTar packs a tree with its xattrs and POSIX ACLs (access and
// default) into the mount and out again with tar --xattrs --acls, and
// lists a lower tree as tar sees it.
func TestClientTar(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "tar")
	requireTool(t, "setfacl")
	src, lower := copyClientEnv(t)
	for _, a := range [][]string{{"-m", "u:1000:rw,g:4242:r", "top"}, {"-m", "u:1000:rwx", "d"}, {"-d", "-m", "u:1000:rwx", "xd"}} {
		if r := runCmd(t, time.Minute, append([]string{"setfacl"}, append(a[:len(a)-1], filepath.Join(src, a[len(a)-1]))...)...); r.code != 0 {
			t.Fatalf("setfacl %q: %v: %s", a, r.err, r.stderr)
		}
	}
	runClient(t, []string{lower}, func(t *testing.T, mnt string) string {
		out := filepath.Join(filepath.Dir(mnt), "out")
		tr := shellStep(t, mnt, []string{"SRC=" + src, "OUT=" + out}, `set -e
x="--xattrs --xattrs-include=user.* --acls"
mkdir "$1/in" "$OUT"
tar $x -cf - -C "$SRC" . | tar $x -xpf - -C "$1/in"
tar $x -cf - -C "$1/in" . | tar $x -xpf - -C "$OUT"
tar $x -cf - -C "$SRC" . | tar $x -xpf - -C "$1/tree" --recursive-unlink
tar --sort=name -cf - -C "$1" tree | tar -tvf - | sed "s/  */ /g" | cut -d" " -f1,2,3,6- | sort
`)
		tr += compareTrees(t, "tar into the mount", src, mnt+"/in")
		return tr + compareTrees(t, "tar back out", src, out)
	}, nil)
}

// TestClientCp copies a lower tree over itself with cp -a (every file is
// "the same file" and nothing may change), copies it aside, and copies the
// copy back over the lower tree.
func TestClientCp(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "cp")
	src, lower := copyClientEnv(t)
	runClient(t, []string{lower}, func(t *testing.T, mnt string) string {
		return shellStep(t, mnt, []string{"SRC=" + src}, `
cd "$1"
cp -a tree/. tree/ 2>&1 | sort; echo "over itself: done"
cp -a tree tree.copy && echo "aside: ok"
echo changed > tree.copy/d/x
cp -a tree.copy/. tree/ && echo "back: ok"
cat tree/d/x tree/d/x2
cp -a "$SRC/." tree/ 2>&1; echo "source over lower: $?"
cat tree/d/x tree/d/x2 tree/x3
`)
	}, nil)
}

// TestClientRmRf removes lower trees with rm -rf: one with more
// directories than the union keeps abandoned listings for (rm lists each
// directory once, without reading it to the end, then removes it; nothing
// may list them before, or the kernel serves rm from its cache), one
// spread over two layers with a whiteout between them; then recreates a
// removed directory, which must come back empty.
func TestClientRmRf(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "rm", "find")
	var top, bottom layer
	for i := range 150 {
		d := fmt.Sprintf("many/d%03d", i)
		bottom = append(bottom, file(d+"/a", "a\n"), file(d+"/sub/b", "b\n"))
	}
	for i := range 40 {
		d := fmt.Sprintf("split/d%02d", i)
		bottom = append(bottom, file(d+"/low", "low\n"), file(d+"/gone", "gone\n"))
		top = append(top, file(d+"/high", "high\n"), whiteoutDev(d+"/gone"))
	}
	root := t.TempDir()
	lowers := []string{filepath.Join(root, "top"), filepath.Join(root, "bottom")}
	for i, l := range []layer{top, bottom} {
		if err := buildLayer(lowers[i], l); err != nil {
			t.Fatalf("build lower: %v", err)
		}
	}
	runClient(t, lowers, func(t *testing.T, mnt string) string {
		return shellStep(t, mnt, nil, `
cd "$1"
rm -rf many; echo "rm many: $?"
rm -rf split; echo "rm split: $?"
ls -A
mkdir many && ls -A many && echo "many: empty"
`)
	}, nil)
}
