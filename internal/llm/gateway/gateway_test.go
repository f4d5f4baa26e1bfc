package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/cache"
	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
	"github.com/vibecoder/vibecoder/internal/ratelimit"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

type env struct {
	t     *testing.T
	store *sqlite.Store
	gw    *gateway.Gateway
	users []uuid.UUID
}

type opts struct {
	cfg       gateway.Config
	cache     cache.Cache
	limiter   ratelimit.Limiter
	providers []llm.Provider
	usage     gateway.UsageStore
	st        *sqlite.Store
	log       *slog.Logger // discards when nil
}

func openStore(t *testing.T) *sqlite.Store {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, o opts) *env {
	t.Helper()
	st := o.st
	if st == nil {
		st = openStore(t)
	}
	e := &env{t: t, store: st}
	for i := 0; i < 2; i++ {
		u := &store.User{Email: fmt.Sprintf("u%d-%s@example.com", i, uuid.NewString()[:6]), PasswordHash: "x"}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		e.users = append(e.users, u.ID)
	}
	reg, err := llm.NewRegistry(llm.RegistryConfig{Providers: o.providers})
	if err != nil {
		t.Fatal(err)
	}
	prices, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c := o.cache
	if c == nil {
		c, _ = cache.NewMemory(64 << 20)
	}
	lim := o.limiter
	if lim == nil {
		lim = ratelimit.NewMemory(time.Now)
	}
	if o.cfg.RequestsPerMinute == 0 {
		o.cfg.RequestsPerMinute = 10_000
	}
	if o.cfg.BackoffBase == 0 {
		o.cfg.BackoffBase = time.Millisecond
	}
	var us gateway.UsageStore = st
	if o.usage != nil {
		us = o.usage
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gw, err := gateway.New(reg, c, lim, prices, us, log, o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	e.gw = gw
	return e
}

func openaiProvider(t *testing.T, url string) llm.Provider {
	p, err := llm.NewOpenAI(llm.ProviderConfig{APIKey: "sk-test-key-0123456789abcdef", BaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func anthropicProvider(t *testing.T, url string) llm.Provider {
	p, err := llm.NewAnthropic(llm.ProviderConfig{APIKey: "sk-ant-test-0123456789", BaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func call(user uuid.UUID, prompt string) *gateway.Call {
	return &gateway.Call{UserID: user, Model: "openai/gpt-4o-mini",
		Request: llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: prompt}}, MaxTokens: 100}}
}

// usageRows closes the gateway (flushing usage) and returns every row's stats.
func (e *env) stats(user uuid.UUID) []store.UsageStats {
	e.gw.Close()
	st, err := e.store.UsageStats(context.Background(), user, time.Now().Add(-time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func reply(text string, prompt, completion int) llmtest.Reply {
	return llmtest.Reply{Text: text, Usage: &llmtest.Usage{PromptTokens: prompt, CompletionTokens: completion}}
}

func TestMissThenHitAndAccounting(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply { return reply("hello there", 1000, 500) })
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	u := e.users[0]

	r1, err := e.gw.Complete(t.Context(), call(u, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Cached || r1.Response.Text != "hello there" || r1.CostUSD <= 0 {
		t.Fatalf("first call: %+v", r1)
	}
	r2, err := e.gw.Complete(t.Context(), call(u, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Cached || r2.Response.Text != "hello there" || r2.CostUSD != 0 || r2.CostSavedUSD != r1.CostUSD {
		t.Fatalf("second call: %+v", r2)
	}
	if srv.Calls() != 1 {
		t.Fatalf("upstream called %d times, want 1", srv.Calls())
	}
	// gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens.
	want := (1000*0.15 + 500*0.60) / 1e6
	if diff := r1.CostUSD - want; diff > 1e-12 || diff < -1e-12 {
		t.Fatalf("cost %v, want %v", r1.CostUSD, want)
	}
	st := e.stats(u)
	if len(st) != 1 || st[0].Calls != 2 || st[0].Hits != 1 || st[0].Misses != 1 || st[0].TokensSaved != 1500 || st[0].CostUSD != r1.CostUSD || st[0].CostSavedUSD != r1.CostUSD {
		t.Fatalf("usage stats %+v", st)
	}
}

func TestCacheKeyIncludesProviderParams(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("ok"))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	u := e.users[0]
	withCtx := func(n int, format string) *gateway.Call {
		c := call(u, "same prompt")
		c.Request.Extra = map[string]any{"options": map[string]any{"num_ctx": n}}
		c.Request.ResponseFormat = json.RawMessage(format)
		return c
	}
	for _, c := range []*gateway.Call{
		withCtx(4096, `{"type":"json_object","x":1}`),
		withCtx(4096, `{"x":1, "type":"json_object"}`), // same object, other key order: a hit
		withCtx(8192, `{"type":"json_object","x":1}`),  // another num_ctx: a miss
	} {
		if _, err := e.gw.Complete(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Calls() != 2 {
		t.Fatalf("upstream calls %d, want 2 (num_ctx must be in the key, key order must not)", srv.Calls())
	}
	last, _ := srv.Last()
	if opt, _ := last.Body["options"].(map[string]any); opt["num_ctx"] != float64(8192) {
		t.Fatalf("provider parameter did not reach upstream: %v", last.Body)
	}
	temp := 0.5
	c := call(u, "same prompt")
	c.Request.Extra = map[string]any{"options": map[string]any{"num_ctx": 4096}}
	c.Request.ResponseFormat = json.RawMessage(`{"type":"json_object","x":1}`)
	c.Request.Temperature = &temp
	if r, _ := e.gw.Complete(t.Context(), c); r.Cached {
		t.Fatal("a different temperature was served from the cache")
	}
}

func TestCacheScope(t *testing.T) {
	for _, tc := range []struct {
		scope     string
		wantCalls int
	}{{gateway.ScopeUser, 2}, {gateway.ScopeGlobal, 1}} {
		t.Run(tc.scope, func(t *testing.T) {
			srv := llmtest.NewOpenAI(t, llmtest.Text("secret answer"))
			e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{CacheScope: tc.scope}})
			if _, err := e.gw.Complete(t.Context(), call(e.users[0], "q")); err != nil {
				t.Fatal(err)
			}
			r, err := e.gw.Complete(t.Context(), call(e.users[1], "q"))
			if err != nil {
				t.Fatal(err)
			}
			if srv.Calls() != tc.wantCalls || r.Cached != (tc.wantCalls == 1) {
				t.Fatalf("scope %s: upstream calls %d, cached %v", tc.scope, srv.Calls(), r.Cached)
			}
		})
	}
}

func collect(t *testing.T, gw *gateway.Gateway, c *gateway.Call) ([]llm.Chunk, *gateway.Result) {
	t.Helper()
	var chunks []llm.Chunk
	res, err := gw.Stream(t.Context(), c, func(ch llm.Chunk) error {
		chunks = append(chunks, ch)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return chunks, res
}

func TestStreamReplayEqualsOriginal(t *testing.T) {
	// The upstream sends each piece only once the first call has been handed the one
	// before, so each reaches it on its own (text read together would be one chunk)
	// and the stream replayed from the cache must keep three.
	seen := make(chan struct{}, 16)
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Chunks: []string{"func ", "main() ", "{}"}, Usage: &llmtest.Usage{PromptTokens: 20, CompletionTokens: 7},
			Pace: func(int) {
				select {
				case <-seen:
				case <-time.After(10 * time.Second):
				}
			}}
	})
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	u := e.users[0]
	var first []llm.Chunk
	r1, err := e.gw.Stream(t.Context(), call(u, "write main"), func(c llm.Chunk) error {
		first = append(first, c)
		seen <- struct{}{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	second, r2 := collect(t, e.gw, call(u, "write main"))
	if srv.Calls() != 1 || r1.Cached || !r2.Cached {
		t.Fatalf("calls %d, cached %v/%v", srv.Calls(), r1.Cached, r2.Cached)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(second)
	if string(a) != string(b) {
		t.Fatalf("replayed stream differs:\n%s\n%s", a, b)
	}
	var texts []string
	for _, c := range first {
		if c.Text != "" {
			texts = append(texts, c.Text)
		}
	}
	if !slices.Equal(texts, []string{"func ", "main() ", "{}"}) {
		t.Fatalf("streamed chunks %q", texts)
	}
	if first[len(first)-1].Usage == nil || first[len(first)-1].Usage.CompletionTokens != 7 {
		t.Fatalf("stream lacks final usage: %s", a)
	}
	if r1.CostUSD <= 0 || r1.Response.Text != "func main() {}" {
		t.Fatalf("streamed call: cost %v text %q", r1.CostUSD, r1.Response.Text)
	}
	// A non-streaming call for the same request is served from the streamed entry.
	r3, err := e.gw.Complete(t.Context(), call(u, "write main"))
	if err != nil || !r3.Cached || r3.Response.Text != "func main() {}" {
		t.Fatalf("complete after stream: %+v %v", r3, err)
	}
	st := e.stats(u)
	if st[0].CostUSD != r1.CostUSD || st[0].Misses != 1 || st[0].Hits != 2 {
		t.Fatalf("streamed cost not accounted: %+v", st)
	}
}

func TestCacheControl(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("x"))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	u := e.users[0]
	noStore := call(u, "p")
	noStore.NoStore = true
	mustComplete(t, e.gw, noStore)
	if r := mustComplete(t, e.gw, call(u, "p")); r.Cached {
		t.Fatal("no-store response was stored")
	}
	noCache := call(u, "p")
	noCache.NoCache = true
	if r := mustComplete(t, e.gw, noCache); r.Cached {
		t.Fatal("no-cache request was served from the cache")
	}
	if srv.Calls() != 3 {
		t.Fatalf("upstream calls %d, want 3", srv.Calls())
	}
	if r := mustComplete(t, e.gw, call(u, "p")); !r.Cached {
		t.Fatal("no-cache response was not stored")
	}
}

// TestInProcessCacheWrittenInline: a call nobody can join (no-cache) writes its answer
// to an in-process cache before it returns, not on a goroutine of its own (whose start
// woke an idle core on every such call); the entry is there when the caller hears back.
func TestInProcessCacheWrittenInline(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("x"))
	c, err := cache.NewMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cache: c})
	for i := range 20 {
		noCache := call(e.users[0], fmt.Sprintf("p%d", i))
		noCache.NoCache = true
		mustComplete(t, e.gw, noCache)
		if got := c.Stats().Sets; got != uint64(i+1) {
			t.Fatalf("after call %d returned: %d cache writes, want %d", i+1, got, i+1)
		}
	}
}

// TestCachedAnswersKeepTheirOwnBytes: entries are encoded in a reused buffer; every
// answer cached one after another is still its own when it is served.
func TestCachedAnswersKeepTheirOwnBytes(t *testing.T) {
	n := 0
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		n++
		return llmtest.Reply{Text: fmt.Sprintf("answer %d %s", n, strings.Repeat("x", n*97))}
	})
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	want := map[string]string{}
	for i := range 30 {
		p := fmt.Sprintf("prompt %d", i)
		want[p] = mustComplete(t, e.gw, call(e.users[0], p)).Response.Text
	}
	for p, text := range want {
		r := mustComplete(t, e.gw, call(e.users[0], p))
		if !r.Cached || r.Response.Text != text {
			t.Fatalf("%s: cached %v, %.20q…, want the cached %.20q…", p, r.Cached, r.Response.Text, text)
		}
	}
}

func mustComplete(t *testing.T, gw *gateway.Gateway, c *gateway.Call) *gateway.Result {
	t.Helper()
	r, err := gw.Complete(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOnlyCompleteSuccessesAreCached(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Sequence(
		llmtest.Reply{Status: 500, Error: "boom"},
		llmtest.Reply{Chunks: []string{"a", "b", "c", "d"}, DisconnectAfter: 2},
		reply("fine", 1, 1),
	))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{MaxAttempts: 1}})
	u := e.users[0]
	if _, err := e.gw.Complete(t.Context(), call(u, "q")); err == nil {
		t.Fatal("500 was a success")
	}
	var got []llm.Chunk
	_, err := e.gw.Stream(t.Context(), call(u, "q"), func(c llm.Chunk) error { got = append(got, c); return nil })
	var le *llm.Error
	if !errors.As(err, &le) || len(got) == 0 {
		t.Fatalf("mid-stream disconnect: err %v after %d chunks", err, len(got))
	}
	r := mustComplete(t, e.gw, call(u, "q"))
	if r.Cached || r.Response.Text != "fine" || srv.Calls() != 3 {
		t.Fatalf("a failed response was cached: %+v (calls %d)", r, srv.Calls())
	}
	st := e.stats(u)
	if st[0].Calls != 3 || st[0].Hits != 0 {
		t.Fatalf("failed calls must be accounted too: %+v", st)
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Chunks: []string{"one ", "two"}, Delay: 200 * time.Millisecond, Usage: &llmtest.Usage{PromptTokens: 5, CompletionTokens: 2}}
	})
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	u := e.users[0]
	var wg sync.WaitGroup
	texts := make([]string, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() {
			var r *gateway.Result
			if i%2 == 0 {
				r, errs[i] = e.gw.Complete(t.Context(), call(u, "same"))
			} else {
				var b []byte
				r, errs[i] = e.gw.Stream(t.Context(), call(u, "same"), func(c llm.Chunk) error { b = append(b, c.Text...); return nil })
				if errs[i] == nil && string(b) != r.Response.Text {
					errs[i] = fmt.Errorf("streamed %q, result %q", b, r.Response.Text)
				}
			}
			if r != nil {
				texts[i] = r.Response.Text
			}
		})
	}
	wg.Wait()
	for i := range 10 {
		if errs[i] != nil || texts[i] != "one two" {
			t.Fatalf("caller %d: %q %v", i, texts[i], errs[i])
		}
	}
	if srv.Calls() != 1 {
		t.Fatalf("10 identical concurrent calls made %d upstream calls, want 1", srv.Calls())
	}
}

func TestRequestRateLimit(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("ok"))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{RequestsPerMinute: 3}})
	for i := range 3 {
		r := mustComplete(t, e.gw, call(e.users[0], fmt.Sprint(i)))
		if r.RateLimit == nil || r.RateLimit.Remaining != 2-i {
			t.Fatalf("call %d rate limit state %+v", i, r.RateLimit)
		}
	}
	_, err := e.gw.Complete(t.Context(), call(e.users[0], "x"))
	var le *gateway.LimitError
	if !errors.As(err, &le) || le.Err.Status != http.StatusTooManyRequests || le.Limit == nil || le.Limit.RetryAfter <= 0 {
		t.Fatalf("4th call: %v", err)
	}
	if _, err := e.gw.Complete(t.Context(), call(e.users[1], "x")); err != nil {
		t.Fatalf("another user is limited too: %v", err)
	}
	// A user's own limit overrides the default.
	one := 1
	if err := e.store.SetUserLimits(t.Context(), &store.UserLimits{UserID: e.users[1], RequestsPerMinute: &one}); err != nil {
		t.Fatal(err)
	}
	e.gw.ForgetLimits(e.users[1])
	if _, err := e.gw.Complete(t.Context(), call(e.users[1], "y")); !errors.As(err, &le) {
		t.Fatalf("lowered per-user limit not applied: %v", err)
	}
}

