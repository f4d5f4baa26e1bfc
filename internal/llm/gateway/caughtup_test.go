package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
)

// gatedStream streams "a", then waits for release before "b" and the end: a provider
// whose second chunk is late.
type gatedStream struct{ release chan struct{} }

func (gatedStream) Name() string { return "gated" }

func (gatedStream) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("not used")
}

func (p gatedStream) Stream(ctx context.Context, _ *llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	if err := fn(llm.Chunk{Text: "a"}); err != nil {
		return nil, err
	}
	select {
	case <-p.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := fn(llm.Chunk{Text: "b"}); err != nil {
		return nil, err
	}
	if err := fn(llm.Chunk{FinishReason: llm.FinishStop}); err != nil {
		return nil, err
	}
	return &llm.Response{Text: "ab", FinishReason: llm.FinishStop}, nil
}

func (gatedStream) Embed(context.Context, string, []string) ([][]float32, llm.Usage, error) {
	return nil, llm.Usage{}, errors.New("not used")
}

// TestStreamCaughtUp: a handler that flushes only on OnCaughtUp still sends every
// chunk before the stream waits for the next one — here the second chunk comes only
// once the first has been flushed, so a missed call would never end.
func TestStreamCaughtUp(t *testing.T) {
	bothFlights(t, func(t *testing.T, noCache bool) {
		p := gatedStream{release: make(chan struct{})}
		flushes, rest := streamFlushes(t, p, p.release, noCache)
		var flushed []string
		for _, f := range flushes {
			flushed = append(flushed, f...)
		}
		flushed = append(flushed, rest...)
		if len(flushed) != 2 || flushed[0] != "a" || flushed[1] != "b" {
			t.Fatalf("chunks %q", flushed)
		}
	})
}

// bothFlights runs test for a call others could join (a shared flight) and for one
// nobody can (no-cache: a private flight, its context the caller's).
func bothFlights(t *testing.T, test func(t *testing.T, noCache bool)) {
	for _, noCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-cache=%v", noCache), func(t *testing.T) { test(t, noCache) })
	}
}

// streamFlushes streams from p through the gateway to a handler that gathers the
// chunks' texts and flushes them on OnCaughtUp, closing release after the first
// flush; it returns what each flush sent and what was left unflushed at the end.
func streamFlushes(t *testing.T, p llm.Provider, release chan struct{}, noCache bool) (flushes [][]string, rest []string) {
	t.Helper()
	e := newEnv(t, opts{providers: []llm.Provider{p}})
	call := &gateway.Call{UserID: e.users[0], Model: "gated/m", NoCache: noCache,
		Request: llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}}
	call.OnCaughtUp = func() {
		flushes = append(flushes, rest)
		rest = nil
		if len(flushes) == 1 {
			close(release)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // fail rather than hang
	defer cancel()
	_, err := e.gw.Stream(ctx, call, func(c llm.Chunk) error {
		if c.Text != "" {
			rest = append(rest, c.Text)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return flushes, rest
}

// heldStream streams "a" and "b" marked More, then "c" unmarked, then waits for
// release before "d" and the end.
type heldStream struct{ gatedStream }

func (p heldStream) Stream(ctx context.Context, _ *llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	for _, c := range []llm.Chunk{{Text: "a", More: true}, {Text: "b", More: true}, {Text: "c"}} {
		if err := fn(c); err != nil {
			return nil, err
		}
		time.Sleep(5 * time.Millisecond) // time for a follower to catch up in between
	}
	select {
	case <-p.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, c := range []llm.Chunk{{Text: "d", More: true}, {FinishReason: llm.FinishStop}} {
		if err := fn(c); err != nil {
			return nil, err
		}
	}
	return &llm.Response{Text: "abcd", FinishReason: llm.FinishStop}, nil
}

// TestStreamCaughtUpAfterHeldChunks: the handler is not told to flush after a chunk
// the provider marked More (the next one is on its way without waiting for the
// upstream), only after the one that is not: one write for a, b and c.
func TestStreamCaughtUpAfterHeldChunks(t *testing.T) {
	bothFlights(t, func(t *testing.T, noCache bool) {
		p := heldStream{gatedStream{release: make(chan struct{})}}
		flushes, rest := streamFlushes(t, p, p.release, noCache)
		if len(flushes) == 0 || strings.Join(flushes[0], "") != "abc" {
			t.Fatalf("flushed %q, then %q", flushes, rest)
		}
	})
}

// endedStream is gatedStream that says when its Stream has returned.
type endedStream struct {
	gatedStream
	ended chan struct{}
}

func (p endedStream) Stream(ctx context.Context, req *llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	defer close(p.ended)
	return p.gatedStream.Stream(ctx, req, fn)
}

// TestStreamWriteFailureEndsUpstream: a client that can no longer be written to
// (the chunk function fails) gets its error back at once, and the upstream stream —
// which would otherwise wait forever for its second chunk — is ended, whether the
// caller was following a flight or reading the stream itself.
func TestStreamWriteFailureEndsUpstream(t *testing.T) {
	bothFlights(t, func(t *testing.T, noCache bool) {
		p := endedStream{gatedStream{release: make(chan struct{})}, make(chan struct{})}
		e := newEnv(t, opts{providers: []llm.Provider{p}})
		call := &gateway.Call{UserID: e.users[0], Model: "gated/m", NoCache: noCache,
			Request: llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}}
		broken := errors.New("write: broken pipe")
		errc := make(chan error, 1)
		go func() {
			_, err := e.gw.Stream(t.Context(), call, func(llm.Chunk) error { return broken })
			errc <- err
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, broken) {
				t.Fatalf("Stream returned %v, want the chunk function's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Stream did not return when its chunk function failed")
		}
		select {
		case <-p.ended:
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream stream went on after its only client failed")
		}
		if st := e.stats(e.users[0]); len(st) != 1 || st[0].Calls != 1 || st[0].Hits != 0 {
			t.Fatalf("usage %+v, want one call recorded", st)
		}
	})
}
