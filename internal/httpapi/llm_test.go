package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// completionID is the shape of OpenAI's chat completion ids.
var completionID = regexp.MustCompile(`^chatcmpl-[0-9a-f]{32}$`)

// What the fake providers answer. The OpenAI fake streams fakeChunks; joined, they are
// the text of every answer it gives.
var (
	fakeChunks = []string{"Paris ", "is ", "the ", "capital."}
	fakeText   = strings.Join(fakeChunks, "")
)

const (
	claudeText = "Bonjour from Claude"
	geminiText = "Hallo from Gemini"

	// Provider keys the server is configured with; they must reach the fakes and never
	// the logs.
	fakeOpenAIKey    = "sk-test-openai-9f8e7d6c5b4a"
	fakeAnthropicKey = "sk-ant-test-1a2b3c4d5e6f"
	fakeGoogleKey    = "AIzaTestGoogleKey0123456789abcdef"

	gptMini = "openai/gpt-4o-mini" // priced in the default price table

	// Prompts that make the OpenAI fake fail.
	promptUpstream500     = "fail with a 500, please"
	promptUpstream429     = "fail with a 429, please"
	promptUpstream429Long = "fail with a long 429, please"
)

// openAIScript answers with fakeChunks unless the prompt asks for a failure. The
// failures ask for a retry in 5ms (Retry-After-Ms, which OpenAI sends beside
// Retry-After) so the gateway's retries take no time.
func openAIScript(req llmtest.RecordedRequest) llmtest.Reply {
	quick := http.Header{"Retry-After-Ms": {"5"}}
	switch req.LastUserMessage() {
	case promptUpstream500:
		return llmtest.Reply{Status: http.StatusInternalServerError, Error: "the fake had a bad day", Header: quick}
	case promptUpstream429:
		return llmtest.Reply{Status: http.StatusTooManyRequests, Error: "slow down", RetryAfter: "1", Header: quick}
	case promptUpstream429Long:
		return llmtest.Reply{Status: http.StatusTooManyRequests, Error: "come back in a minute", RetryAfter: "60"}
	}
	return llmtest.Reply{Chunks: fakeChunks}
}

// llmEnv is a running server whose providers are local fakes.
type llmEnv struct {
	*env
	openAI, anthropic, gemini *llmtest.Server
}

// forEachDialectLLM is forEachDialect with OpenAI, Anthropic and Gemini fakes configured
// the way an operator configures real providers: API keys and base URLs in the
// environment. script drives the OpenAI fake (nil: openAIScript); settings override the
// defaults, and an empty value unsets one (e.g. GOOGLE_API_KEY: "" drops Gemini).
func forEachDialectLLM(t *testing.T, settings map[string]string, script llmtest.Script, fn func(t *testing.T, e *llmEnv)) {
	t.Helper()
	if script == nil {
		script = openAIScript
	}
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			e := &llmEnv{
				openAI:    llmtest.NewOpenAI(t, script),
				anthropic: llmtest.NewAnthropic(t, llmtest.Text(claudeText)),
				gemini:    llmtest.NewGemini(t, llmtest.Text(geminiText)),
			}
			vars := map[string]string{
				"OPENAI_API_KEY": fakeOpenAIKey, "OPENAI_BASE_URL": e.openAI.URL + "/v1",
				"ANTHROPIC_API_KEY": fakeAnthropicKey, "ANTHROPIC_BASE_URL": e.anthropic.URL,
				"GOOGLE_API_KEY": fakeGoogleKey, "GOOGLE_BASE_URL": e.gemini.URL,
				// The default of 20 a minute would throttle the longer tests.
				"VIBECODER_LLM_RPM": "1000",
			}
			maps.Copy(vars, settings)
			e.env = newEnv(t, d, vars)
			for _, k := range []string{fakeOpenAIKey, fakeAnthropicKey, fakeGoogleKey} {
				e.secret(k)
			}
			fn(t, e)
		})
	}
}

// llmUser signs a user up and returns a client that calls with a fresh API key.
func (e *llmEnv) llmUser(t *testing.T, name string) *client {
	t.Helper()
	c, _ := e.signup(t, name+"@example.com", name+"'s long password").newAPIKey(name)
	return c
}

// admin creates an administrator (there is no HTTP route for that) with an API key.
func (e *llmEnv) admin(t *testing.T) *client {
	t.Helper()
	u, err := e.app.Auth.Signup(t.Context(), "root@example.com", "Root", "root's long password", true)
	if err != nil {
		t.Fatalf("signup admin: %v", err)
	}
	key, _, err := e.app.Auth.CreateAPIKey(t.Context(), u.ID, "root")
	if err != nil {
		t.Fatalf("admin api key: %v", err)
	}
	e.secret(key)
	return &client{e: e.env, t: t, bearer: key, userID: u.ID.String()}
}

func generateBody(prompt string, kv ...any) map[string]any {
	b := map[string]any{"prompt": prompt, "model": gptMini}
	for i := 0; i+1 < len(kv); i += 2 {
		b[kv[i].(string)] = kv[i+1]
	}
	return b
}

func chatBody(prompt string, kv ...any) map[string]any {
	b := map[string]any{"model": gptMini, "messages": []map[string]string{{"role": "user", "content": prompt}}}
	for i := 0; i+1 < len(kv); i += 2 {
		b[kv[i].(string)] = kv[i+1]
	}
	return b
}

// JSON navigation for decoded bodies: a missing or mistyped value is the zero value,
// which the assertions then report.
func jobj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func jstr(v any) string         { s, _ := v.(string); return s }
func jnum(v any) float64        { f, _ := v.(float64); return f }
func jlist(v any) []any         { l, _ := v.([]any); return l }

