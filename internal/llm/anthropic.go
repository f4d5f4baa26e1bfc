package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
)

// AnthropicBaseURL is the default base URL of the Anthropic API.
const AnthropicBaseURL = "https://api.anthropic.com"

// anthropicDefaultMaxTokens is sent when the request leaves MaxTokens at 0: the Messages API
// requires max_tokens.
const anthropicDefaultMaxTokens = 4096

// anthropicProvider speaks the Anthropic Messages API through anthropic-sdk-go.
type anthropicProvider struct {
	name     string
	key      string
	timeout  time.Duration
	messages anthropic.MessageService
}

// NewAnthropic returns the Anthropic provider (default name "anthropic", base URL
// AnthropicBaseURL). An API key is required.
func NewAnthropic(cfg ProviderConfig) (Provider, error) {
	cfg = cfg.withDefaults("anthropic", AnthropicBaseURL)
	if cfg.APIKey == "" {
		return nil, errors.New("llm provider " + cfg.Name + ": an API key is required (ANTHROPIC_API_KEY)")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client := anthropic.NewClient(
		option.WithoutEnvironmentDefaults(), // no ANTHROPIC_* or profile files behind our back
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(0), // the gateway retries
	)
	return &anthropicProvider{name: cfg.Name, key: cfg.APIKey, timeout: cfg.Timeout, messages: client.Messages}, nil
}

func (p *anthropicProvider) Name() string { return p.name }

func (p *anthropicProvider) Complete(ctx context.Context, req *Request) (*Response, error) {
	params, opts, err := p.params(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	msg, err := p.messages.New(ctx, params, opts...)
	if err != nil {
		return nil, p.mapError(ctx, err)
	}
	var text strings.Builder
	for _, block := range msg.Content {
		if block.Type == "text" {
			text.WriteString(block.Text)
		}
	}
	u := msg.Usage
	return &Response{
		ID:           msg.ID,
		Model:        string(msg.Model),
		Text:         text.String(),
		FinishReason: anthropicFinish(string(msg.StopReason)),
		Usage:        anthropicUsage(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens),
	}, nil
}

func (p *anthropicProvider) Stream(ctx context.Context, req *Request, fn func(Chunk) error) (*Response, error) {
	params, opts, err := p.params(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	stream := p.messages.NewStreaming(ctx, params, opts...)
	defer stream.Close()

	out := &Response{}
	var text strings.Builder
	var input, cacheRead, cacheWrite, output int64
	stopped := false
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "message_start":
			out.ID = ev.Message.ID
			out.Model = string(ev.Message.Model)
			u := ev.Message.Usage
			input, cacheRead, cacheWrite, output = u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens
		case "content_block_delta":
			if ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
				text.WriteString(ev.Delta.Text)
				if err := fn(Chunk{Text: ev.Delta.Text}); err != nil {
					return nil, err
				}
			}
		case "message_delta":
			out.FinishReason = anthropicFinish(string(ev.Delta.StopReason))
			// message_delta's usage is cumulative; input counts appear here only sometimes.
			output = ev.Usage.OutputTokens
			if ev.Usage.InputTokens > 0 {
				input = ev.Usage.InputTokens
			}
			if ev.Usage.CacheReadInputTokens > 0 {
				cacheRead = ev.Usage.CacheReadInputTokens
			}
			if ev.Usage.CacheCreationInputTokens > 0 {
				cacheWrite = ev.Usage.CacheCreationInputTokens
			}
		case "message_stop":
			stopped = true
		}
	}
	if err := stream.Err(); err != nil {
		return nil, p.mapError(ctx, err)
	}
	if !stopped {
		return nil, newError(p.name, http.StatusBadGateway, TypeUpstreamUnavailable, "stream ended before message_stop")
	}
	if out.FinishReason == "" {
		out.FinishReason = FinishStop
	}
	out.Text = text.String()
	out.Usage = anthropicUsage(input, cacheRead, cacheWrite, output)
	usage := out.Usage
	if err := fn(Chunk{FinishReason: out.FinishReason, Usage: &usage}); err != nil {
		return nil, err
	}
	return out, nil
}

