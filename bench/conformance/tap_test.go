package conformance

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		out     string
		code    int
		want    Counts
		verdict Verdict
	}{
		{name: "all ok", out: "TAP version 13\nok 1 - a\nok 2 - b\n1..2\n", want: Counts{Ok: 2}, verdict: Pass},
		{name: "not ok", out: "TAP version 13\nok 1 - a\nnot ok 2 - b\n# expect: x\n1..2\n", want: Counts{Ok: 1, NotOk: 1}, verdict: Fail},
		{name: "skips only", out: "TAP version 13\nok 1 # skip linux only\n1..1\n", want: Counts{Ok: 1, Skip: 1}, verdict: Skip},
		{name: "skip among passes", out: "ok 1 - a\nok 2 # SKIP b\n1..2\n", want: Counts{Ok: 2, Skip: 1}, verdict: Pass},
		{name: "error after a test is its diagnostic", out: "ok 1 - must fail\n  ---\n  {\n    \"error\": \"exit status 1\"\n  }\n  ...\n1..1\n",
			want: Counts{Ok: 1}, verdict: Pass},
		{name: "orphan error (hooks programs)", out: "TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\"\n  }\n  ...\n1..0\n",
			want: Counts{Errors: 1}, verdict: Fail},
		{name: "orphan error after another diagnostic", out: "ok 1 - a\n  ---\n  {\n    \"reference\": \"x\"\n  }\n  ...\n  ---\n  {\n    \"error\": \"y\"\n  }\n  ...\n",
			want: Counts{Ok: 1, Errors: 1}, verdict: Fail},
		{name: "orphan diagnostic without error", out: "  ---\n  {\n    \"stdout\": \"ok 1\"\n  }\n  ...\n1..0\n", verdict: Pass},
		{name: "silent success", out: "", verdict: Pass},
		{name: "exit status", out: "ok 1 - a\n1..1\n", code: 1, want: Counts{Ok: 1}, verdict: Fail},
		{name: "inner not ok in a JSON string is not a test line", out: "ok 1 - x\n  ---\n  {\n    \"stdout\": \"not ok 3 - y\\n\"\n  }\n  ...\n", want: Counts{Ok: 1}, verdict: Pass},
		{name: "unterminated YAML", out: "  ---\n  {\n    \"error\": \"x\"\n", verdict: Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse([]byte(tc.out))
			if got != tc.want {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
			if v := got.Verdict(tc.code); v != tc.verdict {
				t.Errorf("Verdict = %s, want %s", v, tc.verdict)
			}
		})
	}
}

// FuzzParse: Parse reads the output of programs built from downloaded
// code; it must not panic and its counts must stay consistent.
func FuzzParse(f *testing.F) {
	f.Add([]byte("TAP version 13\nok 1 - a\nnot ok 2\n  ---\n  {\"error\": \"x\"}\n  ...\n1..2\n"))
	f.Add([]byte("  ---\n    \"error\": 1\n  ...\nok 1 # SKIP\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Parse(b)
		if c.Skip > c.Ok || c.Ok < 0 || c.NotOk < 0 || c.Errors < 0 {
			t.Fatalf("inconsistent counts %+v", c)
		}
	})
}