func wantHeader(t *testing.T, r response, key, want string) {
	t.Helper()
	if got := r.header.Get(key); got != want {
		t.Errorf("%s = %q, want %q", key, got, want)
	}
}

// wantCalls asserts how many requests a fake has received in all.
func wantCalls(t *testing.T, s *llmtest.Server, want int, what string) {
	t.Helper()
	if got := s.Calls(); got != want {
		t.Fatalf("%s: upstream received %d requests, want %d", what, got, want)
	}
}

// wantOpenAIError asserts an error in OpenAI's format ({"error":{"message","type",...}}),
// not problem+json, with the given status and type.
func wantOpenAIError(t *testing.T, r response, status int, typ, what string) {
	t.Helper()
	wantStatus(t, r, status, what)
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json; body: %s", what, r.header.Get("Content-Type"), r.raw)
	}
	e := jobj(r.body["error"])
	if e == nil || jstr(e["message"]) == "" {
		t.Fatalf("%s: not an OpenAI error body: %s", what, r.raw)
	}
	if got := jstr(e["type"]); got != typ {
		t.Errorf("%s: error.type %q, want %q; body: %s", what, got, typ, r.raw)
	}
	if len(r.body) != 1 {
		t.Errorf("%s: OpenAI error body has fields besides error: %s", what, r.raw)
	}
}

// wantRateLimited asserts the headers of a request refused by the server's rate limit.
func wantRateLimited(t *testing.T, r response, limit int) {
	t.Helper()
	wantHeader(t, r, "RateLimit-Limit", strconv.Itoa(limit))
	wantHeader(t, r, "RateLimit-Remaining", "0")
	for _, h := range []string{"Retry-After", "RateLimit-Reset"} {
		n, err := strconv.Atoi(r.header.Get(h))
		if err != nil || n < 1 || n > 60 {
			t.Errorf("%s = %q, want whole seconds in 1-60", h, r.header.Get(h))
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// parseSSE splits a text/event-stream body into events.
func parseSSE(t *testing.T, r response) []sseEvent {
	t.Helper()
	wantStatus(t, r, http.StatusOK, "stream")
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "text/event-stream" {
		t.Fatalf("stream: Content-Type %q, want text/event-stream; body: %s", r.header.Get("Content-Type"), r.raw)
	}
	if !strings.HasSuffix(string(r.raw), "\n\n") {
		t.Fatalf("stream does not end with a complete event: %q", r.raw)
	}
	var out []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(string(r.raw), "\n\n"), "\n\n") {
		var ev sseEvent
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			default:
				t.Fatalf("unexpected line %q in stream:\n%s", line, r.raw)
			}
		}
		out = append(out, ev)
	}
	return out
}

func decodeObject(t *testing.T, data string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, data)
	}
	return m
}

// generateStream is a POST /llm/generate stream: its chunk texts and its done event.
type generateStream struct {
	chunks []string
	done   map[string]any
}

func readGenerateStream(t *testing.T, r response) generateStream {
	t.Helper()
	evs := parseSSE(t, r)
	var s generateStream
	for i, ev := range evs {
		switch {
		case ev.name == "chunk" && i < len(evs)-1:
			s.chunks = append(s.chunks, jstr(decodeObject(t, ev.data)["text"]))
		case ev.name == "done" && i == len(evs)-1:
			s.done = decodeObject(t, ev.data)
		default:
			t.Fatalf("event %d is %q; want chunk events then one done:\n%s", i, ev.name, r.raw)
		}
	}
	if s.done == nil {
		t.Fatalf("stream has no done event:\n%s", r.raw)
	}
	return s
}

// chatStream is a POST /v1/chat/completions stream taken apart.
type chatStream struct {
	ids     []string // of every chunk
	role    string   // of the first chunk's delta
	deltas  []string // content deltas, in order
	finish  string
	usage   map[string]any
	objects []string
	// chunks are the chunks without what differs per response (id, created), to
	// compare a replay with the original.
	chunks []map[string]any
}

// readChatStream checks the order OpenAI clients rely on: a first delta with the
// assistant role, content deltas, a chunk with finish_reason, a usage chunk with no
// choices, then data: [DONE].
func readChatStream(t *testing.T, r response) chatStream {
	t.Helper()
	evs := parseSSE(t, r)
	if n := len(evs); n < 4 || evs[n-1].data != "[DONE]" {
		t.Fatalf("stream does not end with data: [DONE]:\n%s", r.raw)
	}
	var s chatStream
	for i, ev := range evs[:len(evs)-1] {
		if ev.name != "" {
			t.Fatalf("chat stream event %d is named %q; OpenAI streams are data-only", i, ev.name)
		}
		c := decodeObject(t, ev.data)
		s.ids = append(s.ids, jstr(c["id"]))
		s.objects = append(s.objects, jstr(c["object"]))
		same := maps.Clone(c)
		delete(same, "id")
		delete(same, "created")
		s.chunks = append(s.chunks, same)
		choices := jlist(c["choices"])
		if i == len(evs)-2 {
			if len(choices) != 0 || c["usage"] == nil {
				t.Fatalf("last chunk before [DONE] is not a usage chunk with empty choices: %s", ev.data)
			}
			s.usage = jobj(c["usage"])
			continue
		}
		if len(choices) != 1 {
			t.Fatalf("chunk %d has %d choices, want 1: %s", i, len(choices), ev.data)
		}
		ch := jobj(choices[0])
		delta := jobj(ch["delta"])
		if i == 0 {
			s.role = jstr(delta["role"])
		}
		if s.finish != "" {
			t.Fatalf("chunk %d follows the finish_reason chunk: %s", i, ev.data)
		}
		if text := jstr(delta["content"]); text != "" {
			s.deltas = append(s.deltas, text)
		}
		if f, ok := ch["finish_reason"].(string); ok {
			s.finish = f
		}
	}
	return s
}

