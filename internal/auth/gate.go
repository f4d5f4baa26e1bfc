package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrBusy means every password-hashing slot stayed taken for the whole wait: the
// server is at its bound of concurrent argon2id computations. Retry shortly.
var ErrBusy = errors.New("too many password checks in progress; try again in a moment")

// hashGate bounds the argon2id computations running at once. Each holds
// Argon2Params.Memory (46 MiB by default) for its duration, so without a bound 40
// concurrent logins take 1.8 GB; with it, memory for hashing stays at slots times
// that, and a request that cannot get a slot within wait is refused with ErrBusy
// rather than queued without limit.
type hashGate struct {
	slots  chan struct{}
	wait   time.Duration // <0: do not wait
	before func()        // Config.BeforeHash

	running atomic.Int64
	peak    atomic.Int64
	busy    atomic.Int64
}

func newHashGate(slots int, wait time.Duration, before func()) *hashGate {
	return &hashGate{slots: make(chan struct{}, slots), wait: wait, before: before}
}

// do runs f with a slot held, waiting up to g.wait for one. It returns ErrBusy when
// none came free in time, or the context's error when ctx ended first.
func (g *hashGate) do(ctx context.Context, f func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.wait < 0 {
			g.busy.Add(1)
			return ErrBusy
		}
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-t.C:
			g.busy.Add(1)
			return ErrBusy
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	defer func() { <-g.slots }()
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	if g.before != nil {
		g.before()
	}
	f()
	return nil
}
