package httpapi_test

import (
	"bytes"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/httpapi"
)

func TestRoundTrip(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		anon := e.anon(t)
		r := anon.ok(http.StatusCreated, "POST", "/api/v1/auth/signup",
			map[string]string{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"})
		e.secret("correct horse battery")
		var session *http.Cookie
		for _, c := range r.cookies {
			if c.Name == httpapi.SessionCookie {
				session = c
			}
		}
		switch {
		case session == nil || session.Value == "":
			t.Fatalf("signup set no %s cookie: %v", httpapi.SessionCookie, r.header.Values("Set-Cookie"))
		case !session.HttpOnly:
			t.Error("session cookie is not HttpOnly")
		case session.SameSite != http.SameSiteLaxMode:
			t.Errorf("session cookie SameSite = %v, want Lax", session.SameSite)
		case session.Path != "/":
			t.Errorf("session cookie Path = %q, want /", session.Path)
		}
		user, _ := r.body["user"].(map[string]any)
		if r.str("csrf_token") == "" || user["email"] != "ada@example.com" || user["id"] == nil {
			t.Fatalf("signup body: %s", r.raw)
		}
		if _, leaked := user["password_hash"]; leaked || bytes.Contains(r.raw, []byte("argon2")) {
			t.Fatalf("signup body exposes the password hash: %s", r.raw)
		}
		web := &client{e: e, t: t, cookie: session.Value, csrf: r.str("csrf_token"), userID: user["id"].(string)}
		e.secret(web.cookie)
		e.secret(web.csrf)

		me := web.ok(http.StatusOK, "GET", "/api/v1/me", nil)
		if me.str("auth_via") != "session" || me.str("csrf_token") != web.csrf || me.str("id") != web.userID {
			t.Fatalf("GET /me by cookie: %s", me.raw)
		}

		// An API key is shown once, with its prefix, and never again.
		kr := web.ok(http.StatusCreated, "POST", "/api/v1/apikeys", map[string]string{"name": "laptop"})
		key, keyID := kr.str("key"), kr.str("id")
		e.secret(key)
		if !strings.HasPrefix(key, auth.APIKeyPrefix) || !auth.LooksLikeAPIKey(key) {
			t.Fatalf("created key %q does not look like an API key", key)
		}
		if p := kr.str("prefix"); p == "" || !strings.HasPrefix(key, p) || len(p) >= len(key) {
			t.Fatalf("prefix %q is not a proper prefix of the key", p)
		}
		if cc := kr.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("key creation Cache-Control = %q, want no-store", cc)
		}
		listKey := func() map[string]any {
			t.Helper()
			lr := web.ok(http.StatusOK, "GET", "/api/v1/apikeys", nil)
			if bytes.Contains(lr.raw, []byte(key)) || bytes.Contains(lr.raw, []byte(`"key"`)) {
				t.Fatalf("GET /apikeys shows the key again: %s", lr.raw)
			}
			items := lr.items(t)
			if len(items) != 1 || items[0]["id"] != keyID || items[0]["prefix"] != kr.str("prefix") {
				t.Fatalf("GET /apikeys: %s", lr.raw)
			}
			return items[0]
		}
		if k := listKey(); k["last_used_at"] != nil {
			t.Fatalf("unused key has last_used_at %v", k["last_used_at"])
		}

		api := &client{e: e, t: t, bearer: key}
		me = api.ok(http.StatusOK, "GET", "/api/v1/me", nil)
		if me.str("auth_via") != "api_key" || me.str("id") != web.userID || me.str("csrf_token") != "" {
			t.Fatalf("GET /me by key: %s", me.raw)
		}
		if k := listKey(); k["last_used_at"] == nil {
			t.Fatal("last_used_at not set after the key was used")
		}

		// Projects, tasks, agents and executions through the key.
		pr := api.ok(http.StatusCreated, "POST", "/api/v1/projects",
			map[string]string{"name": "demo", "repo_url": "https://github.com/acme/demo.git", "description": "a demo"})
		pid := pr.str("id")
		if pr.header.Get("Location") != "/api/v1/projects/"+pid || pr.str("default_branch") != "main" || pr.str("name") != "demo" {
			t.Fatalf("create project: Location %q, body %s", pr.header.Get("Location"), pr.raw)
		}
		tr := api.ok(http.StatusCreated, "POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "Add login"})
		tid := tr.str("id")
		if tr.str("status") != "open" || tr.str("project_id") != pid || tr.header.Get("Location") != "/api/v1/tasks/"+tid {
			t.Fatalf("create task: %s", tr.raw)
		}
		if ids := api.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid+"/tasks", nil).ids(t); !slices.Equal(ids, []string{tid}) {
			t.Fatalf("list tasks = %v, want [%s]", ids, tid)
		}

		if g := api.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid, nil); g.str("repo_url") != "https://github.com/acme/demo.git" {
			t.Fatalf("get project: %s", g.raw)
		}
		p := api.ok(http.StatusOK, "PATCH", "/api/v1/projects/"+pid, map[string]string{"description": "renamed"})
		if p.str("description") != "renamed" || p.str("name") != "demo" {
			t.Fatalf("patch project changed more or less than asked: %s", p.raw)
		}
		if g := api.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid, nil); g.str("description") != "renamed" {
			t.Fatalf("patch project not stored: %s", g.raw)
		}

		if g := api.ok(http.StatusOK, "GET", "/api/v1/tasks/"+tid, nil); g.str("title") != "Add login" {
			t.Fatalf("get task: %s", g.raw)
		}
		p = api.ok(http.StatusOK, "PATCH", "/api/v1/tasks/"+tid, map[string]string{"status": "running"})
		if p.str("status") != "running" || p.str("title") != "Add login" {
			t.Fatalf("patch task: %s", p.raw)
		}
		if g := api.ok(http.StatusOK, "GET", "/api/v1/tasks/"+tid, nil); g.str("status") != "running" {
			t.Fatalf("patch task not stored: %s", g.raw)
		}

		ar := api.ok(http.StatusCreated, "POST", "/api/v1/agents",
			map[string]any{"name": "reviewer", "role": "reviewer", "model": "gpt-4o", "temperature": 0.2})
		aid := ar.str("id")
		if g := api.ok(http.StatusOK, "GET", "/api/v1/agents/"+aid, nil); g.str("role") != "reviewer" {
			t.Fatalf("get agent: %s", g.raw)
		}
		p = api.ok(http.StatusOK, "PATCH", "/api/v1/agents/"+aid, map[string]any{"temperature": 1.5})
		if p.body["temperature"] != 1.5 || p.str("name") != "reviewer" {
			t.Fatalf("patch agent: %s", p.raw)
		}
		if ids := api.ok(http.StatusOK, "GET", "/api/v1/agents", nil).ids(t); !slices.Equal(ids, []string{aid}) {
			t.Fatalf("list agents = %v", ids)
		}

		for _, path := range []string{"/api/v1/executions", "/api/v1/executions?task_id=" + tid, "/api/v1/tasks/" + tid + "/executions"} {
			if items := api.ok(http.StatusOK, "GET", path, nil).items(t); len(items) != 0 {
				t.Fatalf("GET %s: %d executions, want none", path, len(items))
			}
		}

		// Deletes: a deleted row is gone, and deleting a project takes its tasks.
		api.ok(http.StatusNoContent, "DELETE", "/api/v1/tasks/"+tid, nil)
		wantProblem(t, api.do("GET", "/api/v1/tasks/"+tid, nil), http.StatusNotFound, "get deleted task")
		wantProblem(t, api.do("DELETE", "/api/v1/tasks/"+tid, nil), http.StatusNotFound, "delete deleted task")
		api.ok(http.StatusNoContent, "DELETE", "/api/v1/agents/"+aid, nil)
		wantProblem(t, api.do("GET", "/api/v1/agents/"+aid, nil), http.StatusNotFound, "get deleted agent")
		t2 := api.ok(http.StatusCreated, "POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "Second"}).str("id")
		api.ok(http.StatusNoContent, "DELETE", "/api/v1/projects/"+pid, nil)
		wantProblem(t, api.do("GET", "/api/v1/projects/"+pid, nil), http.StatusNotFound, "get deleted project")
		wantProblem(t, api.do("GET", "/api/v1/tasks/"+t2, nil), http.StatusNotFound, "get task of deleted project")
		if items := api.ok(http.StatusOK, "GET", "/api/v1/projects", nil).items(t); len(items) != 0 {
			t.Fatalf("projects after delete: %v", items)
		}

		// A revoked key stops working at once.
		web.ok(http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+keyID, nil)
		r = api.do("GET", "/api/v1/me", nil)
		wantProblem(t, r, http.StatusUnauthorized, "revoked key")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
		if k := listKey(); k["revoked_at"] == nil {
			t.Fatalf("revoked key has no revoked_at: %v", k)
		}
		wantProblem(t, web.do("DELETE", "/api/v1/apikeys/"+keyID, nil), http.StatusNotFound, "revoke twice")

		// Logout ends the session: the same cookie no longer works.
		lo := web.ok(http.StatusNoContent, "POST", "/api/v1/auth/logout", nil)
		cleared := false
		for _, c := range lo.cookies {
			cleared = cleared || c.Name == httpapi.SessionCookie && c.MaxAge < 0
		}
		if !cleared {
			t.Errorf("logout does not clear the cookie: %v", lo.header.Values("Set-Cookie"))
		}
		wantProblem(t, web.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, "cookie after logout")
		wantProblem(t, web.do("GET", "/api/v1/projects", nil), http.StatusUnauthorized, "cookie after logout")
	})
}

