package pipeline

import "testing"

func TestParseReview(t *testing.T) {
	for _, tc := range []struct {
		in      string
		verdict string
		ok      bool
	}{
		{`{"verdict":"approve","summary":"good","comments":[{"path":"a.go","line":3,"body":"nit"}]}`, "approve", true},
		{"Here is my review:\n```json\n{\"verdict\": \"REQUEST_CHANGES\", \"summary\": \"fix it\"}\n```\nThanks", "request_changes", true},
		{`{"verdict":"lgtm","summary":""}`, "approve", true},
		{`{"verdict":"maybe"}`, "", false},
		{`no json here`, "", false},
		{`{"verdict": "approve", "summary": }`, "", false},
	} {
		r, err := parseReview(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parseReview(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (r.Verdict != tc.verdict || r.Comments == nil) {
			t.Errorf("parseReview(%q) = %+v, want verdict %s", tc.in, r, tc.verdict)
		}
	}
}
