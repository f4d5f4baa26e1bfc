package gateway

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm"
)

// TestAppendCanonical holds the hand-written canonical encoding to json.Marshal of
// canonical: the cache keys stay what they were.
func TestAppendCanonical(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	seed := int64(-42)
	var reqs []llm.Request
	for _, temp := range []*float64{nil, f(0), f(0.7), f(1), f(2), f(1e-7), f(123456789e15), f(math.Copysign(0, -1)), f(0.1 + 0.2), f(1e21), f(3.5e-6)} {
		reqs = append(reqs, llm.Request{Model: "gpt-4o-mini", Temperature: temp, TopP: temp,
			Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	}
	for _, text := range []string{"", "plain", "<b>\"q\" & 'a'</b>\n\t\\", "\u2028\u2029", "\x00\x1f\x7f", "\xff\xfe", "é🦫", "a\xe2\x80"} {
		reqs = append(reqs, llm.Request{Model: text, MaxTokens: 512, Stop: []string{text, "END"}, Seed: &seed,
			Messages: []llm.Message{{Role: "system", Content: text}, {Role: "tool", Content: text, ToolCallID: "call_" + text}}})
	}
	reqs = append(reqs, llm.Request{}, llm.Request{Stop: []string{}, Messages: []llm.Message{}})
	for i, req := range reqs {
		got, ok := appendCanonical(nil, "u:"+req.Model, "openai", &req)
		if !ok {
			t.Fatalf("request %d: declined", i)
		}
		c := canonical{V: 1, Scope: "u:" + req.Model, Provider: "openai", Model: req.Model, MaxTokens: req.MaxTokens,
			Temperature: req.Temperature, TopP: req.TopP, Stop: req.Stop, Seed: req.Seed, Messages: make([]llm.Message, len(req.Messages))}
		copy(c.Messages, req.Messages)
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("request %d:\n got %s\nwant %s", i, got, want)
		}
	}
	for _, req := range []llm.Request{
		{Messages: []llm.Message{{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"c"}]`)}}},
		{Tools: json.RawMessage(`[]`)}, {ResponseFormat: json.RawMessage(`{"type":"json_object"}`)},
		{Extra: map[string]any{"top_k": 40}}, {Temperature: f(math.NaN())},
	} {
		if _, ok := appendCanonical(nil, "global", "openai", &req); ok {
			t.Errorf("%+v: accepted", req)
		}
	}
}
