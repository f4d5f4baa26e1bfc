package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestTwice: the start-up pages are released at once and again when start-up has
// settled; a server stopping before then does not release them a second time.
func TestTwice(t *testing.T) {
	var n atomic.Int32
	second := make(chan struct{})
	twice(t.Context(), func() {
		if n.Add(1) == 2 {
			close(second)
		}
	}, 10*time.Millisecond)
	if got := n.Load(); got != 1 {
		t.Fatalf("calls at once: %d, want 1", got)
	}
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second call never came")
	}

	var m atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	twice(ctx, func() { m.Add(1) }, 300*time.Millisecond)
	cancel()
	time.Sleep(600 * time.Millisecond)
	if got := m.Load(); got != 1 {
		t.Fatalf("cancelled before it settled: %d calls, want 1", got)
	}
}
