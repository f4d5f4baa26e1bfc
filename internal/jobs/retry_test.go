package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store"
)

// slowOnceIndexer outlasts its job's timeout on the first attempt and finishes at once
// on the next.
type slowOnceIndexer struct{ calls atomic.Int64 }

func (s *slowOnceIndexer) Index(ctx context.Context, _ *store.Project, _ func(string, any)) (any, error) {
	if s.calls.Add(1) == 1 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return map[string]int{"files": 1}, nil
}

// TestIndexTimeoutTellsTheRetry: an attempt stopped by its timeout is retried by River,
// so its event says will_retry true (with the reason) and the project shows "queued",
// not "failed"; the retry then finishes it.
func TestIndexTimeoutTellsTheRetry(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		cfg := testConfig()
		cfg.Queues[KindIndex] = QueueConfig{Concurrency: 1, Timeout: 5 * time.Second, MaxAttempts: 3, Backoff: time.Millisecond}
		ix := &slowOnceIndexer{}
		h := newHarnessWith(t, d, cfg, func(st store.Store, ws *river.Workers) {
			river.AddWorker(ws, NewIndexWorker(cfg, st, ix, NewEvents(st, NewHub()), slog.New(slog.DiscardHandler)))
		})
		p, err := h.st.GetProject(t.Context(), h.user, h.project)
		if err != nil {
			t.Fatal(err)
		}
		j, err := h.q.EnqueueIndex(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		done := h.waitState(t, j.ID, rivertype.JobStateCompleted)
		if done.Attempt != 2 {
			t.Fatalf("finished at attempt %d, want 2", done.Attempt)
		}
		evs, err := h.st.ListEvents(t.Context(), h.user, store.EventFilter{ProjectID: h.project, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var failed []map[string]any
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
			if ev.Type == "index.failed" {
				var m map[string]any
				if err := json.Unmarshal(ev.Data, &m); err != nil {
					t.Fatal(err)
				}
				failed = append(failed, m)
			}
		}
		if len(failed) != 1 || failed[0]["will_retry"] != true || failed[0]["reason"] != "timeout" {
			t.Fatalf("index.failed events %v (all: %v), want one with will_retry true and reason timeout", failed, types)
		}
		if types[len(types)-1] != "index.finished" {
			t.Fatalf("events %v: the retry's finish is not last", types)
		}
		p, err = h.st.GetProject(t.Context(), h.user, h.project)
		if err != nil || p.IndexStatus != store.IndexReady {
			t.Fatalf("index_status %q (%v), want ready", p.IndexStatus, err)
		}
	})
}
