package whiteout

import (
	"errors"
	"strings"
)

// Marker names (see the package doc, "Formats read").
const (
	prefix     = ".wh."         // every marker name begins with it
	metaPrefix = ".wh..wh."     // AUFS metadata and the opaque marker
	OpaqueName = ".wh..wh..opq" // an entry with this name makes its directory opaque
)

// Kind classifies a directory entry name or an OCI tar entry's base name.
type Kind int

const (
	Normal   Kind = iota // an ordinary name
	Whiteout             // ".wh.NAME": deletes NAME from the layers below
	Opaque               // ".wh..wh..opq": the directory is opaque
	Meta                 // ".wh..wh.*" other than Opaque: hidden, no effect
)

func (k Kind) String() string {
	switch k {
	case Normal:
		return "normal"
	case Whiteout:
		return "whiteout"
	case Opaque:
		return "opaque"
	case Meta:
		return "meta"
	}
	return "Kind(?)"
}

var (
	// ErrBadName is returned for a name that is not a single path
	// component: empty, ".", "..", or containing '/' or NUL. The Writer also
	// returns it for marker names, which cannot exist in the union.
	ErrBadName = errors.New("bad name")
	// ErrBadWhiteout is returned by ParseName for a marker name that is
	// malformed: a whiteout of "", "." or "..", or a name containing '/' or
	// NUL.
	ErrBadWhiteout = errors.New("bad whiteout name")
)

// IsMarkerName reports whether name is reserved for whiteout and opaque
// markers, that is, begins with ".wh.". Such names are never visible
// through the union.
func IsMarkerName(name string) bool {
	return strings.HasPrefix(name, prefix)
}

// ParseName classifies one name: a directory entry's name, or the base name
// of an OCI layer tar entry (the caller splits the path).
//
// For Normal it returns name itself, for Whiteout the target, and "" for
// Opaque and Meta. A Normal name that is not a single path component yields
// ErrBadName; a marker name that contains '/' or NUL, or a whiteout whose
// target is "", "." or "..", yields ErrBadWhiteout.
func ParseName(name string) (Kind, string, error) {
	if !IsMarkerName(name) {
		if !validName(name) {
			return Normal, "", ErrBadName
		}
		return Normal, name, nil
	}
	if strings.ContainsAny(name, "/\x00") {
		return Meta, "", ErrBadWhiteout
	}
	switch {
	case name == OpaqueName:
		return Opaque, "", nil
	case strings.HasPrefix(name, metaPrefix):
		return Meta, "", nil
	}
	target := name[len(prefix):]
	if !validName(target) {
		return Whiteout, "", ErrBadWhiteout
	}
	return Whiteout, target, nil
}

// WhiteoutName returns the OCI/AUFS marker name that whites out name:
// ".wh." + name. The caller passes a valid, non-marker name (see ParseName).
func WhiteoutName(name string) string {
	return prefix + name
}

// validName reports whether name is one path component.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsAny(name, "/\x00")
}

// checkName validates a name the caller wants to look up or change.
func checkName(name string) error {
	if !validName(name) || IsMarkerName(name) {
		return ErrBadName
	}
	return nil
}

// join joins a directory path and one name.
func join(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}
