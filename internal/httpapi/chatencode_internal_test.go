package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// chatEncodingCases are answers whose encodings appendJSON must match.
var chatEncodingCases = []string{"", "plain", "<b>\"q\" & 'a'</b>\n\t\\", "\u2028\u2029", "\x00\x1f\x7f", "\xff\xfe", "é🦫", "a\xe2\x80"}

func chatEncodingBody(text string, n int) chatCompletionBody {
	c := chatCompletionBody{ID: "chatcmpl-" + text, Object: "chat.completion", Created: int64(n) * 1767225600, Model: "openai/" + text,
		Choices: []chatChoiceBody{{Index: 0, Message: chatMessageBody{Role: "assistant", Content: text}, FinishReason: "stop" + text}}}
	c.Usage = chatUsageBody{PromptTokens: n, CompletionTokens: 2 * n, TotalTokens: 3 * n}
	c.Usage.PromptTokensDetails.CachedTokens = -n
	return c
}

func checkChatEncoding(t *testing.T, c chatCompletionBody) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(c); err != nil {
		t.Fatal(err)
	}
	got, ok := c.appendJSON([]byte("prefix"))
	if !ok {
		t.Fatalf("appendJSON refused %+v", c)
	}
	if string(got) != "prefix"+want.String() {
		t.Errorf("appendJSON:\n got %s\nwant %s", got[len("prefix"):], want.Bytes())
	}
	var viaWriter bytes.Buffer // the path writeJSON takes
	if err := encodeJSON(&viaWriter, &c); err != nil || viaWriter.String() != want.String() {
		t.Errorf("encodeJSON: %v\n got %s\nwant %s", err, viaWriter.Bytes(), want.Bytes())
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
	if b, ok := c.appendJSON(nil); ok || len(b) != 0 {
		t.Errorf("tool calls: appendJSON = %q, %v; want it to decline", b, ok)
	}
	c.Choices = append(chatEncodingBody("x", 1).Choices, chatEncodingBody("y", 2).Choices...)
	if _, ok := c.appendJSON(nil); ok {
		t.Error("two choices: appendJSON accepted them")
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

// BenchmarkChatCompletionEncoding compares the hand-written answer encoder with
// encoding/json on a typical answer (~1 KB of text).
func BenchmarkChatCompletionEncoding(b *testing.B) {
	c := chatEncodingBody(string(bytes.Repeat([]byte("Use a buffered channel and a WaitGroup to fan the work out. "), 18)), 96)
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf, _ = c.appendJSON(buf[:0])
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
