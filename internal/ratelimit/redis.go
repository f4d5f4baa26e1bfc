package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript runs one GCRA decision atomically on the Redis server, timed by the
// server's clock (TIME), so every process sharing the Redis agrees exactly whatever
// their own clocks say. Times are microseconds since the epoch, exact in Lua's doubles
// (< 2^53). The TAT is written with %.0f because Lua would print it as 1.7e+15.
// The key expires when its TAT passes: from then on the budget is full, which is what
// a missing key means.
//
// KEYS[1] key; ARGV[1] increment (µs); ARGV[2] tolerance (µs).
// Returns {allowed (0/1), now (µs), tat before the decision (µs, at least now)}.
const gcraScript = `
if redis.replicate_commands then redis.replicate_commands() end
local inc = tonumber(ARGV[1])
local tol = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local allowed = 0
if inc <= tol and tat + inc - tol <= now then
  allowed = 1
  local newtat = tat + inc
  if newtat > now then
    redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
  end
end
return {allowed, now, tat}
`

// refundScript moves a key's TAT back by ARGV[1] µs, deleting the key when its budget
// is full again; a missing key is already full.
const refundScript = `
if redis.replicate_commands then redis.replicate_commands() end
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local newtat = tat - tonumber(ARGV[1])
if newtat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil((newtat - now) / 1000))
end
return 1
`

// Redis is a Limiter shared by every process using the same Redis and prefix: each key
// is one Redis string holding its TAT, updated by a Lua script (EVALSHA, falling back
// to EVAL when the server does not have it cached).
//
// Concurrent calls share round trips: a call that finds fewer than maxInFlight
// pipelines running sends every call waiting at that moment as one pipeline, and
// calls arriving meanwhile wait for the next one. Each script still runs atomically
// on the server, so decisions are as exact as with one round trip per call; what is
// saved is the per-command network work on both sides (about half of Redis's CPU per
// decision, and most of the client's). A lone call goes out at once, in a pipeline
// of one: nothing waits for company.
//
// When Redis is unreachable or slow Allow returns an error; build the client with
// ContextTimeoutEnabled: true so deadlines bound the call, and short timeouts and few
// retries (see package cache for figures). A pipeline runs until the latest deadline
// of its calls; a call whose own context ends first returns its context's error,
// and its decision may still be applied. A retry after a timeout may so spend a
// request twice, which errs on the side of rejecting.
type Redis struct {
	client redis.UniversalClient
	prefix string
	script *redis.Script
	refund *redis.Script

	mu       sync.Mutex
	pending  []*allowCall
	inFlight int
}

// maxInFlight is how many pipelines one limiter keeps running at once.
const maxInFlight = 2

// allowCall is one Allow waiting for its pipeline.
type allowCall struct {
	ctx  context.Context
	key  string
	inc  int64
	tol  int64
	vals []int64
	err  error
	done chan struct{}
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter keeping its state under prefix (for example "vc:rl:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix, script: redis.NewScript(gcraScript), refund: redis.NewScript(refundScript)}
}

// Allow implements Limiter. Precision is one microsecond per request.
func (r *Redis) Allow(ctx context.Context, key string, limit Limit, cost int) (Result, error) {
	g, err := newGCRA(limit, cost, time.Microsecond)
	if err != nil {
		return Result{}, err
	}
	c := &allowCall{ctx: ctx, key: r.prefix + key, inc: g.increment, tol: g.tolerance, done: make(chan struct{})}
	r.mu.Lock()
	r.pending = append(r.pending, c)
	if r.inFlight < maxInFlight {
		r.inFlight++
		batch := r.pending
		r.pending = nil
		r.mu.Unlock()
		r.send(batch)
		// Whoever arrived meanwhile goes next, on its own goroutine: this call's
		// answer is in and need not wait for theirs.
		if next := r.next(); next != nil {
			go r.drain(next)
		}
	} else {
		r.mu.Unlock()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("ratelimit: redis: %w", context.Cause(ctx))
	}
	if c.err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", c.err)
	}
	if len(c.vals) != 3 {
		return Result{}, fmt.Errorf("ratelimit: redis: script returned %d values, want 3", len(c.vals))
	}
	return g.result(c.vals[1], c.vals[2], c.vals[0] == 1, time.Microsecond), nil
}

// Refund gives back cost units of key's budget that Allow spent, for a request that
// turned out not to count (a login whose password was right). The budget never grows
// past full. Refunds are rare, so each is its own round trip.
func (r *Redis) Refund(ctx context.Context, key string, limit Limit, cost int) error {
	g, err := newGCRA(limit, cost, time.Microsecond)
	if err != nil {
		return err
	}
	if err := r.refund.Run(ctx, r.client, []string{r.prefix + key}, g.increment).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis refund: %w", err)
	}
	return nil
}

// next takes the waiting calls as the next batch, keeping this pipeline slot, or
// gives the slot back when none wait.
func (r *Redis) next() []*allowCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	batch := r.pending
	r.pending = nil
	if len(batch) == 0 {
		r.inFlight--
	}
	return batch
}

func (r *Redis) drain(batch []*allowCall) {
	for ; batch != nil; batch = r.next() {
		r.send(batch)
	}
}

// send runs batch as one pipeline (and the scripts Redis had not cached as a second
// one, with EVAL), then wakes its calls.
func (r *Redis) send(batch []*allowCall) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	ctx, cancel := batchContext(batch)
	defer cancel()
	cmds := make([]*redis.Cmd, len(batch))
	pipe := r.client.Pipeline()
	for i, c := range batch {
		cmds[i] = r.script.EvalSha(ctx, pipe, []string{c.key}, c.inc, c.tol)
	}
	_, _ = pipe.Exec(ctx) // errors are per command
	var missing []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		pipe := r.client.Pipeline()
		for _, i := range missing {
			cmds[i] = r.script.Eval(ctx, pipe, []string{batch[i].key}, batch[i].inc, batch[i].tol)
		}
		_, _ = pipe.Exec(ctx)
	}
	for i, c := range batch {
		c.vals, c.err = cmds[i].Int64Slice()
	}
}

// batchContext lasts as long as the latest deadline among the batch's calls (none:
// no deadline), and keeps the first call's values (tracing). It is not cancelled when
// a call's context is: the other calls still want their answers.
func batchContext(batch []*allowCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(batch[0].ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}
