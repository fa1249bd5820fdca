package whiteout

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// encodeDirent appends one linux_dirent64 record, padded to 8 bytes.
func encodeDirent(buf []byte, ino uint64, typ uint8, name string) []byte {
	reclen := (direntName + len(name) + 1 + 7) &^ 7
	rec := make([]byte, reclen)
	binary.NativeEndian.PutUint64(rec[direntIno:], ino)
	binary.NativeEndian.PutUint64(rec[8:], 42)
	binary.NativeEndian.PutUint16(rec[direntReclen:], uint16(reclen))
	rec[direntType] = typ
	copy(rec[direntName:], name)
	return append(buf, rec...)
}

type rawDirent struct {
	name string
	typ  uint8
	ino  uint64
}

func collect(buf []byte) ([]rawDirent, error) {
	var out []rawDirent
	err := parseDirents(buf, func(name string, typ uint8, ino uint64) {
		out = append(out, rawDirent{name, typ, ino})
	})
	return out, err
}

func TestParseDirents(t *testing.T) {
	valid := encodeDirent(nil, 1, unix.DT_DIR, ".")
	valid = encodeDirent(valid, 7, unix.DT_REG, "file")
	valid = encodeDirent(valid, 0, unix.DT_REG, "deleted")
	valid = encodeDirent(valid, 9, unix.DT_CHR, "dev")

	tests := []struct {
		name string
		buf  []byte
		want []rawDirent
		err  error
	}{
		{name: "empty", buf: nil},
		{name: "records", buf: valid, want: []rawDirent{
			{".", unix.DT_DIR, 1}, {"file", unix.DT_REG, 7}, {"dev", unix.DT_CHR, 9}}},
		{name: "truncated header", buf: valid[:10], err: errBadDirent},
		{name: "truncated record", buf: valid[:len(valid)-1],
			want: []rawDirent{{".", unix.DT_DIR, 1}, {"file", unix.DT_REG, 7}}, err: errBadDirent},
		{name: "reclen too small", buf: func() []byte {
			b := bytes.Clone(valid)
			binary.NativeEndian.PutUint16(b[direntReclen:], 3)
			return b
		}(), err: errBadDirent},
		{name: "empty name", buf: encodeDirent(nil, 5, unix.DT_REG, ""), err: errBadDirent},
		{name: "name without nul", buf: func() []byte {
			b := make([]byte, 24)
			binary.NativeEndian.PutUint64(b, 3)
			binary.NativeEndian.PutUint16(b[direntReclen:], 24)
			copy(b[direntName:], "abcde")
			return b
		}(), want: []rawDirent{{"abcde", 0, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(tc.buf)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseDirents(f *testing.F) {
	f.Add(encodeDirent(encodeDirent(nil, 1, unix.DT_DIR, "."), 2, unix.DT_REG, ".wh.a"))
	f.Add([]byte{})
	f.Add(make([]byte, 19))
	f.Fuzz(func(t *testing.T, buf []byte) {
		total := 0
		err := parseDirents(buf, func(name string, typ uint8, ino uint64) {
			if name == "" || bytes.IndexByte([]byte(name), 0) >= 0 || ino == 0 {
				t.Fatalf("bad entry %q ino %d", name, ino)
			}
			total += len(name)
		})
		if err == nil && total > len(buf) {
			t.Fatalf("names longer than the buffer")
		}
	})
}

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		ok   bool
	}{
		{"zero", "0", 0, true},
		{"small", "42", 42, true},
		{"max", "18446744073709551615", 1<<64 - 1, true},
		{"overflow", "18446744073709551616", 0, false},
		{"empty", "", 0, false},
		{"leading zero", "042", 0, false},
		{"sign", "+42", 0, false},
		{"negative", "-1", 0, false},
		{"space", "42 ", 0, false},
		{"newline", "42\n", 0, false},
		{"nul", "42\x00", 0, false},
		{"hex", "0x2a", 0, false},
		{"underscore", "4_2", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseOrigin([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseOrigin(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"0", "1", "007", "18446744073709551615", "-1", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ino, ok := parseOrigin(b)
		if !ok {
			return
		}
		if got := string(formatOrigin(ino)); got != string(b) {
			t.Fatalf("parseOrigin(%q) = %d, which formats as %q", b, ino, got)
		}
		if strconv.FormatUint(ino, 10) != string(b) {
			t.Fatalf("parseOrigin(%q) not canonical", b)
		}
	})
}
