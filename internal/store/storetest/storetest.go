// Package storetest is the conformance suite every store dialect must pass: the same
// behaviour, the same errors and the same tenant isolation on SQLite and PostgreSQL.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Exec runs one statement on a store's database directly, bypassing the store, in a
// transaction of userID's (as InTx would begin it): the suite uses it to check what
// the database itself refuses.
type Exec func(ctx context.Context, s store.Store, userID uuid.UUID, q string) error

// Run runs the suite. open returns a freshly migrated, empty store for one subtest;
// exec is the dialect's way around the store.
func Run(t *testing.T, open func(t *testing.T) store.Store, exec Exec) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"APIKeys", testAPIKeys},
		{"Sessions", testSessions},
		{"Projects", testProjects},
		{"Pagination", testPagination},
		{"Tasks", testTasks},
		{"Agents", testAgents},
		{"Executions", testExecutions},
		{"CommitsAndReviews", testCommitsAndReviews},
		{"TenantIsolation", testTenantIsolation},
		{"CascadeDelete", testCascadeDelete},
		{"UsageStats", testUsageStats},
		{"UsageAllOrNone", testUsageAllOrNone},
		{"UserLimits", testUserLimits},
		{"Budget", testBudget},
		{"BudgetConcurrent", testBudgetConcurrent},
		{"MigrateIsIdempotent", testMigrateIdempotent},
		{"InTx", testInTx},
		{"Queue", testQueue},
		{"JobRefsAndEvents", testJobRefsAndEvents},
		{"Heartbeats", testHeartbeats},
		{"UsageByDay", testUsageByDay},
		{"ChunksReplaceAndSearch", testChunksReplaceAndSearch},
		{"ChunksReplaceAndDelete", testChunksReplaceAndDelete},
		{"ChunksKeywordStats", testChunksKeywordStats},
		{"KeywordAllMatchesAndOutlines", testKeywordAllMatchesAndOutlines},
		{"ChunksOfFiles", testChunksOfFiles},
		{"PackageDocChunks", testPackageDocChunks},
		{"ChunksEmbeddings", testChunksEmbeddings},
		{"ChunksTenantIsolation", testChunksTenantIsolation},
		{"Audit", func(t *testing.T, s store.Store) { testAudit(t, s, exec) }},
		{"NULText", testNULText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func newUser(t *testing.T, s store.Store) *store.User {
	t.Helper()
	u := &store.User{Email: fmt.Sprintf("user-%s@example.com", uuid.NewString()), Name: "User", PasswordHash: "$argon2id$x"}
	must(t, s.CreateUser(ctx(t), u))
	return u
}

func newProject(t *testing.T, s store.Store, u *store.User) *store.Project {
	t.Helper()
	p := &store.Project{UserID: u.ID, Name: "proj", RepoURL: "https://example.com/r.git", DefaultBranch: "main"}
	must(t, s.CreateProject(ctx(t), p))
	return p
}

func newTask(t *testing.T, s store.Store, p *store.Project) *store.Task {
	t.Helper()
	tk := &store.Task{UserID: p.UserID, ProjectID: p.ID, Title: "add rate limiting", Description: "to login"}
	must(t, s.CreateTask(ctx(t), tk))
	return tk
}

func newExecution(t *testing.T, s store.Store, tk *store.Task) *store.Execution {
	t.Helper()
	e := &store.Execution{UserID: tk.UserID, TaskID: tk.ID}
	must(t, s.CreateExecution(ctx(t), e))
	return e
}

func testUsers(t *testing.T, s store.Store) {
	u := &store.User{Email: "ada@example.com", Name: "Ada", PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$abc$def", IsAdmin: true}
	must(t, s.CreateUser(ctx(t), u))
	if u.ID == uuid.Nil || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not set id and time: %+v", u)
	}
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, err)
	if *got != *u {
		t.Fatalf("GetUser = %+v, want %+v", got, u)
	}
	got, err = s.GetUserByEmail(ctx(t), "ada@example.com")
	must(t, err)
	if got.ID != u.ID {
		t.Fatalf("GetUserByEmail id = %s, want %s", got.ID, u.ID)
	}
	wantErr(t, s.CreateUser(ctx(t), &store.User{Email: "ada@example.com", PasswordHash: "x"}), store.ErrConflict, "duplicate email")
	_, err = s.GetUser(ctx(t), store.NewID())
	wantErr(t, err, store.ErrNotFound, "unknown user")
	_, err = s.GetUserByEmail(ctx(t), "nobody@example.com")
	wantErr(t, err, store.ErrNotFound, "unknown email")
}

