package runtime

import (
	"os"

	"github.com/moby/sys/userns"
)

// Rootless reports whether the runtime lacks the host's privileges: it is
// not root, or it is root only of a user namespace (under "unshare -Urm",
// rootlesskit or a rootless podman's namespace), where cgroups are not
// delegated, device nodes cannot be made and unmapped ids (devpts's gid=5)
// cannot be used. runc decides the same way. DefaultSpec(Rootless()) is
// the config that works here.
func Rootless() bool { return os.Geteuid() != 0 || userns.RunningInUserNS() }
