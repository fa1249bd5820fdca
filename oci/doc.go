// Package oci holds lamina's image model: the types, errors and progress
// events shared by the image packages, and the conversion of an image config
// into a runtime spec (ApplyImageConfig). It imports nothing of lamina's.
// This comment is the design document of the image subsystem; the
// subpackages implement it:
//
//   - oci/store: the content-addressed store on disk (this document's
//     "Store layout", "Crash safety" and "Locking").
//   - oci/layer: turning one uncompressed layer tar into a layer directory
//     ("Unpack").
//   - oci/ingest: writing one image into a store, verified and unpacked;
//     the path shared by pull and load ("Crash safety").
//   - oci/pull: fetching an image from a registry into a store ("Pull").
//   - oci/archive: importing images from OCI layouts and docker save
//     archives, and exporting them ("Load and save").
//
// # Vocabulary
//
//   - blob: content named by its digest ("sha256:<64 hex>"): a manifest,
//     a config or a compressed layer.
//   - digest: the digest of a blob as stored and transferred.
//   - diff_id: the digest of a layer's uncompressed tar, listed in the
//     image config (rootfs.diff_ids). Two layers with the same diff_id have
//     the same content, whatever their compression.
//   - ref: a human name for an image, normalised by go-containerregistry
//     (for example "index.docker.io/library/busybox:latest" or
//     "localhost:5000/demo@sha256:...").
//   - layer directory: a layer unpacked once onto disk, keyed by diff_id,
//     shared read-only by every image that contains it, and used directly
//     as a lower directory of a union.
//
// # Store layout
//
// The store root is /var/lib/lamina for root and $XDG_DATA_HOME/lamina
// (default ~/.local/share/lamina) otherwise; commands take --root. The root
// is an OCI image layout (image-spec image-layout.md) plus lamina's own
// directories. Every file lamina writes there:
//
//	oci-layout               {"imageLayoutVersion":"1.0.0"} (written once, mode 0644)
//	index.json               an OCI image index (schemaVersion 2, mediaType
//	                         application/vnd.oci.image.index.v1+json), JSON, mode 0644.
//	                         One manifest descriptor per ref: mediaType, digest
//	                         and size of the image manifest, the platform it was
//	                         chosen for, and the annotation
//	                         "org.opencontainers.image.ref.name" holding the full
//	                         ref. Entries are sorted by ref; a ref appears once.
//	blobs/sha256/<hex>       blob content, byte for byte as the registry or
//	                         archive held it and verified against <hex>, mode
//	                         0644: the image manifest, the config and every
//	                         layer blob (compressed or not) this store
//	                         unpacked. For an image loaded from a docker save
//	                         archive, the manifest is one lamina wrote (see
//	                         "Load and save").
//	layers/<diff_id hex>/    the unpacked layer directory (see "Unpack")
//	containers/<id>/         one union mount made by "lamina mount" or "lamina run":
//	  container.json           {"id","ref","manifest","layers":[diff_id...],
//	                           "mountpoint","upper","work","ownUpper","name",
//	                           "created","command","exit":{"code","at"}} JSON,
//	                           mode 0644; "created" is RFC 3339 UTC; "name",
//	                           "command" and "exit" are lamina run's: the
//	                           runtime's container ID, the process args, and
//	                           the exit status (128+N for signal N) once the
//	                           process that waits for it (package engine) has
//	                           seen it exit
//	  container.log            lamina run -d: the container's stdout and stderr,
//	                           as written (raw bytes, appended), mode 0600
//	  upper/, work/            the fresh upper and work directories (when ownUpper)
//	  rootfs/                  lamina run: the union's mountpoint
//	  bundle/config.json       lamina run: the runtime bundle (package engine)
//	tmp/                     staging: temporary files and directories named
//	                         "<kind>-<random>", never referenced by anything:
//	                         blob-, layer-, file-, index-, trash-; load- (an
//	                         archive read from standard input or decompressed,
//	                         removed when load ends); save- (a layer
//	                         decompressed for a docker archive, removed at once)
//	lock                     empty; flock(2) target for content writers and GC
//	index.lock               empty; flock(2) target for index.json updates
//
// When a pulled ref names a multi-platform index, the store keeps only the
// manifest chosen for the platform, and index.json points at it; the
// index itself is not stored.
//
// A layer whose diff_id already has a layer directory and whose blob is
// already stored is not downloaded again ("already exists"). If the layer
// directory exists but this image's blob (the same content under another
// compression) does not, the blob is downloaded and verified and the
// duplicate unpack is discarded, so that every image in index.json is a
// complete OCI layout.
//
// # Crash safety
//
// Nothing unverified is ever visible. Every new file or directory is written
// under tmp/ and renamed into place only when complete:
//
//   - a blob is streamed to tmp/blob-*, hashed as it is written, checked
//     against its digest and size, fsynced, then renamed to blobs/sha256/<hex>;
//   - a layer is unpacked into tmp/layer-* in the same pass that writes its
//     blob (one read of the network stream, no temporary tarball); the
//     decompressed stream is hashed and checked against the diff_id; only
//     when both digests match are the blob and then the directory renamed
//     into place;
//   - index.json is rewritten as tmp/index-*, fsynced and renamed, and only
//     after the manifest, config and every layer of the image are in place.
//
// Order of publication for one image: layer blobs and layer directories, the
// config blob, the manifest blob, index.json. A crash (kill -9) anywhere
// leaves at most unreferenced but valid blobs and layer directories, and
// garbage in tmp/. Pulling again reuses what is valid; GC ("lamina rmi")
// deletes what nothing references, and empties tmp/ whenever it holds the
// store's exclusive lock. Renames are atomic; a concurrent writer that loses
// the race to rename a layer directory (the target exists) discards its own
// copy. Deletion is the reverse: a layer directory is first renamed into
// tmp/ and then removed, so a half-deleted layer is never visible.
//
// # Locking
//
// Two flock(2) locks, always taken in this order: lock, then index.lock.
//
//   - lock: pulls and mounts hold it shared for their whole duration; GC
//     (rmi) holds it exclusive. So GC never deletes content a concurrent pull
//     is about to reference, nor tmp/ entries still being written. Before a
//     pull takes the shared lock it tries the exclusive one without waiting
//     and, if it gets it, empties tmp/ (left over by crashed processes).
//   - index.lock: held exclusive around every read-modify-write of
//     index.json and of containers/, never across network I/O.
//
// Concurrent pulls of the same layer both download and unpack it; the first
// rename wins and the other copy is discarded. Blob renames of identical
// content replace each other harmlessly.
//
// # Pull
//
// Registry access is go-containerregistry's: anonymous and bearer-token
// auth (re-authenticating on 401), credentials from ~/.docker/config.json or
// given explicitly, retries with backoff, downloads resumed with Range, and
// a stall timeout (the transport stack is described in the doc of oci/pull).
// Plain HTTP is used only for loopback registries (localhost, 127.0.0.0/8,
// ::1) or when the caller asks for it (insecure); any other plain-HTTP
// request is refused (ErrPlainHTTP). OCI and Docker
// schema 2 manifests are accepted, and indexes (manifest lists) with platform
// selection; the default platform is the host's. Layers are fetched in
// parallel. Layer media types: tar, tar+gzip and tar+zstd, in OCI and Docker
// spellings; anything else (including foreign layers) is ErrUnsupportedMediaType.
// A layer whose compressed stream is larger than its descriptor says is
// rejected, and so is one whose uncompressed size exceeds
// MaxUncompressed(descriptor size): a bound on decompression bombs.
// Progress is reported through a callback, never printed by the library.
//
// # Load and save
//
// Load (oci/archive) reads an OCI image layout directory, the same packed as
// a tar (oci-archive), or a docker save tarball, from a path or standard
// input. The format is found from the content: a directory, or a tar (plain,
// gzip or zstd, told by magic bytes); then "oci-layout" plus "index.json"
// make an OCI layout (docker 25+ archives also have one, and it wins over
// their manifest.json, keeping the manifests' digests), else "manifest.json"
// a docker archive. A tar file is read in place: one pass over its headers
// records where each regular file starts; a hard link, or a relative
// symlink whose cleaned target is a file inside the archive (docker before
// 25 stores a layer shared between images once and links the others to it,
// "<id2>/layer.tar -> ../<id1>/layer.tar"), is that file under its own name;
// absolute or escaping symlinks and other entry types are no file; standard
// input and compressed tars are first copied (decompressed) to tmp/load-*.
//
//   - OCI layout: every index.json entry is an image; an entry naming an
//     index (or a Docker manifest list, nested at most 4 deep) yields the
//     image for the chosen platform (the host's by default), recorded in
//     index.json's descriptor as for a pull. Its name is the entry's
//     "io.containerd.image.name" annotation if present, else its
//     "org.opencontainers.image.ref.name", normalised like a user-typed ref
//     ("busybox:1.36" is index.docker.io/library/busybox:1.36) unless it is
//     a bare tag: a ref.name without '/', ':' or '@' (skopeo's oci:DIR:v1,
//     umoci and docker 25+ write just "v1" or "latest" there) names no
//     repository, and the entry is unnamed. An unnamed entry of a docker 25+ archive takes the RepoTags of the
//     manifest.json entry with the same config. When several entries carry
//     the same name (one image per platform), the one whose descriptor
//     platform matches keeps it and the others are not loaded.
//   - docker save: each manifest.json entry is an image named by its
//     RepoTags. Such archives have no manifests, so lamina writes an OCI
//     image manifest (application/vnd.oci.image.manifest.v1+json, config
//     media type application/vnd.oci.image.config.v1+json) whose layers are
//     the archive's layer files byte for byte, with the media type of their
//     content (tar, tar+gzip or tar+zstd) and their sha256. A file named by
//     a digest ("blobs/sha256/<hex>", "<hex>.json") must have that digest.
//
// Every image must have a name (or be the single image of the archive and
// get one from --tag). Names, manifests and configs are checked (with
// ingest.Check: diff_id count, layer media types, sha256 digests, layer
// bound; for every image of the archive) and every layer file is hashed
// against its descriptor before anything is written;
// then each image goes through the same path as a pull (oci/ingest), which
// checks the digests again while streaming and the diff_ids while unpacking.
// So an archive that is not an image, truncated, missing a blob, holding a
// wrong digest or a malformed image leaves the store as it was; a wrong diff_id leaves no ref to
// that image (earlier images of the archive stay loaded), at most verified
// layers for GC.
//
// Save writes the given refs as an OCI layout ("oci-layout", each blob once
// as blobs/sha256/<hex>, then index.json with one entry per ref whose
// org.opencontainers.image.ref.name is the full ref), the same as a tar
// (oci-archive: directory entries, then files, mode 0644, owner 0, time the
// epoch), or a docker save tarball (docker-archive: the config and one
// uncompressed tar per layer as blobs/sha256/<hex of config or diff_id>, then
// manifest.json with Config, RepoTags and Layers). Every blob copied is
// checked against its digest, and a layer decompressed for a docker archive
// against its diff_id. A directory or file is written under a temporary
// name beside the target and renamed into place when complete; the target
// must not exist.
//
// # Unpack
//
// A layer tar is applied to an empty directory, with these rules:
//
//   - Entry names are cleaned (CleanPath in oci/layer): a leading "/" is
//     stripped, any ".." component, NUL, empty or over-long name is refused.
//     Every parent is opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS),
//     so a symlink used as a parent directory is refused and nothing is ever
//     written outside the layer directory. Missing parents are created with
//     mode 0755, owned by root. In a union such an implicit parent shadows
//     the owner and mode of the same directory in the layers below: the
//     unpacker cannot copy them, because a layer directory is shared by
//     every image with that diff_id whatever lies under it. Image builders
//     write every parent of a changed path, so only hand-made layers notice.
//   - Owner (numeric uid/gid), mode (including setuid, setgid, sticky), mtime
//     and atime, and xattrs (PAX SCHILY.xattr.*) are preserved; directory
//     times are set last. Private union xattrs (trusted.overlay.* and the like)
//     in a tar are dropped: only the whiteout package writes those.
//   - Regular files, directories, symlinks (targets are data, never
//     followed), hard links (to an earlier non-directory entry of the same
//     layer), fifos and devices are created. Without privilege, chown
//     failures are ignored and device nodes are skipped with one warning.
//   - A later entry for the same path replaces an earlier one, unless both are
//     directories (then the metadata is updated).
//   - OCI whiteouts ".wh.NAME" and opaque markers ".wh..wh..opq" are converted
//     by a whiteout.Writer into the union's native form (a 0/0 character
//     device; the overlay opaque xattr). Other ".wh..wh." names are dropped.
//     A whiteout of "", "." or "..", a marker name used as a parent
//     directory, or a whiteout and an entry for the same path (or below it) in
//     one layer make the layer malformed (ErrMalformedLayer). A 0/0 character
//     device in a tar is already the overlay whiteout form and is treated as
//     a whiteout of its name.
//
// Layer directories are never modified after they are published.
//
// # Image config to runtime spec
//
// ApplyImageConfig follows image-spec conversion.md: process.args is
// Entrypoint then Cmd, process.env merges the spec's defaults, Config.Env
// and the caller's overrides (in that order of precedence, lowest first),
// process.cwd is Config.WorkingDir, and process.user comes from
// Config.User, with names resolved through the image's own /etc/passwd and
// /etc/group. Those two files are read through an os.Root at the image's
// root filesystem, so a symlink in the image can never make lamina read a
// host file; a non-regular or oversized file is refused. Config.Volumes
// become tmpfs mounts (conversion.md maps them to mounts, not annotations);
// StopSignal, ExposedPorts, os, architecture, variant, os.version,
// os.features, author and created become the annotations conversion.md
// names, and Config.Labels are copied last so that they win.
package oci
