package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vibecoder/vibecoder/internal/store"
)

// reviewAnswer is what the reviewer agent is asked to answer: one JSON object.
type reviewAnswer struct {
	Verdict  string                `json:"verdict"`
	Summary  string                `json:"summary"`
	Comments []store.ReviewComment `json:"comments"`
}

// parseReview reads the reviewer's answer: a JSON object, possibly inside a code fence
// or surrounded by prose. The verdict must be one the store knows.
func parseReview(answer string) (*reviewAnswer, error) {
	s := strings.TrimSpace(answer)
	start, end := strings.Index(s, "{"), strings.LastIndex(s, "}")
	if start < 0 || end <= start {
		return nil, errors.New("the review is not a JSON object")
	}
	var r reviewAnswer
	if err := json.Unmarshal([]byte(s[start:end+1]), &r); err != nil {
		return nil, fmt.Errorf("the review is not valid JSON: %w", err)
	}
	r.Verdict = strings.ToLower(strings.TrimSpace(r.Verdict))
	switch r.Verdict {
	case store.VerdictApprove, store.VerdictRequestChanges, store.VerdictComment:
	case "approved", "lgtm":
		r.Verdict = store.VerdictApprove
	case "changes_requested", "request changes", "reject":
		r.Verdict = store.VerdictRequestChanges
	default:
		return nil, fmt.Errorf("unknown verdict %q (want approve, request_changes or comment)", r.Verdict)
	}
	if r.Comments == nil {
		r.Comments = []store.ReviewComment{}
	}
	if len(r.Summary) > 20000 {
		r.Summary = r.Summary[:20000]
	}
	return &r, nil
}
