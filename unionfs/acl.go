package unionfs

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// POSIX ACLs travel as the xattrs system.posix_acl_access and
// system.posix_acl_default, in the kernel's xattr form: a little-endian
// u32 version (2), then 8-byte entries {u16 tag, u16 perm, u32 id}. Only
// the named entries (ACL_USER, ACL_GROUP) carry an id. With id mapping
// (uidmapping=, gidmapping=) those ids are translated like owners: the
// layers store the container's ids, the kernel, which enforces the ACLs,
// sees the union's.
const (
	aclAccess     = "system.posix_acl_access"
	aclDefault    = "system.posix_acl_default" // a directory's, inherited by new entries
	aclVersion    = 2
	aclHeaderSize = 4
	aclEntrySize  = 8
	aclTagUser    = 0x02
	aclTagGroup   = 0x08
)

// errBadACL reports an ACL xattr value that is not in the kernel's form.
var errBadACL = errors.New("malformed POSIX ACL xattr")

// isACLXattr reports whether name is one of the POSIX ACL xattrs.
func isACLXattr(name string) bool { return name == aclAccess || name == aclDefault }

// mapACL rewrites the ids of the named entries of the ACL xattr value val
// in place through uid and gid. It checks the whole value before changing
// anything.
func mapACL(val []byte, uid, gid func(uint32) uint32) error {
	if len(val) < aclHeaderSize || (len(val)-aclHeaderSize)%aclEntrySize != 0 {
		return fmt.Errorf("map ACL ids: %w: %d bytes", errBadACL, len(val))
	}
	if v := binary.LittleEndian.Uint32(val); v != aclVersion {
		return fmt.Errorf("map ACL ids: %w: version %d", errBadACL, v)
	}
	for e := val[aclHeaderSize:]; len(e) > 0; e = e[aclEntrySize:] {
		var m func(uint32) uint32
		switch binary.LittleEndian.Uint16(e) {
		case aclTagUser:
			m = uid
		case aclTagGroup:
			m = gid
		default:
			continue
		}
		binary.LittleEndian.PutUint32(e[4:], m(binary.LittleEndian.Uint32(e[4:])))
	}
	return nil
}

// hasIDMaps reports whether stored ids differ from the union's.
func (u *Union) hasIDMaps() bool { return len(u.opts.uidMap) > 0 || len(u.opts.gidMap) > 0 }

// showACL maps the ids of an ACL xattr value read from a layer to the
// union's, if attr is an ACL and ids are mapped.
func (u *Union) showACL(attr string, val []byte) error {
	if !u.hasIDMaps() || !isACLXattr(attr) || len(val) == 0 {
		return nil
	}
	return mapACL(val, u.opts.uidMap.ToContainer, u.opts.gidMap.ToContainer)
}

// storeACL returns the value to store for an ACL xattr set through the
// union: a copy with the ids mapped to the layers', if ids are mapped.
func (u *Union) storeACL(attr string, val []byte) ([]byte, error) {
	if !u.hasIDMaps() || !isACLXattr(attr) {
		return val, nil
	}
	out := append([]byte(nil), val...)
	return out, mapACL(out, u.opts.uidMap.ToHost, u.opts.gidMap.ToHost)
}
