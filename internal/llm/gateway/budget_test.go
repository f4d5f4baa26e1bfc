package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
)

// maxTokensSent is the completion bound a request carried upstream.
func maxTokensSent(r llmtest.RecordedRequest) int {
	for _, k := range []string{"max_completion_tokens", "max_tokens"} {
		if v, ok := r.Body[k].(float64); ok {
			return int(v)
		}
	}
	return 0
}

func miniPrice(t *testing.T) pricing.Price {
	t.Helper()
	table, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	_, p, ok := table.Lookup("openai", "gpt-4o-mini")
	if !ok {
		t.Fatal("gpt-4o-mini is not in the price table")
	}
	return p
}

// TestBudgetCapsUnboundedRequests: a request that names no max_tokens, when the rest
// of the budget cannot pay for the default bound, is sent upstream with the bound the
// budget can pay for, instead of being refused; its answer is not cached under the
// full request's key.
func TestBudgetCapsUnboundedRequests(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply { return reply("short", 10, 50) })
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{MonthlyBudgetUSD: 0.01}})
	u := e.users[0]
	period := time.Now().UTC().Format("2006-01")
	p := miniPrice(t)
	prompt := "hello"
	promptMax := len(prompt) + 8 // the gateway's upper bound for one message
	perToken := p.Cost(promptMax, 1, 0) - p.Cost(promptMax, 0, 0)
	left := p.Cost(promptMax, 0, 0) + 1000.5*perToken // pays for 1,000 completion tokens, not 4,096
	if err := e.store.SettleBudget(t.Context(), u, period, 0, 0.01-left); err != nil {
		t.Fatal(err)
	}
	c := call(u, prompt)
	c.Request.MaxTokens = 0
	if _, err := e.gw.Complete(t.Context(), c); err != nil {
		t.Fatalf("a request the budget can pay for, bounded, was refused: %v", err)
	}
	req, _ := srv.Last()
	if got := maxTokensSent(req); got < 990 || got > 1000 {
		t.Fatalf("sent upstream with max tokens %d, want the 1,000 the budget pays for", got)
	}
	c = call(u, prompt)
	c.Request.MaxTokens = 0
	if r, err := e.gw.Complete(t.Context(), c); err == nil && r.Cached {
		t.Fatal("an answer cut short by the budget was cached for the unbounded request")
	}
	_, reserved, err := e.store.BudgetState(t.Context(), u, period)
	if err != nil || math.Abs(reserved) > 1e-9 {
		t.Fatalf("reserved %v after the calls (err %v)", reserved, err)
	}
}

// budgetRace sends n calls of user at once, each with distinct prompt and maxTokens,
// and counts those answered and those refused with 402; any other error fails the test.
func budgetRace(t *testing.T, e *env, user uuid.UUID, n, maxTokens int) (ok, refused int64) {
	t.Helper()
	var okN, refusedN atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := call(user, fmt.Sprintf("distinct prompt %d", i))
			c.Request.MaxTokens = maxTokens
			_, err := e.gw.Complete(context.Background(), c)
			var le *gateway.LimitError
			switch {
			case err == nil:
				okN.Add(1)
			case errors.As(err, &le) && le.Err.Status == http.StatusPaymentRequired:
				refusedN.Add(1)
			default:
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return okN.Load(), refusedN.Load()
}

// TestBudgetOverReportingUpstream: 50 concurrent unbounded requests against a nearly
// spent budget, with an upstream that reports far more usage than any request could
// have (a hidden prompt). Every admitted call's true cost is recorded, each overrun is
// counted, nothing stays reserved, and once the month is over budget the next call is
// refused with a message that says so, in sub-cent precision.
func TestBudgetOverReportingUpstream(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Text: "done", Delay: 10 * time.Millisecond, Usage: &llmtest.Usage{PromptTokens: 20000, CompletionTokens: 3000}}
	})
	const budget = 0.01
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{MonthlyBudgetUSD: budget}})
	u := e.users[0]
	period := time.Now().UTC().Format("2006-01")
	if err := e.store.SettleBudget(t.Context(), u, period, 0, 0.0085); err != nil {
		t.Fatal(err)
	}
	trueCost := miniPrice(t).Cost(20000, 3000, 0)
	ok, refused := budgetRace(t, e, u, 50, 0)
	if ok == 0 || refused == 0 || int(ok) != srv.Calls() {
		t.Fatalf("%d admitted, %d refused, %d upstream calls", ok, refused, srv.Calls())
	}
	for _, r := range srv.Requests() {
		if n := maxTokensSent(r); n <= 0 || n > 4096 {
			t.Errorf("an unbounded request went upstream with max tokens %d", n)
		}
	}
	spent, reserved, err := e.store.BudgetState(t.Context(), u, period)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.0085 + float64(ok)*trueCost; math.Abs(spent-want) > 1e-9 || math.Abs(reserved) > 1e-9 {
		t.Fatalf("spent %.9f reserved %.9f, want the true cost %.9f and nothing reserved", spent, reserved, want)
	}
	if n := e.gw.Stats().BudgetOverruns.Load(); n != ok {
		t.Errorf("%d overruns counted, want %d", n, ok)
	}
	// Over budget now: every call is refused until the budget is raised or the month ends.
	_, err = e.gw.Complete(t.Context(), call(u, "one more"))
	var le *gateway.LimitError
	if !errors.As(err, &le) || le.Err.Status != http.StatusPaymentRequired || !strings.Contains(le.Err.Message, "is spent") {
		t.Fatalf("after the overrun: %v, want 402 saying the budget is spent", err)
	}
	if !strings.Contains(le.Err.Message, "$0.01 ") && !strings.Contains(le.Err.Message, "$0.01 is") {
		t.Errorf("402 message %q does not name the $0.01 budget", le.Err.Message)
	}
	stats := e.stats(u)
	var rows float64
	for _, s := range stats {
		rows += s.CostUSD
	}
	if math.Abs(rows-float64(ok)*trueCost) > 1e-9 {
		t.Errorf("usage rows cost %.9f, want %.9f", rows, float64(ok)*trueCost)
	}
}

// TestBudgetSubCentMessage: a $0.001 budget is shown as $0.001 in the 402, not $0.00.
func TestBudgetSubCentMessage(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply { return reply("x", 1, 1) })
	e := newEnv(t, opts{providers: []llm.Provider{openaiProvider(t, srv.URL)}, cfg: gateway.Config{MonthlyBudgetUSD: 0.001}})
	c := call(e.users[0], "hi")
	c.Request.MaxTokens = 100000
	_, err := e.gw.Complete(t.Context(), c)
	var le *gateway.LimitError
	if !errors.As(err, &le) || le.Err.Status != http.StatusPaymentRequired {
		t.Fatalf("%v, want 402", err)
	}
	if !strings.Contains(le.Err.Message, "budget of $0.001") {
		t.Fatalf("402 message %q does not show the $0.001 budget", le.Err.Message)
	}
}