func TestCSRF(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		web := e.signup(t, "csrf@example.com", "long enough password")
		state := func() string {
			t.Helper()
			var b strings.Builder
			for _, path := range []string{"/api/v1/projects", "/api/v1/agents", "/api/v1/apikeys"} {
				b.Write(web.ok(http.StatusOK, "GET", path, nil, noCSRF()).raw) // GET needs no token
			}
			return b.String()
		}
		wrong := []struct {
			name string
			opt  reqOpt
		}{
			{"missing", noCSRF()},
			{"empty", header(httpapi.CSRFHeader, " ")},
			{"wrong", header(httpapi.CSRFHeader, strings.Repeat("x", len(web.csrf)))},
			{"truncated", header(httpapi.CSRFHeader, web.csrf[:len(web.csrf)-1])},
		}

		before := state()
		for _, w := range wrong {
			for _, req := range []struct {
				method, path string
				body         any
			}{
				{"POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}},
				{"POST", "/api/v1/agents", map[string]string{"name": "a", "role": "coder"}},
				{"POST", "/api/v1/apikeys", map[string]string{"name": "k"}},
				{"POST", "/api/v1/auth/logout", nil},
			} {
				wantProblem(t, web.do(req.method, req.path, req.body, w.opt), http.StatusForbidden, w.name+" token: "+req.method+" "+req.path)
			}
		}
		if after := state(); after != before {
			t.Fatalf("requests refused for CSRF wrote anyway:\nbefore %s\nafter  %s", before, after)
		}

		pid := web.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")
		before = state()
		for _, w := range wrong {
			wantProblem(t, web.do("PATCH", "/api/v1/projects/"+pid, map[string]string{"name": "changed"}, w.opt), http.StatusForbidden, w.name+" token: PATCH")
			wantProblem(t, web.do("DELETE", "/api/v1/projects/"+pid, nil, w.opt), http.StatusForbidden, w.name+" token: DELETE")
		}
		if after := state(); after != before {
			t.Fatalf("PATCH/DELETE refused for CSRF wrote anyway:\nbefore %s\nafter  %s", before, after)
		}
		web.ok(http.StatusOK, "PATCH", "/api/v1/projects/"+pid, map[string]string{"name": "changed"})
		if g := web.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid, nil); g.str("name") != "changed" {
			t.Fatalf("PATCH with the token did not apply: %s", g.raw)
		}

		// Bearer keys are not ambient credentials: no token needed.
		api, _ := web.newAPIKey("ci")
		qid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "q", "repo_url": "https://github.com/acme/q.git"}).str("id")
		api.ok(http.StatusOK, "PATCH", "/api/v1/projects/"+qid, map[string]string{"name": "q2"})
		api.ok(http.StatusNoContent, "DELETE", "/api/v1/projects/"+qid, nil)

		// The session survived every refused logout.
		web.ok(http.StatusNoContent, "DELETE", "/api/v1/projects/"+pid, nil)
		web.ok(http.StatusNoContent, "POST", "/api/v1/auth/logout", nil)
		wantProblem(t, web.do("GET", "/api/v1/me", nil), http.StatusUnauthorized, "after logout")
	})
}

