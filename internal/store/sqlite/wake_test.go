package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

type wakeArgs struct{}

func (wakeArgs) Kind() string { return "wake_test" }

// TestCommitWakesQueues: the listener hears of the queues of jobs a transaction
// inserted once it commits; of nothing rolled back, nested in a transaction that rolls
// back, or scheduled for later; and of each queue once however many commits came
// before it listened again.
func TestCommitWakesQueues(t *testing.T) {
	s := openMigrated(t)
	c, err := s.Queue().NewClient(&river.Config{SkipUnknownJobCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	l := driver{riversqlite.New(s.writer), s.reader, &s.inserts}.GetListener(&riverdriver.GetListenenerParams{}).(*insertListener)
	if err := l.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(t.Context(), insertTopic); err != nil {
		t.Fatal(err)
	}
	pending := func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Clone(l.pending)
	}
	insert := func(ctx context.Context, queue string, opts river.InsertOpts) error {
		opts.Queue = queue
		_, err := c.InsertTx(ctx, wakeArgs{}, &opts)
		return err
	}
	user, boom := uuid.New(), errors.New("boom")

	err = s.InTx(t.Context(), user, func(ctx context.Context) error {
		if err := insert(ctx, "rolled_back", river.InsertOpts{}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	err = s.InTx(t.Context(), user, func(ctx context.Context) error {
		if err := s.InTx(ctx, user, func(ctx context.Context) error { return insert(ctx, "nested", river.InsertOpts{}) }); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	err = s.InTx(t.Context(), user, func(ctx context.Context) error {
		return insert(ctx, "later", river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("woken for no committed job: %v", got)
	}

	for _, queues := range [][]string{{"a"}, {"b", "a"}, {"a"}} {
		err := s.InTx(t.Context(), user, func(ctx context.Context) error {
			for _, q := range queues {
				if err := insert(ctx, q, river.InsertOpts{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := pending(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("pending wakes %v, want [a b]", got)
	}
	for _, q := range []string{"a", "b"} {
		n, err := l.WaitForNotification(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"queue":"` + q + `"}`; n.Topic != "river_insert" || n.Payload != want {
			t.Fatalf("notification %+v, want river_insert %s", n, want)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if n, err := l.WaitForNotification(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("with nothing pending: %+v, %v", n, err)
	}
}

type startedWorker struct {
	river.WorkerDefaults[wakeArgs]
	started chan struct{}
}

func (w *startedWorker) Work(context.Context, *river.Job[wakeArgs]) error {
	w.started <- struct{}{}
	return nil
}

// TestInProcessWakeStartsJob: a job committed with River's outbox notification removed
// and a poll an hour away still starts: River's producer took the in-process
// notification.
func TestInProcessWakeStartsJob(t *testing.T) {
	s := openMigrated(t)
	w := &startedWorker{started: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	// Ten workers: a fetch of one job does not fill the queue, which would make River
	// fetch again when it finishes.
	c, err := s.Queue().NewClient(&river.Config{Workers: workers, Queues: map[string]river.QueueConfig{"woken": {MaxWorkers: 10}},
		FetchPollInterval: time.Hour, TestOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	// The first job may be found by the queue's first fetch, as it starts; once it has
	// started, that fetch is over and the second can only be woken.
	for i := range 2 {
		err = s.InTx(t.Context(), uuid.New(), func(ctx context.Context) error {
			if _, err := c.InsertTx(ctx, wakeArgs{}, &river.InsertOpts{Queue: "woken"}); err != nil {
				return err
			}
			_, err := ctxTx(ctx).ExecContext(ctx, "DELETE FROM river_notification")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.started:
		case <-time.After(time.Minute):
			t.Fatalf("job %d did not start within a minute", i+1)
		}
	}
}

// openMigrated is a migrated store in a temporary directory, closed when the test ends.
func openMigrated(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "vibecoder.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}
