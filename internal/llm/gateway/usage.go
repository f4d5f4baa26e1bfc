package gateway

import (
	"context"
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

	failures atomic.Int64 // failed batch writes, each retried
	written  atomic.Int64
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
		linger:   20 * time.Millisecond,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
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
	for len(w.buf) >= w.maxRows {
		w.notFull.Wait()
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

// take empties the buffer into batch.
func (w *usageWriter) take(batch []store.LLMUsage) []store.LLMUsage {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch = append(batch, w.buf...)
	w.buf = w.buf[:0]
	w.armed = false
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
			// given to Close passes.
			w.timer.Stop()
			w.flush(w.take(batch), true)
			return
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
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.stopped
}

// Failures is how many batch writes failed (and were retried).
func (w *usageWriter) Failures() int64 { return w.failures.Load() }
