package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// subjectOnlyCases hold properties checked on the subject whatever the
// kernel does: inode numbers and statfs. Their ops still run on both mounts
// so the trees stay comparable.
func subjectOnlyCases() []diffCase {
	return []diffCase{
		{name: "inode_stability", ops: []op{
			want(doSameIno("hl_a", "hl_b"), "same"),
			want(doInoAcross("a.txt", doAppend("a.txt", "x")), "same"),
			want(doInoAcross("dir1/sub/deep", doChmod("dir1/sub/deep", 0o600)), "same"),
			want(doInoAcross("dir1", doCreate("dir1/probe", "p")), "same"),
			want(doInoAcross("owned_dir", doChown("owned_dir", 0, 0)), "same"),
			want(doSameIno("hl_a", "hl_b"), "same"), // still the same before either is copied up
		}},
		{name: "statfs_reports_upper", subject: checkStatfs},
	}
}

// want makes the subject's result of o a requirement of its own, checked
// even where the kernel differs.
func want(o op, result string) op {
	o.want = result
	return o
}

func inoOf(p string) (uint64, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st.Ino, err
}

// doSameIno reports whether a and b have the same st_ino.
func doSameIno(a, b string) op {
	return op{name: "same st_ino " + a + " " + b, fn: func(m string) string {
		ia, err := inoOf(filepath.Join(m, a))
		if err != nil {
			return errName(err)
		}
		ib, err := inoOf(filepath.Join(m, b))
		if err != nil {
			return errName(err)
		}
		if ia == ib {
			return "same"
		}
		return "different"
	}}
}

// doInoAcross reports whether p keeps its st_ino across change, which copies
// it up.
func doInoAcross(p string, change op) op {
	return op{name: "st_ino of " + p + " across " + change.name, fn: func(m string) string {
		before, err := inoOf(filepath.Join(m, p))
		if err != nil {
			return "before:" + errName(err)
		}
		if r := change.fn(m); !strings.HasPrefix(r, "ok") {
			return "change:" + r
		}
		after, err := inoOf(filepath.Join(m, p))
		if err != nil {
			return "after:" + errName(err)
		}
		if before == after {
			return "same"
		}
		return "changed"
	}}
}

// checkStatfs: statfs of the mount reports the upper file system's sizes.
// f_type cannot match: the kernel reports FUSE_SUPER_MAGIC for any FUSE
// mount (and overlayfs its own magic), so only its family is checked.
func checkStatfs(t *testing.T, e caseEnv) {
	var m, u unix.Statfs_t
	if err := unix.Statfs(e.mnt, &m); err != nil {
		t.Fatalf("statfs %s: %v", e.mnt, err)
	}
	if err := unix.Statfs(e.upper, &u); err != nil {
		t.Fatalf("statfs %s: %v", e.upper, err)
	}
	const fuseMagic, overlayMagic = 0x65735546, 0x794c7630
	if m.Type != fuseMagic && m.Type != overlayMagic {
		t.Errorf("statfs f_type %#x, want FUSE (%#x) or overlayfs (%#x)", m.Type, fuseMagic, overlayMagic)
	}
	if m.Bsize != u.Bsize || m.Frsize != u.Frsize || m.Blocks != u.Blocks || m.Files != u.Files {
		t.Errorf("statfs of the mount: bsize=%d frsize=%d blocks=%d files=%d; of the upper: bsize=%d frsize=%d blocks=%d files=%d",
			m.Bsize, m.Frsize, m.Blocks, m.Files, u.Bsize, u.Frsize, u.Blocks, u.Files)
	}
}

// TestKnownStaleFDOnLowerHardLink is a known difference from kernel
// overlayfs that lamina does not fix yet (unionfs doc, "Inode numbers"): a
// read-only descriptor opened on a file hard-linked in a lower layer, then
// copied up through another descriptor, keeps reading the lower file and
// reporting its attributes. Found by TestRandomDifferential. It runs only
// with LAMINA_KNOWN_BUGS=1.
func TestKnownStaleFDOnLowerHardLink(t *testing.T) {
	requireMountEnv(t)
	if os.Getenv("LAMINA_KNOWN_BUGS") == "" {
		t.Skip("known bug, not fixed: a descriptor opened on a lower hard link before its copy-up stays on the lower file (set LAMINA_KNOWN_BUGS=1 to run)")
	}
	runDiffCase(t, diffCase{name: "stale_fd_lower_hardlink", ops: []op{
		doStaleFD("hl_a", "H"),
		doFstatCopiedRemoved("hl_b", "more\n"),
	}}, "passthrough=off")
}
