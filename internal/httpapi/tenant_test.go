package httpapi_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/store"
)

// idRoutes are the routes that take an {id}, with what the id names and, for writes, a
// body that would be valid for the owner. Adding such a route means adding a row here;
// TestIDRoutesCovered fails until then.
var idRoutes = []struct {
	pattern string
	id      string // project, task, agent, apikey, execution
	body    any
}{
	{"GET /api/v1/projects/{id}", "project", nil},
	{"PATCH /api/v1/projects/{id}", "project", map[string]string{"name": "pwned", "repo_url": "https://github.com/acme/pwned.git"}},
	{"DELETE /api/v1/projects/{id}", "project", nil},
	{"GET /api/v1/projects/{id}/tasks", "project", nil},
	{"POST /api/v1/projects/{id}/tasks", "project", map[string]string{"title": "pwned"}},
	{"GET /api/v1/tasks/{id}", "task", nil},
	{"PATCH /api/v1/tasks/{id}", "task", map[string]string{"title": "pwned", "status": "done"}},
	{"DELETE /api/v1/tasks/{id}", "task", nil},
	{"GET /api/v1/tasks/{id}/executions", "task", nil},
	{"GET /api/v1/agents/{id}", "agent", nil},
	{"PATCH /api/v1/agents/{id}", "agent", map[string]any{"name": "pwned", "temperature": 0}},
	{"DELETE /api/v1/agents/{id}", "agent", nil},
	{"DELETE /api/v1/apikeys/{id}", "apikey", nil},
	{"GET /api/v1/executions/{id}", "execution", nil},
	{"GET /api/v1/executions/{id}/commits", "execution", nil},
	{"GET /api/v1/executions/{id}/reviews", "execution", nil},
	{"GET /api/v1/executions/{id}/events", "execution", nil},
	{"GET /api/v1/projects/{id}/events", "project", nil},
	{"POST /api/v1/projects/{id}/index", "project", nil},
	{"GET /api/v1/projects/{id}/search", "project", nil},
	{"POST /api/v1/tasks/{id}/run", "task", nil},
	{"GET /api/v1/jobs/{id}", "job", nil},
	{"POST /api/v1/jobs/{id}/cancel", "job", nil},
	{"POST /api/v1/jobs/{id}/retry", "job", nil},
}

// TestIDRoutesCovered checks idRoutes against every route the package registers.
func TestIDRoutesCovered(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var registered []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if p, err := strconv.Unquote(lit.Value); err == nil && strings.Contains(p, "{") {
					registered = append(registered, p)
				}
			}
			return true
		})
	}
	if len(registered) == 0 {
		t.Fatal("found no registered routes with path values; the scan is broken")
	}
	var tabled []string
	for _, r := range idRoutes {
		tabled = append(tabled, r.pattern)
	}
	slices.Sort(registered)
	slices.Sort(tabled)
	for _, p := range registered {
		if !slices.Contains(tabled, p) {
			t.Errorf("route %q takes an id but has no row in idRoutes (the cross-tenant walk)", p)
		}
	}
	for _, p := range tabled {
		if !slices.Contains(registered, p) {
			t.Errorf("idRoutes row %q is not a registered route", p)
		}
	}
}

