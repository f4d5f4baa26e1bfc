package llm

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// RegistryConfig lists the configured providers and how model names reach them.
type RegistryConfig struct {
	Providers []Provider
	// Models lists, per provider name, the models to advertise in Models() (GET /v1/models).
	// A bare model name listed under exactly one provider also resolves to it.
	Models map[string][]string
	// Aliases maps a model alias to "provider/model", e.g. "fast" → "openai/gpt-4o-mini".
	Aliases map[string]string
	// DefaultModel is used when a request names no model; an alias or "provider/model".
	DefaultModel string
}

// Registry resolves model names to configured providers. It is immutable once built, so it is
// safe for concurrent use.
type Registry struct {
	providers    map[string]Provider
	names        []string // sorted
	models       map[string][]string
	aliases      map[string]string
	defaultModel string
}

// ModelInfo describes one model a client may ask for.
type ModelInfo struct {
	// ID is what the client sends: "provider/model", or an alias.
	ID       string `json:"id"`
	Provider string `json:"provider"`
	// Model is the provider-native model name.
	Model string `json:"model"`
	// Alias is true when ID is an alias of Provider/Model.
	Alias bool `json:"alias,omitempty"`
}

// familyPrefixes lets a bare, well-known model name (as OpenAI clients send) find its provider
// when that provider is configured under its default name.
var familyPrefixes = []struct{ prefix, provider string }{
	{"gpt-", "openai"}, {"o1", "openai"}, {"o3", "openai"}, {"o4", "openai"}, {"chatgpt-", "openai"},
	{"text-embedding-0", "google"}, // text-embedding-004, before OpenAI's text-embedding-3-*
	{"text-embedding-", "openai"},
	{"claude-", "anthropic"},
	{"gemini-", "google"},
	{"grok-", "xai"},
}

// NewRegistry checks the configuration (unique provider names, aliases and the default model
// pointing at configured providers) and returns the registry.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	r := &Registry{
		providers: make(map[string]Provider, len(cfg.Providers)),
		models:    make(map[string][]string),
		aliases:   make(map[string]string, len(cfg.Aliases)),
	}
	for _, p := range cfg.Providers {
		if p == nil {
			return nil, fmt.Errorf("llm registry: nil provider")
		}
		name := p.Name()
		if name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("llm registry: invalid provider name %q", name)
		}
		if _, dup := r.providers[name]; dup {
			return nil, fmt.Errorf("llm registry: provider %q configured twice", name)
		}
		r.providers[name] = p
		r.names = append(r.names, name)
	}
	sort.Strings(r.names)
	for name, models := range cfg.Models {
		if _, ok := r.providers[name]; !ok {
			return nil, fmt.Errorf("llm registry: models listed for unknown provider %q (configured: %s)", name, r.configured())
		}
		r.models[name] = append([]string(nil), models...)
	}
	for alias, target := range cfg.Aliases {
		if alias == "" {
			return nil, fmt.Errorf("llm registry: empty alias")
		}
		prov, model, ok := strings.Cut(target, "/")
		if !ok || model == "" {
			return nil, fmt.Errorf("llm registry: alias %q must point to provider/model, not %q", alias, target)
		}
		if _, ok := r.providers[prov]; !ok {
			return nil, fmt.Errorf("llm registry: alias %q points to unknown provider %q (configured: %s)", alias, prov, r.configured())
		}
		r.aliases[alias] = target
	}
	if cfg.DefaultModel != "" {
		if _, _, err := r.Resolve(cfg.DefaultModel); err != nil {
			return nil, fmt.Errorf("llm registry: default model: %w", err)
		}
		r.defaultModel = cfg.DefaultModel
	}
	return r, nil
}

// Resolve finds the provider for a model name and returns it with the provider-native model
// name. It understands, in order: "" (the default model), an alias, "provider/model" (the rest
// may itself contain slashes, e.g. "vllm/meta-llama/Llama-3.1-8B"), a bare model listed under
// exactly one provider, a bare well-known model name ("gpt-4o-mini", "claude-…", "gemini-…",
// "grok-…") whose provider is configured, and any bare name when only one provider exists.
func (r *Registry) Resolve(model string) (Provider, string, error) {
	model = strings.TrimSpace(model)
	if model == "" {
		if r.defaultModel == "" {
			return nil, "", resolveError(http.StatusBadRequest, TypeInvalidRequest, "no model given and no default model configured")
		}
		model = r.defaultModel
	}
	if target, ok := r.aliases[model]; ok {
		model = target
	}
	if prov, name, ok := strings.Cut(model, "/"); ok {
		p, found := r.providers[prov]
		if !found {
			return nil, "", resolveError(http.StatusNotFound, TypeNotFound, fmt.Sprintf("unknown provider %q in model %q (configured: %s)", prov, model, r.configured()))
		}
		if name == "" {
			return nil, "", resolveError(http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("model %q names no model after the provider", model))
		}
		return p, name, nil
	}

	var listed []string
	for _, name := range r.names {
		for _, m := range r.models[name] {
			if m == model {
				listed = append(listed, name)
				break
			}
		}
	}
	if len(listed) == 1 {
		return r.providers[listed[0]], model, nil
	}
	if len(listed) > 1 {
		return nil, "", resolveError(http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("model %q is offered by several providers (%s); use provider/model", model, strings.Join(listed, ", ")))
	}
	for _, f := range familyPrefixes {
		if strings.HasPrefix(model, f.prefix) {
			if p, ok := r.providers[f.provider]; ok {
				return p, model, nil
			}
		}
	}
	if len(r.names) == 1 {
		return r.providers[r.names[0]], model, nil
	}
	if len(r.names) == 0 {
		return nil, "", resolveError(http.StatusNotFound, TypeNotFound, "no LLM provider is configured")
	}
	return nil, "", resolveError(http.StatusNotFound, TypeNotFound, fmt.Sprintf("model %q has no provider prefix; use provider/model (configured: %s)", model, r.configured()))
}

// Provider returns the provider configured under name.
func (r *Registry) Provider(name string) (Provider, bool) {
	p, ok := r.providers[name]
	return p, ok
}

// Providers returns the configured provider names, sorted.
func (r *Registry) Providers() []string {
	return append([]string(nil), r.names...)
}

// DefaultModel returns the configured default model ("" if none).
func (r *Registry) DefaultModel() string { return r.defaultModel }

// Models lists the configured models and aliases, sorted by ID.
func (r *Registry) Models() []ModelInfo {
	var out []ModelInfo
	for _, name := range r.names {
		for _, m := range r.models[name] {
			out = append(out, ModelInfo{ID: name + "/" + m, Provider: name, Model: m})
		}
	}
	for alias, target := range r.aliases {
		prov, model, _ := strings.Cut(target, "/")
		out = append(out, ModelInfo{ID: alias, Provider: prov, Model: model, Alias: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// resolveError is a Resolve failure, as an *Error the gateway can return (Provider is empty).
func resolveError(status int, typ, msg string) *Error {
	return &Error{Status: status, Type: typ, Message: msg}
}

func (r *Registry) configured() string {
	if len(r.names) == 0 {
		return "none"
	}
	return strings.Join(r.names, ", ")
}
