package runtime

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    unix.Signal
		wantErr bool
	}{
		{name: "full name", in: "SIGTERM", want: unix.SIGTERM},
		{name: "short name", in: "KILL", want: unix.SIGKILL},
		{name: "lower case", in: "sigquit", want: unix.SIGQUIT},
		{name: "number", in: "9", want: unix.SIGKILL},
		{name: "zero", in: "0", wantErr: true},
		{name: "too big", in: "65", wantErr: true},
		{name: "unknown name", in: "SIGNOPE", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSignal(c.in)
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("ParseSignal(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.wantErr)
			}
		})
	}
}

// FuzzParseSignal: an image's StopSignal is untrusted input.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"SIGTERM", "9", "kill", "", "SIG", "-1", "SIGRTMIN+3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err == nil && (sig <= 0 || sig > 64) {
			t.Fatalf("ParseSignal(%q) = %d without error", s, sig)
		}
	})
}
