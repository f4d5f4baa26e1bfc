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
// dropped. When the queue is full, Record blocks: back-pressure, not loss.
type usageWriter struct {
	insert   func(ctx context.Context, rows []store.LLMUsage) error
	log      *slog.Logger
	queue    chan store.LLMUsage
	maxBatch int
	linger   time.Duration

	failures atomic.Int64 // failed batch writes, each retried
	written  atomic.Int64
	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

func newUsageWriter(insert func(context.Context, []store.LLMUsage) error, log *slog.Logger, queueLen int) *usageWriter {
	w := &usageWriter{
		insert:   insert,
		log:      log,
		queue:    make(chan store.LLMUsage, queueLen),
		maxBatch: 512,
		linger:   20 * time.Millisecond,
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go w.run()
	return w
}

// Record queues a row. It blocks while the queue is full.
func (w *usageWriter) Record(row store.LLMUsage) {
	if row.ID == [16]byte{} {
		row.ID = store.NewID()
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = store.Now()
	}
	w.queue <- row
}

func (w *usageWriter) run() {
	defer close(w.stopped)
	var batch []store.LLMUsage
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case row := <-w.queue:
			if len(batch) == 0 {
				timer.Reset(w.linger)
			}
			batch = append(batch, row)
			if len(batch) >= w.maxBatch {
				batch = w.flush(batch, false)
			}
		case <-timer.C:
			batch = w.flush(batch, false)
		case <-w.stop:
			// Drain what is queued, then write everything, retrying until it lands
			// or the shutdown deadline given to Close passes.
		drain:
			for {
				select {
				case row := <-w.queue:
					batch = append(batch, row)
				default:
					break drain
				}
			}
			w.flush(batch, true)
			return
		}
	}
}

// flush writes the batch, retrying with backoff. Outside shutdown it gives up for now
// after a few tries and returns the batch to be retried with the next one — unless the
// batch has grown large, when it keeps trying (the queue then fills and Record blocks).
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
