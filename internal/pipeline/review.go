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

// reviewFormat asks for the review as structured output (OpenAI's and Gemini's JSON
// schema; Anthropic's output format), which the gateway translates per provider.
var reviewFormat = json.RawMessage(`{"type":"json_schema","json_schema":{"name":"review","strict":true,"schema":{` +
	`"type":"object","additionalProperties":false,"required":["verdict","summary","comments"],"properties":{` +
	`"verdict":{"type":"string","enum":["approve","request_changes","comment"]},` +
	`"summary":{"type":"string"},` +
	`"comments":{"type":"array","items":{"type":"object","additionalProperties":false,"required":["path","line","body"],` +
	`"properties":{"path":{"type":"string"},"line":{"type":"integer"},"body":{"type":"string"}}}}}}}}`)

// proseReview is a reviewer's answer that held no review object: kept as a comment
// whose summary is the text.
func proseReview(answer string) *reviewAnswer {
	s := strings.TrimSpace(answer)
	if s == "" {
		s = "(the reviewer gave no review)"
	}
	if len(s) > 20000 {
		s = s[:20000]
	}
	return &reviewAnswer{Verdict: store.VerdictComment, Summary: s, Comments: []store.ReviewComment{}}
}

// reviewFeedback is a review that requested changes, as the coder reads it.
func reviewFeedback(r *reviewAnswer) string {
	var b strings.Builder
	b.WriteString(r.Summary)
	b.WriteString("\n")
	for _, c := range r.Comments {
		if c.Line > 0 {
			fmt.Fprintf(&b, "- %s:%d: %s\n", c.Path, c.Line, c.Body)
		} else {
			fmt.Fprintf(&b, "- %s: %s\n", c.Path, c.Body)
		}
	}
	return b.String()
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
	case "approved", "lgtm", "accept", "accepted":
		r.Verdict = store.VerdictApprove
	case "changes_requested", "request changes", "request-changes", "requested_changes", "changes requested", "reject", "rejected":
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