func TestTokenRateLimit(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("ok"))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{TokensPerMinute: 250}})
	mustComplete(t, e.gw, call(e.users[0], "a")) // about 100 max + prompt
	mustComplete(t, e.gw, call(e.users[0], "b"))
	_, err := e.gw.Complete(t.Context(), call(e.users[0], "c"))
	var le *gateway.LimitError
	if !errors.As(err, &le) || le.Err.Status != http.StatusTooManyRequests {
		t.Fatalf("third call within a 250 tokens/min limit: %v", err)
	}
	huge := call(e.users[1], "x")
	huge.Request.MaxTokens = 10_000
	if _, err := e.gw.Complete(t.Context(), huge); !errors.As(err, &le) {
		t.Fatalf("a request larger than the whole limit was admitted: %v", err)
	}
}

// TestNoBudgetNoSettlement: without a budget a priced call settles nothing (its usage
// row records the spend) and logs nothing above info.
func TestNoBudgetNoSettlement(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply { return reply("fine", 1000, 500) })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, log: log})
	u := e.users[0]
	r := mustComplete(t, e.gw, call(u, "priced"))
	if r.CostUSD <= 0 {
		t.Fatalf("cost %v: the test needs a priced model", r.CostUSD)
	}
	spent, reserved, err := e.store.BudgetState(t.Context(), u, time.Now().UTC().Format("2006-01"))
	if err != nil || spent != 0 || reserved != 0 {
		t.Fatalf("budget period without a budget: spent %v reserved %v err %v", spent, reserved, err)
	}
	if st := e.stats(u); len(st) != 1 || st[0].CostUSD != r.CostUSD {
		t.Fatalf("usage stats %+v, want the call's cost %v", st, r.CostUSD)
	}
	if logs.Len() > 0 {
		t.Fatalf("logged for a call without a budget:\n%s", logs.String())
	}
}

