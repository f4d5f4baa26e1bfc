package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

const childEnv = "VIBECODER_JOBS_TEST_CHILD_DSN"

func TestMain(m *testing.M) {
	if dsn := os.Getenv(childEnv); dsn != "" {
		os.Exit(runChildWorker(dsn))
	}
	os.Exit(m.Run())
}

type crashArgs struct{}

func (crashArgs) Kind() string { return "test_crash" }

// crashWorker marks its first attempt and then hangs (its process is killed); a later
// attempt records one completion in the same transaction that completes the job.
type crashWorker struct {
	Policy[crashArgs]
	st *postgres.Store
}

func (w *crashWorker) Work(ctx context.Context, j *river.Job[crashArgs]) error {
	pool := w.st.Pool()
	if _, err := pool.Exec(ctx, "INSERT INTO crash_marks (job_id, attempt, pid) VALUES ($1, $2, $3)", j.ID, j.Attempt, os.Getpid()); err != nil {
		return err
	}
	if j.Attempt == 1 {
		<-ctx.Done() // the process is killed while it waits here
		return ctx.Err()
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "INSERT INTO completions (job_id, pid) VALUES ($1, $2)", j.ID, os.Getpid()); err != nil {
		return err
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, j); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func crashConfig() Config {
	cfg := testConfig()
	// River rescues a running job only once both its kind's timeout and RescueAfter
	// have passed; the test kills the first worker well inside the timeout.
	cfg.Queues["test_crash"] = QueueConfig{Concurrency: 1, Timeout: 5 * time.Second, MaxAttempts: 5, Backoff: time.Millisecond}
	cfg.RescueAfter = 6 * time.Second
	return cfg
}

// runChildWorker is a worker process for TestWorkerKilledMidJob.
func runChildWorker(dsn string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := postgres.Open(ctx, dsn, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	cfg := crashConfig()
	cfg.ID = "child-" + strconv.Itoa(os.Getpid())
	workers := river.NewWorkers()
	river.AddWorker(workers, &crashWorker{Policy: PolicyFor[crashArgs](cfg, "test_crash"), st: st})
	q, err := New(st, workers, log, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := q.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = q.Stop(sctx)
	return 0
}

func startChild(t *testing.T, dsn string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dsn)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestWorkerKilledMidJob: a worker process dies by SIGKILL in the middle of a job on
// PostgreSQL; another worker process rescues the job and completes it, and exactly one
// completion is recorded.
func TestWorkerKilledMidJob(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	st, err := postgres.Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for _, ddl := range []string{
		"CREATE TABLE crash_marks (job_id bigint, attempt int, pid int)",
		"CREATE TABLE completions (job_id bigint PRIMARY KEY, pid int)",
	} {
		if _, err := st.Pool().Exec(t.Context(), ddl); err != nil {
			t.Fatal(err)
		}
	}
	u := &store.User{Email: "crash@example.com", PasswordHash: "x"}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &store.Project{UserID: u.ID, Name: "p", RepoURL: "/srv/p", DefaultBranch: "main"}
	if err := st.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	inserter, err := New(st, nil, log, crashConfig())
	if err != nil {
		t.Fatal(err)
	}
	j, err := inserter.Enqueue(t.Context(), u.ID, p.ID, nil, crashArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}

	first := startChild(t, dsn)
	waitFor(t, 60*time.Second, "the first worker to start the job", func() bool {
		var n int
		_ = st.Pool().QueryRow(t.Context(), "SELECT count(*) FROM crash_marks WHERE job_id = $1 AND attempt = 1", j.ID).Scan(&n)
		return n == 1
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	startChild(t, dsn)
	waitFor(t, 120*time.Second, "another worker to complete the rescued job", func() bool {
		got, err := inserter.Get(t.Context(), u.ID, j.ID)
		return err == nil && got.State == string(rivertype.JobStateCompleted)
	})
	var completions int
	if err := st.Pool().QueryRow(t.Context(), "SELECT count(*) FROM completions WHERE job_id = $1", j.ID).Scan(&completions); err != nil {
		t.Fatal(err)
	}
	got, _ := inserter.Get(t.Context(), u.ID, j.ID)
	if completions != 1 || got.Attempt < 2 {
		t.Fatalf("completions %d (want exactly 1), job %+v", completions, got)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