func testAPIKeys(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	k := &store.APIKey{UserID: a.ID, Name: "ci", Prefix: "vc_abcd", Hash: []byte("0123456789abcdef0123456789abcdef")}
	must(t, s.CreateAPIKey(ctx(t), k))
	got, err := s.GetAPIKeyByHash(ctx(t), k.Hash)
	must(t, err)
	if got.ID != k.ID || got.UserID != a.ID || got.Name != "ci" || got.Prefix != "vc_abcd" || got.LastUsedAt != nil || got.RevokedAt != nil {
		t.Fatalf("GetAPIKeyByHash = %+v", got)
	}
	_, err = s.GetAPIKeyByHash(ctx(t), []byte("nope"))
	wantErr(t, err, store.ErrNotFound, "unknown hash")
	wantErr(t, s.CreateAPIKey(ctx(t), &store.APIKey{UserID: a.ID, Name: "dup", Prefix: "x", Hash: k.Hash}), store.ErrConflict, "duplicate hash")

	used := store.Now()
	must(t, s.TouchAPIKey(ctx(t), k.ID, used))
	got, err = s.GetAPIKeyByHash(ctx(t), k.Hash)
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, used)
	}

	keys, err := s.ListAPIKeys(ctx(t), a.ID, store.Page{})
	must(t, err)
	if len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("ListAPIKeys(a) = %+v", keys)
	}
	keys, err = s.ListAPIKeys(ctx(t), b.ID, store.Page{})
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("ListAPIKeys(b) sees a's keys: %+v", keys)
	}

	wantErr(t, s.RevokeAPIKey(ctx(t), b.ID, k.ID), store.ErrNotFound, "revoke another user's key")
	must(t, s.RevokeAPIKey(ctx(t), a.ID, k.ID))
	wantErr(t, s.RevokeAPIKey(ctx(t), a.ID, k.ID), store.ErrNotFound, "revoke twice")
	got, err = s.GetAPIKeyByHash(ctx(t), k.Hash)
	must(t, err)
	if got.RevokedAt == nil {
		t.Fatal("revoked key has no RevokedAt")
	}
}

func testSessions(t *testing.T, s store.Store) {
	u := newUser(t, s)
	now := store.Now()
	live := &store.Session{TokenHash: []byte("live-token-hash"), UserID: u.ID, CSRFToken: "csrf", IP: "127.0.0.1", UserAgent: "test", ExpiresAt: now.Add(time.Hour)}
	dead := &store.Session{TokenHash: []byte("dead-token-hash"), UserID: u.ID, CSRFToken: "csrf2", ExpiresAt: now.Add(-time.Minute)}
	must(t, s.CreateSession(ctx(t), live))
	must(t, s.CreateSession(ctx(t), dead))

	got, err := s.GetSession(ctx(t), live.TokenHash, now)
	must(t, err)
	if got.UserID != u.ID || got.CSRFToken != "csrf" || !got.ExpiresAt.Equal(live.ExpiresAt) || got.IP != "127.0.0.1" {
		t.Fatalf("GetSession = %+v", got)
	}
	_, err = s.GetSession(ctx(t), dead.TokenHash, now)
	wantErr(t, err, store.ErrNotFound, "expired session")

	later := now.Add(time.Minute)
	must(t, s.TouchSession(ctx(t), live.TokenHash, later))
	got, err = s.GetSession(ctx(t), live.TokenHash, now)
	must(t, err)
	if !got.LastSeenAt.Equal(later) {
		t.Fatalf("LastSeenAt = %v, want %v", got.LastSeenAt, later)
	}

	n, err := s.DeleteExpiredSessions(ctx(t), now)
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, want 1", n)
	}
	must(t, s.DeleteSession(ctx(t), live.TokenHash))
	_, err = s.GetSession(ctx(t), live.TokenHash, now)
	wantErr(t, err, store.ErrNotFound, "deleted session")
}

