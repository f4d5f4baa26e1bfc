package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

type finished struct{ kind, state string }

func TestWatchFinishedAndCountActive(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		h := newHarness(t, d, testConfig())
		got := make(chan finished, 16)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if !h.q.WatchFinished(ctx, func(kind, state string, run, wait time.Duration) {
			if run < 0 || wait < 0 {
				t.Errorf("%s %s: run %v, wait %v", kind, state, run, wait)
			}
			got <- finished{kind, state}
		}) {
			t.Fatal("WatchFinished: not watching a queue that works jobs")
		}
		next := func() finished {
			t.Helper()
			select {
			case f := <-got:
				return f
			case <-time.After(60 * time.Second):
				t.Fatal("no finished attempt within 60s")
				return finished{}
			}
		}

		if _, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, echoArgs{Msg: "hi"}, nil); err != nil {
			t.Fatal(err)
		}
		if f := next(); f != (finished{"test_echo", "completed"}) {
			t.Fatalf("finished %+v, want test_echo completed", f)
		}
		// Three attempts (the test queues allow three): two to be retried, then discarded.
		if _, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, failArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"retryable", "retryable", "discarded"} {
			if f := next(); f != (finished{"test_fail", want}) {
				t.Fatalf("finished %+v, want test_fail %s", f, want)
			}
		}

		// A job being worked is counted as running; finished ones are not counted.
		if _, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, blockArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		<-h.block.started
		counts, err := h.q.CountActive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 1 || len(counts["test_block"]) != 1 || counts["test_block"]["running"] != 1 {
			t.Fatalf("CountActive = %v, want test_block running 1", counts)
		}
		close(h.block.finish)
		if f := next(); f != (finished{"test_block", "completed"}) {
			t.Fatalf("finished %+v, want test_block completed", f)
		}
	})
}

func TestWatchFinishedInsertOnly(t *testing.T) {
	st := openStore(t, "sqlite")
	q, err := New(st, nil, slog.New(slog.DiscardHandler), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if q.WatchFinished(t.Context(), func(string, string, time.Duration, time.Duration) {}) {
		t.Fatal("an insert-only queue claims to watch finished jobs")
	}
	if _, err := q.CountActive(t.Context()); err != nil {
		t.Fatalf("CountActive on an insert-only queue: %v", err)
	}
}
