// Package ratelimit admits or rejects requests per key with GCRA (the generic cell rate
// algorithm), in process or atomically in Redis so every gateway replica shares one
// budget; a cost per request lets the same limiter count tokens as well as requests.
//
// A Limiter returns an error when it cannot decide (Redis down or slow). It never picks
// a policy for that case: the caller chooses fail-open (admit, and log) or fail-closed
// (reject with 503).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"time"
)

// Limiter decides whether the request identified by key may spend cost units of limit.
type Limiter interface {
	// Allow spends cost units of key's budget if they are available and reports the
	// outcome. A rejected request spends nothing. cost 0 reports the state without
	// spending; a negative cost or an invalid Limit is an error.
	Allow(ctx context.Context, key string, limit Limit, cost int) (Result, error)
}

// Limit is Rate units per Period, of which up to Burst can be spent at once. Burst 0
// means Burst = Rate ("20 per minute" then admits 20 at once, then one every 3s).
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerSecond, PerMinute and PerHour return n per period with a burst of n.
func PerSecond(n int) Limit { return Limit{Rate: n, Period: time.Second, Burst: n} }
func PerMinute(n int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }
func PerHour(n int) Limit   { return Limit{Rate: n, Period: time.Hour, Burst: n} }

// Validate reports whether l can be enforced.
func (l Limit) Validate() error {
	switch {
	case l.Rate <= 0:
		return fmt.Errorf("ratelimit: rate must be positive, got %d", l.Rate)
	case l.Period <= 0:
		return fmt.Errorf("ratelimit: period must be positive, got %v", l.Period)
	case l.Burst < 0:
		return fmt.Errorf("ratelimit: burst must not be negative, got %d", l.Burst)
	}
	return nil
}

func (l Limit) burst() int {
	if l.Burst == 0 {
		return l.Rate
	}
	return l.Burst
}

// Result is the outcome of Allow, with what HTTP rate-limit headers need.
type Result struct {
	Allowed bool
	// Limit is the burst: the most units that can be spent at once.
	Limit int
	// Remaining is how many units could be spent right now after this call.
	Remaining int
	// RetryAfter is how long until this same request would be admitted: 0 when
	// Allowed, and Never when cost exceeds the burst, so it can never be admitted.
	RetryAfter time.Duration
	// ResetAfter is how long until the full burst is available again.
	ResetAfter time.Duration
}

// Never is Result.RetryAfter for a request whose cost exceeds the limit's burst.
const Never time.Duration = -1

// ErrInvalidCost is returned for a negative cost.
var ErrInvalidCost = errors.New("ratelimit: cost must not be negative")

// SetHeaders sets RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds,
// rounded up) from the IETF httpapi rate-limit headers draft, and Retry-After
// (seconds, at least 1) on a rejection that can succeed later.
//
// The names are set in their canonical form (what Header.Set would make of them, and
// what goes on the wire) with their values in one array: Set canonicalised
// "RateLimit-…" afresh and allocated a slice per header, on every LLM call.
func (r Result) SetHeaders(h http.Header) {
	v := make([]string, 4)
	v[0], v[1], v[2] = strconv.Itoa(r.Limit), strconv.Itoa(r.Remaining), strconv.FormatInt(ceilSeconds(r.ResetAfter), 10)
	h["Ratelimit-Limit"], h["Ratelimit-Remaining"], h["Ratelimit-Reset"] = v[0:1:1], v[1:2:2], v[2:3:3]
	if !r.Allowed && r.RetryAfter >= 0 {
		v[3] = strconv.FormatInt(max(ceilSeconds(r.RetryAfter), 1), 10)
		h["Retry-After"] = v[3:4:4]
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// gcra is one limit in integer time units (nanoseconds in memory, microseconds in
// Redis). Spending n units advances the theoretical arrival time (TAT) by n*Period/Rate;
// a request is admitted if the advanced TAT is at most tolerance = Burst*Period/Rate
// ahead of now.
type gcra struct {
	limit     Limit
	period    int64 // Period in the time unit
	increment int64 // cost * Period / Rate
	tolerance int64 // Burst * Period / Rate
}

func newGCRA(l Limit, cost int, unit time.Duration) (gcra, error) {
	if err := l.Validate(); err != nil {
		return gcra{}, err
	}
	if cost < 0 {
		return gcra{}, ErrInvalidCost
	}
	period := int64(l.Period / unit)
	if period <= 0 {
		return gcra{}, fmt.Errorf("ratelimit: period %v is shorter than %v", l.Period, unit)
	}
	return gcra{
		limit:     l,
		period:    period,
		increment: mulDiv(int64(cost), period, int64(l.Rate)),
		tolerance: mulDiv(int64(l.burst()), period, int64(l.Rate)),
	}, nil
}

// decide returns the new TAT and whether the request is admitted, given the current
// time and the stored TAT (already raised to at least now).
func (g gcra) decide(now, tat int64) (newTAT int64, allowed bool) {
	if g.increment > g.tolerance {
		return tat, false
	}
	next := tat + g.increment
	if next-g.tolerance > now {
		return tat, false
	}
	return next, true
}

// result builds the Result for a decision taken at now on tat (the TAT before the
// decision, at least now).
func (g gcra) result(now, tat int64, allowed bool, unit time.Duration) Result {
	stored := tat
	if allowed {
		stored = tat + g.increment
	}
	r := Result{
		Allowed:    allowed,
		Limit:      g.limit.burst(),
		Remaining:  int(mulDiv(max(now+g.tolerance-stored, 0), int64(g.limit.Rate), g.period)),
		ResetAfter: time.Duration(stored-now) * unit,
	}
	switch {
	case allowed:
	case g.increment > g.tolerance:
		r.RetryAfter = Never
	default:
		r.RetryAfter = time.Duration(tat+g.increment-g.tolerance-now) * unit
	}
	return r
}

// mulDiv returns a*b/c for non-negative a, b and positive c without intermediate
// overflow, saturating at MaxInt64.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
