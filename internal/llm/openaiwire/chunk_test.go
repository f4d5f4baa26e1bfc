package openaiwire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDecodeStreamChunk(t *testing.T) {
	usage := NewUsage(9, 2, 1, 0)
	for _, tc := range []struct {
		name, data string
		want       *StreamChunk
	}{
		{"text", `{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}`,
			&StreamChunk{ID: "c1", Model: "m", Deltas: []StreamDelta{{Content: "Hel"}}}},
		{"finish and other choices", `{"choices":[{"index":1,"delta":{"content":"x"}},{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			&StreamChunk{Deltas: []StreamDelta{{FinishReason: "stop"}}}},
		{"tool calls", `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}`,
			&StreamChunk{Deltas: []StreamDelta{{ToolCalls: json.RawMessage(`[{"index":0,"function":{"arguments":"{\"a\""}}]`)}}}},
		{"empty tool calls", `{"choices":[{"index":0,"delta":{"tool_calls":[]}}]}`, &StreamChunk{Deltas: []StreamDelta{{}}}},
		{"usage", `{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":"2","prompt_tokens_details":{"cached_tokens":1}}}`,
			&StreamChunk{Usage: &Usage{PromptTokens: 9, CompletionTokens: 2, PromptTokensDetails: usage.PromptTokensDetails}}},
		{"null usage, wrong types read as absent", `{"id":5,"usage":null,"choices":[{"index":0,"delta":{"content":7},"finish_reason":1}]}`,
			&StreamChunk{Deltas: []StreamDelta{{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeStreamChunk([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`{"choices":[`, `[]`, `"x"`} {
		if _, err := DecodeStreamChunk([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
