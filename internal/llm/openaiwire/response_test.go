package openaiwire

import (
	"bytes"
	"encoding/json"
	"strings"
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

// benchAnswer is an answer as OpenAI sends it today: ~1 KB of text with the newlines
// and quotes of code escaped, a null refusal and logprobs, usage with its details.
const benchAnswer = `{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Use a buffered channel as a semaphore and an errgroup:\n\n` + "```go" + `\ng, ctx := errgroup.WithContext(ctx)\ng.SetLimit(8)\nresults := make([]Result, len(files))\nfor i, f := range files {\n\tg.Go(func() error {\n\t\tr, err := process(ctx, f)\n\t\tresults[i] = r\n\t\treturn err\n\t})\n}\nif err := g.Wait(); err != nil {\n\treturn nil, err\n}\n` + "```" + `\n\nEach goroutine writes only its own slot of \"results\", so the order is kept without a lock; the first error cancels ctx and the others stop at their next check. Large files do not hold up small ones: the limit bounds how many run at once, not which.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 96,
    "completion_tokens": 220,
    "total_tokens": 316,
    "prompt_tokens_details": {
      "cached_tokens": 0,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_06737a9306"
}`

// BenchmarkDecodeChatCompletion decodes a typical answer as the OpenAI adapter does:
// "openai" OpenAI's own (indented, escaped code), "compact" the gateway benchmark
// upstream's (encoding/json's output, plain text).
func BenchmarkDecodeChatCompletion(b *testing.B) {
	compact, err := json.Marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "logprobs": nil, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": strings.Repeat("Use a buffered channel and a WaitGroup to fan the work out. ", 18), "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": 96, "completion_tokens": 220, "total_tokens": 316,
			"prompt_tokens_details": map[string]any{"cached_tokens": 0}},
	})
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{"openai": []byte(benchAnswer), "compact": compact} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeChatCompletion(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
