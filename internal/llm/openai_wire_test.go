package llm

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// TestOpenAIWireMatchesSDK sends each request twice to a local OpenAI-format server:
// once through Stream, whose body openai-go builds from params, and once through
// Complete, whose body appendChatBody builds. Apart from the streaming fields the two
// bodies must be the same JSON, for every provider kind.
func TestOpenAIWireMatchesSDK(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	seed := int64(-42)
	tools := json.RawMessage(`[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`)
	calls := json.RawMessage(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]`)
	requests := map[string]*Request{
		"minimal": {Model: "gpt-4o-mini", Messages: []Message{{Role: RoleUser, Content: "hi"}}},
		"every field": {Model: "gpt-4o", MaxTokens: 77, Temperature: f(0), TopP: f(0.25), Seed: &seed, Stop: []string{"END", "</s>"},
			ResponseFormat: json.RawMessage(`{"type":"json_object"}`), Tools: tools,
			Messages: []Message{
				{Role: RoleSystem, Content: "be brief"},
				{Role: RoleDeveloper, Content: "use Go"},
				{Role: RoleUser, Content: "weather?"},
				{Role: RoleAssistant, ToolCalls: calls},
				{Role: RoleTool, Content: `{"temp": 3}`, ToolCallID: "call_1"},
				{Role: RoleAssistant, Content: "3 degrees", ToolCalls: calls},
				{Role: RoleAssistant, Content: "plain"},
			}},
		"awkward text": {Model: "m", Temperature: f(1.7), Messages: []Message{{Role: RoleUser,
			Content: "quotes \" back\\slash <html> & \u2028 \u2029 \x00\x1f tab\t nl\n cr\r émoji 🦫 bad \xff\xfe end"}}},
		"extra replaces and adds": {Model: "m", MaxTokens: 9, Temperature: f(0.5), Stop: []string{"x"},
			Extra: map[string]any{"options": map[string]any{"num_ctx": 8192}, "temperature": 0.9, "max_tokens": 3,
				"max_completion_tokens": 4, "stop": nil, "weird.key*": true},
			Messages: []Message{{Role: RoleUser, Content: "hi"}}},
	}
	kinds := map[string]func(ProviderConfig) (Provider, error){"openai": NewOpenAI, "xai": NewXAI,
		"compatible": func(c ProviderConfig) (Provider, error) { c.Name = "ollama"; return NewOpenAICompatible(c) }}
	for kind, newProvider := range kinds {
		for name, req := range requests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				srv := llmtest.NewOpenAI(t, nil)
				p, err := newProvider(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Stream(context.Background(), req, func(Chunk) error { return nil }); err != nil {
					t.Fatalf("stream: %v", err)
				}
				sdk, _ := srv.Last()
				if _, err := p.Complete(context.Background(), req); err != nil {
					t.Fatalf("complete: %v", err)
				}
				ours, _ := srv.Last()
				want := map[string]any{}
				if err := json.Unmarshal(sdk.RawBody, &want); err != nil {
					t.Fatal(err)
				}
				delete(want, "stream")
				delete(want, "stream_options")
				var got map[string]any
				if err := json.Unmarshal(ours.RawBody, &got); err != nil {
					t.Fatalf("our body is not JSON: %v\n%s", err, ours.RawBody)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("bodies differ\nours: %s\nsdk:  %s", ours.RawBody, sdk.RawBody)
				}
				if ours.Header.Get("Authorization") != sdk.Header.Get("Authorization") || ours.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers differ: %v vs %v", ours.Header, sdk.Header)
				}
			})
		}
	}
}

// FuzzAppendJSONString checks the string encoder against encoding/json: the same
// bytes for any input, valid UTF-8 or not.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\<>&", "\u2028\u2029", "\x00\x1f\x7f", "\xff", "é🦫", "a\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