func TestBudgetNeverOverspent(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Text: "done", Delay: 20 * time.Millisecond, Usage: &llmtest.Usage{PromptTokens: 50, CompletionTokens: 900}}
	})
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{MonthlyBudgetUSD: 0.01}})
	u := e.users[0]
	period := time.Now().UTC().Format("2006-01")
	// Nearly exhausted: $0.0085 of $0.01 already spent.
	if err := e.store.SettleBudget(t.Context(), u, period, 0, 0.0085); err != nil {
		t.Fatal(err)
	}
	ok, refused := budgetRace(t, e, u, 50, 1000)
	spent, reserved, err := e.store.BudgetState(t.Context(), u, period)
	if err != nil {
		t.Fatal(err)
	}
	if spent > 0.01+1e-9 || reserved > 1e-9 || reserved < -1e-9 {
		t.Fatalf("spent $%.6f of a $0.01 budget (reserved %.9f) after %d ok, %d refused", spent, reserved, ok, refused)
	}
	if ok == 0 || refused == 0 {
		t.Fatalf("expected some calls admitted and some refused: %d ok, %d refused", ok, refused)
	}
	if int(ok) != srv.Calls() {
		t.Fatalf("%d admitted but %d upstream calls", ok, srv.Calls())
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Sequence(
		llmtest.Reply{Status: 429, Error: "slow down", RetryAfter: "0"},
		llmtest.Reply{Status: 503, Error: "busy"},
		reply("third time lucky", 1, 1),
	))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	r := mustComplete(t, e.gw, call(e.users[0], "q"))
	if r.Response.Text != "third time lucky" || srv.Calls() != 3 || e.gw.Stats().Retries.Load() != 2 {
		t.Fatalf("retries: %+v, calls %d", r, srv.Calls())
	}
	// A client error is not retried.
	bad := llmtest.NewOpenAI(t, llmtest.Sequence(llmtest.Reply{Status: 400, Error: "bad request"}))
	e2 := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, bad.URL)}})
	_, err := e2.gw.Complete(t.Context(), call(e2.users[0], "q"))
	var le *llm.Error
	if !errors.As(err, &le) || le.Status != 400 || bad.Calls() != 1 {
		t.Fatalf("400: %v after %d calls", err, bad.Calls())
	}
}

