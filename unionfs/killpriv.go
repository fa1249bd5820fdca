package unionfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Clearing privileges on change (FUSE_HANDLE_KILLPRIV_V2). A write or a
// truncate by a caller without CAP_FSETID clears a regular file's setuid
// bit, its setgid bit if the group may execute it, and its file
// capabilities; a chown clears them whoever calls. The daemon changes the
// upper copy with its own credentials, under which the upper filesystem
// would keep the bits, so with HANDLE_KILLPRIV_V2 the kernel says when to
// clear them and the daemon does:
//
//   - a truncate: SETATTR with FATTR_KILL_SUIDGID next to the size (also
//     how an open with O_TRUNC arrives, ATOMIC_O_TRUNC not being asked
//     for); setattr then calls killSUIDGID;
//   - a write to a setuid or setgid file: the kernel's file_remove_privs
//     sends a SETATTR that changes nothing, which setattr serves as
//     chown(path, -1, -1), and a chown clears the bits (FUSE_WRITE_
//     KILL_SUIDGID on the WRITE itself is therefore not needed, and
//     go-fuse does not pass it on);
//   - a chown: the upper filesystem clears the bits on the chown itself;
//   - capabilities: the upper filesystem drops security.capability on
//     every write, truncate and chown, whoever makes it, through a
//     passed-through descriptor too.
//
// TestUnprivilegedWriteDropsSetuid compares the outcome with kernel
// overlayfs for appends, overwrites and truncates, passthrough on and off.

// killSUIDGID clears the setuid bit of the regular file at p, and its
// setgid bit if the group may execute it, as a write or truncate by an
// unprivileged caller does.
func killSUIDGID(p string, follow bool) error {
	var st unix.Stat_t
	stat := unix.Lstat
	if follow {
		stat = unix.Stat
	}
	if err := stat(p, &st); err != nil {
		return fmt.Errorf("clear setuid: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	mode := st.Mode & 07777
	kill := uint32(unix.S_ISUID)
	if mode&unix.S_IXGRP != 0 {
		kill |= unix.S_ISGID
	}
	if mode&kill == 0 {
		return nil
	}
	if err := unix.Chmod(p, mode&^kill); err != nil {
		return fmt.Errorf("clear setuid: %w", err)
	}
	return nil
}
