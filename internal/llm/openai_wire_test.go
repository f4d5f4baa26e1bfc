package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// TestOpenAIWireMatchesSDK sends each request to a local OpenAI-format server through
// openai-go's own parameter types (sdkParams), then through Complete and Stream, whose
// bodies appendChatBody builds. They must be the same JSON (a stream's plus its stream
// fields), for every provider kind.
func TestOpenAIWireMatchesSDK(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	seed := int64(-42)
	tools := json.RawMessage(`[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`)
	calls := json.RawMessage(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]`)
	requests := map[string]*Request{
		"minimal": {Model: "gpt-4o-mini", Messages: []Message{{Role: RoleUser, Content: "hi"}}},
		"every field": {Model: "gpt-4o", MaxTokens: 77, Temperature: f(0), TopP: f(0.25), Seed: &seed, Stop: []string{"END", "</s>"},
			ResponseFormat: json.RawMessage(`{"type":"json_object"}`), Tools: tools,
			Messages: []Message{
				{Role: RoleSystem, Content: "be brief"},
				{Role: RoleDeveloper, Content: "use Go"},
				{Role: RoleUser, Content: "weather?"},
				{Role: RoleAssistant, ToolCalls: calls},
				{Role: RoleTool, Content: `{"temp": 3}`, ToolCallID: "call_1"},
				{Role: RoleAssistant, Content: "3 degrees", ToolCalls: calls},
				{Role: RoleAssistant, Content: "plain"},
			}},
		"awkward text": {Model: "m", Temperature: f(1.7), Messages: []Message{{Role: RoleUser,
			Content: "quotes \" back\\slash <html> & \u2028 \u2029 \x00\x1f tab\t nl\n cr\r émoji 🦫 bad \xff\xfe end"}}},
		"extra replaces and adds": {Model: "m", MaxTokens: 9, Temperature: f(0.5), Stop: []string{"x"},
			Extra: map[string]any{"options": map[string]any{"num_ctx": 8192}, "temperature": 0.9, "max_tokens": 3,
				"max_completion_tokens": 4, "stop": nil, "weird.key*": true},
			Messages: []Message{{Role: RoleUser, Content: "hi"}}},
	}
	kinds := map[string]func(ProviderConfig) (Provider, error){"openai": NewOpenAI, "xai": NewXAI,
		"compatible": func(c ProviderConfig) (Provider, error) { c.Name = "ollama"; return NewOpenAICompatible(c) }}
	for kind, newProvider := range kinds {
		for name, req := range requests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				srv := llmtest.NewOpenAI(t, nil)
				p, err := newProvider(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
				if err != nil {
					t.Fatal(err)
				}
				// The reference: the body openai-go builds from its own parameter types.
				params, opts, err := sdkParams(p.(*openAIProvider), req)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.(*openAIProvider).chat.New(context.Background(), params, opts...); err != nil {
					t.Fatalf("sdk: %v", err)
				}
				sdk, _ := srv.Last()
				if _, err := p.Complete(context.Background(), req); err != nil {
					t.Fatalf("complete: %v", err)
				}
				ours, _ := srv.Last()
				if _, err := p.Stream(context.Background(), req, func(Chunk) error { return nil }); err != nil {
					t.Fatalf("stream: %v", err)
				}
				streamed, _ := srv.Last()
				want := jsonObject(t, sdk.RawBody)
				if got := jsonObject(t, ours.RawBody); !reflect.DeepEqual(got, want) {
					t.Errorf("bodies differ\nours: %s\nsdk:  %s", ours.RawBody, sdk.RawBody)
				}
				// A stream's body is the same plus the stream fields (unless Extra sets them).
				want["stream"] = true
				if _, ok := req.Extra["stream_options"]; !ok {
					want["stream_options"] = map[string]any{"include_usage": true}
				}
				if got := jsonObject(t, streamed.RawBody); !reflect.DeepEqual(got, want) {
					t.Errorf("stream bodies differ\nours: %s\nwant: %v", streamed.RawBody, want)
				}
				if ours.Header.Get("Authorization") != sdk.Header.Get("Authorization") || ours.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers differ: %v vs %v", ours.Header, sdk.Header)
				}
			})
		}
	}
}

// TestDecodeChatResponse checks the lean decoder against openai-go's own on valid
// answers, and that answers which are not chat completions are refused.
func TestDecodeChatResponse(t *testing.T) {
	p := &openAIProvider{name: "openai"}
	valid := []string{
		`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi \"there\"\n\u00e9","refusal":null},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}`,
		`{"id":"c2","model":"m","choices":[{"message":{"content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
		`{"choices":[{"message":{"content":"a"},"finish_reason":"function_call"},{"message":{"content":"second"}}]}`,
		`{"id":"c3","choices":[{"message":{"content":"x","tool_calls":[]},"finish_reason":"length"}],"usage":null}`,
		`{"id":"c4","choices":[{"message":{"content":"big numbers"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1e3,"completion_tokens":2,"total_tokens":1002,"prompt_tokens_details":null}}`,
	}
	for i, body := range valid {
		got, err := p.decodeChatResponse([]byte(body))
		if err != nil {
			t.Fatalf("valid %d: %v", i, err)
		}
		var sdk openai.ChatCompletion
		if err := sdk.UnmarshalJSON([]byte(body)); err != nil {
			t.Fatal(err)
		}
		c := sdk.Choices[0]
		want := &Response{ID: sdk.ID, Model: sdk.Model, Text: c.Message.Content, FinishReason: openAIFinish(c.FinishReason), Usage: openAIUsage(sdk.Usage)}
		if len(c.Message.ToolCalls) > 0 {
			want.ToolCalls = json.RawMessage(c.Message.JSON.ToolCalls.Raw())
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("valid %d:\n got %+v\nwant %+v (as openai-go reads it)", i, got, want)
		}
	}
	for _, body := range []string{
		``, `{"id": "x", "choices": [{"message": `, `[]`, `"text"`, `{"choices":[]}`, `{"choices":{}}`, `{}`,
		`{"choices":[5]}`, `{"choices":[{"message":"hi"}]}`, `{"choices":[{"message":{"content":5}}]}`,
		`{"choices":[{"message":{"content":"a","tool_calls":{}}}]}`, `{"choices":[{"finish_reason":1}]}`,
		`{"id":7,"choices":[{"message":{"content":"a"}}]}`, `{"choices":[{"message":{"content":"a"}}],"usage":"lots"}`,
		`{"choices":[{"message":{"content":"a"}}],"usage":{"prompt_tokens":"nine"}}`,
		`{"choices":[{"message":{"content":{"text":"a"}}}]}`,
	} {
		_, err := p.decodeChatResponse([]byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Type != TypeBadUpstreamResponse {
			t.Errorf("%q: got %v, want a bad-upstream-response error", body, err)
		}
	}
	// Answers openai-go also accepts, in forms servers other than OpenAI's use.
	for body, want := range map[string]Response{
		// Mistral's reasoning models: content parts; only the text parts are the answer.
		`{"id":"a","model":"magistral","choices":[{"message":{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},{"type":"text","text":"4"},{"type":"text","text":"2"}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":30,"total_tokens":39}}`: {
			ID: "a", Model: "magistral", Text: "42", FinishReason: "stop", Usage: Usage{PromptTokens: 9, CompletionTokens: 30, TotalTokens: 39}},
		// Quoted counts.
		`{"id":"b","choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":"9","completion_tokens":"3"}}`: {
			ID: "b", Text: "ok", FinishReason: "stop", Usage: Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12}},
	} {
		got, err := p.decodeChatResponse([]byte(body))
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", body, got, err, want)
		}
	}
}

// sdkParams translates a Request into openai-go's own parameter types plus body options
// for the parts passed through as raw JSON: the reference appendChatBody is held to.
func sdkParams(p *openAIProvider, req *Request) (openai.ChatCompletionNewParams, []option.RequestOption, error) {
	var params openai.ChatCompletionNewParams
	if err := checkRequest(p.name, req, true); err != nil {
		return params, nil, err
	}
	if _, err := parseResponseFormat(p.name, req.ResponseFormat); err != nil {
		return params, nil, err
	}
	params.Model = req.Model
	for i, m := range req.Messages {
		msg, err := sdkMessage(p, m)
		if err != nil {
			return params, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("messages[%d]: %v", i, err))
		}
		params.Messages = append(params.Messages, msg)
	}
	if req.MaxTokens > 0 {
		if p.kind == kindOpenAI {
			// OpenAI deprecated max_tokens and its reasoning models reject it; compatible
			// servers mostly only know max_tokens.
			params.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		} else {
			params.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	if req.TopP != nil {
		params.TopP = openai.Float(*req.TopP)
	}
	if req.Seed != nil {
		params.Seed = openai.Int(*req.Seed)
	}
	if len(req.Stop) > 0 {
		params.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: req.Stop}
	}

	var opts []option.RequestOption
	if hasJSON(req.ResponseFormat) {
		opts = append(opts, option.WithJSONSet("response_format", req.ResponseFormat))
	}
	if hasJSON(req.Tools) {
		if !json.Valid(req.Tools) {
			return params, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "tools is not valid JSON")
		}
		opts = append(opts, option.WithJSONSet("tools", req.Tools))
	}
	for _, k := range sortedKeys(req.Extra) {
		opts = append(opts, option.WithJSONSet(sjsonKey(k), req.Extra[k]))
	}
	return params, opts, nil
}

