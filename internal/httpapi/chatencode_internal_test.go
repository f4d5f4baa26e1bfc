package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
)

// TestEncodeChatCompletion checks that writeJSON's encoder takes an answer's own
// AppendJSON (openaiwire checks it against encoding/json byte for byte) and writes
// what encoding/json would, with tool calls (left to encoding/json) too.
func TestEncodeChatCompletion(t *testing.T) {
	for i, text := range []string{"", "plain", "<b>\"q\" & 'a'</b>\n\t\\", "\u2028\u2029", "\xff\xfe", "é🦫"} {
		var calls json.RawMessage
		if i%2 == 1 {
			calls = json.RawMessage(`[ {"id":"call_1", "type":"function"} ]`)
		}
		c := openaiwire.NewChatCompletion("chatcmpl-"+text, int64(i), "openai/"+text, text, calls, "", openaiwire.NewUsage(i, 2*i, i, 0))
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(c); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := encodeJSON(&got, &c); err != nil || got.String() != want.String() {
			t.Errorf("encodeJSON: %v\n got %s\nwant %s", err, got.Bytes(), want.Bytes())
		}
		if _, ok := c.AppendJSON(nil); ok == (calls != nil) {
			t.Errorf("AppendJSON took %s: %v", calls, ok)
		}
	}
}
