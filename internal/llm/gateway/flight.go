package gateway

import (
	"context"
	"sync"

	"github.com/vibecoder/vibecoder/internal/llm"
)

// flight is one upstream call that any number of identical requests follow. The
// upstream runs on its own context, cancelled when the last follower leaves (every
// client disconnected) — so one client going away does not cut the others off, and no
// upstream call outlives all of its clients.
type flight struct {
	mu      sync.Mutex
	chunks  []llm.Chunk
	changed chan struct{} // closed when chunks grow (and replaced) or the flight ends
	// watched says a follower has taken changed to wait on: only then does a new
	// chunk close and replace it (a channel per chunk was most of a stream's
	// allocations while the follower was busy writing).
	watched  bool
	done     bool
	result   *entry
	err      error
	waiters  int
	cancel   context.CancelFunc
	ctx      context.Context // the upstream call's context
	shared   bool            // registered for identical calls to join
	isStream bool            // the upstream was streamed, so chunks were published
}

func (f *flight) withContext(ctx context.Context) *flight {
	f.ctx = ctx
	return f
}

func (f *flight) markStreamed() {
	f.mu.Lock()
	f.isStream = true
	f.mu.Unlock()
}

func (f *flight) streamed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.isStream
}

func newFlight(cancel context.CancelFunc) *flight {
	return &flight{changed: make(chan struct{}), cancel: cancel, waiters: 1}
}

// publish appends a chunk for every follower. The first makes room for a typical
// stream's (tens of chunks) at once rather than growing the list seven times.
func (f *flight) publish(c llm.Chunk) {
	f.mu.Lock()
	if f.chunks == nil {
		f.chunks = make([]llm.Chunk, 0, 64)
	}
	f.chunks = append(f.chunks, c)
	if f.watched {
		close(f.changed)
		f.changed, f.watched = make(chan struct{}), false
	}
	f.mu.Unlock()
}

// outcome is a finished flight's result.
func (f *flight) outcome() (*entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.result, f.err
}

// published is how many chunks have been published.
func (f *flight) published() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.chunks)
}

// all returns the chunks published, the followers' list itself: the upstream call
// that published them has returned, so it no longer grows, and it is only read.
func (f *flight) all() []llm.Chunk {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chunks[:len(f.chunks):len(f.chunks)]
}

// finish ends the flight with its result or error.
func (f *flight) finish(res *entry, err error) {
	f.mu.Lock()
	f.done, f.result, f.err = true, res, err
	close(f.changed)
	f.mu.Unlock()
}

// join adds a follower; it returns false when the flight already ended (the caller
// should then start its own).
func (f *flight) join() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done && f.err != nil {
		return false
	}
	f.waiters++
	return true
}

// leave removes a follower; the last one to leave an unfinished flight cancels it.
func (f *flight) leave() {
	f.mu.Lock()
	f.waiters--
	last := f.waiters == 0 && !f.done
	f.mu.Unlock()
	if last {
		f.cancel()
	}
}

// follow delivers the flight's chunks to fn from the start, in order, as they arrive,
// and returns the flight's result. It stops early when ctx ends or fn fails. Each
// time it has delivered every chunk so far and is about to wait for more that the
// provider has yet to receive (the last chunk is not marked llm.Chunk.More), it calls
// caughtUp (when set): a follower that buffers its writes sends them then.
//
// Chunks published while it delivers a batch are delivered before it calls caughtUp:
// a follower writing to a client sends them in the same write, and a publisher meets
// no waiting follower (no channel to close and replace) until the follower has caught
// up.
func (f *flight) follow(ctx context.Context, fn func(llm.Chunk) error, caughtUp func()) (*entry, error) {
	defer f.leave()
	next := 0
	unsent := false // chunks delivered since caughtUp was last called
	more := false   // the last chunk delivered was marked More
	for {
		f.mu.Lock()
		pending := f.chunks[next:]
		done, res, err, changed := f.done, f.result, f.err, f.changed
		if len(pending) == 0 {
			f.watched = true
		}
		f.mu.Unlock()
		if len(pending) > 0 {
			if fn != nil {
				for _, c := range pending {
					if ferr := fn(c); ferr != nil {
						return nil, ferr
					}
				}
			}
			next += len(pending)
			unsent, more = true, pending[len(pending)-1].More
			continue // look again before waiting
		}
		if done {
			return res, err
		}
		// A chunk marked More is followed by another (or the end) without the
		// upstream being waited for: caught up only after one that is not.
		if caughtUp != nil && unsent && !more {
			caughtUp()
			unsent = false
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, &llm.Error{Status: llm.StatusClientClosedRequest, Type: llm.TypeCanceled, Message: "the client went away"}
		}
	}
}
