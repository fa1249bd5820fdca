package tests

import (
	"strings"
	"testing"
)

// dpkgLower is a small installed system as a lower layer: binaries (two of
// them hard links of one file), a library and its symlink, a conffile, the
// dpkg status file and an alternatives symlink.
func dpkgLower() layer {
	return layer{
		file("usr/bin/tool", "tool v1\n").mode(0o755),
		file("usr/bin/pair-a", "pair v1\n").mode(0o755),
		hardlink("usr/bin/pair-b", "usr/bin/pair-a"),
		file("usr/lib/libx.so.1", strings.Repeat("lib v1\n", 5000)),
		symlink("usr/lib/libx.so", "libx.so.1"),
		file("etc/tool.conf", "setting=1\n").mode(0o640),
		file("var/lib/dpkg/status", "Package: tool\nVersion: 1\n\n"),
		symlink("etc/alternatives/editor", "/usr/bin/tool"),
		dir("var/cache/apt/archives/partial"),
	}
}

// dpkgSteps upgrades the package the way dpkg and apt write files: a hard
// link backup (.dpkg-tmp), the new file written beside the old (.dpkg-new),
// fsync, rename over the lower file, the backup removed; the status file
// through status-new, a status-old link and a rename; an alternatives
// symlink replaced by rename; a download moved from partial/. A process
// holding the old binary open keeps reading the old bytes.
const dpkgSteps = `
import hashlib, os, sys
os.chdir(sys.argv[1])

def fsync_dir(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)

def install(path, data, mode):
    if os.path.lexists(path):
        os.link(path, path + ".dpkg-tmp")
    fd = os.open(path + ".dpkg-new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    os.rename(path + ".dpkg-new", path)
    fsync_dir(os.path.dirname(path))

running = open("usr/bin/tool", "rb")
for path, data, mode in [
        ("usr/bin/tool", b"tool v2\n", 0o755),
        ("usr/bin/pair-a", b"pair v2\n", 0o755),
        ("usr/lib/libx.so.2", b"lib v2\n" * 6000, 0o644)]:
    install(path, data, mode)
os.symlink("libx.so.2", "usr/lib/libx.so.dpkg-new")
os.rename("usr/lib/libx.so.dpkg-new", "usr/lib/libx.so")
# The conffile was not changed by the admin: the new one replaces it,
# and the old one is kept as .dpkg-old.
os.link("etc/tool.conf", "etc/tool.conf.dpkg-old")
install("etc/tool.conf", b"setting=2\n", 0o640)
for path in ["usr/bin/tool", "usr/bin/pair-a", "etc/tool.conf"]:
    os.unlink(path + ".dpkg-tmp")
os.unlink("usr/lib/libx.so.1")
with open("var/lib/dpkg/status-new", "w") as f:
    f.write("Package: tool\nVersion: 2\n\n")
    f.flush()
    os.fsync(f.fileno())
if os.path.exists("var/lib/dpkg/status-old"):
    os.unlink("var/lib/dpkg/status-old")
os.link("var/lib/dpkg/status", "var/lib/dpkg/status-old")
os.rename("var/lib/dpkg/status-new", "var/lib/dpkg/status")
os.symlink("/usr/bin/pair-a", "etc/alternatives/editor.dpkg-tmp")
os.rename("etc/alternatives/editor.dpkg-tmp", "etc/alternatives/editor")
with open("var/cache/apt/archives/partial/tool_2.deb", "wb") as f:
    f.write(b"deb" * 1000)
os.rename("var/cache/apt/archives/partial/tool_2.deb", "var/cache/apt/archives/tool_2.deb")

print("running binary still reads:", running.read())
for root, dirs, files in sorted(os.walk(".")):
    dirs.sort()
    for name in sorted(files):
        p = os.path.join(root, name)
        st = os.lstat(p)
        if os.path.islink(p):
            print(p, "->", os.readlink(p))
        else:
            print(p, oct(st.st_mode), st.st_nlink, hashlib.sha256(open(p, "rb").read()).hexdigest()[:12])
`

// TestClientDpkgUpgrade replaces lower files the way dpkg and apt do.
func TestClientDpkgUpgrade(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "python3")
	lower := t.TempDir()
	if err := buildLayer(lower, dpkgLower()); err != nil {
		t.Fatalf("build lower: %v", err)
	}
	runClient(t, []string{lower}, func(t *testing.T, mnt string) string {
		return shellStep(t, mnt, []string{"STEPS=" + dpkgSteps}, `python3 -c "$STEPS" "$1"`)
	}, nil)
}
