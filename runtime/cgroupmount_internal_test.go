package runtime

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestCgroupBindPlan(t *testing.T) {
	v1 := func(mp, root, opts string) *mountinfo.Info {
		return &mountinfo.Info{Mountpoint: mp, Root: root, FSType: "cgroup", VFSOptions: opts}
	}
	v2 := func(mp, root string) *mountinfo.Info {
		return &mountinfo.Info{Mountpoint: mp, Root: root, FSType: "cgroup2", VFSOptions: "rw,nsdelegate"}
	}
	const ctr = "/libpod_parent/libpod-abc"
	for _, tc := range []struct {
		name      string
		mounts    []*mountinfo.Info
		own       map[string]string
		unified   bool
		wantBinds []cgroupBind
		wantLinks map[string]string
		wantErr   string
	}{
		{
			name: "hybrid host, separate controllers, unified left out",
			mounts: []*mountinfo.Info{
				v1("/sys/fs/cgroup/cpu", "/", "rw,cpu"),
				v1("/sys/fs/cgroup/memory", "/", "rw,memory"),
				v1("/sys/fs/cgroup/systemd", "/", "rw,xattr,name=systemd"),
				v2("/sys/fs/cgroup/unified", "/"),
			},
			own:       map[string]string{"cpu": ctr, "memory": ctr, "name=systemd": ctr, "": ctr},
			wantBinds: []cgroupBind{{"/sys/fs/cgroup/cpu" + ctr, "cpu"}, {"/sys/fs/cgroup/memory" + ctr, "memory"}, {"/sys/fs/cgroup/systemd" + ctr, "systemd"}},
			wantLinks: map[string]string{},
		},
		{
			name: "co-mounted controllers get links",
			mounts: []*mountinfo.Info{
				v1("/sys/fs/cgroup/cpu,cpuacct", "/", "rw,cpu,cpuacct"),
				v1("/sys/fs/cgroup/net_cls,net_prio", "/", "rw,net_cls,net_prio"),
			},
			own:       map[string]string{"cpu": ctr, "cpuacct": ctr, "net_cls": "/other", "net_prio": "/other"},
			wantBinds: []cgroupBind{{"/sys/fs/cgroup/cpu,cpuacct" + ctr, "cpu,cpuacct"}, {"/sys/fs/cgroup/net_cls,net_prio/other", "net_cls,net_prio"}},
			wantLinks: map[string]string{"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "net_cls": "net_cls,net_prio", "net_prio": "net_cls,net_prio"},
		},
		{
			name: "hierarchy mounted twice is bound once; unknown hierarchy skipped",
			mounts: []*mountinfo.Info{
				v1("/sys/fs/cgroup/pids", "/", "rw,pids"),
				v1("/mnt/pids-again", "/", "rw,pids"),
				v1("/sys/fs/cgroup/rdma", "/", "rw,rdma"),
			},
			own:       map[string]string{"pids": ctr},
			wantBinds: []cgroupBind{{"/sys/fs/cgroup/pids" + ctr, "pids"}},
			wantLinks: map[string]string{},
		},
		{
			name:      "nested: the mount's root is a cgroup itself",
			mounts:    []*mountinfo.Info{v1("/sys/fs/cgroup/memory", "/docker/outer", "rw,memory")},
			own:       map[string]string{"memory": "/docker/outer/inner"},
			wantBinds: []cgroupBind{{"/sys/fs/cgroup/memory/inner", "memory"}},
			wantLinks: map[string]string{},
		},
		{
			name:    "own cgroup outside the mount's root",
			mounts:  []*mountinfo.Info{v1("/sys/fs/cgroup/memory", "/docker/outer", "rw,memory")},
			own:     map[string]string{"memory": "/elsewhere"},
			wantErr: "outside the root /docker/outer",
		},
		{
			name:    "no v1 hierarchy matches",
			mounts:  []*mountinfo.Info{v2("/sys/fs/cgroup/unified", "/")},
			own:     map[string]string{"": ctr},
			wantErr: "none in mountinfo matches",
		},
		{
			name:      "unified host",
			mounts:    []*mountinfo.Info{v2("/sys/fs/cgroup", "/")},
			own:       map[string]string{"": "/machine.slice/libpod-abc.scope"},
			unified:   true,
			wantBinds: []cgroupBind{{"/sys/fs/cgroup/machine.slice/libpod-abc.scope", ""}},
		},
		{
			name:      "unified host in a cgroup namespace-less nested container",
			mounts:    []*mountinfo.Info{v2("/sys/fs/cgroup", "/outer")},
			own:       map[string]string{"": "/outer/inner"},
			unified:   true,
			wantBinds: []cgroupBind{{"/sys/fs/cgroup/inner", ""}},
		},
		{
			name:    "unified without a cgroup2 entry in /proc/self/cgroup",
			mounts:  []*mountinfo.Info{v2("/sys/fs/cgroup", "/")},
			own:     map[string]string{"memory": ctr},
			unified: true,
			wantErr: "no cgroup2 entry",
		},
		{
			name:    "unified without a cgroup2 mount",
			mounts:  []*mountinfo.Info{v1("/sys/fs/cgroup/memory", "/", "rw,memory")},
			own:     map[string]string{"": ctr},
			unified: true,
			wantErr: "find cgroup2 mount",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			binds, links, err := cgroupBindPlan(tc.mounts, tc.own, tc.unified)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(binds, tc.wantBinds) {
				t.Errorf("binds %+v, want %+v", binds, tc.wantBinds)
			}
			if !reflect.DeepEqual(links, tc.wantLinks) {
				t.Errorf("links %v, want %v", links, tc.wantLinks)
			}
		})
	}
}
