package tests

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// snapshot is a tree as seen through a mount: relative path -> one line of
// comparable facts (see describe), plus the d_type readdir gave, content
// hash, xattrs and, for hard links, the other names of the same inode.
type snapshot map[string]string

// takeSnapshot walks root with getdents64 and lstat. It never follows
// symlinks and never opens fifos or devices.
func takeSnapshot(root string) snapshot {
	s := snapshot{}
	inodes := map[uint64][]string{}
	var walk func(rel string, dtype string)
	walk = func(rel string, dtype string) {
		p := filepath.Join(root, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			s[rel] = "lstat:" + errName(err)
			return
		}
		line := describe(&st, p)
		if dtype != "" && dtype != typeName(st.Mode) {
			line += " dtype=" + dtype + "(WRONG)"
		}
		if x, err := xattrList(p); err != nil {
			line += " xattrs!" + errName(err)
		} else if x != "{}" {
			line += " xattrs" + x
		}
		for _, n := range mustNames(p) {
			if privateXattr(n) {
				line += " PRIVATE-XATTR-VISIBLE:" + n
			}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if data, err := os.ReadFile(p); err != nil {
				line += " read:" + errName(err)
			} else {
				line += " data=" + contentString(data)
			}
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		case unix.S_IFDIR:
			ents, err := readDir(p, 4096)
			if err != nil {
				line += " readdir:" + errName(err)
			}
			for _, e := range ents {
				if e.name == "." || e.name == ".." {
					continue
				}
				walk(path.Join(rel, e.name), dtypeName(e.dtype))
			}
		default:
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		}
		s[rel] = line
	}
	walk(".", "")
	for _, names := range inodes {
		if len(names) < 2 {
			continue
		}
		sort.Strings(names)
		for _, n := range names {
			s[n] += " links=[" + strings.Join(names, " ") + "]"
		}
	}
	return s
}

func mustNames(p string) []string {
	names, _ := listxattr(p)
	return names
}

// diffSnapshots lists how b differs from a, naming each side.
func diffSnapshots(aName string, a snapshot, bName string, b snapshot) []string {
	var out []string
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		av, aok := a[k]
		bv, bok := b[k]
		switch {
		case !aok:
			out = append(out, fmt.Sprintf("%s: only in %s: %s", k, bName, bv))
		case !bok:
			out = append(out, fmt.Sprintf("%s: only in %s: %s", k, aName, av))
		case av != bv:
			out = append(out, fmt.Sprintf("%s:\n\t%-8s %s\n\t%-8s %s", k, aName+":", av, bName+":", bv))
		}
	}
	return out
}

// listRaw describes every entry under dir as stored, markers and private
// xattrs included: a debugging aid for failed cases.
func listRaw(dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			out = append(out, p+": "+errName(err))
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		x, _ := xattrList(p)
		out = append(out, rel+": "+describe(&st, p)+" xattrs"+x)
		return nil
	})
	return out
}