func TestLogin(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		const password = "the right password"
		e.signup(t, "grace@example.com", password)
		anon := e.anon(t)
		e.secret("the wrong password")

		wrongPW := anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "grace@example.com", "password": "the wrong password"})
		unknown := anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": "the wrong password"})
		wantProblem(t, wrongPW, http.StatusUnauthorized, "wrong password")
		wantProblem(t, unknown, http.StatusUnauthorized, "unknown email")
		if a, b := withoutPerRequest(wrongPW.body), withoutPerRequest(unknown.body); !reflect.DeepEqual(a, b) {
			t.Fatalf("wrong password and unknown email answer differently:\n%s\n%s", wrongPW.raw, unknown.raw)
		}
		for _, h := range []string{"Content-Type", "Set-Cookie", "WWW-Authenticate", "Cache-Control"} {
			if a, b := wrongPW.header.Values(h), unknown.header.Values(h); !slices.Equal(a, b) {
				t.Errorf("header %s differs: %q vs %q", h, a, b)
			}
		}
		if len(wrongPW.cookies) != 0 {
			t.Errorf("failed login sets cookies: %v", wrongPW.cookies)
		}

		r := anon.ok(http.StatusOK, "POST", "/api/v1/auth/login", map[string]string{"email": "  Grace@EXAMPLE.com ", "password": password})
		var cookie string
		for _, c := range r.cookies {
			if c.Name == httpapi.SessionCookie && c.HttpOnly && c.SameSite == http.SameSiteLaxMode {
				cookie = c.Value
			}
		}
		if cookie == "" || r.str("csrf_token") == "" {
			t.Fatalf("login: no HttpOnly Lax session cookie or no csrf_token: %v %s", r.header.Values("Set-Cookie"), r.raw)
		}
		e.secret(cookie)
		e.secret(r.str("csrf_token"))
		web := &client{e: e, t: t, cookie: cookie, csrf: r.str("csrf_token")}
		if me := web.ok(http.StatusOK, "GET", "/api/v1/me", nil); me.str("email") != "grace@example.com" {
			t.Fatalf("GET /me after login: %s", me.raw)
		}
	})
}

