package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// crashFileSize is big enough that copying it up takes a few hundred
// milliseconds here, so the kill lands in the middle of the copy.
const crashFileSize = 256 << 20

const crashSuffix = "APPENDED"

// TestCrashDuringCopyUp kills the daemon (SIGKILL) while it copies a large
// file up for an append. Whatever the timing, the upper directory may hold
// no copy or a complete one, never a torn file; a remount must read the file
// back whole and leave nothing in the work directory.
func TestCrashDuringCopyUp(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes and copies a 256 MiB file")
	}
	requireRoot(t)
	requireFUSE(t)
	watchdog(t, 120*time.Second)
	root := t.TempDir()
	lower, upper, work, mnt := root+"/lower", root+"/upper", root+"/work", root+"/mnt"
	mustMkdirAll(t, lower, upper, work, mnt)
	lowerHash, appendedHash := writeBigFile(t, lower+"/big")

	daemon := startForeground(t, []string{lower}, upper, work, mnt)
	appender := exec.Command("sh", "-c", "printf "+crashSuffix+" >> "+shellQuote(mnt+"/big"))
	if err := appender.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := daemon.kill(); err != nil {
		t.Fatalf("kill the daemon: %v", err)
	}
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		t.Errorf("lazy unmount of the dead mount: %v", err)
	}
	untrack(mnt)
	appendErr := waitTimeout(appender, 30*time.Second)
	t.Logf("append after the kill: %v", appendErr)

	state := "absent"
	want := lowerHash
	if _, err := os.Lstat(upper + "/big"); err == nil {
		got, size, err := hashFile(upper + "/big")
		switch {
		case err != nil:
			t.Fatalf("read upper/big: %v", err)
		case got == lowerHash:
			state = "complete copy"
		case got == appendedHash:
			state, want = "complete copy with the append", appendedHash
		default:
			t.Fatalf("upper/big is torn: %d bytes, matches neither the lower file (%d bytes) nor lower+append", size, crashFileSize)
		}
	}
	t.Logf("upper after the crash: %s; work dir: %q", state, listRaw(work))

	mountSubject(t, []string{lower}, upper, work, mnt)
	got, size, err := hashFile(mnt + "/big")
	if err != nil || got != want {
		t.Errorf("after remount, big reads %d bytes (%v) that do not match the %s", size, err, state)
	}
	if left := leftovers(work); len(left) > 0 {
		t.Errorf("work directory not cleaned at remount:\n%s", strings.Join(left, "\n"))
	}
	unmountSubject(t, mnt)
}

// writeBigFile writes crashFileSize bytes of pseudo-random data (distinct in
// every MiB, so nothing can dedupe it) and returns the sha256 of the data and
// of the data followed by crashSuffix.
func writeBigFile(t *testing.T, p string) (plain, appended string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h1, h2 := sha256.New(), sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h1, h2), 1<<20)
	rng := rand.NewChaCha8([32]byte{'l', 'a', 'm', 'i', 'n', 'a'})
	chunk := make([]byte, 1<<20)
	for i := 0; i < crashFileSize/len(chunk); i++ {
		rng.Read(chunk)
		binary.LittleEndian.PutUint64(chunk, uint64(i))
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	h2.Write([]byte(crashSuffix))
	return hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h2.Sum(nil))
}

// fgDaemon is a subject started with -f as a child of the test.
type fgDaemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the child has been waited for
}

// kill sends SIGKILL and waits for the child to be reaped.
func (d *fgDaemon) kill() error {
	err := d.cmd.Process.Signal(unix.SIGKILL)
	<-d.exited
	return err
}

// startForeground runs the subject with -f as a child and waits until mnt is
// mounted. The child is killed in t.Cleanup if it is still running.
func startForeground(t *testing.T, lowers []string, upper, work, mnt string) *fgDaemon {
	t.Helper()
	cmd := exec.Command(subject, subjectArgs(lowers, upper, work, mnt, true)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", subject, err)
	}
	d := &fgDaemon{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.kill()
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := mountFSType(mnt); ok {
			track(t, mnt, true)
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("%s -f exited before mounting: %s", subject, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -f did not mount %s within 15s: %s", subject, mnt, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitTimeout(cmd *exec.Cmd, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Kill()
		return <-done
	}
}

// leftovers lists what remains in the work directory's work/ after a
// mount: it must be empty.
func leftovers(work string) []string {
	var out []string
	filepath.Walk(filepath.Join(work, "work"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != filepath.Join(work, "work") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
