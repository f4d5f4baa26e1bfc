package cache

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

func newMemory(t *testing.T, maxBytes int64, opts ...MemoryOption) *Memory {
	t.Helper()
	m, err := NewMemory(maxBytes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSet(t *testing.T, c Cache, key string, val []byte, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), key, val, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func present(t *testing.T, c Cache, key string) bool {
	t.Helper()
	_, ok, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return ok
}

func TestNewMemoryRejectsNonPositiveSize(t *testing.T) {
	for _, n := range []int64{0, -1} {
		if _, err := NewMemory(n); err == nil {
			t.Errorf("NewMemory(%d): want error", n)
		}
	}
}

func TestMemoryGetSetDelete(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, 1<<20)

	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("empty cache: hit")
	}
	val := []byte("hello")
	mustSet(t, m, "k", val, 0)
	val[0] = 'J' // the cache keeps its own copy
	got, ok, err := m.Get(ctx, "k")
	if err != nil || !ok || string(got) != "hello" {
		t.Fatalf("Get = %q, %v, %v; want hello, true, nil", got, ok, err)
	}

	mustSet(t, m, "k", []byte("hi"), 0) // overwrite adjusts the byte count
	if s := m.Stats(); s.Entries != 1 || s.Bytes != int64(len("k")+len("hi")) {
		t.Fatalf("after overwrite: entries=%d bytes=%d", s.Entries, s.Bytes)
	}

	if err := m.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "missing"); err != nil {
		t.Fatalf("Delete(missing): %v", err)
	}
	if present(t, m, "k") {
		t.Fatal("deleted key still present")
	}
	s := m.Stats()
	want := Stats{Hits: 1, Misses: 2, Sets: 2, Deletes: 1, MaxBytes: 1 << 20}
	if s != want {
		t.Fatalf("Stats = %+v\nwant    %+v", s, want)
	}
	if r := s.HitRate(); r != 1.0/3 {
		t.Fatalf("HitRate = %v", r)
	}
}

func TestMemoryEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	m := newMemory(t, 30)
	v := bytes.Repeat([]byte("x"), 9) // each entry is 1 + 9 = 10 bytes
	mustSet(t, m, "a", v, 0)
	mustSet(t, m, "b", v, 0)
	mustSet(t, m, "c", v, 0)
	if !present(t, m, "a") { // a becomes most recently used; b is now the oldest
		t.Fatal("a missing before any eviction")
	}

	mustSet(t, m, "d", v, 0) // 40 > 30: evict the least recently used, b
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := present(t, m, key); got != want {
			t.Errorf("after d: present(%s) = %v, want %v", key, got, want)
		}
	}
	// The Gets above touched the survivors in map order; set the recency explicitly
	// (oldest first: c, a, d) before the next eviction.
	present(t, m, "c")
	present(t, m, "a")
	present(t, m, "d")

	// A 20-byte entry needs two slots: c then a go, d stays.
	mustSet(t, m, "e", bytes.Repeat([]byte("y"), 19), 0)
	for key, want := range map[string]bool{"c": false, "a": false, "d": true, "e": true} {
		if got := present(t, m, key); got != want {
			t.Errorf("after e: present(%s) = %v, want %v", key, got, want)
		}
	}
	s := m.Stats()
	if s.Bytes != 30 || s.Entries != 2 || s.Evictions != 3 {
		t.Fatalf("Stats = %+v; want bytes 30, entries 2, evictions 3", s)
	}
}

func TestMemoryKeyCountsTowardsBound(t *testing.T) {
	m := newMemory(t, 10)
	mustSet(t, m, "0123456789", nil, 0) // 10-byte key, empty value: fits exactly
	if !present(t, m, "0123456789") {
		t.Fatal("entry of exactly maxBytes not stored")
	}
	mustSet(t, m, "k", []byte("1"), 0) // 2 more bytes: the first entry goes
	if present(t, m, "0123456789") || !present(t, m, "k") {
		t.Fatal("key bytes not counted")
	}
}

func TestMemoryItemLargerThanBoundIsNotStored(t *testing.T) {
	m := newMemory(t, 16)
	mustSet(t, m, "small", []byte("v"), 0)
	mustSet(t, m, "big", bytes.Repeat([]byte("z"), 16), 0) // 3 + 16 > 16
	if present(t, m, "big") {
		t.Fatal("oversized item was stored")
	}
	if !present(t, m, "small") {
		t.Fatal("oversized item evicted other entries")
	}

	// Replacing a stored value with an oversized one removes the old value rather than
	// leaving it to be served.
	mustSet(t, m, "small", bytes.Repeat([]byte("z"), 100), 0)
	if present(t, m, "small") {
		t.Fatal("stale value served after an oversized Set")
	}
	if s := m.Stats(); s.Rejected != 2 || s.Bytes != 0 || s.Entries != 0 {
		t.Fatalf("Stats = %+v; want rejected 2, empty", s)
	}
}

