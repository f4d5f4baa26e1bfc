package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

const testKey = "sk-test-0123456789abcdef-secret"

// adapter is one provider under test, with the fake server that speaks its wire format.
type adapter struct {
	name      string
	server    func(testing.TB, llmtest.Script) *llmtest.Server
	provider  func(cfg ProviderConfig) (Provider, error)
	authKey   func(h http.Header) string // the API key as the server received it
	embeds    bool
	withTools bool
	// joins: the adapter hands text chunks that arrived together over as one
	// (chunkHolder), so a stream's chunks are the upstream's with some joined.
	joins bool
}

var adapters = []adapter{
	{
		name:     "openai",
		server:   llmtest.NewOpenAI,
		provider: NewOpenAI,
		authKey: func(h http.Header) string {
			return strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
		},
		embeds:    true,
		withTools: true,
		joins:     true,
	},
	{
		name:     "anthropic",
		server:   llmtest.NewAnthropic,
		provider: NewAnthropic,
		authKey:  func(h http.Header) string { return h.Get("X-Api-Key") },
	},
	{
		name:     "google",
		server:   llmtest.NewGemini,
		provider: NewGemini,
		authKey:  func(h http.Header) string { return h.Get("X-Goog-Api-Key") },
		embeds:   true,
	},
}

// start runs a fake server with script and returns it with a provider pointed at it.
func (a adapter) start(t *testing.T, script llmtest.Script) (*llmtest.Server, Provider) {
	t.Helper()
	srv := a.server(t, script)
	p, err := a.provider(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
	if err != nil {
		t.Fatalf("new provider: %v", err)
	}
	return srv, p
}

func forEachAdapter(t *testing.T, f func(t *testing.T, a adapter)) {
	for _, a := range adapters {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			f(t, a)
		})
	}
}

func chatRequest() *Request {
	return &Request{
		Model: "test-model",
		Messages: []Message{
			{Role: RoleSystem, Content: "You are terse."},
			{Role: RoleUser, Content: "Say hello"},
		},
	}
}

// asError asserts that err is an *Error.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	return e
}

func TestComplete(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
			return llmtest.Reply{Text: "Hello there.", Usage: &llmtest.Usage{PromptTokens: 12, CompletionTokens: 3, CachedTokens: 4}}
		})
		res, err := p.Complete(context.Background(), chatRequest())
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if res.Text != "Hello there." || res.FinishReason != FinishStop {
			t.Errorf("text %q finish %q", res.Text, res.FinishReason)
		}
		want := Usage{PromptTokens: 12, CompletionTokens: 3, CachedTokens: 4, TotalTokens: 15}
		if res.Usage != want {
			t.Errorf("usage %+v, want %+v", res.Usage, want)
		}
		if res.ID == "" || res.Model == "" {
			t.Errorf("id %q model %q should be set", res.ID, res.Model)
		}
		rec, _ := srv.Last()
		if rec.Model != "test-model" || rec.Stream {
			t.Errorf("upstream got model %q stream %v", rec.Model, rec.Stream)
		}
		if got := a.authKey(rec.Header); got != testKey {
			t.Errorf("upstream got key %q", got)
		}
		wantMsgs := []llmtest.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "Say hello"}}
		if !reflect.DeepEqual(rec.Messages, wantMsgs) {
			t.Errorf("upstream messages %+v, want %+v", rec.Messages, wantMsgs)
		}
	})
}

func TestStream(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
			return llmtest.Reply{Chunks: []string{"Hel", "lo ", "world"}, Usage: &llmtest.Usage{PromptTokens: 9, CompletionTokens: 3}}
		})
		var chunks []Chunk
		res, err := p.Stream(context.Background(), chatRequest(), func(c Chunk) error {
			chunks = append(chunks, c)
			return nil
		})
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		var texts []string
		for i, c := range chunks {
			if c.Text != "" {
				texts = append(texts, c.Text)
			}
			if c.Usage != nil && i != len(chunks)-1 {
				t.Errorf("chunk %d carries usage before the end", i)
			}
		}
		if want := []string{"Hel", "lo ", "world"}; !a.joins && !reflect.DeepEqual(texts, want) || !llmtest.JoinedFrom(texts, want) {
			t.Errorf("chunk texts %q, want %q (joined=%v)", texts, want, a.joins)
		}
		last := chunks[len(chunks)-1]
		wantUsage := Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12}
		if last.FinishReason != FinishStop || last.Usage == nil || *last.Usage != wantUsage {
			t.Errorf("final chunk %+v (usage %+v), want finish stop and usage %+v", last, last.Usage, wantUsage)
		}
		if res.Text != "Hello world" || res.FinishReason != FinishStop || res.Usage != wantUsage {
			t.Errorf("assembled response %+v", res)
		}
		if rec, _ := srv.Last(); !rec.Stream {
			t.Errorf("upstream request was not a stream")
		}
	})
}

