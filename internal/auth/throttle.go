package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vibecoder/vibecoder/internal/ratelimit"
)

// ErrThrottled means too many logins failed recently for the account or from the
// client's address. The error CheckLogin returns is a *ThrottledError, which says when
// to retry.
var ErrThrottled = errors.New("too many failed logins")

// ThrottledError is CheckLogin's refusal past a failed-login limit; the password was
// not checked.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", max(e.RetryAfter.Round(time.Second), time.Second))
}

func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Limiter is what the login throttle needs of a rate limiter; package ratelimit's
// Memory and Redis are ones.
type Limiter interface {
	Allow(ctx context.Context, key string, limit ratelimit.Limit, cost int) (ratelimit.Result, error)
	Refund(ctx context.Context, key string, limit ratelimit.Limit, cost int) error
}

// Default failed-login budgets: an account's five guesses then one every three
// minutes, so no lockout lasts longer than that once the guessing stops; an address
// six times as many, for offices behind one NAT.
var (
	DefaultAccountLimit = ratelimit.Limit{Rate: 5, Period: 15 * time.Minute, Burst: 5}
	DefaultAddressLimit = ratelimit.Limit{Rate: 30, Period: 15 * time.Minute, Burst: 30}
)

// throttle limits password checks per account (normalised email) and per client
// address with GCRA. Every check spends a unit of both budgets before it runs, and a
// check that did not fail (a right password, a busy refusal) gets its units back: so
// what is limited is failures, yet concurrent guesses cannot all slip past a budget
// that has one unit left, and a refused guess costs no hashing.
//
// When the shared limiter fails (Redis down) the throttle counts in process instead,
// per replica: an outage must not lock everyone out, nor leave guessing unlimited.
type throttle struct {
	lim      Limiter
	fallback *ratelimit.Memory
	account  ratelimit.Limit
	address  ratelimit.Limit
	log      *slog.Logger

	throttled atomic.Int64
	failures  atomic.Int64
	errs      atomic.Int64
}

// spent is one unit taken from one budget, to give back if the check does not count.
type spent struct {
	lim   Limiter
	key   string
	limit ratelimit.Limit
}

// reserve takes a unit from the address's budget (none when ip is empty) and the
// account's, or returns a *ThrottledError having taken nothing.
func (t *throttle) reserve(ctx context.Context, email, ip string) ([]spent, error) {
	var out []spent
	if ip != "" {
		s, r := t.take(ctx, "addr:"+addressKey(ip), t.address)
		if !r.Allowed {
			t.throttled.Add(1)
			return nil, &ThrottledError{RetryAfter: max(r.RetryAfter, 0)}
		}
		out = append(out, s)
	}
	sum := sha256.Sum256([]byte(email)) // the key is no email address, in Redis or elsewhere
	s, r := t.take(ctx, "acct:"+hex.EncodeToString(sum[:16]), t.account)
	if !r.Allowed {
		t.refund(ctx, out)
		t.throttled.Add(1)
		return nil, &ThrottledError{RetryAfter: max(r.RetryAfter, 0)}
	}
	return append(out, s), nil
}

func (t *throttle) take(ctx context.Context, key string, limit ratelimit.Limit) (spent, ratelimit.Result) {
	r, err := t.lim.Allow(ctx, key, limit, 1)
	if err == nil {
		return spent{t.lim, key, limit}, r
	}
	t.errs.Add(1)
	t.log.WarnContext(ctx, "login limiter unavailable; counting failed logins in process", slog.Any("error", err))
	r, _ = t.fallback.Allow(ctx, key, limit, 1) // in memory: no error for a valid limit
	return spent{t.fallback, key, limit}, r
}

// refund gives the units back, even when the request's context has ended: the
// check happened, or was never going to.
func (t *throttle) refund(ctx context.Context, units []spent) {
	if len(units) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, u := range units {
		if err := u.lim.Refund(ctx, u.key, u.limit, 1); err != nil {
			t.errs.Add(1)
			t.log.WarnContext(ctx, "login limiter unavailable; a login attempt stays counted", slog.Any("error", err))
		}
	}
}

// addressKey is the unit an address is limited by: an IPv4 address, or an IPv6
// address's /64, which one host usually holds whole.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
