package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// planted are the secrets of one test run: random, so that a hit in the logs can only
// be a leak. Some have a known credential's shape (the redactor's patterns must catch
// them wherever they come from); others are opaque and are safe only because the
// server knows them (configuration) or never logs where they travel (bodies, cookies).
type planted struct {
	openAIKey, anthropicKey, googleKey, xaiKey, githubToken, logtailToken string
}

func newPlanted() planted {
	r := func() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }
	return planted{
		openAIKey:    "opaque-openai-key-" + r(), // an OpenAI-compatible server's key need not look like sk-
		anthropicKey: "sk-ant-api03-" + r(),
		googleKey:    "AIza" + r() + "Xy",
		xaiKey:       "xai-" + r(),
		githubToken:  "ghp_" + r(),
		logtailToken: "opaque-logtail-" + r(),
	}
}

func (p planted) all() []string {
	return []string{p.openAIKey, p.anthropicKey, p.googleKey, p.xaiKey, p.githubToken, p.logtailToken}
}

// echoKey answers every request with an error whose message quotes the credentials
// the request carried, as providers' "incorrect API key provided: ..." errors do.
func echoKey(status int) llmtest.Script {
	return func(req llmtest.RecordedRequest) llmtest.Reply {
		got := strings.Join([]string{req.Header.Get("Authorization"), req.Header.Get("X-Api-Key"),
			req.Header.Get("X-Goog-Api-Key"), req.Query.Get("key")}, " ")
		return llmtest.Reply{Status: status, Error: "Incorrect API key provided: " + strings.TrimSpace(got),
			Header: http.Header{"Retry-After-Ms": {"5"}}}
	}
}

// TestSecretsNeverReachTheLogs plants secrets in every way one can reach the server —
// configuration, Authorization headers, cookies, CSRF headers, request ids, passwords,
// request bodies that fail validation, upstream error bodies that echo the provider
// key, a job's error — drives each to where it could be logged, and then scans
// everything logged for every one of them (the harness checks again at cleanup).
func TestSecretsNeverReachTheLogs(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			p := newPlanted()
			openAI := llmtest.NewOpenAI(t, echoKey(http.StatusInternalServerError))
			anthropic := llmtest.NewAnthropic(t, echoKey(http.StatusUnauthorized))
			gemini := llmtest.NewGemini(t, echoKey(http.StatusInternalServerError))
			repos := t.TempDir()
			e := newEnv(t, d, map[string]string{
				"OPENAI_API_KEY": p.openAIKey, "OPENAI_BASE_URL": openAI.URL + "/v1",
				"ANTHROPIC_API_KEY": p.anthropicKey, "ANTHROPIC_BASE_URL": anthropic.URL,
				"GOOGLE_API_KEY": p.googleKey, "GOOGLE_BASE_URL": gemini.URL,
				"XAI_API_KEY": p.xaiKey, "GITHUB_TOKEN": p.githubToken,
				"LOGTAIL_SOURCE_TOKEN": p.logtailToken, "LOGTAIL_INGEST_URL": "http://127.0.0.1:9/",
				// A failing OpenAI call falls back to Anthropic, and the fallback is logged
				// with the error that caused it.
				"VIBECODER_LLM_FALLBACKS":    gptMini + "=anthropic/claude-haiku-4-5",
				"VIBECODER_LLM_MAX_ATTEMPTS": "1",
				"VIBECODER_LLM_RPM":          "1000",
				"VIBECODER_LOCAL_REPO_ROOTS": repos,
				"VIBECODER_JOB_QUEUES":       "index:attempts=1",
			})
			for _, s := range p.all() {
				e.secret(s)
			}
			if u, err := url.Parse(e.vars["DATABASE_URL"]); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok {
					e.secret(pw)
				}
			}

			t.Run("credentials", func(t *testing.T) { plantCredentials(t, e) })
			t.Run("bodies", func(t *testing.T) { plantInBodies(t, e) })
			t.Run("upstream errors", func(t *testing.T) { plantUpstream(t, e, p, openAI, anthropic, gemini) })
			t.Run("job error", func(t *testing.T) { plantInJob(t, e, repos) })

			e.assertNoSecretsInLogs(t)
			if logs := e.logText(); !strings.Contains(logs, "[REDACTED]") {
				t.Errorf("nothing was redacted: the planted secrets never reached the logging pipeline, so this test proves nothing")
			}
		})
	}
}