func testProjects(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := &store.Project{UserID: u.ID, Name: "vibe", Description: "d", RepoURL: "/srv/repo", DefaultBranch: "main", TestCommand: "go test ./..."}
	must(t, s.CreateProject(ctx(t), p))
	if p.IndexStatus != store.IndexNever {
		t.Fatalf("new project IndexStatus = %q, want %q", p.IndexStatus, store.IndexNever)
	}
	got, err := s.GetProject(ctx(t), u.ID, p.ID)
	must(t, err)
	if *got != *p {
		t.Fatalf("GetProject = %+v, want %+v", got, p)
	}

	indexed := store.Now()
	p.Name, p.IndexStatus, p.IndexedAt = "vibe2", store.IndexReady, &indexed
	must(t, s.UpdateProject(ctx(t), p))
	got, err = s.GetProject(ctx(t), u.ID, p.ID)
	must(t, err)
	if got.Name != "vibe2" || got.IndexStatus != store.IndexReady || got.IndexedAt == nil || !got.IndexedAt.Equal(indexed) || !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("after update: %+v", got)
	}

	must(t, s.DeleteProject(ctx(t), u.ID, p.ID))
	_, err = s.GetProject(ctx(t), u.ID, p.ID)
	wantErr(t, err, store.ErrNotFound, "deleted project")
	wantErr(t, s.DeleteProject(ctx(t), u.ID, p.ID), store.ErrNotFound, "delete twice")
	wantErr(t, s.UpdateProject(ctx(t), p), store.ErrNotFound, "update deleted")
}

func testPagination(t *testing.T, s store.Store) {
	u := newUser(t, s)
	var ids []uuid.UUID
	for i := 0; i < 5; i++ {
		ids = append(ids, newProject(t, s, u).ID)
	}
	var seen []uuid.UUID
	page := store.Page{Limit: 2}
	for i := 0; i < 4; i++ {
		got, err := s.ListProjects(ctx(t), u.ID, page)
		must(t, err)
		for _, p := range got {
			seen = append(seen, p.ID)
		}
		if len(got) < 2 {
			break
		}
		page.After = got[len(got)-1].ID
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d projects, want 5", len(seen))
	}
	for i := range seen {
		if seen[i] != ids[len(ids)-1-i] {
			t.Fatalf("page order: got %v, want newest first %v", seen, ids)
		}
	}
	all, err := s.ListProjects(ctx(t), u.ID, store.Page{Limit: 10_000})
	must(t, err)
	if len(all) != 5 {
		t.Fatalf("oversized limit listed %d", len(all))
	}
}

func testTasks(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	tk := newTask(t, s, p)
	if tk.Status != store.TaskOpen {
		t.Fatalf("new task status %q", tk.Status)
	}
	got, err := s.GetTask(ctx(t), u.ID, tk.ID)
	must(t, err)
	if *got != *tk {
		t.Fatalf("GetTask = %+v, want %+v", got, tk)
	}
	other := newProject(t, s, u)
	newTask(t, s, other)
	list, err := s.ListTasks(ctx(t), u.ID, p.ID, store.Page{})
	must(t, err)
	if len(list) != 1 || list[0].ID != tk.ID {
		t.Fatalf("ListTasks = %+v", list)
	}
	tk.Status, tk.Title = store.TaskDone, "renamed"
	must(t, s.UpdateTask(ctx(t), tk))
	got, err = s.GetTask(ctx(t), u.ID, tk.ID)
	must(t, err)
	if got.Status != store.TaskDone || got.Title != "renamed" {
		t.Fatalf("after update %+v", got)
	}
	wantErr(t, s.CreateTask(ctx(t), &store.Task{UserID: u.ID, ProjectID: store.NewID(), Title: "x"}), store.ErrNotFound, "task in missing project")
	must(t, s.DeleteTask(ctx(t), u.ID, tk.ID))
	_, err = s.GetTask(ctx(t), u.ID, tk.ID)
	wantErr(t, err, store.ErrNotFound, "deleted task")
}

