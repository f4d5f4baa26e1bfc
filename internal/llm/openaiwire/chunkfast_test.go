package openaiwire

import (
	"reflect"
	"testing"

	"github.com/tidwall/gjson"
)

// chunkCorpus is chunks as providers send them, and variations that the fast path
// must read as the gjson path does or leave to it.
var chunkCorpus = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733400000,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}` + "\n",
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
	`{"id":"c","usage":5,"choices":[{"index":0,"delta":{"content":"u"}}],"usage":null}`,
	`{"id":"c","usage":{"prompt_tokens":1},"choices":[],"usage":null}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`,
	`{"error":{"message":"overloaded"}}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}`,
	`{"choices":[{"index":1,"delta":{"content":"x"}},{"index":0,"delta":{"content":"y"}},{"delta":{"content":"no index"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"a\nb \"q\" \u00e9"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"ünïcödé ✓"}}]}`,
	`{"choices":[{"index":0,"index":1,"delta":{"content":"first"},"delta":{"content":"second"},"finish_reason":"a","finish_reason":"b"}]}`,
	`{"choices":[{"index":0,"delta":{"content":"one","content":"two"}}]}`,
	`{"id":"a","id":"b","model":1,"model":"m2","choices":[{"index":0}],"choices":[{"index":0,"delta":{"content":"last"}}]}`,
	`{"id":5,"choices":[{"index":0,"delta":{"content":7},"finish_reason":1}]}`,
	`{"choices":[{"index":"0","delta":{"content":"s"}}]}`,
	`{"choices":[{"index":0.0,"delta":{"content":"f"}}]}`,
	`{"choices":[{"index":-0,"delta":{"content":"n"}}]}`,
	`{"choices":[{"index":00,"delta":{"content":"z"}}]}`,
	`{"choices":[{"index":null,"delta":{"content":"null index"}}]}`,
	`{"choices":[{"index":1e0,"delta":{"content":"e"}}]}`,
	`{"choices":[{"index":1234567890,"delta":{"content":"big"}}]}`,
	`{"choices":{"a":{"index":0,"delta":{"content":"object"}}}}`,
	`{"choices":"none"}`,
	`{"choices":null}`,
	`{"choices":[1,"two",null,[3],{"index":0,"delta":"not an object"}]}`,
	`{"choices":[{"index":0,"delta":{"content":"x"}}],}`,
	`{"choices":[{"index":0,"delta":{"content":"x"}},]}`,
	`{"choices":[{"index":0,"delta":{"content":"x"}}]} extra`,
	`{"choices":[{"index":0,"delta":{"content":"x"}}]`,
	`{"choices":[{"index":0,"delta":{"content":"x\u00"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"bad \x escape"}}]}`,
	"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tab\tinside\"}}]}",
	`{"i\u0064":"escaped key","choices":[]}`,
	`{"n":-1.5e+10,"t":true,"f":false,"z":null,"a":[],"o":{},"s":"\/"}`,
	`{"n":-}`, `{"n":1.}`, `{"n":1e}`, `{"n":.5}`, `{"n":+1}`, `{"n":tru}`, `{"n":nul}`,
	` { "id" : "spaces" , "choices" : [ { "index" : 0 , "delta" : { "content" : "s" } } ] } `,
	`{}`, `[]`, `"string"`, ``, `{`, `}`, `{"a"}`, `{"a":}`, `{a:1}`,
}

// TestDecodeFastAgrees: whatever the fast path accepts is valid JSON and reads as the
// gjson path reads it; and it accepts the common chunks (else it would be no use).
func TestDecodeFastAgrees(t *testing.T) {
	for _, data := range chunkCorpus {
		checkFastAgrees(t, []byte(data))
	}
	for _, data := range chunkCorpus[:3] {
		var c StreamChunk
		if !c.decodeFast([]byte(data)) {
			t.Errorf("the fast path left a common chunk to gjson: %s", data)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, data := range chunkCorpus {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastAgrees(t, data) })
}

func checkFastAgrees(t *testing.T, data []byte) {
	t.Helper()
	var fast StreamChunk
	if !fast.decodeFast(data) {
		return
	}
	if !gjson.ValidBytes(data) {
		t.Fatalf("the fast path accepted invalid JSON: %q", data)
	}
	var slow StreamChunk
	if err := slow.decodeGJSON(data); err != nil {
		t.Fatalf("the fast path accepted what the gjson path refuses (%v): %q", err, data)
	}
	if len(fast.Deltas) == 0 && len(slow.Deltas) == 0 {
		fast.Deltas, slow.Deltas = nil, nil
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: fast %+v, gjson %+v", data, fast, slow)
	}
}
