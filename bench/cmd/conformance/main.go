// Command conformance runs the OCI runtime-tools validation suite against
// lamina and runc (when installed) and writes conformance.md. It needs
// root. See package bench/conformance for the method.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lamina-dev/lamina/bench/conformance"
	"github.com/spf13/pflag"
)

func main() {
	flags := pflag.NewFlagSet("conformance", pflag.ExitOnError)
	lamina := flags.String("lamina", "bin/lamina", "lamina binary")
	peers := flags.StringSlice("peers", []string{"runc"}, "other runtimes to run the suite against (left out when not installed)")
	out := flags.String("out", "bench/results", "directory for conformance.md")
	logs := flags.String("logs", "", "directory to keep each program's TAP output and stderr in (TEST.RUNTIME.tap, .err)")
	tests := flags.StringSlice("tests", nil, "run only these programs (default: all)")
	version := flags.String("version", conformance.RuntimeToolsVersion, "runtime-tools module version")
	timeout := flags.Duration("timeout", conformance.DefaultTimeout, "time limit of one program")
	goBin := flags.String("go", "go", "go command that builds the suite")
	flags.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: conformance [flags]\n\nExample:\n  sudo go run ./bench/cmd/conformance --lamina bin/lamina --tests state,kill --logs /tmp/conf\n\n")
		flags.PrintDefaults()
	}
	_ = flags.Parse(os.Args[1:])
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "conformance: needs root (it creates containers) - run it with sudo")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *lamina, *peers, *out, *logs, *tests, *version, *goBin, *timeout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, lamina string, peers []string, out, logs string, tests []string, version, goBin string, timeout time.Duration) error {
	abs, err := filepath.Abs(lamina)
	if err != nil {
		return err
	}
	runtimes := []conformance.Runtime{}
	for _, p := range peers {
		if path, err := exec.LookPath(p); err == nil {
			runtimes = append(runtimes, conformance.Runtime{Name: p, Path: path})
		} else {
			fmt.Fprintf(os.Stderr, "conformance: %s is not installed, left out\n", p)
		}
	}
	runtimes = append(runtimes, conformance.Runtime{Name: "lamina", Path: abs})
	scratch, err := os.MkdirTemp("", "lamina-conformance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if err := os.Chmod(scratch, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "building runtime-tools %s validation programs...\n", version)
	suite, err := conformance.Build(ctx, goBin, version, scratch)
	if err != nil {
		return err
	}
	if len(tests) > 0 {
		suite.Tests = tests
	}
	rep := &conformance.Report{Suite: suite, Runtimes: runtimes, Versions: map[string]string{},
		Machine: machine(), Results: map[string]map[string]*conformance.Result{}}
	for _, rt := range runtimes {
		v, _ := exec.Command(rt.Path, "--version").Output()
		rep.Versions[rt.Name] = strings.ReplaceAll(strings.TrimSpace(string(v)), "\n", ", ")
	}
	if c, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		rep.Versions["lamina"] += " (git " + strings.TrimSpace(string(c)) + ")"
	}
	if logs != "" {
		if err := os.MkdirAll(logs, 0o755); err != nil {
			return err
		}
	}
	for _, test := range suite.Tests {
		rep.Results[test] = map[string]*conformance.Result{}
		for _, rt := range runtimes {
			res, err := conformance.Run(ctx, suite, rt, test, scratch, timeout)
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.Results[test][rt.Name] = res
			fmt.Fprintf(os.Stderr, "%-32s %-7s %s\n", test, rt.Name, res.Verdict)
			if logs != "" {
				base := filepath.Join(logs, test+"."+rt.Name)
				os.WriteFile(base+".tap", res.Stdout, 0o644)
				os.WriteFile(base+".err", res.Stderr, 0o644)
			}
		}
	}
	conformance.RemoveSuiteCgroups()
	for _, rt := range runtimes {
		t := rep.Totals(rt.Name)
		fmt.Fprintf(os.Stderr, "%s: %d pass, %d fail, %d skip\n", rt.Name, t[conformance.Pass], t[conformance.Fail], t[conformance.Skip])
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "conformance.md"))
	if err != nil {
		return err
	}
	if err := rep.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// machine describes the kernel and cgroup layout.
func machine() string {
	var u syscall.Utsname
	syscall.Uname(&u)
	rel := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	cg := "cgroup v1"
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 {
		cg = "cgroup v2"
	} else if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
		cg = "hybrid cgroups (v1 controllers, empty v2 at /sys/fs/cgroup/unified)"
	}
	return fmt.Sprintf("Linux %s, %s", rel, cg)
}
