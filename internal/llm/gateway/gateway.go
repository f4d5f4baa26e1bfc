// Package gateway is the one door every LLM call in Vibe Coder goes through: it resolves
// the model, enforces per-user rate limits (requests and tokens per minute) and monthly
// budgets, serves and fills the response cache, coalesces identical concurrent calls,
// retries and falls back upstream, and accounts every call's tokens and dollars.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"

	"github.com/vibecoder/vibecoder/internal/cache"
	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/ratelimit"
	"github.com/vibecoder/vibecoder/internal/store"
)

// UsageStore is what the gateway needs from the database.
type UsageStore interface {
	InsertUsage(ctx context.Context, rows []store.LLMUsage) error
	GetUserLimits(ctx context.Context, userID uuid.UUID) (*store.UserLimits, error)
	ReserveBudget(ctx context.Context, userID uuid.UUID, period string, limit, amount float64) error
	SettleBudget(ctx context.Context, userID uuid.UUID, period string, reserved, actual float64) error
	BudgetState(ctx context.Context, userID uuid.UUID, period string) (spent, reserved float64, err error)
}

// Cache scopes.
const (
	ScopeUser   = "user"
	ScopeGlobal = "global"
)

// Config tunes the gateway. Zero values take the defaults noted.
type Config struct {
	CacheTTL   time.Duration // 24h
	CacheScope string        // ScopeUser (default) or ScopeGlobal
	// Server-wide defaults; a user's own limits (store.UserLimits) override them.
	RequestsPerMinute int     // 20
	TokensPerMinute   int     // 0: no token limit
	MonthlyBudgetUSD  float64 // 0: no budget
	// BudgetCompletionTokens caps a budgeted request that names no max_tokens, so the
	// reservation is a true upper bound of its cost (4096).
	BudgetCompletionTokens int
	MaxAttempts            int           // per model, 3
	BackoffBase            time.Duration // 250ms, doubled per attempt, with jitter
	BackoffMax             time.Duration // 10s; an upstream asking to wait longer moves on to the fallback
	// Fallbacks maps a model (as clients name it) to the models tried, in order, when it
	// keeps failing with a retryable error.
	Fallbacks map[string][]string
	// LimitsTTL is how long a user's limits are remembered between database reads (30s).
	LimitsTTL time.Duration
	Now       func() time.Time
	// Observer, when set, hears of every call (as its usage row is recorded) and every
	// rate-limit refusal: the metrics.
	Observer Observer
}

// Observer receives the gateway's calls as they are accounted. Its methods run on the
// request path (tens of thousands of cache hits a second) and must be cheap.
type Observer interface {
	// ObserveLLM is called once per call, cache hits and refusals included; outcome is
	// "ok" or the error type, cached whether the cache or an identical call in flight
	// answered, costUSD what went upstream (0 for a hit).
	ObserveLLM(provider, model, outcome string, cached bool, promptTokens, completionTokens int, costUSD float64, latency time.Duration)
	// ObserveRateLimited is called when a per-user limit refuses a call: kind is
	// "requests", "tokens" or "budget".
	ObserveRateLimited(kind string)
	// ObserveBudgetOverrun is called when a provider reports usage that costs more than
	// the call's budget reservation; overUSD is the difference.
	ObserveBudgetOverrun(overUSD float64)
}

