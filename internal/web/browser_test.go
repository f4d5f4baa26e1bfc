package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium to drive: VIBECODER_CHROMIUM, then the usual names.
func chromiumPath() string {
	if p := os.Getenv("VIBECODER_CHROMIUM"); p != "" {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactsDir is where screenshots go: $TEST_ARTIFACTS_DIR/web, else a directory
// under the system temp dir that outlives the test.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_ARTIFACTS_DIR")
	if base == "" {
		base = filepath.Join(os.TempDir(), "vibecoder-test-artifacts")
	}
	dir := filepath.Join(base, "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	return dir
}

// TestBrowserSignupAndProject drives the dashboard in headless Chromium: sign up,
// create a project, open it, look at the system page, with a screenshot of each.
func TestBrowserSignupAndProject(t *testing.T) {
	chrome := requireChromium(t)
	srv := newServer(t)
	out := artifactsDir(t)

	b := openTab(t, chrome, 1280, 900, srv.URL+"/signup", 90*time.Second, chromedp.WithLogf(t.Logf))
	do, text := b.do, b.text
	shot := func(name string) { t.Helper(); b.shot(out, name) }

	do("signup page", chromedp.WaitVisible(chromedp.CSS("#email")))
	shot("01-signup")
	do("sign up", signIn("browser@example.com")...)
	do("create a project",
		chromedp.SendKeys(chromedp.CSS("#p-name"), "Browser demo"),
		chromedp.SendKeys(chromedp.CSS("#p-repo"), "https://example.com/browser-demo.git"),
		chromedp.Click(chromedp.CSS(`#project-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#projects a[href^="/projects/"]`)))
	projects := text("#projects")
	shot("02-projects")
	do("open the project",
		chromedp.Click(chromedp.CSS(`#projects a[href^="/projects/"]`)),
		chromedp.WaitVisible(chromedp.CSS("#search-form")))
	title := text("h1")
	shot("03-project")
	do("add a task and run it",
		chromedp.SendKeys(chromedp.CSS("#t-title"), "Add a README"),
		chromedp.Click(chromedp.CSS(`#task-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tasks a[href^="/tasks/"]`)),
		chromedp.Click(chromedp.CSS(`#tasks button`)),
		// No job worker runs here, so the execution stays queued; its event stream
		// still replays execution.queued into the timeline.
		chromedp.WaitVisible(chromedp.CSS("#timeline li")))
	timeline := text("#timeline")
	shot("04-execution")
	do("create an API key",
		chromedp.Navigate(srv.URL+"/keys"),
		chromedp.WaitVisible(chromedp.CSS("#k-name")),
		chromedp.SendKeys(chromedp.CSS("#k-name"), "laptop"),
		chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-key-value")))
	key := text("#new-key-value")
	shot("05-keys")
	do("system page", chromedp.Navigate(srv.URL+"/system"), chromedp.WaitVisible(chromedp.CSS("#health dl")))
	health := text("#health")
	shot("06-system")

	if !strings.Contains(projects, "Browser demo") || !strings.Contains(projects, "browser-demo.git") {
		t.Fatalf("projects table = %q", projects)
	}
	if title != "Browser demo" {
		t.Fatalf("project page title = %q", title)
	}
	if !strings.Contains(timeline, "execution.queued") {
		t.Fatalf("execution timeline = %q", timeline)
	}
	if !strings.HasPrefix(key, "vc_") {
		t.Fatalf("new key shown as %q", key)
	}
	if !strings.Contains(health, "database") {
		t.Fatalf("system page health = %q", health)
	}
}
