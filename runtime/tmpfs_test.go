package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestTmpfsMounts covers the tmpfs mounts podman asks for: runc's
// tmpcopyup extension (--read-only's /run, /tmp, and --tmpfs) and a
// read-only tmpfs with a mount below it (--tmpfs /etc:ro with podman's
// /etc/hosts bind, or the cgroup tmpfs with --systemd's
// /sys/fs/cgroup/systemd bind).
func TestTmpfsMounts(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name   string
		mounts []specs.Mount
		rootfs func(t *testing.T, rootfs string)
		script string
		want   string
	}{
		{
			name:   "tmpcopyup copies files, links, modes and owners",
			mounts: []specs.Mount{{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "rprivate", "nosuid", "nodev", "tmpcopyup"}}},
			rootfs: func(t *testing.T, rootfs string) {
				d := filepath.Join(rootfs, "data")
				mustDo(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
				mustDo(t, unix.Chmod(d, 0o1770))
				mustDo(t, os.WriteFile(filepath.Join(d, "sub", "f"), []byte("content"), 0o604))
				mustDo(t, os.Lchown(filepath.Join(d, "sub", "f"), 1000, 1001))
				mustDo(t, os.Symlink("sub/f", filepath.Join(d, "link")))
			},
			script: `grep -q " /data rw,.* - tmpfs " /proc/self/mountinfo && echo tmpfs
stat -c '%a %n' /data; stat -c '%a %u:%g %n' /data/sub/f; readlink /data/link; cat /data/link; echo
echo new > /data/new && cat /data/new`,
			want: "tmpfs\n1770 /data\n604 1000:1001 /data/sub/f\nsub/f\ncontent\nnew",
		},
		{
			name:   "tmpcopyup of a missing directory keeps the tmpfs mode",
			mounts: []specs.Mount{{Destination: "/fresh", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup"}}},
			script: `stat -c '%a' /fresh; ls -A /fresh | wc -l`,
			want:   "1777\n0",
		},
		{
			name: "read-only tmpfs with a bind below",
			mounts: []specs.Mount{
				{Destination: "/etc", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "nosuid", "nodev", "tmpcopyup"}},
				{Destination: "/etc/hosts", Type: "bind", Source: "/proc/self/cmdline", Options: []string{"bind", "ro"}},
			},
			rootfs: func(t *testing.T, rootfs string) {
				mustDo(t, os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644))
			},
			script: `cat /etc/passwd; test -f /etc/hosts && echo hosts; touch /etc/x 2>/dev/null || echo read-only`,
			want:   "root:x:0:0::/:/bin/sh\nhosts\nread-only",
		},
		{
			name: "read-only cgroup mount with a bind below",
			mounts: []specs.Mount{
				{Destination: "/sys/fs/cgroup/extra", Type: "bind", Source: "/proc/self/fdinfo", Options: []string{"bind", "ro"}},
			},
			script: `test -d /sys/fs/cgroup/extra && echo extra; touch /sys/fs/cgroup/y 2>/dev/null || echo read-only`,
			want:   "extra\nread-only",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			id := newID(t)
			bundle := newBundle(t, []string{"sh", "-c", tc.script}, func(s *specs.Spec) {
				s.Root.Readonly = false
				s.Mounts = append(s.Mounts, tc.mounts...)
			})
			if tc.rootfs != nil {
				tc.rootfs(t, filepath.Join(bundle, "rootfs"))
			}
			c, out := create(t, r, id, bundle)
			if err := r.Start(id); err != nil {
				t.Fatalf("start: %v", err)
			}
			if code := wait(t, r, c, 20*time.Second); code != 0 {
				t.Fatalf("exit code %d:\n%s", code, out)
			}
			wantOut(tc.want)(t, out.String())
		})
	}
}

func TestTmpcopyupOnlyOnTmpfs(t *testing.T) {
	bundle := t.TempDir()
	mustDo(t, os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755))
	s := runtime.DefaultSpec(os.Geteuid() != 0)
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "proc", Source: "proc", Options: []string{"tmpcopyup"}})
	err := runtime.Validate(s, bundle)
	var ce *runtime.ConfigError
	if want := fmt.Sprintf("mounts[%d].options[0]", len(s.Mounts)-1); !errors.As(err, &ce) || ce.Field != want {
		t.Fatalf("Validate gave %v, want a *ConfigError on the tmpcopyup option", err)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
