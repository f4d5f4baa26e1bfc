package llm

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"fractional seconds", http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{"http date", http.Header{"Retry-After": {"Sun, 01 Jun 2025 12:02:00 GMT"}}, 2 * time.Minute},
		{"date in the past", http.Header{"Retry-After": {"Sun, 01 Jun 2025 11:00:00 GMT"}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"negative", http.Header{"Retry-After": {"-5"}}, 0},
		{"openai milliseconds win", http.Header{"Retry-After": {"2"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.header, now); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"Incorrect API key provided: sk-proj-abc123****wxyz.": "Incorrect API key provided: [redacted].",
		"key AIzaSyA0123456789abcdefghijklmnop is bad":        "key [redacted] is bad",
		"the configured my-own-secret leaked":                 "the configured [redacted] leaked",
		"nothing to see":                                      "nothing to see",
	}
	for in, want := range cases {
		if got := redact(in, "my-own-secret"); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorStatusMapping(t *testing.T) {
	cases := []struct {
		status    int
		wantSt    int
		typ       string
		retryable bool
	}{
		{400, 400, TypeInvalidRequest, false},
		{401, 401, TypeAuthentication, false},
		{403, 403, TypePermission, false},
		{404, 404, TypeNotFound, false},
		{429, 429, TypeRateLimit, true},
		{500, 500, TypeServer, true},
		{502, 502, TypeServer, true},
		{503, 503, TypeOverloaded, true},
		{504, 504, TypeTimeout, true},
		{529, 503, TypeOverloaded, true}, // Anthropic's overloaded
		{200, 502, TypeServer, true},     // an error without an error status
	}
	for _, tc := range cases {
		e := apiError("p", tc.status, "msg", nil, "")
		if e.Status != tc.wantSt || e.Type != tc.typ || e.Retryable != tc.retryable {
			t.Errorf("status %d: got %+v", tc.status, e)
		}
	}
	long := apiError("p", 502, strings.Repeat("<html>", 1000), nil, "")
	if len(long.Message) > 510 {
		t.Errorf("upstream message not truncated: %d bytes", len(long.Message))
	}
}

// TestGeminiRetryInfo checks the retry delay Google puts in the error body rather than a header.
func TestGeminiRetryInfo(t *testing.T) {
	srv := llmtest.NewGemini(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Status: 429, Body: `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}`}
	})
	p, err := NewGemini(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Complete(context.Background(), chatRequest())
	if e := asError(t, err); e.Status != 429 || e.RetryAfter != 12*time.Second || !e.Retryable {
		t.Errorf("got %+v", e)
	}
}

// TestAnthropicStreamErrorEvent checks an error event inside a 200 stream (Anthropic sends
// overloaded_error that way).
func TestAnthropicStreamErrorEvent(t *testing.T) {
	srv := llmtest.NewAnthropic(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Body: "event: message_start\n" +
			`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
			"event: error\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"}
	})
	p, _ := NewAnthropic(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
	_, err := p.Stream(context.Background(), chatRequest(), func(Chunk) error { return nil })
	if e := asError(t, err); e.Status != 503 || e.Type != TypeOverloaded || !e.Retryable || e.Message != "Overloaded" {
		t.Errorf("got %+v", e)
	}
}

// TestOpenAIStreamErrorEvent checks an {"error": ...} data line in the middle of a stream.
func TestOpenAIStreamErrorEvent(t *testing.T) {
	srv := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Body: `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n" +
			`data: {"error":{"message":"model crashed","type":"server_error"}}` + "\n\n"}
	})
	p, _ := NewOpenAICompatible(ProviderConfig{Name: "vllm", BaseURL: srv.URL})
	_, err := p.Stream(context.Background(), chatRequest(), func(Chunk) error { return nil })
	if e := asError(t, err); e.Status != 502 || !strings.Contains(e.Message, "model crashed") {
		t.Errorf("got %+v", e)
	}
}
