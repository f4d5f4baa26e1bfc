package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "logtail-source-token-0123456789"

// ingest is a local stand-in for Logtail's HTTP ingestion endpoint. It checks every
// request the way Logtail does (bearer token, JSON array of objects) and records what
// it accepted. status, when set, picks the answer to the n-th request (from 1).
type ingest struct {
	*httptest.Server
	t      *testing.T
	status func(n int) int

	mu       sync.Mutex
	requests int
	records  []map[string]any
}

func newIngest(t *testing.T, status func(n int) int) *ingest {
	in := &ingest{t: t, status: status}
	in.Server = httptest.NewServer(http.HandlerFunc(in.serve))
	t.Cleanup(in.Close)
	return in
}

func (in *ingest) serve(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.requests++
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+testToken {
		in.t.Errorf("ingest: %s with Authorization %q", r.Method, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		in.t.Errorf("ingest: Content-Type %q", r.Header.Get("Content-Type"))
	}
	var batch []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
		in.t.Errorf("ingest: body is not a JSON array of objects: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if in.status != nil {
		if code := in.status(in.requests); code != http.StatusAccepted {
			w.WriteHeader(code)
			return
		}
	}
	in.records = append(in.records, batch...)
	w.WriteHeader(http.StatusAccepted)
}

func (in *ingest) received() (requests int, records []map[string]any) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.requests, append([]map[string]any(nil), in.records...)
}

