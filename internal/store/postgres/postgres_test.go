package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/store/storetest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// tenantTables are the tables under row-level security.
var tenantTables = []string{"projects", "agents", "tasks", "executions", "commits", "reviews", "code_chunks", "llm_usage",
	"user_limits", "budget_periods", "job_refs", "events"}

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore opens a migrated store on a fresh schema of its own.
func newStore(t *testing.T) *postgres.Store {
	t.Helper()
	s := open(t, testutil.PostgresDSN(t))
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// tenant is one user with one of everything.
type tenant struct {
	user    store.User
	project store.Project
	task    store.Task
	agent   store.Agent
	exec    store.Execution
	commit  store.Commit
	review  store.Review
}

func seedTenant(t *testing.T, s *postgres.Store, email string) *tenant {
	t.Helper()
	ctx := t.Context()
	var tn tenant
	tn.user = store.User{Email: email, Name: "n", PasswordHash: "$argon2id$x"}
	must(t, s.CreateUser(ctx, &tn.user))
	uid := tn.user.ID
	tn.project = store.Project{UserID: uid, Name: "p", RepoURL: "https://example.com/r.git", DefaultBranch: "main"}
	must(t, s.CreateProject(ctx, &tn.project))
	tn.task = store.Task{UserID: uid, ProjectID: tn.project.ID, Title: "t"}
	must(t, s.CreateTask(ctx, &tn.task))
	tn.agent = store.Agent{UserID: uid, Name: "a", Role: store.RoleReviewer, Model: "m", Temperature: 0.2}
	must(t, s.CreateAgent(ctx, &tn.agent))
	tn.exec = store.Execution{UserID: uid, TaskID: tn.task.ID}
	must(t, s.CreateExecution(ctx, &tn.exec))
	tn.commit = store.Commit{UserID: uid, ExecutionID: tn.exec.ID, SHA: "abc", Branch: "b", FilesChanged: []string{"a.go"}}
	must(t, s.CreateCommit(ctx, &tn.commit))
	agentID := tn.agent.ID
	tn.review = store.Review{UserID: uid, ExecutionID: tn.exec.ID, AgentID: &agentID, Verdict: store.VerdictApprove,
		Comments: []store.ReviewComment{{Path: "a.go", Line: 3, Body: "ok"}}}
	must(t, s.CreateReview(ctx, &tn.review))
	// code_chunks has no store methods yet; write it as the tenant.
	err := asTenant(ctx, s, uid, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO code_chunks (id, user_id, project_id, path, start_line, end_line, content, content_hash, created_at)
			VALUES ($1, $2, $3, 'a.go', 1, 2, 'package a', 'h', now())`, store.NewID(), uid, tn.project.ID)
		return err
	})
	must(t, err)
	must(t, s.InsertUsage(ctx, []store.LLMUsage{{UserID: uid, ProjectID: &tn.project.ID, ExecutionID: &tn.exec.ID,
		Provider: "openai", Model: "gpt", PromptTokens: 10, CostUSD: 0.25}}))
	rpm := 60
	must(t, s.SetUserLimits(ctx, &store.UserLimits{UserID: uid, RequestsPerMinute: &rpm}))
	must(t, s.ReserveBudget(ctx, uid, "2025-06", 10, 1))
	must(t, s.CreateJobRef(ctx, &store.JobRef{JobID: int64(uid[12])<<24 | int64(uid[13])<<16 | int64(uid[14])<<8 | int64(uid[15]), UserID: uid, ProjectID: tn.project.ID, ExecutionID: &tn.exec.ID, Kind: "index"}))
	must(t, s.AppendEvent(ctx, &store.Event{UserID: uid, ProjectID: tn.project.ID, ExecutionID: &tn.exec.ID, Type: "step.started"}))
	return &tn
}

// asTenant runs fn in a transaction with app.user_id set, the way the store does.
func asTenant(ctx context.Context, s *postgres.Store, userID uuid.UUID, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.user_id', $1, true)", userID.String()); err != nil {
			return err
		}
		return fn(tx)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: got %v, want ErrNotFound", what, err)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) }, func(ctx context.Context, s store.Store, userID uuid.UUID, q string) error {
		return pgx.BeginFunc(ctx, s.(*postgres.Store).Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('app.user_id', $1, true)", userID.String()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, q)
			return err
		})
	})
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	s := open(t, testutil.PostgresDSN(t))
	n, err := s.Migrate(t.Context())
	if err != nil || n < 1 {
		t.Fatalf("first Migrate = %d, %v; want >= 1 applied", n, err)
	}
	n2, err := s.Migrate(t.Context())
	if err != nil || n2 != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0", n2, err)
	}
	var rows int
	var name string
	must(t, s.Pool().QueryRow(t.Context(), "SELECT count(*), min(name) FROM schema_migrations").Scan(&rows, &name))
	if rows != n || name != "0001_init.sql" {
		t.Errorf("schema_migrations has %d rows starting %q; want %d starting 0001_init.sql", rows, name, n)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	dsn := testutil.PostgresDSN(t)
	const procs = 3
	stores := make([]*postgres.Store, procs)
	for i := range stores {
		stores[i] = open(t, dsn) // a pool each, as separate processes would have
	}
	var wg sync.WaitGroup
	counts := make([]int, procs)
	errs := make([]error, procs)
	for i, s := range stores {
		wg.Go(func() { counts[i], errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	total := 0
	for i := range stores {
		if errs[i] != nil {
			t.Fatalf("Migrate %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	var versions, distinct int
	must(t, stores[0].Pool().QueryRow(t.Context(),
		"SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&versions, &distinct))
	if total != versions || versions != distinct || versions < 1 {
		t.Errorf("applied %d in total (%v); schema_migrations has %d rows, %d distinct; want each migration once",
			total, counts, versions, distinct)
	}
	// River's migrations ran under the same lock: its tables exist, each version once.
	must(t, stores[0].Pool().QueryRow(t.Context(),
		"SELECT count(*), count(DISTINCT version) FROM river_migration").Scan(&versions, &distinct))
	if versions < 1 || versions != distinct {
		t.Errorf("river_migration has %d rows, %d distinct; want each River migration once", versions, distinct)
	}
}

// TestMigrateHoldsOneLock checks that a process waiting for another's migrations waits
// for River's too: while a session holds the migration lock, Migrate does not start
// (not even River's part), and it finishes once the lock is released.
func TestMigrateHoldsOneLock(t *testing.T) {
	t.Parallel()
	dsn := testutil.PostgresDSN(t)
	holder, waiter := open(t, dsn), open(t, dsn)
	conn, err := holder.Pool().Acquire(t.Context())
	must(t, err)
	defer conn.Release()
	_, err = conn.Exec(t.Context(), "SELECT pg_advisory_lock(hashtextextended('vibecoder.migrate.' || coalesce(current_schema(), ''), 0))")
	must(t, err)
	done := make(chan error, 1)
	go func() { _, err := waiter.Migrate(t.Context()); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Migrate finished (%v) while another session held the migration lock", err)
	case <-time.After(500 * time.Millisecond):
	}
	var river bool
	must(t, holder.Pool().QueryRow(t.Context(), "SELECT to_regclass('river_migration') IS NOT NULL").Scan(&river))
	if river {
		t.Fatal("River's migrations ran without the migration lock")
	}
	_, err = conn.Exec(t.Context(), "SELECT pg_advisory_unlock_all()")
	must(t, err)
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Migrate did not finish after the lock was released")
	}
	must(t, holder.Pool().QueryRow(t.Context(), "SELECT to_regclass('river_migration') IS NOT NULL").Scan(&river))
	if !river {
		t.Fatal("River's migrations did not run")
	}
}

// TestUnreachableIsUnavailable checks the boundary's translation of a database that
// cannot be reached: store.ErrUnavailable, with no connection string in the message.
func TestUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	dsn := "postgres://nobody:s3cret-pw@" + testutil.DeadAddr(t) + "/nothing?sslmode=disable&connect_timeout=2"
	_, err := postgres.Open(t.Context(), dsn, nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a dead address = %v; want store.ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error quotes the password: %v", err)
	}

	// A store whose server goes away (a proxy in between is cut): every call says
	// unavailable, tenant transactions (which fail at Begin) included.
	dsn, proxy := testutil.ProxyURL(t, testutil.PostgresDSN(t))
	s := open(t, dsn)
	_, err = s.Migrate(t.Context())
	must(t, err)
	owner := store.User{Email: "gone@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(t.Context(), &owner))
	proxy.Cut()
	for name, call := range map[string]func() error{
		"ping":     func() error { return s.Ping(t.Context()) },
		"get user": func() error { _, err := s.GetUser(t.Context(), owner.ID); return err },
		"api key":  func() error { _, err := s.GetAPIKeyByHash(t.Context(), []byte("h")); return err },
		"projects": func() error { _, err := s.ListProjects(t.Context(), owner.ID, store.Page{}); return err },
		"usage rows": func() error {
			return s.InsertUsage(t.Context(), []store.LLMUsage{{UserID: owner.ID, Provider: "p", Model: "m"}})
		},
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the database gone = %v; want store.ErrUnavailable", name, err)
		}
	}
	// A cancelled call is the caller leaving, not an outage.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(ctx); errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ping = %v; want context.Canceled, not unavailable", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	dsn := testutil.PostgresDSN(t)
	s, err := postgres.Open(t.Context(), dsn, nil)
	must(t, err)
	_, err = s.Migrate(t.Context())
	must(t, err)
	u := store.User{Email: "restart@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(t.Context(), &u))
	p := store.Project{UserID: u.ID, Name: "kept", RepoURL: "/src"}
	must(t, s.CreateProject(t.Context(), &p))
	must(t, s.Close())

	s2 := open(t, dsn)
	if n, err := s2.Migrate(t.Context()); err != nil || n != 0 {
		t.Fatalf("Migrate after reopen = %d, %v; want 0", n, err)
	}
	got, err := s2.GetProject(t.Context(), u.ID, p.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, p) {
		t.Errorf("after reopen got %+v, want %+v", *got, p)
	}
}

func TestDialectAndPing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if s.Dialect() != "postgres" {
		t.Errorf("Dialect = %q", s.Dialect())
	}
	must(t, s.Ping(t.Context()))
}

func TestOpenWarnsWhenRLSBypassed(t *testing.T) {
	t.Parallel()
	dsn := testutil.PostgresDSN(t) // as the test role: no warning
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s, err := postgres.Open(t.Context(), dsn, log)
	must(t, err)
	_ = s.Close()
	if strings.Contains(buf.String(), "row-level security") {
		t.Errorf("warned for the ordinary test role: %s", buf.String())
	}

	admin := os.Getenv(testutil.EnvPostgresURL)
	if admin == "" {
		admin = testutil.DefaultPostgresURL
	}
	buf.Reset()
	s, err = postgres.Open(t.Context(), admin, log)
	must(t, err)
	_ = s.Close()
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "row-level security is NOT enforced") {
		t.Errorf("no warning for the admin role: %q", buf.String())
	}
}

func TestOpenBadDSN(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://u:secret@[::1", nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(bad DSN) = %v; want an error that does not echo the password", err)
	}
}

// RLS (1): without app.user_id nothing in a tenant table is visible.
func TestRLSHidesEverythingWithoutTenant(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	seedTenant(t, s, "a@example.com")
	seedTenant(t, s, "b@example.com")
	for _, table := range tenantTables {
		var n int
		must(t, s.Pool().QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n))
		if n != 0 {
			t.Errorf("%s: %d rows visible without app.user_id; want 0", table, n)
		}
	}
	// The same holds on a connection that served a tenant transaction before: the
	// setting was transaction-local.
	must(t, pgx.BeginFunc(t.Context(), s.Pool(), func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(t.Context(), "SELECT count(*) FROM projects").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("projects: %d rows visible in a transaction without app.user_id", n)
		}
		return nil
	}))
}

// RLS (2): with app.user_id set, an unfiltered query sees only that tenant, and a
// row for another tenant fails the policy's WITH CHECK.
func TestRLSScopesToTenant(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := seedTenant(t, s, "a@example.com")
	b := seedTenant(t, s, "b@example.com")
	ctx := t.Context()

	err := asTenant(ctx, s, a.user.ID, func(tx pgx.Tx) error {
		for _, table := range tenantTables {
			rows, err := tx.Query(ctx, "SELECT user_id FROM "+table)
			if err != nil {
				return err
			}
			owners, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return err
			}
			if len(owners) == 0 {
				t.Errorf("%s: tenant A sees none of its rows", table)
			}
			for _, o := range owners {
				if o != a.user.ID {
					t.Errorf("%s: tenant A sees a row of %s", table, o)
				}
			}
		}
		return nil
	})
	must(t, err)

	err = asTenant(ctx, s, a.user.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, user_id, name, repo_url, created_at, updated_at)
			VALUES ($1, $2, 'sneaky', '/x', now(), now())`, store.NewID(), b.user.ID)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "row-level security") {
		t.Errorf("insert for tenant B as tenant A: got %v, want a row-level security violation", err)
	}

	// Updates cannot move a row to another tenant either.
	err = asTenant(ctx, s, a.user.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE projects SET user_id = $1 WHERE id = $2", b.user.ID, a.project.ID)
		return err
	})
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("moving A's project to B: got %v, want a row-level security violation", err)
	}
}