// TestSystemPlacement checks where each wire format puts the system prompt.
func TestSystemPlacement(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, nil)
		req := chatRequest()
		req.Messages = append(req.Messages, Message{Role: RoleAssistant, Content: "Hello."}, Message{Role: RoleUser, Content: "Again"})
		if _, err := p.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		rec, _ := srv.Last()
		b := rec.Body
		switch a.name {
		case "openai":
			msgs := b["messages"].([]any)
			first := msgs[0].(map[string]any)
			if first["role"] != "system" || first["content"] != "You are terse." || len(msgs) != 4 {
				t.Errorf("messages %v", msgs)
			}
		case "anthropic":
			sys, _ := json.Marshal(b["system"])
			if !strings.Contains(string(sys), "You are terse.") {
				t.Errorf("system %s", sys)
			}
			for _, m := range b["messages"].([]any) {
				if role := m.(map[string]any)["role"]; role != "user" && role != "assistant" {
					t.Errorf("role %v in messages", role)
				}
			}
			if len(b["messages"].([]any)) != 3 {
				t.Errorf("messages %v", b["messages"])
			}
		case "google":
			sys, _ := json.Marshal(b["systemInstruction"])
			if !strings.Contains(string(sys), "You are terse.") {
				t.Errorf("systemInstruction %s", sys)
			}
			var roles []string
			for _, c := range b["contents"].([]any) {
				roles = append(roles, c.(map[string]any)["role"].(string))
			}
			if want := []string{"user", "model", "user"}; !reflect.DeepEqual(roles, want) {
				t.Errorf("content roles %v, want %v", roles, want)
			}
		}
	})
}

func TestExtraReachesUpstream(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, nil)
		req := chatRequest()
		req.Extra = map[string]any{"options": map[string]any{"num_ctx": 8192}, "dotted.key": true}
		for _, stream := range []bool{false, true} {
			var err error
			if stream {
				_, err = p.Stream(context.Background(), req, func(Chunk) error { return nil })
			} else {
				_, err = p.Complete(context.Background(), req)
			}
			if err != nil {
				t.Fatal(err)
			}
			rec, _ := srv.Last()
			opts, _ := rec.Body["options"].(map[string]any)
			if opts["num_ctx"] != float64(8192) || rec.Body["dotted.key"] != true {
				t.Errorf("stream=%v: upstream body %s lacks the extra parameters", stream, rec.RawBody)
			}
		}
	})
}

func TestRequestParameters(t *testing.T) {
	temp, topP, seed := 0.25, 0.5, int64(7)
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, nil)
		req := chatRequest()
		req.MaxTokens, req.Temperature, req.TopP, req.Stop, req.Seed = 100, &temp, &topP, []string{"END"}, &seed
		req.ResponseFormat = json.RawMessage(`{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`)
		if _, err := p.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		rec, _ := srv.Last()
		b := rec.Body
		var got map[string]any
		switch a.name {
		case "openai":
			got = map[string]any{"max": b["max_completion_tokens"], "temp": b["temperature"], "top_p": b["top_p"],
				"stop": b["stop"], "seed": b["seed"], "format": b["response_format"].(map[string]any)["type"]}
		case "anthropic":
			got = map[string]any{"max": b["max_tokens"], "temp": b["temperature"], "top_p": b["top_p"],
				"stop": b["stop_sequences"], "seed": float64(7), "format": b["output_config"].(map[string]any)["format"].(map[string]any)["type"]}
		case "google":
			g := b["generationConfig"].(map[string]any)
			got = map[string]any{"max": g["maxOutputTokens"], "temp": g["temperature"], "top_p": g["topP"],
				"stop": g["stopSequences"], "seed": g["seed"], "format": "json_schema"}
			if g["responseMimeType"] != "application/json" || g["responseJsonSchema"] == nil {
				t.Errorf("generationConfig %v lacks the JSON schema", g)
			}
		}
		want := map[string]any{"max": float64(100), "temp": 0.25, "top_p": 0.5, "stop": []any{"END"}, "seed": float64(7), "format": "json_schema"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("upstream parameters %v, want %v (body %s)", got, want, rec.RawBody)
		}
	})
}