func TestFallbackChain(t *testing.T) {
	down := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply { return llmtest.Reply{Status: 503, Error: "down"} })
	up := llmtest.NewAnthropic(t, func(llmtest.RecordedRequest) llmtest.Reply { return reply("from claude", 10, 5) })
	e := newEnv(t, opts{
		providers: []llm.Provider{openaiProvider(t, down.URL), anthropicProvider(t, up.URL)},
		cfg:       gateway.Config{MaxAttempts: 2, Fallbacks: map[string][]string{"openai/gpt-4o-mini": {"anthropic/claude-haiku-4-5"}}},
	})
	r := mustComplete(t, e.gw, call(e.users[0], "q"))
	if r.Provider != "anthropic" || r.Model != "claude-haiku-4-5" || r.Response.Text != "from claude" || down.Calls() != 2 || r.CostUSD <= 0 {
		t.Fatalf("fallback: %+v (primary calls %d)", r, down.Calls())
	}
}

// TestClientDisconnectCancelsUpstream: for a call others could join (run on its own
// goroutine) and for one nobody can (no-cache, run by the caller itself), streamed
// or not.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, mode := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		noCache, stream := mode[0], mode[1]
		t.Run(fmt.Sprintf("no-cache=%v,stream=%v", noCache, stream), func(t *testing.T) {
			started, cancelled := make(chan struct{}), make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The server notices a client hanging up only once it has read the body.
				_, _ = io.Copy(io.Discard, r.Body)
				close(started)
				<-r.Context().Done()
				close(cancelled)
			}))
			defer srv.Close()
			e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			c := call(e.users[0], "long")
			c.NoCache = noCache
			go func() {
				var err error
				if stream {
					_, err = e.gw.Stream(ctx, c, func(llm.Chunk) error { return nil })
				} else {
					_, err = e.gw.Complete(ctx, c)
				}
				errc <- err
			}()
			<-started
			cancel()
			if err := <-errc; err == nil {
				t.Fatal("cancelled call succeeded")
			}
			select {
			case <-cancelled:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream request was not cancelled when the client went away")
			}
		})
	}
}

