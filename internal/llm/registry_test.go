package llm

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// stubProvider is a Provider that only has a name, for registry tests.
type stubProvider struct{ name string }

func (s stubProvider) Name() string { return s.name }
func (stubProvider) Complete(context.Context, *Request) (*Response, error) {
	return nil, errors.New("stub")
}
func (stubProvider) Stream(context.Context, *Request, func(Chunk) error) (*Response, error) {
	return nil, errors.New("stub")
}
func (stubProvider) Embed(context.Context, string, []string) ([][]float32, Usage, error) {
	return nil, Usage{}, errors.New("stub")
}

func testRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := NewRegistry(RegistryConfig{
		Providers: []Provider{stubProvider{"openai"}, stubProvider{"anthropic"}, stubProvider{"google"}, stubProvider{"xai"}, stubProvider{"ollama"}},
		Models: map[string][]string{
			"openai": {"gpt-4o-mini"},
			"ollama": {"llama3.2", "qwen2.5-coder:7b"},
		},
		Aliases: map[string]string{
			"fast":  "openai/gpt-4o-mini",
			"smart": "anthropic/claude-sonnet-4-5",
		},
		DefaultModel: "fast",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistryResolve(t *testing.T) {
	r := testRegistry(t)
	cases := []struct {
		in           string
		wantProvider string
		wantModel    string
		wantErr      string
	}{
		{"openai/gpt-4o-mini", "openai", "gpt-4o-mini", ""},
		{"anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", ""},
		{"google/gemini-2.5-flash", "google", "gemini-2.5-flash", ""},
		{"xai/grok-4", "xai", "grok-4", ""},
		{"ollama/llama3.2", "ollama", "llama3.2", ""},
		{"ollama/hf.co/org/model:Q4", "ollama", "hf.co/org/model:Q4", ""},
		{"fast", "openai", "gpt-4o-mini", ""},
		{"smart", "anthropic", "claude-sonnet-4-5", ""},
		{"", "openai", "gpt-4o-mini", ""},
		{"  openai/gpt-4o  ", "openai", "gpt-4o", ""},
		{"qwen2.5-coder:7b", "ollama", "qwen2.5-coder:7b", ""},
		{"gpt-4.1", "openai", "gpt-4.1", ""},
		{"claude-opus-4-1", "anthropic", "claude-opus-4-1", ""},
		{"gemini-2.5-pro", "google", "gemini-2.5-pro", ""},
		{"grok-4", "xai", "grok-4", ""},
		{"mistral/large", "", "", `unknown provider "mistral" in model "mistral/large" (configured: anthropic, google, ollama, openai, xai)`},
		{"openai/", "", "", "names no model"},
		{"mystery-model", "", "", "has no provider prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			p, model, err := r.Resolve(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
				}
				var e *Error
				if !errors.As(err, &e) || e.Status < 400 {
					t.Errorf("err %v is not an *Error with a client status", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != tc.wantProvider || model != tc.wantModel {
				t.Errorf("got %s %q, want %s %q", p.Name(), model, tc.wantProvider, tc.wantModel)
			}
		})
	}
}

func TestRegistryModels(t *testing.T) {
	got := testRegistry(t).Models()
	want := []ModelInfo{
		{ID: "fast", Provider: "openai", Model: "gpt-4o-mini", Alias: true},
		{ID: "ollama/llama3.2", Provider: "ollama", Model: "llama3.2"},
		{ID: "ollama/qwen2.5-coder:7b", Provider: "ollama", Model: "qwen2.5-coder:7b"},
		{ID: "openai/gpt-4o-mini", Provider: "openai", Model: "gpt-4o-mini"},
		{ID: "smart", Provider: "anthropic", Model: "claude-sonnet-4-5", Alias: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Models() = %+v\nwant %+v", got, want)
	}
}

func TestRegistryConfigErrors(t *testing.T) {
	cases := map[string]RegistryConfig{
		"duplicate provider": {Providers: []Provider{stubProvider{"openai"}, stubProvider{"openai"}}},
		"bad alias target":   {Providers: []Provider{stubProvider{"openai"}}, Aliases: map[string]string{"x": "gpt-4o"}},
		"alias to unknown":   {Providers: []Provider{stubProvider{"openai"}}, Aliases: map[string]string{"x": "mistral/large"}},
		"models for unknown": {Providers: []Provider{stubProvider{"openai"}}, Models: map[string][]string{"mistral": {"large"}}},
		"bad default":        {Providers: []Provider{stubProvider{"openai"}}, DefaultModel: "mistral/large"},
		"slash in name":      {Providers: []Provider{stubProvider{"a/b"}}},
	}
	for name, cfg := range cases {
		if _, err := NewRegistry(cfg); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestRegistrySingleProvider(t *testing.T) {
	r, err := NewRegistry(RegistryConfig{Providers: []Provider{stubProvider{"ollama"}}})
	if err != nil {
		t.Fatal(err)
	}
	p, model, err := r.Resolve("llama3.2")
	if err != nil || p.Name() != "ollama" || model != "llama3.2" {
		t.Errorf("got %v %q %v", p, model, err)
	}
	if _, _, err := r.Resolve(""); err == nil {
		t.Errorf("no default model: want an error")
	}
}
