package observe

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// oldHints is how the redactor used to decide whether a string needs the
// secret-pattern regexp, a scan a hint: mayHoldPattern must decide the same.
func oldHints(s string) bool {
	for _, h := range []string{"vc_", "sk-", "xai-", "AIza", "gh", "://"} {
		if strings.Contains(s, h) {
			return true
		}
	}
	for _, h := range []string{"bearer", "passw", "secret"} {
		for i := 0; i+len(h) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(h)], h) {
				return true
			}
		}
	}
	return false
}

func TestMayHoldPattern(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"Authorization: Bearer abc", true},
		{"BEARER", true},
		{"xbEaReR", true},
		{"beare", false},
		{"", false},
		{"the PASSWORD=x", true},
		{"pass word", false},
		{"Secret", true},
		{"s\u00e9cret", false},
		{"@ecret", false}, // '@'|0x20 is '`', not 's'
		{"SECRE", false},
		{"paſsword", false}, // ſ folds to s in Unicode, not in ASCII
		{"route POST /v1/chat/completions", false},
		{"0f1e2d3c4b5a69788796a5b4", false},
		{"01a21357-39bd-71ca-8ef9-b2db0bbee131", false},
		{"vc_", true}, {"vc", false}, {"sk-", true}, {"SK-", false}, {"xai-", true}, {"xai", false},
		{"AIza", true}, {"aiza", false}, {"high", true}, {"GH", false}, {"http://x", true}, {":/", false},
	} {
		if got := mayHoldPattern(c.s); got != c.want || got != oldHints(c.s) {
			t.Errorf("mayHoldPattern(%q) = %v, want %v (the old check: %v)", c.s, got, c.want, oldHints(c.s))
		}
	}
	// Strings made of pieces of hints, case flipped at random, with odd bytes between.
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"vc", "_", "sk", "-", "xa", "i", "AI", "za", "g", "h", ":", "/", "bea", "rer",
		"pas", "sw", "sec", "ret", "é", "\xff", " ", "a", "ſ", "K"}
	for range 100000 {
		var b strings.Builder
		for range rng.IntN(8) {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(3) == 0 {
				p = strings.ToUpper(p)
			}
			b.WriteString(p)
		}
		if s := b.String(); mayHoldPattern(s) != oldHints(s) {
			t.Fatalf("mayHoldPattern(%q) = %v, the old check %v", s, mayHoldPattern(s), oldHints(s))
		}
	}
}
