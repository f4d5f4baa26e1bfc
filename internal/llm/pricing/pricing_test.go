package pricing

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, override string) *Table {
	t.Helper()
	path := ""
	if override != "" {
		path = filepath.Join(t.TempDir(), "prices.json")
		if err := os.WriteFile(path, []byte(override), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tbl, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestEmbeddedTable(t *testing.T) {
	tbl := load(t, "")
	if tbl.AsOf() == "" {
		t.Fatal("embedded table has no as_of date")
	}
	// Every model the gateway is expected to price is in the table.
	for _, key := range []string{
		"openai/gpt-4o", "openai/gpt-4o-mini", "openai/gpt-4.1", "openai/gpt-4.1-mini", "openai/o4-mini",
		"openai/gpt-5", "openai/gpt-5-mini", "openai/text-embedding-3-small", "openai/text-embedding-3-large",
		"anthropic/claude-opus-4-1", "anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5", "anthropic/claude-3-5-haiku",
		"google/gemini-2.5-pro", "google/gemini-2.5-flash", "google/gemini-2.5-flash-lite",
		"google/text-embedding-004", "google/gemini-embedding-001",
		"xai/grok-4", "xai/grok-3", "xai/grok-3-mini",
	} {
		provider, model, _ := strings.Cut(key, "/")
		got, p, ok := tbl.Lookup(provider, model)
		if !ok || got != key {
			t.Errorf("Lookup(%s) = %q, %v", key, got, ok)
			continue
		}
		if p.CachedInput > p.Input {
			t.Errorf("%s: cached input %v dearer than input %v", key, p.CachedInput, p.Input)
		}
	}
}

func TestCost(t *testing.T) {
	tbl := load(t, "")
	tests := []struct {
		name                       string
		provider, model            string
		prompt, completion, cached int
		want                       float64
		priced                     bool
	}{
		{"gpt-4o", "openai", "gpt-4o", 1_000_000, 1_000_000, 0, 2.50 + 10.00, true},
		{"cached subset of prompt", "openai", "gpt-4o", 1000, 500, 400, (600*2.50 + 400*1.25 + 500*10.00) / 1e6, true},
		{"all cached", "anthropic", "claude-sonnet-4-5", 10_000, 0, 10_000, 10_000 * 0.30 / 1e6, true},
		{"cached more than prompt is clamped", "openai", "gpt-4o-mini", 100, 0, 500, 100 * 0.075 / 1e6, true},
		{"negative counts are 0", "openai", "gpt-4o-mini", -5, -5, -5, 0, true},
		{"embedding", "openai", "text-embedding-3-small", 2_000_000, 0, 0, 0.04, true},
		{"long context tier", "google", "gemini-2.5-pro", 300_000, 1000, 100_000, (200_000*2.50 + 100_000*0.25 + 1000*15.00) / 1e6, true},
		{"at the threshold stays short", "google", "gemini-2.5-pro", 200_000, 1000, 0, (200_000*1.25 + 1000*10.00) / 1e6, true},
		{"sonnet long context", "anthropic", "claude-sonnet-4-5-20250929", 250_000, 2000, 0, (250_000*6.00 + 2000*22.50) / 1e6, true},
		{"no cached rate bills cached as input", "openai", "gpt-5-pro", 1000, 0, 1000, 1000 * 15.00 / 1e6, true},
		{"free but priced", "google", "text-embedding-004", 1000, 0, 0, 0, true},
		{"ollama is unpriced", "ollama", "llama3.1:8b", 1000, 1000, 0, 0, false},
		{"unknown model is unpriced", "openai", "gpt-7-turbo", 1000, 1000, 0, 0, false},
		{"unknown provider is unpriced", "vllm", "gpt-4o", 1000, 1000, 0, 0, false},
		{"zero tokens", "openai", "gpt-4o", 0, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, priced := tbl.Cost(tt.provider, tt.model, tt.prompt, tt.completion, tt.cached)
			if priced != tt.priced || !near(got, tt.want) {
				t.Fatalf("Cost = %v, %v; want %v, %v", got, priced, tt.want, tt.priced)
			}
		})
	}
}

func TestLookupPrefix(t *testing.T) {
	tbl := load(t, "")
	tests := []struct {
		provider, model string
		want            string // "" = not found
	}{
		{"openai", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"},
		{"openai", "gpt-4o-2024-08-06", "openai/gpt-4o"},
		{"openai", "gpt-4.1-mini-2025-04-14", "openai/gpt-4.1-mini"},
		{"openai", "gpt-4.1-2025-04-14", "openai/gpt-4.1"},
		{"openai", "gpt-5-mini-2025-08-07", "openai/gpt-5-mini"},
		{"openai", "gpt-5-2025-08-07", "openai/gpt-5"},
		{"openai", "o4-mini-2025-04-16", "openai/o4-mini"},
		{"openai", "GPT-4o", "openai/gpt-4o"},         // case
		{"OpenAI", "openai/gpt-4o", "openai/gpt-4o"},  // provider repeated in the model
		{"openai", "gpt-4", ""},                       // a prefix of an entry is not a match
		{"openai", "gpt-4o1", ""},                     // no boundary after the prefix
		{"openai", "gpt-5.1-codex", "openai/gpt-5.1"}, // longest wins over gpt-5
		{"anthropic", "claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"},
		{"anthropic", "claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"},
		{"anthropic", "claude-opus-4-1-20250805", "anthropic/claude-opus-4-1"},
		{"anthropic", "claude-opus-4-20250514", "anthropic/claude-opus-4"},
		{"anthropic", "claude-haiku-4-5@20251001", "anthropic/claude-haiku-4-5"}, // Vertex style
		{"anthropic", "claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku"},
		{"google", "models/gemini-2.5-flash", "google/gemini-2.5-flash"},
		{"google", "gemini-2.5-flash-lite-preview-09-2025", "google/gemini-2.5-flash-lite"},
		{"google", "gemini-2.5-flash-preview-09-2025", "google/gemini-2.5-flash"},
		{"xai", "grok-4-0709", "xai/grok-4"},
		{"xai", "grok-4-fast-reasoning", "xai/grok-4-fast"},
		{"xai", "grok-3-mini-latest", "xai/grok-3-mini"},
		{"xai", "grok-3-latest", "xai/grok-3"},
		{"ollama", "qwen2.5-coder:7b", ""},
	}
	for _, tt := range tests {
		key, _, ok := tbl.Lookup(tt.provider, tt.model)
		if key != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%s, %s) = %q, %v; want %q", tt.provider, tt.model, key, ok, tt.want)
		}
	}
}

func TestOverrideFile(t *testing.T) {
	base := load(t, "")
	tbl := load(t, `{
		"as_of": "2030-01-02",
		"models": {
			"openai/gpt-4o": {"input": 1, "output": 2},
			"ollama/llama3.1": {"input": 0.01, "output": 0.02, "cached_input": 0},
			"Acme/Model-X": {"input": 3, "output": 4, "long_context": {"above": 10, "input": 30, "output": 40}}
		}
	}`)
	if tbl.AsOf() != "2030-01-02" {
		t.Errorf("AsOf = %q", tbl.AsOf())
	}
	if tbl.Len() != base.Len()+2 {
		t.Errorf("Len = %d, want %d (embedded + 2 new)", tbl.Len(), base.Len()+2)
	}

	// A replaced entry is replaced whole: cached_input defaults to the new input rate.
	if got, _ := tbl.Cost("openai", "gpt-4o", 1_000_000, 1_000_000, 500_000); !near(got, 3) {
		t.Errorf("overridden gpt-4o cost = %v, want 3", got)
	}
	// Dated variants follow the override too.
	if got, _ := tbl.Cost("openai", "gpt-4o-2024-08-06", 1_000_000, 0, 0); !near(got, 1) {
		t.Errorf("overridden gpt-4o dated variant = %v, want 1", got)
	}
	// Untouched entries keep their embedded price.
	want, _ := base.Cost("openai", "gpt-4o-mini", 1000, 1000, 0)
	if got, _ := tbl.Cost("openai", "gpt-4o-mini", 1000, 1000, 0); !near(got, want) {
		t.Errorf("gpt-4o-mini changed by an unrelated override: %v != %v", got, want)
	}
	// An operator can price a local model.
	if got, priced := tbl.Cost("ollama", "llama3.1:8b", 1_000_000, 1_000_000, 0); !priced || !near(got, 0.03) {
		t.Errorf("ollama override = %v, %v", got, priced)
	}
	// Keys ignore case; the long context tier's cached rate defaults to its input rate.
	if got, _ := tbl.Cost("acme", "model-x", 20, 0, 10); !near(got, 20*30/1e6) {
		t.Errorf("acme long context = %v", got)
	}

	// The embedded table is not changed by an override loaded earlier.
	if again := load(t, ""); again.Len() != base.Len() {
		t.Error("override leaked into the embedded table")
	}
}

func TestBadFile(t *testing.T) {
	tests := []struct {
		name, file, wantErr string
	}{
		{"not JSON", `{"models": `, "invalid JSON"},
		{"unknown top-level field", `{"modles": {}}`, `unknown field "modles"`},
		{"unknown model field", `{"models": {"a/b": {"input": 1, "output": 1, "inptu": 2}}}`, `unknown field "inptu"`},
		{"negative price", `{"models": {"a/b": {"input": -1, "output": 1}}}`, `model "a/b": input price must be a non-negative`},
		{"negative cached", `{"models": {"a/b": {"input": 1, "output": 1, "cached_input": -0.5}}}`, "cached_input price must be"},
		{"negative long context", `{"models": {"a/b": {"input": 1, "output": 1, "long_context": {"above": 5, "input": 1, "output": -2}}}}`, "long_context: output price"},
		{"long context without threshold", `{"models": {"a/b": {"input": 1, "output": 1, "long_context": {"input": 1, "output": 2}}}}`, "long_context.above"},
		{"missing input", `{"models": {"a/b": {"output": 1}}}`, `missing "input"`},
		{"missing output", `{"models": {"a/b": {"input": 1}}}`, `missing "output"`},
		{"price as string", `{"models": {"a/b": {"input": "1", "output": 1}}}`, "invalid JSON"},
		{"key without provider", `{"models": {"gpt-4o": {"input": 1, "output": 1}}}`, `"provider/model"`},
		{"null entry", `{"models": {"a/b": null}}`, "null"},
		{"duplicate by case", `{"models": {"a/b": {"input": 1, "output": 1}, "A/B": {"input": 1, "output": 1}}}`, "listed twice"},
		{"no models", `{"as_of": "2030-01-01"}`, `missing "models"`},
		{"trailing data", `{"models": {}} {}`, "after the top-level object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "prices.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v; want it to mention %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}

	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("missing file: want an error")
	}
}

func TestContextWindow(t *testing.T) {
	for model, want := range map[string]int{
		"gpt-4o-mini":                        128000,
		"openai/gpt-4o-mini-2024-07-18":      128000,
		"anthropic/claude-sonnet-4-5@202509": 200000,
		"models/gemini-2.5-flash":            1048576,
		"GPT-4.1":                            1047576,
		"vllm/meta-llama/Llama-3.1-8B":       DefaultContextWindow,
		"":                                   DefaultContextWindow,
		"gpt-4omni":                          DefaultContextWindow, // not a variant of gpt-4o
	} {
		if got := ContextWindow(model); got != want {
			t.Errorf("ContextWindow(%q) = %d, want %d", model, got, want)
		}
	}
}