func TestMemoryTTL(t *testing.T) {
	clk := testutil.NewClock()
	m := newMemory(t, 1<<10, WithClock(clk.Now))
	mustSet(t, m, "short", []byte("1"), time.Second)
	mustSet(t, m, "long", []byte("2"), time.Minute)
	mustSet(t, m, "forever", []byte("3"), 0)

	clk.Advance(999 * time.Millisecond)
	if !present(t, m, "short") {
		t.Fatal("short expired early")
	}
	clk.Advance(time.Millisecond) // exactly at the deadline: expired
	if present(t, m, "short") {
		t.Fatal("short served after its TTL")
	}
	if s := m.Stats(); s.Expirations != 1 || s.Entries != 2 {
		t.Fatalf("expired entry not evicted: %+v", s)
	}

	clk.Advance(time.Hour)
	if present(t, m, "long") {
		t.Fatal("long served after its TTL")
	}
	if !present(t, m, "forever") {
		t.Fatal("entry without TTL expired")
	}

	// Re-setting a key restarts its TTL.
	mustSet(t, m, "k", []byte("v"), time.Second)
	clk.Advance(900 * time.Millisecond)
	mustSet(t, m, "k", []byte("v"), time.Second)
	clk.Advance(900 * time.Millisecond)
	if !present(t, m, "k") {
		t.Fatal("TTL not restarted by Set")
	}
}

func TestMemoryEvictionCountsExpiredEntriesAsExpired(t *testing.T) {
	clk := testutil.NewClock()
	m := newMemory(t, 20, WithClock(clk.Now))
	mustSet(t, m, "a", bytes.Repeat([]byte("x"), 9), time.Second)
	mustSet(t, m, "b", bytes.Repeat([]byte("x"), 9), 0)
	clk.Advance(time.Minute)
	mustSet(t, m, "c", bytes.Repeat([]byte("x"), 9), 0) // pushes a (expired) out
	if s := m.Stats(); s.Expirations != 1 || s.Evictions != 0 {
		t.Fatalf("Stats = %+v; want 1 expiration, 0 evictions", s)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	clk := testutil.NewClock()
	const maxBytes = 4 << 10
	m := newMemory(t, maxBytes, WithClock(clk.Now))
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprintf("k%d", (g*7+i)%300)
				switch i % 4 {
				case 0, 1:
					val := fmt.Appendf(nil, "value-%s-%d", key, i)
					if err := m.Set(ctx, key, val, time.Duration(i%5)*time.Second); err != nil {
						t.Error(err)
						return
					}
				case 2:
					if v, ok, _ := m.Get(ctx, key); ok && !bytes.HasPrefix(v, []byte("value-"+key+"-")) {
						t.Errorf("Get(%s) = %q: value of another key", key, v)
						return
					}
				case 3:
					if g == 0 {
						clk.Advance(time.Second)
					}
					_ = m.Delete(ctx, key)
				}
			}
		})
	}
	wg.Wait()

	s := m.Stats()
	if s.Bytes > maxBytes || s.Bytes < 0 {
		t.Fatalf("bytes = %d, bound %d", s.Bytes, maxBytes)
	}
	// The byte count matches the entries actually held.
	m.mu.Lock()
	var sum int64
	for el := m.lru.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*entry).size()
	}
	n := m.lru.Len()
	m.mu.Unlock()
	if sum != s.Bytes || int64(n) != s.Entries {
		t.Fatalf("accounting drift: list holds %d entries / %d bytes, stats say %d / %d", n, sum, s.Entries, s.Bytes)
	}
}

// TestMemoryValueNeverChangesAfterGet: a value handed out by Get stays as it was
// whatever happens to its key afterwards (overwritten, deleted, evicted) and whatever
// the caller of Set does with its own slice: callers refer to it without copying.
func TestMemoryValueNeverChangesAfterGet(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, 64)
	src := []byte("first value")
	mustSet(t, m, "k", src, 0)
	got, ok, err := m.Get(ctx, "k")
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	copy(src, "XXXXX") // the caller reuses its buffer
	mustSet(t, m, "k", []byte("second value"), 0)
	mustSet(t, m, "other", bytes.Repeat([]byte("y"), 60), 0) // evicts "k"
	_ = m.Delete(ctx, "k")
	if string(got) != "first value" {
		t.Fatalf("a value handed out changed to %q", got)
	}
}