func (c *Config) defaults() error {
	if c.CacheTTL <= 0 {
		c.CacheTTL = 24 * time.Hour
	}
	switch c.CacheScope {
	case "":
		c.CacheScope = ScopeUser
	case ScopeUser, ScopeGlobal:
	default:
		return fmt.Errorf("cache scope %q: must be %q or %q", c.CacheScope, ScopeUser, ScopeGlobal)
	}
	if c.RequestsPerMinute <= 0 {
		c.RequestsPerMinute = 20
	}
	if c.BudgetCompletionTokens <= 0 {
		c.BudgetCompletionTokens = 4096
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 250 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 10 * time.Second
	}
	if c.LimitsTTL <= 0 {
		c.LimitsTTL = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Gateway is safe for concurrent use.
type Gateway struct {
	reg   *llm.Registry
	cache cache.Cache
	// local: the cache answers from this process's memory (cache.InProcess), so a
	// write to it is a map insert that takes no context and needs no goroutine.
	local   bool
	limiter ratelimit.Limiter
	prices  *pricing.Table
	store   UsageStore
	log     *slog.Logger
	cfg     Config
	usage   *usageWriter

	mu      sync.Mutex
	flights map[string]*flight

	limitsCache sync.Map // uuid.UUID → cachedLimits
	runs        sync.WaitGroup

	stats Counters
}

// Counters are the gateway's running totals (exposed as metrics).
type Counters struct {
	UpstreamCalls  atomic.Int64
	Retries        atomic.Int64
	Fallbacks      atomic.Int64
	Coalesced      atomic.Int64
	CacheErrors    atomic.Int64
	LimiterErrors  atomic.Int64
	RateLimited    atomic.Int64
	BudgetRejected atomic.Int64
	// BudgetOverruns counts calls whose reported usage cost more than their reservation.
	BudgetOverruns atomic.Int64
}

// New returns a Gateway. Close flushes its usage rows.
func New(reg *llm.Registry, c cache.Cache, lim ratelimit.Limiter, prices *pricing.Table, st UsageStore, log *slog.Logger, cfg Config) (*Gateway, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	for model, chain := range cfg.Fallbacks {
		for _, fb := range append([]string{model}, chain...) {
			if _, _, err := reg.Resolve(fb); err != nil {
				return nil, fmt.Errorf("fallback chain of %q: %w", model, err)
			}
		}
	}
	g := &Gateway{reg: reg, cache: c, local: cache.InProcess(c), limiter: lim, prices: prices, store: st, log: log, cfg: cfg, flights: map[string]*flight{}}
	g.usage = newUsageWriter(st.InsertUsage, log, 8192)
	return g, nil
}

// Close waits for upstream calls in progress, then writes every queued usage row.
func (g *Gateway) Close() {
	g.runs.Wait()
	g.usage.Close()
}

// SetObserver sets the Observer; call it before the gateway serves calls.
func (g *Gateway) SetObserver(o Observer) { g.cfg.Observer = o }

// account records a call's usage row and tells the observer.
func (g *Gateway) account(row store.LLMUsage, start time.Time) {
	g.usage.Record(row)
	if o := g.cfg.Observer; o != nil {
		o.ObserveLLM(row.Provider, row.Model, row.Status, row.CacheHit, int(row.PromptTokens), int(row.CompletionTokens), row.CostUSD, time.Since(start))
	}
}

// Registry returns the model registry (for GET /v1/models).
func (g *Gateway) Registry() *llm.Registry { return g.reg }

// Stats returns the running counters.
func (g *Gateway) Stats() *Counters { return &g.stats }

// UsageWriteFailures is how many usage batch writes failed and were retried.
func (g *Gateway) UsageWriteFailures() int64 { return g.usage.Failures() }

// Call is one request to the gateway.
type Call struct {
	UserID      uuid.UUID
	ProjectID   *uuid.UUID
	ExecutionID *uuid.UUID
	// Model as the client named it: "provider/model", an alias, a bare model, or "" for
	// the default.
	Model   string
	Request llm.Request // Model is ignored; the gateway sets the resolved one
	NoCache bool        // Cache-Control: no-cache — skip the lookup (and coalescing)
	NoStore bool        // Cache-Control: no-store — do not store the response
	// OnStart, when set, is called once before the first chunk with what is known
	// by then — Cached (from the cache or a shared in-flight call), Provider, Model
	// and RateLimit — so a streaming handler can send its headers before its body.
	OnStart func(res *Result)
	// OnCaughtUp, when set, is called whenever a stream has handed over every chunk
	// that has arrived and waits for more: a streaming handler that does not flush
	// each chunk flushes then, so chunks arriving together leave in one write and
	// none waits for the next.
	OnCaughtUp func()
}

func (c *Call) start(res *Result, cached bool) {
	res.Cached = cached
	if c.OnStart != nil {
		c.OnStart(res)
	}
}

// Result is what a call returned and what it cost.
type Result struct {
	Response     llm.Response
	Provider     string // the provider that answered (a fallback's, if one did)
	Model        string
	Cached       bool // served from the cache or from an identical in-flight call
	CostUSD      float64
	CostSavedUSD float64
	Latency      time.Duration
	// RateLimit is the request limiter's state, for RateLimit-* headers.
	RateLimit *ratelimit.Result
}

// LimitError is a request refused by a rate limit or budget.
type LimitError struct {
	Err   *llm.Error
	Limit *ratelimit.Result // set for rate limits
}

func (e *LimitError) Error() string { return e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }

// Complete runs a call and returns the whole response.
func (g *Gateway) Complete(ctx context.Context, call *Call) (*Result, error) {
	return g.do(ctx, call, nil)
}

// Stream runs a call and delivers the response chunk by chunk to fn, in order. A
// cached response is replayed the same way.
func (g *Gateway) Stream(ctx context.Context, call *Call, fn func(llm.Chunk) error) (*Result, error) {
	if fn == nil {
		return nil, errors.New("gateway: Stream needs a chunk function")
	}
	return g.do(ctx, call, fn)
}

type target struct {
	p     llm.Provider
	model string
	name  string // as configured, for logs
}

func (g *Gateway) do(ctx context.Context, call *Call, fn func(llm.Chunk) error) (*Result, error) {
	start := time.Now()
	prov, model, err := g.reg.Resolve(call.Model)
	if err != nil {
		return nil, err
	}
	req := call.Request
	req.Model = model
	res := &Result{Provider: prov.Name(), Model: model}
	// The call's row is dated when the call began, on the clock its budget period is
	// taken from, so a call across midnight at a month's end counts in one month only.
	began := g.cfg.Now().UTC()
	row := store.LLMUsage{UserID: call.UserID, ProjectID: call.ProjectID, ExecutionID: call.ExecutionID, Provider: prov.Name(), Model: model,
		Status: "ok", CreatedAt: began}
	record := func(status string) {
		row.Status = status
		row.LatencyMS = time.Since(start).Milliseconds()
		g.account(row, start)
	}

	lim := g.limitsFor(ctx, call.UserID)
	if err := g.admit(ctx, call.UserID, &req, lim, res); err != nil {
		record(errorStatus(err))
		return res, err
	}

	scope := "global"
	if g.cfg.CacheScope == ScopeUser {
		scope = "u:" + call.UserID.String()
	}
	if lim.budget > 0 && req.MaxTokens == 0 {
		req.MaxTokens = g.cfg.BudgetCompletionTokens
	}
	key, err := cacheKey(scope, prov.Name(), &req)
	if err != nil {
		return nil, &llm.Error{Status: http.StatusBadRequest, Type: llm.TypeInvalidRequest, Message: err.Error()}
	}

	if !call.NoCache {
		if e := g.lookup(ctx, key); e != nil {
			return g.serveHit(call, fn, res, row, e, start, record)
		}
	}

	// Reserve the worst case against the budget before anything goes upstream.
	settle, err := g.reserve(ctx, call, &req, lim, prov.Name(), model, began)
	if err != nil {
		record(errorStatus(err))
		return res, err
	}

	f, leader := g.flightFor(ctx, key, !call.NoCache && !call.NoStore, fn != nil)
	var e *entry
	if leader {
		e, err = g.lead(ctx, f, key, call, res, &req, prov, model, fn, row, start, settle)
	} else {
		g.stats.Coalesced.Add(1)
		call.start(res, true)
		e, err = f.follow(ctx, fn, call.OnCaughtUp)
	}
	if err != nil {
		if !leader {
			settle(0)
			record(errorStatus(err))
		}
		return nil, err
	}
	if fn != nil && !f.streamed() {
		for _, c := range e.stream() {
			if err := fn(c); err != nil {
				if !leader {
					settle(0) // the follower's reservation, which no one else releases
					record(errorStatus(err))
				}
				return nil, err
			}
		}
	}
	if !leader {
		settle(0)
		g.fillHit(res, row, e, start, record)
		return res, nil
	}
	res.Response, res.Provider, res.Model, res.CostUSD = e.Response, e.Provider, e.Model, e.CostUSD
	res.Latency = time.Since(start)
	return res, nil
}

// reserve reserves the worst case of a call against the user's monthly budget (when
// there is one and the model is priced), capping an unbounded request to what the
// budget pays for, and returns the function that settles the call's true cost.
func (g *Gateway) reserve(ctx context.Context, call *Call, req *llm.Request, lim limits, provider, model string, began time.Time) (settle func(actual float64), err error) {
	period, reserved := "", 0.0
	if lim.budget > 0 {
		period = began.Format("2006-01")
		if _, price, ok := g.prices.Lookup(provider, model); ok {
			promptMax := promptUpperBound(req)
			if call.Request.MaxTokens == 0 {
				// The caller named no bound: send upstream only as many completion
				// tokens as the rest of the budget pays for, so the completion can never
				// cost more than is reserved for it.
				capped, err := g.affordable(ctx, call.UserID, period, lim.budget, price, promptMax, req.MaxTokens)
				if err != nil {
					return nil, err
				}
				if capped < req.MaxTokens {
					// A completion cut short by the budget is not the answer the cache key
					// stands for.
					req.MaxTokens, call.NoStore = capped, true
				}
			}
			if cost := price.Cost(promptMax, req.MaxTokens, 0); cost > 0 {
				if err := g.store.ReserveBudget(ctx, call.UserID, period, lim.budget, cost); err != nil {
					if errors.Is(err, store.ErrBudgetExceeded) {
						err = g.budgetRefusal(ctx, call.UserID, period, lim.budget,
							fmt.Sprintf("this request could cost up to %s, which would exceed your monthly budget of %s", USD(cost), USD(lim.budget)))
					}
					return nil, err
				}
				reserved = cost
			}
		}
	}
	return func(actual float64) {
		if period == "" || reserved == 0 && actual == 0 {
			return // no budget to keep: the usage rows alone record the spend
		}
		if over := actual - reserved; over > budgetEpsilon {
			// The provider reported more than the request could have used (a chat
			// template, a hidden tool prompt). The true cost is recorded all the same,
			// and while it leaves the month over budget the user's calls are refused.
			g.stats.BudgetOverruns.Add(1)
			if o := g.cfg.Observer; o != nil {
				o.ObserveBudgetOverrun(over)
			}
			g.log.Warn("llm usage cost more than its budget reservation", slog.String("user_id", call.UserID.String()),
				slog.String("provider", provider), slog.String("model", model),
				slog.Float64("reserved_usd", reserved), slog.Float64("actual_usd", actual))
		}
		// The settlement must land even if the client has gone.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := g.store.SettleBudget(sctx, call.UserID, period, reserved, actual); err != nil {
			g.log.Error("settle llm budget", slog.String("user_id", call.UserID.String()), slog.Any("error", err))
		}
	}, nil
}

// serveHit answers a call from a cache entry, replaying it as a stream when asked to.
func (g *Gateway) serveHit(call *Call, fn func(llm.Chunk) error, res *Result, row store.LLMUsage, e *entry, start time.Time, record func(string)) (*Result, error) {
	res.Provider, res.Model = e.Provider, e.Model
	call.start(res, true)
	if fn != nil {
		for _, c := range e.stream() {
			if err := fn(c); err != nil {
				return nil, err
			}
		}
	}
	g.fillHit(res, row, e, start, record)
	return res, nil
}

// lead makes the upstream call of a flight this caller leads and returns its result:
// itself when nobody else can follow a call that is not streamed, otherwise on a
// goroutine of its own that it follows like the rest. A stream is read on its own
// goroutine even when nobody else can follow it: the reader goes on reading while the
// caller writes, so more of the events that arrive meanwhile leave in one write (read
// by the caller itself, a 50-chunk stream took one write more and ~5 % more CPU).
func (g *Gateway) lead(ctx context.Context, f *flight, key string, call *Call, res *Result, req *llm.Request, prov llm.Provider, model string,
	fn func(llm.Chunk) error, row store.LLMUsage, start time.Time, settle func(float64)) (*entry, error) {
	targets, err := g.targets(call.Model, prov, model)
	if err != nil {
		g.endFlight(key, f, nil, err)
		settle(0)
		return nil, err
	}
	g.runs.Add(1)
	streaming := fn != nil
	if f.shared || streaming {
		go func() {
			defer g.runs.Done()
			g.run(f, key, call, req, targets, streaming, row, start, settle)
		}()
		call.start(res, false)
		return f.follow(ctx, fn, call.OnCaughtUp)
	}
	// Nobody else can follow this flight: the caller makes the upstream call itself
	// rather than wait on another goroutine. Its leaving (a client disconnect) still
	// cancels the call (the flight's context is the caller's), as the last
	// follower's does.
	g.run(f, key, call, req, targets, false, row, start, settle)
	g.runs.Done()
	call.start(res, false)
	return f.outcome()
}

func (g *Gateway) fillHit(res *Result, row store.LLMUsage, e *entry, start time.Time, record func(string)) {
	res.Response, res.Provider, res.Model = e.Response, e.Provider, e.Model
	res.Cached, res.CostSavedUSD, res.Latency = true, e.CostUSD, time.Since(start)
	row.Provider, row.Model = e.Provider, e.Model
	row.CacheHit, row.CostSavedUSD = true, e.CostUSD
	row.PromptTokens, row.CompletionTokens = int64(e.Response.Usage.PromptTokens), int64(e.Response.Usage.CompletionTokens)
	row.CachedTokens = int64(e.Response.Usage.CachedTokens)
	row.Status = "ok"
	row.LatencyMS = time.Since(start).Milliseconds()
	g.account(row, start)
}

// flightFor returns the in-flight call for key to follow, or a new one this caller
// leads. Calls that may not share (no-cache, no-store) always lead a private flight.
func (g *Gateway) flightFor(parent context.Context, key string, share, streaming bool) (*flight, bool) {
	if !share {
		if !streaming {
			// Its one caller makes the call on its own goroutine (lead), on its own
			// context: nothing else has anything to cancel.
			return newFlight(noCancel).withContext(parent), true
		}
		// Its one caller follows the call's reader (lead): the call ends when the
		// caller leaves.
		ctx, cancel := context.WithCancel(parent)
		return newFlight(cancel).withContext(ctx), true
	}
	// The upstream call keeps the caller's values (request id, trace) but not its
	// cancellation: it ends when its last follower leaves.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.flights[key]; ok && f.join() {
		cancel()
		return f, false
	}
	f := newFlight(cancel).withContext(ctx)
	f.shared = true
	g.flights[key] = f
	return f, true
}