// failingUsage fails the first n InsertUsage calls.
type failingUsage struct {
	*sqlite.Store
	n atomic.Int64
}

func (f *failingUsage) InsertUsage(ctx context.Context, rows []store.LLMUsage) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("database unavailable")
	}
	return f.Store.InsertUsage(ctx, rows)
}

func TestUsageWriteRetriedNotDropped(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("ok"))
	st := openStore(t)
	fu := &failingUsage{Store: st}
	fu.n.Store(2)
	e := newEnv(t, opts{st: st, usage: fu, providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	for i := range 5 {
		mustComplete(t, e.gw, call(e.users[0], fmt.Sprint(i)))
	}
	stats := e.stats(e.users[0])
	if len(stats) != 1 || stats[0].Calls != 5 {
		t.Fatalf("usage rows lost: %+v", stats)
	}
	if e.gw.UsageWriteFailures() != 2 {
		t.Fatalf("failures counted %d, want 2", e.gw.UsageWriteFailures())
	}
}

// brokenCache fails every operation, like a Redis that went away.
type brokenCache struct{}

func (brokenCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("connection refused")
}
func (brokenCache) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("connection refused")
}
func (brokenCache) Delete(context.Context, string) error { return errors.New("connection refused") }
func (brokenCache) Stats() cache.Stats                   { return cache.Stats{} }

