package openaiwire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"unsafe"
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
		{"error", `{"error":{"message":"overloaded","type":"server_error"}}`,
			&StreamChunk{Error: `{"message":"overloaded","type":"server_error"}`, HasError: true}},
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

func TestAppendChunk(t *testing.T) {
	stop, empty := "stop", ""
	var chunks []ChatCompletionChunk
	for i, text := range append(slices.Clone(chatEncodingCases), "") {
		d := Delta{Content: &text}
		if i%2 == 0 {
			d.Role = RoleAssistant
		}
		chunks = append(chunks, NewChunk(fmt.Sprintf("chatcmpl-%d<&>", i), int64(i)*1000003, "openai/gpt-4o-mini\u2028", d, nil))
	}
	chunks = append(chunks,
		NewChunk("c", 1, "m", Delta{Role: RoleAssistant}, nil),
		NewChunk("c", 1, "m", Delta{}, &stop),
		NewChunk("c", 1, "m", Delta{Content: &empty}, &empty),
		NewUsageChunk("c", 1, "m", NewUsage(96, 220, 7, 0)))
	for _, c := range chunks {
		got, ok := c.AppendJSON(nil)
		want, err := json.Marshal(&c)
		if err != nil || !ok || string(got) != string(want) {
			t.Errorf("AppendJSON = %s, %v; encoding/json: %s, %v", got, ok, want, err)
		}
	}
	tools := NewChunk("c", 1, "m", Delta{ToolCalls: json.RawMessage(`[{"index":0}]`)}, nil)
	two := NewChunk("c", 1, "m", Delta{}, nil)
	two.Choices = append(two.Choices, two.Choices[0])
	for _, c := range []ChatCompletionChunk{tools, two, {Object: "chat.completion.chunk"}} {
		if b, ok := c.AppendJSON(nil); ok || len(b) != 0 {
			t.Errorf("%+v: AppendJSON = %s, %v; want it to decline", c, b, ok)
		}
	}
}

// TestStreamChunkDecodeReused: chunks read one after another into one value are read
// as each would be on its own (nothing of one is left in the next).
func TestStreamChunkDecodeReused(t *testing.T) {
	events := []string{
		`{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"a"}},{"index":0,"delta":{"content":"b"}}]}`,
		`{"error":{"message":"x"}}`,
		`{"choices":[],"usage":{"prompt_tokens":9}}`,
		`{"id":"c2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0}]},"finish_reason":"tool_calls"}]}`,
		`{"model":"n"}`,
		`[1]`,
		`{"choices":[{"index":0,"delta":{"content":"z"}}]}`,
	}
	var c StreamChunk
	for _, e := range events {
		want, wantErr := DecodeStreamChunk([]byte(e))
		err := c.Decode([]byte(e))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s: error %v, want %v", e, err, wantErr)
		}
		if err != nil {
			continue
		}
		if c.ID != want.ID || c.Model != want.Model || c.Error != want.Error || c.HasError != want.HasError ||
			(c.Usage == nil) != (want.Usage == nil) || c.Usage != nil && *c.Usage != *want.Usage ||
			len(c.Deltas) != len(want.Deltas) || len(c.Deltas) > 0 && !reflect.DeepEqual(c.Deltas, want.Deltas) {
			t.Fatalf("%s: read into a used chunk %+v, alone %+v", e, c, *want)
		}
	}
}

// BenchmarkDecodeStreamChunk is one content chunk as OpenAI streams them.
func BenchmarkDecodeStreamChunk(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Use a buffered channel and "},"finish_reason":null}],"usage":null}`)
	b.ReportAllocs()
	for range b.N {
		if _, err := DecodeStreamChunk(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeStreamChunkSharesData: a chunk's text is read in place, not from a copy
// of the event (parseShared), so a stream does not copy every event once more.
func TestDecodeStreamChunkSharesData(t *testing.T) {
	data := []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"in place"}}]}`)
	c, err := DecodeStreamChunk(data)
	if err != nil || len(c.Deltas) != 1 || c.Deltas[0].Content != "in place" {
		t.Fatalf("%+v %v", c, err)
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(c.Deltas[0].Content)))
	start := uintptr(unsafe.Pointer(&data[0]))
	if p < start || p >= start+uintptr(len(data)) {
		t.Fatal("the chunk's text was copied out of the event's data")
	}
}

// TestTextChunksMatchAppendJSON: a text chunk encoded with its stream's TextChunks is
// the chunk AppendJSON (and so encoding/json) encodes.
func TestTextChunksMatchAppendJSON(t *testing.T) {
	for i, text := range append(slices.Clone(chatEncodingCases), "") {
		id, created, model := fmt.Sprintf("chatcmpl-%d<&>\"", i), int64(i)*1000003-7, "openai/gpt-4o-mini\u2028\\"
		tc := NewTextChunks(id, created, model)
		c := NewChunk(id, created, model, Delta{Content: &text}, nil)
		want, _ := c.AppendJSON([]byte("data: "))
		if got := tc.Append([]byte("data: "), text); string(got) != string(want) {
			t.Errorf("Append = %s\nAppendJSON %s", got, want)
		}
	}
	var zero TextChunks
	text := "zero"
	c := NewChunk("", 0, "", Delta{Content: &text}, nil)
	want, _ := c.AppendJSON(nil)
	if got := zero.Append(nil, text); string(got) != string(want) {
		t.Errorf("the zero TextChunks: %s\nAppendJSON %s", got, want)
	}
}

// BenchmarkTextChunkEncoding is one text chunk of a /v1 stream, encoded whole
// (AppendJSON) and with its stream's TextChunks.
func BenchmarkTextChunkEncoding(b *testing.B) {
	id, model, text := "chatcmpl-0123456789abcdef0123456789ab", "openai/gpt-4o-mini", "Use a buffered channel"
	buf := make([]byte, 0, 512)
	b.Run("AppendJSON", func(b *testing.B) {
		c := NewChunk(id, 1767225600, model, Delta{Content: &text}, nil)
		for range b.N {
			buf, _ = c.AppendJSON(buf[:0])
		}
	})
	b.Run("TextChunks", func(b *testing.B) {
		tc := NewTextChunks(id, 1767225600, model)
		for range b.N {
			buf = tc.Append(buf[:0], text)
		}
	})
}
