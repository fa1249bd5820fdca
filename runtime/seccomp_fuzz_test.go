package runtime

import (
	"encoding/json"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzSeccomp feeds linux.seccomp sections from config.json (untrusted
// input) to Validate's check and, when it passes, to the libseccomp
// compiler (without loading the filter): neither may panic, and every
// validation error names a linux.seccomp field.
func FuzzSeccomp(f *testing.F) {
	for _, seed := range []string{
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":0,"op":"SCMP_CMP_NE"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_KILL","args":[{"index":1,"value":56,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/run/x.sock"}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}`,
		`{"defaultAction":"SCMP_ACT_TRACE","syscalls":[{"names":["nope"],"action":"SCMP_ACT_LOG","args":[{"index":9,"op":"SCMP_CMP_LT"}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.LinuxSeccomp
		if json.Unmarshal(data, &s) != nil {
			return
		}
		err := validateSeccomp(&s)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Field) < len("linux.seccomp") || ce.Field[:len("linux.seccomp")] != "linux.seccomp" {
				t.Fatalf("error %v does not name a linux.seccomp field", err)
			}
			return
		}
		if filter, err := newSeccompFilter(&s); err == nil {
			filter.Release()
		}
	})
}
