package cache

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// Memory is an in-process LRU cache bounded by the bytes of its keys and values, with a
// TTL per entry. All operations are O(1) and safe for concurrent use. Its methods never
// return an error; they satisfy Cache.
type Memory struct {
	now      func() time.Time
	maxBytes int64

	mu    sync.Mutex
	items map[string]*list.Element // of *entry
	lru   *list.List               // front = most recently used
	bytes int64
	st    Stats
}

type entry struct {
	key     string
	val     []byte
	expires time.Time // zero: never
}

func (e *entry) size() int64 { return int64(len(e.key) + len(e.val)) }

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithClock sets the clock used for expiry (tests pass a fake one). Default time.Now.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) {
		if now != nil {
			m.now = now
		}
	}
}

// NewMemory returns an empty cache holding at most maxBytes of keys plus values (the
// bookkeeping per entry, roughly 150 bytes, is not counted). An entry larger than
// maxBytes is never stored.
func NewMemory(maxBytes int64, opts ...MemoryOption) (*Memory, error) {
	if maxBytes <= 0 {
		return nil, errors.New("cache: memory cache size must be positive")
	}
	m := &Memory{
		now:      time.Now,
		maxBytes: maxBytes,
		items:    make(map[string]*list.Element),
		lru:      list.New(),
	}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

var _ Cache = (*Memory)(nil)

// Get returns the value under key and marks it most recently used. An expired entry is
// removed and reported as a miss. The returned slice is shared with the cache and must
// not be modified.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	el, ok := m.items[key]
	if !ok {
		m.st.Misses++
		m.mu.Unlock()
		return nil, false, nil
	}
	e := el.Value.(*entry)
	if !e.expires.IsZero() && !m.now().Before(e.expires) {
		m.removeElement(el)
		m.st.Expirations++
		m.st.Misses++
		m.mu.Unlock()
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	m.st.Hits++
	val := e.val
	m.mu.Unlock()
	return val, true, nil
}

// Set stores a copy of val under key, evicting least recently used entries until the
// cache fits its bound. An entry larger than the bound is not stored (and any older
// value under key is removed, so a stale value is never served).
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	now := m.now()
	e := &entry{key: key, val: append([]byte(nil), val...)}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	size := e.size()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Sets++
	if el, ok := m.items[key]; ok {
		m.removeElement(el)
	}
	if size > m.maxBytes {
		m.st.Rejected++
		return nil
	}
	for m.bytes+size > m.maxBytes {
		back := m.lru.Back()
		be := back.Value.(*entry)
		m.removeElement(back)
		if !be.expires.IsZero() && !now.Before(be.expires) {
			m.st.Expirations++
		} else {
			m.st.Evictions++
		}
	}
	m.items[key] = m.lru.PushFront(e)
	m.bytes += size
	return nil
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	if el, ok := m.items[key]; ok {
		m.removeElement(el)
		m.st.Deletes++
	}
	m.mu.Unlock()
	return nil
}

// Stats returns the counters and the current size.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	s := m.st
	s.Entries = int64(len(m.items))
	s.Bytes = m.bytes
	m.mu.Unlock()
	s.MaxBytes = m.maxBytes
	return s
}

// removeElement unlinks el; m.mu must be held.
func (m *Memory) removeElement(el *list.Element) {
	e := m.lru.Remove(el).(*entry)
	delete(m.items, e.key)
	m.bytes -= e.size()
}