// noCancel is the cancel of a flight on its caller's own context.
func noCancel() {}

func (g *Gateway) endFlight(key string, f *flight, e *entry, err error) {
	g.forget(key, f)
	f.finish(e, err)
}

// forget unregisters a shared flight, so identical calls no longer join it.
func (g *Gateway) forget(key string, f *flight) {
	if f.shared {
		g.mu.Lock()
		if g.flights[key] == f {
			delete(g.flights, key)
		}
		g.mu.Unlock()
	}
}

// targets is the model and its fallback chain.
func (g *Gateway) targets(asked string, p llm.Provider, model string) ([]target, error) {
	out := []target{{p: p, model: model, name: p.Name() + "/" + model}}
	for _, fb := range g.cfg.Fallbacks[asked] {
		fp, fm, err := g.reg.Resolve(fb)
		if err != nil {
			return nil, err
		}
		out = append(out, target{p: fp, model: fm, name: fb})
	}
	return out, nil
}

// run makes the upstream call for a flight, with retries and fallbacks, then stores
// the response, accounts it, and settles the leader's budget reservation.
func (g *Gateway) run(f *flight, key string, call *Call, req *llm.Request, targets []target, streaming bool,
	row store.LLMUsage, start time.Time, settle func(float64)) {
	defer f.cancel()
	ctx := f.ctx
	var resp *llm.Response
	var used target
	var err error
upstream:
	for i, t := range targets {
		if i > 0 {
			g.stats.Fallbacks.Add(1)
			g.log.Warn("llm fallback", slog.String("from", targets[i-1].name), slog.String("to", t.name), slog.Any("error", err))
		}
		r := *req
		r.Model = t.model
		for attempt := 1; attempt <= g.cfg.MaxAttempts; attempt++ {
			g.stats.UpstreamCalls.Add(1)
			if attempt > 1 {
				g.stats.Retries.Add(1)
			}
			published := f.published()
			sctx, span := observe.StartSpan(ctx, "llm."+t.p.Name(), attribute.String("llm.provider", t.p.Name()),
				attribute.String("llm.model", t.model), attribute.Int("llm.attempt", attempt), attribute.Bool("llm.stream", streaming))
			if streaming {
				resp, err = t.p.Stream(sctx, &r, func(c llm.Chunk) error {
					f.publish(c)
					return nil
				})
			} else {
				resp, err = t.p.Complete(sctx, &r)
			}
			observe.EndSpan(span, err)
			if err == nil {
				used = t
				break upstream
			}
			var le *llm.Error
			if f.published() > published || ctx.Err() != nil || !errors.As(err, &le) || !le.Retryable {
				// Part of a stream already reached clients, the clients are gone, or
				// the request itself is at fault: nothing to retry.
				break upstream
			}
			if attempt == g.cfg.MaxAttempts || le.RetryAfter > g.cfg.BackoffMax {
				break
			}
			if !sleepCtx(ctx, g.backoff(attempt, le.RetryAfter)) {
				break upstream
			}
		}
	}
	// Account before the callers hear back, so what they see next (stats, budget)
	// already includes this call.
	if err != nil {
		settle(0)
		row.Status = errorStatus(err)
		row.LatencyMS = time.Since(start).Milliseconds()
		g.account(row, start)
		g.endFlight(key, f, nil, err)
		return
	}
	cost, _ := g.prices.Cost(used.p.Name(), used.model, resp.Usage.PromptTokens, resp.Usage.CompletionTokens, resp.Usage.CachedTokens)
	e := &entry{Provider: used.p.Name(), Model: used.model, Response: *resp, CostUSD: cost, LatencyMS: time.Since(start).Milliseconds()}
	if streaming {
		e.Chunks = f.all()
		f.markStreamed()
	}
	settle(cost)
	row.Provider, row.Model = used.p.Name(), used.model
	row.PromptTokens, row.CompletionTokens = int64(resp.Usage.PromptTokens), int64(resp.Usage.CompletionTokens)
	row.CachedTokens, row.CostUSD = int64(resp.Usage.CachedTokens), cost
	row.LatencyMS = time.Since(start).Milliseconds()
	g.account(row, start)
	// The callers hear back before the cache write: they need not wait for it (a Redis
	// round trip). Until it lands the flight stays registered, so an identical request
	// arriving meanwhile joins the finished flight instead of going upstream again.
	f.finish(e, nil)
	switch {
	case call.NoStore:
	case f.shared:
		g.cacheEntry(key, e)
	case g.local:
		// An in-process write is a map insert: cheaper than the goroutine below,
		// whose start wakes an idle core (a cross-core futex call on a quiet
		// gateway's every request).
		g.cacheEntry(key, e)
	default:
		// Nobody can join this flight, and its caller may be waiting for run to
		// return (it runs on the caller's goroutine): write in the background.
		g.runs.Add(1)
		go func() {
			defer g.runs.Done()
			g.cacheEntry(key, e)
		}()
	}
	g.forget(key, f)
}

