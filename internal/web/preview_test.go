package web_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/testutil"
	"github.com/vibecoder/vibecoder/internal/web"
)

// previewSecret is planted beside the workspaces; no preview may ever show it.
const previewSecret = "PLANTED-SECRET-7f3a"

// previewFixture is a running app with one user's execution whose workspace holds a
// small site, a symbolic link out of it and, next to it, a secret.
type previewFixture struct {
	a       *app.App
	srv     *httptest.Server
	dataDir string
	owner   *browser
	userID  uuid.UUID
	exec    *store.Execution
}

func newPreviewFixture(t *testing.T) *previewFixture {
	t.Helper()
	a, srv := newAppServer(t)
	dataDir := a.Config.DataDir
	f := &previewFixture{a: a, srv: srv, dataDir: dataDir, owner: newBrowser(t, srv)}
	f.owner.signup("owner@example.com")
	u, err := a.Store.GetUserByEmail(t.Context(), "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	f.userID = u.ID
	p := &store.Project{UserID: u.ID, Name: "site", RepoURL: "https://example.com/site.git", DefaultBranch: "main"}
	if err := a.Store.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	task := &store.Task{UserID: u.ID, ProjectID: p.ID, Title: "Make a site"}
	if err := a.Store.CreateTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	// No worker runs here: the execution stays queued, so the preview reads its
	// working copy, which the test writes where the pipeline would.
	f.exec, _, err = a.Pipeline.Run(t.Context(), u.ID, task.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dataDir, "workspaces", f.exec.ID.String())
	for name, body := range map[string]string{
		"index.html":      "<!doctype html><title>Site</title><link rel=stylesheet href=style.css><h1>Hello preview</h1>",
		"style.css":       "h1{color:teal}",
		"app.js":          "document.title='ran'",
		"docs/index.html": "<p>docs</p>",
		"data.bin":        "\x00\x01",
		"../secret.txt":   previewSecret,
	} {
		path := filepath.Join(ws, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"out.txt": "../secret.txt", "abs.txt": filepath.Join(filepath.Dir(ws), "secret.txt"), "in.css": "style.css"} {
		if err := os.Symlink(target, filepath.Join(ws, link)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// capability follows the owner's redirect from /preview/{id}/ and returns the
// preview's signed base URL path.
func (f *previewFixture) capability(t *testing.T) string {
	t.Helper()
	p := f.owner.get("/preview/" + f.exec.ID.String() + "/")
	wantStatus(t, p, http.StatusSeeOther, "the owner's preview")
	loc := p.header.Get("Location")
	if !strings.HasPrefix(loc, "/preview/"+f.exec.ID.String()+".") || !strings.HasSuffix(loc, "/") {
		t.Fatalf("redirect to %q", loc)
	}
	if len(p.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("the preview set a cookie: %v", p.header.Values("Set-Cookie"))
	}
	return loc
}

// checkPreviewHeaders asserts what every preview response carries.
func checkPreviewHeaders(t *testing.T, p page, what string) {
	t.Helper()
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"sandbox allow-scripts", "default-src 'self'", "connect-src 'none'", "form-action 'none'", "frame-ancestors 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "allow-same-origin") {
		t.Errorf("%s: CSP %q lets the document keep the dashboard's origin", what, csp)
	}
	if p.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: no nosniff", what)
	}
	if v := p.header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("%s: Set-Cookie %v", what, v)
	}
	if strings.Contains(p.body, previewSecret) {
		t.Errorf("%s: the response shows the planted secret", what)
	}
}

// TestPreviewServesWorkspace: the owner is sent to a capability URL that serves the
// working copy with the sandboxing headers, without cookies.
func TestPreviewServesWorkspace(t *testing.T) {
	f := newPreviewFixture(t)
	base := f.capability(t)
	anon := newBrowser(t, f.srv) // the capability works without the session, as sub-resources load
	for _, tc := range []struct {
		path, ctype, body string
	}{
		{"", "text/html", "Hello preview"},
		{"index.html", "text/html", "Hello preview"},
		{"style.css", "text/css", "teal"},
		{"app.js", "javascript", "document.title"},
		{"docs/", "text/html", "docs"},
		{"in.css", "text/css", "teal"}, // a link that stays inside
		{"data.bin", "application/octet-stream", "\x00\x01"},
	} {
		p := anon.get(base + tc.path)
		wantStatus(t, p, http.StatusOK, tc.path)
		checkPreviewHeaders(t, p, tc.path)
		if !strings.Contains(p.header.Get("Content-Type"), tc.ctype) || !strings.Contains(p.body, tc.body) {
			t.Errorf("%q: %s %q", tc.path, p.header.Get("Content-Type"), p.body)
		}
	}
	// A directory without its slash is redirected, so relative links resolve inside it.
	p := anon.get(base + "docs")
	wantStatus(t, p, http.StatusSeeOther, "docs")
	if p.header.Get("Location") != base+"docs/" {
		t.Errorf("docs redirects to %q", p.header.Get("Location"))
	}
	// A deep link through the session keeps its path.
	p = f.owner.get("/preview/" + f.exec.ID.String() + "/docs/index.html")
	wantStatus(t, p, http.StatusSeeOther, "deep link")
	if loc := p.header.Get("Location"); !strings.HasSuffix(loc, "/docs/index.html") {
		t.Errorf("deep link redirects to %q", loc)
	}
}

// TestPreviewRefusesPathsOutside: traversal in every spelling, absolute paths, NUL,
// bad UTF-8 and links out are refused, with the sandboxing headers on the refusal.
func TestPreviewRefusesPathsOutside(t *testing.T) {
	f := newPreviewFixture(t)
	base := f.capability(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"%2e%2e/secret.txt", http.StatusBadRequest},
		{"%2E%2E%2Fsecret.txt", http.StatusBadRequest},
		{"docs/%2e%2e/%2e%2e/secret.txt", http.StatusBadRequest},
		{"..%2F..%2F..%2Fpreview.key", http.StatusBadRequest},
		{"..%5Csecret.txt", http.StatusBadRequest},
		{"%2Fetc%2Fpasswd", http.StatusBadRequest},
		{"index.html%00.css", http.StatusBadRequest},
		{"%ff%fe.html", http.StatusBadRequest},
		{"out.txt", http.StatusNotFound}, // relative link out
		{"abs.txt", http.StatusNotFound}, // absolute link out
		{"missing.html", http.StatusNotFound},
		{"index.html/", http.StatusNotFound},
	} {
		p := f.owner.get(base + tc.path)
		wantStatus(t, p, tc.status, tc.path)
		checkPreviewHeaders(t, p, tc.path)
		if !strings.HasPrefix(p.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%q: %s, want a problem", tc.path, p.header.Get("Content-Type"))
		}
		var prob struct{ Detail string }
		if err := json.Unmarshal([]byte(p.body), &prob); err != nil || prob.Detail == "" {
			t.Errorf("%q: problem %q", tc.path, p.body)
		}
	}
	// Literal dot segments never reach the handler: the server cleans the path and
	// redirects out of the preview, where nothing is served.
	for _, raw := range []string{"../../secret.txt", "docs/../../../preview.key", "./../secret.txt"} {
		p := f.owner.get(base + raw)
		if p.status == http.StatusOK || strings.Contains(p.body, previewSecret) {
			t.Errorf("%q: %d %q", raw, p.status, p.body)
		}
		if loc := p.header.Get("Location"); strings.Contains(loc, "..") {
			t.Errorf("%q redirects to %q", raw, loc)
		}
	}
}

// TestPreviewOwnerOnly: signed out, another user, a forged, borrowed or expired
// capability: 404, and the other user's attempt is in the audit trail.
func TestPreviewOwnerOnly(t *testing.T) {
	f := newPreviewFixture(t)
	base := f.capability(t)
	id := f.exec.ID.String()

	signedOut := newBrowser(t, f.srv)
	for _, path := range []string{"/preview/" + id + "/", "/preview/" + id + "/index.html"} {
		p := signedOut.get(path)
		wantStatus(t, p, http.StatusNotFound, "signed out "+path)
		checkPreviewHeaders(t, p, "signed out")
	}

	other := newBrowser(t, f.srv)
	other.signup("other@example.com")
	p := other.get("/preview/" + id + "/index.html")
	wantStatus(t, p, http.StatusNotFound, "another user")
	checkPreviewHeaders(t, p, "another user")
	if strings.Contains(p.body, "Hello preview") {
		t.Fatal("another user saw the file")
	}
	entries, err := f.a.Store.ListAudit(t.Context(), store.AuditFilter{Actions: []string{audit.ActionAccessDenied}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || e.TargetID == id
	}
	if !found {
		t.Errorf("no %s entry for the other user's preview request: %+v", audit.ActionAccessDenied, entries)
	}

	// The other user's own execution's id with the owner's signature, and a tampered
	// signature: 404.
	_, sig, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(base, "/"), "/preview/"), ".")
	for what, path := range map[string]string{
		"another id":         "/preview/" + uuid.NewString() + "." + sig + "/index.html",
		"tampered signature": base[:len(base)-3] + tamper(base[len(base)-3]) + base[len(base)-2:] + "index.html",
		"no signature":       "/preview/" + id + ".9999999999./index.html",
		// The same MAC bytes spelled differently (the unused low bits of the last
		// character set): one capability has one spelling.
		"re-spelled signature": base[:len(base)-2] + respell(base[len(base)-2]) + "/index.html",
		"not a uuid":           "/preview/../index.html",
	} {
		p := other.get(path)
		if p.status == http.StatusOK {
			t.Errorf("%s: %d %q", what, p.status, p.body)
		}
		if strings.Contains(p.body, "Hello preview") {
			t.Errorf("%s: served the file", what)
		}
	}

	// An expired capability, signed with the server's own key: 404 saying so.
	raw, err := os.ReadFile(filepath.Join(f.dataDir, "preview.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(exp int64) string {
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "vibecoder preview\x00%s\x00%s\x00%d", id, f.userID, exp)
		return fmt.Sprintf("/preview/%s.%d.%s/index.html", id, exp, base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
	}
	if p := signedOut.get(sign(time.Now().Add(time.Hour).Unix())); p.status != http.StatusOK {
		t.Fatalf("a capability signed with the key file: %d %s", p.status, p.body)
	}
	p = signedOut.get(sign(time.Now().Add(-time.Minute).Unix()))
	wantStatus(t, p, http.StatusNotFound, "expired")
	if !strings.Contains(p.body, "expired") {
		t.Errorf("expired capability: %q", p.body)
	}
	// A link that claims to last longer than an hour is refused even when signed with
	// the server's key (a leaked key once forged a link valid for three years).
	for _, ahead := range []time.Duration{2 * time.Hour, 24 * time.Hour, 3 * 365 * 24 * time.Hour} {
		p = signedOut.get(sign(time.Now().Add(ahead).Unix()))
		wantStatus(t, p, http.StatusNotFound, fmt.Sprintf("a link valid for %s", ahead))
		if strings.Contains(p.body, "Hello preview") {
			t.Errorf("a link valid for %s served the file", ahead)
		}
	}
}

// TestPreviewSpecialFiles: a FIFO, a device node and links to /proc/self/environ,
// /dev/zero and the preview key itself in the working copy: each answers 404 at once,
// nothing blocks, nothing leaks.
func TestPreviewSpecialFiles(t *testing.T) {
	f := newPreviewFixture(t)
	base := f.capability(t)
	ws := filepath.Join(f.dataDir, "workspaces", f.exec.ID.String())
	if err := syscall.Mkfifo(filepath.Join(ws, "hang.html"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(ws, "zero.html"), syscall.S_IFCHR|0o644, 1<<8|5); err != nil {
		t.Logf("no device node (%v): zero.html is absent", err)
	}
	for link, target := range map[string]string{"env.html": "/proc/self/environ", "devzero.html": "/dev/zero",
		"key.html": filepath.Join(f.dataDir, "preview.key"), "relkey.html": "../../preview.key"} {
		if err := os.Symlink(target, filepath.Join(ws, link)); err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile(filepath.Join(f.dataDir, "preview.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hang.html", "zero.html", "env.html", "devzero.html", "key.html", "relkey.html"} {
		done := make(chan page, 1)
		go func() { done <- f.owner.get(base + name) }()
		select {
		case p := <-done:
			wantStatus(t, p, http.StatusNotFound, name)
			if strings.Contains(p.body, strings.TrimSpace(string(key))) || strings.Contains(p.body, "PATH=") {
				t.Errorf("%s leaked: %q", name, p.body)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the preview blocked", name)
		}
	}
}

// TestPreviewFinished: a finished execution is previewed from its committed tree,
// kept as a snapshot; without a commit, or once the snapshot is gone, a 404 says why.
func TestPreviewFinished(t *testing.T) {
	f := newPreviewFixture(t)
	ctx := t.Context()
	wsDir := filepath.Join(f.dataDir, "workspaces", f.exec.ID.String())
	git, err := gitops.NewWorkspaces(slog.New(slog.DiscardHandler), gitops.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// A repository for the workspace to have come from.
	repo := filepath.Join(t.TempDir(), "repo")
	testutil.GitRepo(t, repo, map[string]string{"README.md": "# site\n"}, "readme")
	src, err := (&gitops.RepoPolicy{}).Resolve(ctx, repo, gitops.Owner{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := git.Create(ctx, src, "main", filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(ws.Dir, os.DirFS(wsDir)); err != nil {
		t.Fatal(err)
	}
	sha, _, err := ws.Commit(ctx, "vibecoder/site", "Make a site", gitops.Author{})
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(f.dataDir, "previews", f.exec.ID.String()+".git")
	if err := ws.SaveSnapshot(ctx, sha, snap); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(wsDir); err != nil { // the pipeline removes the workspace at the end
		t.Fatal(err)
	}
	finish := func(details map[string]any) {
		t.Helper()
		e, err := f.a.Store.GetExecution(ctx, f.userID, f.exec.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.Status = store.ExecSucceeded
		e.Details, _ = json.Marshal(details)
		if err := f.a.Store.UpdateExecution(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	finish(map[string]any{"commit_sha": sha, "branch": "vibecoder/site"})
	base := f.capability(t)
	for path, want := range map[string]string{"": "Hello preview", "style.css": "teal", "README.md": "# site"} {
		p := f.owner.get(base + path)
		wantStatus(t, p, http.StatusOK, "committed "+path)
		checkPreviewHeaders(t, p, path)
		if !strings.Contains(p.body, want) {
			t.Errorf("committed %q: %q", path, p.body)
		}
	}
	for _, path := range []string{"out.txt", "abs.txt", "in.css", "missing.txt", "%2e%2e/README.md"} {
		// Links are not followed in a commit, even one that stays inside.
		if p := f.owner.get(base + path); p.status != http.StatusNotFound && p.status != http.StatusBadRequest {
			t.Errorf("committed %q: %d %q", path, p.status, p.body)
		}
	}
	if err := os.RemoveAll(snap); err != nil {
		t.Fatal(err)
	}
	p := f.owner.get(base + "index.html")
	wantStatus(t, p, http.StatusNotFound, "snapshot gone")
	if !strings.Contains(p.body, "no longer kept") || !strings.Contains(p.body, "vibecoder/site") {
		t.Errorf("snapshot gone: %q", p.body)
	}
	finish(map[string]any{})
	p = f.owner.get(base + "index.html")
	wantStatus(t, p, http.StatusNotFound, "no commit")
	if !strings.Contains(p.body, "without a commit") {
		t.Errorf("no commit: %q", p.body)
	}
}

// tamper gives a base64url character other than c, so a "tampered" signature
// always differs from the real one (replacing with a fixed letter left it
// unchanged whenever the signature already had that letter there).
func tamper(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// respell sets the lowest bit of a base64url character's value: in the last
// character of a 32-byte value's encoding that bit carries no data.
func respell(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

// TestPreviewSignatureHasOneSpelling: a capability link is served only as it was
// issued. Go's base64 decoder skips line breaks (even in strict mode), and the path
// value arrives with %0A and %0D decoded, so a signature with a line break in it would
// otherwise decode to the same MAC.
func TestPreviewSignatureHasOneSpelling(t *testing.T) {
	f := newPreviewFixture(t)
	base := f.capability(t) // "/preview/<id>.<exp>.<sig>/"
	other := newBrowser(t, f.srv)
	if p := other.get(base + "index.html"); p.status != http.StatusOK {
		t.Fatalf("the capability itself: %d %s", p.status, p.body)
	}
	sig := base[strings.LastIndexByte(strings.TrimSuffix(base, "/"), '.')+1 : len(base)-1]
	prefix := base[:len(base)-1-len(sig)]
	for what, spelled := range map[string]string{
		"LF inside":   sig[:10] + "%0A" + sig[10:],
		"CRLF at end": sig + "%0D%0A",
	} {
		p := other.get(prefix + spelled + "/index.html")
		if p.status == http.StatusOK {
			t.Errorf("%s: a re-spelled signature (%s) was served: %d", what, spelled, p.status)
		}
	}
}

// TestPreviewKeyConcurrentStart: processes that start together on a fresh data
// directory all get the same key; none reads a key another is still writing (a
// serve process once failed at start with "not 32 or more hex-encoded bytes").
func TestPreviewKeyConcurrentStart(t *testing.T) {
	for round := range 50 {
		path := filepath.Join(t.TempDir(), "data", "preview.key")
		const n = 8
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { keys[i], errs[i] = web.LoadPreviewKey(path) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: start %d: %v", round, i, errs[i])
			}
			if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("round %d: start %d got key %x, start 0 got %x", round, i, keys[i], keys[0])
			}
		}
		left, _ := os.ReadDir(filepath.Dir(path))
		if len(left) != 1 {
			t.Fatalf("round %d: data directory holds %d entries, want only preview.key", round, len(left))
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("round %d: preview.key mode %v, %v; want 0600", round, fi.Mode().Perm(), err)
		}
	}
}
