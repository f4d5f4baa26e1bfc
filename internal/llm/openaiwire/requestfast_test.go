package openaiwire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// requestCorpus is requests as clients send them, and variations that the fast path
// must read as the gjson path does or leave to it.
var requestCorpus = []string{
	benchRequest,
	benchAgentRequest,
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"a\nb \"q\" \\ \/ \b\f\r\t \u00e9 \u20AC \ud83e\udd2b"}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.7,"top_p":1,"n":1,"max_tokens":100,"seed":42,"stop":["\n\n","END",null],"user":"u1"}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","content":"3","tool_call_id":"c1","name":"f"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],"tool_choice":"auto","parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}},"frequency_penalty":0.5,"presence_penalty":-0.5,"logit_bias":{"50256":-100},"metadata":{"k":"v"},"store":true}`,
	`{"model":"ollama/llama3","messages":[{"role":"user","content":"x"}],"options":{"num_ctx":8192,"stop":["a"]},"top_k":40,"keep_alive":"5m","x":[1,2.5e-3,-0,true,false,null,"s",{}]}`,
	` { "model" : "m" , "messages" : [ { "role" : "user" , "content" : "spaces" } ] , "stream" : false } ` + "\n",
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
	// content parts, other contents, and other things left to the gjson path
	`{"messages":[{"role":"user","content":[{"type":"text","text":"only"}]},{"role":"user","content":[]},{"role":"user","content":[{"type":"text"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a\n"},{"text":"b","type":"text","cache_control":{"type":"ephemeral"}},{"type":"text","text":null},{"type":null,"type":"text","text":"c","text":"d"},{"type":"text","text":"\u00e9"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","type":null,"text":"b"}]}]}`,
	`{"messages":[{"role":"user","content":[null]}]}`, `{"messages":[{"role":"user","content":["x"]}]}`, `{"messages":[{"role":"user","content":[[]]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":1}]}]}`, `{"messages":[{"role":"user","content":[{"type":1,"text":"x"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"Text","text":"x"}]}]}`, `{"messages":[{"role":"user","content":[{"text":"no type"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"}],"content":"b"},{"role":"user","content":"a","content":[{"type":"text","text":"b"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`,
	`{"messages":[{"role":"user","content":5}]}`,
	`{"messages":[{"role":"user","content":{}}]}`,
	`{"messages":[{"role":1}]}`, `{"messages":[{"role":"user","name":[]}]}`, `{"messages":[{"tool_call_id":false}]}`,
	`{"messages":[5]}`, `{"messages":["x"]}`, `{"messages":{"0":{"role":"user"}}}`, `{"messages":"hi"}`,
	`{"messages":[null,{},{"role":null,"content":null,"tool_calls":null,"tool_call_id":null,"name":null,"other":[{}]}]}`,
	`{"messages":null}`, `{"messages":[]}`, `{}`, `null`, ` null `, `[1]`, `"s"`, `5`, `true`,
	`{"model":true,"messages":[]}`, `{"model":null}`, `{"user":5}`,
	`{"max_tokens":1.5}`, `{"max_tokens":1.0}`, `{"max_tokens":1e3}`, `{"max_tokens":-0}`, `{"max_tokens":-7}`, `{"max_tokens":"5"}`,
	`{"max_tokens":9223372036854775807}`, `{"max_tokens":9223372036854775808}`, `{"seed":-9223372036854775808}`, `{"seed":-9223372036854775809}`,
	`{"max_completion_tokens":null,"n":null,"seed":null,"temperature":null,"top_p":null,"stream":null}`,
	`{"temperature":"hot"}`, `{"temperature":1e400}`, `{"temperature":-1e-400}`, `{"temperature":2.5}`, `{"top_p":[1]}`,
	`{"stream":"yes"}`, `{"stream":1}`, `{"stream":true,"stream":false}`, `{"stream":tru}`, `{"stream":nul}`, `{"stream":falsey}`,
	`{"stop":"END"}`, `{"stop":["a",null,"b"]}`, `{"stop":[]}`, `{"stop":[1]}`, `{"stop":5}`, `{"stop":{}}`, `{"stop":null}`, `{"stop":"a\u0000b"}`,
	`{"stream_options":null,"response_format":[],"tools":"x"}`,
	`{"x":1e400}`, `{"x":-1e400,"messages":[]}`, `{"x":1e308}`, `{"":1}`, `{"a\u0062":1}`, `{"mod\u0065l":"m"}`, `{"a":{"b\u0063":1}}`,
	`{"model":"a","model":"b"}`, `{"model":"a","model":5}`, `{"model":5,"model":"a"}`,
	`{"messages":[{"role":"user"}],"messages":[{"role":"system"},{"role":"user"}]}`,
	`{"messages":[{"role":"user","content":[]}],"messages":[{"role":"user","content":"later"}]}`,
	`{"messages":[{"content":"a","content":"b","role":"x","role":"user"}]}`,
	`{"stop":[1],"stop":"ok"}`, `{"stop":"ok","stop":[1]}`,
	`{"top_k":1,"top_k":{"a":2}}`,
	`{"model":"\ud83d"}`, `{"model":"\ud83d\u0041"}`, `{"model":"\ud83dx"}`, `{"model":"\udc00\ud800"}`, `{"model":"\ud83d\ude00\ude00"}`, `{"model":"\uDBFF\uDFFF"}`,
	`{"model":"\u0000"}`, `{"model":"\x"}`, `{"model":"\u00G0"}`, `{"model":"\u00"}`, "{\"model\":\"tab\tinside\"}", "{\"model\":\"nl\ninside\"}",
	`{"model":"ünïcödé ✓","messages":[{"role":"user","content":"日本語 🦫"}]}`,
	`{"model":"m",}`, `{"model":"m"`, `{"model":"m"} x`, `{"model":"m"}}`, `{"model" "m"}`, `{model:"m"}`, `{"model":'m'}`,
	`{"n":-}`, `{"n":1.}`, `{"n":1e}`, `{"n":.5}`, `{"n":+1}`, `{"n":01}`, `{"n":0x1}`, `{"n":1,}`, `{,}`, `{"a":[1,]}`, `{"a":[,1]}`,
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`,
	`{"x":` + strings.Repeat("[", maxScanDepth-1) + strings.Repeat("]", maxScanDepth-1) + `}`,
	`{"x":` + strings.Repeat("[", maxScanDepth) + strings.Repeat("]", maxScanDepth) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 3*maxScanDepth) + `1` + strings.Repeat("}", 3*maxScanDepth) + `}`,
	`{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
}

// TestDecodeChatRequestFastAgrees: whatever the fast path accepts is valid JSON and
// decodes as the gjson path decodes it (so Validate answers the same); and it accepts
// the common requests (else it would be no use).
func TestDecodeChatRequestFastAgrees(t *testing.T) {
	accepted := 0
	for _, data := range requestCorpus {
		if checkRequestFastAgrees(t, []byte(data)) {
			accepted++
		}
	}
	t.Logf("the fast path read %d of %d bodies", accepted, len(requestCorpus))
	for _, data := range requestCorpus[:10] {
		if _, ok := decodeChatRequestFast([]byte(data)); !ok {
			t.Errorf("the fast path left a common request to gjson: %s", data)
		}
	}
}

func FuzzDecodeChatRequestFast(f *testing.F) {
	for _, data := range requestCorpus {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkRequestFastAgrees(t, data) })
}

// checkRequestFastAgrees reports whether the fast path accepted data, failing t if it
// accepted what the gjson path refuses or reads otherwise.
func checkRequestFastAgrees(t *testing.T, data []byte) bool {
	t.Helper()
	if !utf8.Valid(data) {
		return false // DecodeChatRequest refuses it before either path
	}
	fast, ok := decodeChatRequestFast(data)
	if !ok {
		return false
	}
	if !json.Valid(data) {
		t.Fatalf("the fast path accepted invalid JSON: %q", data)
	}
	slow, err := decodeChatRequestGJSON(data)
	if err != nil {
		t.Fatalf("the fast path accepted what the gjson path refuses (%v): %q", err, data)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q:\nfast  %+v\ngjson %+v", data, fast, slow)
	}
	return true
}

// TestDecodeChatRequestFastSharesData: the fast path's strings share the body's
// memory, as the gjson path's do (parseShared), and its raw fields are copies.
func TestDecodeChatRequestFastSharesData(t *testing.T) {
	data := []byte(`{"model":"m","messages":[{"role":"user","content":"hello"}],"tools":[1]}`)
	in, ok := decodeChatRequestFast(data)
	if !ok {
		t.Fatal("not read by the fast path")
	}
	copy(data[bytes.Index(data, []byte("hello")):], "HELLO")
	data[bytes.Index(data, []byte("[1]"))+1] = '2'
	if in.Messages[0].Content != "HELLO" || string(in.Tools) != "[1]" {
		t.Errorf("content %q, tools %s", in.Messages[0].Content, in.Tools)
	}
}