func sdkMessage(p *openAIProvider, m Message) (openai.ChatCompletionMessageParamUnion, error) {
	switch m.Role {
	case RoleSystem:
		return openai.SystemMessage(m.Content), nil
	case RoleDeveloper:
		if p.kind != kindOpenAI {
			return openai.SystemMessage(m.Content), nil
		}
		return openai.DeveloperMessage(m.Content), nil
	case RoleUser:
		return openai.UserMessage(m.Content), nil
	case RoleTool:
		if m.ToolCallID == "" {
			return openai.ChatCompletionMessageParamUnion{}, errors.New("a tool message needs tool_call_id")
		}
		return openai.ToolMessage(m.Content, m.ToolCallID), nil
	default: // assistant
		if !hasJSON(m.ToolCalls) {
			return openai.AssistantMessage(m.Content), nil
		}
		if !json.Valid(m.ToolCalls) {
			return openai.ChatCompletionMessageParamUnion{}, errors.New("tool_calls is not valid JSON")
		}
		body := map[string]any{"role": "assistant", "tool_calls": m.ToolCalls, "content": nil}
		if m.Content != "" {
			body["content"] = m.Content
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return openai.ChatCompletionMessageParamUnion{}, err
		}
		am := param.Override[openai.ChatCompletionAssistantMessageParam](json.RawMessage(raw))
		return openai.ChatCompletionMessageParamUnion{OfAssistant: &am}, nil
	}
}

func jsonObject(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, raw)
	}
	return v
}
