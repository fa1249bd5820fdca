package oci

// Status is the stage of one layer during a pull.
type Status string

const (
	StatusExists      Status = "already exists" // present in the store; nothing fetched
	StatusWaiting     Status = "waiting"        // to be fetched, queued behind other layers
	StatusDownloading Status = "downloading"    // Current of Total bytes read (and unpacked as they come)
	StatusVerifying   Status = "verifying"      // all read; checking blob digest and diff_id
	StatusVerified    Status = "verified"       // blob and diff_id checked; published
	StatusDone        Status = "pull complete"  // the layer is in the store
)

// Progress is one event of a pull, for the callback given to the puller.
// Callbacks may come from several goroutines at once (one per layer).
type Progress struct {
	Digest  string // the layer's blob digest
	DiffID  string // the layer's diff_id
	Status  Status
	Current int64 // compressed bytes read so far (StatusDownloading)
	Total   int64 // the blob's size from its descriptor
}
