// Package llm is the one way Vibe Coder talks to language-model providers: a small Provider
// interface with adapters over the official OpenAI, Anthropic and Gemini SDKs (OpenAI's also
// serves xAI and any OpenAI-compatible server), upstream failures mapped to one *Error type, and a
// Registry that resolves "provider/model" names.
//
// Caching, rate limiting, cost accounting, retries and fallbacks belong to the gateway above this
// package; adapters make exactly one upstream attempt per call.
package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
)

// Message roles. RoleDeveloper is OpenAI's newer name for system instructions (other providers
// treat it as system); RoleTool (a tool result, with ToolCallID) is only accepted by
// OpenAI-compatible providers.
const (
	RoleSystem    = openaiwire.RoleSystem
	RoleDeveloper = openaiwire.RoleDeveloper
	RoleUser      = openaiwire.RoleUser
	RoleAssistant = openaiwire.RoleAssistant
	RoleTool      = openaiwire.RoleTool
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ToolCalls is the OpenAI-style tool_calls array of an assistant turn that called tools.
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
	// ToolCallID answers a tool call (Role "tool").
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// Request is a chat completion request in provider-neutral form.
type Request struct {
	// Model is the provider-native model name, without a "provider/" prefix.
	Model    string
	Messages []Message
	// MaxTokens limits the completion; 0 means the provider's default (4096 for Anthropic,
	// which requires a value).
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	Stop        []string
	// Seed asks for deterministic sampling where the provider supports it (ignored by Anthropic).
	Seed *int64
	// ResponseFormat is an OpenAI-style response_format object ({"type":"json_object"} or
	// {"type":"json_schema","json_schema":{"schema":...}}), translated where the provider
	// supports it.
	ResponseFormat json.RawMessage
	// Tools is an OpenAI-style tools array, passed through to OpenAI-compatible providers. Other
	// providers reject a request with tools (status 400) rather than pretend.
	Tools json.RawMessage
	// Extra holds provider-specific parameters set at the top level of the upstream JSON body,
	// e.g. {"options": {"num_ctx": 8192}} for Ollama or {"top_k": 40} for Anthropic. A key the
	// adapter also sets is replaced (OpenAI, Anthropic) or merged into recursively (Gemini, e.g.
	// {"generationConfig": {"topK": 3}}); "model", "messages", "stream" and "contents" are refused.
	Extra map[string]any
}

// Usage counts tokens. PromptTokens includes cached prompt tokens on every provider (as OpenAI
// reports it); CachedTokens is the part of the prompt read from the provider's cache.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	CachedTokens     int `json:"cached_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		PromptTokens:     u.PromptTokens + o.PromptTokens,
		CompletionTokens: u.CompletionTokens + o.CompletionTokens,
		CachedTokens:     u.CachedTokens + o.CachedTokens,
		TotalTokens:      u.TotalTokens + o.TotalTokens,
	}
}

// Finish reasons, OpenAI's vocabulary; adapters translate their provider's values to these.
const (
	FinishStop          = openaiwire.FinishStop
	FinishLength        = openaiwire.FinishLength
	FinishToolCalls     = openaiwire.FinishToolCalls
	FinishContentFilter = openaiwire.FinishContentFilter
)

// Response is a completed chat completion.
type Response struct {
	ID           string
	Model        string
	Text         string
	FinishReason string
	// ToolCalls is the OpenAI-style tool_calls array when the model called tools.
	ToolCalls json.RawMessage
	Usage     Usage
}

// Chunk is one piece of a streamed completion. The last chunk carries FinishReason, and Usage
// when the provider reported it; earlier chunks carry Text (or ToolCalls deltas).
type Chunk struct {
	Text string
	// ToolCalls is an OpenAI-style tool_calls delta array (with "index"), OpenAI-compatible only.
	ToolCalls    json.RawMessage
	FinishReason string
	Usage        *Usage
	// More says the provider hands over its next chunk (or ends the stream) without
	// waiting for the upstream: a writer may hold this one back and send both
	// together. A chunk without More may be the last for a while: send it. Providers
	// that cannot tell leave it false. It is not part of a cached stream.
	More bool `json:"-"`
}

