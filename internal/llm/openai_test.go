package llm

import (
	"context"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

func TestOpenAIConstructors(t *testing.T) {
	cases := []struct {
		name     string
		new      func(ProviderConfig) (Provider, error)
		cfg      ProviderConfig
		wantName string
		wantErr  bool
	}{
		{"openai needs a key", NewOpenAI, ProviderConfig{}, "", true},
		{"openai", NewOpenAI, ProviderConfig{APIKey: "k"}, "openai", false},
		{"openai-format server without key", NewOpenAI, ProviderConfig{BaseURL: "http://localhost:8000/v1"}, "openai", false},
		{"xai needs a key", NewXAI, ProviderConfig{}, "", true},
		{"xai", NewXAI, ProviderConfig{APIKey: "k"}, "xai", false},
		{"compatible needs a name", NewOpenAICompatible, ProviderConfig{BaseURL: "http://localhost:11434/v1"}, "", true},
		{"compatible needs a base URL", NewOpenAICompatible, ProviderConfig{Name: "ollama"}, "", true},
		{"ollama", NewOpenAICompatible, ProviderConfig{Name: "ollama", BaseURL: "http://localhost:11434/v1"}, "ollama", false},
		{"anthropic needs a key", NewAnthropic, ProviderConfig{}, "", true},
		{"gemini needs a key", NewGemini, ProviderConfig{}, "", true},
		{"gemini", NewGemini, ProviderConfig{APIKey: "k"}, "google", false},
		{"negative timeout", NewAnthropic, ProviderConfig{APIKey: "k", Timeout: -1}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.new(tc.cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != tc.wantName {
				t.Errorf("name %q, want %q", p.Name(), tc.wantName)
			}
		})
	}
}

// TestCompatibleIgnoresOpenAIEnvironment makes sure an Ollama-style provider never sends the
// OpenAI key (or base URL) it might find in the environment.
func TestCompatibleIgnoresOpenAIEnvironment(t *testing.T) {
	srv := llmtest.NewOpenAI(t, nil)
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment-000000")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORG_ID", "org-env")
	p, err := NewOpenAICompatible(ProviderConfig{Name: "ollama", BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	req := chatRequest()
	req.MaxTokens = 50
	if _, err := p.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	rec, _ := srv.Last()
	if rec.Path != "/v1/chat/completions" {
		t.Errorf("path %q", rec.Path)
	}
	if h := rec.Header.Get("Authorization"); h != "" {
		t.Errorf("compatible provider sent Authorization %q", h)
	}
	if h := rec.Header.Get("OpenAI-Organization"); h != "" {
		t.Errorf("compatible provider sent OpenAI-Organization %q", h)
	}
	// Compatible servers get the classic max_tokens.
	if rec.Body["max_tokens"] != float64(50) || rec.Body["max_completion_tokens"] != nil {
		t.Errorf("body %s", rec.RawBody)
	}
}

// TestOpenAIStreamAsksForUsage checks stream_options.include_usage, without which OpenAI sends
// no usage in a stream.
func TestOpenAIStreamAsksForUsage(t *testing.T) {
	srv := llmtest.NewOpenAI(t, nil)
	p, _ := NewXAI(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
	res, err := p.Stream(context.Background(), chatRequest(), func(Chunk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := srv.Last()
	opts, _ := rec.Body["stream_options"].(map[string]any)
	if opts["include_usage"] != true {
		t.Errorf("stream_options %v", rec.Body["stream_options"])
	}
	if res.Usage.TotalTokens == 0 || res.Text != "ok" {
		t.Errorf("response %+v", res)
	}
}

func TestAnthropicDefaultMaxTokens(t *testing.T) {
	srv := llmtest.NewAnthropic(t, nil)
	p, _ := NewAnthropic(ProviderConfig{APIKey: testKey, BaseURL: srv.URL})
	if _, err := p.Complete(context.Background(), chatRequest()); err != nil {
		t.Fatal(err)
	}
	rec, _ := srv.Last()
	if rec.Body["max_tokens"] != float64(anthropicDefaultMaxTokens) {
		t.Errorf("max_tokens %v", rec.Body["max_tokens"])
	}
}
