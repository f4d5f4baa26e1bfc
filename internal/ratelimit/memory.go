package ratelimit

import (
	"context"
	"sync"
	"time"
)

// minSweep is the table size below which Memory never sweeps.
const minSweep = 1024

// Memory is a Limiter for one process: a map from key to TAT under a mutex. A key whose
// TAT has passed holds no information (its budget is full), so such keys are swept
// whenever the table has doubled since the last sweep: memory stays within twice the
// number of keys limited in the last Period, at amortised O(1) per call.
type Memory struct {
	now  func() time.Time
	base time.Time // times are kept as nanoseconds since base

	mu        sync.Mutex
	tat       map[string]int64
	nextSweep int
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-process limiter reading time from now (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, base: now(), tat: make(map[string]int64), nextSweep: minSweep}
}

// Allow implements Limiter. It never returns an error for a valid limit and cost.
func (m *Memory) Allow(_ context.Context, key string, limit Limit, cost int) (Result, error) {
	g, err := newGCRA(limit, cost, time.Nanosecond)
	if err != nil {
		return Result{}, err
	}
	now := int64(m.now().Sub(m.base))

	m.mu.Lock()
	tat, ok := m.tat[key]
	if !ok || tat < now {
		tat = now
	}
	newTAT, allowed := g.decide(now, tat)
	if allowed && newTAT > now {
		m.tat[key] = newTAT
		if len(m.tat) >= m.nextSweep {
			m.sweep(now)
		}
	}
	m.mu.Unlock()
	return g.result(now, tat, allowed, time.Nanosecond), nil
}

// Refund gives back cost units of key's budget that Allow spent, for a request that
// turned out not to count (a login whose password was right). The budget never grows
// past full. It never returns an error for a valid limit and cost.
func (m *Memory) Refund(_ context.Context, key string, limit Limit, cost int) error {
	g, err := newGCRA(limit, cost, time.Nanosecond)
	if err != nil {
		return err
	}
	now := int64(m.now().Sub(m.base))
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tat[key]
	if !ok {
		return nil
	}
	if tat -= g.increment; tat <= now {
		delete(m.tat, key)
	} else {
		m.tat[key] = tat
	}
	return nil
}

// Len returns the number of keys held (for tests and metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tat)
}

// sweep forgets keys whose budget is full again; m.mu must be held.
func (m *Memory) sweep(now int64) {
	for k, tat := range m.tat {
		if tat <= now {
			delete(m.tat, k)
		}
	}
	m.nextSweep = max(2*len(m.tat), minSweep)
}
