package observe

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records each Write its destination receives.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func TestLogBufferIdleLinesGoStraightThrough(t *testing.T) {
	var dst writes
	b := NewLogBuffer(&dst, time.Hour)
	_, _ = b.Write([]byte("one\n"))
	_, _ = b.Write([]byte("two\n"))
	if got := dst.get(); len(got) != 2 || got[0] != "one\n" || got[1] != "two\n" {
		t.Fatalf("with no request in flight: writes %q, want each line on its own at once", got)
	}
}

func TestLogBufferGathersLinesOfRequestsInFlight(t *testing.T) {
	var dst writes
	b := NewLogBuffer(&dst, time.Hour)
	b.Begin()
	b.Begin()
	_, _ = b.Write([]byte("a\n"))
	b.End()
	_, _ = b.Write([]byte("b\n"))
	if got := dst.get(); len(got) != 0 {
		t.Fatalf("a request still in flight: written %q already", got)
	}
	b.End()
	_, _ = b.Write([]byte("c\n")) // no request in flight, but lines held: it waits its turn
	if got := dst.get(); len(got) != 0 {
		t.Fatalf("the last request ended: written %q at once, want the lines held until the interval passes", got)
	}
	if err := b.Flush(); err != nil { // what the interval's timer does
		t.Fatal(err)
	}
	if got := dst.get(); len(got) != 1 || got[0] != "a\nb\nc\n" {
		t.Fatalf("after the interval: writes %q, want one write of the three lines in order", got)
	}
}

// A server answering one request at a time writes its access log once per interval,
// not once per request.
func TestLogBufferOneRequestAtATime(t *testing.T) {
	var dst writes
	b := NewLogBuffer(&dst, 500*time.Millisecond)
	for i := range 100 {
		b.Begin()
		_, _ = fmt.Fprintf(b, "request %d\n", i)
		b.End()
	}
	if got := dst.get(); len(got) > 1 {
		t.Fatalf("100 requests one after another (well within 500ms): %d writes, want at most one (the interval's)", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(strings.Join(dst.get(), ""), "\n") < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("lines held after the last request ended were never written: %q", dst.get())
		}
		time.Sleep(time.Millisecond)
	}
	if got := strings.Join(dst.get(), ""); !strings.HasPrefix(got, "request 0\n") || !strings.HasSuffix(got, "request 99\n") {
		t.Fatalf("lines out of order: %q", got)
	}
}

func TestLogBufferWritesAfterInterval(t *testing.T) {
	var dst writes
	b := NewLogBuffer(&dst, 5*time.Millisecond)
	b.Begin() // never ends: only the interval lets the line out
	_, _ = b.Write([]byte("waiting\n"))
	deadline := time.Now().Add(10 * time.Second)
	for len(dst.get()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a line held while a request stays in flight was never written")
		}
		time.Sleep(time.Millisecond)
	}
	if got := dst.get(); got[0] != "waiting\n" {
		t.Fatalf("wrote %q", got)
	}
}

func TestLogBufferWritesWhenFull(t *testing.T) {
	var dst writes
	b := NewLogBuffer(&dst, time.Hour)
	b.Begin()
	line := strings.Repeat("x", 999) + "\n"
	for range maxBuffered / len(line) {
		_, _ = b.Write([]byte(line))
	}
	if len(dst.get()) != 0 {
		t.Fatal("written before the buffer was full")
	}
	_, _ = b.Write([]byte(line))
	if got := dst.get(); len(got) != 1 || len(got[0]) < maxBuffered {
		t.Fatalf("a full buffer: %d writes, want one of everything held", len(got))
	}
}

func TestLogBufferCloseLosesNothing(t *testing.T) {
	var dst bytes.Buffer
	b := NewLogBuffer(&dst, time.Hour)
	log := NewLogger(b, slog.LevelInfo, NewRedactor([]string{"configured-secret-value"}))
	b.Begin() // a request still running at shutdown
	log.Info("http request", slog.String("route", "POST /v1/chat/completions"))
	log.Info("leaked", slog.String("detail", "configured-secret-value"), slog.String("authorization", "Bearer abcdefghijkl"))
	if dst.Len() != 0 {
		t.Fatalf("written before Close: %q", dst.String())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	out := dst.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "chat/completions") {
		t.Fatalf("after Close: %q, want both lines", out)
	}
	if strings.Contains(out, "configured-secret-value") || strings.Contains(out, "abcdefghijkl") {
		t.Fatalf("a secret reached the log through the buffer: %q", out)
	}
	_, _ = b.Write([]byte("after\n"))
	if !strings.HasSuffix(dst.String(), "after\n") {
		t.Fatal("a line written after Close was held")
	}
}
