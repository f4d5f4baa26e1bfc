// Package cache stores LLM gateway responses by key, either in process (a byte-bounded
// LRU with per-entry TTL) or in Redis shared by every replica.
//
// The gateway treats any error from a Cache as a miss: it logs it, goes upstream, and
// does not let a broken cache fail a request. Implementations therefore return errors
// (never panic or block past the caller's context deadline) and leave the decision to
// the caller.
package cache

import (
	"context"
	"time"
)

// Cache is response storage keyed by an opaque string (the gateway uses a hash of the
// normalised request). Values are opaque bytes.
type Cache interface {
	// Get returns the value stored under key. ok is false on a miss, including an
	// expired entry. A non-nil error means the cache could not answer; callers treat
	// it as a miss. The returned slice must not be modified, by the caller or later
	// by the cache: a caller may keep referring to it (the gateway's entries make
	// their strings on it rather than copy a whole answer per hit).
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val under key for ttl; ttl <= 0 means no expiry. The cache keeps its
	// own copy of val (Memory) or sends it (Redis), so the caller may reuse val.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Stats reports counters since the cache was created.
	Stats() Stats
}

// InProcess reports whether c answers from this process's memory, never over the
// network: a write to it takes microseconds and cannot block on a remote server.
func InProcess(c Cache) bool {
	_, ok := c.(*Memory)
	return ok
}

// Stats are a cache's counters since it was created. For Redis, hits, misses and
// errors are the ones this process saw, and Entries/Bytes/MaxBytes are 0 (unknown).
type Stats struct {
	Hits        uint64 `json:"hits"`
	Misses      uint64 `json:"misses"`
	Sets        uint64 `json:"sets"`
	Deletes     uint64 `json:"deletes"`
	Evictions   uint64 `json:"evictions"`   // entries dropped to make room (Memory)
	Expirations uint64 `json:"expirations"` // expired entries removed (Memory)
	Rejected    uint64 `json:"rejected"`    // Sets not stored because the entry exceeds the bound (Memory)
	Errors      uint64 `json:"errors"`      // operations that returned an error (Redis)
	Entries     int64  `json:"entries"`
	Bytes       int64  `json:"bytes"`
	MaxBytes    int64  `json:"maxBytes"`
}

// HitRate is Hits / (Hits + Misses), or 0 before the first Get.
func (s Stats) HitRate() float64 {
	n := s.Hits + s.Misses
	if n == 0 {
		return 0
	}
	return float64(s.Hits) / float64(n)
}
