package gateway_test

import (
	"context"
	"errors"
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
	p := gatedStream{release: make(chan struct{})}
	e := newEnv(t, opts{providers: []llm.Provider{p}})
	var got, flushed []string
	call := &gateway.Call{UserID: e.users[0], Model: "gated/m", NoCache: true,
		Request: llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}}
	call.OnCaughtUp = func() {
		flushed = append(flushed, got...)
		got = got[:0]
		if len(flushed) == 1 {
			close(p.release)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // fail rather than hang
	defer cancel()
	_, err := e.gw.Stream(ctx, call, func(c llm.Chunk) error {
		if c.Text != "" {
			got = append(got, c.Text)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	flushed = append(flushed, got...)
	if len(flushed) != 2 || flushed[0] != "a" || flushed[1] != "b" {
		t.Fatalf("chunks %q", flushed)
	}
}
