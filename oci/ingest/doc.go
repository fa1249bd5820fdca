// Package ingest writes one image into a store: every layer blob verified
// against its digest, decompressed, checked against its config diff_id and
// unpacked in the same pass, then the config and manifest blobs, then the
// image's refs in index.json. It is the store-writing path shared by
// oci/pull (blobs from a registry) and oci/archive (blobs from an image
// layout or a docker save archive); where the blobs come from is the
// caller's BlobOpener. The on-disk result and the order of publication are
// described in the doc of package github.com/lamina-dev/lamina/oci
// ("Store layout", "Crash safety").
//
// Invariants: nothing unverified becomes visible; on error no ref is added
// (blobs and layer directories already published stay, valid but
// unreferenced, for GC); a layer whose directory and blob are both stored is
// not read at all ("already exists").
package ingest
