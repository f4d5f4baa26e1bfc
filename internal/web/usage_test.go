package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// TestUsagePage: spend by day is drawn as inline SVG from the user's own usage rows,
// and another user's spend is not on it.
func TestUsagePage(t *testing.T) {
	a, srv := newAppServer(t)

	b := newBrowser(t, srv)
	b.signup("usage@example.com")
	me := b.api("GET", "/api/v1/me", nil)
	uid := uuid.MustParse(me["id"].(string))
	other, err := a.Auth.Signup(t.Context(), "rich@example.com", "", "a long password", false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := a.Store.InsertUsage(t.Context(), []store.LLMUsage{
		{UserID: uid, Provider: "openai", Model: "gpt-4o-mini", PromptTokens: 100, CompletionTokens: 50, CostUSD: 0.5, CreatedAt: now.Add(-48 * time.Hour)},
		{UserID: uid, Provider: "openai", Model: "gpt-4o-mini", PromptTokens: 100, CompletionTokens: 50, CacheHit: true, CostSavedUSD: 0.5, CreatedAt: now},
		{UserID: uid, Provider: "anthropic", Model: "claude-haiku", PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.25, CreatedAt: now},
		{UserID: other.ID, Provider: "anthropic", Model: "claude-opus-4-1", CostUSD: 99, CreatedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	p := b.get("/usage")
	wantStatus(t, p, 200, "usage page")
	for _, want := range []string{"<svg", "openai/gpt-4o-mini", "$0.5000", "33.3 %"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("usage page lacks %q", want)
		}
	}
	// Spend by model is a chart too: one bar per model, as long as its share.
	_, chart, _ := strings.Cut(p.body, `<svg id="models-chart"`)
	chart, _, _ = strings.Cut(chart, "</svg>")
	for _, want := range []string{"<title>openai/gpt-4o-mini: $0.5000</title>", "<title>anthropic/claude-haiku: $0.2500</title>",
		`width="290.0"`, `width="145.0"`} {
		if !strings.Contains(chart, want) {
			t.Errorf("spend-by-model chart lacks %q:\n%s", want, chart)
		}
	}
	if strings.Contains(p.body, "claude-opus") || strings.Contains(p.body, "99.0000") {
		t.Error("another user's spend is on the page")
	}
	if len(p.body) > 100<<10 {
		t.Errorf("usage page is %d bytes", len(p.body))
	}
	signedOut := newBrowser(t, srv).get("/usage")
	if signedOut.status != 303 {
		t.Errorf("signed out: %d", signedOut.status)
	}
}
