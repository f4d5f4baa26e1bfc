package openaiwire

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// answerCorpus is answers as providers send them, and variations that the fast path
// must read as the gjson path does or leave to it.
var answerCorpus = []string{
	benchAnswer,
	`{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"logprobs":null,"finish_reason":"stop","message":{"role":"assistant","content":"Use a buffered channel.","refusal":null}}],"usage":{"prompt_tokens":96,"completion_tokens":220,"total_tokens":316,"prompt_tokens_details":{"cached_tokens":0}}}`,
	`{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`,
	`{"id":"c","model":"m","choices":[{"message":{"content":"a\nb \"q\" \\ \/ \b\f\r\t \u00e9 \u20ac \ud83e\udd2b \ud83d \udc00x"},"finish_reason":"function_call"}]}`,
	`{"id":"c","choices":[{"message":{"content":"ünïcödé ✓ 🦫"},"finish_reason":"length"}],"usage":null}`,
	// things left to the gjson path, and repeated keys
	`{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"thinking","thinking":"t"},{"type":"text","text":"b"}]}}]}`,
	`{"choices":[{"message":{"content":5}}]}`, `{"choices":[{"message":"x"}]}`, `{"choices":[{"message":null,"finish_reason":"stop"}]}`,
	`{"choices":[{"finish_reason":5}]}`, `{"choices":[5]}`, `{"choices":[null]}`, `{"choices":[]}`, `{"choices":{}}`, `{"choices":null}`, `{}`,
	`{"id":5,"choices":[{}]}`, `{"model":[],"choices":[{}]}`, `{"id":null,"model":null,"choices":[{"message":{"content":null}}]}`,
	`{"choices":[{"message":{"tool_calls":[]}}]}`, `{"choices":[{"message":{"tool_calls":[ ]}}]}`, `{"choices":[{"message":{"tool_calls":null}}]}`,
	`{"choices":[{"message":{"tool_calls":{}}}]}`, `{"choices":[{"message":{"tool_calls":[1],"tool_calls":[]}}]}`, `{"choices":[{"message":{"tool_calls":[],"tool_calls":[2]}}]}`,
	`{"choices":[{"message":{"content":"a","content":"b"},"message":{"role":"assistant"}}]}`,
	`{"choices":[{"message":{"content":"first"}},{"message":{"content":"second"}},5]}`,
	`{"choices":[{"message":{"content":"a"}}],"choices":[]}`, `{"choices":[{"message":{"content":"a"}}],"choices":[{"message":{"content":"b"}}]}`,
	`{"choices":[],"choices":[{"finish_reason":"x"}]}`, `{"choices":[{}],"choices":5}`,
	`{"id":"a","id":"b","model":"x","model":"y","choices":[{"finish_reason":"a","finish_reason":"b"}]}`,
	`{"choices":[{}],"usage":{"prompt_tokens":"12","completion_tokens":" 3 ","total_tokens":"-1"}}`,
	`{"choices":[{}],"usage":{"prompt_tokens":1.5,"completion_tokens":1e2,"total_tokens":-4}}`,
	`{"choices":[{}],"usage":{"prompt_tokens":true}}`, `{"choices":[{}],"usage":{"prompt_tokens":null,"total_tokens":[]}}`, `{"choices":[{}],"usage":5}`, `{"choices":[{}],"usage":[]}`,
	`{"choices":[{}],"usage":{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":3,"completion_tokens":"x"}}`,
	`{"choices":[{}],"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`, `{"choices":[{}],"usage":{"prompt_tokens":1},"usage":null}`, `{"choices":[{}],"usage":"x","usage":{"total_tokens":3}}`,
	`{"choices":[{}],"usage":{"prompt_tokens":999999999999999,"completion_tokens":9999999999999999,"total_tokens":0}}`,
	`{"choices":[{}],"usage":{"prompt_tokens_details":{"cached_tokens":4,"cached_tokens":5}}}`,
	`{"choices":[{}],"usage":{"prompt_tokens_details":{"audio_tokens":1},"prompt_tokens_details":{"cached_tokens":5}}}`,
	`{"choices":[{}],"usage":{"prompt_tokens_details":null,"prompt_tokens_details":{"cached_tokens":5}}}`,
	`{"choices":[{}],"usage":{"prompt_tokens_details":{"cached_tokens":5},"prompt_tokens_details":null}}`,
	`{"choices":[{}],"usage":{"prompt_tokens_details":5}}`, `{"choices":[{}],"usage":{"prompt_tokens_details":[{"cached_tokens":5}]}}`,
	`{"choices":[{}],"usage":{"prompt_tokens_details":{"cached_tokens":"7"}}}`, `{"choices":[{}],"usage":{"prompt_tokens_details":{"cached_tokens":null}}}`,
	`{"choices":[{}],"usage":{"completion_tokens_details":{"reasoning_tokens":9,"cached_tokens":1}}}`,
	`{"error":{"message":"overloaded"}}`, `{"c\u0068oices":[{}]}`, `{"choices":[{"m\u0065ssage":{"content":"x"}}]}`,
	`{"choices":[{"message":{"content":"x\u00"}}]}`, `{"choices":[{"message":{"content":"bad \x"}}]}`, "{\"choices\":[{\"message\":{\"content\":\"tab\tinside\"}}]}",
	`{"choices":[{}],}`, `{"choices":[{},]}`, `{"choices":[{}]} x`, `{"choices":[{}]`, `{"choices":[{}]}}`, `[{"choices":[{}]}]`, `null`, ``, `"s"`,
	`{"choices":[{}],"n":-}`, `{"choices":[{}],"n":01}`, `{"choices":[{}],"n":1.}`, `{"choices":[{}],"n":.5}`, `{"choices":[{}],"n":tru}`,
	` { "id" : "s" , "choices" : [ { "message" : { "content" : "s" } , "finish_reason" : "stop" } ] } ` + "\n",
	"{\"choices\":[{\"message\":{\"content\":\"\xff\xfe invalid UTF-8\"}}]}",
	`{"choices":[{}],"x":` + strings.Repeat("[", maxScanDepth) + strings.Repeat("]", maxScanDepth) + `}`,
	`{"choices":[{}],"x":` + strings.Repeat("[", maxScanDepth-1) + strings.Repeat("]", maxScanDepth-1) + `}`,
}

