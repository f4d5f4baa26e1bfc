package observe

import (
	"context"
	"io"
	"sync"
	"time"
)

// LogBuffer sits between the logger and its destination (stderr, a file, a pipe) and
// gathers the lines written while requests are in flight, so that a server writes its
// access log in a few system calls rather than one per request. It writes what it
// holds when a line has waited interval, when it holds maxBuffered bytes, on Flush and
// on Close. A line written with no request in flight and nothing held goes straight
// through. Lines are whole when they reach it (slog writes one line per Write) and
// leave in the order written.
//
// The end of the last request in flight does not write: on a server answering one
// request at a time, that was a system call per request on the path of the next one
// (its connection is read again only after the handler's chain has returned).
//
// A process killed without Close loses at most interval's lines; a graceful
// shutdown loses none (the CLI closes it after everything else).
type LogBuffer struct {
	w        io.Writer
	interval time.Duration

	mu     sync.Mutex
	buf    []byte
	busy   int // requests in flight
	armed  bool
	timer  *time.Timer
	closed bool
}

// maxBuffered is what a LogBuffer holds at most before it writes: about 250 access-log
// lines, well under a pipe's 64 KiB so a write to one is never split.
const maxBuffered = 48 << 10

// NewLogBuffer returns a LogBuffer writing to w; a line waits at most interval
// (20 ms when zero).
func NewLogBuffer(w io.Writer, interval time.Duration) *LogBuffer {
	if interval <= 0 {
		interval = 20 * time.Millisecond
	}
	b := &LogBuffer{w: w, interval: interval}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write implements io.Writer. An error from the destination is reported by the Write
// that meets it, which is not always the one whose line was lost.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.busy == 0 && len(b.buf) == 0 {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= maxBuffered {
		return len(p), b.flushLocked()
	}
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.interval)
	}
	return len(p), nil
}

// Begin marks a request in flight: lines written until its End are gathered.
func (b *LogBuffer) Begin() {
	b.mu.Lock()
	b.busy++
	b.mu.Unlock()
}

// End marks a request done. What it wrote leaves within interval of its first line.
func (b *LogBuffer) End() {
	b.mu.Lock()
	b.busy = max(b.busy-1, 0)
	b.mu.Unlock()
}

// Flush writes what is held.
func (b *LogBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *LogBuffer) flushLocked() error {
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 4*maxBuffered {
		b.buf = nil // one huge line need not stay resident
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// Close writes what is held; later lines go straight through.
func (b *LogBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.flushLocked()
	b.closed = true
	return err
}

type logBufferKey struct{}

// WithLogBuffer returns ctx carrying b, for the HTTP server built below it to mark
// its requests in flight with.
func WithLogBuffer(ctx context.Context, b *LogBuffer) context.Context {
	return context.WithValue(ctx, logBufferKey{}, b)
}

// LogBufferFrom returns the LogBuffer ctx carries, or nil.
func LogBufferFrom(ctx context.Context) *LogBuffer {
	b, _ := ctx.Value(logBufferKey{}).(*LogBuffer)
	return b
}
