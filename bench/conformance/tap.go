package conformance

import (
	"bufio"
	"bytes"
	"strings"
)

// Counts is what one program's TAP output says.
type Counts struct {
	Ok, NotOk, Skip int // test lines; Skip counts "ok ... # SKIP" lines, also counted in Ok
	// Errors counts YAML diagnostics holding an "error" that follow no
	// test line: the way several programs report a failure.
	Errors int
}

// Verdict of one program against one runtime.
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	Skip Verdict = "skip"
)

// Parse reads the TAP output of a validation program. It never fails:
// lines it does not know are ignored.
func Parse(out []byte) Counts {
	var c Counts
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	afterTest := false // the last thing seen was a test line
	inYAML, orphan, hasError := false, false, false
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if inYAML {
			if trimmed == "..." {
				if orphan && hasError {
					c.Errors++
				}
				inYAML, afterTest = false, false
			} else if strings.HasPrefix(trimmed, `"error":`) {
				hasError = true
			}
			continue
		}
		switch {
		case trimmed == "---" && strings.HasPrefix(line, " "):
			inYAML, orphan, hasError = true, !afterTest, false
		case strings.HasPrefix(line, "not ok"):
			c.NotOk++
			afterTest = true
		case strings.HasPrefix(line, "ok"):
			c.Ok++
			if i := strings.Index(line, "#"); i >= 0 && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(line[i+1:])), "SKIP") {
				c.Skip++
			}
			afterTest = true
		}
	}
	return c
}

// Verdict judges a program from its TAP counts and exit code.
func (c Counts) Verdict(exitCode int) Verdict {
	switch {
	case exitCode != 0 || c.NotOk > 0 || c.Errors > 0:
		return Fail
	case c.Ok > 0 && c.Skip == c.Ok:
		return Skip
	}
	return Pass
}
