package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ShipperConfig configures a Shipper; zero values take the defaults in brackets.
type ShipperConfig struct {
	URL   string // the ingest endpoint (LOGTAIL_INGEST_URL)
	Token string // the source token, sent as a bearer token (LOGTAIL_SOURCE_TOKEN)

	// The buffer: lines waiting or being sent count against both bounds until the
	// ingest server has taken them or they are given up. A line that does not fit is
	// dropped and counted; Write never waits.
	BufferLines int // [10000]
	BufferBytes int // [16 MiB]

	BatchLines    int           // lines per request at most [500]
	BatchBytes    int           // bytes per request, about [1 MiB]
	FlushInterval time.Duration // how long a partial batch may wait [1s]

	// Retries: network errors, 408, 429 and 5xx are retried with exponential backoff
	// and jitter between MinBackoff and MaxBackoff; after MaxAttempts tries (or at once
	// on any other status) the batch is dropped and counted.
	MaxAttempts int           // [5]
	MinBackoff  time.Duration // [500ms]
	MaxBackoff  time.Duration // [30s]
	Timeout     time.Duration // per request [10s]

	Client *http.Client // [a client of its own]
	// OnError hears of every batch given up. It is called from the shipping goroutine,
	// never from Write; it must not log through the logger this Shipper feeds.
	OnError func(error)
}

