package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vibecoder/vibecoder/internal/store"
)

// usageWriter writes llm_usage rows in batches off the request path. A batch that
// fails is kept and retried with backoff (each failure counted); rows are never
// dropped. When the buffer is full, Record blocks: back-pressure, not loss.
//
// Record only appends to a buffer and, for the first row of a batch, arms a timer:
// the writer goroutine wakes once per batch (when the linger passes or the batch is
// full), not once per row. A wake-up per row cost a request a cross-core futex call
// and kept the second core busy at low load.
type usageWriter struct {
	insert   func(ctx context.Context, rows []store.LLMUsage) error
	log      *slog.Logger
	maxBatch int
	maxRows  int // the buffer's bound
	linger   time.Duration

	mu      sync.Mutex
	notFull *sync.Cond
	buf     []store.LLMUsage
	armed   bool        // timer will kick the writer
	timer   *time.Timer // kicks the writer when a batch has lingered
	kick    chan struct{}

	closed bool // Close has begun: Record writes its row itself

	failures atomic.Int64 // failed batch writes, each retried
	written  atomic.Int64
	dropped  atomic.Int64 // rows the store refuses for good (their user is gone)
	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

func newUsageWriter(insert func(context.Context, []store.LLMUsage) error, log *slog.Logger, maxRows int) *usageWriter {
	w := &usageWriter{
		insert:   insert,
		log:      log,
		maxBatch: 512,
		maxRows:  maxRows,
		// A batch costs ~1 ms on SQLite whatever its size (the transaction, its
		// commit's WAL frames) and ~10 µs a row: at 20 ms, a busy gateway wrote 50
		// batches a second. Rows become visible later, never lost: Close writes them.
		linger:  100 * time.Millisecond,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	w.notFull = sync.NewCond(&w.mu)
	w.timer = time.AfterFunc(time.Hour, w.wake)
	w.timer.Stop()
	go w.run()
	return w
}

func (w *usageWriter) wake() {
	select {
	case w.kick <- struct{}{}:
	default: // already kicked
	}
}

// Record queues a row. It blocks while the buffer is full.
func (w *usageWriter) Record(row store.LLMUsage) {
	if row.ID == [16]byte{} {
		row.ID = store.NewID()
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = store.Now()
	}
	w.mu.Lock()
	for len(w.buf) >= w.maxRows && !w.closed {
		w.notFull.Wait()
	}
	if w.closed {
		// The writer is finishing (or done): write this row now rather than leave it
		// in a buffer nobody will read again.
		w.mu.Unlock()
		if rest := w.salvage([]store.LLMUsage{row}); len(rest) > 0 {
			w.log.Error("llm usage row written after shutdown began could not be stored", slog.String("id", row.ID.String()))
		}
		return
	}
	w.buf = append(w.buf, row)
	switch {
	case len(w.buf) >= w.maxBatch:
		w.wake()
	case !w.armed:
		w.armed = true
		w.timer.Reset(w.linger)
	}
	w.mu.Unlock()
}

// take moves buffered rows into batch, up to maxBatch rows in all; when rows are
// left behind it kicks the writer again.
func (w *usageWriter) take(batch []store.LLMUsage) []store.LLMUsage {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.buf), max(w.maxBatch-len(batch), 0))
	batch = append(batch, w.buf[:n]...)
	w.buf = append(w.buf[:0], w.buf[n:]...)
	w.armed = false
	if len(w.buf) > 0 {
		w.wake()
	}
	w.notFull.Broadcast()
	return batch
}

func (w *usageWriter) run() {
	defer close(w.stopped)
	var batch []store.LLMUsage
	for {
		select {
		case <-w.kick:
			batch = w.flush(w.take(batch), false)
			if len(batch) > 0 {
				// Kept after failing: try again after a while even if no row comes.
				w.mu.Lock()
				w.armed = true
				w.timer.Reset(time.Second)
				w.mu.Unlock()
			}
		case <-w.stop:
			// Write everything, retrying until it lands or the shutdown deadline
			// given to Close passes. Close set closed first, so the buffer only
			// shrinks from here: Record calls write their rows themselves.
			w.timer.Stop()
			for {
				batch = w.flush(w.take(batch), true)
				w.mu.Lock()
				empty := len(w.buf) == 0
				w.mu.Unlock()
				if empty || len(batch) > 0 {
					return
				}
			}
		}
	}
}

// flush writes the batch, retrying with backoff. Outside shutdown it gives up for now
// after a few tries and returns the batch to be retried with the next one — unless the
// batch has grown large, when it keeps trying (the buffer then fills and Record blocks).
func (w *usageWriter) flush(batch []store.LLMUsage, final bool) []store.LLMUsage {
	if len(batch) == 0 {
		return batch
	}
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.insert(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(int64(len(batch)))
			return batch[:0]
		}
		w.failures.Add(1)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			// Retrying the batch as it is cannot help: some row is refused for good.
			// Write the rows one by one, mending what can be mended.
			w.log.Warn("llm usage batch refused; writing its rows one by one", slog.Int("rows", len(batch)), slog.Any("error", err))
			if batch = w.salvage(batch); len(batch) == 0 {
				return batch
			}
			err = errors.New("transient failures while writing rows one by one")
		}
		w.log.Warn("llm usage write failed; will retry", slog.Int("rows", len(batch)), slog.Int("attempt", attempt), slog.Any("error", err))
		if !final && (attempt >= 3 && len(batch) < 4*w.maxBatch || w.stopping()) {
			return batch // kept; retried with the next flush
		}
		if final && attempt >= 20 {
			w.log.Error("llm usage rows could not be written before shutdown", slog.Int("rows", len(batch)))
			return batch
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

// salvage writes rows one at a time and returns those that failed for a reason that
// may pass (to retry). A row whose project or execution is gone (deleted while its
// call ran) is kept without them; a row already stored (a retry after a commit whose
// answer was lost) is skipped; a row whose user is gone cannot be stored and is
// logged and counted as dropped.
func (w *usageWriter) salvage(rows []store.LLMUsage) []store.LLMUsage {
	var keep []store.LLMUsage
	for _, r := range rows {
		err := w.insertOne(r)
		if errors.Is(err, store.ErrNotFound) && (r.ProjectID != nil || r.ExecutionID != nil) {
			r.ProjectID, r.ExecutionID = nil, nil
			err = w.insertOne(r)
		}
		switch {
		case err == nil:
			w.written.Add(1)
		case errors.Is(err, store.ErrConflict):
		case errors.Is(err, store.ErrNotFound):
			w.dropped.Add(1)
			w.log.Error("llm usage row dropped: its user no longer exists", slog.String("id", r.ID.String()),
				slog.String("user_id", r.UserID.String()), slog.Float64("cost_usd", r.CostUSD))
		default:
			keep = append(keep, r)
		}
	}
	return keep
}

func (w *usageWriter) insertOne(r store.LLMUsage) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.insert(ctx, []store.LLMUsage{r})
}

func (w *usageWriter) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// Close writes everything queued and stops the writer.
func (w *usageWriter) Close() {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.notFull.Broadcast()
		w.mu.Unlock()
		close(w.stop)
	})
	<-w.stopped
}

// Failures is how many batch writes failed (and were retried).
func (w *usageWriter) Failures() int64 { return w.failures.Load() }
