package web_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// siteAnswer is the fake coder's answer: it fixes Add and writes a small static web
// app (a page, its style sheet and its script) for the preview to show.
const siteAnswer = "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n\n" +
	"NEW FILE: index.html\n```html\n<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sum</title>" +
	"<link rel=\"stylesheet\" href=\"style.css\"></head>\n<body><h1>Calculator</h1><p id=\"status\">the script did not run</p>" +
	"<p id=\"sum\"></p><script src=\"app.js\"></script></body></html>\n```\n\n" +
	"NEW FILE: style.css\n```css\nh1 { color: rgb(0, 128, 128); }\n```\n\n" +
	"NEW FILE: app.js\n```js\ndocument.getElementById('status').textContent = 'script ran';\n" +
	"document.getElementById('sum').textContent = '2 + 3 = ' + (2 + 3);\n```\n"

// TestBrowserWalkthrough walks the dashboard the way a user does, in headless
// Chromium against the real app (a fake LLM server, the sandbox, River workers): sign
// up, create a project from a fixture repository, index it, search it, create and run
// a task, watch the run finish live, read the diff and the review, look at the
// generated web app in the sandboxed preview (its script runs; it sees no cookie and
// cannot call the API), create and revoke an API key, and look at usage. A second
// user gets 404 for every page and preview of the first. Screenshots: walk-*.png.
func TestBrowserWalkthrough(t *testing.T) {
	chrome := requireChromium(t)
	root := t.TempDir()
	src := calcRepo(t, root, "calc", map[string]string{"README.md": "# calc\n\nA calculator library. Add returns the sum of two integers.\n"})
	fake := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		usage := &llmtest.Usage{PromptTokens: 900, CompletionTokens: 160}
		for _, m := range req.Messages {
			if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
				return llmtest.Reply{Text: `{"verdict":"approve","summary":"Add returns the sum and the page shows it.","comments":[]}`, Usage: usage}
			}
		}
		return llmtest.Reply{Text: siteAnswer, Usage: usage}
	})
	a, base := serveRunApp(t, fake.URL, root, sandboxMissing(t))
	dataDir := a.Config.DataDir
	out := artifactsDir(t)

	b := openTab(t, chrome, 1280, 1000, base+"/signup", 5*time.Minute)
	ctx, do, text, eval := b.ctx, b.do, b.text, b.eval
	shot := func(name string) { t.Helper(); b.shot(out, name) }
	// waitText polls sel's text until done accepts it; the page updates itself (index
	// status, the live execution), so there is no event to wait on from here. It reads
	// the text in one step in the page: the page replaces some of these elements
	// (badges), and a query-then-read could find the node gone in between.
	waitText := func(sel string, done func(string) bool) string {
		t.Helper()
		for {
			s := eval(fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, sel))
			if done(s) {
				return s
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: still %q: %v", sel, s, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}

	// Sign up and create a project from the fixture repository.
	do("sign up", signIn("walker@example.com")...)
	src = giveRepo(t, a, root, src, "walker@example.com")
	do("create a project",
		chromedp.SendKeys(chromedp.CSS("#p-name"), "calc"),
		chromedp.SendKeys(chromedp.CSS("#p-repo"), src),
		chromedp.Click(chromedp.CSS(`#project-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#projects a[href^="/projects/"]`)))
	shot("walk-01-projects")

	// Index it and search it.
	do("open the project", chromedp.Click(chromedp.CSS(`#projects a[href^="/projects/"]`)), chromedp.WaitVisible(chromedp.CSS("#index-btn")))
	projectPath := eval(`location.pathname`)
	do("index", chromedp.Click(chromedp.CSS("#index-btn")))
	status := waitText("#index-status", func(s string) bool { return s == "ready" || s == "failed" })
	if status != "ready" {
		t.Fatalf("index status %q", status)
	}
	do("search",
		chromedp.SendKeys(chromedp.CSS("#q"), "sum of a and b"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#results li")))
	results := text("#results")
	shot("walk-02-project-search")
	if !strings.Contains(results, "calc.go") || !strings.Contains(results, "score") || !strings.Contains(results, "return a - b") {
		t.Fatalf("search results: %q", results)
	}
	do("search by file",
		chromedp.SetValue(chromedp.CSS("#group"), "file"),
		chromedp.SendKeys(chromedp.CSS("#q"), "sum of a and b"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#results li p")))
	results = text("#results")
	if !strings.Contains(results, "calc.go") || !strings.Contains(results, "best match: lines") || strings.Contains(results, "calc.go:") {
		t.Fatalf("file search results: %q", results)
	}

	// Create a task and run it; the page becomes the live execution page.
	do("create a task",
		chromedp.SendKeys(chromedp.CSS("#t-title"), "Fix Add and show the sum on a web page"),
		chromedp.Click(chromedp.CSS(`#task-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tasks a[href^="/tasks/"]`)))
	taskPath := eval(`document.querySelector('#tasks a[href^="/tasks/"]').getAttribute('href')`)
	do("run the task", chromedp.Click(chromedp.CSS(`#tasks button`)), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	execPath := eval(`location.pathname`)
	if !strings.HasPrefix(execPath, "/executions/") {
		t.Fatalf("after Run the browser is at %q", execPath)
	}
	execID := strings.TrimPrefix(execPath, "/executions/")
	status = waitText("#x-status", func(s string) bool { return s == "succeeded" || s == "failed" || s == "cancelled" })
	// The stream's end: the page says so once it has read execution.finished.
	waitText("#x-live", func(s string) bool { return s == "finished" })
	waitText("#review", func(s string) bool { return strings.Contains(strings.ToLower(s), "approve") })
	diff, timeline, tests, review := text("#diff"), text("#timeline"), text("#tests"), text("#review")
	shot("walk-03-execution")
	if status != "succeeded" {
		t.Fatalf("the execution %s; timeline:\n%s", status, timeline)
	}
	for _, want := range []string{"return a + b", "index.html", "app.js", "style.css"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if !strings.Contains(timeline, "execution.finished") || !strings.Contains(tests, "go test") || !strings.Contains(review, "the page shows it") {
		t.Errorf("timeline %q, tests %q, review %q", timeline, tests, review)
	}
	// The run is over: its workspace is gone and the preview reads the kept commit.
	if _, err := os.Stat(filepath.Join(dataDir, "workspaces", execID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the workspace is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "previews", execID+".git")); err != nil {
		t.Errorf("no snapshot kept for the preview: %v", err)
	}

	// The preview, inside its sandboxed iframe (a separate target: the sandbox gives it
	// an opaque origin, which Chromium runs out of process).
	if sb := eval(`document.getElementById('preview').getAttribute('sandbox')`); sb != "allow-scripts" {
		t.Fatalf("the preview iframe's sandbox is %q", sb)
	}
	do("scroll to the preview", chromedp.ScrollIntoView(chromedp.CSS("#preview")))
	inFrame := previewFrame(t, ctx)
	probe := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(inFrame, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("in the preview, %s: %v", js, err)
		}
		return s
	}
	if got := probe(`document.querySelector('h1').textContent`); got != "Calculator" {
		t.Errorf("the preview's heading: %q", got)
	}
	if got := probe(`getComputedStyle(document.querySelector('h1')).color`); got != "rgb(0, 128, 128)" {
		t.Errorf("the preview's style sheet did not apply: h1 color %q", got)
	}
	if got := probe(`document.getElementById('status').textContent + ' / ' + document.getElementById('sum').textContent`); got != "script ran / 2 + 3 = 5" {
		t.Errorf("the preview's script: %q", got)
	}
	if got := probe(`self.origin`); got != "null" {
		t.Errorf("the preview's origin is %q, want the opaque null", got)
	}
	if got := probe(`(() => { try { return 'cookie=' + document.cookie } catch (e) { return 'blocked:' + e.name } })()`); got != "cookie=" && !strings.HasPrefix(got, "blocked:") {
		t.Errorf("the preview reads cookies: %q", got)
	}
	if got := probe(`fetch('/api/v1/projects', {credentials: 'include'}).then(r => 'status ' + r.status, e => 'failed: ' + e.name)`); !strings.HasPrefix(got, "failed") {
		t.Errorf("the preview called the API: %s", got)
	}
	if got := probe(`fetch('/api/v1/me', {method: 'POST', credentials: 'include'}).then(r => 'status ' + r.status, e => 'failed: ' + e.name)`); !strings.HasPrefix(got, "failed") {
		t.Errorf("the preview posted to the API: %s", got)
	}
	shot("walk-04-execution-preview")
	previewURL := eval(`document.getElementById('preview').src`)
	do("open the preview on its own", chromedp.Navigate(previewURL), chromedp.WaitVisible(chromedp.CSS("#sum")))
	if got := text("#status"); got != "script ran" {
		t.Errorf("the preview opened on its own: %q", got)
	}
	shot("walk-05-preview")

	// Create an API key, use it, revoke it.
	do("create an API key",
		chromedp.Navigate(base+"/keys"),
		chromedp.WaitVisible(chromedp.CSS("#k-name")),
		chromedp.SendKeys(chromedp.CSS("#k-name"), "ci"),
		chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-key-value")))
	key := text("#new-key-value")
	shot("walk-06-key-created")
	if code := bearerStatus(t, base, key); code != http.StatusOK {
		t.Fatalf("the new key: GET /api/v1/me = %d", code)
	}
	// confirm() would block the page; answer it as a user clicking OK would.
	eval(`window.confirm = () => true; 'ok'`)
	do("revoke the key", chromedp.Click(chromedp.CSS(`#keys button.danger`)))
	waitText("#keys", func(s string) bool { return strings.Contains(s, "revoked") })
	shot("walk-07-key-revoked")
	if code := bearerStatus(t, base, key); code != http.StatusUnauthorized {
		t.Errorf("the revoked key: GET /api/v1/me = %d", code)
	}

	do("usage", chromedp.Navigate(base+"/usage"), chromedp.WaitVisible(chromedp.CSS("main")))
	usage := text("main")
	shot("walk-08-usage")
	if !strings.Contains(usage, "gpt-4o-mini") {
		t.Errorf("usage page: %q", usage)
	}

	// A second user: 404 for the first user's pages and previews.
	other := browserAt(t, base)
	other.signup("second@example.com")
	for _, path := range []string{projectPath, taskPath, execPath, "/preview/" + execID + "/", "/preview/" + execID + "/index.html", "/preview/" + execID + "/app.js"} {
		p := other.get(path)
		if p.status != http.StatusNotFound {
			t.Errorf("second user, %s: %d", path, p.status)
		}
		if strings.Contains(p.body, "script ran") || strings.Contains(p.body, "Calculator") {
			t.Errorf("second user, %s: shows the first user's files", path)
		}
	}
}

// previewFrame attaches to the execution page's preview iframe, once its page and
// script have loaded.
func previewFrame(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	for {
		targets, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range targets {
			if ti.Type != "iframe" || !strings.Contains(ti.URL, "/preview/") {
				continue
			}
			fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
			t.Cleanup(cancel)
			ready, err := chromedp.Run(fctx, chromedp.Evaluate[string](`document.readyState + ' ' + (document.getElementById('status') || {}).textContent`))
			if err == nil && ready == "complete script ran" {
				return fctx
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the preview iframe never loaded: %v", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// bearerStatus is the status of GET /api/v1/me with key.
func bearerStatus(t *testing.T, base, key string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestBrowserSandboxedSubresourcesCarryNoCookie records the Chromium behaviour the
// preview's capability links exist for: a SameSite=Lax cookie goes with the request
// for a sandboxed iframe's document (its parent is same-site), but not with the
// requests that document, in its opaque origin, makes for its style sheet, script and
// image. Were this ever to change, the capability scheme would still be right; the
// explanation in preview.go would need updating.
func TestBrowserSandboxedSubresourcesCarryNoCookie(t *testing.T) {
	chrome := requireChromium(t)
	got := make(chan [2]string, 16) // path, "cookie" or "none"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		fmt.Fprint(w, "signed in")
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><iframe sandbox="allow-scripts" src="/frame/index.html"></iframe>`)
	})
	mux.HandleFunc("GET /frame/", func(w http.ResponseWriter, r *http.Request) {
		state := "none"
		if _, err := r.Cookie("s"); err == nil {
			state = "cookie"
		}
		got <- [2]string{r.URL.Path, state}
		if r.URL.Path == "/frame/index.html" {
			w.Header().Set("Content-Security-Policy", "sandbox allow-scripts")
			fmt.Fprint(w, `<!doctype html><link rel="stylesheet" href="style.css"><script src="app.js"></script><img src="img.png">`)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := newChromium(t, chrome, 800, 600)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/login")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/page")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for len(seen) < 4 {
		select {
		case r := <-got:
			seen[r[0]] = r[1]
		case <-ctx.Done():
			t.Fatalf("requests seen: %v", seen)
		}
	}
	want := map[string]string{"/frame/index.html": "cookie", "/frame/style.css": "none", "/frame/app.js": "none", "/frame/img.png": "none"}
	for path, w := range want {
		if seen[path] != w {
			t.Errorf("%s: %s, want %s (all: %v)", path, seen[path], w, seen)
		}
	}
}
