// Package whiteout owns every on-disk marker a union of layers uses to
// delete names and to hide lower directories, and lamina's private extended
// attributes. No other package spells ".wh.", "overlay.opaque", a 0/0
// device or "lamina.origin"; they ask this package instead.
//
// # Model
//
// A union is a stack of layer directories: one writable upper layer on top
// of read-only lower layers. A name is looked up from the top layer down.
// Each layer directory says one of three things about a name (State):
//
//   - Absent: the layer has nothing to say; the search goes on below.
//   - Present: the layer has a real entry; it hides everything below
//     (unless both are directories, which merge).
//   - WhitedOut: the layer deletes the name; the search stops and the name
//     does not exist in the union.
//
// A directory in a layer may also be opaque: entries of the same directory
// in the layers below it do not show through. DirInfo reports that, and
// whether the directory may hold xwhiteouts (below), which Lookup and ReadDir
// need to know.
//
// # Vocabulary
//
//   - whiteout: an entry in a layer that deletes a name of the layers below.
//   - opaque directory: a directory that stops merging with the layers below.
//   - marker name: any name beginning with ".wh.". Marker names are never
//     visible through the union and cannot be created in it.
//   - target: the name a whiteout deletes.
//   - meta marker: a name beginning with ".wh..wh." other than the opaque
//     marker (AUFS uses ".wh..wh.plnk" and ".wh..wh.orph"). Hidden, no
//     effect.
//   - xwhiteout: the kernel's xattr-form whiteout (below).
//   - private xattr: an extended attribute that belongs to a union
//     implementation and is never visible through the union.
//
// # Formats read
//
// Lookup, ReadDir and Inspect accept every format below, in any layer, mixed
// freely, also within one directory.
//
// Whiteouts of NAME inside directory D:
//
//   - OCI/AUFS: an entry named ".wh.NAME" in D, of any file type (OCI image
//     layers carry empty regular files). Names ".wh.", ".wh.." and ".wh..."
//     (targets "", "." and "..") are malformed: hidden, no effect.
//   - kernel overlayfs: a character device named NAME with device number 0/0
//     (major 0, minor 0). Its permission bits and owner do not matter.
//   - xwhiteout: a zero-size regular file named NAME carrying the xattr
//     "trusted.overlay.whiteout" or "user.overlay.whiteout" (any value).
//     It counts only when D carries "trusted.overlay.opaque" or
//     "user.overlay.opaque" with the one-byte value "x". Without that
//     marker, or when the file is not empty, it is an ordinary file.
//
// Opaque directory D:
//
//   - the xattr "trusted.overlay.opaque", "user.overlay.opaque" or
//     "user.fuseoverlayfs.opaque" (fuse-overlayfs' fallback) with the
//     one-byte value "y". Any other value is not opaque; the value "x" of the
//     first two means "D may hold xwhiteouts" and nothing else. Values are
//     compared exactly, as the kernel does ("y\n" is not opaque).
//   - an entry named ".wh..wh..opq" in D, of any file type.
//
// Precedence inside one layer directory: a real entry NAME wins over a
// ".wh.NAME" beside it (OCI calls that layer malformed; Lookup and ReadDir
// agree on the outcome, which is what matters to the union). Whiteouts do not
// affect entries of their own layer.
//
// Redirect of directory D (kernel overlayfs's redirect_dir): the xattr
// "trusted.overlay.redirect" or "user.overlay.redirect" (trusted wins when
// both are set). Its value says where D's copies in the layers below are:
// one name (the entry of that name in D's parent's lower directories) or an
// absolute path from the layers' root ("/a/b"). ParseRedirect accepts
// nothing else: no empty, "." or ".." component, no NUL, no marker name, at
// most 4096 bytes; Inspect reports any other value in DirInfo.RedirectErr
// (matching ErrBadRedirect, which wraps EINVAL, the kernel's answer to a
// lookup that follows it). An opaque D's redirect is not read.
// Following a redirect is the union's business; DirInfo only reports it.
//
// Private xattrs, hidden from listxattr and refused by getxattr/setxattr on
// the union (IsPrivateXattr): every name beginning with "trusted.overlay.",
// "user.overlay.", "user.fuseoverlayfs.", "trusted.lamina." or
// "user.lamina.".
//
// # Formats written
//
// A Writer writes into one upper layer. NewWriter probes the upper
// filesystem once, in a scratch directory, and the Writer then always uses
// what worked:
//
//   - whiteout of NAME in D: the character device D/NAME, mode 0 (S_IFCHR
//     with no permission bits), device 0/0, made with mknod(2). Since Linux
//     5.8 any user may make a 0/0 device, also inside a user namespace. If
//     the probe's mknod fails with EPERM, EOPNOTSUPP or EINVAL, the Writer
//     makes an empty regular file D/.wh.NAME with mode 0 instead. A name
//     longer than 251 bytes cannot be whited out that way (NAME_MAX is 255).
//   - opaque D: the xattr "trusted.overlay.opaque" = "y" when the process can
//     set trusted.* xattrs (privileged); otherwise "user.overlay.opaque" =
//     "y"; if the filesystem does not support xattrs, an empty regular file
//     D/.wh..wh..opq with mode 0.
//   - origin of a copied-up file: the xattr "trusted.overlay.lamina.origin"
//     (privileged) or "user.overlay.lamina.origin" (otherwise). The names
//     sit in the overlay namespace on purpose: kernel overlayfs hides every
//     trusted.overlay.* (or, with userxattr, user.overlay.*) xattr and
//     ignores names it does not know, so an upper written by lamina reads
//     the same through the kernel. The value is the
//     union inode number the file keeps after copy-up, in decimal ASCII,
//     canonical form (no sign, no leading zeros, no spaces, no terminator),
//     at most 20 bytes. Origin reads either, trusted first. Linux refuses
//     user.* xattrs on symlinks and special files, so an unprivileged writer
//     cannot record the origin of those: SetOrigin returns
//     ErrOriginUnsupported, and callers carry on without it.
//   - redirect of D (SetRedirect): the kernel's form, in the writer's
//     namespace ("trusted.overlay.redirect" privileged, else
//     "user.overlay.redirect"), the value as ParseRedirect accepts it, no
//     terminator. Without xattrs there is no other form:
//     ErrRedirectUnsupported.
//
// The writer never writes xwhiteouts, the "x" marker or
// user.fuseoverlayfs.opaque; it only reads them.
//
// # Invariants
//
//   - Lookup and ReadDir agree: a name ReadDir lists is Present for Lookup,
//     a name in ReadDir's whiteout set is WhitedOut for Lookup, and a marker
//     name is Absent for both.
//   - ParseName never returns a Whiteout target that is empty, ".", ".." or
//     contains '/' or NUL; ParseName(WhiteoutName(n)) is (Whiteout, n) for
//     every valid name n that is not itself a marker name.
//   - Remove never removes a real entry: it removes D/NAME only after it
//     has seen a 0/0 device or an xwhiteout that Lookup would honour there.
//   - A Writer is immutable after NewWriter and safe for concurrent use.
//     Its methods change the layer, so the caller must serialise changes to
//     one directory (the union holds the directory's lock).
//
// # Kernel overlayfs
//
// A union of these layers can also be mounted by the kernel's overlayfs,
// mounted with the xattr namespace XattrNamespace reports ("user" means the
// userxattr mount option). The kernel understands 0/0 devices, the opaque
// and xwhiteout xattrs of its own namespace only, and no ".wh." names: it
// shows them as ordinary files. ForeignMarkers lists what a layer holds that
// the kernel would not honour, so that a driver can convert or refuse it.
//
// Observed on Linux 6.18 and worth knowing when comparing against the
// kernel: lookup honours an xwhiteout in any layer even when its directory
// lacks the "x" marker, while readdir filters xwhiteouts only out of lower
// directories that have it; an upper-layer xwhiteout is listed by readdir yet
// fails lookup with ENOENT. This package applies the documented rule (the
// "x" marker is required) to both lookup and readdir.
//
// # Errors
//
// Errors are wrapped "verb noun: cause" and keep the errno, so errors.Is
// with unix.ENOENT or fs.ErrNotExist works. Callers match ErrBadName,
// ErrBadWhiteout and ErrOriginUnsupported.
package whiteout