// plantCredentials sends secrets where credentials travel: Authorization, cookies,
// the CSRF header, login bodies, and a request id shaped like a key.
func plantCredentials(t *testing.T, e *env) {
	const password = "correct horse battery staple 9f2"
	web := e.signup(t, "secrets@example.com", password) // records password, cookie, CSRF token
	api, _ := web.newAPIKey("k")                        // records the key
	anon := e.anon(t)

	wrongPassword := "wrong-password-" + uuid.NewString()
	e.secret(wrongPassword)
	wantStatus(t, anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "secrets@example.com", "password": wrongPassword}),
		http.StatusUnauthorized, "login with a wrong password")
	wantStatus(t, anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": wrongPassword}),
		http.StatusUnauthorized, "login as nobody")
	r := anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "secrets@example.com", "password": password})
	wantStatus(t, r, http.StatusOK, "login")
	for _, c := range r.cookies {
		e.secret(c.Value)
	}
	e.secret(r.str("csrf_token"))

	shortPassword := "Zq7!xw"
	e.secret(shortPassword)
	if r := anon.do("POST", "/api/v1/auth/signup", map[string]string{"email": "short@example.com", "password": shortPassword}); r.status < 400 {
		t.Errorf("signup with a 6-character password: %d", r.status)
	}
	dupPassword := "duplicate-signup-" + uuid.NewString()
	e.secret(dupPassword)
	if r := anon.do("POST", "/api/v1/auth/signup", map[string]string{"email": "secrets@example.com", "password": dupPassword}); r.status < 400 {
		t.Errorf("signup with a taken email: %d", r.status)
	}

	// Bearer tokens that are not valid: one shaped like our keys, one opaque, one in
	// another scheme.
	badKey := "vc_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	opaque := "opaque-bearer-" + uuid.NewString()
	basic := base64.StdEncoding.EncodeToString([]byte("admin:" + uuid.NewString()))
	for _, h := range []string{"Bearer " + badKey, "Bearer " + opaque, "Basic " + basic, "bearer " + api.bearer + "x"} {
		e.secret(strings.SplitN(h, " ", 2)[1])
		wantStatus(t, anon.do("GET", "/api/v1/me", nil, header("Authorization", h)), http.StatusUnauthorized, "GET /me with a bad Authorization")
		wantStatus(t, anon.do("POST", "/v1/chat/completions", chatBody("hi"), header("Authorization", h)), http.StatusUnauthorized, "chat with a bad Authorization")
	}

	// A session cookie that is no session, and a real one with a wrong CSRF token.
	fakeCookie := "fake-session-" + uuid.NewString()
	e.secret(fakeCookie)
	wantStatus(t, (&client{e: e, t: t, cookie: fakeCookie}).do("GET", "/api/v1/me", nil), http.StatusUnauthorized, "GET /me with a made-up cookie")
	wrongCSRF := "wrong-csrf-" + uuid.NewString()
	e.secret(wrongCSRF)
	wantStatus(t, web.withCSRF(wrongCSRF).do("POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}),
		http.StatusForbidden, "POST with a wrong CSRF token")

	// A request id is logged as given when well-formed; one shaped like a key must not
	// be logged as it is.
	keyID := "sk-proj-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	e.secret(keyID)
	api.do("GET", "/api/v1/me", nil, header("X-Request-ID", keyID))

	// Secrets in the query string (the access log records the route, never the URL).
	qs := "sk-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	e.secret(qs)
	api.do("GET", "/api/v1/projects?password="+qs+"&token="+qs, nil)
	api.do("GET", "/no/such/route?api_key="+qs, nil)
}

