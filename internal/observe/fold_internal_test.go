package observe

import "testing"

// TestContainsFold checks the case-insensitive substring search the redactor uses to
// decide whether a string needs the secret-pattern regexp.
func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		s, sub string
		want   bool
	}{
		{"Authorization: Bearer abc", "bearer", true},
		{"BEARER", "bearer", true},
		{"xbEaReR", "bearer", true},
		{"bearer", "bearer", true},
		{"beare", "bearer", false},
		{"", "bearer", false},
		{"the PASSWORD=x", "passw", true},
		{"pass word", "passw", false},
		{"Secret", "secret", true},
		{"s\u00e9cret", "secret", false},
		{"@ecret", "secret", false}, // '@'|0x20 is '`', not 's'
		{"SECRE", "secret", false},
		{"route POST /v1/chat/completions", "bearer", false},
	} {
		if got := containsFold(c.s, c.sub); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", c.s, c.sub, got, c.want)
		}
	}
}
