package copyup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrashDuringCopy kills a child process copying a 256 MiB file at
// several moments and checks that the destination is never torn, then that
// Clean removes what the child left in the work directory.
func TestCrashDuringCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and copies 256 MiB")
	}
	ctx := testCtx(t, 2*time.Minute)
	l := newLayout(t)
	src := filepath.Join(l.lower, "big")
	const size = 256 << 20
	block := pattern(1<<20, 12)
	f, err := os.Create(src)
	mustNoErr(t, err)
	for i := range size >> 20 {
		block[0], block[1] = byte(i), byte(i>>8) // every MiB differs
		_, err := f.Write(block)
		mustNoErr(t, err)
	}
	mustNoErr(t, f.Close())
	srcSum := fileSum(t, src)

	// Each trial waits until the temp file holds data, then waits delay
	// more and kills the child; the last lets it finish, to check the
	// comparison itself.
	const noKill = -1
	delays := []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond, 400 * time.Millisecond, noKill}
	killedMidCopy, completed := 0, 0
	for i, delay := range delays {
		dst := filepath.Join(l.upper, fmt.Sprint("big-", i))
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"=1", envWorkdir+"="+l.workdir, envSrc+"="+src, envDst+"="+dst)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		mustNoErr(t, cmd.Start())
		waitErr := make(chan error, 1)
		go func() { waitErr <- cmd.Wait() }()

		exited, childErr := waitForTempData(t, l, cmd.Process.Pid, waitErr)
		if !exited && delay == noKill {
			childErr, exited = <-waitErr, true
		}
		if !exited {
			time.Sleep(delay)
			_ = cmd.Process.Kill() // SIGKILL
			childErr = <-waitErr
		}
		if exited && childErr != nil {
			t.Fatalf("trial %d: child failed: %v: %s", i, childErr, stderr.String())
		}

		_, err := os.Lstat(dst)
		switch {
		case errors.Is(err, os.ErrNotExist):
			killedMidCopy++
		case err != nil:
			t.Fatal(err)
		default:
			completed++
			if st := lstat(t, dst); st.Size != size || fileSum(t, dst) != srcSum {
				t.Fatalf("trial %d (delay %v): destination is torn: size %d", i, delay, st.Size)
			}
		}
		t.Logf("trial %d: delay %v, child %v, destination exists: %v, left in work: %q",
			i, delay, childErr, err == nil, l.workEntries(t))
		mustNoErr(t, Clean(l.workdir))
		l.assertWorkEmpty(t)
	}
	if killedMidCopy == 0 || completed == 0 {
		t.Errorf("%d trials killed the child before it published, %d saw it complete; want both", killedMidCopy, completed)
	}
}

// waitForTempData polls the child's open files until one in the work
// directory (named, or an unnamed O_TMPFILE) holds data, or the child exits
// (true, with its error).
func waitForTempData(t *testing.T, l layout, pid int, waitErr <-chan error) (exited bool, err error) {
	t.Helper()
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	for {
		select {
		case err := <-waitErr:
			return true, err
		case <-time.After(time.Millisecond):
		}
		ents, _ := os.ReadDir(fds) // gone once the child exits
		for _, e := range ents {
			p := filepath.Join(fds, e.Name())
			target, err := os.Readlink(p)
			if err != nil || !strings.HasPrefix(target, l.work()+"/") {
				continue
			}
			if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
				return false, nil
			}
		}
	}
}
