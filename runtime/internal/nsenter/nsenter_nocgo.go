//go:build !cgo

package nsenter

// Enabled reports whether the constructor is linked in (it needs cgo).
const Enabled = false