func TestUpstreamErrors(t *testing.T) {
	cases := []struct {
		name      string
		reply     llmtest.Reply
		status    int
		typ       string
		retryable bool
		retry     time.Duration
	}{
		{"429 with Retry-After", llmtest.Reply{Status: 429, Error: "slow down", RetryAfter: "7"}, 429, TypeRateLimit, true, 7 * time.Second},
		{"500", llmtest.Reply{Status: 500, Error: "boom"}, 500, TypeServer, true, 0},
		{"503 with Retry-After", llmtest.Reply{Status: 503, RetryAfter: "2"}, 503, TypeOverloaded, true, 2 * time.Second},
		{"401", llmtest.Reply{Status: 401, Error: "Incorrect API key provided: " + testKey}, 401, TypeAuthentication, false, 0},
		{"400", llmtest.Reply{Status: 400, Error: "bad things in " + testKey}, 400, TypeInvalidRequest, false, 0},
	}
	forEachAdapter(t, func(t *testing.T, a adapter) {
		for _, tc := range cases {
			for _, stream := range []bool{false, true} {
				srv, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply { return tc.reply })
				var err error
				if stream {
					_, err = p.Stream(context.Background(), chatRequest(), func(Chunk) error { return nil })
				} else {
					_, err = p.Complete(context.Background(), chatRequest())
				}
				e := asError(t, err)
				if e.Status != tc.status || e.Type != tc.typ || e.Retryable != tc.retryable || e.RetryAfter != tc.retry || e.Provider != a.name {
					t.Errorf("%s stream=%v: got %+v", tc.name, stream, e)
				}
				if strings.Contains(e.Error(), testKey) || strings.Contains(e.Message, "0123456789abcdef") {
					t.Errorf("%s: error leaks the API key: %q", tc.name, e.Error())
				}
				if srv.Calls() != 1 {
					t.Errorf("%s: %d upstream calls, want exactly 1 (no SDK retries)", tc.name, srv.Calls())
				}
			}
		}
	})
}

func TestTimeout(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv := a.server(t, func(llmtest.RecordedRequest) llmtest.Reply { return llmtest.Reply{Delay: time.Minute} })
		t.Run("context deadline", func(t *testing.T) {
			p, _ := a.provider(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := p.Complete(ctx, chatRequest())
			e := asError(t, err)
			if e.Status != http.StatusGatewayTimeout || e.Type != TypeTimeout || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %+v", e)
			}
		})
		t.Run("provider timeout, streaming", func(t *testing.T) {
			p, _ := a.provider(ProviderConfig{APIKey: testKey, BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
			_, err := p.Stream(context.Background(), chatRequest(), func(Chunk) error { return nil })
			if e := asError(t, err); e.Status != http.StatusGatewayTimeout || e.Type != TypeTimeout {
				t.Errorf("got %+v", e)
			}
		})
		t.Run("canceled", func(t *testing.T) {
			p, _ := a.provider(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := p.Complete(ctx, chatRequest())
			if e := asError(t, err); e.Type != TypeCanceled || e.Retryable || !errors.Is(err, context.Canceled) {
				t.Errorf("got %+v", e)
			}
		})
	})
}

func TestMalformedResponse(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		_, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
			return llmtest.Reply{Body: `{"id": "x", "choices": [{"message": `}
		})
		_, err := p.Complete(context.Background(), chatRequest())
		if e := asError(t, err); e.Status != http.StatusBadGateway || e.Type != TypeBadUpstreamResponse {
			t.Errorf("got %+v", e)
		}

		_, p = a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
			return llmtest.Reply{Body: "event: message_start\ndata: {not json\n\n"}
		})
		_, err = p.Stream(context.Background(), chatRequest(), func(Chunk) error { return nil })
		if e := asError(t, err); e.Status != http.StatusBadGateway || e.Type != TypeBadUpstreamResponse {
			t.Errorf("stream: got %+v", e)
		}
	})
}

func TestStreamDisconnect(t *testing.T) {
	for _, after := range []int{2, 4} { // mid-text, and after all text but before the end
		forEachAdapter(t, func(t *testing.T, a adapter) {
			_, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
				return llmtest.Reply{Chunks: []string{"a", "b", "c", "d"}, DisconnectAfter: after}
			})
			var texts []string
			res, err := p.Stream(context.Background(), chatRequest(), func(c Chunk) error {
				if c.FinishReason != "" {
					t.Errorf("got a final chunk from a broken stream: %+v", c)
				}
				texts = append(texts, c.Text)
				return nil
			})
			if res != nil {
				t.Errorf("truncated stream returned a response: %+v", res)
			}
			e := asError(t, err)
			if e.Status != http.StatusBadGateway || !e.Retryable {
				t.Errorf("got %+v", e)
			}
			if want := []string{"a", "b", "c", "d"}[:after]; !a.joins && len(texts) != after || !llmtest.JoinedFrom(texts, want) {
				t.Errorf("got chunks %q before the break, want %q (joined=%v)", texts, want, a.joins)
			}
		})
	}
}

