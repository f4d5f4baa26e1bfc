package ratelimit

import (
	"context"
	"fmt"
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

// Redis is a Limiter shared by every process using the same Redis and prefix: each key
// is one Redis string holding its TAT, updated by a Lua script (EVALSHA, falling back
// to EVAL when the server does not have it cached).
//
// When Redis is unreachable or slow Allow returns an error; build the client with
// ContextTimeoutEnabled: true so the caller's ctx deadline bounds the call, and short
// timeouts and few retries (see package cache for figures). A retry after a timeout
// may spend a request twice, which errs on the side of rejecting.
type Redis struct {
	client redis.UniversalClient
	prefix string
	script *redis.Script
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter keeping its state under prefix (for example "vc:rl:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix, script: redis.NewScript(gcraScript)}
}

// Allow implements Limiter. Precision is one microsecond per request.
func (r *Redis) Allow(ctx context.Context, key string, limit Limit, cost int) (Result, error) {
	g, err := newGCRA(limit, cost, time.Microsecond)
	if err != nil {
		return Result{}, err
	}
	vals, err := r.script.Run(ctx, r.client, []string{r.prefix + key}, g.increment, g.tolerance).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(vals) != 3 {
		return Result{}, fmt.Errorf("ratelimit: redis: script returned %d values, want 3", len(vals))
	}
	return g.result(vals[1], vals[2], vals[0] == 1, time.Microsecond), nil
}