func TestCrossTenant(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		webA := e.signup(t, "alice@example.com", "alice's long password")
		alice, aliceKey := webA.newAPIKey("alice")
		ids := map[string]string{"apikey": aliceKey}
		ids["project"] = alice.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "secret", "repo_url": "https://github.com/acme/secret.git"}).str("id")
		ids["task"] = alice.ok(http.StatusCreated, "POST", "/api/v1/projects/"+ids["project"]+"/tasks", map[string]string{"title": "secret task"}).str("id")
		ids["agent"] = alice.ok(http.StatusCreated, "POST", "/api/v1/agents", map[string]string{"name": "secret agent", "role": "reviewer"}).str("id")

		aliceID, agentID := uuid.MustParse(webA.userID), uuid.MustParse(ids["agent"])
		ex := &store.Execution{UserID: aliceID, TaskID: uuid.MustParse(ids["task"]), Status: store.ExecSucceeded, Step: "done"}
		if err := e.app.Store.CreateExecution(ctx, ex); err != nil {
			t.Fatal(err)
		}
		ids["execution"] = ex.ID.String()
		job, err := e.app.Jobs.Enqueue(ctx, aliceID, uuid.MustParse(ids["project"]), &ex.ID, index.Args{UserID: aliceID, ProjectID: uuid.MustParse(ids["project"])}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids["job"] = strconv.FormatInt(job.ID, 10)
		if err := e.app.Store.CreateCommit(ctx, &store.Commit{UserID: aliceID, ExecutionID: ex.ID, SHA: strings.Repeat("a", 40),
			Branch: "vibe/secret", Message: "secret change", FilesChanged: []string{"main.go"}}); err != nil {
			t.Fatal(err)
		}
		if err := e.app.Store.CreateReview(ctx, &store.Review{UserID: aliceID, ExecutionID: ex.ID, AgentID: &agentID,
			Verdict: store.VerdictApprove, Summary: "secret review", Comments: []store.ReviewComment{{Path: "main.go", Line: 1, Body: "ok"}}}); err != nil {
			t.Fatal(err)
		}

		// aliceView is everything Alice can see of her rows; it must not change.
		aliceView := func() map[string]any {
			t.Helper()
			out := map[string]any{}
			for _, path := range []string{
				"/api/v1/projects/" + ids["project"],
				"/api/v1/projects/" + ids["project"] + "/tasks",
				"/api/v1/tasks/" + ids["task"],
				"/api/v1/tasks/" + ids["task"] + "/executions",
				"/api/v1/agents/" + ids["agent"],
				"/api/v1/executions/" + ids["execution"],
				"/api/v1/executions/" + ids["execution"] + "/commits",
				"/api/v1/executions/" + ids["execution"] + "/reviews",
				"/api/v1/projects", "/api/v1/agents", "/api/v1/executions", "/api/v1/executions?task_id=" + ids["task"],
				"/api/v1/jobs/" + ids["job"], "/api/v1/jobs?project_id=" + ids["project"],
			} {
				out[path] = alice.ok(http.StatusOK, "GET", path, nil).body
			}
			keys := alice.ok(http.StatusOK, "GET", "/api/v1/apikeys", nil).items(t)
			for _, k := range keys {
				delete(k, "last_used_at")
			}
			out["apikeys"] = keys
			return out
		}
		before := aliceView()
		for _, list := range []string{"/api/v1/projects/" + ids["project"] + "/tasks", "/api/v1/executions/" + ids["execution"] + "/commits", "/api/v1/executions/" + ids["execution"] + "/reviews"} {
			if n := len(before[list].(map[string]any)["items"].([]any)); n != 1 {
				t.Fatalf("setup: Alice's %s has %d items, want 1", list, n)
			}
		}

		bob, _ := e.signup(t, "bob@example.com", "bob's long password").newAPIKey("bob")
		for _, rt := range idRoutes {
			method, path, _ := strings.Cut(rt.pattern, " ")
			id, ok := ids[rt.id]
			if !ok {
				t.Fatalf("idRoutes row %q names unknown id kind %q", rt.pattern, rt.id)
			}
			r := bob.do(method, strings.Replace(path, "{id}", id, 1), rt.body)
			wantProblem(t, r, http.StatusNotFound, "Bob: "+rt.pattern)
			if route := e.accessLine(t, r)["route"]; route != rt.pattern {
				t.Errorf("Bob's %s was served by route %v, not its own handler", rt.pattern, route)
			}
			// Another tenant's row is indistinguishable from no row at all.
			missing := bob.do(method, strings.Replace(path, "{id}", uuid.NewString(), 1), rt.body)
			if a, b := withoutPerRequest(r.body), withoutPerRequest(missing.body); missing.status != r.status || !reflect.DeepEqual(a, b) {
				t.Errorf("%s: Alice's id answers %d %s, a missing id %d %s", rt.pattern, r.status, r.raw, missing.status, missing.raw)
			}
		}

		// List routes filtered by an id answer like the id routes: Alice's id and a missing
		// one are the same 404, not an empty list.
		for _, filter := range []struct{ path, id string }{
			{"/api/v1/jobs?project_id=", ids["project"]},
			{"/api/v1/executions?task_id=", ids["task"]},
		} {
			r := bob.do("GET", filter.path+filter.id, nil)
			wantProblem(t, r, http.StatusNotFound, "Bob: GET "+filter.path+"<Alice's>")
			missing := bob.do("GET", filter.path+uuid.NewString(), nil)
			if a, b := withoutPerRequest(r.body), withoutPerRequest(missing.body); missing.status != r.status || !reflect.DeepEqual(a, b) {
				t.Errorf("GET %s: Alice's id answers %d %s, a missing id %d %s", filter.path, r.status, r.raw, missing.status, missing.raw)
			}
		}
		for _, path := range []string{"/api/v1/projects", "/api/v1/agents", "/api/v1/apikeys", "/api/v1/executions"} {
			r := bob.ok(http.StatusOK, "GET", path, nil)
			for kind, id := range ids {
				if kind == "job" {
					continue // a small number: it occurs in any body by chance
				}
				if bytes.Contains(r.raw, []byte(id)) {
					t.Errorf("Bob's GET %s shows Alice's %s", path, kind)
				}
			}
			want := 0
			if path == "/api/v1/apikeys" {
				want = 1 // Bob's own
			}
			if n := len(r.items(t)); n != want {
				t.Errorf("Bob's GET %s has %d items, want %d: %s", path, n, want, r.raw)
			}
		}

		if after := aliceView(); !reflect.DeepEqual(before, after) {
			t.Fatalf("Alice's rows changed during Bob's walk:\nbefore %v\nafter  %v", before, after)
		}
	})
}