// plantInBodies sends request bodies carrying credentials that fail validation or
// decoding, so that the error paths see them.
func plantInBodies(t *testing.T, e *env) {
	api, _ := e.signup(t, "bodies@example.com", "bodies long password").newAPIKey("k")
	gh := "ghp_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	sk := "sk-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	urlPassword := "url-password-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	for _, s := range []string{gh, sk, urlPassword} {
		e.secret(s)
	}
	bodies := []any{
		map[string]string{"name": strings.Repeat(gh, 20), "repo_url": "https://github.com/acme/p.git"},         // too long
		map[string]string{"name": "", "repo_url": "https://git:" + urlPassword + "@example.com/r.git"},         // missing name
		map[string]any{"name": "p", "repo_url": "https://github.com/acme/p.git", sk: gh},                       // unknown field
		map[string]any{"name": map[string]string{"token": gh}, "repo_url": "https://x:" + urlPassword + "@h/"}, // wrong type
		`{"name": "` + sk + `", "repo_url": "https://github.com/acme/p.git"`,                                   // truncated JSON
		`{"name": "` + sk + `" "repo_url": 1}`,                                                                 // malformed JSON
	}
	for i, b := range bodies {
		if r := api.do("POST", "/api/v1/projects", b); r.status < 400 {
			t.Errorf("body %d: status %d, want a client error: %s", i, r.status, r.raw)
		}
	}
	pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "ok", "repo_url": "https://github.com/acme/p.git"}).str("id")
	api.do("PATCH", "/api/v1/projects/"+pid, map[string]any{"repo_url": "https://u:" + urlPassword + "@example.com/" + gh, "name": 7})
	api.do("POST", "/api/v1/projects/"+pid+"/tasks", map[string]any{"title": "", "description": "use " + sk})
	api.do("POST", "/llm/generate", map[string]any{"prompt": "key " + sk, "model": "no-such/model-" + gh})
	api.do("POST", "/v1/chat/completions", map[string]any{"model": gh, "messages": "Bearer " + sk})
}

// plantUpstream makes every provider fail with an error that quotes the key it was
// sent: the server's own provider keys come back in upstream error bodies.
func plantUpstream(t *testing.T, e *env, p planted, servers ...*llmtest.Server) {
	api, _ := e.signup(t, "upstream@example.com", "upstream long password").newAPIKey("k")
	calls := []struct {
		path string
		body any
	}{
		{"/llm/generate", generateBody("hello")}, // OpenAI 500, then the Anthropic fallback 401
		{"/llm/generate", generateBody("hello", "stream", true)},
		{"/v1/chat/completions", chatBody("hello")},
		{"/v1/chat/completions", chatBody("hello", "stream", true)},
		{"/llm/generate", generateBody("hello", "model", "anthropic/claude-haiku-4-5")},
		{"/v1/chat/completions", chatBody("hello", "model", "google/gemini-2.5-flash")},
		{"/llm/generate", generateBody("hello", "model", "google/gemini-2.5-flash", "stream", true)},
	}
	for _, c := range calls {
		r := api.do("POST", c.path, c.body)
		for _, k := range p.all() {
			if strings.Contains(string(r.raw), k) {
				t.Errorf("POST %s: the response quotes a provider key (%.8s...) to the caller: %s", c.path, k, r.raw)
			}
		}
	}
	// The fakes really were sent the keys, and really echoed them.
	for _, s := range servers {
		if s.Calls() == 0 {
			t.Fatalf("a fake provider was never called")
		}
		req, _ := s.Last()
		sent := fmt.Sprint(req.Header, req.Query)
		if !strings.Contains(sent, p.openAIKey) && !strings.Contains(sent, p.anthropicKey) && !strings.Contains(sent, p.googleKey) {
			t.Errorf("a fake received no configured key: %s", sent)
		}
	}
	if !strings.Contains(e.logText(), "llm fallback") {
		t.Errorf("the fallback was not logged: the upstream error path was not exercised")
	}
}

// plantInJob runs an index job that fails with an error naming a path that holds a
// GitHub token; River logs the job's error.
func plantInJob(t *testing.T, e *env, repos string) {
	web := e.signup(t, "jobs@example.com", "jobs long password")
	api, _ := web.newAPIKey("k")
	tok := "ghp_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	e.secret(tok)
	repo := filepath.Join(repos, web.userID, "clone-with-"+tok) // the user's own directory of the root
	pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "job", "repo_url": repo}).str("id")
	r := api.ok(http.StatusAccepted, "POST", "/api/v1/projects/"+pid+"/index", nil)
	loc := r.header.Get("Location")

	start, err := e.app.StartBackground(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(start)
	defer stop()
	deadline := time.Now().Add(60 * time.Second) // a hang detector only
	for {
		j := api.ok(http.StatusOK, "GET", loc, nil)
		if s := j.str("state"); s == "discarded" || s == "cancelled" || s == "completed" {
			if s == "completed" {
				t.Fatalf("indexing a missing repository succeeded: %s", j.raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index job did not finish: %s", j.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if !strings.Contains(e.logText(), "Job errored") && !strings.Contains(e.logText(), "Job cancelled") {
		t.Errorf("the job's failure was not logged: the job error path was not exercised")
	}
}
