package httpapi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"

	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/store"
)

// EnableLLM registers the gateway's endpoints: POST /llm/generate, the
// OpenAI-compatible POST /v1/chat/completions and GET /v1/models, and GET /llm/cache/stats.
func (s *Server) EnableLLM(g *gateway.Gateway, stats func() LLMCacheInfo) {
	s.llm = g
	s.llmCacheInfo = stats
	s.mux.Handle("POST /llm/generate", s.authed(s.generate))
	s.mux.Handle("GET /llm/cache/stats", s.authed(s.cacheStats))
	s.mux.Handle("POST /v1/chat/completions", s.authedWith(s.chatCompletions, openAIAuthError))
	s.mux.Handle("GET /v1/models", s.authedWith(s.listModels, openAIAuthError))
}

// LLMCacheInfo describes the response cache's storage for the stats endpoint.
type LLMCacheInfo struct {
	Backend string `json:"backend"` // memory or redis
	Scope   string `json:"scope"`
	Entries int64  `json:"entries,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
}

// cacheControl reads the request's Cache-Control: no-cache skips the lookup, no-store
// skips the write.
func cacheControl(r *http.Request) (noCache, noStore bool) {
	// Every Cache-Control field counts (a list may be split over several), and
	// directive names are case-insensitive (RFC 9111 §5.2).
	for _, field := range r.Header.Values("Cache-Control") {
		for part := range strings.SplitSeq(field, ",") {
			part = strings.TrimSpace(part)
			noCache = noCache || strings.EqualFold(part, "no-cache")
			noStore = noStore || strings.EqualFold(part, "no-store")
		}
	}
	return
}

func setLLMHeaders(w http.ResponseWriter, res *gateway.Result, cached bool) {
	if cached {
		w.Header().Set("X-Cache", "HIT")
	} else {
		w.Header().Set("X-Cache", "MISS")
	}
	if res != nil && res.RateLimit != nil {
		res.RateLimit.SetHeaders(w.Header())
	}
}

// newCompletionID is a chat completion's id as OpenAI spells them: "chatcmpl-" and 32
// lower-case hex digits (here a random UUID's).
func newCompletionID() string {
	const prefix = "chatcmpl-"
	u := uuid.New()
	var b [len(prefix) + 2*len(u)]byte
	copy(b[:], prefix)
	hex.Encode(b[len(prefix):], u[:])
	return string(b[:])
}

// generateRequest is the body of POST /llm/generate.
type generateRequest struct {
	Prompt      string     `json:"prompt"`
	System      string     `json:"system"`
	Model       string     `json:"model"`
	MaxTokens   int        `json:"max_tokens"`
	Temperature *float64   `json:"temperature"`
	Stream      bool       `json:"stream"`
	ProjectID   *uuid.UUID `json:"project_id"`
}

type generateResponse struct {
	Text         string    `json:"text"`
	Model        string    `json:"model"`
	Provider     string    `json:"provider"`
	FinishReason string    `json:"finish_reason"`
	Usage        llm.Usage `json:"usage"`
	CostUSD      float64   `json:"cost_usd"`
	CostSavedUSD float64   `json:"cost_saved_usd"`
	Cached       bool      `json:"cached"`
	LatencyMS    float64   `json:"latency_ms"`
}

func viewGenerate(res *gateway.Result) generateResponse {
	return generateResponse{Text: res.Response.Text, Model: res.Model, Provider: res.Provider, FinishReason: res.Response.FinishReason,
		Usage: res.Response.Usage, CostUSD: res.CostUSD, CostSavedUSD: res.CostSavedUSD, Cached: res.Cached,
		LatencyMS: float64(res.Latency.Microseconds()) / 1000}
}

const maxPromptChars = 1 << 20

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	var in generateRequest
	if !s.decode(w, r, &in) {
		return
	}
	var v validator
	v.text("prompt", in.Prompt, 1, maxPromptChars, true)
	v.text("system", in.System, 0, maxPromptChars, true)
	v.text("model", in.Model, 0, 200, false)
	if in.MaxTokens < 0 || in.MaxTokens > 1_000_000 {
		v.add("max_tokens", "must be between 0 and 1000000")
	}
	if t := in.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		v.add("temperature", "must be between 0 and 2")
	}
	if !v.ok() {
		s.invalid(w, r, &v)
		return
	}
	u := userFrom(r.Context())
	if in.ProjectID != nil {
		if _, err := s.store.GetProject(r.Context(), u.ID, *in.ProjectID); err != nil {
			s.ownedError(w, r, "project", store.ResourceProject, in.ProjectID.String(), err)
			return
		}
	}
	var msgs []llm.Message
	if in.System != "" {
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: in.System})
	}
	msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: in.Prompt})
	noCache, noStore := cacheControl(r)
	call := &gateway.Call{UserID: u.ID, ProjectID: in.ProjectID, Model: in.Model, NoCache: noCache, NoStore: noStore,
		Request: llm.Request{Messages: msgs, MaxTokens: in.MaxTokens, Temperature: in.Temperature}}

	if !in.Stream {
		res, err := s.llm.Complete(r.Context(), call)
		if err != nil {
			s.llmProblem(w, r, res, err)
			return
		}
		setLLMHeaders(w, res, res.Cached)
		writeJSON(w, http.StatusOK, viewGenerate(res))
		return
	}
	sse := newSSE(w)
	var begun *gateway.Result
	call.OnStart = func(r *gateway.Result) { begun = r }
	res, err := s.llm.Stream(r.Context(), call, func(c llm.Chunk) error {
		if !sse.started && begun != nil {
			setLLMHeaders(w, begun, begun.Cached)
		}
		if c.Text == "" {
			return nil
		}
		return sse.event("chunk", map[string]string{"text": c.Text})
	})
	if err != nil {
		if !sse.started {
			s.llmProblem(w, r, res, err)
			return
		}
		_ = sse.event("error", openAIError(err))
		return
	}
	if !sse.started {
		setLLMHeaders(w, res, res.Cached)
	}
	_ = sse.event("done", viewGenerate(res))
}

// llmProblem answers a gateway error as problem+json with the upstream's status, and
// Retry-After / RateLimit-* headers for limits.
func (s *Server) llmProblem(w http.ResponseWriter, r *http.Request, res *gateway.Result, err error) {
	status, typ, msg := llmErrorParts(err)
	if status >= 500 && status != http.StatusBadGateway && status != http.StatusGatewayTimeout && status != http.StatusServiceUnavailable {
		s.log.WarnContext(r.Context(), "llm call failed", "error", err)
	}
	limitHeaders(w, res, err)
	s.recordLimit(r, err)
	if status == llm.StatusClientClosedRequest {
		return // nobody is listening
	}
	s.writeProblem(w, r, Problem{Type: "urn:vibecoder:llm:" + typ, Title: http.StatusText(status), Status: status, Detail: msg})
}

func limitHeaders(w http.ResponseWriter, res *gateway.Result, err error) {
	var le *gateway.LimitError
	if errors.As(err, &le) && le.Limit != nil {
		le.Limit.SetHeaders(w.Header())
	} else if res != nil && res.RateLimit != nil {
		res.RateLimit.SetHeaders(w.Header())
	}
	var ue *llm.Error
	if errors.As(err, &ue) && ue.RetryAfter > 0 && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ue.RetryAfter.Seconds()))))
	}
	if errors.Is(err, store.ErrUnavailable) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
	}
}

func llmErrorParts(err error) (int, string, string) {
	var le *llm.Error
	if errors.As(err, &le) {
		status := le.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		return status, le.Type, le.Message
	}
	if errors.Is(err, store.ErrUnavailable) { // a budget reservation, say
		return http.StatusServiceUnavailable, llm.TypeServer, detailUnavailable
	}
	return http.StatusInternalServerError, llm.TypeServer, "the gateway failed"
}

// openAIErrorBody is OpenAI's error envelope.
type openAIErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func openAIError(err error) openAIErrorBody {
	_, typ, msg := llmErrorParts(err)
	var b openAIErrorBody
	b.Error.Message, b.Error.Type = msg, typ
	code := typ
	b.Error.Code = &code
	return b
}

// writeOpenAIError answers in OpenAI's error format. A 503 carries the code
// "service_unavailable" (clients retry on it, after Retry-After); other codes are null.
func writeOpenAIError(w http.ResponseWriter, status int, typ, msg string) {
	var b openAIErrorBody
	b.Error.Message, b.Error.Type = msg, typ
	if status == http.StatusServiceUnavailable {
		code := "service_unavailable"
		b.Error.Code = &code
	}
	writeJSON(w, status, b)
}

// openAIAuthError writes authedWith's refusals and failures in OpenAI's error format.
func openAIAuthError(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	typ := llm.TypeAuthentication
	switch {
	case status == http.StatusForbidden:
		typ = llm.TypePermission
	case status >= 500:
		typ = llm.TypeServer
	}
	writeOpenAIError(w, status, typ, msg)
}

// sse writes server-sent events, sending headers with the first event.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newSSE(w http.ResponseWriter) *sse { return &sse{w: w, rc: http.NewResponseController(w)} }

func (e *sse) start() {
	if e.started {
		return
	}
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	e.w.WriteHeader(http.StatusOK)
}

func (e *sse) data(v any) error {
	e.start()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return e.rc.Flush()
}

func (e *sse) event(name string, v any) error {
	e.start()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return e.rc.Flush()
}

func (e *sse) raw(line string) error {
	e.start()
	if _, err := io.WriteString(e.w, line); err != nil {
		return err
	}
	return e.rc.Flush()
}

// chatRequest is OpenAI's chat completion request. Fields the gateway does not know are
// kept and passed upstream as provider-specific parameters (they are part of the cache key).
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	Stream              bool            `json:"stream"`
	StreamOptions       json.RawMessage `json:"stream_options"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Tools               json.RawMessage `json:"tools"`
	N                   *int            `json:"n"`
	User                string          `json:"user"`
}

