package app_test

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibecoder/vibecoder/internal/gitops/githubtest"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

const (
	fixSum     = "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n"
	addComment = "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a + b\n=======\n\t// The sum, as the test wants.\n\treturn a + b\n>>>>>>> REPLACE\n```\n"
	askChanges = `{"verdict":"request_changes","summary":"Explain the return value in a comment.","comments":[{"path":"calc.go","line":6,"body":"Say why this is a sum."}]}`
	approveIt  = `{"verdict":"approve","summary":"Good now.","comments":[]}`
)

// reviewRun runs one task on the calc fixture with a scripted coder (the fix, then a
// comment when a review asks for changes) and reviewer, a GitHub-speaking server for
// the pull request, and a test command that checks the fix. It returns the execution
// and the pull requests opened.
type reviewRun struct {
	Status  string `json:"status"`
	Details struct {
		ReviewRounds     int    `json:"review_rounds"`
		ChangesRequested bool   `json:"changes_requested"`
		Diff             string `json:"diff"`
	} `json:"details"`
	Review *struct {
		Verdict string `json:"verdict"`
		Summary string `json:"summary"`
	} `json:"review"`
	prs      []githubtest.PullRequest
	requests []llmtest.RecordedRequest
	reviews  int
}

func runWithReviewer(t *testing.T, reviewer func(n int) string) *reviewRun {
	t.Helper()
	remote := fixtureRepo(t)
	var reviews atomic.Int64
	fake := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		for _, m := range req.Messages {
			if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
				return llmtest.Reply{Text: reviewer(int(reviews.Add(1)))}
			}
		}
		if strings.Contains(req.LastUserMessage(), "The reviewer asked for changes") {
			return llmtest.Reply{Text: addComment}
		}
		return llmtest.Reply{Text: fixSum}
	})
	const token = "ghp_reviewtoken0123456789abcdefABCDEF"
	gh := githubtest.NewServer(t, token)
	s := startE2E(t, e2eVars(t, fake.URL, filepath.Dir(filepath.Dir(remote)), "GITHUB_TOKEN", token, "GITHUB_API_URL", gh.URL))
	remote = giveRepo(t, remote, s.userID(t).String())
	gh.AddRepo("acme/calc", remote)
	runID := s.runTask(t, map[string]string{"name": "calc", "repo_url": "file://" + remote, "test_command": "grep -q 'a + b' calc.go"},
		map[string]string{"title": "Fix Add so that it returns the sum"})
	s.events(t, runID)
	var out reviewRun
	s.c.do("GET", "/api/v1/executions/"+runID, nil, &out)
	out.prs, out.requests, out.reviews = gh.PullRequests("acme", "calc"), fake.Requests(), int(reviews.Load())
	return &out
}

// TestReviewInProse: a reviewer that answers "Looks good to me, approve." instead of the
// object asked for does not fail a tested change: the answer is kept as a comment
// review, and the pull request is opened. The review was asked for as structured output.
func TestReviewInProse(t *testing.T) {
	r := runWithReviewer(t, func(int) string { return "Looks good to me, approve." })
	if r.Status != "succeeded" || len(r.prs) != 1 || r.prs[0].Draft {
		t.Fatalf("execution %s, pull requests %+v", r.Status, r.prs)
	}
	if r.Review == nil || r.Review.Verdict != "comment" || r.Review.Summary != "Looks good to me, approve." {
		t.Fatalf("review %+v, want a comment whose summary is the text", r.Review)
	}
	structured := false
	for _, req := range r.requests {
		if rf, ok := req.Body["response_format"].(map[string]any); ok && rf["type"] == "json_schema" {
			structured = true
		}
	}
	if !structured {
		t.Error("the review was not asked for as structured output (response_format json_schema)")
	}
}

// TestReviewRequestsChangesThenApproves: the first review requests changes; its
// summary and comments go back to the coder, the tests and the review run again, the
// second review approves and the pull request is an ordinary one.
func TestReviewRequestsChangesThenApproves(t *testing.T) {
	r := runWithReviewer(t, func(n int) string {
		if n == 1 {
			return askChanges
		}
		return approveIt
	})
	if r.Status != "succeeded" || r.reviews != 2 || r.Details.ReviewRounds != 1 || r.Details.ChangesRequested {
		t.Fatalf("execution %s after %d reviews: %+v", r.Status, r.reviews, r.Details)
	}
	if len(r.prs) != 1 || r.prs[0].Draft || r.Review == nil || r.Review.Verdict != "approve" {
		t.Fatalf("pull requests %+v, review %+v", r.prs, r.Review)
	}
	fed := false
	for _, req := range r.requests {
		m := req.LastUserMessage()
		fed = fed || strings.Contains(m, "Explain the return value in a comment.") && strings.Contains(m, "Say why this is a sum.")
	}
	if !fed {
		t.Error("the review's summary and comments never reached the coder")
	}
	if !strings.Contains(r.Details.Diff, "// The sum, as the test wants.") {
		t.Errorf("the change asked for is not in the diff:\n%s", r.Details.Diff)
	}
}

// TestReviewRequestsChangesTwice: with one review round allowed, a second review that
// still requests changes sends the branch as a draft pull request, and the execution
// says the review asked for changes.
func TestReviewRequestsChangesTwice(t *testing.T) {
	r := runWithReviewer(t, func(int) string { return askChanges })
	if r.Status != "succeeded" || r.reviews != 2 || !r.Details.ChangesRequested || r.Details.ReviewRounds != 1 {
		t.Fatalf("execution %s after %d reviews: %+v", r.Status, r.reviews, r.Details)
	}
	if len(r.prs) != 1 || !r.prs[0].Draft || !strings.Contains(r.prs[0].Body, "still asked for changes") {
		t.Fatalf("pull requests %+v, want one draft saying the review asked for changes", r.prs)
	}
	if r.Review == nil || r.Review.Verdict != "request_changes" {
		t.Fatalf("review %+v", r.Review)
	}
}
