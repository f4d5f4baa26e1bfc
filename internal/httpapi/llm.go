package httpapi

import (
	"cmp"
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

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
	"github.com/vibecoder/vibecoder/internal/store"
)

// EnableLLM registers the gateway's endpoints: POST /llm/generate, the
// OpenAI-compatible POST /v1/chat/completions and GET /v1/models, and GET /llm/cache/stats.
func (s *Server) EnableLLM(g *gateway.Gateway, stats func() LLMCacheInfo) {
	s.llm = g
	s.llmCacheInfo = stats
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

// xCacheHit and xCacheMiss are X-Cache's values, shared by every answer (a header's
// values are never changed in place; Add would append to a copy).
var (
	xCacheHit  = []string{"HIT"}
	xCacheMiss = []string{"MISS"}
)

func setLLMHeaders(w http.ResponseWriter, res *gateway.Result, cached bool) {
	if cached {
		w.Header()["X-Cache"] = xCacheHit
	} else {
		w.Header()["X-Cache"] = xCacheMiss
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
	sse.lazy = true
	call.OnCaughtUp = sse.flush
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

// openAIError is err in OpenAI's error envelope, with its type as the code too.
func openAIError(err error) openaiwire.ErrorBody {
	_, typ, msg := llmErrorParts(err)
	code := typ
	return openaiwire.ErrorBody{Error: openaiwire.ErrorDetail{Message: msg, Type: typ, Code: &code}}
}

// writeOpenAIError answers in OpenAI's error format. A 503 carries the code
// "service_unavailable" (clients retry on it, after Retry-After); other codes are null.
func writeOpenAIError(w http.ResponseWriter, status int, typ, msg string) {
	b := openaiwire.ErrorBody{Error: openaiwire.ErrorDetail{Message: msg, Type: typ}}
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
	// lazy events are not flushed one by one: the writer calls flush when it has
	// nothing more to send for now (see gateway.Call.OnCaughtUp).
	lazy bool
	buf  []byte // chunk's encoding buffer
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
	if e.lazy {
		return nil
	}
	return e.rc.Flush()
}

// chunk writes a chat completion chunk as an event, encoded by hand when it can be.
func (e *sse) chunk(c *openaiwire.ChatCompletionChunk) error {
	b, ok := c.AppendJSON(append(e.buf[:0], "data: "...))
	if !ok {
		return e.data(c)
	}
	return e.send(b)
}

// text writes a text chunk of the stream enc encodes as an event.
func (e *sse) text(enc *openaiwire.TextChunks, text string) error {
	return e.send(enc.Append(append(e.buf[:0], "data: "...), text))
}

// send ends the event b holds (in buf's array) and writes it.
func (e *sse) send(b []byte) error {
	e.buf = append(b, "\n\n"...)
	e.start()
	if _, err := e.w.Write(e.buf); err != nil {
		return err
	}
	if e.lazy {
		return nil
	}
	return e.rc.Flush()
}

// flush sends what has been written.
func (e *sse) flush() {
	if e.started {
		_ = e.rc.Flush()
	}
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

// chatCompletions is OpenAI's POST /chat/completions: the request decoded and validated
// by openaiwire, one gateway call, the answer whole or streamed.
func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	in, ok := s.readChatRequest(w, r)
	if !ok {
		return
	}
	noCache, noStore := cacheControl(r)
	call := &gateway.Call{UserID: userFrom(r.Context()).ID, Model: in.Model, Request: llmRequest(in), NoCache: noCache, NoStore: noStore}
	id, created := newCompletionID(), time.Now().Unix()
	if in.Stream {
		s.streamChat(w, r, call, id, created)
		return
	}
	res, err := s.llm.Complete(r.Context(), call)
	if err != nil {
		s.openAIFailure(w, r, res, err)
		return
	}
	setLLMHeaders(w, res, res.Cached)
	body := openaiwire.NewChatCompletion(id, created, res.Provider+"/"+res.Model, res.Response.Text,
		res.Response.ToolCalls, res.Response.FinishReason, chatUsage(res.Response.Usage))
	writeJSON(w, http.StatusOK, &body)
}

// readChatRequest reads a chat request's body, decodes and validates it, and answers
// what is wrong with it.
func (s *Server) readChatRequest(w http.ResponseWriter, r *http.Request) (*openaiwire.ChatRequest, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeOpenAIError(w, http.StatusUnsupportedMediaType, llm.TypeInvalidRequest, "send the body as Content-Type: application/json")
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes*8))
	if err != nil {
		writeOpenAIError(w, http.StatusRequestEntityTooLarge, llm.TypeInvalidRequest, "the request body is too large")
		return nil, false
	}
	in, err := openaiwire.DecodeChatRequest(data)
	if err == nil {
		err = in.Validate()
	}
	if err != nil {
		writeOpenAIError(w, http.StatusBadRequest, llm.TypeInvalidRequest, err.Error())
		return nil, false
	}
	return in, true
}

// llmRequest is a validated chat request for the gateway. Fields the gateway does not
// know are passed upstream as provider-specific parameters (and are part of the cache key).
func llmRequest(in *openaiwire.ChatRequest) llm.Request {
	req := llm.Request{MaxTokens: in.MaxTokensBound(), Temperature: in.Temperature, TopP: in.TopP, Stop: in.Stop, Seed: in.Seed,
		ResponseFormat: in.ResponseFormat, Tools: in.Tools, Extra: in.Extra, Messages: make([]llm.Message, len(in.Messages))}
	for i, m := range in.Messages {
		req.Messages[i] = llm.Message{Role: m.Role, Content: m.Content, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
	}
	return req
}

// streamChat answers a call as OpenAI's chunk stream: a first chunk with the role, the
// deltas, a chunk with the finish reason, one with the usage, and [DONE].
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, call *gateway.Call, id string, created int64) {
	sse := newSSE(w)
	sse.lazy = true
	call.OnCaughtUp = sse.flush
	var begun *gateway.Result
	call.OnStart = func(r *gateway.Result) { begun = r }
	// Chunks name the model as the whole answer does (provider/model), as the gateway
	// resolved it: a default or bare model name is not what the client should see echoed.
	var model string
	// One chunk value, its one choice and the text's holder serve every chunk of the
	// stream: each is encoded and written before the next is made (a chunk, its
	// choice list and the provider's chunk escaping to the heap were three
	// allocations per upstream chunk).
	cc := openaiwire.NewChunk(id, created, "", openaiwire.Delta{}, nil)
	var text string
	var texts openaiwire.TextChunks // once model is known
	chunk := func(delta openaiwire.Delta, finish *string) error {
		cc.Model = model
		cc.Choices[0] = openaiwire.ChunkChoice{Index: 0, Delta: delta, FinishReason: finish}
		return sse.chunk(&cc)
	}
	assistant := ""
	first := openaiwire.Delta{Role: llm.RoleAssistant, Content: &assistant}
	var final string
	res, err := s.llm.Stream(r.Context(), call, func(c llm.Chunk) error {
		if !sse.started {
			if begun != nil { // always, before the first chunk
				setLLMHeaders(w, begun, begun.Cached)
				model = begun.Provider + "/" + begun.Model
			}
			texts = openaiwire.NewTextChunks(id, created, model)
			if err := chunk(first, nil); err != nil {
				return err
			}
		}
		if c.Text != "" && !openaiwire.HasValue(c.ToolCalls) {
			if err := sse.text(&texts, c.Text); err != nil {
				return err
			}
		} else if c.Text != "" || openaiwire.HasValue(c.ToolCalls) {
			var d openaiwire.Delta
			if c.Text != "" {
				text = c.Text
				d.Content = &text
			}
			if openaiwire.HasValue(c.ToolCalls) {
				d.ToolCalls = c.ToolCalls
			}
			if err := chunk(d, nil); err != nil {
				return err
			}
		}
		if c.FinishReason != "" {
			final = c.FinishReason
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
		model = res.Provider + "/" + res.Model
		_ = chunk(first, nil)
	}
	finish := cmp.Or(res.Response.FinishReason, final, llm.FinishStop)
	_ = chunk(openaiwire.Delta{}, &finish)
	usage := openaiwire.NewUsageChunk(id, created, model, chatUsage(res.Response.Usage))
	_ = sse.chunk(&usage)
	// The end needs no flush of its own: net/http flushes when the handler returns,
	// and then sends it with the body's terminating chunk in one write instead of two.
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
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

// chatUsage is u as OpenAI's usage object.
func chatUsage(u llm.Usage) openaiwire.Usage {
	return openaiwire.NewUsage(u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.TotalTokens)
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