func testAgents(t *testing.T, s store.Store) {
	u := newUser(t, s)
	a := &store.Agent{UserID: u.ID, Name: "coder", Role: store.RoleCoder, Model: "openai/gpt-4o-mini", SystemPrompt: "You write Go.", Temperature: 0.2}
	must(t, s.CreateAgent(ctx(t), a))
	got, err := s.GetAgent(ctx(t), u.ID, a.ID)
	must(t, err)
	if *got != *a {
		t.Fatalf("GetAgent = %+v, want %+v", got, a)
	}
	a.Role, a.Temperature = store.RoleReviewer, 0.7
	must(t, s.UpdateAgent(ctx(t), a))
	list, err := s.ListAgents(ctx(t), u.ID, store.Page{})
	must(t, err)
	if len(list) != 1 || list[0].Role != store.RoleReviewer || list[0].Temperature != 0.7 {
		t.Fatalf("ListAgents = %+v", list)
	}
	if err := s.CreateAgent(ctx(t), &store.Agent{UserID: u.ID, Name: "bad", Role: "overlord"}); err == nil {
		t.Fatal("an agent with an unknown role was stored")
	}
	must(t, s.DeleteAgent(ctx(t), u.ID, a.ID))
	wantErr(t, s.DeleteAgent(ctx(t), u.ID, a.ID), store.ErrNotFound, "delete twice")
}

