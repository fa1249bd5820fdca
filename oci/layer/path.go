package layer

import (
	"fmt"
	"strings"

	"github.com/lamina-dev/lamina/oci"
)

const (
	maxPath = 4096 // PATH_MAX
	maxName = 255  // NAME_MAX
)

// CleanPath turns a tar entry name (or hard link target) into a path
// relative to the layer root: "" for the root itself, otherwise components
// joined by "/" with no "", "." or ".." among them. Leading slashes and "./"
// are stripped; a ".." component anywhere, a NUL byte, an empty name, or a
// name longer than PATH_MAX (or a component longer than NAME_MAX) is refused
// with oci.ErrUnsafePath.
func CleanPath(name string) (string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 || len(name) > maxPath {
		return "", fmt.Errorf("clean path %q: %w", name, oci.ErrUnsafePath)
	}
	var out []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("clean path %q: %w", name, oci.ErrUnsafePath)
		}
		if len(c) > maxName {
			return "", fmt.Errorf("clean path %q: %w", name, oci.ErrUnsafePath)
		}
		out = append(out, c)
	}
	return strings.Join(out, "/"), nil
}
