package cache

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Cache in Redis, shared by every gateway replica: each value is one string
// key (prefix + key) written with SET ... PX ttl, so Redis expires it.
//
// A Redis that is down or slow makes every method return an error; the gateway treats
// that as a miss and goes upstream. go-redis bounds a call by the caller's ctx deadline
// only when the client has ContextTimeoutEnabled: true; otherwise only its own
// timeouts apply. For a cache in front of an LLM, fail fast: ContextTimeoutEnabled,
// DialTimeout and Read/WriteTimeout of a few hundred milliseconds, DialerRetries 1
// (the default of 5 dials spaced 100ms apart costs ~0.4s per call while Redis is down).
type Redis struct {
	client redis.UniversalClient
	prefix string

	hits, misses, sets, deletes, errs atomic.Uint64
}

var _ Cache = (*Redis)(nil)

// NewRedis returns a Cache storing its keys under prefix (for example "vc:llmcache:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Get returns the value under key; a missing or expired key is a miss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	val, err := r.client.Get(ctx, r.prefix+key).Bytes()
	switch {
	case err == nil:
		r.hits.Add(1)
		return val, true, nil
	case errors.Is(err, redis.Nil):
		r.misses.Add(1)
		return nil, false, nil
	default:
		r.errs.Add(1)
		return nil, false, fmt.Errorf("cache: redis get: %w", err)
	}
}

// Set stores val under key for ttl (millisecond precision, at least 1ms); ttl <= 0
// means no expiry.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	args := make([]any, 0, 5)
	args = append(args, "set", r.prefix+key, val)
	if ttl > 0 {
		args = append(args, "px", max(ttl.Milliseconds(), 1))
	}
	if err := r.client.Do(ctx, args...).Err(); err != nil {
		r.errs.Add(1)
		return fmt.Errorf("cache: redis set: %w", err)
	}
	r.sets.Add(1)
	return nil
}

// Delete removes key.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		r.errs.Add(1)
		return fmt.Errorf("cache: redis delete: %w", err)
	}
	r.deletes.Add(1)
	return nil
}

// Stats returns this process's counters; the size fields are 0 (Redis holds the data).
func (r *Redis) Stats() Stats {
	return Stats{
		Hits:    r.hits.Load(),
		Misses:  r.misses.Load(),
		Sets:    r.sets.Load(),
		Deletes: r.deletes.Load(),
		Errors:  r.errs.Load(),
	}
}
