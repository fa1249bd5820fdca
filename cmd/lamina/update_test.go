package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "100", want: 100},
		{in: "64m", want: 64 << 20},
		{in: "64MB", want: 64 << 20},
		{in: "2g", want: 2 << 30},
		{in: "512k", want: 512 << 10},
		{in: "1x", bad: true},
		{in: "12 m", bad: true},
		{in: "0", bad: true},
		{in: "-5m", bad: true},
		{in: "99999999999g", bad: true},
		{in: "", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseBytes(tc.in)
			if tc.bad != (err != nil) || got != tc.want {
				t.Fatalf("parseBytes(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestUpdateFlags(t *testing.T) {
	res := filepath.Join(t.TempDir(), "res.json")
	if err := os.WriteFile(res, []byte(`{"pids":{"limit":7}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // the resources as Go syntax, or the error
	}{
		{name: "memory and pids", args: []string{"--memory", "64m", "--pids-limit", "50"}, want: "Memory:Limit=67108864 Pids:50"},
		{name: "cpu", args: []string{"--cpu-quota", "50000", "--cpu-period", "100000", "--cpuset-cpus", "0"}, want: "CPU:Quota=50000 Period=100000 Cpus=0"},
		{name: "file", args: []string{"-r", res}, want: "Pids:7"},
		{name: "file and flags", args: []string{"-r", res, "--memory", "1g"}, want: "--resources: give either a file or --memory, not both"},
		{name: "unlimited", args: []string{"--memory", "-1"}, want: "Memory:Limit=-1"},
		{name: "nothing", args: nil, want: "nothing to change"},
		{name: "bad size", args: []string{"--memory", "1x"}, want: `--memory: "1x" is not a size`},
		{name: "bad weight", args: []string{"--blkio-weight", "5"}, want: "--blkio-weight: 5 is not between 10 and 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f updateFlags
			fs := pflag.NewFlagSet("update", pflag.ContinueOnError)
			f.add(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			r, err := f.build(fs)
			var got string
			switch {
			case err != nil:
				got = err.Error()
			default:
				var parts []string
				if m := r.Memory; m != nil && m.Limit != nil {
					parts = append(parts, "Memory:Limit="+itoa(*m.Limit))
				}
				if c := r.CPU; c != nil {
					parts = append(parts, "CPU:Quota="+itoa(*c.Quota)+" Period="+itoa(int64(*c.Period))+" Cpus="+c.Cpus)
				}
				if r.Pids != nil {
					parts = append(parts, "Pids:"+itoa(*r.Pids.Limit))
				}
				got = strings.Join(parts, " ")
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