// RLS (3): through the store, A can neither see nor touch B's rows.
func TestTenantIsolationThroughStore(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := seedTenant(t, s, "a@example.com")
	b := seedTenant(t, s, "b@example.com")
	ctx := t.Context()
	A := a.user.ID

	_, err := s.GetProject(ctx, A, b.project.ID)
	wantNotFound(t, "get B's project", err)
	_, err = s.GetTask(ctx, A, b.task.ID)
	wantNotFound(t, "get B's task", err)
	_, err = s.GetAgent(ctx, A, b.agent.ID)
	wantNotFound(t, "get B's agent", err)
	_, err = s.GetExecution(ctx, A, b.exec.ID)
	wantNotFound(t, "get B's execution", err)

	projects, err := s.ListProjects(ctx, A, store.Page{})
	must(t, err)
	if len(projects) != 1 || projects[0].ID != a.project.ID {
		t.Errorf("A lists projects %v, want only its own", projects)
	}
	agents, err := s.ListAgents(ctx, A, store.Page{})
	must(t, err)
	if len(agents) != 1 || agents[0].ID != a.agent.ID {
		t.Errorf("A lists agents %v, want only its own", agents)
	}
	execs, err := s.ListExecutions(ctx, A, uuid.Nil, store.Page{})
	must(t, err)
	if len(execs) != 1 || execs[0].ID != a.exec.ID {
		t.Errorf("A lists executions %v, want only its own", execs)
	}
	for name, n := range map[string]func() (int, error){
		"tasks of B's project":       func() (int, error) { l, err := s.ListTasks(ctx, A, b.project.ID, store.Page{}); return len(l), err },
		"executions of B's task":     func() (int, error) { l, err := s.ListExecutions(ctx, A, b.task.ID, store.Page{}); return len(l), err },
		"commits of B's execution":   func() (int, error) { l, err := s.ListCommits(ctx, A, b.exec.ID, store.Page{}); return len(l), err },
		"reviews of B's execution":   func() (int, error) { l, err := s.ListReviews(ctx, A, b.exec.ID, store.Page{}); return len(l), err },
		"API keys of B (as A's key)": func() (int, error) { l, err := s.ListAPIKeys(ctx, A, store.Page{}); return len(l), err },
	} {
		if got, err := n(); err != nil || got != 0 {
			t.Errorf("A lists %s: %d rows, %v; want none", name, got, err)
		}
	}

	bp := b.project
	bp.UserID, bp.Name = A, "hijacked"
	wantNotFound(t, "update B's project", s.UpdateProject(ctx, &bp))
	bt := b.task
	bt.UserID, bt.Title = A, "hijacked"
	wantNotFound(t, "update B's task", s.UpdateTask(ctx, &bt))
	ba := b.agent
	ba.UserID, ba.Name = A, "hijacked"
	wantNotFound(t, "update B's agent", s.UpdateAgent(ctx, &ba))
	be := b.exec
	be.UserID, be.Status = A, store.ExecFailed
	wantNotFound(t, "update B's execution", s.UpdateExecution(ctx, &be))

	wantNotFound(t, "delete B's task", s.DeleteTask(ctx, A, b.task.ID))
	wantNotFound(t, "delete B's agent", s.DeleteAgent(ctx, A, b.agent.ID))
	wantNotFound(t, "delete B's project", s.DeleteProject(ctx, A, b.project.ID))

	wantNotFound(t, "create a task in B's project",
		s.CreateTask(ctx, &store.Task{UserID: A, ProjectID: b.project.ID, Title: "x"}))
	wantNotFound(t, "create an execution of B's task",
		s.CreateExecution(ctx, &store.Execution{UserID: A, TaskID: b.task.ID}))
	wantNotFound(t, "create a commit on B's execution",
		s.CreateCommit(ctx, &store.Commit{UserID: A, ExecutionID: b.exec.ID, SHA: "x", Branch: "x"}))
	wantNotFound(t, "create a review on B's execution",
		s.CreateReview(ctx, &store.Review{UserID: A, ExecutionID: b.exec.ID, Verdict: store.VerdictComment}))
	bAgent := b.agent.ID
	wantNotFound(t, "create a review naming B's agent",
		s.CreateReview(ctx, &store.Review{UserID: A, ExecutionID: a.exec.ID, AgentID: &bAgent, Verdict: store.VerdictComment}))

	// B's rows are untouched.
	for _, check := range []func() error{
		func() error { _, err := s.GetProject(ctx, b.user.ID, b.project.ID); return err },
		func() error { _, err := s.GetTask(ctx, b.user.ID, b.task.ID); return err },
		func() error { _, err := s.GetAgent(ctx, b.user.ID, b.agent.ID); return err },
	} {
		must(t, check())
	}
	got, err := s.GetExecution(ctx, b.user.ID, b.exec.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, b.exec) {
		t.Errorf("B's execution changed: %+v, want %+v", *got, b.exec)
	}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()

	u := store.User{Email: "ada@example.com", Name: "Ada", PasswordHash: "$argon2id$v=19$x", IsAdmin: true}
	must(t, s.CreateUser(ctx, &u))
	if u.ID.Version() != 7 || u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("CreateUser did not fill id/times: %+v", u)
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, u) {
		t.Errorf("GetUser = %+v, want %+v", *got, u)
	}
	got, err = s.GetUserByEmail(ctx, "ada@example.com")
	must(t, err)
	if got.ID != u.ID {
		t.Errorf("GetUserByEmail = %v", got.ID)
	}
	_, err = s.GetUser(ctx, store.NewID())
	wantNotFound(t, "unknown user", err)
	if err := s.CreateUser(ctx, &store.User{Email: "ada@example.com", PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate email: got %v, want ErrConflict", err)
	}

	// API keys.
	k := store.APIKey{UserID: u.ID, Name: "ci", Prefix: "vc_abc", Hash: []byte("hash-1")}
	must(t, s.CreateAPIKey(ctx, &k))
	gk, err := s.GetAPIKeyByHash(ctx, []byte("hash-1"))
	must(t, err)
	if !reflect.DeepEqual(*gk, k) {
		t.Errorf("GetAPIKeyByHash = %+v, want %+v", *gk, k)
	}
	if err := s.CreateAPIKey(ctx, &store.APIKey{UserID: u.ID, Name: "dup", Prefix: "p", Hash: []byte("hash-1")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate key hash: got %v, want ErrConflict", err)
	}
	wantNotFound(t, "api key of a missing user",
		s.CreateAPIKey(ctx, &store.APIKey{UserID: store.NewID(), Name: "x", Prefix: "p", Hash: []byte("h2")}))
	at := store.Now().Add(time.Minute)
	must(t, s.TouchAPIKey(ctx, k.ID, at))
	gk, err = s.GetAPIKeyByHash(ctx, []byte("hash-1"))
	must(t, err)
	if gk.LastUsedAt == nil || !gk.LastUsedAt.Equal(at) {
		t.Errorf("LastUsedAt = %v, want %v", gk.LastUsedAt, at)
	}
	wantNotFound(t, "touch missing key", s.TouchAPIKey(ctx, store.NewID(), at))
	wantNotFound(t, "revoke as another user", s.RevokeAPIKey(ctx, store.NewID(), k.ID))
	must(t, s.RevokeAPIKey(ctx, u.ID, k.ID))
	wantNotFound(t, "revoke twice", s.RevokeAPIKey(ctx, u.ID, k.ID))
	keys, err := s.ListAPIKeys(ctx, u.ID, store.Page{})
	must(t, err)
	if len(keys) != 1 || keys[0].RevokedAt == nil {
		t.Errorf("ListAPIKeys = %+v, want the one revoked key", keys)
	}

	// Sessions.
	now := store.Now()
	live := store.Session{TokenHash: []byte("live"), UserID: u.ID, CSRFToken: "c", IP: "127.0.0.1", UserAgent: "ua",
		ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateSession(ctx, &live))
	expired := store.Session{TokenHash: []byte("old"), UserID: u.ID, CSRFToken: "c", ExpiresAt: now.Add(-time.Second)}
	must(t, s.CreateSession(ctx, &expired))
	gs, err := s.GetSession(ctx, []byte("live"), now)
	must(t, err)
	if !reflect.DeepEqual(*gs, live) {
		t.Errorf("GetSession = %+v, want %+v", *gs, live)
	}
	_, err = s.GetSession(ctx, []byte("old"), now)
	wantNotFound(t, "expired session", err)
	_, err = s.GetSession(ctx, []byte("live"), live.ExpiresAt)
	wantNotFound(t, "session at its expiry instant", err)
	must(t, s.TouchSession(ctx, []byte("live"), now.Add(time.Minute)))
	wantNotFound(t, "touch missing session", s.TouchSession(ctx, []byte("nope"), now))
	n, err := s.DeleteExpiredSessions(ctx, now)
	must(t, err)
	if n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, want 1", n)
	}
	must(t, s.DeleteSession(ctx, []byte("live")))
	must(t, s.DeleteSession(ctx, []byte("live"))) // logging out twice is fine
	_, err = s.GetSession(ctx, []byte("live"), now)
	wantNotFound(t, "deleted session", err)
}

