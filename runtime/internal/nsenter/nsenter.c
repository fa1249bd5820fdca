// The constructor of package nsenter; the package doc (nsenter.go) holds
// the protocol. This runs before the Go runtime starts, while the process
// still has a single thread, which setns(2) into a user or mount namespace
// and unshare(CLONE_NEWUSER) require.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int sync_fd = -1;

// fail reports "error WHAT: STRERROR" to the parent and exits. Nothing of
// this process is left: it has not forked yet, or it is the intermediate.
static void fail(const char *what, int err)
{
	dprintf(sync_fd, "error %s: %s\n", what, strerror(err));
	_exit(1);
}

// wait_go blocks until the parent writes the byte 'g'; a parent that went
// away (EOF) or wrote anything else ends this process.
static void wait_go(void)
{
	char c;
	ssize_t n;
	do {
		n = read(sync_fd, &c, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1 || c != 'g')
		_exit(1);
}

static int parse_int(const char *s, char **end)
{
	errno = 0;
	long v = strtol(s, end, 10);
	if (errno != 0 || *end == s || v < 0 || v > INT_MAX)
		fail("parse _LAMINA_NSENTER_*", EINVAL);
	return (int)v;
}

// join calls setns on every fd of the comma-separated list, in order, and
// closes it. It returns whether one was a user namespace.
static int join(const char *list)
{
	char what[64];
	const char *p = list;
	int user = 0;
	while (*p) {
		char *end;
		int fd = parse_int(p, &end);
		if (ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWUSER)
			user = 1;
		if (setns(fd, 0) < 0) {
			snprintf(what, sizeof(what), "setns fd %d", fd);
			fail(what, errno);
		}
		close(fd);
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			fail("parse _LAMINA_NSENTER_JOIN", EINVAL);
	}
	return user;
}

static void write_all(int fd, const char *buf, size_t len, const char *what)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail(what, n < 0 ? errno : EIO);
		buf += n;
		len -= (size_t)n;
	}
}

// new_time_ns makes the namespace children get, with the given
// /proc/self/timens_offsets content: possible only before any process is
// in it, so before the fork.
static void new_time_ns(const char *offsets)
{
	if (unshare(CLONE_NEWTIME) < 0)
		fail("unshare time namespace", errno);
	if (!*offsets)
		return;
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open /proc/self/timens_offsets", errno);
	write_all(fd, offsets, strlen(offsets), "write /proc/self/timens_offsets");
	close(fd);
}

// become_root switches to uid and gid 0 of the new user namespace, now
// mapped. Until then the process's ids may be unmapped there (root making
// a namespace that maps 0 to 100000), and the kernel refuses to create
// files with an unmapped owner (EOVERFLOW). The capabilities stay.
static void become_root(void)
{
	if (setresgid(0, 0, 0) < 0)
		fail("setresgid to 0 in the new user namespace", errno);
	// Drop the host's supplementary groups where setgroups is allowed
	// (a root caller); denied (EPERM) for an unprivileged one.
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		fail("clear supplementary groups", errno);
	if (setresuid(0, 0, 0) < 0)
		fail("setresuid to 0 in the new user namespace", errno);
}

__attribute__((constructor)) static void lamina_nsenter(void)
{
	const char *s = getenv("_LAMINA_NSENTER");
	if (!s)
		return;
	char *end;
	sync_fd = parse_int(s, &end);
	// Before entering anything: no process in the container may open
	// /proc/PID/exe (the runtime binary) of this process or its child
	// (the CVE-2019-5736 class). execve resets it.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail("set non-dumpable", errno);
	wait_go();

	const char *list = getenv("_LAMINA_NSENTER_JOIN");
	// In a joined user namespace, as in a new one, the process becomes
	// its root: its host ids may be unmapped there (see become_root).
	if (list && join(list))
		become_root();

	const char *flags = getenv("_LAMINA_NSENTER_UNSHARE");
	if (flags) {
		int f = parse_int(flags, &end);
		if (f && unshare(f) < 0)
			fail("unshare namespaces", errno);
		if (f & CLONE_NEWUSER) {
			// Only the parent, outside, can map our ids. It cannot
			// open our /proc files while we are non-dumpable (they
			// belong to root then): dumpable just for that. No
			// container process is in the new namespace yet, and
			// this process is in no new pid namespace.
			if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
				fail("set dumpable", errno);
			write_all(sync_fd, "idmap\n", 6, "request id maps");
			wait_go();
			if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
				fail("set non-dumpable", errno);
			become_root();
		}
	}

	const char *offsets = getenv("_LAMINA_NSENTER_TIMENS");
	if (offsets)
		new_time_ns(offsets);

	// A fork, so that the child is in the pid (and time) namespace joined
	// or made above. CLONE_PARENT makes it a child of our parent, which
	// can wait for it; we exit.
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		fail("fork into the namespaces", errno);
	if (pid == 0)
		return; // the Go runtime starts now, inside
	dprintf(sync_fd, "pid %d\n", (int)pid);
	_exit(0);
}