// Embed is not offered by Anthropic.
func (p *anthropicProvider) Embed(context.Context, string, []string) ([][]float32, Usage, error) {
	return nil, Usage{}, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "embeddings are not supported by provider "+p.name)
}

func (p *anthropicProvider) params(req *Request) (anthropic.MessageNewParams, []option.RequestOption, error) {
	var params anthropic.MessageNewParams
	if err := checkRequest(p.name, req, false); err != nil {
		return params, nil, err
	}
	params.Model = anthropic.Model(req.Model)
	params.MaxTokens = anthropicDefaultMaxTokens
	if req.MaxTokens > 0 {
		params.MaxTokens = int64(req.MaxTokens)
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			params.System = append(params.System, anthropic.TextBlockParam{Text: m.Content})
		case RoleUser:
			params.Messages = append(params.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Content)))
		case RoleAssistant:
			params.Messages = append(params.Messages, anthropic.NewAssistantMessage(anthropic.NewTextBlock(m.Content)))
		}
	}
	if len(params.Messages) == 0 {
		return params, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "at least one user message is required")
	}
	if req.Temperature != nil {
		params.Temperature = anthropic.Float(*req.Temperature)
	}
	if req.TopP != nil {
		params.TopP = anthropic.Float(*req.TopP)
	}
	params.StopSequences = req.Stop
	rf, err := parseResponseFormat(p.name, req.ResponseFormat)
	if err != nil {
		return params, nil, err
	}
	if rf != nil {
		switch rf.Type {
		case "json_object":
			return params, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest,
				"response_format json_object not supported by provider "+p.name+"; use json_schema")
		case "json_schema":
			var schema map[string]any
			if err := json.Unmarshal(rf.JSONSchema.Schema, &schema); err != nil {
				return params, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "json_schema.schema must be a JSON object")
			}
			params.OutputConfig.Format = anthropic.JSONOutputFormatParam{Schema: schema}
		}
	}
	var opts []option.RequestOption
	for _, k := range sortedKeys(req.Extra) {
		opts = append(opts, option.WithJSONSet(sjsonKey(k), req.Extra[k]))
	}
	return params, opts, nil
}

func (p *anthropicProvider) mapError(ctx context.Context, err error) error {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		var body struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal([]byte(apiErr.RawJSON()), &body)
		status := apiErr.StatusCode
		if status < 400 {
			// An error event inside a 200 stream: the status comes from its type.
			status = anthropicStatusForType(body.Error.Type)
		}
		var hdr http.Header
		if apiErr.Response != nil {
			hdr = apiErr.Response.Header
		}
		return apiError(p.name, status, body.Error.Message, hdr, p.key)
	}
	if e := transportError(ctx, p.name, err); e != nil {
		return e
	}
	return mapUnknown(p.name, err)
}

func anthropicStatusForType(t string) int {
	switch t {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "overloaded_error":
		return http.StatusServiceUnavailable
	case "timeout_error":
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// anthropicUsage converts Anthropic's usage, whose input_tokens exclude cache reads and writes,
// to ours, whose PromptTokens include them.
func anthropicUsage(input, cacheRead, cacheWrite, output int64) Usage {
	prompt := int(input + cacheRead + cacheWrite)
	return Usage{
		PromptTokens:     prompt,
		CompletionTokens: int(output),
		CachedTokens:     int(cacheRead),
		TotalTokens:      prompt + int(output),
	}
}

func anthropicFinish(r string) string {
	switch r {
	case "end_turn", "stop_sequence", "pause_turn", "":
		return FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return FinishLength
	case "tool_use":
		return FinishToolCalls
	case "refusal":
		return FinishContentFilter
	default:
		return r
	}
}
