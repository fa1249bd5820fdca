package oci

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"# comment\n" +
		"daemon:x:1:1::/usr/sbin:/bin/false\n" +
		"app:x:1000:1000:App:/home/app:/bin/sh\n" +
		"bad:x:notanumber:1\n"
	testGroup = "root:x:0:\n" +
		"wheel:x:10:root,app\n" +
		"app:x:1000:\n" +
		"audio:x:29:daemon,app\n" +
		"staff:x:50:\n"
)

// rootfsWith builds a root filesystem with the given files under etc/;
// content "-> T" makes a symlink to T, "<fifo>" a fifo.
func rootfsWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var err error
		switch {
		case strings.HasPrefix(c, "-> "):
			err = os.Symlink(c[3:], p)
		case c == "<fifo>":
			err = syscall.Mkfifo(p, 0o644)
		default:
			err = os.WriteFile(p, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestApplyImageConfigUser(t *testing.T) {
	std := map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup}
	// outside is a file outside every test rootfs that a hostile symlink
	// points at; reading it would resolve "evil" to uid 4242.
	outside := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(outside, []byte("evil:x:4242:4242::/:/bin/sh\n"), 0o644)

	for _, tc := range []struct {
		name    string
		files   map[string]string
		user    string
		uid     uint32
		gid     uint32
		groups  []uint32
		home    string
		wantErr error // errors.Is target; errAny: any error
	}{
		{name: "empty keeps spec user", files: std, user: "", uid: 0, gid: 0, home: "/spec-home"},
		{name: "empty: HOME of the spec's uid", files: std, user: "-", uid: 0, gid: 0, home: "/root"},
		{name: "uid only, in passwd", files: std, user: "1000", uid: 1000, gid: 1000, home: "/home/app"},
		{name: "uid only, not in passwd", files: std, user: "4321", uid: 4321, gid: 0, home: "/"},
		{name: "uid only, no passwd file", files: map[string]string{}, user: "7", uid: 7, gid: 0, home: "/"},
		{name: "uid:gid verbatim", files: map[string]string{}, user: "12:34", uid: 12, gid: 34, home: "/"},
		{name: "name", files: std, user: "app", uid: 1000, gid: 1000, groups: []uint32{10, 29}, home: "/home/app"},
		{name: "name root", files: std, user: "root", uid: 0, gid: 0, groups: []uint32{10}, home: "/root"},
		{name: "name no group file", files: map[string]string{"etc/passwd": testPasswd}, user: "daemon", uid: 1, gid: 1, home: "/usr/sbin"},
		{name: "name:group", files: std, user: "app:staff", uid: 1000, gid: 50, home: "/home/app"},
		{name: "name:gid", files: std, user: "daemon:99", uid: 1, gid: 99, home: "/usr/sbin"},
		{name: "uid:group", files: std, user: "1000:audio", uid: 1000, gid: 29, home: "/"},
		{name: "unknown name", files: std, user: "nobody", wantErr: ErrUnknownUser},
		{name: "unknown group", files: std, user: "app:nogroup", wantErr: ErrUnknownUser},
		{name: "name without passwd", files: map[string]string{}, user: "app", wantErr: os.ErrNotExist},
		{name: "malformed uid is skipped", files: std, user: "bad", wantErr: ErrUnknownUser},
		{name: "empty group", files: std, user: "app:", wantErr: ErrUnknownUser},
		{name: "uid out of range is a name", files: std, user: "4294967296", wantErr: ErrUnknownUser},
		{name: "hostile absolute passwd symlink", files: map[string]string{"etc/passwd": "-> " + outside}, user: "evil", wantErr: errAny},
		{name: "hostile relative passwd symlink", files: map[string]string{"etc/passwd": "-> ../../../../../../../../" + outside}, user: "evil", wantErr: errAny},
		{name: "hostile etc symlink", files: map[string]string{}, user: "evil", wantErr: errAny},
		{name: "hostile group symlink", files: map[string]string{"etc/passwd": testPasswd, "etc/group": "-> " + outside}, user: "app:evil", wantErr: errAny},
		{name: "passwd symlink inside rootfs", files: map[string]string{"etc/passwd": "-> ../lib/passwd", "lib/passwd": testPasswd}, user: "app", uid: 1000, gid: 1000, home: "/home/app"},
		{name: "passwd fifo", files: map[string]string{"etc/passwd": "<fifo>"}, user: "app", wantErr: errAny},
		{name: "passwd directory", files: map[string]string{"etc/passwd/x": ""}, user: "app", wantErr: errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rootfs := rootfsWith(t, tc.files)
			if tc.name == "hostile etc symlink" {
				// Replace etc itself by a symlink to the outside directory.
				os.RemoveAll(filepath.Join(rootfs, "etc"))
				os.Symlink(filepath.Dir(outside), filepath.Join(rootfs, "etc"))
			}
			spec := &specs.Spec{Process: &specs.Process{User: specs.User{UID: 0, GID: 0}}}
			img := &ispec.Image{Config: ispec.ImageConfig{Cmd: []string{"true"}, User: tc.user}}
			switch tc.user {
			case "":
				// Config.User empty: the spec's user and HOME stay.
				spec.Process.Env = []string{"HOME=/spec-home"}
			case "-":
				// Config.User empty, no HOME: the passwd entry of the
				// spec's uid gives it.
				img.Config.User = ""
			}
			done := make(chan error, 1)
			go func() { done <- ApplyImageConfig(spec, img, rootfs) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ApplyImageConfig blocked")
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("got %+v, want an error", spec.Process.User)
				}
				if tc.wantErr != errAny && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				t.Log(err)
				if strings.Contains(err.Error(), "4242") {
					t.Fatalf("read outside the rootfs: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := spec.Process.User
			if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.groups) {
				t.Errorf("user = %d:%d %v, want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.groups)
			}
			if h, _ := lookupEnv(spec.Process.Env, "HOME"); h != tc.home {
				t.Errorf("HOME = %q, want %q", h, tc.home)
			}
		})
	}
}

// errAny marks a case that must fail without naming the error.
var errAny = errors.New("any error")

func TestApplyImageConfig(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	base := ispec.Image{
		Created: &created,
		Author:  "someone",
		Platform: ispec.Platform{
			OS: "linux", Architecture: "arm64", Variant: "v8",
			OSFeatures: []string{"a", "b"},
		},
		Config: ispec.ImageConfig{
			Entrypoint:   []string{"/bin/app", "--serve"},
			Cmd:          []string{"--port", "80"},
			Env:          []string{"PATH=/app/bin:/bin", "A=1", "B=2"},
			WorkingDir:   "/srv",
			StopSignal:   "SIGQUIT",
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
			Volumes:      map[string]struct{}{"/data": {}, "cache": {}},
			Labels: map[string]string{
				"com.example.x":               "y",
				AnnotationAuthor:              "label wins",
				"org.opencontainers.image.os": "label os",
			},
		},
	}
	defaultSpec := func() *specs.Spec {
		return &specs.Spec{
			Process: &specs.Process{
				Env: []string{"PATH=/usr/bin:/bin", "TERM=xterm"},
				Cwd: "/",
			},
			Mounts:      []specs.Mount{{Destination: "/data", Type: "bind", Source: "/host"}},
			Annotations: map[string]string{"pre": "kept"},
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*ispec.Image)
		opts  []ConvertOption
		check func(t *testing.T, s *specs.Spec)
		err   error
	}{
		{name: "entrypoint and cmd", check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "/bin/app", "--serve", "--port", "80")
		}},
		{name: "cmd only", edit: func(i *ispec.Image) { i.Config.Entrypoint = nil }, check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "--port", "80")
		}},
		{name: "entrypoint only", edit: func(i *ispec.Image) { i.Config.Cmd = nil }, check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "/bin/app", "--serve")
		}},
		{name: "override cmd", opts: []ConvertOption{WithCmd([]string{"-v"})}, check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "/bin/app", "--serve", "-v")
		}},
		{name: "override entrypoint drops image cmd", opts: []ConvertOption{WithEntrypoint([]string{"/bin/sh"})}, check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "/bin/sh")
		}},
		{name: "override both", opts: []ConvertOption{WithEntrypoint([]string{"/bin/sh", "-c"}), WithCmd([]string{"echo hi"})}, check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "/bin/sh", "-c", "echo hi")
		}},
		{name: "clear entrypoint, override cmd", opts: []ConvertOption{WithEntrypoint([]string{}), WithCmd([]string{"ls"})}, check: func(t *testing.T, s *specs.Spec) {
			wantArgs(t, s, "ls")
		}},
		{name: "no command", edit: func(i *ispec.Image) { i.Config.Entrypoint, i.Config.Cmd = nil, nil }, err: ErrNoCommand},
		{name: "empty entrypoint override and no cmd", opts: []ConvertOption{WithEntrypoint(nil)}, err: ErrNoCommand},
		{name: "env merge", opts: []ConvertOption{WithEnv([]string{"B=override", "C=3", "A"})}, check: func(t *testing.T, s *specs.Spec) {
			want := []string{"TERM=xterm", "PATH=/app/bin:/bin", "B=override", "C=3", "HOME=/"}
			if !slices.Equal(s.Process.Env, want) {
				t.Errorf("env = %q, want %q", s.Process.Env, want)
			}
		}},
		{name: "working dir", check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/srv" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "relative working dir", edit: func(i *ispec.Image) { i.Config.WorkingDir = "srv/../app" }, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/app" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "working dir override", opts: []ConvertOption{WithWorkingDir("/tmp")}, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/tmp" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "no working dir keeps spec", edit: func(i *ispec.Image) { i.Config.WorkingDir = "" }, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "user override", opts: []ConvertOption{WithUser("5:6")}, check: func(t *testing.T, s *specs.Spec) {
			if u := s.Process.User; u.UID != 5 || u.GID != 6 {
				t.Errorf("user = %+v", u)
			}
		}},
		{name: "annotations", check: func(t *testing.T, s *specs.Spec) {
			want := map[string]string{
				"pre":                  "kept",
				AnnotationOS:           "label os",
				AnnotationArchitecture: "arm64",
				AnnotationVariant:      "v8",
				AnnotationOSFeatures:   "a,b",
				AnnotationAuthor:       "label wins",
				AnnotationCreated:      "2024-05-06T07:08:09Z",
				AnnotationStopSignal:   "SIGQUIT",
				AnnotationExposedPorts: "53/udp,80/tcp",
				"com.example.x":        "y",
			}
			for k, v := range want {
				if s.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], v)
				}
			}
			if len(s.Annotations) != len(want) {
				t.Errorf("annotations = %v", s.Annotations)
			}
		}},
		{name: "volumes become tmpfs mounts", check: func(t *testing.T, s *specs.Spec) {
			var dests []string
			for _, m := range s.Mounts {
				dests = append(dests, m.Destination+":"+m.Type)
			}
			// /data is already a bind mount of the caller: kept, not doubled.
			if want := []string{"/data:bind", "/cache:tmpfs"}; !slices.Equal(dests, want) {
				t.Errorf("mounts = %v, want %v", dests, want)
			}
		}},
		{name: "without volumes", opts: []ConvertOption{WithoutVolumes()}, check: func(t *testing.T, s *specs.Spec) {
			if len(s.Mounts) != 1 {
				t.Errorf("mounts = %v", s.Mounts)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := base
			img.Config.Entrypoint = slices.Clone(base.Config.Entrypoint)
			img.Config.Cmd = slices.Clone(base.Config.Cmd)
			if tc.edit != nil {
				tc.edit(&img)
			}
			s := defaultSpec()
			err := ApplyImageConfig(s, &img, "", tc.opts...)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func wantArgs(t *testing.T, s *specs.Spec, want ...string) {
	t.Helper()
	if !slices.Equal(s.Process.Args, want) {
		t.Errorf("args = %q, want %q", s.Process.Args, want)
	}
}