func TestPagination(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		api, _ := e.signup(t, "pages@example.com", "long enough password").newAPIKey("k")
		var created []string
		for i := range 7 {
			name := "project-" + string(rune('a'+i))
			created = append(created, api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": name, "repo_url": "https://github.com/acme/" + name + ".git"}).str("id"))
		}
		slices.Reverse(created) // newest first

		var got []string
		var sizes []int
		cursor := ""
		for page := 0; ; page++ {
			if page > 7 {
				t.Fatalf("pagination does not end; pages so far %v", sizes)
			}
			path := "/api/v1/projects?limit=3"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := api.ok(http.StatusOK, "GET", path, nil)
			ids := r.ids(t)
			sizes = append(sizes, len(ids))
			got = append(got, ids...)
			next, present := r.body["next_cursor"]
			if len(got) == len(created) && present {
				t.Errorf("last page has next_cursor %v", next)
			}
			if !present {
				break
			}
			cursor = r.str("next_cursor")
		}
		if !slices.Equal(sizes, []int{3, 3, 1}) {
			t.Errorf("page sizes %v, want [3 3 1]", sizes)
		}
		if !slices.Equal(got, created) {
			t.Errorf("paged ids (newest first, no duplicates):\n got %v\nwant %v", got, created)
		}

		// An exact multiple of the page size has no empty trailing page.
		r := api.ok(http.StatusOK, "GET", "/api/v1/projects?limit=7", nil)
		if _, present := r.body["next_cursor"]; present || len(r.ids(t)) != 7 {
			t.Errorf("limit=7 over 7 rows: %s", r.raw)
		}
	})
}

func TestHealth(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		d := e.dialect
		anon := e.anon(t)
		h := anon.ok(http.StatusOK, "GET", "/health", nil)
		db, _ := h.body["database"].(map[string]any)
		redis, _ := h.body["redis"].(map[string]any)
		mem, _ := h.body["memory"].(map[string]any)
		uptime, isNum := h.body["uptime"].(float64)
		switch {
		case h.body["healthy"] != true:
			t.Errorf("healthy = %v", h.body["healthy"])
		case db["status"] != "up" || db["dialect"] != d:
			t.Errorf("database = %v, want up/%s", db, d)
		case redis["status"] != "not_configured":
			t.Errorf("redis = %v, want not_configured", redis)
		case mem == nil || mem["status"] != "ok":
			t.Errorf("memory = %v", mem)
		case !isNum || uptime < 0:
			t.Errorf("uptime = %v", h.body["uptime"])
		}
		if r := anon.ok(http.StatusOK, "GET", "/livez", nil); string(r.raw) != "ok\n" {
			t.Errorf("/livez body %q", r.raw)
		}
		if r := anon.ok(http.StatusOK, "GET", "/readyz", nil); r.body["ready"] != true {
			t.Errorf("/readyz: %s", r.raw)
		}

		for _, path := range []string{"/nope", "/api/v1/nope", "/api/v2/projects"} {
			wantProblem(t, anon.do("GET", path, nil), http.StatusNotFound, "GET "+path)
		}

		for _, c := range []struct {
			name string
			opt  reqOpt
		}{
			{"no credentials", nil},
			{"unknown key", header("Authorization", "Bearer "+auth.APIKeyPrefix+strings.Repeat("A", 43))},
			{"malformed key", header("Authorization", "Bearer vc_short")},
			{"basic auth", header("Authorization", "Basic dXNlcjpwYXNz")},
			{"unknown cookie", header("Cookie", httpapi.SessionCookie+"=nosuchsession")},
		} {
			var opts []reqOpt
			if c.opt != nil {
				opts = append(opts, c.opt)
			}
			r := anon.do("GET", "/api/v1/projects", nil, opts...)
			wantProblem(t, r, http.StatusUnauthorized, c.name)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q", c.name, r.header.Get("WWW-Authenticate"))
			}
		}
	})
}
