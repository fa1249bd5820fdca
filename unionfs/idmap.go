package unionfs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// overflowID is what an ID outside every mapped range shows as (the
// kernel's overflowuid).
const overflowID = 65534

// IDRange maps Length IDs starting at Container (the union's view) to IDs
// starting at Host (what the layers store).
type IDRange struct {
	Container, Host, Length uint32
}

// IDMap is a list of ranges; an empty map is the identity.
type IDMap []IDRange

// ParseIDMap parses fuse-overlayfs's form "S:V:L[:S:V:L...]": the L ids
// stored in the layers from S show in the union as the ids from V
// (fuse-overlayfs's "UID:MAPPED-UID:LEN"; containers/storage passes the
// container's id mappings, container id then host id, so that an image's
// root shows as the host uid that is root in the container's user
// namespace). Empty fields are skipped, as fuse-overlayfs's strtok does:
// containers/storage (podman 4) writes "uidmapping=:0:100000:65536".
func ParseIDMap(s string) (IDMap, error) {
	parts := slices.DeleteFunc(strings.Split(s, ":"), func(p string) bool { return p == "" })
	if len(parts) == 0 || len(parts)%3 != 0 {
		return nil, fmt.Errorf("parse id mapping %q: want container:host:length triples", s)
	}
	m := make(IDMap, 0, len(parts)/3)
	for i := 0; i < len(parts); i += 3 {
		var v [3]uint32
		for j := range v {
			n, err := strconv.ParseUint(parts[i+j], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("parse id mapping %q: %w", s, err)
			}
			v[j] = uint32(n)
		}
		if v[2] == 0 {
			return nil, fmt.Errorf("parse id mapping %q: zero-length range", s)
		}
		if uint64(v[0])+uint64(v[2]) > 1<<32 || uint64(v[1])+uint64(v[2]) > 1<<32 {
			return nil, fmt.Errorf("parse id mapping %q: range overflows 32 bits", s)
		}
		m = append(m, IDRange{Host: v[0], Container: v[1], Length: v[2]})
	}
	return m, nil
}

// ToHost maps a union ID to the ID stored in the layers.
func (m IDMap) ToHost(id uint32) uint32 {
	if len(m) == 0 {
		return id
	}
	for _, r := range m {
		if id >= r.Container && id-r.Container < r.Length {
			return r.Host + (id - r.Container)
		}
	}
	return overflowID
}

// ToContainer maps a stored ID to the ID the union shows.
func (m IDMap) ToContainer(id uint32) uint32 {
	if len(m) == 0 {
		return id
	}
	for _, r := range m {
		if id >= r.Host && id-r.Host < r.Length {
			return r.Container + (id - r.Host)
		}
	}
	return overflowID
}