// scratch holds the byte buffers a call encodes into and hands on within the call: the
// cache key's canonical bytes while they are hashed, an entry while it is written to
// the cache (which keeps its own copy, or has sent it, when Set returns).
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// putScratch returns b, grown from the buffer p held, to scratch; one grown past
// 64 KiB (a huge prompt or answer) is not kept.
func putScratch(p *[]byte, b []byte) {
	if cap(b) <= 64<<10 {
		*p = b[:0]
		scratch.Put(p)
	}
}

// cacheEntry writes e to the cache under key.
func (g *Gateway) cacheEntry(key string, e *entry) {
	buf := scratch.Get().(*[]byte)
	b := e.appendTo((*buf)[:0])
	defer putScratch(buf, b)
	ctx := context.Background() // an in-process Set takes none
	if !g.local {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	if err := g.cache.Set(ctx, key, b, g.cfg.CacheTTL); err != nil {
		g.stats.CacheErrors.Add(1)
		g.log.Warn("llm cache write failed", slog.Any("error", err))
	}
}

func (g *Gateway) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := g.cfg.BackoffBase << (attempt - 1)
	d = d/2 + rand.N(d/2+1) // jitter: between half and all of it
	return min(d, g.cfg.BackoffMax)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// lookup returns the cached entry for key, or nil. A cache error counts as a miss:
// the call goes upstream rather than failing.
func (g *Gateway) lookup(ctx context.Context, key string) *entry {
	b, ok, err := g.cache.Get(ctx, key)
	if err != nil {
		g.stats.CacheErrors.Add(1)
		g.log.Warn("llm cache read failed; treating as a miss", slog.Any("error", err))
		return nil
	}
	if !ok {
		return nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		g.stats.CacheErrors.Add(1)
		g.log.Warn("llm cache entry unreadable; treating as a miss", slog.Any("error", err))
		return nil
	}
	return e
}

type limits struct {
	rpm, tpm int
	budget   float64
}

type cachedLimits struct {
	l       limits
	expires time.Time
}

// limitsFor returns the user's limits: their own where set, else the defaults.
func (g *Gateway) limitsFor(ctx context.Context, userID uuid.UUID) limits {
	now := time.Now()
	if v, ok := g.limitsCache.Load(userID); ok && now.Before(v.(cachedLimits).expires) {
		return v.(cachedLimits).l
	}
	l := limits{rpm: g.cfg.RequestsPerMinute, tpm: g.cfg.TokensPerMinute, budget: g.cfg.MonthlyBudgetUSD}
	ul, err := g.store.GetUserLimits(ctx, userID)
	switch {
	case err == nil:
		if ul.RequestsPerMinute != nil {
			l.rpm = *ul.RequestsPerMinute
		}
		if ul.TokensPerMinute != nil {
			l.tpm = *ul.TokensPerMinute
		}
		if ul.MonthlyBudgetUSD != nil {
			l.budget = *ul.MonthlyBudgetUSD
		}
	case errors.Is(err, store.ErrNotFound):
	default:
		g.log.Warn("read user llm limits; using defaults", slog.String("user_id", userID.String()), slog.Any("error", err))
		return l
	}
	g.limitsCache.Store(userID, cachedLimits{l: l, expires: now.Add(g.cfg.LimitsTTL)})
	return l
}

// ForgetLimits drops a user's remembered limits (after an administrator changes them).
func (g *Gateway) ForgetLimits(userID uuid.UUID) { g.limitsCache.Delete(userID) }

// admit applies the request and token rate limits. A limiter that fails (Redis gone)
// lets the call through: an outage of the limiter must not become an outage of the
// gateway. The failure is logged and counted.
func (g *Gateway) admit(ctx context.Context, userID uuid.UUID, req *llm.Request, l limits, res *Result) error {
	if l.rpm > 0 {
		r, err := g.limiter.Allow(ctx, "rpm:"+userID.String(), ratelimit.PerMinute(l.rpm), 1)
		if err != nil {
			g.stats.LimiterErrors.Add(1)
			g.log.Warn("rate limiter unavailable; admitting", slog.Any("error", err))
		} else {
			res.RateLimit = &r
			if !r.Allowed {
				g.stats.RateLimited.Add(1)
				g.observeLimited("requests")
				return &LimitError{Limit: &r, Err: &llm.Error{Status: http.StatusTooManyRequests, Type: llm.TypeRateLimit, RetryAfter: r.RetryAfter,
					Message: fmt.Sprintf("rate limit of %d requests per minute reached; retry in %s", l.rpm, r.RetryAfter.Round(time.Second))}}
			}
		}
	}
	if l.tpm > 0 {
		est := estimateTokens(req)
		r, err := g.limiter.Allow(ctx, "tpm:"+userID.String(), ratelimit.PerMinute(l.tpm), est)
		if err != nil {
			g.stats.LimiterErrors.Add(1)
			g.log.Warn("token limiter unavailable; admitting", slog.Any("error", err))
		} else if !r.Allowed {
			g.stats.RateLimited.Add(1)
			g.observeLimited("tokens")
			msg := fmt.Sprintf("token limit of %d per minute reached; retry in %s", l.tpm, r.RetryAfter.Round(time.Second))
			if r.RetryAfter == ratelimit.Never {
				msg = fmt.Sprintf("this request (about %d tokens) is larger than your limit of %d tokens per minute", est, l.tpm)
			}
			return &LimitError{Limit: &r, Err: &llm.Error{Status: http.StatusTooManyRequests, Type: llm.TypeRateLimit, RetryAfter: max(r.RetryAfter, 0), Message: msg}}
		}
	}
	return nil
}

func (g *Gateway) observeLimited(kind string) {
	if o := g.cfg.Observer; o != nil {
		o.ObserveRateLimited(kind)
	}
}

// estimateTokens is a cheap estimate of a request's tokens for the token limit: about
// four bytes a token for the prompt, plus the completion it may ask for.
func estimateTokens(req *llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += len(m.Content)/4 + 4
	}
	return max(n+req.MaxTokens, 1)
}