type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, string, ratelimit.Limit, int) (ratelimit.Result, error) {
	return ratelimit.Result{}, errors.New("connection refused")
}

func TestBrokenCacheAndLimiterDegradeToUpstream(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("still works"))
	e := newEnv(t, opts{cache: brokenCache{}, limiter: brokenLimiter{}, providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	// Distinct prompts: an identical second call may join the first one's finished
	// flight while its (failing) cache write is still pending, which is by design.
	for i := range 2 {
		r := mustComplete(t, e.gw, call(e.users[0], fmt.Sprintf("q%d", i)))
		if r.Cached || r.Response.Text != "still works" {
			t.Fatalf("%+v", r)
		}
	}
	if srv.Calls() != 2 || e.gw.Stats().CacheErrors.Load() < 2 || e.gw.Stats().LimiterErrors.Load() < 2 {
		t.Fatalf("calls %d, cache errors %d, limiter errors %d", srv.Calls(), e.gw.Stats().CacheErrors.Load(), e.gw.Stats().LimiterErrors.Load())
	}
}

// TestThreeGatewaysShareRedis stands in for three gateway processes: each has its own
// Redis connection; the 20/minute limit admits exactly 20 of their 60 calls, and a
// response cached by one is a hit on the others.
func TestThreeGatewaysShareRedis(t *testing.T) {
	prefix := testutil.RedisPrefix(t)
	srv := llmtest.NewOpenAI(t, llmtest.Text("shared"))
	st := openStore(t)
	var gws []*env
	for range 3 {
		rdb := testutil.RedisClient(t)
		gws = append(gws, newEnv(t, opts{st: st, providers: []llm.Provider{openaiProvider(t, srv.URL)},
			cache:   cache.NewRedis(rdb, prefix+"c:"),
			limiter: ratelimit.NewRedis(rdb, prefix+"rl:"),
			cfg:     gateway.Config{RequestsPerMinute: 20, CacheScope: gateway.ScopeGlobal}}))
	}
	user := gws[0].users[0]
	var admitted, limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			_, err := gws[i%3].gw.Complete(context.Background(), call(user, fmt.Sprint("p", i%7)))
			var le *gateway.LimitError
			switch {
			case err == nil:
				admitted.Add(1)
			case errors.As(err, &le):
				limited.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 20 || limited.Load() != 40 {
		t.Fatalf("admitted %d, limited %d; want exactly 20 and 40", admitted.Load(), limited.Load())
	}
	u2 := gws[0].users[1]
	mustComplete(t, gws[0].gw, call(u2, "cross-process"))
	// The caller hears back before the cache write lands (run): closing the first
	// gateway waits for it, as another process would find it a moment later.
	gws[0].gw.Close()
	if r := mustComplete(t, gws[2].gw, call(u2, "cross-process")); !r.Cached {
		t.Fatal("a response cached through one gateway missed on another sharing Redis")
	}
}

// TestUsageRetriedWithoutNewCalls: a batch that failed a few times is kept and written
// later on its own, without waiting for more calls or for shutdown.
func TestUsageRetriedWithoutNewCalls(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("ok"))
	st := openStore(t)
	fu := &failingUsage{Store: st}
	fu.n.Store(3) // the flush gives up for now after three attempts
	e := newEnv(t, opts{st: st, usage: fu, providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	mustComplete(t, e.gw, call(e.users[0], "one"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := st.UsageStats(t.Context(), e.users[0], time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].Calls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed row was not written while the gateway stayed open (%d failures)", e.gw.UsageWriteFailures())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.gw.UsageWriteFailures(); n != 3 {
		t.Fatalf("failures counted %d, want 3", n)
	}
}

// TestStreamingFollowerReleasesReservation: a streaming request that joins a shared,
// non-streamed call and whose client fails while the answer is replayed to it still
// releases its budget reservation.
func TestStreamingFollowerReleasesReservation(t *testing.T) {
	entered := make(chan struct{}, 1)
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		entered <- struct{}{}
		return llmtest.Reply{Text: "done", Delay: 300 * time.Millisecond, Usage: &llmtest.Usage{PromptTokens: 5, CompletionTokens: 5}}
	})
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{MonthlyBudgetUSD: 10}})
	u := e.users[0]
	done := make(chan error, 1)
	go func() { _, err := e.gw.Complete(context.Background(), call(u, "same")); done <- err }()
	<-entered // the leader's call is upstream: the next identical call joins it
	boom := errors.New("client went away")
	if _, err := e.gw.Stream(context.Background(), call(u, "same"), func(llm.Chunk) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("follower: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.gw.Close()
	_, reserved, err := e.store.BudgetState(t.Context(), u, time.Now().UTC().Format("2006-01"))
	if err != nil {
		t.Fatal(err)
	}
	if reserved > 1e-9 {
		t.Fatalf("reservation leaked: %.6f still reserved after every call ended", reserved)
	}
	if srv.Calls() != 1 {
		t.Fatalf("%d upstream calls: the follower did not join", srv.Calls())
	}
}

// TestUsageRowOfADeletedProject: a call whose project is deleted before its usage row
// is written does not poison the batch: its row is kept without the project, and the
// rows around it are written as usual.
func TestUsageRowOfADeletedProject(t *testing.T) {
	srv := llmtest.NewOpenAI(t, llmtest.Text("hi"))
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}})
	u := e.users[0]
	p := &store.Project{UserID: u, Name: "p", RepoURL: "/tmp/x", DefaultBranch: "main"}
	if err := e.store.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteProject(t.Context(), u, p.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c := call(u, fmt.Sprint("call ", i))
		if i == 2 {
			c.ProjectID = &p.ID
		}
		mustComplete(t, e.gw, c)
	}
	st := e.stats(u) // closes the gateway: every row written or given up
	if len(st) != 1 || st[0].Calls != 5 {
		t.Fatalf("usage stats %+v, want the 5 calls", st)
	}
}
