package cache

import (
	"context"
	"time"
)

// Tiered is a near cache: a small in-process Memory in front of a shared cache
// (Redis). A hit in the shared cache is kept near for at most NearTTL, so repeated
// hits in one process skip the network round trip, while entries written by any
// process are seen by all of them. Entries are immutable for a key (the gateway's
// keys name the whole request), so the only staleness is an entry outliving its
// shared TTL by at most NearTTL; a Delete reaches only this process's near copy.
type Tiered struct {
	near    *Memory
	far     Cache
	nearTTL time.Duration
}

// NewTiered returns a Tiered cache keeping near copies for nearTTL.
func NewTiered(near *Memory, far Cache, nearTTL time.Duration) *Tiered {
	return &Tiered{near: near, far: far, nearTTL: nearTTL}
}

// Get implements Cache.
func (t *Tiered) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if v, ok, _ := t.near.Get(ctx, key); ok {
		return v, true, nil
	}
	v, ok, err := t.far.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	_ = t.near.Set(ctx, key, v, t.nearTTL)
	return v, true, nil
}

// Set implements Cache: the shared cache first, then the near copy.
func (t *Tiered) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := t.far.Set(ctx, key, val, ttl); err != nil {
		return err
	}
	near := t.nearTTL
	if ttl > 0 && ttl < near {
		near = ttl
	}
	return t.near.Set(ctx, key, val, near)
}

// Delete implements Cache.
func (t *Tiered) Delete(ctx context.Context, key string) error {
	_ = t.near.Delete(ctx, key)
	return t.far.Delete(ctx, key)
}

// Stats implements Cache: the shared cache's counters, with hits served near added
// to its hits and the near copies' size.
func (t *Tiered) Stats() Stats {
	s, n := t.far.Stats(), t.near.Stats()
	s.Hits += n.Hits
	s.Entries, s.Bytes, s.MaxBytes = n.Entries, n.Bytes, n.MaxBytes
	return s
}