// promptUpperBound bounds a prompt's tokens from above (no tokenizer yields more than
// one token per byte, plus per-message overhead), so budget reservations never fall short.
func promptUpperBound(req *llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += len(m.Content) + len(m.ToolCalls) + 8
	}
	return n + len(req.Tools) + len(req.ResponseFormat)
}

// budgetEpsilon absorbs floating-point noise in budget arithmetic (a millionth of a cent).
const budgetEpsilon = 1e-8

// affordable returns how many completion tokens (at most want) the rest of the month's
// budget pays for on top of a prompt of promptMax tokens, or a 402 when it pays for
// none.
func (g *Gateway) affordable(ctx context.Context, userID uuid.UUID, period string, budget float64, price pricing.Price, promptMax, want int) (int, error) {
	spent, reserved, err := g.store.BudgetState(ctx, userID, period)
	if err != nil {
		return 0, fmt.Errorf("read llm budget: %w", err)
	}
	left := budget - spent - reserved - price.Cost(promptMax, 0, 0)
	perToken := price.Cost(promptMax, 1, 0) - price.Cost(promptMax, 0, 0)
	if perToken <= 0 {
		return want, nil // completions are free here
	}
	n := int(math.Min(float64(want), math.Floor((left+budgetEpsilon)/perToken)))
	if n < 1 {
		return 0, g.budgetRefusal(ctx, userID, period, budget,
			fmt.Sprintf("the rest of your monthly budget of %s cannot pay for this request", USD(budget)))
	}
	return n, nil
}

