package oci

import (
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// HostPlatform is the platform chosen from a multi-platform image by
// default: this host's OS and architecture (and variant v8 on arm64).
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}
