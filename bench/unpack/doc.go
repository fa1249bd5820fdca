// Package unpack measures how fast lamina turns an image's layers into
// directories, against `umoci unpack` on the same image, on the same machine,
// in one run.
//
// # Image
//
// The tree is the Debian bookworm minbase + python3 rootfs that the
// filesystem benchmark caches (bench.DebianTree), or, when debootstrap is
// unavailable or --tree generated is asked for, a generated tree of a few
// thousand files of mixed sizes with symlinks and hard links; the report
// says which. It is split into three gzip layers (usr/lib, usr/share,
// everything else; each layer carries the parent directories it needs),
// written once as an OCI image layout (oci-layout, index.json with the ref
// name "bench", blobs/sha256) in the scratch directory.
//
// # Contenders
//
//   - umoci: `umoci unpack --image LAYOUT:bench BUNDLE` (as root, so owners are
//     kept); it verifies blob digests and applies the layers in order into
//     BUNDLE/rootfs.
//   - lamina pull: pull.Image of the image from go-containerregistry's
//     in-memory registry on a loopback port into a fresh store: the whole of
//     `lamina pull` (HTTP, blob and diff_id verification, blob files, one
//     directory per layer, fsync of the store, index.json). The network part
//     is loopback and in memory.
//   - lamina unpack: the oci/layer calls alone, for the three layers in
//     parallel as pull runs them: read the blob file, decompress, hash the
//     tar stream, layer.Unpack into a fresh directory. No store, no fsync.
//
// # Method
//
// One untimed warm-up run of each contender, then --runs rounds; each round
// runs every contender once, in turn, into a fresh directory that is removed
// afterwards, so that drift on the machine hits all alike. The blobs are in
// the page cache for every contender (nothing drops caches: the machine is
// shared). A contender's result is the median of its rounds; the ratio is
// lamina's median over umoci's (below 1: lamina is faster). Every output is
// checked: the number of entries under the unpacked root must equal the
// tree's, for each contender.
package unpack
