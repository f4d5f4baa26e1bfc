package openaiwire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestDecodeChatRequest(t *testing.T) {
	body := `{"model":"openai/gpt-4o","messages":[{"role":"system","content":null},
		{"role":"user","content":"line\none \"quoted\" \u00e9","name":"al"},
		{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
		{"role":"assistant","content":"","tool_calls":[{"id":"c1"}]},{"role":"tool","content":"3","tool_call_id":"c1"}],
		"max_tokens":5,"max_completion_tokens":7,"temperature":0.5,"top_p":null,"stop":"END","seed":-3,"stream":true,
		"stream_options":{"include_usage":true},"response_format":{"type":"json_object"},"tools":null,"n":1,"user":"u",
		"options":{"num_ctx":8192},"top_k":40,"model":"gpt-4o-mini"}`
	got, err := DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	five, seven, half, seed, one := 5, 7, 0.5, int64(-3), 1
	want := &ChatRequest{Model: "gpt-4o-mini", MaxTokens: &five, MaxCompletionTokens: &seven, Temperature: &half,
		Stop: []string{"END"}, Seed: &seed, Stream: true, StreamOptions: json.RawMessage(`{"include_usage":true}`),
		ResponseFormat: json.RawMessage(`{"type":"json_object"}`), Tools: json.RawMessage(`null`), N: &one, User: "u",
		Extra: map[string]any{"options": map[string]any{"num_ctx": 8192.0}, "top_k": 40.0},
		Messages: []Message{{Role: "system"}, {Role: "user", Content: "line\none \"quoted\" é", Name: "al"}, {Role: "user", Content: "ab"},
			{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"c1"}]`)}, {Role: "tool", Content: "3", ToolCallID: "c1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
	if got.MaxTokensBound() != 7 {
		t.Errorf("bound %d, want max_completion_tokens", got.MaxTokensBound())
	}
}

// TestChatRequestErrors checks the answer to each kind of bad request: decoding
// refuses what is not a chat request, Validate the rest, in a fixed order.
func TestChatRequestErrors(t *testing.T) {
	for body, want := range map[string]string{
		"\xff":                                "the body is not valid UTF-8",
		``:                                    "malformed JSON at byte 0",
		`{"model":`:                           "malformed JSON at byte 9",
		`[1]`:                                 "the body must be a JSON object, not an array",
		`null`:                                "messages must hold at least one message",
		`{"messages":"hi"}`:                   `field "messages" must be an array, not a string`,
		`{"messages":[5]}`:                    `field "messages[0]" must be an object, not the number 5`,
		`{"messages":[{"role":1}]}`:           `field "messages[0].role" must be a string, not the number 1`,
		`{"model":true,"messages":[]}`:        `field "model" must be a string, not a boolean`,
		`{"max_tokens":1.5}`:                  `field "max_tokens" must be an integer, not the number 1.5`,
		`{"seed":1e3}`:                        `field "seed" must be an integer, not the number 1e3`,
		`{"temperature":"hot"}`:               `field "temperature" must be a number, not a string`,
		`{"stream":"yes"}`:                    `field "stream" must be a boolean, not a string`,
		`{"messages":[]}`:                     "messages must hold at least one message",
		`{"messages":[{}],"n":2}`:             "n must be 1: the gateway returns one choice",
		`{"messages":[{}],"max_tokens":-1}`:   "max_tokens must not be negative",
		`{"messages":[{}],"temperature":2.5}`: "temperature must be between 0 and 2",
		`{"messages":[{}],"stop":[1]}`:        "stop must be a string or an array of strings",
		`{"messages":[{"role":"user","content":5}]}`:                          "messages[0]: content must be a string or an array of content parts",
		`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`:     `messages[0]: content part type "image_url" is not supported; only text`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":1}]}]}`: "messages[0]: content must be a string or an array of content parts",
		`{"messages":[{"role":"user"},{"role":"wizard","content":"hi"}]}`:     `messages[1].role "wizard" is not one of system, developer, user, assistant, tool`,
		`{"messages":[{"content":"hi"}]}`:                                     `messages[0].role "" is not one of system, developer, user, assistant, tool`,
		// Validation reports the first problem in the same order whatever the fields' order.
		`{"messages":[{"role":"wizard"}],"stop":5,"n":3}`: "n must be 1: the gateway returns one choice",
	} {
		in, err := DecodeChatRequest([]byte(body))
		if err == nil {
			err = in.Validate()
		}
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
	// Nesting deeper than encoding/json allows is refused before it reaches the parser.
	deep := `{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	if _, err := DecodeChatRequest([]byte(deep)); err == nil || !strings.HasPrefix(err.Error(), "malformed JSON") {
		t.Errorf("deep nesting: %v", err)
	}
}

// TestAppendChatRequest covers what the adapter's test against openai-go cannot:
// Extra replacing encoded fields, and the errors.
func TestAppendChatRequest(t *testing.T) {
	f := 0.5
	n := 9
	r := &ChatRequest{Model: "m", MaxTokens: &n, Temperature: &f, Stop: []string{"x"}, Stream: true, StreamOptions: json.RawMessage(`{"include_usage":true}`),
		Messages: []Message{{Role: RoleUser, Content: "hi"}}, Extra: map[string]any{"temperature": 0.9, "stream_options": nil, "a": 1}}
	got, err := AppendChatRequest([]byte("x"), r)
	want := `x{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":9,"stop":["x"],"stream":true,"a":1,"stream_options":null,"temperature":0.9}`
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v\nwant %s", got, err, want)
	}
	for _, r := range []*ChatRequest{
		{Messages: []Message{{Role: RoleTool, Content: "3"}}},
		{Messages: []Message{{Role: RoleAssistant, ToolCalls: json.RawMessage(`[`)}}},
		{Tools: json.RawMessage(`{`)},
		{Extra: map[string]any{"bad": func() {}}},
	} {
		if _, err := AppendChatRequest(nil, r); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
}

// A typical request (the gateway benchmark's), decoded as the server does and, for
// reference, by encoding/json into a struct of the same fields.
const benchRequest = `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a careful senior Go engineer. Answer briefly, with code where it helps."},{"role":"user","content":"How do I fan work out to a pool of goroutines and collect the results in order, with bounded concurrency and cancellation? Keep it short; the inputs are files of various sizes. (12/g/3)"}],"max_tokens":256,"temperature":0.2}`

// benchAgentRequest is a coding agent's request: a system prompt, a file quoted with
// its newlines, tabs and quotes escaped, the SDK's usual parameters.
const benchAgentRequest = `{"model":"gpt-4o","messages":[{"role":"system","content":"You are a coding agent. Edit files with the tools you are given.\nAnswer in the user's language."},{"role":"user","content":"Here is main.go:\n\npackage main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n\nMake it print the arguments, one a line."}],"temperature":0,"max_completion_tokens":1024,"stream":false,"user":"agent-7"}`

func BenchmarkDecodeChatRequest(b *testing.B) {
	data := []byte(benchRequest)
	// The same as the first with its messages' content as text parts, as some SDKs send it.
	parts := strings.NewReplacer(`"content":"`, `"content":[{"type":"text","text":"`, `."}`, `."}]}`, `)"}`, `)"}]}`).Replace(benchRequest)
	for name, data := range map[string][]byte{"openaiwire": data, "openaiwire-agent": []byte(benchAgentRequest), "openaiwire-parts": []byte(parts)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				in, err := DecodeChatRequest(data)
				if err != nil || in.Validate() != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var in struct {
				Model       string
				Messages    []struct{ Role, Content string }
				MaxTokens   *int     `json:"max_tokens"`
				Temperature *float64 `json:"temperature"`
			}
			if err := json.Unmarshal(data, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeChatRequest holds the decoder to encoding/json: what it accepts,
// encoding/json decodes into the same fields with the same values.
func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range []string{benchRequest, `{"messages":[{"role":"user","content":[{"type":"text","text":"a\u00e9"}]}],"stop":["x",null],"seed":-1}`,
		`{"model":null,"stream":true,"n":1,"top_p":1e-3,"x":{"y":[1,"2"]}}`, `null`, `[1]`, `{"messages":[null,{}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := DecodeChatRequest([]byte(body))
		if err != nil {
			return
		}
		var ref struct {
			Model    string `json:"model"`
			Messages []struct {
				Role       string `json:"role"`
				ToolCallID string `json:"tool_call_id"`
			} `json:"messages"`
			MaxTokens   *int     `json:"max_tokens"`
			Temperature *float64 `json:"temperature"`
			Seed        *int64   `json:"seed"`
			Stream      bool     `json:"stream"`
		}
		if caseFoldedKey(body) {
			return // encoding/json matches keys case-insensitively; the wire does not
		}
		if err := json.Unmarshal([]byte(body), &ref); err != nil {
			t.Fatalf("decoded, but encoding/json refuses it: %v", err)
		}
		if got.Model != ref.Model || got.Stream != ref.Stream || len(got.Messages) != len(ref.Messages) ||
			!reflect.DeepEqual(got.MaxTokens, ref.MaxTokens) || !reflect.DeepEqual(got.Temperature, ref.Temperature) || !reflect.DeepEqual(got.Seed, ref.Seed) {
			t.Fatalf("decoded %+v, encoding/json %+v", got, ref)
		}
		for i, m := range ref.Messages {
			if got.Messages[i].Role != m.Role || got.Messages[i].ToolCallID != m.ToolCallID {
				t.Fatalf("message %d: %+v, encoding/json %+v", i, got.Messages[i], m)
			}
		}
	})
}

// caseFoldedKey reports whether a key of the body or of its messages spells a field's
// name in other cases ("Model"), which encoding/json would take for the field.
func caseFoldedKey(body string) bool {
	folded := false
	check := func(k, _ gjson.Result) bool {
		for _, name := range []string{"model", "messages", "role", "tool_call_id", "max_tokens", "temperature", "seed", "stream"} {
			folded = folded || (k.Str != name && strings.EqualFold(k.Str, name))
		}
		return true
	}
	root := gjson.Parse(body)
	root.ForEach(check)
	root.Get("messages").ForEach(func(_, m gjson.Result) bool { m.ForEach(check); return true })
	return folded
}
