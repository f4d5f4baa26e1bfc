package openaiwire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// chatEncodingCases are answers whose encodings AppendJSON must match.
var chatEncodingCases = []string{"", "plain", "<b>\"q\" & 'a'</b>\n\t\\", "\u2028\u2029", "\x00\x1f\x7f", "\xff\xfe", "é🦫", "a\xe2\x80"}

func chatEncodingBody(text string, n int) ChatCompletion {
	c := ChatCompletion{ID: "chatcmpl-" + text, Object: "chat.completion", Created: int64(n) * 1767225600, Model: "openai/" + text,
		Choices: []Choice{{Index: 0, Message: AssistantMessage{Role: "assistant", Content: &text}, FinishReason: "stop" + text}}}
	c.Usage = Usage{PromptTokens: n, CompletionTokens: 2 * n, TotalTokens: 3 * n}
	c.Usage.PromptTokensDetails.CachedTokens = -n
	return c
}

func checkChatEncoding(t *testing.T, c ChatCompletion) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(c); err != nil {
		t.Fatal(err)
	}
	got, ok := c.AppendJSON([]byte("prefix"))
	if !ok {
		t.Fatalf("AppendJSON refused %+v", c)
	}
	if string(got) != "prefix"+want.String() {
		t.Errorf("AppendJSON:\n got %s\nwant %s", got[len("prefix"):], want.Bytes())
	}
}

// TestAppendChatCompletion checks the hand-written answer encoder against
// encoding/json, byte for byte, and that answers with tool calls are left to it.
func TestAppendChatCompletion(t *testing.T) {
	for i, text := range chatEncodingCases {
		checkChatEncoding(t, chatEncodingBody(text, i*1000003))
	}
	c := chatEncodingBody("x", 1)
	c.Choices[0].Message.ToolCalls = json.RawMessage(`[{"id":"call_1"}]`)
	if b, ok := c.AppendJSON(nil); ok || len(b) != 0 {
		t.Errorf("tool calls: AppendJSON = %q, %v; want it to decline", b, ok)
	}
	c.Choices = append(chatEncodingBody("x", 1).Choices, chatEncodingBody("y", 2).Choices...)
	if _, ok := c.AppendJSON(nil); ok {
		t.Error("two choices: AppendJSON accepted them")
	}
	c = chatEncodingBody("x", 1)
	c.Choices[0].Message.Content = nil
	if _, ok := c.AppendJSON(nil); ok {
		t.Error("null content: AppendJSON accepted it")
	}
}

func FuzzAppendChatCompletion(f *testing.F) {
	for i, s := range chatEncodingCases {
		f.Add(s, i)
	}
	f.Fuzz(func(t *testing.T, text string, n int) {
		checkChatEncoding(t, chatEncodingBody(text, n))
	})
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
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

// BenchmarkChatCompletionEncoding compares the hand-written answer encoder with
// encoding/json on a typical answer (~1 KB of text).
func BenchmarkChatCompletionEncoding(b *testing.B) {
	c := chatEncodingBody(string(bytes.Repeat([]byte("Use a buffered channel and a WaitGroup to fan the work out. "), 18)), 96)
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf, _ = c.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := json.NewEncoder(&buf).Encode(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestChunkEncoding keeps stream chunks byte for byte what the server wrote when it
// built them as maps.
func TestChunkEncoding(t *testing.T) {
	chunk := func(delta map[string]any, finish *string) map[string]any {
		return map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "openai/m<>",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	empty, text, stop := "", "a <b> & \u2028", "stop"
	calls := json.RawMessage(`[ {"index":0, "id":"c"} ]`)
	usage := NewUsage(3, 4, 1, 0)
	for i, c := range []struct {
		ours ChatCompletionChunk
		maps map[string]any
	}{
		{NewChunk("chatcmpl-1", 7, "openai/m<>", Delta{Role: RoleAssistant, Content: &empty}, nil), chunk(map[string]any{"role": "assistant", "content": ""}, nil)},
		{NewChunk("chatcmpl-1", 7, "openai/m<>", Delta{Content: &text}, nil), chunk(map[string]any{"content": text}, nil)},
		{NewChunk("chatcmpl-1", 7, "openai/m<>", Delta{Content: &text, ToolCalls: calls}, nil), chunk(map[string]any{"content": text, "tool_calls": calls}, nil)},
		{NewChunk("chatcmpl-1", 7, "openai/m<>", Delta{}, &stop), chunk(map[string]any{}, &stop)},
		{NewUsageChunk("chatcmpl-1", 7, "openai/m<>", usage), map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7,
			"model": "openai/m<>", "choices": []any{}, "usage": usage}},
	} {
		got, err := json.Marshal(c.ours)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(c.maps)
		if string(got) != string(want) {
			t.Errorf("chunk %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
