package web_test

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/observe"
)

// newServer runs the real app (embedded SQLite) behind httptest.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	_, srv := newAppServer(t)
	return srv
}

// newAppServer is newServer that also returns the app, for tests that seed its store.
func newAppServer(t *testing.T) (*app.App, *httptest.Server) {
	t.Helper()
	vars := map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.New(t.Context(), cfg, observe.NewLogger(io.Discard, cfg.LogLevel, observe.NewRedactor(cfg.Secrets())))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.HTTP.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string // the session's CSRF token, for API calls
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) api(method, path string, in any) map[string]any {
	b.t.Helper()
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	p := b.do(req)
	if p.status >= 300 {
		b.t.Fatalf("%s %s = %d: %s", method, path, p.status, p.body)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(p.body), &out)
	return out
}

var hiddenCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func formToken(t *testing.T, p page) string {
	t.Helper()
	m := hiddenCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf_token field in page:\n%s", p.body)
	}
	return m[1]
}

// signup signs up through the form and learns the session's CSRF token.
func (b *browser) signup(email string) {
	b.t.Helper()
	tok := formToken(b.t, b.get("/signup"))
	p := b.post("/signup", url.Values{"csrf_token": {tok}, "email": {email}, "password": {"correct horse battery"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/projects" {
		b.t.Fatalf("signup = %d %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	b.csrf = b.api("GET", "/api/v1/me", nil)["csrf_token"].(string)
}

func wantStatus(t *testing.T, p page, status int, what string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, status, p.body)
	}
}

func TestPages(t *testing.T) {
	srv := newServer(t)
	owner, other, anon := newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv)
	owner.signup("owner@example.com")
	other.signup("other@example.com")

	pid := owner.api("POST", "/api/v1/projects", map[string]string{"name": "Demo", "repo_url": "https://example.com/demo.git"})["id"].(string)
	tid := owner.api("POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "Add a README"})["id"].(string)
	xid := owner.api("POST", "/api/v1/tasks/"+tid+"/run", nil)["id"].(string)

	pages := []string{"/projects", "/projects/" + pid, "/tasks/" + tid, "/executions/" + xid, "/keys", "/system"}
	for _, path := range pages {
		t.Run("owner "+path, func(t *testing.T) {
			p := owner.get(path)
			wantStatus(t, p, http.StatusOK, path)
			if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("Content-Type = %q", ct)
			}
			if len(p.body) > 100<<10 {
				t.Fatalf("page is %d bytes, over 100 KB", len(p.body))
			}
			if !strings.Contains(p.body, `content="`+owner.csrf+`"`) {
				t.Fatalf("page lacks the session's CSRF token")
			}
		})
		t.Run("signed out "+path, func(t *testing.T) {
			p := anon.get(path)
			wantStatus(t, p, http.StatusSeeOther, path)
			if loc := p.header.Get("Location"); loc != "/login?next="+url.QueryEscape(path) {
				t.Fatalf("Location = %q", loc)
			}
		})
	}
	for _, path := range []string{"/projects/" + pid, "/tasks/" + tid, "/executions/" + xid} {
		t.Run("other user "+path, func(t *testing.T) {
			p := other.get(path)
			wantStatus(t, p, http.StatusNotFound, path)
			if strings.Contains(p.body, "Demo") || strings.Contains(p.body, "README") {
				t.Fatalf("404 page leaks the resource:\n%s", p.body)
			}
		})
	}
	for _, path := range []string{"/projects/not-a-uuid", "/executions/0193a000-0000-7000-8000-000000000000"} {
		wantStatus(t, owner.get(path), http.StatusNotFound, path)
	}
	if p := owner.get("/projects/" + pid); !strings.Contains(p.body, "https://example.com/demo.git") {
		t.Fatalf("project page lacks the repository URL")
	}

	t.Run("static assets", func(t *testing.T) {
		for _, path := range []string{"/static/app.js", "/static/app.css"} {
			p := anon.get(path)
			wantStatus(t, p, http.StatusOK, path)
			if len(p.body) == 0 || len(p.body) > 100<<10 {
				t.Fatalf("%s is %d bytes", path, len(p.body))
			}
		}
	})
	t.Run("home redirects", func(t *testing.T) {
		if loc := anon.get("/").header.Get("Location"); loc != "/login" {
			t.Fatalf("signed out / -> %q", loc)
		}
		if loc := owner.get("/").header.Get("Location"); loc != "/projects" {
			t.Fatalf("signed in / -> %q", loc)
		}
	})
	t.Run("API routes still answer problem+json", func(t *testing.T) {
		p := anon.get("/api/v1/nope")
		wantStatus(t, p, http.StatusNotFound, "unknown API path")
		if ct := p.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("Content-Type = %q", ct)
		}
	})
}

