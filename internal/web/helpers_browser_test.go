package web_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// requireChromium returns the Chromium to drive. Without one the test fails under
// CI=true and is skipped, loudly, elsewhere; -short skips browser tests too.
func requireChromium(t *testing.T) string {
	t.Helper()
	chrome := chromiumPath()
	if chrome == "" {
		msg := "Chromium not found (apt-get install -y --no-install-recommends chromium, or set VIBECODER_CHROMIUM)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING the browser test: " + msg)
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	return chrome
}

// newChromium starts a headless Chromium with a profile of its own and a window of
// width × height, and returns its context; the browser closes when the test ends.
// The browser process starts with the first action run on the context, which must
// carry no timeout (it would stop the browser): derive timeouts after it.
func newChromium(t *testing.T, chrome string, width, height int, ctxOpts ...chromedp.ContextOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, ctxOpts...)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	return ctx
}

// sandboxMissing reports whether bubblewrap is missing (the runs then go unsandboxed,
// which is allowed outside CI only).
func sandboxMissing(t *testing.T) bool {
	t.Helper()
	_, err := exec.LookPath("bwrap")
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatal("CI=true and bubblewrap is not installed (scripts/install-deps.sh)")
	}
	return err != nil
}

// calcRepo makes a git repository at root/name holding a Go package whose Add
// subtracts, the test that catches it, and extra files.
// giveRepo moves the repository src (made by calcRepo under root) into the user's
// own directory of the local repository root, <root>/<user id>/, and returns its new
// path: the only place a user who is not an administrator may register one.
func giveRepo(t *testing.T, a *app.App, root, src, email string) string {
	t.Helper()
	u, err := a.Store.GetUserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, u.ID.String(), filepath.Base(src))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func calcRepo(t *testing.T, root, name string, extra map[string]string) string {
	t.Helper()
	src := filepath.Join(root, name)
	files := map[string]string{
		"go.mod":       "module example.com/calc\n\ngo 1.22\n",
		"calc.go":      "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n",
		"calc_test.go": "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif got := Add(2, 3); got != 5 {\n\t\tt.Fatalf(\"Add(2, 3) = %d, want 5\", got)\n\t}\n}\n",
	}
	maps.Copy(files, extra)
	testutil.GitRepo(t, src, files, "calc")
	return src
}

// serveRunApp starts the whole app (jobs, pipeline, sandbox unless unsandboxed) on a
// free port, with llmURL as its OpenAI-compatible LLM and local repositories allowed
// under repoRoot, and returns it and its base URL; it stops when the test ends.
func serveRunApp(t *testing.T, llmURL, repoRoot string, unsandboxed bool) (*app.App, string) {
	t.Helper()
	vars := map[string]string{
		"VIBECODER_DATA_DIR":          t.TempDir(),
		"VIBECODER_GO_CACHE_SEED":     "off", // no standard library compiling in the background
		"LOG_LEVEL":                   "error",
		"OPENAI_API_KEY":              "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":             llmURL,
		"VIBECODER_DEFAULT_MODEL":     "openai/gpt-4o-mini",
		"VIBECODER_ALLOW_UNSANDBOXED": fmt.Sprint(unsandboxed),
		"VIBECODER_LOCAL_REPO_ROOTS":  repoRoot,
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, observe.NewLogger(io.Discard, cfg.LogLevel, observe.NewRedactor(nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-served
		a.Close()
	})
	return a, "http://" + ln.Addr().String()
}

// tab is a started browser page whose steps fail the test on error.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// openTab starts a headless Chromium (newChromium) on url and returns it with the
// steps after that bounded by timeout.
func openTab(t *testing.T, chrome string, width, height int, url string, timeout time.Duration, ctxOpts ...chromedp.ContextOption) tab {
	t.Helper()
	ctx := newChromium(t, chrome, width, height, ctxOpts...)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return tab{t: t, ctx: ctx}
}

// signIn fills the sign-up or log-in form on the page as email (with the password
// every browser test uses), submits it and waits for the projects page that follows.
func signIn(email string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#project-form")),
	}
}

// do runs steps; what names them in a failure.
func (b tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text is the visible text of the first element sel matches.
func (b tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval is the string a JavaScript expression evaluates to in the page.
func (b tab) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// shot saves a full-page PNG screenshot as dir/name.png.
func (b tab) shot(dir, name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG; lower is JPEG
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}