// budgetRefusal is the 402 for a call the budget cannot take, counted; when the month
// is already over budget (usage reported above what was reserved) it says so.
func (g *Gateway) budgetRefusal(ctx context.Context, userID uuid.UUID, period string, budget float64, msg string) error {
	g.stats.BudgetRejected.Add(1)
	g.observeLimited("budget")
	if spent, _, err := g.store.BudgetState(ctx, userID, period); err == nil && spent > budget+budgetEpsilon {
		msg = fmt.Sprintf("your monthly budget of %s is spent (%s this month); calls resume when the budget is raised or the month ends",
			USD(budget), USD(spent))
	}
	return &LimitError{Err: &llm.Error{Status: http.StatusPaymentRequired, Type: "budget_exceeded", Message: msg}}
}

// USD formats a dollar amount for people: cents for amounts of a cent or more, and as
// many significant digits as a smaller amount needs ($0.001, not $0.00).
func USD(v float64) string {
	switch {
	case v == 0:
		return "$0.00"
	case math.Abs(v) >= 0.01:
		if math.Abs(v-math.Round(v*100)/100) < 1e-9 || math.Abs(v) >= 100 {
			return "$" + strconv.FormatFloat(v, 'f', 2, 64)
		}
		return "$" + strings.TrimRight(strconv.FormatFloat(v, 'f', 6, 64), "0")
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return "$" + strconv.FormatFloat(r, 'f', -1, 64)
}

func errorStatus(err error) string {
	var le *llm.Error
	if errors.As(err, &le) {
		if le.Type == llm.TypeRateLimit && le.Provider == "" {
			return "rate_limited"
		}
		return le.Type
	}
	return "error"
}