func newTestShipper(t *testing.T, cfg ShipperConfig) *Shipper {
	t.Helper()
	cfg.Token = testToken
	s, err := NewShipper(cfg)
	if err != nil {
		t.Fatalf("NewShipper: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func closeShipper(t *testing.T, s *Shipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// wantInOrder asserts that records are the lines "line 0".."line n-1", each once, in
// order, in Logtail's shape.
func wantInOrder(t *testing.T, records []map[string]any, n int) {
	t.Helper()
	if len(records) != n {
		t.Fatalf("ingest received %d lines, want %d", len(records), n)
	}
	for i, r := range records {
		if r["message"] != fmt.Sprintf("line %d", i) || r["i"] != float64(i) {
			t.Fatalf("line %d arrived as %v", i, r)
		}
		dt, _ := r["dt"].(string)
		if _, err := time.Parse(time.RFC3339Nano, dt); err != nil {
			t.Fatalf("line %d: dt %q is not a timestamp", i, r["dt"])
		}
		if r["level"] != "INFO" || r["msg"] != nil || r["time"] != nil {
			t.Fatalf("line %d: want level, dt and message, not time and msg: %v", i, r)
		}
	}
}

func TestShipperDeliversEveryLineInOrder(t *testing.T) {
	in := newIngest(t, nil)
	s := newTestShipper(t, ShipperConfig{URL: in.URL, BatchLines: 64, FlushInterval: 5 * time.Millisecond})
	var stderr strings.Builder
	log := NewLogger(io.MultiWriter(s, &stderr), slog.LevelInfo, NewRedactor([]string{"configured-secret-value"}))

	const n = 1000
	for i := range n {
		log.Info(fmt.Sprintf("line %d", i), slog.Int("i", i))
	}
	log.Debug("below the level: neither printed nor shipped")
	closeShipper(t, s)

	requests, records := in.received()
	wantInOrder(t, records, n)
	if requests < n/64 {
		t.Errorf("%d requests for %d lines in batches of 64", requests, n)
	}
	if st := s.Stats(); st != (ShipperStats{Shipped: n}) {
		t.Errorf("stats %+v, want %d shipped and nothing else", st, n)
	}
	if got := strings.Count(stderr.String(), "\n"); got != n {
		t.Errorf("stderr has %d lines, want %d: shipping must not change local logging", got, n)
	}
}

func TestShipperShipsRedactedLines(t *testing.T) {
	in := newIngest(t, nil)
	s := newTestShipper(t, ShipperConfig{URL: in.URL})
	log := NewLogger(s, slog.LevelInfo, NewRedactor([]string{"configured-secret-value"}))
	log.Info("upstream said sk-abcdefghijklmnop1234", slog.String("x", "configured-secret-value"),
		slog.String("password", "hunter2hunter2"), slog.Any("error", errors.New("Bearer abcdefghijkl")))
	closeShipper(t, s)

	_, records := in.received()
	raw, _ := json.Marshal(records)
	for _, secret := range []string{"sk-abcdefghijklmnop1234", "configured-secret-value", "hunter2hunter2", "abcdefghijkl"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("shipped lines hold %q: %s", secret, raw)
		}
	}
	if len(records) != 1 || !strings.Contains(string(raw), "[REDACTED]") {
		t.Errorf("shipped %s, want one redacted line", raw)
	}
}

func TestShipperRetriesServerErrors(t *testing.T) {
	// The first two requests fail as an overloaded ingest server fails; the batch is
	// sent again and nothing is lost or repeated.
	in := newIngest(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	s := newTestShipper(t, ShipperConfig{URL: in.URL, FlushInterval: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	log := NewLogger(s, slog.LevelInfo, NewRedactor(nil))
	for i := range 10 {
		log.Info(fmt.Sprintf("line %d", i), slog.Int("i", i))
	}
	closeShipper(t, s)

	requests, records := in.received()
	wantInOrder(t, records, 10)
	if st := s.Stats(); st.Shipped != 10 || st.Dropped != 0 || st.FailedBatches != 0 || st.Retries != 2 {
		t.Errorf("stats %+v, want 10 shipped after 2 retries", st)
	}
	if requests != 3 {
		t.Errorf("%d requests, want 3", requests)
	}
}

func TestShipperGivesUpOnRefusal(t *testing.T) {
	// A 4xx other than 408/429 (a revoked token, say) will not change on retry.
	in := newIngest(t, func(int) int { return http.StatusForbidden })
	var mu sync.Mutex
	var reported []error
	s := newTestShipper(t, ShipperConfig{URL: in.URL, FlushInterval: time.Hour, MinBackoff: time.Millisecond, OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}})
	for i := range 5 {
		fmt.Fprintf(s, `{"msg":"line %d"}`+"\n", i)
	}
	closeShipper(t, s)

	requests, _ := in.received()
	if st := s.Stats(); requests != 1 || st.Dropped != 5 || st.FailedBatches != 1 || st.Retries != 0 || st.Shipped != 0 {
		t.Errorf("%d requests, stats %+v; want one request, its 5 lines dropped", requests, st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "403") {
		t.Errorf("OnError heard %v, want one error naming the 403", reported)
	}
}

func TestShipperServerDown(t *testing.T) {
	// Nothing listens: every attempt fails at once, the batches are given up after
	// MaxAttempts and their lines counted.
	in := newIngest(t, nil)
	url := in.URL
	in.Close()
	s := newTestShipper(t, ShipperConfig{URL: url, BatchLines: 10, FlushInterval: time.Hour, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	log := NewLogger(s, slog.LevelInfo, NewRedactor(nil))
	for i := range 25 {
		log.Info("line", slog.Int("i", i))
	}
	closeShipper(t, s)
	if st := s.Stats(); st.Dropped != 25 || st.Shipped != 0 || st.FailedBatches != 3 || st.Retries != 3*2 || st.Buffered != 0 {
		t.Errorf("stats %+v, want 25 dropped in 3 failed batches of 3 attempts each", st)
	}
	log.Info("after close")
	if st := s.Stats(); st.Dropped != 26 {
		t.Errorf("a line written after Close: dropped %d, want 26", st.Dropped)
	}
}

func TestShipperNeverBlocksLogging(t *testing.T) {
	// An ingest server that takes requests and never answers: the logger must go on
	// at full speed, holding at most BufferLines lines and counting the rest as dropped.
	release := make(chan struct{})
	var arrived sync.Once
	first := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Do(func() { close(first) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)

	const buffer, n = 100, 5000
	s := newTestShipper(t, ShipperConfig{URL: hang.URL, BufferLines: buffer, BatchLines: 10,
		FlushInterval: time.Hour, Timeout: time.Hour})
	log := NewLogger(s, slog.LevelInfo, NewRedactor(nil))

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			log.Info("request served", slog.Int("i", i))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a hang detector, not a timing assertion
		t.Fatal("logging blocked on a hung ingest server")
	}
	<-first // the first batch is out, stuck in its request
	if st := s.Stats(); st.Dropped != n-buffer || st.Buffered != buffer || st.Shipped != 0 {
		t.Errorf("stats %+v, want %d dropped and %d buffered", st, n-buffer, buffer)
	}

	// Close with no time left gives up what is buffered, counted, and returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a cancelled context = %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.Dropped != n || st.Buffered != 0 {
		t.Errorf("after Close: stats %+v, want all %d dropped", st, n)
	}
}

func TestShipperConfig(t *testing.T) {
	for _, cfg := range []ShipperConfig{
		{URL: "", Token: testToken},
		{URL: "ftp://example.com", Token: testToken},
		{URL: "https://in.logs.betterstack.com"},
	} {
		if _, err := NewShipper(cfg); err == nil {
			t.Errorf("NewShipper(%+v) accepted", cfg)
		}
	}
	var none *Shipper
	if st := none.Stats(); st != (ShipperStats{}) {
		t.Errorf("nil Shipper stats %+v", st)
	}
}

func TestLogtailRecord(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct{ line, want string }{
		{`{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"hi","k":1}`, `{"dt":"2026-01-01T00:00:00Z","k":1,"level":"INFO","message":"hi"}`},
		{`{"msg":"no time"}`, `{"dt":"2026-01-02T03:04:05Z","message":"no time"}`},
		{`not json`, `{"dt":"2026-01-02T03:04:05Z","message":"not json"}`},
	} {
		if got := string(logtailRecord([]byte(c.line), now)); got != c.want {
			t.Errorf("logtailRecord(%s) = %s, want %s", c.line, got, c.want)
		}
	}
}
