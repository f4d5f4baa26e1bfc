package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
)

// state returns everything the caller can list, for "nothing was written" checks.
// last_used_at is left out: reading the state uses the key.
func state(t *testing.T, c *client, projectID string) string {
	t.Helper()
	var b strings.Builder
	for _, path := range []string{
		"/api/v1/projects?limit=100",
		"/api/v1/projects/" + projectID + "/tasks?limit=100",
		"/api/v1/agents?limit=100",
		"/api/v1/apikeys?limit=100",
		"/api/v1/executions?limit=100",
	} {
		r := c.ok(http.StatusOK, "GET", path, nil)
		for _, it := range r.items(t) {
			delete(it, "last_used_at")
			line, _ := json.Marshal(it)
			b.Write(line)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestBadInput(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		api, _ := e.signup(t, "input@example.com", "long enough password").newAPIKey("k")
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "seed", "repo_url": "https://github.com/acme/seed.git"}).str("id")
		tid := api.ok(http.StatusCreated, "POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "seed"}).str("id")
		aid := api.ok(http.StatusCreated, "POST", "/api/v1/agents", map[string]string{"name": "seed", "role": "coder"}).str("id")

		const badEmail = "not-an-email"
		cases := []struct {
			name         string
			method, path string
			body         any      // a string is sent verbatim
			opts         []reqOpt // e.g. another Content-Type
			status       int
			field        string // 422: errors[] names it; 400: the detail mentions it
		}{
			{"malformed JSON", "POST", "/api/v1/projects", `{"name": "x",`, nil, 400, ""},
			{"malformed JSON syntax", "PATCH", "/api/v1/projects/" + pid, `{"name" "x"}`, nil, 400, ""},
			{"empty body", "POST", "/api/v1/projects", "", nil, 400, ""},
			{"empty body on patch", "PATCH", "/api/v1/tasks/" + tid, "", nil, 400, ""},
			{"wrong content type", "POST", "/api/v1/projects", `{"name":"x","repo_url":"/srv/x"}`, []reqOpt{header("Content-Type", "text/plain")}, 415, ""},
			{"form content type", "POST", "/api/v1/agents", `{"name":"x","role":"coder"}`, []reqOpt{header("Content-Type", "application/x-www-form-urlencoded")}, 415, ""},
			{"no content type", "PATCH", "/api/v1/projects/" + pid, `{"name":"x"}`, []reqOpt{header("Content-Type", "")}, 415, ""},
			{"invalid email", "POST", "/api/v1/auth/signup", map[string]string{"email": badEmail, "password": "long enough password"}, nil, 422, "email"},
			{"wrong type", "POST", "/api/v1/projects", `{"name": 5}`, nil, 400, "name"},
			{"wrong type on patch", "PATCH", "/api/v1/agents/" + aid, `{"temperature": "hot"}`, nil, 400, "temperature"},
			{"unknown field", "POST", "/api/v1/projects", `{"name":"x","repo_url":"/srv/x","owner_id":"someone"}`, nil, 400, "owner_id"},
			{"unknown field on patch", "PATCH", "/api/v1/tasks/" + tid, `{"user_id":"someone"}`, nil, 400, "user_id"},
			{"name of 10000 characters", "POST", "/api/v1/projects", map[string]string{"name": strings.Repeat("n", 10000), "repo_url": "https://github.com/acme/x.git"}, nil, 422, "name"},
			{"name of 101 multibyte characters", "PATCH", "/api/v1/projects/" + pid, map[string]string{"name": strings.Repeat("é", 101)}, nil, 422, "name"},
			{"missing name", "POST", "/api/v1/projects", `{"repo_url":"/srv/x"}`, nil, 422, "name"},
			{"invalid UTF-8", "POST", "/api/v1/projects", "{\"name\":\"\xff\xfe\",\"repo_url\":\"/srv/x\"}", nil, 400, ""},
			{"JSON array", "POST", "/api/v1/projects", `[{"name":"x","repo_url":"/srv/x"}]`, nil, 400, ""},
			{"JSON string", "POST", "/api/v1/agents", `"coder"`, nil, 400, ""},
			{"two objects", "POST", "/api/v1/projects", `{"name":"a","repo_url":"/srv/a"}{"name":"b","repo_url":"/srv/b"}`, nil, 400, ""},
			{"object then garbage", "POST", "/api/v1/projects", `{"name":"a","repo_url":"/srv/a"} x`, nil, 400, ""},
			{"task status bogus", "POST", "/api/v1/projects/" + pid + "/tasks", map[string]string{"title": "t", "status": "bogus"}, nil, 422, "status"},
			{"task status bogus on patch", "PATCH", "/api/v1/tasks/" + tid, map[string]string{"status": "bogus"}, nil, 422, "status"},
			{"agent role overlord", "POST", "/api/v1/agents", map[string]string{"name": "a", "role": "overlord"}, nil, 422, "role"},
			{"agent role overlord on patch", "PATCH", "/api/v1/agents/" + aid, map[string]string{"role": "overlord"}, nil, 422, "role"},
			{"temperature 5", "POST", "/api/v1/agents", map[string]any{"name": "a", "role": "coder", "temperature": 5}, nil, 422, "temperature"},
			{"temperature negative", "PATCH", "/api/v1/agents/" + aid, map[string]any{"temperature": -0.1}, nil, 422, "temperature"},
			{"javascript repo_url", "POST", "/api/v1/projects", map[string]string{"name": "x", "repo_url": "javascript:alert(1)"}, nil, 422, "repo_url"},
			{"javascript repo_url on patch", "PATCH", "/api/v1/projects/" + pid, map[string]string{"repo_url": "javascript:alert(1)"}, nil, 422, "repo_url"},
			{"bad branch", "PATCH", "/api/v1/projects/" + pid, map[string]string{"default_branch": "main..evil"}, nil, 422, "default_branch"},
			{"control character in name", "POST", "/api/v1/projects", map[string]string{"name": "bad\x07name", "repo_url": "https://github.com/acme/x.git"}, nil, 422, "name"},
			{"newline in name", "PATCH", "/api/v1/agents/" + aid, map[string]string{"name": "two\nlines"}, nil, 422, "name"},
			{"NUL in task title", "POST", "/api/v1/projects/" + pid + "/tasks", map[string]string{"title": "a\x00b"}, nil, 422, "title"},
			{"DEL in api key name", "POST", "/api/v1/apikeys", map[string]string{"name": "k\x7f"}, nil, 422, "name"},
			{"limit 0", "GET", "/api/v1/projects?limit=0", nil, nil, 400, ""},
			{"limit not a number", "GET", "/api/v1/agents?limit=ten", nil, nil, 400, ""},
			{"limit too large", "GET", "/api/v1/apikeys?limit=100000", nil, nil, 400, ""},
			{"negative limit", "GET", "/api/v1/projects/" + pid + "/tasks?limit=-1", nil, nil, 400, ""},
			{"bad cursor", "GET", "/api/v1/projects?cursor=not-a-cursor", nil, nil, 400, ""},
			{"bad cursor on tasks", "GET", "/api/v1/projects/" + pid + "/tasks?cursor=%27%20OR%201=1", nil, nil, 400, ""},
			{"bad task_id filter", "GET", "/api/v1/executions?task_id=nope", nil, nil, 400, ""},
			{"malformed uuid GET", "GET", "/api/v1/projects/not-a-uuid", nil, nil, 404, ""},
			{"malformed uuid PATCH", "PATCH", "/api/v1/tasks/123", map[string]string{"title": "x"}, nil, 404, ""},
			{"malformed uuid DELETE", "DELETE", "/api/v1/agents/" + aid + "x", nil, nil, 404, ""},
			{"malformed uuid POST", "POST", "/api/v1/projects/%27;DROP%20TABLE%20projects;--/tasks", map[string]string{"title": "x"}, nil, 404, ""},
			{"malformed uuid revoke", "DELETE", "/api/v1/apikeys/0", nil, nil, 404, ""},
			{"malformed uuid execution", "GET", "/api/v1/executions/zzz/commits", nil, nil, 404, ""},
		}

		before := state(t, api, pid)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				api := api.in(t)
				r := api.do(tc.method, tc.path, tc.body, tc.opts...)
				what := tc.method + " " + tc.path
				switch {
				case tc.status == http.StatusUnprocessableEntity:
					wantFieldError(t, r, tc.field, what)
				default:
					wantProblem(t, r, tc.status, what)
					if tc.field != "" && !strings.Contains(r.str("detail"), tc.field) {
						t.Errorf("detail %q does not name %q", r.str("detail"), tc.field)
					}
				}
				if after := state(t, api, pid); after != before {
					t.Fatalf("a refused request wrote:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
		if _, err := e.app.Store.GetUserByEmail(t.Context(), badEmail); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("signup with an invalid email created a user (lookup: %v)", err)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	forEachDialect(t, map[string]string{"VIBECODER_MAX_BODY_BYTES": "4096"}, func(t *testing.T, e *env) {
		api, _ := e.signup(t, "limit@example.com", "long enough password").newAPIKey("k")
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "seed", "repo_url": "https://github.com/acme/seed.git"}).str("id")
		huge := strings.Repeat("x", 10<<10)
		before := state(t, api, pid)
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/projects", map[string]string{"name": "big", "repo_url": "https://github.com/acme/big.git", "description": huge}},
			{"PATCH", "/api/v1/projects/" + pid, map[string]string{"description": huge}},
			{"POST", "/api/v1/projects/" + pid + "/tasks", map[string]string{"title": "big", "description": huge}},
			{"POST", "/api/v1/agents", map[string]string{"name": "big", "role": "coder", "system_prompt": huge}},
			{"POST", "/api/v1/auth/signup", map[string]string{"email": "big@example.com", "password": "long enough password", "name": huge}},
		} {
			wantProblem(t, api.do(c.method, c.path, c.body), http.StatusRequestEntityTooLarge, c.method+" "+c.path)
		}
		if after := state(t, api, pid); after != before {
			t.Fatalf("an oversized request wrote:\nbefore %s\nafter  %s", before, after)
		}
		if _, err := e.app.Store.GetUserByEmail(t.Context(), "big@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("oversized signup created a user (lookup: %v)", err)
		}
		// The limit is the limit, not less: a body under it is accepted.
		api.ok(http.StatusCreated, "POST", "/api/v1/projects/"+pid+"/tasks",
			map[string]string{"title": "fits", "description": strings.Repeat("y", 3900)})
	})
}
