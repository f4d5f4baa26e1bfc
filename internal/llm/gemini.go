package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"
)

// GeminiBaseURL is the default base URL of the Gemini API.
const GeminiBaseURL = "https://generativelanguage.googleapis.com/"

// geminiProvider speaks the Gemini API (generateContent, streamGenerateContent,
// batchEmbedContents) through google.golang.org/genai.
type geminiProvider struct {
	name    string
	key     string
	timeout time.Duration
	models  *genai.Models
}

// NewGemini returns the Google Gemini provider (default name "google", base URL GeminiBaseURL)
// on the Gemini API backend. An API key is required.
func NewGemini(cfg ProviderConfig) (Provider, error) {
	cfg = cfg.withDefaults("google", GeminiBaseURL)
	if cfg.APIKey == "" {
		return nil, errors.New("llm provider " + cfg.Name + ": an API key is required (GOOGLE_API_KEY)")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// genai's APIError drops the response headers, so a wrapping transport keeps Retry-After
	// for the call that asked for it (see capturedResponse).
	hc := *cfg.HTTPClient
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = captureTransport{base: base}
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: cfg.BaseURL}, // explicit, so GOOGLE_GEMINI_BASE_URL cannot redirect the key
	})
	if err != nil {
		return nil, fmt.Errorf("llm provider %s: %w", cfg.Name, err)
	}
	return &geminiProvider{name: cfg.Name, key: cfg.APIKey, timeout: cfg.Timeout, models: client.Models}, nil
}

func (p *geminiProvider) Name() string { return p.name }

func (p *geminiProvider) Complete(ctx context.Context, req *Request) (*Response, error) {
	contents, config, err := p.params(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	ctx, captured := withCapture(ctx)
	res, err := p.models.GenerateContent(ctx, req.Model, contents, config)
	if err != nil {
		return nil, p.mapError(ctx, err, captured)
	}
	out := &Response{ID: res.ResponseID, Model: res.ModelVersion, Usage: geminiUsage(res.UsageMetadata)}
	if len(res.Candidates) == 0 {
		if res.PromptFeedback != nil && res.PromptFeedback.BlockReason != "" {
			out.FinishReason = FinishContentFilter
			return out, nil
		}
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream response has no candidates")
	}
	out.Text = geminiText(res.Candidates[0])
	out.FinishReason = geminiFinish(res.Candidates[0].FinishReason)
	if out.Model == "" {
		out.Model = req.Model
	}
	return out, nil
}

func (p *geminiProvider) Stream(ctx context.Context, req *Request, fn func(Chunk) error) (*Response, error) {
	contents, config, err := p.params(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	ctx, captured := withCapture(ctx)

	out := &Response{Model: req.Model}
	var text strings.Builder
	var usage *Usage
	// Breaking out of the range (on fn's error) makes genai close the response body.
	for chunk, err := range p.models.GenerateContentStream(ctx, req.Model, contents, config) {
		if err != nil {
			return nil, p.mapError(ctx, err, captured)
		}
		if chunk.ResponseID != "" {
			out.ID = chunk.ResponseID
		}
		if chunk.ModelVersion != "" {
			out.Model = chunk.ModelVersion
		}
		if chunk.UsageMetadata != nil {
			u := geminiUsage(chunk.UsageMetadata) // cumulative: the last one wins
			usage = &u
		}
		if chunk.PromptFeedback != nil && chunk.PromptFeedback.BlockReason != "" {
			out.FinishReason = FinishContentFilter
		}
		if len(chunk.Candidates) == 0 {
			continue
		}
		cand := chunk.Candidates[0]
		if t := geminiText(cand); t != "" {
			text.WriteString(t)
			if err := fn(Chunk{Text: t}); err != nil {
				return nil, err
			}
		}
		if cand.FinishReason != "" && cand.FinishReason != genai.FinishReasonUnspecified {
			out.FinishReason = geminiFinish(cand.FinishReason)
		}
	}
	if out.FinishReason == "" {
		return nil, newError(p.name, http.StatusBadGateway, TypeUpstreamUnavailable, "stream ended before the upstream finished the completion")
	}
	out.Text = text.String()
	if usage != nil {
		out.Usage = *usage
	}
	if err := fn(Chunk{FinishReason: out.FinishReason, Usage: usage}); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *geminiProvider) Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error) {
	if model == "" {
		return nil, Usage{}, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "model is required")
	}
	if len(inputs) == 0 {
		return [][]float32{}, Usage{}, nil
	}
	contents := make([]*genai.Content, len(inputs))
	for i, in := range inputs {
		contents[i] = genai.NewContentFromText(in, genai.RoleUser)
	}
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	ctx, captured := withCapture(ctx)
	res, err := p.models.EmbedContent(ctx, model, contents, nil)
	if err != nil {
		return nil, Usage{}, p.mapError(ctx, err, captured)
	}
	if len(res.Embeddings) != len(inputs) {
		return nil, Usage{}, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse,
			fmt.Sprintf("upstream returned %d embeddings for %d inputs", len(res.Embeddings), len(inputs)))
	}
	out := make([][]float32, len(inputs))
	for i, e := range res.Embeddings {
		if e == nil {
			return nil, Usage{}, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, fmt.Sprintf("embedding %d is missing", i))
		}
		out[i] = e.Values
	}
	// The Gemini API does not report token counts for embeddings.
	return out, Usage{}, nil
}