func testExecutions(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	tk := newTask(t, s, p)
	e := &store.Execution{UserID: u.ID, TaskID: tk.ID}
	must(t, s.CreateExecution(ctx(t), e))
	if e.ProjectID != p.ID || e.Status != store.ExecQueued {
		t.Fatalf("CreateExecution = %+v (project from task %s)", e, p.ID)
	}
	got, err := s.GetExecution(ctx(t), u.ID, e.ID)
	must(t, err)
	if string(got.Details) != "{}" || string(e.Details) != "{}" {
		t.Fatalf("new execution details = %s / %s, want {}", got.Details, e.Details)
	}
	got.Details, e.Details = nil, nil
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("GetExecution = %+v, want %+v", got, e)
	}
	started := store.Now()
	finished := started.Add(3 * time.Second)
	e.Status, e.Step, e.Error, e.TokensIn, e.TokensOut, e.CostUSD = store.ExecFailed, "testrun", "tests failed", 1200, 300, 0.0123
	e.StartedAt, e.FinishedAt = &started, &finished
	e.Details = json.RawMessage(`{"diff":"--- a\n+++ b","tests":[{"exit_code":1}]}`)
	must(t, s.UpdateExecution(ctx(t), e))
	got, err = s.GetExecution(ctx(t), u.ID, e.ID)
	must(t, err)
	var details struct {
		Diff  string `json:"diff"`
		Tests []struct {
			ExitCode int `json:"exit_code"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(got.Details, &details); err != nil || details.Diff != "--- a\n+++ b" || details.Tests[0].ExitCode != 1 {
		t.Fatalf("details after update = %s (%v)", got.Details, err)
	}
	if got.Status != store.ExecFailed || got.TokensIn != 1200 || got.CostUSD != 0.0123 || !got.FinishedAt.Equal(finished) || got.Error != "tests failed" {
		t.Fatalf("after update %+v", got)
	}
	tk2 := newTask(t, s, p)
	newExecution(t, s, tk2)
	all, err := s.ListExecutions(ctx(t), u.ID, uuid.Nil, store.Page{})
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("ListExecutions(all) = %d, want 2", len(all))
	}
	one, err := s.ListExecutions(ctx(t), u.ID, tk.ID, store.Page{})
	must(t, err)
	if len(one) != 1 || one[0].ID != e.ID {
		t.Fatalf("ListExecutions(task) = %+v", one)
	}
	wantErr(t, s.CreateExecution(ctx(t), &store.Execution{UserID: u.ID, TaskID: store.NewID()}), store.ErrNotFound, "execution of missing task")
}

func testCommitsAndReviews(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	e := newExecution(t, s, newTask(t, s, p))
	c := &store.Commit{UserID: u.ID, ExecutionID: e.ID, SHA: "0123abcd", Branch: "vibecoder/x-add", Message: "Add rate limiting", FilesChanged: []string{"a.go", "b/c.go"}, PRURL: "https://github.com/o/r/pull/1"}
	must(t, s.CreateCommit(ctx(t), c))
	if c.ProjectID != p.ID {
		t.Fatalf("commit project %s, want %s", c.ProjectID, p.ID)
	}
	commits, err := s.ListCommits(ctx(t), u.ID, e.ID, store.Page{})
	must(t, err)
	if len(commits) != 1 || commits[0].SHA != "0123abcd" || len(commits[0].FilesChanged) != 2 || commits[0].FilesChanged[1] != "b/c.go" || !commits[0].CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("ListCommits = %+v", commits)
	}
	must(t, s.CreateCommit(ctx(t), &store.Commit{UserID: u.ID, ExecutionID: e.ID, SHA: "ffff", Branch: "b"}))

	agent := &store.Agent{UserID: u.ID, Name: "rev", Role: store.RoleReviewer}
	must(t, s.CreateAgent(ctx(t), agent))
	r := &store.Review{UserID: u.ID, ExecutionID: e.ID, AgentID: &agent.ID, Verdict: store.VerdictRequestChanges, Summary: "needs a test",
		Comments: []store.ReviewComment{{Path: "a.go", Line: 12, Body: "check the error"}}}
	must(t, s.CreateReview(ctx(t), r))
	must(t, s.CreateReview(ctx(t), &store.Review{UserID: u.ID, ExecutionID: e.ID, Verdict: store.VerdictApprove}))
	reviews, err := s.ListReviews(ctx(t), u.ID, e.ID, store.Page{})
	must(t, err)
	if len(reviews) != 2 {
		t.Fatalf("ListReviews = %d reviews, want 2", len(reviews))
	}
	old := reviews[1]
	if old.ID != r.ID || old.AgentID == nil || *old.AgentID != agent.ID || old.Comments[0].Line != 12 || old.Verdict != store.VerdictRequestChanges {
		t.Fatalf("ListReviews[1] = %+v", old)
	}
	if reviews[0].AgentID != nil || reviews[0].Comments == nil {
		t.Fatalf("review without agent = %+v", reviews[0])
	}
	if err := s.CreateReview(ctx(t), &store.Review{UserID: u.ID, ExecutionID: e.ID, Verdict: "meh"}); err == nil {
		t.Fatal("a review with an unknown verdict was stored")
	}
}

// testTenantIsolation: user b sees none of a's rows and cannot touch them or hang
// rows of their own under a's parents.
func testTenantIsolation(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	p := newProject(t, s, a)
	tk := newTask(t, s, p)
	e := newExecution(t, s, tk)
	ag := &store.Agent{UserID: a.ID, Name: "a's", Role: store.RoleCoder}
	must(t, s.CreateAgent(ctx(t), ag))
	must(t, s.CreateCommit(ctx(t), &store.Commit{UserID: a.ID, ExecutionID: e.ID, SHA: "1", Branch: "x"}))
	must(t, s.CreateReview(ctx(t), &store.Review{UserID: a.ID, ExecutionID: e.ID, Verdict: store.VerdictApprove}))

	_, err := s.GetProject(ctx(t), b.ID, p.ID)
	wantErr(t, err, store.ErrNotFound, "b gets a's project")
	_, err = s.GetTask(ctx(t), b.ID, tk.ID)
	wantErr(t, err, store.ErrNotFound, "b gets a's task")
	_, err = s.GetExecution(ctx(t), b.ID, e.ID)
	wantErr(t, err, store.ErrNotFound, "b gets a's execution")
	_, err = s.GetAgent(ctx(t), b.ID, ag.ID)
	wantErr(t, err, store.ErrNotFound, "b gets a's agent")

	stolenP := *p
	stolenP.UserID, stolenP.Name = b.ID, "mine now"
	wantErr(t, s.UpdateProject(ctx(t), &stolenP), store.ErrNotFound, "b updates a's project")
	stolenT := *tk
	stolenT.UserID = b.ID
	wantErr(t, s.UpdateTask(ctx(t), &stolenT), store.ErrNotFound, "b updates a's task")
	stolenE := *e
	stolenE.UserID = b.ID
	wantErr(t, s.UpdateExecution(ctx(t), &stolenE), store.ErrNotFound, "b updates a's execution")
	stolenA := *ag
	stolenA.UserID = b.ID
	wantErr(t, s.UpdateAgent(ctx(t), &stolenA), store.ErrNotFound, "b updates a's agent")

	wantErr(t, s.DeleteProject(ctx(t), b.ID, p.ID), store.ErrNotFound, "b deletes a's project")
	wantErr(t, s.DeleteTask(ctx(t), b.ID, tk.ID), store.ErrNotFound, "b deletes a's task")
	wantErr(t, s.DeleteAgent(ctx(t), b.ID, ag.ID), store.ErrNotFound, "b deletes a's agent")

	wantErr(t, s.CreateTask(ctx(t), &store.Task{UserID: b.ID, ProjectID: p.ID, Title: "x"}), store.ErrNotFound, "b adds a task to a's project")
	wantErr(t, s.CreateExecution(ctx(t), &store.Execution{UserID: b.ID, TaskID: tk.ID}), store.ErrNotFound, "b runs a's task")
	wantErr(t, s.CreateCommit(ctx(t), &store.Commit{UserID: b.ID, ExecutionID: e.ID, SHA: "2", Branch: "y"}), store.ErrNotFound, "b commits to a's execution")
	wantErr(t, s.CreateReview(ctx(t), &store.Review{UserID: b.ID, ExecutionID: e.ID, Verdict: store.VerdictApprove}), store.ErrNotFound, "b reviews a's execution")
	pb := newProject(t, s, b)
	eb := newExecution(t, s, newTask(t, s, pb))
	wantErr(t, s.CreateReview(ctx(t), &store.Review{UserID: b.ID, ExecutionID: eb.ID, AgentID: &ag.ID, Verdict: store.VerdictApprove}), store.ErrNotFound, "b's review names a's agent")

	if ps, _ := s.ListProjects(ctx(t), b.ID, store.Page{}); len(ps) != 1 || ps[0].ID != pb.ID {
		t.Fatalf("b lists projects %+v", ps)
	}
	if ts, _ := s.ListTasks(ctx(t), b.ID, p.ID, store.Page{}); len(ts) != 0 {
		t.Fatalf("b lists a's tasks: %+v", ts)
	}
	if es, _ := s.ListExecutions(ctx(t), b.ID, tk.ID, store.Page{}); len(es) != 0 {
		t.Fatalf("b lists a's executions: %+v", es)
	}
	if cs, _ := s.ListCommits(ctx(t), b.ID, e.ID, store.Page{}); len(cs) != 0 {
		t.Fatalf("b lists a's commits: %+v", cs)
	}
	if rs, _ := s.ListReviews(ctx(t), b.ID, e.ID, store.Page{}); len(rs) != 0 {
		t.Fatalf("b lists a's reviews: %+v", rs)
	}
	if as, _ := s.ListAgents(ctx(t), b.ID, store.Page{}); len(as) != 0 {
		t.Fatalf("b lists a's agents: %+v", as)
	}
	// a's rows are untouched by all of the above.
	got, err := s.GetProject(ctx(t), a.ID, p.ID)
	must(t, err)
	if got.Name != "proj" {
		t.Fatalf("a's project changed: %+v", got)
	}
	if cs, _ := s.ListCommits(ctx(t), a.ID, e.ID, store.Page{}); len(cs) != 1 {
		t.Fatalf("a's commits: %+v", cs)
	}
}

func testCascadeDelete(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	tk := newTask(t, s, p)
	e := newExecution(t, s, tk)
	must(t, s.CreateCommit(ctx(t), &store.Commit{UserID: u.ID, ExecutionID: e.ID, SHA: "1", Branch: "x"}))
	must(t, s.DeleteProject(ctx(t), u.ID, p.ID))
	_, err := s.GetTask(ctx(t), u.ID, tk.ID)
	wantErr(t, err, store.ErrNotFound, "task of deleted project")
	_, err = s.GetExecution(ctx(t), u.ID, e.ID)
	wantErr(t, err, store.ErrNotFound, "execution of deleted project")
	if cs, _ := s.ListCommits(ctx(t), u.ID, e.ID, store.Page{}); len(cs) != 0 {
		t.Fatalf("commits survive their project: %+v", cs)
	}
}

func testMigrateIdempotent(t *testing.T, s store.Store) {
	n, err := s.Migrate(ctx(t))
	must(t, err)
	if n != 0 {
		t.Fatalf("second Migrate applied %d migrations, want 0", n)
	}
	must(t, s.Ping(ctx(t)))
}