func (c *ShipperConfig) defaults() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("log shipping: ingest URL must be an http(s) URL")
	}
	if c.Token == "" {
		return errors.New("log shipping: a source token is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.BufferLines, 10_000)
	def(&c.BufferBytes, 16<<20)
	def(&c.BatchLines, 500)
	def(&c.BatchBytes, 1<<20)
	def(&c.MaxAttempts, 5)
	defDur(&c.FlushInterval, time.Second)
	defDur(&c.MinBackoff, 500*time.Millisecond)
	defDur(&c.MaxBackoff, 30*time.Second)
	defDur(&c.Timeout, 10*time.Second)
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	return nil
}

// ShipperStats are a Shipper's counters since it started.
type ShipperStats struct {
	Shipped       uint64 // lines the ingest server accepted
	Dropped       uint64 // lines lost: the buffer was full, their batch was given up, or Close ran out of time
	FailedBatches uint64 // batches given up (attempts exhausted, or refused outright)
	Retries       uint64 // requests repeated after a retryable failure
	Buffered      int    // lines held now, waiting or being sent
}

// Shipper sends log lines to BetterStack Logtail's HTTP ingestion API in batches, in
// the background: it is the io.Writer a JSON logger writes to beside stderr (each
// Write one redacted JSON line), so what it ships has been through the same redaction
// as everything else. Lines are sent in the order they were written.
type Shipper struct {
	cfg ShipperConfig

	mu            sync.Mutex
	queue         [][]byte // written, not yet taken into a batch
	queueBytes    int
	inflight      int // lines of the batch being sent
	inflightBytes int
	stopped       bool

	kick      chan struct{} // a full batch is waiting
	closing   chan struct{}
	closeOnce sync.Once
	ctx       context.Context // cancelled to abandon sending (Close out of time)
	abort     context.CancelFunc
	done      chan struct{}

	shipped, dropped, failed, retries atomic.Uint64
}

// NewShipper starts a Shipper's background goroutine. Close stops it.
func NewShipper(cfg ShipperConfig) (*Shipper, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Shipper{
		cfg:     cfg,
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.ctx, s.abort = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Write queues one log line for shipping; it never blocks on the network and never
// fails. A line that does not fit the buffer, or comes after Close, is dropped and
// counted.
func (s *Shipper) Write(p []byte) (int, error) {
	line := bytes.Clone(bytes.TrimSpace(p))
	if len(line) == 0 {
		return len(p), nil
	}
	s.mu.Lock()
	if s.stopped || len(s.queue)+s.inflight >= s.cfg.BufferLines ||
		s.queueBytes+s.inflightBytes+len(line) > s.cfg.BufferBytes {
		s.mu.Unlock()
		s.dropped.Add(1)
		return len(p), nil
	}
	s.queue = append(s.queue, line)
	s.queueBytes += len(line)
	full := len(s.queue) >= s.cfg.BatchLines || s.queueBytes >= s.cfg.BatchBytes
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Stats returns the counters (zero for a nil Shipper, so callers need not check
// whether shipping is configured).
func (s *Shipper) Stats() ShipperStats {
	if s == nil {
		return ShipperStats{}
	}
	s.mu.Lock()
	buffered := len(s.queue) + s.inflight
	s.mu.Unlock()
	return ShipperStats{
		Shipped:       s.shipped.Load(),
		Dropped:       s.dropped.Load(),
		FailedBatches: s.failed.Load(),
		Retries:       s.retries.Load(),
		Buffered:      buffered,
	}
}

// Close sends what is buffered, retrying as usual, until done or until ctx ends; then
// whatever is left is dropped and counted. Lines written afterwards are dropped. It
// returns an error only when ctx ended first.
func (s *Shipper) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.abort()
		<-s.done
		return fmt.Errorf("log shipping: flush on close: %w", ctx.Err())
	}
}

func (s *Shipper) run() {
	defer close(s.done)
	defer s.abort()
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.kick:
			s.flush(false)
		case <-t.C:
			s.flush(true)
		case <-s.closing:
			s.flush(true)
			s.mu.Lock()
			s.stopped = true
			s.dropped.Add(uint64(len(s.queue))) // written while the last batch was out
			s.queue, s.queueBytes = nil, 0
			s.mu.Unlock()
			return
		}
	}
}

// flush sends full batches, and with partial also the last, smaller one.
func (s *Shipper) flush(partial bool) {
	for {
		batch, size := s.take(partial)
		if len(batch) == 0 {
			return
		}
		s.send(batch)
		s.mu.Lock()
		s.inflight -= len(batch)
		s.inflightBytes -= size
		s.mu.Unlock()
	}
}

// take moves the next batch from the queue to in flight.
func (s *Shipper) take(partial bool) (batch [][]byte, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 || (!partial && len(s.queue) < s.cfg.BatchLines && s.queueBytes < s.cfg.BatchBytes) {
		return nil, 0
	}
	n := 0
	for n < len(s.queue) && n < s.cfg.BatchLines && (n == 0 || size+len(s.queue[n]) <= s.cfg.BatchBytes) {
		size += len(s.queue[n])
		n++
	}
	batch = s.queue[:n:n]
	s.queue = s.queue[n:]
	s.queueBytes -= size
	s.inflight += n
	s.inflightBytes += size
	return batch, size
}

// send delivers one batch, retrying with backoff, or gives it up and counts its lines.
func (s *Shipper) send(batch [][]byte) {
	n := uint64(len(batch))
	body := logtailBody(batch, time.Now())
	for attempt := 1; ; attempt++ {
		retry, err := s.post(body)
		if err == nil {
			s.shipped.Add(n)
			return
		}
		if !retry || attempt >= s.cfg.MaxAttempts || s.ctx.Err() != nil {
			s.failed.Add(1)
			s.dropped.Add(n)
			if s.cfg.OnError != nil && s.ctx.Err() == nil { // abandoned by Close, which reports it
				s.cfg.OnError(fmt.Errorf("log shipping: %d lines dropped after %d attempts: %w", n, attempt, err))
			}
			return
		}
		s.retries.Add(1)
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
	}
}

// backoff is the wait after the attempt-th failure: doubling from MinBackoff up to
// MaxBackoff, with jitter so that many processes do not retry in step.
func (s *Shipper) backoff(attempt int) time.Duration {
	d := s.cfg.MinBackoff << min(attempt-1, 30)
	if d <= 0 || d > s.cfg.MaxBackoff {
		d = s.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// post makes one request; retry says whether a failure is worth another.
func (s *Shipper) post(body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := s.cfg.Client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	res.Body.Close()
	switch c := res.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return true, fmt.Errorf("ingest server answered %s", res.Status)
	default:
		return false, fmt.Errorf("ingest server refused the batch: %s", res.Status)
	}
}

// logtailBody is a batch in Logtail's JSON format: an array of objects, each the log
// record with its time as "dt" and its message as "message".
func logtailBody(batch [][]byte, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, line := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(logtailRecord(line, now))
	}
	b.WriteByte(']')
	return b.Bytes()
}

func logtailRecord(line []byte, now time.Time) []byte {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(line, &rec); err != nil || rec == nil {
		out, _ := json.Marshal(map[string]string{"dt": now.UTC().Format(time.RFC3339Nano), "message": string(line)})
		return out
	}
	if t, ok := rec["time"]; ok {
		rec["dt"] = t
		delete(rec, "time")
	} else if _, ok := rec["dt"]; !ok {
		rec["dt"], _ = json.Marshal(now.UTC().Format(time.RFC3339Nano))
	}
	if m, ok := rec["msg"]; ok {
		rec["message"] = m
		delete(rec, "msg")
	}
	out, err := json.Marshal(rec)
	if err != nil {
		out, _ = json.Marshal(map[string]string{"dt": now.UTC().Format(time.RFC3339Nano), "message": string(line)})
	}
	return out
}