func TestForms(t *testing.T) {
	srv := newServer(t)

	t.Run("signup without CSRF token is refused", func(t *testing.T) {
		b := newBrowser(t, srv)
		b.get("/signup") // sets the form cookie
		p := b.post("/signup", url.Values{"email": {"x@example.com"}, "password": {"long enough pw"}})
		wantStatus(t, p, http.StatusForbidden, "signup without token")
		p = b.post("/signup", url.Values{"csrf_token": {strings.Repeat("0", 32)}, "email": {"x@example.com"}, "password": {"long enough pw"}})
		wantStatus(t, p, http.StatusForbidden, "signup with a wrong token")
	})
	t.Run("login without CSRF token is refused", func(t *testing.T) {
		b := newBrowser(t, srv)
		wantStatus(t, b.post("/login", url.Values{"email": {"x@example.com"}, "password": {"whatever pw"}}), http.StatusForbidden, "login")
	})

	b := newBrowser(t, srv)
	b.signup("forms@example.com")
	t.Run("signup with a taken email", func(t *testing.T) {
		c := newBrowser(t, srv)
		tok := formToken(t, c.get("/signup"))
		p := c.post("/signup", url.Values{"csrf_token": {tok}, "email": {"forms@example.com"}, "password": {"correct horse battery"}})
		wantStatus(t, p, http.StatusConflict, "duplicate signup")
	})
	t.Run("signup follows the API's rules", func(t *testing.T) {
		c := newBrowser(t, srv)
		tok := formToken(t, c.get("/signup"))
		for _, f := range []struct{ email, name, password, want string }{
			{"ada@localhost", "", "correct horse battery", "Enter a valid email address."},
			{"Ada <ada@example.com>", "", "correct horse battery", "Enter a valid email address."},
			{"ada@example.com", strings.Repeat("n", 101), "correct horse battery", "Name must be at most 100 characters."},
			{"ada@example.com", "Ada\x01", "correct horse battery", "Name must not contain control characters."},
			{"ada@example.com", "", "short", "Password must be 8 to 256 characters."},
			{"bad", "\x01", "short", "Enter a valid email address."}, // the first problem only
		} {
			p := c.post("/signup", url.Values{"csrf_token": {tok}, "email": {f.email}, "name": {f.name}, "password": {f.password}})
			wantStatus(t, p, http.StatusUnprocessableEntity, "signup "+f.email)
			if !strings.Contains(p.body, f.want) {
				t.Errorf("signup %q %q: no %q in\n%s", f.email, f.name, f.want, p.body)
			}
		}
	})
	t.Run("login", func(t *testing.T) {
		c := newBrowser(t, srv)
		tok := formToken(t, c.get("/login?next=/keys"))
		p := c.post("/login", url.Values{"csrf_token": {tok}, "email": {"forms@example.com"}, "password": {"wrong password"}, "next": {"/keys"}})
		wantStatus(t, p, http.StatusUnauthorized, "wrong password")
		if !strings.Contains(p.body, "invalid email or password") {
			t.Fatalf("no error shown:\n%s", p.body)
		}
		p = c.post("/login", url.Values{"csrf_token": {tok}, "email": {"Forms@Example.com"}, "password": {"correct horse battery"}, "next": {"//evil.example"}})
		wantStatus(t, p, http.StatusSeeOther, "login")
		if loc := p.header.Get("Location"); loc != "/projects" {
			t.Fatalf("open redirect: Location = %q", loc)
		}
		wantStatus(t, c.get("/keys"), http.StatusOK, "keys after login")
	})
	t.Run("logout", func(t *testing.T) {
		wantStatus(t, b.post("/logout", nil), http.StatusForbidden, "logout without token")
		wantStatus(t, b.post("/logout", url.Values{"csrf_token": {"nope"}}), http.StatusForbidden, "logout with a wrong token")
		wantStatus(t, b.get("/projects"), http.StatusOK, "still signed in")
		u, _ := url.Parse(b.base)
		old := b.c.Jar.Cookies(u)
		p := b.post("/logout", url.Values{"csrf_token": {b.csrf}})
		wantStatus(t, p, http.StatusSeeOther, "logout")
		wantStatus(t, b.get("/projects"), http.StatusSeeOther, "projects after logout")
		replay := newBrowser(t, srv) // the old cookie must be dead server-side, not just forgotten
		replay.c.Jar.SetCookies(u, old)
		wantStatus(t, replay.get("/projects"), http.StatusSeeOther, "projects with the logged-out cookie")
		wantStatus(t, newBrowser(t, srv).post("/logout", url.Values{"csrf_token": {b.csrf}}), http.StatusUnauthorized, "logout signed out")
	})
}

var hiddenNext = regexp.MustCompile(`name="next" value="([^"]*)"`)

// TestLoginRedirectStaysOnSite logs in through the form with the open-redirect
// variants in next, carried as a browser carries them (the login page's query string
// into its hidden field, then the form post): each must land on /projects, and a
// plain path of this site on itself.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	srv := newServer(t)
	newBrowser(t, srv).signup("redirect@example.com")
	for _, tc := range []struct{ query, want string }{
		{"/%09/evil.example/", "/projects"},
		{url.QueryEscape("/\t/evil.example/"), "/projects"},
		{url.QueryEscape("//evil.example"), "/projects"},
		{url.QueryEscape(`/\evil.example`), "/projects"},
		{url.QueryEscape("/%5Cevil"), "/projects"},
		{url.QueryEscape("https://evil.example"), "/projects"},
		{url.QueryEscape("/%2F%2Fevil.example"), "/projects"},
		{"%00", "/projects"},
		{url.QueryEscape("/ok/path?x=1"), "/ok/path?x=1"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			b := newBrowser(t, srv)
			p := b.get("/login?next=" + tc.query)
			m := hiddenNext.FindStringSubmatch(p.body)
			if m == nil {
				t.Fatalf("no next field in the login page:\n%s", p.body)
			}
			p = b.post("/login", url.Values{"csrf_token": {formToken(t, p)}, "email": {"redirect@example.com"},
				"password": {"correct horse battery"}, "next": {html.UnescapeString(m[1])}})
			wantStatus(t, p, http.StatusSeeOther, "login")
			if loc := p.header.Get("Location"); loc != tc.want {
				t.Fatalf("next=%s: Location %q, want %q", tc.query, loc, tc.want)
			}
		})
	}
}