// Provider is one configured upstream. Implementations are safe for concurrent use.
type Provider interface {
	// Name is the provider's registry name, e.g. "openai" or "ollama".
	Name() string
	Complete(ctx context.Context, req *Request) (*Response, error)
	// Stream calls fn for each chunk in order and returns the assembled Response (text and usage)
	// at the end. If fn returns an error, the upstream stream is closed and that error is
	// returned as is. A stream that ends before the provider finished is an *Error, never a
	// silently truncated success.
	Stream(ctx context.Context, req *Request, fn func(Chunk) error) (*Response, error)
	// Embed returns one vector per input, in order.
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error)
}

// ProviderConfig configures one adapter.
type ProviderConfig struct {
	// Name is the registry name ("openai", "xai", "ollama", …); each constructor has a default.
	Name    string
	APIKey  string
	BaseURL string
	// HTTPClient is used for upstream calls; nil means a client with no overall timeout (set
	// Timeout instead, so streams are bounded by it and by the caller's context).
	HTTPClient *http.Client
	// Timeout bounds each call (a whole stream included); 0 means only ctx bounds it.
	Timeout time.Duration
}

func (c ProviderConfig) withDefaults(name, baseURL string) ProviderConfig {
	if c.Name == "" {
		c.Name = name
	}
	if c.BaseURL == "" {
		c.BaseURL = baseURL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: newTransport()}
	}
	return c
}

// newTransport is an upstream transport sized for a gateway: Go's default keeps two
// idle connections per host, so under concurrency most calls would open (and TLS
// handshake) a new connection and leave sockets in TIME_WAIT.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return t
}

func (c ProviderConfig) validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("llm provider %s: negative timeout %s", c.Name, c.Timeout)
	}
	return nil
}

// withTimeout applies the provider's per-call timeout.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// reservedExtra are body fields an adapter owns; Extra may not override them.
var reservedExtra = map[string]bool{"model": true, "messages": true, "stream": true, "contents": true}

func checkRequest(provider string, req *Request, toolsSupported bool) error {
	if req == nil {
		return newError(provider, http.StatusBadRequest, TypeInvalidRequest, "request is nil")
	}
	if req.Model == "" {
		return newError(provider, http.StatusBadRequest, TypeInvalidRequest, "model is required")
	}
	if len(req.Messages) == 0 {
		return newError(provider, http.StatusBadRequest, TypeInvalidRequest, "at least one message is required")
	}
	if req.MaxTokens < 0 {
		return newError(provider, http.StatusBadRequest, TypeInvalidRequest, "max_tokens must not be negative")
	}
	if !toolsSupported && hasJSON(req.Tools) {
		return newError(provider, http.StatusBadRequest, TypeInvalidRequest, "tools not supported by provider "+provider)
	}
	for i, m := range req.Messages {
		if err := openaiwire.CheckRole(i, m.Role); err != nil {
			return newError(provider, http.StatusBadRequest, TypeInvalidRequest, err.Error())
		}
		if !toolsSupported && (m.Role == RoleTool || hasJSON(m.ToolCalls) || m.ToolCallID != "") {
			return newError(provider, http.StatusBadRequest, TypeInvalidRequest, "tools not supported by provider "+provider)
		}
	}
	for k := range req.Extra {
		if reservedExtra[k] {
			return newError(provider, http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("extra parameter %q is set by the adapter and cannot be overridden", k))
		}
	}
	return nil
}

// hasJSON reports whether raw holds a value other than null or an empty array.
func hasJSON(raw json.RawMessage) bool { return openaiwire.HasValue(raw) }

// responseFormat is the part of an OpenAI response_format object adapters translate.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

func parseResponseFormat(provider string, raw json.RawMessage) (*responseFormat, error) {
	if !hasJSON(raw) {
		return nil, nil
	}
	var rf responseFormat
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, newError(provider, http.StatusBadRequest, TypeInvalidRequest, "response_format is not a JSON object: "+err.Error())
	}
	switch rf.Type {
	case "text", "json_object":
	case "json_schema":
		if !hasJSON(rf.JSONSchema.Schema) {
			return nil, newError(provider, http.StatusBadRequest, TypeInvalidRequest, "response_format json_schema needs json_schema.schema")
		}
	default:
		return nil, newError(provider, http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("unknown response_format type %q", rf.Type))
	}
	return &rf, nil
}