func (p *geminiProvider) params(req *Request) ([]*genai.Content, *genai.GenerateContentConfig, error) {
	if err := checkRequest(p.name, req, false); err != nil {
		return nil, nil, err
	}
	off := false
	config := &genai.GenerateContentConfig{
		// One request per call: the gateway decides about retries and continuations.
		AutomaticContinuation: &off,
	}
	var contents []*genai.Content
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			if config.SystemInstruction == nil {
				config.SystemInstruction = &genai.Content{}
			}
			config.SystemInstruction.Parts = append(config.SystemInstruction.Parts, &genai.Part{Text: m.Content})
		case RoleUser:
			contents = append(contents, genai.NewContentFromText(m.Content, genai.RoleUser))
		case RoleAssistant:
			contents = append(contents, genai.NewContentFromText(m.Content, genai.RoleModel))
		}
	}
	if len(contents) == 0 {
		return nil, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "at least one user message is required")
	}
	if req.MaxTokens > 0 {
		config.MaxOutputTokens = int32(min(req.MaxTokens, 1<<31-1))
	}
	if req.Temperature != nil {
		t := float32(*req.Temperature)
		config.Temperature = &t
	}
	if req.TopP != nil {
		t := float32(*req.TopP)
		config.TopP = &t
	}
	if req.Seed != nil {
		s := int32(*req.Seed)
		config.Seed = &s
	}
	config.StopSequences = req.Stop
	rf, err := parseResponseFormat(p.name, req.ResponseFormat)
	if err != nil {
		return nil, nil, err
	}
	if rf != nil {
		switch rf.Type {
		case "json_object":
			config.ResponseMIMEType = "application/json"
		case "json_schema":
			var schema map[string]any
			if err := json.Unmarshal(rf.JSONSchema.Schema, &schema); err != nil {
				return nil, nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "json_schema.schema must be a JSON object")
			}
			config.ResponseMIMEType = "application/json"
			config.ResponseJsonSchema = schema
		}
	}
	if len(req.Extra) > 0 {
		config.HTTPOptions = &genai.HTTPOptions{ExtraBody: req.Extra}
	}
	return contents, config, nil
}

func (p *geminiProvider) mapError(ctx context.Context, err error, captured *capturedResponse) error {
	status, header := captured.get()
	var apiErr genai.APIError
	var apiErrPtr *genai.APIError
	ok := errors.As(err, &apiErr)
	if !ok && errors.As(err, &apiErrPtr) && apiErrPtr != nil {
		apiErr, ok = *apiErrPtr, true
	}
	if ok {
		code := apiErr.Code
		if code == 0 {
			code = status
		}
		if code == 0 {
			code = http.StatusBadGateway // an error event inside a 200 stream without a code
		}
		e := apiError(p.name, code, apiErr.Message, header, p.key)
		if e.RetryAfter == 0 {
			e.RetryAfter = geminiRetryDelay(apiErr.Details)
		}
		return e
	}
	if e := transportError(ctx, p.name, err); e != nil {
		return e
	}
	return mapUnknown(p.name, err)
}

// geminiRetryDelay reads a google.rpc.RetryInfo detail ({"retryDelay": "7s"}).
func geminiRetryDelay(details []map[string]any) time.Duration {
	for _, d := range details {
		if t, _ := d["@type"].(string); !strings.HasSuffix(t, "google.rpc.RetryInfo") {
			continue
		}
		if s, _ := d["retryDelay"].(string); s != "" {
			if dur, err := time.ParseDuration(s); err == nil && dur > 0 {
				return dur
			}
		}
	}
	return 0
}

func geminiText(c *genai.Candidate) string {
	if c == nil || c.Content == nil {
		return ""
	}
	var b strings.Builder
	for _, part := range c.Content.Parts {
		if part != nil && !part.Thought {
			b.WriteString(part.Text)
		}
	}
	return b.String()
}

// geminiUsage converts usageMetadata: promptTokenCount already includes cached tokens, and
// thinking tokens are billed as output.
func geminiUsage(u *genai.GenerateContentResponseUsageMetadata) Usage {
	if u == nil {
		return Usage{}
	}
	out := Usage{
		PromptTokens:     int(u.PromptTokenCount),
		CompletionTokens: int(u.CandidatesTokenCount + u.ThoughtsTokenCount),
		CachedTokens:     int(u.CachedContentTokenCount),
		TotalTokens:      int(u.TotalTokenCount),
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out
}

func geminiFinish(r genai.FinishReason) string {
	switch r {
	case genai.FinishReasonStop, "":
		return FinishStop
	case genai.FinishReasonMaxTokens:
		return FinishLength
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII, genai.FinishReasonImageSafety:
		return FinishContentFilter
	case genai.FinishReasonMalformedFunctionCall, genai.FinishReasonUnexpectedToolCall:
		return FinishToolCalls
	default:
		return strings.ToLower(string(r))
	}
}

// capturedResponse remembers the status and headers of the failed HTTP response of one call.
type capturedResponse struct {
	mu     sync.Mutex
	status int
	header http.Header
}

type captureKey struct{}

func withCapture(ctx context.Context) (context.Context, *capturedResponse) {
	c := &capturedResponse{}
	return context.WithValue(ctx, captureKey{}, c), c
}

func (c *capturedResponse) get() (int, http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.header
}

type captureTransport struct {
	base http.RoundTripper
}

func (t captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode >= 400 {
		if c, ok := r.Context().Value(captureKey{}).(*capturedResponse); ok {
			c.mu.Lock()
			c.status, c.header = resp.StatusCode, resp.Header.Clone()
			c.mu.Unlock()
		}
	}
	return resp, err
}
