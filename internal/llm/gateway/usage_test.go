package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
)

// TestCloseWritesBlockedRecords: rows whose Record was blocked by back-pressure when
// Close began are written, not appended to a buffer nobody reads again.
func TestCloseWritesBlockedRecords(t *testing.T) {
	var closing atomic.Bool
	var written atomic.Int64
	inFlight, release := make(chan struct{}, 1), make(chan struct{})
	insert := func(_ context.Context, rows []store.LLMUsage) error {
		if !closing.Load() {
			select {
			case inFlight <- struct{}{}:
			default:
			}
			<-release // a slow database: the write in progress when shutdown begins fails
			return errors.New("database timed out")
		}
		written.Add(int64(len(rows)))
		return nil
	}
	w := newUsageWriter(insert, slog.New(slog.DiscardHandler), 4)
	w.maxBatch = 4
	var wg sync.WaitGroup
	const n = 9
	for range 4 {
		w.Record(store.LLMUsage{Status: "ok"}) // fills the buffer; the writer takes it and hangs
	}
	<-inFlight
	for range n - 4 {
		wg.Go(func() { w.Record(store.LLMUsage{Status: "ok"}) })
	}
	// Five Record calls are queued or blocked behind the full buffer; shut down. The
	// database answers again from here on (set before Close begins: a Record that Close
	// wakes writes its row itself at once, and must not meet the slow database), except
	// for the write already in progress, which fails.
	closing.Store(true)
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	close(release)
	<-closed
	wg.Wait() // every Record has returned: each believes its row is stored
	if got := written.Load(); got != n {
		t.Fatalf("%d rows recorded, %d written by the end of Close", n, got)
	}
}