// TestDecodeChatCompletionFastAgrees: whatever the fast path accepts is valid JSON and
// reads as the gjson path reads it; and it accepts the common answers.
func TestDecodeChatCompletionFastAgrees(t *testing.T) {
	accepted := 0
	for _, data := range answerCorpus {
		if checkAnswerFastAgrees(t, []byte(data)) {
			accepted++
		}
	}
	t.Logf("the fast path read %d of %d answers", accepted, len(answerCorpus))
	for _, data := range answerCorpus[:5] {
		if _, ok := decodeChatCompletionFast([]byte(data)); !ok {
			t.Errorf("the fast path left a common answer to gjson: %s", data)
		}
	}
}

func FuzzDecodeChatCompletionFast(f *testing.F) {
	for _, data := range answerCorpus {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkAnswerFastAgrees(t, data) })
}

func checkAnswerFastAgrees(t *testing.T, data []byte) bool {
	t.Helper()
	fast, ok := decodeChatCompletionFast(data)
	if !ok {
		return false
	}
	if !gjson.ValidBytes(data) {
		t.Fatalf("the fast path accepted invalid JSON: %q", data)
	}
	slow, err := decodeChatCompletionGJSON(data)
	if err != nil {
		t.Fatalf("the fast path accepted what the gjson path refuses (%v): %q", err, data)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q:\nfast  %+v\ngjson %+v", data, fast, slow)
	}
	return true
}