func (s chatStream) text() string { return strings.Join(s.deltas, "") }

// wantChatUsage asserts an OpenAI usage object for the fake's default answer to prompt.
func wantChatUsage(t *testing.T, u map[string]any, prompt string) {
	t.Helper()
	p, c, total := jnum(u["prompt_tokens"]), jnum(u["completion_tokens"]), jnum(u["total_tokens"])
	// The fake counts a prompt token per word and a completion token per chunk.
	if p != float64(len(strings.Fields(prompt))) || c != float64(len(fakeChunks)) || total != p+c {
		t.Errorf("usage %v, want prompt_tokens %d, completion_tokens %d and their sum", u, len(strings.Fields(prompt)), len(fakeChunks))
	}
}

func TestLLMGenerate(t *testing.T) {
	forEachDialectLLM(t, nil, nil, func(t *testing.T, e *llmEnv) {
		alice, bob := e.llmUser(t, "alice"), e.llmUser(t, "bob")
		const prompt = "What is the capital of France?"
		var first response

		t.Run("miss", func(t *testing.T) {
			r := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt))
			first = r
			wantHeader(t, r, "X-Cache", "MISS")
			if r.str("text") != fakeText || r.str("model") != "gpt-4o-mini" || r.str("provider") != "openai" ||
				r.str("finish_reason") != "stop" || r.body["cached"] != false {
				t.Errorf("answer: %s", r.raw)
			}
			wantChatUsage(t, jobj(r.body["usage"]), prompt)
			if jnum(r.body["cost_usd"]) <= 0 {
				t.Errorf("cost_usd of a priced model is %v, want > 0", r.body["cost_usd"])
			}
			if l, ok := r.body["latency_ms"].(float64); !ok || l < 0 {
				t.Errorf("latency_ms = %v, want a number >= 0", r.body["latency_ms"])
			}
			wantCalls(t, e.openAI, 1, "first call")
			up, _ := e.openAI.Last()
			if up.Model != "gpt-4o-mini" || up.Stream || up.LastUserMessage() != prompt ||
				up.Header.Get("Authorization") != "Bearer "+fakeOpenAIKey {
				t.Errorf("upstream got model %q stream %v prompt %q auth ok %v", up.Model, up.Stream, up.LastUserMessage(),
					up.Header.Get("Authorization") == "Bearer "+fakeOpenAIKey)
			}
		})

		t.Run("hit", func(t *testing.T) {
			r := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt))
			wantHeader(t, r, "X-Cache", "HIT")
			if r.body["cached"] != true || r.str("text") != fakeText || !reflect.DeepEqual(r.body["usage"], first.body["usage"]) {
				t.Errorf("cached answer: %s\nfirst: %s", r.raw, first.raw)
			}
			if saved := jnum(r.body["cost_saved_usd"]); saved <= 0 || math.Abs(saved-jnum(first.body["cost_usd"])) > 1e-12 {
				t.Errorf("cost_saved_usd %v, want the first call's cost_usd %v", saved, first.body["cost_usd"])
			}
			wantCalls(t, e.openAI, 1, "identical second call")
		})

		t.Run("other user's cache is separate", func(t *testing.T) {
			r := bob.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt))
			wantHeader(t, r, "X-Cache", "MISS")
			if r.body["cached"] != false {
				t.Errorf("bob got alice's cached answer: %s", r.raw)
			}
			wantCalls(t, e.openAI, 2, "bob's identical call")
			wantHeader(t, bob.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt)), "X-Cache", "HIT")
			wantCalls(t, e.openAI, 2, "bob's second call")
		})

		t.Run("stream", func(t *testing.T) {
			const p = "Stream the capital of France"
			r := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(p, "stream", true))
			wantHeader(t, r, "X-Cache", "MISS")
			s := readGenerateStream(t, r)
			if !llmtest.JoinedFrom(s.chunks, fakeChunks) { // text that arrived together may be one chunk
				t.Errorf("chunks %q, want %q", s.chunks, fakeChunks)
			}
			if jstr(s.done["text"]) != strings.Join(s.chunks, "") || s.done["cached"] != false || jstr(s.done["provider"]) != "openai" {
				t.Errorf("done event: %v", s.done)
			}
			wantChatUsage(t, jobj(s.done["usage"]), p)
			if up, _ := e.openAI.Last(); !up.Stream {
				t.Error("the upstream call did not stream")
			}
			calls := e.openAI.Calls()

			// The same prompt without streaming comes from the cache the stream filled.
			whole := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(p))
			wantHeader(t, whole, "X-Cache", "HIT")
			if whole.str("text") != strings.Join(s.chunks, "") {
				t.Errorf("non-streamed text %q, streamed %q", whole.str("text"), strings.Join(s.chunks, ""))
			}

			// And a stream of it is replayed chunk by chunk.
			again := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody(p, "stream", true))
			wantHeader(t, again, "X-Cache", "HIT")
			rs := readGenerateStream(t, again)
			if !slices.Equal(rs.chunks, s.chunks) || rs.done["cached"] != true || !reflect.DeepEqual(rs.done["usage"], s.done["usage"]) {
				t.Errorf("replayed stream %q done %v; first %q done %v", rs.chunks, rs.done, s.chunks, s.done)
			}
			wantCalls(t, e.openAI, calls, "served from the cache")
		})

		t.Run("Cache-Control", func(t *testing.T) {
			c := alice.in(t)
			calls := e.openAI.Calls()
			r := c.ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt), header("Cache-Control", "no-cache"))
			wantHeader(t, r, "X-Cache", "MISS")
			wantCalls(t, e.openAI, calls+1, "no-cache skips the lookup")

			const p = "Do not keep this answer"
			r = c.ok(http.StatusOK, "POST", "/llm/generate", generateBody(p), header("Cache-Control", "no-store"))
			wantHeader(t, r, "X-Cache", "MISS")
			r = c.ok(http.StatusOK, "POST", "/llm/generate", generateBody(p))
			wantHeader(t, r, "X-Cache", "MISS")
			wantCalls(t, e.openAI, calls+3, "no-store kept nothing")
			r = c.ok(http.StatusOK, "POST", "/llm/generate", generateBody(p))
			wantHeader(t, r, "X-Cache", "HIT")
			wantCalls(t, e.openAI, calls+3, "a plain call stores")
		})

		t.Run("validation", func(t *testing.T) {
			c := alice.in(t)
			calls := e.openAI.Calls()
			wantFieldError(t, c.do("POST", "/llm/generate", generateBody("")), "prompt", "empty prompt")
			wantFieldError(t, c.do("POST", "/llm/generate", generateBody("hi", "temperature", 3)), "temperature", "temperature 3")
			wantFieldError(t, c.do("POST", "/llm/generate", generateBody("hi", "max_tokens", -1)), "max_tokens", "negative max_tokens")
			wantCalls(t, e.openAI, calls, "invalid requests")
		})

		t.Run("project_id", func(t *testing.T) {
			bobs := bob.in(t).ok(http.StatusCreated, "POST", "/api/v1/projects",
				map[string]string{"name": "bob's", "repo_url": "https://github.com/bob/app.git"}).str("id")
			mine := alice.in(t).ok(http.StatusCreated, "POST", "/api/v1/projects",
				map[string]string{"name": "alice's", "repo_url": "https://github.com/alice/app.git"}).str("id")
			calls := e.openAI.Calls()
			for _, id := range []string{bobs, uuid.NewString()} {
				r := alice.in(t).do("POST", "/llm/generate", generateBody("about my project", "project_id", id))
				wantProblem(t, r, http.StatusNotFound, "project "+id)
			}
			wantCalls(t, e.openAI, calls, "refused project")
			alice.in(t).ok(http.StatusOK, "POST", "/llm/generate", generateBody("about my project", "project_id", mine))
		})

		t.Run("anthropic", func(t *testing.T) {
			r := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate",
				map[string]any{"prompt": "Say hello", "system": "Be brief", "model": "anthropic/claude-haiku-4-5"})
			if r.str("text") != claudeText || r.str("provider") != "anthropic" || r.str("model") != "claude-haiku-4-5" || jnum(r.body["cost_usd"]) <= 0 {
				t.Errorf("answer: %s", r.raw)
			}
			wantCalls(t, e.anthropic, 1, "anthropic")
			up, _ := e.anthropic.Last()
			want := []llmtest.Message{{Role: "system", Content: "Be brief"}, {Role: "user", Content: "Say hello"}}
			if up.Model != "claude-haiku-4-5" || !slices.Equal(up.Messages, want) || up.Header.Get("X-Api-Key") != fakeAnthropicKey {
				t.Errorf("anthropic got model %q messages %v", up.Model, up.Messages)
			}
		})

		t.Run("gemini", func(t *testing.T) {
			r := alice.in(t).ok(http.StatusOK, "POST", "/llm/generate",
				map[string]any{"prompt": "Say hello", "model": "google/gemini-2.5-flash", "stream": true})
			s := readGenerateStream(t, r)
			if strings.Join(s.chunks, "") != geminiText || jstr(s.done["provider"]) != "google" || jstr(s.done["model"]) != "gemini-2.5-flash" {
				t.Errorf("chunks %q done %v", s.chunks, s.done)
			}
			wantCalls(t, e.gemini, 1, "gemini")
			if up, _ := e.gemini.Last(); up.Model != "gemini-2.5-flash" || !up.Stream || up.LastUserMessage() != "Say hello" {
				t.Errorf("gemini got model %q stream %v prompt %q", up.Model, up.Stream, up.LastUserMessage())
			}
		})

		t.Run("upstream failure", func(t *testing.T) {
			r := alice.in(t).do("POST", "/llm/generate", generateBody(promptUpstream500))
			wantProblem(t, r, http.StatusInternalServerError, "upstream 500")
			if r.str("type") != "urn:vibecoder:llm:server_error" {
				t.Errorf("problem type %q", r.str("type"))
			}
		})
	})
}

