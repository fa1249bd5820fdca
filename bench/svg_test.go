package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodeSVG checks that b is well-formed XML with an <svg> root and returns
// the character data of every <text> element.
func decodeSVG(t *testing.T, b []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var texts []string
	var root string
	inText := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode SVG: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element = %q, want svg", root)
	}
	return texts
}

func TestSVGWellFormed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		res    *Results
		expect []string
	}{
		{"sample", sampleResults(), []string{"ext4", "lamina-passthrough", "n/a", "3.00×", "0.87×", "1×", "stat /usr"}},
		{"escaping", func() *Results {
			r := sampleResults()
			r.Configs[0] = `a<b>&"c"`
			r.Workloads[0].Short = "x < y & z"
			return r
		}(), []string{`a<b>&"c"`, "x < y & z"}},
		{"all n/a", func() *Results {
			r := sampleResults()
			for wi := range r.Cells {
				for ci := range r.Cells[wi] {
					r.Cells[wi][ci] = Cell{NA: "nothing"}
				}
			}
			return r
		}(), []string{"n/a"}},
		{"extreme ratios are clipped", func() *Results {
			r := sampleResults()
			r.Cells[0][0] = Cell{Times: []float64{1e-6}}
			r.Cells[0][4] = Cell{Times: []float64{1e4}}
			return r
		}(), []string{"1/128×", "128×"}},
		{"empty", &Results{Runs: 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.res.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(decodeSVG(t, b.Bytes()), "\n")
			for _, want := range tc.expect {
				if !strings.Contains(all, want) {
					t.Errorf("SVG text lacks %q", want)
				}
			}
		})
	}
}

func TestSplitLabel(t *testing.T) {
	for _, tc := range []struct{ in, a, b string }{
		{"stat /usr", "stat /usr", ""},
		{"untar 5,000 × 4 KiB", "untar 5,000", "× 4 KiB"},
		{"averyveryverylongwordwithoutspaces", "averyveryverylongwordwithoutspaces", ""},
	} {
		a, b := splitLabel(tc.in, 16)
		if a != tc.a || b != tc.b {
			t.Errorf("splitLabel(%q) = %q, %q; want %q, %q", tc.in, a, b, tc.a, tc.b)
		}
	}
}
