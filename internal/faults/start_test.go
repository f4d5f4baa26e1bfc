package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/faults/faultstest"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

func TestMain(m *testing.M) { faultstest.Main(m) }

// startTimeout bounds a process's start (migrations included) on a slow, shared CI
// machine with -race binaries.
const startTimeout = 90 * time.Second

// TestStartTogetherOnEmptyDatabase starts five processes at once on an empty
// PostgreSQL database — two API processes, two workers and a migrate — and on one
// empty SQLite file: every process comes up (migrate exits 0, the others answer
// /readyz 200), and each migration, River's included, was applied exactly once.
func TestStartTogetherOnEmptyDatabase(t *testing.T) {
	llm := llmtest.NewOpenAI(t, llmtest.Text("hi"))

	t.Run("postgres", func(t *testing.T) {
		pg := faultstest.StartPostgres(t)
		db := pg.NewDatabase(t)
		env := faultstest.Env(t, db, "", llm.URL)
		procs := []*faultstest.Proc{
			faultstest.Serve(t, env),
			faultstest.Serve(t, env, "VIBECODER_WORKERS", "false"),
			faultstest.Worker(t, env),
			faultstest.Worker(t, env),
		}
		mig := faultstest.Migrate(t, env)
		allUp(t, mig, procs)

		var applied, distinct, river, riverDistinct int
		faultstest.Query(t, pg.AsSuperuser(db), "SELECT count(*), count(DISTINCT version) FROM schema_migrations", &applied, &distinct)
		faultstest.Query(t, pg.AsSuperuser(db), "SELECT count(*), count(DISTINCT version) FROM river_migration", &river, &riverDistinct)
		if applied == 0 || applied != distinct || river == 0 || river != riverDistinct {
			t.Fatalf("schema_migrations %d rows (%d distinct), river_migration %d rows (%d distinct); want each migration once",
				applied, distinct, river, riverDistinct)
		}
	})

	t.Run("sqlite", func(t *testing.T) {
		env := faultstest.Env(t, "", "", llm.URL) // one data directory, one SQLite file
		procs := []*faultstest.Proc{
			faultstest.Serve(t, env),
			faultstest.Serve(t, env, "VIBECODER_WORKERS", "false"),
			faultstest.Worker(t, env),
		}
		mig := faultstest.Migrate(t, env)
		allUp(t, mig, procs)
	})
}

// allUp waits for mig to exit 0 and every other process to be ready, and checks that
// none of them logged a failed migration.
func allUp(t *testing.T, mig *faultstest.Proc, procs []*faultstest.Proc) {
	t.Helper()
	if code := mig.Wait(startTimeout); code != 0 {
		t.Fatalf("migrate exited %d; output:\n%s", code, mig.Output())
	}
	for _, p := range procs {
		p.WaitReady(t, startTimeout)
	}
	for _, p := range append(procs, mig) {
		for _, bad := range []string{"duplicate key", "already exists", "database is locked"} {
			if strings.Contains(p.Output(), bad) {
				t.Errorf("%s logged %q:\n%s", p.Name, bad, p.Output())
			}
		}
	}
}
