package whiteout

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Marker is a whiteout or opaque marker found in a layer tree that kernel
// overlayfs, mounted with a given xattr namespace, would not understand.
//
// Exactly one of these holds:
//   - Name != "": a whiteout of Dir/Name. Raw is the marker's entry name
//     (".wh.NAME"), or "" for an xwhiteout of the other namespace, whose
//     carrier is the empty file Dir/Name itself and Xattr its whiteout
//     xattr.
//   - Opaque: Dir is opaque. Raw is OpaqueName, or "" when Xattr is the
//     foreign opaque xattr on Dir.
//   - Redirect: Dir carries the redirect xattr Xattr, which the kernel
//     would not follow. No layer can stand in for it.
//   - none: a meta or malformed marker entry Raw, which has no effect but
//     would be visible.
type Marker struct {
	Dir      string // directory relative to the layer root; "" for the root
	Name     string // whited-out name; "" for opaque and meta markers
	Opaque   bool   // the marker makes Dir opaque
	Redirect bool   // Dir has a redirect the kernel would not follow
	Raw      string // the marker entry's name in Dir; "" for xattr forms
	Xattr    string // for xattr forms, the xattr's name; "" otherwise
}

// ForeignMarkers walks root, one layer directory, without following
// symlinks, and returns in lexical order every marker that kernel
// overlayfs mounted with xattr namespace ns ("trusted" or "user") would
// not honour: ".wh." entries of every kind, opaque xattrs of the other
// namespace, user.fuseoverlayfs.opaque, xwhiteouts of the other
// namespace, and redirects the kernel does not follow: those of the other
// namespace, and with "user" (userxattr, which follows none) all. 0/0
// devices and the markers of ns itself are native and not returned. Directories with marker names are reported, not entered.
func ForeignMarkers(root, ns string) ([]Marker, error) {
	var other dirXattrsNS
	switch ns {
	case "trusted":
		other = userNS
	case "user":
		other = trustedNS
	default:
		return nil, fmt.Errorf("find foreign markers: unknown xattr namespace %q", ns)
	}
	var out []Marker
	if err := walkForeign(root, "", other, &out); err != nil {
		return nil, fmt.Errorf("find foreign markers in %s: %w", root, err)
	}
	return out, nil
}

// dirXattrsNS selects the overlay xattrs foreign to a kernel mount.
type dirXattrsNS struct {
	opaque, whiteout string // xattr names
	value            func(dirXattrs) byte
	// redirect is the foreign redirect xattr; "" means both are (a
	// userxattr mount follows no redirect).
	redirect string
}

var (
	trustedNS = dirXattrsNS{xattrTrustedOpaque, xattrTrustedWhiteout,
		func(x dirXattrs) byte { return x.trusted }, ""}
	userNS = dirXattrsNS{xattrUserOpaque, xattrUserWhiteout,
		func(x dirXattrs) byte { return x.user }, xattrUserRedirect}
)

// walkForeign appends the foreign markers of root/rel and below to out.
func walkForeign(root, rel string, other dirXattrsNS, out *[]Marker) error {
	abs := filepath.Join(root, rel)
	x, err := readDirXattrs(abs)
	if err != nil {
		return err
	}
	if other.value(x) == valueOpaque[0] {
		*out = append(*out, Marker{Dir: rel, Opaque: true, Xattr: other.opaque})
	}
	if x.fuse == valueOpaque[0] {
		*out = append(*out, Marker{Dir: rel, Opaque: true, Xattr: xattrFuseOpaque})
	}
	if x.redirect != "" && (other.redirect == "" || x.redirect == other.redirect) {
		*out = append(*out, Marker{Dir: rel, Redirect: true, Xattr: x.redirect})
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	otherXWh := other.value(x) == valueXWhiteout[0]
	for _, e := range ents {
		name := e.Name()
		if IsMarkerName(name) {
			*out = append(*out, markerFor(rel, name))
			continue
		}
		switch {
		case e.IsDir():
			if err := walkForeign(root, filepath.Join(rel, name), other, out); err != nil {
				return err
			}
		case otherXWh && e.Type().IsRegular():
			ok, err := isXWhiteoutOf(filepath.Join(abs, name), other.whiteout)
			if err != nil {
				return err
			}
			if ok {
				*out = append(*out, Marker{Dir: rel, Name: name, Xattr: other.whiteout})
			}
		}
	}
	return nil
}

// markerFor describes the marker entry raw in directory rel.
func markerFor(rel, raw string) Marker {
	m := Marker{Dir: rel, Raw: raw}
	switch kind, target, err := ParseName(raw); {
	case err != nil:
	case kind == Whiteout:
		m.Name = target
	case kind == Opaque:
		m.Opaque = true
	}
	return m
}

// isXWhiteoutOf reports whether path is an empty regular file carrying the
// xwhiteout xattr name.
func isXWhiteoutOf(path, name string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return false, nil
	}
	return hasXattr(path, name)
}
