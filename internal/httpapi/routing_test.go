package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestRoutingAndLogEdges covers what the first test pass found: a known path with
// another method is 405 with Allow, the access log names the authenticated user, an
// empty default_branch is refused, and a JSON null body is not an object.
func TestRoutingAndLogEdges(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		web := e.signup(t, "edges@example.com", "edge case password")
		api, _ := web.newAPIKey("k")
		me := api.ok(http.StatusOK, "GET", "/api/v1/me", nil)
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")

		r := api.do("PUT", "/api/v1/projects/"+pid, map[string]string{"name": "x"})
		wantProblem(t, r, http.StatusMethodNotAllowed, "PUT on a project")
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "DELETE") {
			t.Fatalf("Allow = %q", allow)
		}

		line := e.accessLine(t, me)
		if line["user_id"] != me.str("id") {
			t.Fatalf("access line for an authenticated request lacks user_id: %v", line)
		}

		r = api.do("POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git", "default_branch": ""})
		wantFieldError(t, r, "default_branch", "empty default_branch")
		r = api.do("PATCH", "/api/v1/projects/"+pid, `null`)
		wantProblem(t, r, http.StatusBadRequest, "null body")
		got := api.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid, nil)
		if got.str("default_branch") != "main" {
			t.Fatalf("project changed: %s", got.raw)
		}
	})
}
