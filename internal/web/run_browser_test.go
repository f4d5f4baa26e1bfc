package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/store"
)

// TestBrowserWatchesARun: a task runs to the end (a fake LLM fixes a failing Go test;
// the tests run in the sandbox; the reviewer approves) while the execution page is
// open; the page shows it finish, with the diff, the passing tests and the review.
// A second user gets 404 for the same page. Screenshot: 07-execution-finished.png.
func TestBrowserWatchesARun(t *testing.T) {
	chrome := requireChromium(t)
	root := t.TempDir()
	src := calcRepo(t, root, "src", nil)
	fake := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		usage := &llmtest.Usage{PromptTokens: 800, CompletionTokens: 90}
		for _, m := range req.Messages {
			if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
				return llmtest.Reply{Text: `{"verdict":"approve","summary":"Add now returns the sum.","comments":[]}`, Usage: usage}
			}
		}
		return llmtest.Reply{Text: "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n", Usage: usage}
	})
	a, base := serveRunApp(t, fake.URL, root, sandboxMissing(t))

	// The owner signs up in the browser; the run is started for them through the store.
	b := browserAt(t, base)
	b.signup("watcher@example.com")
	me := b.api("GET", "/api/v1/me", nil)
	u, err := a.Store.GetUserByEmail(t.Context(), "watcher@example.com")
	if err != nil || u.ID.String() != me["id"] {
		t.Fatalf("user: %v", err)
	}
	src = giveRepo(t, a, root, src, "watcher@example.com")
	p := &store.Project{UserID: u.ID, Name: "calc", RepoURL: src, DefaultBranch: "main"}
	if err := a.Store.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	task := &store.Task{UserID: u.ID, ProjectID: p.ID, Title: "Fix Add so that it returns the sum"}
	if err := a.Store.CreateTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	e, _, err := a.Pipeline.Run(t.Context(), u.ID, task.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx := newChromium(t, chrome, 1280, 1000)
	// Carry the signed-in session into the browser: log in through the page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/login")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, append(signIn("watcher@example.com"),
		chromedp.Navigate(base+"/executions/"+e.ID.String()),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	)...); err != nil {
		t.Fatalf("open the execution page: %v", err)
	}
	// Wait, on the live page, for the run to finish.
	deadline := time.Now().Add(3 * time.Minute)
	var status string
	for {
		// Read in one step in the page: the page replaces the #x-status badge as the
		// run goes on, so a query-then-read could find the node gone in between.
		status, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('x-status') || {}).innerText || ''`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(status, "succeeded") || strings.Contains(status, "failed") || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	diff, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#diff")))
	tests, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#tests")))
	review, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#review")))
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		_ = os.WriteFile(filepath.Join(artifactsDir(t), "07-execution-finished.png"), buf, 0o644)
	}
	if !strings.Contains(status, "succeeded") {
		t.Fatalf("the page shows status %q", status)
	}
	if !strings.Contains(diff, "return a + b") || !strings.Contains(strings.ToLower(review), "approve") || !strings.Contains(tests, "go test") {
		t.Fatalf("page: diff %q, tests %q, review %q", diff, tests, review)
	}

	// A second user: 404 for the same page.
	other := browserAt(t, base)
	other.signup("other@example.com")
	if pg := other.get("/executions/" + e.ID.String()); pg.status != http.StatusNotFound {
		t.Fatalf("another user's execution page: %d", pg.status)
	}
}

// browserAt is newBrowser for a server that is not an httptest.Server.
func browserAt(t *testing.T, base string) *browser {
	b := newBrowser(t, &httptest.Server{URL: base})
	return b
}