func TestChatCompletions(t *testing.T) {
	forEachDialectLLM(t, map[string]string{"VIBECODER_DEFAULT_MODEL": gptMini}, nil, func(t *testing.T, e *llmEnv) {
		alice := e.llmUser(t, "alice")
		chat := func(t *testing.T, body any, opts ...reqOpt) response {
			t.Helper()
			return alice.in(t).do("POST", "/v1/chat/completions", body, opts...)
		}
		const prompt = "What is the capital of France?"

		t.Run("completion", func(t *testing.T) {
			r := chat(t, chatBody(prompt))
			wantStatus(t, r, http.StatusOK, "chat")
			wantHeader(t, r, "X-Cache", "MISS")
			if !completionID.MatchString(r.str("id")) || r.str("object") != "chat.completion" ||
				jnum(r.body["created"]) <= 0 || r.str("model") != gptMini {
				t.Errorf("envelope: %s", r.raw)
			}
			choices := jlist(r.body["choices"])
			if len(choices) != 1 {
				t.Fatalf("choices: %s", r.raw)
			}
			ch := jobj(choices[0])
			msg := jobj(ch["message"])
			if jnum(ch["index"]) != 0 || jstr(msg["role"]) != "assistant" || jstr(msg["content"]) != fakeText || jstr(ch["finish_reason"]) != "stop" {
				t.Errorf("choice: %v", ch)
			}
			wantChatUsage(t, jobj(r.body["usage"]), prompt)

			again := chat(t, chatBody(prompt))
			wantStatus(t, again, http.StatusOK, "chat again")
			wantHeader(t, again, "X-Cache", "HIT")
			if !reflect.DeepEqual(again.body["choices"], r.body["choices"]) || !reflect.DeepEqual(again.body["usage"], r.body["usage"]) {
				t.Errorf("cached answer differs:\n%s\n%s", again.raw, r.raw)
			}
			if again.str("id") == r.str("id") {
				t.Error("two responses share an id")
			}
			wantCalls(t, e.openAI, 1, "completion")
		})

		t.Run("stream", func(t *testing.T) {
			const p = "Stream the capital of France"
			calls := e.openAI.Calls()
			body := chatBody(p, "stream", true, "stream_options", map[string]bool{"include_usage": true})
			r := chat(t, body)
			wantHeader(t, r, "X-Cache", "MISS")
			s := readChatStream(t, r)
			if s.role != "assistant" || !llmtest.JoinedFrom(s.deltas, fakeChunks) || s.finish != "stop" {
				t.Errorf("stream: role %q deltas %q finish %q\n%s", s.role, s.deltas, s.finish, r.raw)
			}
			for i := range s.ids {
				if s.ids[i] != s.ids[0] || !completionID.MatchString(s.ids[i]) || s.objects[i] != "chat.completion.chunk" {
					t.Fatalf("chunk %d: id %q object %q (first id %q)", i, s.ids[i], s.objects[i], s.ids[0])
				}
			}
			wantChatUsage(t, s.usage, p)
			wantCalls(t, e.openAI, calls+1, "stream")

			replay := chat(t, body)
			wantHeader(t, replay, "X-Cache", "HIT")
			rs := readChatStream(t, replay)
			if !reflect.DeepEqual(rs.chunks, s.chunks) {
				t.Errorf("replay differs from the original stream:\n%s\noriginal:\n%s", replay.raw, r.raw)
			}

			whole := chat(t, chatBody(p))
			wantHeader(t, whole, "X-Cache", "HIT")
			if got := jstr(jobj(jobj(jlist(whole.body["choices"])[0])["message"])["content"]); got != s.text() {
				t.Errorf("non-streamed content %q, streamed %q", got, s.text())
			}
			wantCalls(t, e.openAI, calls+1, "replays")
		})

		t.Run("model names", func(t *testing.T) {
			// A bare model name (or none, with a default configured) is resolved; the
			// stream's chunks name the model the way the whole answer does.
			const p = "Which model are you?"
			noModel := chatBody(p, "stream", true)
			delete(noModel, "model")
			for _, body := range []map[string]any{chatBody(p, "model", "gpt-4o-mini", "stream", true), noModel} {
				r := chat(t, body)
				for i, c := range readChatStream(t, r).chunks {
					if got := jstr(c["model"]); got != gptMini {
						t.Errorf("model %v: chunk %d names model %q, want %q", body["model"], i, got, gptMini)
					}
				}
			}
			whole := chat(t, chatBody(p, "model", "gpt-4o-mini"))
			wantStatus(t, whole, http.StatusOK, "bare model")
			if whole.str("model") != gptMini {
				t.Errorf("answer names model %q, want %q", whole.str("model"), gptMini)
			}
		})

		t.Run("provider-specific fields", func(t *testing.T) {
			const p = "Use a big context"
			calls := e.openAI.Calls()
			withCtx := func(n int) map[string]any {
				return chatBody(p, "options", map[string]int{"num_ctx": n}, "top_k", 40)
			}
			wantHeader(t, chat(t, withCtx(8192)), "X-Cache", "MISS")
			up, _ := e.openAI.Last()
			if !reflect.DeepEqual(up.Body["options"], map[string]any{"num_ctx": 8192.0}) || up.Body["top_k"] != 40.0 {
				t.Fatalf("upstream body lacks the extra fields: %s", up.RawBody)
			}
			wantHeader(t, chat(t, withCtx(8192)), "X-Cache", "HIT")
			wantCalls(t, e.openAI, calls+1, "same options")

			wantHeader(t, chat(t, withCtx(4096)), "X-Cache", "MISS")
			wantCalls(t, e.openAI, calls+2, "other options are another cache entry")
			if up, _ := e.openAI.Last(); !reflect.DeepEqual(up.Body["options"], map[string]any{"num_ctx": 4096.0}) {
				t.Errorf("upstream options %v, want num_ctx 4096", up.Body["options"])
			}
		})

		t.Run("content forms", func(t *testing.T) {
			// An escaped string, text parts and null all reach the upstream as the same text.
			for _, content := range []string{`"line\none \"quoted\" \u00e9"`, `[{"type":"text","text":"line\none \"quoted\""},{"type":"text","text":" é"}]`} {
				r := chat(t, `{"messages":[{"role":"system","content":null},{"role":"user","content":`+content+`}]}`, header("Cache-Control", "no-cache"))
				wantStatus(t, r, http.StatusOK, "content "+content)
				up, _ := e.openAI.Last()
				msgs := jlist(up.Body["messages"])
				if len(msgs) != 2 || jstr(jobj(msgs[1])["content"]) != "line\none \"quoted\" é" || jstr(jobj(msgs[0])["content"]) != "" {
					t.Errorf("content %s reached the upstream as %v", content, up.Body["messages"])
				}
			}
		})

		t.Run("invalid requests", func(t *testing.T) {
			calls := e.openAI.Calls()
			wantOpenAIError(t, chat(t, chatBody(prompt, "n", 2)), http.StatusBadRequest, "invalid_request_error", "n 2")
			wantOpenAIError(t, chat(t, chatBody(prompt, "temperature", 3)), http.StatusBadRequest, "invalid_request_error", "temperature 3")
			wantOpenAIError(t, chat(t, map[string]any{"model": gptMini, "messages": []any{}}), http.StatusBadRequest, "invalid_request_error", "no messages")
			wantOpenAIError(t, chat(t, `{"model":`), http.StatusBadRequest, "invalid_request_error", "broken JSON")
			wantOpenAIError(t, chat(t, `[1]`), http.StatusBadRequest, "invalid_request_error", "an array body")
			wantOpenAIError(t, chat(t, `{"messages":[{"role":"user","content":5}]}`), http.StatusBadRequest, "invalid_request_error", "numeric content")
			wantOpenAIError(t, chat(t, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`),
				http.StatusBadRequest, "invalid_request_error", "an image part")
			wantOpenAIError(t, chat(t, `{"messages":[{"role":"wizard","content":"hi"}]}`), http.StatusBadRequest, "invalid_request_error", "unknown role")
			wantOpenAIError(t, chat(t, `{"messages":"hi"}`), http.StatusBadRequest, "invalid_request_error", "messages as a string")
			wantOpenAIError(t, chat(t, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"), http.StatusBadRequest, "invalid_request_error", "invalid UTF-8")
			wantOpenAIError(t, chat(t, chatBody(prompt), header("Content-Type", "text/plain")), http.StatusUnsupportedMediaType, "invalid_request_error", "text/plain")
			r := chat(t, chatBody(prompt, "model", "nosuch/model"))
			if r.status < 400 || r.status > 499 || jobj(r.body["error"]) == nil {
				t.Errorf("unknown provider: %d %s", r.status, r.raw)
			}
			wantCalls(t, e.openAI, calls, "invalid requests")
		})

		t.Run("authentication", func(t *testing.T) {
			for name, c := range map[string]*client{
				"no key":    e.anon(t),
				"wrong key": {e: e.env, t: t, bearer: "vc_0000000000000000000000000000000000000000"},
				"not a key": {e: e.env, t: t, bearer: "sk-definitely-not-ours"},
			} {
				for _, path := range []string{"/v1/chat/completions", "/v1/models"} {
					var r response
					if path == "/v1/models" {
						r = c.do("GET", path, nil)
					} else {
						r = c.do("POST", path, chatBody(prompt))
					}
					wantOpenAIError(t, r, http.StatusUnauthorized, "authentication_error", name+" "+path)
					if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s %s: WWW-Authenticate %q", name, path, r.header.Get("WWW-Authenticate"))
					}
				}
			}
		})

		t.Run("upstream 500", func(t *testing.T) {
			calls := e.openAI.Calls()
			r := chat(t, chatBody(promptUpstream500))
			if r.status < 500 || r.status > 599 {
				t.Fatalf("status %d, want 5xx; body %s", r.status, r.raw)
			}
			wantOpenAIError(t, r, r.status, "server_error", "upstream 500")
			if msg := jstr(jobj(r.body["error"])["message"]); !strings.Contains(msg, "bad day") {
				t.Errorf("message %q does not pass the upstream's on", msg)
			}
			wantCalls(t, e.openAI, calls+3, "retried up to VIBECODER_LLM_MAX_ATTEMPTS (3)")
		})

		t.Run("upstream 429", func(t *testing.T) {
			calls := e.openAI.Calls()
			r := chat(t, chatBody(promptUpstream429))
			wantOpenAIError(t, r, http.StatusTooManyRequests, "rate_limit_error", "upstream 429")
			wantHeader(t, r, "Retry-After", "1")
			wantCalls(t, e.openAI, calls+3, "retried up to VIBECODER_LLM_MAX_ATTEMPTS (3)")

			// An upstream asking for longer than the gateway waits is not retried; its
			// Retry-After is passed on.
			r = chat(t, chatBody(promptUpstream429Long))
			wantOpenAIError(t, r, http.StatusTooManyRequests, "rate_limit_error", "upstream 429 for a minute")
			wantHeader(t, r, "Retry-After", "60")
			wantCalls(t, e.openAI, calls+4, "not retried")
		})
	})
}

func TestLLMRateLimit(t *testing.T) {
	forEachDialectLLM(t, map[string]string{"VIBECODER_LLM_RPM": "2"}, nil, func(t *testing.T, e *llmEnv) {
		for _, tc := range []struct {
			path   string
			body   func(string) map[string]any
			refuse func(t *testing.T, r response)
		}{
			{"/llm/generate", func(p string) map[string]any { return generateBody(p) }, func(t *testing.T, r response) {
				wantProblem(t, r, http.StatusTooManyRequests, "third call")
			}},
			{"/v1/chat/completions", func(p string) map[string]any { return chatBody(p) }, func(t *testing.T, r response) {
				wantOpenAIError(t, r, http.StatusTooManyRequests, "rate_limit_error", "third call")
			}},
		} {
			t.Run(tc.path, func(t *testing.T) {
				c := e.llmUser(t, "u"+strings.ReplaceAll(tc.path, "/", "-"))
				for i, remaining := range []string{"1", "0"} {
					r := c.ok(http.StatusOK, "POST", tc.path, tc.body(fmt.Sprintf("question %d", i)))
					wantHeader(t, r, "RateLimit-Limit", "2")
					wantHeader(t, r, "RateLimit-Remaining", remaining)
				}
				calls := e.openAI.Calls()
				// Even an answer the cache holds counts against the limit.
				r := c.do("POST", tc.path, tc.body("question 0"))
				tc.refuse(t, r)
				wantRateLimited(t, r, 2)
				// A stream is refused before it starts, with the same answer.
				stream := tc.body("question 2")
				stream["stream"] = true
				r = c.do("POST", tc.path, stream)
				tc.refuse(t, r)
				wantRateLimited(t, r, 2)
				wantCalls(t, e.openAI, calls, "refused calls")
			})
		}
	})
}

func TestLLMBudget(t *testing.T) {
	// Each answer reports 5000 completion tokens: $0.003 at gpt-4o-mini's price, so a
	// $0.005 budget pays for one call and refuses the reservation of the next.
	expensive := func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Chunks: fakeChunks, Usage: &llmtest.Usage{PromptTokens: 10, CompletionTokens: 5000}}
	}
	forEachDialectLLM(t, map[string]string{"VIBECODER_LLM_MONTHLY_BUDGET_USD": "0.005"}, expensive, func(t *testing.T, e *llmEnv) {
		for _, tc := range []struct {
			path   string
			body   func(string) map[string]any
			refuse func(t *testing.T, r response)
		}{
			{"/llm/generate", func(p string) map[string]any { return generateBody(p) }, func(t *testing.T, r response) {
				wantProblem(t, r, http.StatusPaymentRequired, "over budget")
				if r.str("type") != "urn:vibecoder:llm:budget_exceeded" {
					t.Errorf("problem type %q", r.str("type"))
				}
			}},
			{"/v1/chat/completions", func(p string) map[string]any { return chatBody(p) }, func(t *testing.T, r response) {
				wantOpenAIError(t, r, http.StatusPaymentRequired, "budget_exceeded", "over budget")
			}},
		} {
			t.Run(tc.path, func(t *testing.T) {
				c := e.llmUser(t, "u"+strings.ReplaceAll(tc.path, "/", "-"))
				c.ok(http.StatusOK, "POST", tc.path, tc.body("the first question"))
				const maxCalls = 10
				for i := range maxCalls {
					r := c.do("POST", tc.path, tc.body(fmt.Sprintf("question %d", i)))
					if r.status == http.StatusOK {
						continue
					}
					calls := e.openAI.Calls()
					tc.refuse(t, r)
					// A refused call never reaches the provider.
					tc.refuse(t, c.do("POST", tc.path, tc.body("one more")))
					wantCalls(t, e.openAI, calls, "over budget")
					return
				}
				t.Fatalf("%d calls of $0.003 each were all admitted under a $0.005 budget", maxCalls+1)
			})
		}
	})
}

func TestListModels(t *testing.T) {
	// Gemini is not configured here, so none of its models may be listed.
	forEachDialectLLM(t, map[string]string{"GOOGLE_API_KEY": ""}, nil, func(t *testing.T, e *llmEnv) {
		r := e.llmUser(t, "alice").ok(http.StatusOK, "GET", "/v1/models", nil)
		if r.str("object") != "list" {
			t.Fatalf("not a list: %s", r.raw)
		}
		owners := map[string]bool{}
		var ids []string
		for _, it := range jlist(r.body["data"]) {
			m := jobj(it)
			id, owner := jstr(m["id"]), jstr(m["owned_by"])
			if jstr(m["object"]) != "model" || !strings.HasPrefix(id, owner+"/") {
				t.Errorf("model entry %v", m)
			}
			owners[owner] = true
			ids = append(ids, id)
		}
		for _, want := range []string{gptMini, "anthropic/claude-haiku-4-5"} {
			if !slices.Contains(ids, want) {
				t.Errorf("%s is not listed: %v", want, ids)
			}
		}
		if want := map[string]bool{"openai": true, "anthropic": true}; !maps.Equal(owners, want) {
			t.Errorf("providers listed %v, want exactly the configured openai and anthropic", owners)
		}
	})
}

func TestLLMCacheStats(t *testing.T) {
	forEachDialectLLM(t, nil, nil, func(t *testing.T, e *llmEnv) {
		alice, bob, root := e.llmUser(t, "alice"), e.llmUser(t, "bob"), e.admin(t)
		const prompt = "What is the capital of France?"
		miss := alice.ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt))
		alice.ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt))
		alice.ok(http.StatusOK, "POST", "/v1/chat/completions", chatBody(prompt, "model", "anthropic/claude-haiku-4-5"))
		bob.ok(http.StatusOK, "POST", "/llm/generate", generateBody(prompt))

		st := pollStats(t, alice, "/llm/cache/stats", 3)
		if st.str("scope") != "user" {
			t.Errorf("scope %q, want user", st.str("scope"))
		}
		if c := jobj(st.body["cache"]); jstr(c["backend"]) != "memory" || jstr(c["scope"]) != "user" || jnum(c["entries"]) < 2 {
			t.Errorf("cache info %v, want the memory backend in user scope holding alice's and bob's entries", c)
		}
		models := statsByModel(t, st)
		if len(models) != 2 {
			t.Fatalf("alice's stats list %d models, want 2: %s", len(models), st.raw)
		}
		g := models[gptMini]
		usage := jobj(miss.body["usage"])
		if jnum(g["calls"]) != 2 || jnum(g["hits"]) != 1 || jnum(g["misses"]) != 1 || jnum(g["hit_rate"]) != 0.5 ||
			jnum(g["tokens_saved"]) != jnum(usage["prompt_tokens"])+jnum(usage["completion_tokens"]) ||
			math.Abs(jnum(g["cost_saved_usd"])-jnum(miss.body["cost_usd"])) > 1e-12 ||
			math.Abs(jnum(g["cost_usd"])-jnum(miss.body["cost_usd"])) > 1e-12 {
			t.Errorf("%s stats %v; the miss was %s", gptMini, g, miss.raw)
		}
		if a := models["anthropic/claude-haiku-4-5"]; jnum(a["calls"]) != 1 || jnum(a["hits"]) != 0 || jnum(a["misses"]) != 1 || jnum(a["hit_rate"]) != 0 {
			t.Errorf("anthropic stats %v", a)
		}
		if tot := jobj(st.body["totals"]); jnum(tot["calls"]) != 3 || jnum(tot["hits"]) != 1 || math.Abs(jnum(tot["hit_rate"])-1.0/3) > 1e-9 {
			t.Errorf("totals %v", tot)
		}

		// Bob sees his one call and nothing of alice's.
		bs := pollStats(t, bob, "/llm/cache/stats", 1)
		if bm := statsByModel(t, bs); len(bm) != 1 || jnum(bm[gptMini]["calls"]) != 1 || jnum(bm[gptMini]["hits"]) != 0 {
			t.Errorf("bob's stats: %s", bs.raw)
		}

		wantProblem(t, bob.do("GET", "/llm/cache/stats?all=true", nil), http.StatusForbidden, "all=true for a non-admin")
		wantProblem(t, bob.do("GET", "/llm/cache/stats?since=yesterday", nil), http.StatusBadRequest, "bad since")

		all := pollStats(t, root, "/llm/cache/stats?all=true", 4)
		if all.str("scope") != "all" {
			t.Errorf("admin scope %q, want all", all.str("scope"))
		}
		if am := statsByModel(t, all); jnum(am[gptMini]["calls"]) != 3 || jnum(am[gptMini]["hits"]) != 1 {
			t.Errorf("everyone's %s stats %v", gptMini, am[gptMini])
		}
		// The admin's own view is just theirs: empty.
		if own := root.ok(http.StatusOK, "GET", "/llm/cache/stats", nil); len(jlist(own.body["models"])) != 0 {
			t.Errorf("admin's own stats: %s", own.raw)
		}
		// The future holds no calls.
		future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		if r := alice.ok(http.StatusOK, "GET", "/llm/cache/stats?since="+future, nil); jnum(jobj(r.body["totals"])["calls"]) != 0 {
			t.Errorf("stats since %s: %s", future, r.raw)
		}
	})
}

// pollStats fetches cache statistics until they count calls calls. Usage rows are
// written off the request path in batches, so they land shortly after the answers;
// the wait is bounded, and the poll ends as soon as they are there.
func pollStats(t *testing.T, c *client, path string, calls int) response {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r := c.ok(http.StatusOK, "GET", path, nil)
		got := jnum(jobj(r.body["totals"])["calls"])
		if got > float64(calls) {
			t.Fatalf("GET %s counts %v calls, more than the %d made: %s", path, got, calls, r.raw)
		}
		if got == float64(calls) {
			return r
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("GET %s still counts %v calls, want %d: %s", path, got, calls, r.raw)
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// statsByModel indexes a stats response's models by provider/model.
func statsByModel(t *testing.T, r response) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, it := range jlist(r.body["models"]) {
		m := jobj(it)
		out[jstr(m["provider"])+"/"+jstr(m["model"])] = m
	}
	return out
}

// TestChatStreamDeltasAsSent: a /v1 stream hands each delta to the client as it comes.
// The upstream sends each piece only once the client has read the one before — so a
// gateway that held a delta back (or buffered the stream) would stall here, and every
// piece reaches the gateway on its own and must reach the client as one delta, not
// joined with another (text that arrives together may be; this does not).
func TestChatStreamDeltasAsSent(t *testing.T) {
	seen := make(chan struct{}, len(fakeChunks)+4)
	var stalled atomic.Bool
	script := func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Chunks: fakeChunks, Pace: func(int) {
			select {
			case <-seen:
			case <-time.After(5 * time.Second):
				stalled.Store(true)
			}
		}}
	}
	forEachDialectLLM(t, map[string]string{"VIBECODER_DEFAULT_MODEL": gptMini}, script, func(t *testing.T, e *llmEnv) {
		alice := e.llmUser(t, "alice")
		body, _ := json.Marshal(chatBody("Stream the capital of France", "stream", true))
		req, err := http.NewRequestWithContext(t.Context(), "POST", e.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+alice.bearer)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var deltas []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var c struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				t.Fatalf("chunk %s: %v", data, err)
			}
			if len(c.Choices) == 1 && c.Choices[0].Delta.Content != "" {
				deltas = append(deltas, c.Choices[0].Delta.Content)
				seen <- struct{}{}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if stalled.Load() {
			t.Fatal("the upstream waited in vain for the client to see a delta: the gateway held it back")
		}
		if !slices.Equal(deltas, fakeChunks) {
			t.Fatalf("deltas %q, want %q, each on its own", deltas, fakeChunks)
		}
	})
}
