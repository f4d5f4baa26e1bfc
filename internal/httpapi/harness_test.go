package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// dialects are the databases every test runs against.
var dialects = []string{"sqlite", "postgres"}

// forEachDialect runs fn as a subtest per dialect, each with a fresh server built the
// way production builds it. settings are extra environment variables for config.Load.
func forEachDialect(t *testing.T, settings map[string]string, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { fn(t, newEnv(t, d, settings)) })
	}
}

// env is one running server: the real app behind httptest, its captured logs, and the
// secrets tests sent it (which must never reach the logs).
type env struct {
	dialect string
	vars    map[string]string // the environment the server was configured from
	app     *app.App
	srv     *httptest.Server
	logs    *testutil.SyncBuffer

	// serving is read-held by every request for as long as the handler runs, so that
	// logs() can wait for in-flight access-log lines without sleeping.
	serving sync.RWMutex

	mu       sync.Mutex
	requests int      // requests the server has handled
	secrets  []string // values that must never appear in the logs
}

func newEnv(t *testing.T, dialect string, settings map[string]string) *env {
	t.Helper()
	// No Go build cache seed: these tests run no Go project, and compiling the
	// standard library in the background would take a core from every test.
	vars := map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "LOG_LEVEL": "debug", "VIBECODER_GO_CACHE_SEED": "off"}
	if dialect == "postgres" {
		vars["DATABASE_URL"] = testutil.PostgresDSN(t)
	}
	maps.Copy(vars, settings)
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e := &env{dialect: dialect, logs: &testutil.SyncBuffer{}, vars: vars}
	log := observe.NewLogger(e.logs, cfg.LogLevel, observe.NewRedactor(cfg.Secrets()))
	e.app, err = app.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("app.New(%s): %v", dialect, err)
	}
	if got := e.app.Store.Dialect(); got != dialect {
		t.Fatalf("store dialect = %q, want %q", got, dialect)
	}
	h := e.app.HTTP.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.serving.RLock()
		defer e.serving.RUnlock()
		e.mu.Lock()
		e.requests++
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.srv.Close()
		if err := e.app.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
		e.assertNoSecretsInLogs(t)
	})
	return e
}

// newEnvSameDB starts a second server (another process, in effect) on a's database.
func newEnvSameDB(t *testing.T, a *env) *env {
	t.Helper()
	return newEnv(t, a.dialect, map[string]string{"DATABASE_URL": a.vars["DATABASE_URL"]})
}

// secret records a value that the logs must never contain.
func (e *env) secret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

func (e *env) assertNoSecretsInLogs(t *testing.T) {
	t.Helper()
	logs := e.logText()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain a secret the test sent (%.6s...)", s)
		}
	}
}

// logText returns everything logged so far, once every in-flight request has finished.
// settle waits until every request the server has begun is done with: a JSON answer
// reaches the client before its request's metrics and access-log line are recorded.
func (e *env) settle() {
	e.serving.Lock()
	defer e.serving.Unlock()
}

func (e *env) logText() string {
	e.serving.Lock()
	defer e.serving.Unlock()
	return e.logs.String()
}

// logLines returns every log line decoded; each must be a JSON object.
func (e *env) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logText()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not a JSON object: %v\n%s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// accessLines returns the access-log lines ("http request").
func (e *env) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range e.logLines(t) {
		if l["msg"] == "http request" {
			out = append(out, l)
		}
	}
	return out
}

// accessLine returns the one access-log line of the response's request.
func (e *env) accessLine(t *testing.T, r response) map[string]any {
	t.Helper()
	id := r.header.Get("X-Request-ID")
	var found []map[string]any
	for _, l := range e.accessLines(t) {
		if l["request_id"] == id {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("request %s has %d access-log lines, want 1", id, len(found))
	}
	return found[0]
}

func (e *env) requestCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// client calls the API as one caller: anonymous, by session cookie (with its CSRF
// token on unsafe methods), or by bearer API key.
type client struct {
	e      *env
	t      *testing.T
	bearer string
	cookie string
	csrf   string
	userID string
}

func (e *env) anon(t *testing.T) *client { return &client{e: e, t: t} }

// reqOpt adjusts a request before it is sent.
type reqOpt func(*http.Request)

// header sets a request header; an empty value removes it.
func header(k, v string) reqOpt {
	return func(r *http.Request) {
		if v == "" {
			r.Header.Del(k)
			return
		}
		r.Header.Set(k, v)
	}
}

// noCSRF sends the request without the CSRF header.
func noCSRF() reqOpt { return header(httpapi.CSRFHeader, "") }

// response is what came back: status, headers, the raw body and, when the body is a
// JSON object, that object.
type response struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	raw     []byte
	body    map[string]any
}