func TestProjectsTasksAgents(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	u := store.User{Email: "u@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(ctx, &u))

	p := store.Project{UserID: u.ID, Name: "svc", RepoURL: "https://example.com/svc.git", TestCommand: "go test ./..."}
	must(t, s.CreateProject(ctx, &p))
	if p.IndexStatus != store.IndexNever {
		t.Errorf("IndexStatus = %q, want %q", p.IndexStatus, store.IndexNever)
	}
	indexed := store.Now()
	p.IndexStatus, p.IndexedAt, p.Description = store.IndexReady, &indexed, "described"
	created := p.CreatedAt
	p.CreatedAt = time.Time{}
	must(t, s.UpdateProject(ctx, &p))
	if !p.CreatedAt.Equal(created) || p.UpdatedAt.Before(created) {
		t.Errorf("UpdateProject times: created %v updated %v", p.CreatedAt, p.UpdatedAt)
	}
	gp, err := s.GetProject(ctx, u.ID, p.ID)
	must(t, err)
	if !reflect.DeepEqual(*gp, p) {
		t.Errorf("GetProject = %+v, want %+v", *gp, p)
	}
	wantNotFound(t, "update missing project", s.UpdateProject(ctx, &store.Project{ID: store.NewID(), UserID: u.ID, Name: "x", RepoURL: "x"}))
	wantNotFound(t, "project of a missing user", s.CreateProject(ctx, &store.Project{UserID: store.NewID(), Name: "x", RepoURL: "x"}))

	task := store.Task{UserID: u.ID, ProjectID: p.ID, Title: "add rate limiting"}
	must(t, s.CreateTask(ctx, &task))
	if task.Status != store.TaskOpen {
		t.Errorf("task status = %q", task.Status)
	}
	task.Status = "bogus"
	if err := s.UpdateTask(ctx, &task); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("invalid status: got %v, want a check violation", err)
	} else if strings.Contains(err.Error(), "SQLSTATE") {
		t.Errorf("check violation leaks the driver error: %v", err)
	}
	task.Status, task.ProjectID = store.TaskDone, uuid.Nil
	must(t, s.UpdateTask(ctx, &task))
	if task.ProjectID != p.ID {
		t.Errorf("UpdateTask did not restore ProjectID")
	}
	gt, err := s.GetTask(ctx, u.ID, task.ID)
	must(t, err)
	if !reflect.DeepEqual(*gt, task) {
		t.Errorf("GetTask = %+v, want %+v", *gt, task)
	}
	wantNotFound(t, "task in a missing project", s.CreateTask(ctx, &store.Task{UserID: u.ID, ProjectID: store.NewID(), Title: "x"}))

	ag := store.Agent{UserID: u.ID, Name: "reviewer", Role: store.RoleReviewer, Model: "gpt", SystemPrompt: "be kind", Temperature: 0.7}
	must(t, s.CreateAgent(ctx, &ag))
	ag.Temperature, ag.Role = 0.1, store.RoleCoder
	must(t, s.UpdateAgent(ctx, &ag))
	ga, err := s.GetAgent(ctx, u.ID, ag.ID)
	must(t, err)
	if !reflect.DeepEqual(*ga, ag) {
		t.Errorf("GetAgent = %+v, want %+v", *ga, ag)
	}
	if err := s.CreateAgent(ctx, &store.Agent{UserID: u.ID, Name: "x", Role: "boss"}); err == nil {
		t.Error("agent with an invalid role was accepted")
	}
	must(t, s.DeleteAgent(ctx, u.ID, ag.ID))
	wantNotFound(t, "delete agent twice", s.DeleteAgent(ctx, u.ID, ag.ID))

	must(t, s.DeleteTask(ctx, u.ID, task.ID))
	_, err = s.GetTask(ctx, u.ID, task.ID)
	wantNotFound(t, "deleted task", err)
}