var chatKnownFields = map[string]bool{"model": true, "messages": true, "max_tokens": true, "max_completion_tokens": true,
	"temperature": true, "top_p": true, "stop": true, "seed": true, "stream": true, "stream_options": true,
	"response_format": true, "tools": true, "n": true, "user": true}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    chatContent     `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	Name       string          `json:"name"`
}

// chatContent is OpenAI message content flattened to text while the body is decoded:
// a string, null, or an array of text parts. A content that is none of these decodes
// without error and reports it through err, so the message can be named.
type chatContent struct {
	text string
	err  error
}

func (c *chatContent) UnmarshalJSON(raw []byte) error {
	*c = chatContent{} // a repeated key: the last one wins, as for every other field
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil
	case raw[0] == '"':
		// The body was validated (and checked to be UTF-8) before decoding, so a
		// string without escapes is its own text.
		if bytes.IndexByte(raw, '\\') < 0 {
			c.text = string(raw[1 : len(raw)-1])
			return nil
		}
		return json.Unmarshal(raw, &c.text)
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		c.err = errors.New("content must be a string or an array of content parts")
		return nil
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			c.err = fmt.Errorf("content part type %q is not supported; only text", p.Type)
			return nil
		}
		b.WriteString(p.Text)
	}
	c.text = b.String()
	return nil
}

// unknownFields returns the body's top-level fields the gateway does not know,
// decoded, or nil. gjson skims the keys without decoding the known values again.
func unknownFields(data []byte) (map[string]any, error) {
	var extra map[string]any
	var err error
	gjson.ParseBytes(data).ForEach(func(k, v gjson.Result) bool {
		if chatKnownFields[k.Str] {
			return true
		}
		var val any
		if err = json.Unmarshal([]byte(v.Raw), &val); err != nil {
			err = fmt.Errorf("field %q: %v", k.Str, err)
			return false
		}
		if extra == nil {
			extra = map[string]any{}
		}
		extra[k.Str] = val
		return true
	})
	return extra, err
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	bad := func(msg string) { writeOpenAIError(w, http.StatusBadRequest, llm.TypeInvalidRequest, msg) }
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeOpenAIError(w, http.StatusUnsupportedMediaType, llm.TypeInvalidRequest, "send the body as Content-Type: application/json")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes*8))
	if err != nil {
		writeOpenAIError(w, http.StatusRequestEntityTooLarge, llm.TypeInvalidRequest, "the request body is too large")
		return
	}
	if !utf8.Valid(data) {
		bad("the body is not valid UTF-8")
		return
	}
	var in chatRequest
	if err := json.Unmarshal(data, &in); err != nil {
		bad(jsonErrorDetail(err))
		return
	}
	extra, err := unknownFields(data)
	if err != nil {
		bad(err.Error())
		return
	}
	if len(in.Messages) == 0 {
		bad("messages must hold at least one message")
		return
	}
	if in.N != nil && *in.N != 1 {
		bad("n must be 1: the gateway returns one choice")
		return
	}
	req := llm.Request{Temperature: in.Temperature, TopP: in.TopP, Seed: in.Seed, ResponseFormat: in.ResponseFormat, Tools: in.Tools}
	if len(extra) > 0 {
		req.Extra = extra
	}
	switch {
	case in.MaxCompletionTokens != nil:
		req.MaxTokens = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		req.MaxTokens = *in.MaxTokens
	}
	if req.MaxTokens < 0 {
		bad("max_tokens must not be negative")
		return
	}
	if t := in.Temperature; t != nil && (*t < 0 || *t > 2) {
		bad("temperature must be between 0 and 2")
		return
	}
	if len(in.Stop) > 0 && string(in.Stop) != "null" {
		var one string
		if err := json.Unmarshal(in.Stop, &one); err == nil {
			req.Stop = []string{one}
		} else if err := json.Unmarshal(in.Stop, &req.Stop); err != nil {
			bad("stop must be a string or an array of strings")
			return
		}
	}
	req.Messages = make([]llm.Message, 0, len(in.Messages))
	for i, m := range in.Messages {
		text, err := m.Content.text, m.Content.err
		if err != nil {
			bad(fmt.Sprintf("messages[%d]: %v", i, err))
			return
		}
		switch m.Role {
		case llm.RoleSystem, llm.RoleDeveloper, llm.RoleUser, llm.RoleAssistant, llm.RoleTool:
		default:
			bad(fmt.Sprintf("messages[%d].role %q is not one of system, developer, user, assistant, tool", i, m.Role))
			return
		}
		req.Messages = append(req.Messages, llm.Message{Role: m.Role, Content: text, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID})
	}
	u := userFrom(r.Context())
	noCache, noStore := cacheControl(r)
	call := &gateway.Call{UserID: u.ID, Model: in.Model, Request: req, NoCache: noCache, NoStore: noStore}
	id := newCompletionID()
	created := time.Now().Unix()

	if !in.Stream {
		res, err := s.llm.Complete(r.Context(), call)
		if err != nil {
			s.openAIFailure(w, r, res, err)
			return
		}
		setLLMHeaders(w, res, res.Cached)
		body := chatCompletion(id, created, res)
		writeJSON(w, http.StatusOK, &body)
		return
	}

	sse := newSSE(w)
	var begun *gateway.Result
	call.OnStart = func(r *gateway.Result) { begun = r }
	// Chunks name the model as the whole answer does (provider/model): a default or
	// bare model name is not what the client should see echoed.
	model := in.Model
	if p, m, err := s.llm.Registry().Resolve(in.Model); err == nil {
		model = p.Name() + "/" + m
	}
	first := true
	var final llm.Chunk
	res, err := s.llm.Stream(r.Context(), call, func(c llm.Chunk) error {
		if !sse.started && begun != nil {
			setLLMHeaders(w, begun, begun.Cached)
		}
		if first {
			first = false
			if err := sse.data(chatChunk(id, created, model, map[string]any{"role": "assistant", "content": ""}, nil)); err != nil {
				return err
			}
		}
		if c.Text != "" || hasJSON(c.ToolCalls) {
			delta := map[string]any{}
			if c.Text != "" {
				delta["content"] = c.Text
			}
			if hasJSON(c.ToolCalls) {
				delta["tool_calls"] = c.ToolCalls
			}
			if err := sse.data(chatChunk(id, created, model, delta, nil)); err != nil {
				return err
			}
		}
		if c.FinishReason != "" {
			final.FinishReason = c.FinishReason
		}
		return nil
	})
	if err != nil {
		if !sse.started {
			s.openAIFailure(w, r, res, err)
			return
		}
		_ = sse.data(openAIError(err))
		return
	}
	if !sse.started {
		setLLMHeaders(w, res, res.Cached)
	}
	if first {
		_ = sse.data(chatChunk(id, created, model, map[string]any{"role": "assistant", "content": ""}, nil))
	}
	finish := res.Response.FinishReason
	if finish == "" {
		finish = final.FinishReason
	}
	if finish == "" {
		finish = llm.FinishStop
	}
	_ = sse.data(chatChunk(id, created, model, map[string]any{}, &finish))
	usage := chatUsage(res.Response.Usage)
	_ = sse.data(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
		"choices": []any{}, "usage": usage})
	_ = sse.raw("data: [DONE]\n\n")
}

func (s *Server) openAIFailure(w http.ResponseWriter, r *http.Request, res *gateway.Result, err error) {
	status, typ, msg := llmErrorParts(err)
	if status == llm.StatusClientClosedRequest {
		return
	}
	if status >= 500 {
		s.log.WarnContext(r.Context(), "llm call failed", "error", err)
	}
	limitHeaders(w, res, err)
	s.recordLimit(r, err)
	writeOpenAIError(w, status, typ, msg)
}

// hasJSON reports whether raw holds a value. Absent tool calls come back from the
// response cache as JSON null, which must not reach clients as "tool_calls": null.
func hasJSON(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	return len(v) > 0 && !bytes.Equal(v, []byte("null"))
}

// chatUsageBody is OpenAI's usage object.
type chatUsageBody struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func chatUsage(u llm.Usage) chatUsageBody {
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	out := chatUsageBody{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: total}
	out.PromptTokensDetails.CachedTokens = u.CachedTokens
	return out
}

func chatChunk(id string, created int64, model string, delta map[string]any, finish *string) map[string]any {
	return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
}

// chatCompletionBody is OpenAI's chat completion object (typed: it is written for
// every non-streamed answer, and a struct encodes several times faster than a map).
type chatCompletionBody struct {
	ID      string           `json:"id"`
	Object  string           `json:"object"`
	Created int64            `json:"created"`
	Model   string           `json:"model"`
	Choices []chatChoiceBody `json:"choices"`
	Usage   chatUsageBody    `json:"usage"`
}

type chatChoiceBody struct {
	Index        int             `json:"index"`
	Message      chatMessageBody `json:"message"`
	FinishReason string          `json:"finish_reason"`
}

type chatMessageBody struct {
	Role      string          `json:"role"`
	Content   string          `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