// do sends a request. body is nil (none), a string or []byte (sent verbatim) or any
// other value (sent as JSON); a body goes as application/json unless an option says
// otherwise.
func (c *client) do(method, path string, body any, opts ...reqOpt) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.e.srv.URL+path, rd)
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: c.cookie})
	}
	if c.csrf != "" && method != http.MethodGet && method != http.MethodHead {
		req.Header.Set(httpapi.CSRFHeader, c.csrf)
	}
	for _, o := range opts {
		o(req)
	}
	res, err := c.e.srv.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := response{status: res.StatusCode, header: res.Header, cookies: res.Cookies(), raw: raw}
	_ = json.Unmarshal(raw, &r.body) // stays nil unless the body is a JSON object
	return r
}

// ok sends a request and fails the test unless it answers want.
func (c *client) ok(want int, method, path string, body any, opts ...reqOpt) response {
	c.t.Helper()
	r := c.do(method, path, body, opts...)
	wantStatus(c.t, r, want, method+" "+path)
	return r
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// items returns a list response's items, failing when the body is not a list envelope.
func (r response) items(t *testing.T) []map[string]any {
	t.Helper()
	raw, ok := r.body["items"].([]any)
	if !ok {
		t.Fatalf("not a list (items missing or null): %s", r.raw)
	}
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		m, ok := it.(map[string]any)
		if !ok {
			t.Fatalf("list item %d is not an object: %s", i, r.raw)
		}
		out[i] = m
	}
	return out
}

// ids returns the ids of a list response's items, in order.
func (r response) ids(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, it := range r.items(t) {
		id, ok := it["id"].(string)
		if !ok {
			t.Fatalf("list item without an id: %s", r.raw)
		}
		out = append(out, id)
	}
	return out
}

func wantStatus(t *testing.T, r response, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, r.status, want, r.raw)
	}
}

// wantProblem asserts an RFC 9457 problem+json answer with the given status.
func wantProblem(t *testing.T, r response, status int, what string) {
	t.Helper()
	wantStatus(t, r, status, what)
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q, want application/problem+json; body: %s", what, r.header.Get("Content-Type"), r.raw)
	}
	if r.body == nil {
		t.Fatalf("%s: problem body is not a JSON object: %s", what, r.raw)
	}
	for _, k := range []string{"type", "title", "detail"} {
		if r.str(k) == "" {
			t.Errorf("%s: problem has no %q: %s", what, k, r.raw)
		}
	}
	if got, _ := r.body["status"].(float64); int(got) != status {
		t.Errorf("%s: problem status %v, want %d", what, r.body["status"], status)
	}
}

// wantFieldError asserts a 422 problem whose errors[] names field.
func wantFieldError(t *testing.T, r response, field, what string) {
	t.Helper()
	wantProblem(t, r, http.StatusUnprocessableEntity, what)
	errs, _ := r.body["errors"].([]any)
	for _, fe := range errs {
		if m, ok := fe.(map[string]any); ok && m["field"] == field && m["message"] != "" {
			return
		}
	}
	t.Fatalf("%s: errors[] does not name %q: %s", what, field, r.raw)
}

// signup creates an account and returns a client signed in by its session cookie.
func (e *env) signup(t *testing.T, email, password string) *client {
	t.Helper()
	e.secret(password)
	r := e.anon(t).ok(http.StatusCreated, "POST", "/api/v1/auth/signup",
		map[string]string{"email": email, "password": password, "name": "Test User"})
	c := &client{e: e, t: t, csrf: r.str("csrf_token")}
	for _, ck := range r.cookies {
		if ck.Name == httpapi.SessionCookie {
			c.cookie = ck.Value
		}
	}
	if c.cookie == "" || c.csrf == "" {
		t.Fatalf("signup: no session cookie or csrf_token: %s", r.raw)
	}
	user, _ := r.body["user"].(map[string]any)
	c.userID, _ = user["id"].(string)
	e.secret(c.cookie)
	e.secret(c.csrf)
	return c
}

// newAPIKey creates an API key through c and returns a client authenticated by it,
// and the key's id.
func (c *client) newAPIKey(name string) (*client, string) {
	c.t.Helper()
	r := c.ok(http.StatusCreated, "POST", "/api/v1/apikeys", map[string]string{"name": name})
	key := r.str("key")
	if key == "" {
		c.t.Fatalf("create api key: no key in %s", r.raw)
	}
	c.e.secret(key)
	return &client{e: c.e, t: c.t, bearer: key, userID: c.userID}, r.str("id")
}

// in returns a copy of c that reports to t (a subtest's own t must be used there).
func (c *client) in(t *testing.T) *client {
	cp := *c
	cp.t = t
	return &cp
}

// withCSRF returns a copy of c that sends token as its CSRF header.
func (c *client) withCSRF(token string) *client {
	cp := *c
	cp.csrf = token
	return &cp
}

// withoutPerRequest returns a problem body minus the fields that differ per request.
func withoutPerRequest(body map[string]any) map[string]any {
	out := maps.Clone(body)
	delete(out, "request_id")
	delete(out, "instance")
	return out
}