func TestStreamCallbackErrorStops(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		_, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
			return llmtest.Reply{Chunks: []string{"one ", "two ", "three ", "four"}}
		})
		stop := errors.New("client went away")
		calls := 0
		res, err := p.Stream(context.Background(), chatRequest(), func(Chunk) error {
			calls++
			return stop
		})
		if err != stop || res != nil {
			t.Errorf("got %v, %v; want the callback's error", res, err)
		}
		if calls != 1 {
			t.Errorf("callback called %d times after returning an error", calls)
		}
	})
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	for _, a := range adapters {
		p, _ := a.provider(ProviderConfig{APIKey: testKey, BaseURL: url})
		_, err := p.Complete(context.Background(), chatRequest())
		e := asError(t, err)
		if e.Status != http.StatusBadGateway || e.Type != TypeUpstreamUnavailable || !e.Retryable {
			t.Errorf("%s: got %+v", a.name, e)
		}
		if strings.Contains(e.Error(), testKey) {
			t.Errorf("%s: error leaks the key", a.name)
		}
	}
}

func TestEmbed(t *testing.T) {
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, nil)
		inputs := []string{"func main() {}", "package llm"}
		vecs, usage, err := p.Embed(context.Background(), "embed-model", inputs)
		if !a.embeds {
			if e := asError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "embeddings are not supported") {
				t.Errorf("got %+v", e)
			}
			if srv.Calls() != 0 {
				t.Errorf("unsupported embeddings reached the upstream")
			}
			return
		}
		if err != nil {
			t.Fatalf("Embed: %v", err)
		}
		for i, in := range inputs {
			if !reflect.DeepEqual(vecs[i], llmtest.Vector(in, 8)) {
				t.Errorf("vector %d = %v, want %v", i, vecs[i], llmtest.Vector(in, 8))
			}
		}
		rec, _ := srv.Last()
		if rec.Kind != "embeddings" || !reflect.DeepEqual(rec.Inputs, inputs) || rec.Model != "embed-model" {
			t.Errorf("upstream got %+v", rec)
		}
		if a.name == "openai" && usage.PromptTokens != 5 {
			t.Errorf("usage %+v", usage)
		}

		// Errors map the same way as for chat.
		srv, p = a.start(t, func(llmtest.RecordedRequest) llmtest.Reply { return llmtest.Reply{Status: 429, RetryAfter: "3"} })
		_, _, err = p.Embed(context.Background(), "embed-model", inputs)
		if e := asError(t, err); e.Status != 429 || e.RetryAfter != 3*time.Second {
			t.Errorf("got %+v", e)
		}
	})
}

func TestTools(t *testing.T) {
	tools := json.RawMessage(`[{"type":"function","function":{"name":"read_file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}}]`)
	forEachAdapter(t, func(t *testing.T, a adapter) {
		srv, p := a.start(t, func(llmtest.RecordedRequest) llmtest.Reply {
			return llmtest.Reply{ToolCalls: []llmtest.ToolCall{{ID: "call_1", Name: "read_file", Arguments: `{"path":"main.go"}`}}}
		})
		req := chatRequest()
		req.Tools = tools
		res, err := p.Complete(context.Background(), req)
		if !a.withTools {
			e := asError(t, err)
			if e.Status != http.StatusBadRequest || e.Message != "tools not supported by provider "+a.name {
				t.Errorf("got %+v", e)
			}
			if srv.Calls() != 0 {
				t.Errorf("a request with tools reached the upstream")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := srv.Last()
		sent, _ := json.Marshal(rec.Body["tools"])
		var want any
		_ = json.Unmarshal(tools, &want)
		wantJSON, _ := json.Marshal(want)
		if string(sent) != string(wantJSON) {
			t.Errorf("upstream tools %s, want %s", sent, wantJSON)
		}
		const wantCalls = `[{"function":{"arguments":"{\"path\":\"main.go\"}","name":"read_file"},"id":"call_1","type":"function"}]`
		if res.FinishReason != FinishToolCalls || compactJSON(t, res.ToolCalls) != wantCalls {
			t.Errorf("response %q tool calls %s", res.FinishReason, res.ToolCalls)
		}
		res, err = p.Stream(context.Background(), req, func(Chunk) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.FinishReason != FinishToolCalls || compactJSON(t, res.ToolCalls) != wantCalls {
			t.Errorf("streamed response %q tool calls %s", res.FinishReason, res.ToolCalls)
		}

		// The conversation continues with the tool's result.
		req.Messages = append(req.Messages,
			Message{Role: RoleAssistant, ToolCalls: res.ToolCalls},
			Message{Role: RoleTool, ToolCallID: "call_1", Content: "package main"})
		if _, err := p.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		rec, _ = srv.Last()
		msgs := rec.Body["messages"].([]any)
		asst, tool := msgs[2].(map[string]any), msgs[3].(map[string]any)
		if asst["role"] != "assistant" || asst["tool_calls"] == nil || tool["role"] != "tool" || tool["tool_call_id"] != "call_1" {
			t.Errorf("upstream messages %v", msgs)
		}
	})
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
