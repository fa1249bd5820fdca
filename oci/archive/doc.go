// Package archive moves images between a store and files: Load imports
// every image of an OCI image layout (a directory or an oci-archive tar) or a
// docker save tarball, and Save exports images to those forms. Formats are
// found from content, never names. Load writes through oci/ingest, the path
// pull uses, after checking every name, manifest, config and layer digest of
// the archive, so a broken archive stores nothing. The formats, names and
// checks are described in the doc of package github.com/lamina-dev/lamina/oci
// ("Load and save").
package archive