func TestExecutionsCommitsReviews(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	tn := seedTenant(t, s, "x@example.com")
	uid := tn.user.ID

	if tn.exec.ProjectID != tn.project.ID || tn.exec.Status != store.ExecQueued {
		t.Errorf("CreateExecution: project %v status %q", tn.exec.ProjectID, tn.exec.Status)
	}
	started := store.Now()
	e := tn.exec
	e.Status, e.Step, e.TokensIn, e.TokensOut, e.CostUSD, e.StartedAt = store.ExecRunning, "codegen", 1200, 340, 0.012345, &started
	must(t, s.UpdateExecution(ctx, &e))
	ge, err := s.GetExecution(ctx, uid, e.ID)
	must(t, err)
	if !reflect.DeepEqual(*ge, e) {
		t.Errorf("GetExecution = %+v, want %+v", *ge, e)
	}

	commits, err := s.ListCommits(ctx, uid, e.ID, store.Page{})
	must(t, err)
	if len(commits) != 1 || !reflect.DeepEqual(commits[0], tn.commit) {
		t.Errorf("ListCommits = %+v, want [%+v]", commits, tn.commit)
	}
	bare := store.Commit{UserID: uid, ExecutionID: e.ID, SHA: "def", Branch: "b"}
	must(t, s.CreateCommit(ctx, &bare))
	commits, err = s.ListCommits(ctx, uid, e.ID, store.Page{})
	must(t, err)
	if len(commits) != 2 || commits[0].ID != bare.ID || commits[0].FilesChanged == nil || len(commits[0].FilesChanged) != 0 {
		t.Errorf("nil FilesChanged should read back as []: %+v", commits)
	}

	reviews, err := s.ListReviews(ctx, uid, e.ID, store.Page{})
	must(t, err)
	if len(reviews) != 1 || !reflect.DeepEqual(reviews[0], tn.review) {
		t.Errorf("ListReviews = %+v, want [%+v]", reviews, tn.review)
	}
	if err := s.CreateReview(ctx, &store.Review{UserID: uid, ExecutionID: e.ID, Verdict: "lgtm"}); err == nil {
		t.Error("review with an invalid verdict was accepted")
	}
	// Deleting the agent keeps the review and clears the reference.
	must(t, s.DeleteAgent(ctx, uid, tn.agent.ID))
	reviews, err = s.ListReviews(ctx, uid, e.ID, store.Page{})
	must(t, err)
	if len(reviews) != 1 || reviews[0].AgentID != nil || reviews[0].UserID != uid {
		t.Errorf("after deleting the agent: %+v", reviews)
	}

	// Deleting the project cascades; usage keeps its row with the references cleared.
	must(t, s.DeleteProject(ctx, uid, tn.project.ID))
	_, err = s.GetExecution(ctx, uid, e.ID)
	wantNotFound(t, "execution of a deleted project", err)
	must(t, asTenant(ctx, s, uid, func(tx pgx.Tx) error {
		var chunks, usage, linked int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM code_chunks), (SELECT count(*) FROM llm_usage),
			(SELECT count(*) FROM llm_usage WHERE project_id IS NOT NULL OR execution_id IS NOT NULL)`).Scan(&chunks, &usage, &linked); err != nil {
			return err
		}
		if chunks != 0 || usage != 1 || linked != 0 {
			t.Errorf("after project delete: %d chunks, %d usage rows (%d still linked); want 0, 1, 0", chunks, usage, linked)
		}
		return nil
	}))
}

func TestPagination(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	u := store.User{Email: "pages@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(ctx, &u))
	var ids []uuid.UUID
	for range 7 {
		p := store.Project{UserID: u.ID, Name: "p", RepoURL: "/r"}
		must(t, s.CreateProject(ctx, &p))
		ids = append([]uuid.UUID{p.ID}, ids...) // newest first
	}
	var got []uuid.UUID
	page := store.Page{Limit: 3}
	for {
		ps, err := s.ListProjects(ctx, u.ID, page)
		must(t, err)
		for _, p := range ps {
			got = append(got, p.ID)
		}
		if len(ps) < page.Limit {
			break
		}
		page.After = ps[len(ps)-1].ID
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("paged ids %v, want %v", got, ids)
	}
	ps, err := s.ListProjects(ctx, u.ID, store.Page{Limit: 10_000})
	must(t, err)
	if len(ps) != 7 {
		t.Errorf("clamped limit returned %d rows", len(ps))
	}
	empty, err := s.ListProjects(ctx, store.NewID(), store.Page{})
	must(t, err)
	if empty == nil || len(empty) != 0 {
		t.Errorf("empty list = %#v, want a non-nil empty slice", empty)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	// Under row-level security (0006) only the actor's own transaction can see a row
	// to update or delete it, and there the trigger refuses; elsewhere nothing matches.
	actor := store.NewID()
	must(t, asTenant(ctx, s, actor, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO audit_log (id, created_at, actor_id, action) VALUES ($1, now(), $2, 'login')", store.NewID(), actor)
		return err
	}))
	for _, stmt := range []string{"UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
		err := asTenant(ctx, s, actor, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want the append-only error", stmt, err)
		}
	}
	for _, stmt := range []string{"UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"} {
		if tag, err := s.Pool().Exec(ctx, stmt); err != nil || tag.RowsAffected() != 0 {
			t.Errorf("%s without a tenant: %v, %d rows; want nothing matched", stmt, err, tag.RowsAffected())
		}
	}
	if list, err := s.ListAudit(ctx, store.AuditFilter{ActorID: actor}); err != nil || len(list) != 1 || list[0].Action != "login" {
		t.Errorf("the entry after refused changes: %+v, %v", list, err)
	}
}

// RLS (4): app.admin opens llm_usage, and only llm_usage, to reads across tenants;
// it grants no writes. Through the store only UsageStats for all users takes that path.
func TestRLSUsageAdminPath(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := seedTenant(t, s, "a@example.com")
	b := seedTenant(t, s, "b@example.com")
	ctx := t.Context()

	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.admin', 'on', true)"); err != nil {
			return err
		}
		for _, table := range tenantTables {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return err
			}
			if want := map[bool]int{true: 2, false: 0}[table == "llm_usage"]; n != want {
				t.Errorf("%s: %d rows visible to the admin flag; want %d", table, n, want)
			}
		}
		for _, stmt := range []string{"UPDATE llm_usage SET cost_usd = 0", "DELETE FROM llm_usage"} {
			tag, err := tx.Exec(ctx, stmt)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 0 {
				t.Errorf("%s as admin touched %d rows; want 0", stmt, tag.RowsAffected())
			}
		}
		return nil
	})
	must(t, err)

	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.admin', 'on', true)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO llm_usage (id, user_id, provider, model, created_at) VALUES ($1, $2, 'x', 'y', now())",
			store.NewID(), a.user.ID)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("insert with only the admin flag: got %v, want a row-level security violation", err)
	}

	all, err := s.UsageStats(ctx, uuid.Nil, time.Time{})
	must(t, err)
	if len(all) != 1 || all[0].Calls != 2 || all[0].CostUSD != 0.5 {
		t.Errorf("UsageStats(all) = %+v; want both tenants' calls", all)
	}
	for _, u := range []uuid.UUID{a.user.ID, b.user.ID} {
		one, err := s.UsageStats(ctx, u, time.Time{})
		must(t, err)
		if len(one) != 1 || one[0].Calls != 1 {
			t.Errorf("UsageStats(%s) = %+v; want its own call only", u, one)
		}
	}
	// The flag was transaction-local: pooled connections do not keep it.
	for range 8 {
		var n int
		must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM llm_usage").Scan(&n))
		if n != 0 {
			t.Fatalf("llm_usage: %d rows visible outside the admin transaction", n)
		}
	}
}