func chatCompletion(id string, created int64, res *gateway.Result) chatCompletionBody {
	msg := chatMessageBody{Role: "assistant", Content: res.Response.Text}
	if hasJSON(res.Response.ToolCalls) {
		msg.ToolCalls = res.Response.ToolCalls
	}
	finish := res.Response.FinishReason
	if finish == "" {
		finish = llm.FinishStop
	}
	return chatCompletionBody{ID: id, Object: "chat.completion", Created: created, Model: res.Provider + "/" + res.Model,
		Choices: []chatChoiceBody{{Index: 0, Message: msg, FinishReason: finish}},
		Usage:   chatUsage(res.Response.Usage)}
}

// appendJSON appends c, and the newline json.Encoder ends with, byte for byte as
// encoding/json encodes it (TestAppendChatCompletion): writeJSON encodes every
// non-streamed answer so. It reports false, and leaves the encoding to encoding/json,
// when the message has tool calls: raw JSON, which encoding/json compacts and escapes.
func (c *chatCompletionBody) appendJSON(b []byte) ([]byte, bool) {
	if len(c.Choices) != 1 || len(c.Choices[0].Message.ToolCalls) > 0 {
		return b, false
	}
	ch := &c.Choices[0]
	b = append(b, `{"id":`...)
	b = llm.AppendJSONString(b, c.ID)
	b = append(b, `,"object":`...)
	b = llm.AppendJSONString(b, c.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = llm.AppendJSONString(b, c.Model)
	b = append(b, `,"choices":[{"index":`...)
	b = strconv.AppendInt(b, int64(ch.Index), 10)
	b = append(b, `,"message":{"role":`...)
	b = llm.AppendJSONString(b, ch.Message.Role)
	b = append(b, `,"content":`...)
	b = llm.AppendJSONString(b, ch.Message.Content)
	b = append(b, `},"finish_reason":`...)
	b = llm.AppendJSONString(b, ch.FinishReason)
	u := &c.Usage
	b = append(b, `}],"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CachedTokens), 10)
	return append(b, "}}}\n"...), true
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	var data []map[string]any
	for _, m := range s.llm.Registry().Models() {
		data = append(data, map[string]any{"id": m.ID, "object": "model", "created": 0, "owned_by": m.Provider})
	}
	if data == nil {
		data = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}
