package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
)

// Default base URLs of the hosted OpenAI-format APIs.
const (
	OpenAIBaseURL = "https://api.openai.com/v1"
	XAIBaseURL    = "https://api.x.ai/v1"
)

type openAIKind int

const (
	kindOpenAI openAIKind = iota
	kindXAI
	kindCompatible
)

// openAIProvider speaks OpenAI's chat completions and embeddings API through openai-go.
type openAIProvider struct {
	name    string
	kind    openAIKind
	key     string
	timeout time.Duration
	// chat is openai-go's own chat service: the tests hold the bodies encoded here
	// to the ones it builds.
	chat  openai.ChatCompletionService
	embed openai.EmbeddingService
	// chatReq sends pre-encoded bodies (Complete, Stream; see openai_wire.go) as the
	// SDK's client would (openai_post.go).
	chatReq *chatSender
	// readers keeps the read buffers of finished streams (*bufio.Reader): 8 KiB
	// each, they were a tenth of the bytes a stream allocated.
	readers sync.Pool
}

// NewOpenAI returns the OpenAI provider (default name "openai", base URL OpenAIBaseURL). An API
// key is required unless BaseURL points somewhere else.
func NewOpenAI(cfg ProviderConfig) (Provider, error) {
	if cfg.APIKey == "" && cfg.BaseURL == "" {
		return nil, errors.New("llm provider openai: an API key is required (OPENAI_API_KEY)")
	}
	return newOpenAIProvider(cfg.withDefaults("openai", OpenAIBaseURL), kindOpenAI)
}

// NewXAI returns the xAI (Grok) provider over its OpenAI-compatible API (default name "xai",
// base URL XAIBaseURL). An API key is required.
func NewXAI(cfg ProviderConfig) (Provider, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("llm provider xai: an API key is required (XAI_API_KEY)")
	}
	return newOpenAIProvider(cfg.withDefaults("xai", XAIBaseURL), kindXAI)
}

// NewOpenAICompatible returns a provider for any server with an OpenAI-compatible API (Ollama
// at http://localhost:11434/v1, vLLM, llama.cpp). Name and BaseURL are required; the API key is
// optional.
func NewOpenAICompatible(cfg ProviderConfig) (Provider, error) {
	if cfg.Name == "" {
		return nil, errors.New("llm: an OpenAI-compatible provider needs a name (e.g. \"ollama\")")
	}
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("llm provider %s: a base URL is required", cfg.Name)
	}
	return newOpenAIProvider(cfg.withDefaults(cfg.Name, ""), kindCompatible)
}

func newOpenAIProvider(cfg ProviderConfig, kind openAIKind) (Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// The services are built directly rather than through openai.NewClient, which would read
	// OPENAI_API_KEY and OPENAI_BASE_URL from the environment and could send OpenAI's key to an
	// Ollama or xAI server.
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0), // the gateway retries
		option.WithMiddleware(inMemoryBody),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	chatReq, err := chatTemplate(openai.Client{Options: opts}, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &openAIProvider{
		name:    cfg.Name,
		kind:    kind,
		key:     cfg.APIKey,
		timeout: cfg.Timeout,
		chat:    openai.NewChatCompletionService(opts...),
		embed:   openai.NewEmbeddingService(opts...),
		chatReq: chatReq,
	}, nil
}

func (p *openAIProvider) Name() string { return p.name }

func (p *openAIProvider) Complete(ctx context.Context, req *Request) (*Response, error) {
	body, err := p.chatBody(req, false)
	if err != nil {
		return nil, err
	}
	if p.timeout > 0 { // without one the caller's context bounds the call as it is
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	// See openai_wire.go and openai_post.go: our body is sent as the SDK sends a
	// request (error answers become its error type), and readAnswer takes the
	// answer's bytes.
	resp, err := p.chatReq.post(ctx, body)
	if err != nil {
		return nil, p.mapError(ctx, err)
	}
	raw, err := readAnswer(resp)
	if err != nil {
		return nil, p.mapError(ctx, fmt.Errorf("error reading response body: %w", err))
	}
	return p.decodeChatResponse(raw)
}

// readAnswer reads and closes a whole answer body, in one buffer of its
// Content-Length (plus the byte that finds its end) when it has one: io.ReadAll,
// growing from 512 bytes, copied a 1 KB completion three times.
func readAnswer(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	size := int64(512)
	if n := resp.ContentLength; n >= 0 && n < 64<<20 {
		size = n + 1
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		n, err := resp.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// inMemoryBody gives net/http the request body as the in-memory reader it is (the
// one GetBody makes) instead of the SDK's wrapper around it. net/http writes the
// headers and an in-memory body with one system call; a body it cannot see into, it
// sends after flushing the headers on their own: two writes per upstream call.
func inMemoryBody(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	if req.GetBody != nil && req.ContentLength > 0 {
		if body, err := req.GetBody(); err == nil {
			req.Body = body
		}
	}
	return next(req)
}

// requestTextLen is the length of req's message text: a size hint for its body.
func requestTextLen(req *Request) int {
	n := 0
	for _, m := range req.Messages {
		n += len(m.Content) + len(m.ToolCalls) + 32
	}
	return n + len(req.Tools) + len(req.ResponseFormat)
}

func (p *openAIProvider) Stream(ctx context.Context, req *Request, fn func(Chunk) error) (*Response, error) {
	body, err := p.chatBody(req, true)
	if err != nil {
		return nil, err
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	// Our body is sent as the SDK sends a request (openai_wire.go, openai_post.go);
	// sseReader splits the event stream (openai-go's decoder took a bufio.Scanner and
	// a slice per event) and openaiwire reads each chunk (openai-go's reflective chunk
	// decoding took 40 % of a 50-chunk stream's CPU).
	resp, err := p.chatReq.post(ctx, body)
	if err != nil {
		return nil, p.mapError(ctx, err)
	}
	defer resp.Body.Close()
	events := p.sseReader(resp.Body)
	defer func() {
		events.br.Reset(nil) // keep no hold on the body
		p.readers.Put(events.br)
	}()
	var a streamAcc
	hold := chunkHolder{fn: fn}
	var c openaiwire.StreamChunk // every event is read into it
	done := false                // [DONE] was read
	for {
		data, err := events.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, hold.fail(p.mapError(ctx, err))
		}
		if bytes.HasPrefix(data, []byte("[DONE]")) {
			done = true
			break
		}
		if err := c.Decode(data); err != nil {
			return nil, hold.fail(p.mapError(ctx, err))
		}
		if c.HasError {
			ev := ssestream.Event{Data: bytes.Clone(data)}
			return nil, hold.fail(p.mapError(ctx, &ssestream.StreamError{Message: "received error while streaming: " + c.Error, Event: ev}))
		}
		if err := p.streamChunk(&c, &a, hold.add); err != nil {
			return nil, hold.fail(err)
		}
		if !events.more() {
			// Nothing more has arrived: hand over what is held before waiting.
			if err := hold.release(false); err != nil {
				return nil, err
			}
		}
	}
	// After [DONE] the last chunk follows at once; a stream that ended otherwise
	// fails below.
	if err := hold.release(done); err != nil {
		return nil, err
	}
	out := &a.out
	if out.FinishReason == "" {
		return nil, newError(p.name, http.StatusBadGateway, TypeUpstreamUnavailable, "stream ended before the upstream finished the completion")
	}
	if len(a.text) > 0 {
		out.Text = unsafe.String(&a.text[0], len(a.text))
	}
	out.ToolCalls = a.tools.result()
	if a.usage != nil {
		out.Usage = *a.usage
	}
	if err := fn(Chunk{FinishReason: out.FinishReason, Usage: a.usage}); err != nil {
		return nil, err
	}
	return out, nil
}

// sseReader reads body's events with a buffer of a finished stream's, if one is kept.
func (p *openAIProvider) sseReader(body io.Reader) *sseReader {
	if br, ok := p.readers.Get().(*bufio.Reader); ok {
		br.Reset(body)
		return &sseReader{br: br}
	}
	return newSSEReader(body)
}

// chunkHolder hands a stream's chunks to fn one behind: it holds the latest until
// the next one is made (which it then marks More) or the provider would wait for the
// upstream (release(false)), so a writer that flushes only after a chunk without More
// sends chunks that arrived together in one write, and none later than it would have.
//
// Text that arrived together is handed over as one chunk: a text chunk made while
// another is held (so both were read from the upstream before the provider had to
// wait for it) joins the held one when its text follows the held text in the
// stream's text (streamAcc.text), up to maxJoinedText. The writer then encodes,
// publishes and writes one event where it would have written several in the same
// write: the same text at the same moment, in fewer bytes. Chunks that arrive one at
// a time, as a model's tokens do, are handed over one at a time as before.
type chunkHolder struct {
	fn   func(Chunk) error
	c    Chunk
	held bool
}

// maxJoinedText bounds the text of a chunk joined from several.
const maxJoinedText = 16 << 10

func (h *chunkHolder) add(c Chunk) error {
	if h.held && follows(h.c, c) {
		h.c.Text = unsafe.String(unsafe.StringData(h.c.Text), len(h.c.Text)+len(c.Text))
		return nil
	}
	if err := h.release(true); err != nil {
		return err
	}
	h.c, h.held = c, true
	return nil
}

// follows reports whether next can join held: both are text and nothing else, and
// next's text lies right after held's in memory (the stream's text has not moved to
// a larger array between them), so that one string spans both.
func follows(held, next Chunk) bool {
	if held.Text == "" || next.Text == "" || held.ToolCalls != nil || next.ToolCalls != nil ||
		held.FinishReason != "" || next.FinishReason != "" || held.Usage != nil || next.Usage != nil ||
		len(held.Text)+len(next.Text) > maxJoinedText {
		return false
	}
	// Compared as addresses: a pointer one past held's text may point past its array.
	return uintptr(unsafe.Pointer(unsafe.StringData(held.Text)))+uintptr(len(held.Text)) == uintptr(unsafe.Pointer(unsafe.StringData(next.Text)))
}

// release hands over the chunk held, if any, with more as its More.
func (h *chunkHolder) release(more bool) error {
	if !h.held {
		return nil
	}
	h.held = false
	h.c.More = more
	return h.fn(h.c)
}

// fail hands over the chunk held, then returns err (unless fn failed first): the
// chunks a stream made before it broke reach the caller, as they did unheld.
func (h *chunkHolder) fail(err error) error {
	if ferr := h.release(false); ferr != nil {
		return ferr
	}
	return err
}

// streamAcc is what a stream has assembled so far.
type streamAcc struct {
	out Response
	// text is the text so far. It is only appended to, so the chunks handed on carry
	// their part of it (a string sharing its bytes) rather than a copy of their own;
	// when it grows into a new array, the old one stays as those strings hold it.
	text  []byte
	usage *Usage
	tools toolCallAccumulator
}

// streamChunk takes one chunk of a stream into a, handing its deltas to fn; what
// it keeps of c it copies (c's strings are the event's, valid only until the next).
func (p *openAIProvider) streamChunk(c *openaiwire.StreamChunk, a *streamAcc, fn func(Chunk) error) error {
	if c.ID != "" && c.ID != a.out.ID {
		a.out.ID = strings.Clone(c.ID)
	}
	if c.Model != "" && c.Model != a.out.Model {
		a.out.Model = strings.Clone(c.Model)
	}
	if c.Usage != nil {
		u := Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens,
			CachedTokens: c.Usage.PromptTokensDetails.CachedTokens, TotalTokens: c.Usage.TotalTokens}
		if u.TotalTokens == 0 {
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		a.usage = &u
	}
	for _, d := range c.Deltas {
		if d.Content != "" {
			if a.text == nil {
				a.text = make([]byte, 0, max(512, 2*len(d.Content)))
			}
			n := len(a.text)
			a.text = append(a.text, d.Content...)
			if err := fn(Chunk{Text: unsafe.String(&a.text[n], len(d.Content))}); err != nil {
				return err
			}
		}
		if d.ToolCalls != nil {
			if err := a.tools.add(d.ToolCalls); err != nil {
				return newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "malformed tool_calls delta: "+err.Error())
			}
			if err := fn(Chunk{ToolCalls: bytes.Clone(d.ToolCalls)}); err != nil {
				return err
			}
		}
		if d.FinishReason != "" {
			a.out.FinishReason = openAIFinish(strings.Clone(d.FinishReason))
		}
	}
	return nil
}

func (p *openAIProvider) Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error) {
	if model == "" {
		return nil, Usage{}, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "model is required")
	}
	if len(inputs) == 0 {
		return [][]float32{}, Usage{}, nil
	}
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	res, err := p.embed.New(ctx, openai.EmbeddingNewParams{
		Model:          openai.EmbeddingModel(model),
		Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	})
	if err != nil {
		return nil, Usage{}, p.mapError(ctx, err)
	}
	if len(res.Data) != len(inputs) {
		return nil, Usage{}, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse,
			fmt.Sprintf("upstream returned %d embeddings for %d inputs", len(res.Data), len(inputs)))
	}
	out := make([][]float32, len(inputs))
	for i, d := range res.Data {
		idx := int(d.Index)
		if !d.JSON.Index.Valid() {
			idx = i
		}
		if idx < 0 || idx >= len(out) || out[idx] != nil {
			return nil, Usage{}, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, fmt.Sprintf("upstream returned a bad embedding index %d", d.Index))
		}
		v := make([]float32, len(d.Embedding))
		for j, f := range d.Embedding {
			v[j] = float32(f)
		}
		out[idx] = v
	}
	u := Usage{PromptTokens: int(res.Usage.PromptTokens), TotalTokens: int(res.Usage.TotalTokens)}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens
	}
	return out, u, nil
}

func (p *openAIProvider) mapError(ctx context.Context, err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		var hdr http.Header
		if apiErr.Response != nil {
			hdr = apiErr.Response.Header
		}
		return apiError(p.name, apiErr.StatusCode, apiErr.Message, hdr, p.key)
	}
	var streamErr *ssestream.StreamError
	if errors.As(err, &streamErr) {
		// An {"error": {...}} event in the middle of a stream.
		var body openaiwire.ErrorBody
		msg := "upstream reported an error mid-stream"
		if json.Unmarshal(streamErr.Event.Data, &body) == nil && body.Error.Message != "" {
			msg += ": " + body.Error.Message
		}
		return newError(p.name, http.StatusBadGateway, TypeServer, redact(msg, p.key))
	}
	if e := transportError(ctx, p.name, err); e != nil {
		return e
	}
	return mapUnknown(p.name, err)
}

// openAIUsage is openai-go's usage as ours (the tests compare decodings with it).
func openAIUsage(u openai.CompletionUsage) Usage {
	out := Usage{
		PromptTokens:     int(u.PromptTokens),
		CompletionTokens: int(u.CompletionTokens),
		CachedTokens:     int(u.PromptTokensDetails.CachedTokens),
		TotalTokens:      int(u.TotalTokens),
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out
}

func openAIFinish(r string) string { return openaiwire.Finish(r) }

// toolCallAccumulator assembles streamed tool_calls deltas (by index) into a tool_calls array.
type toolCallAccumulator struct {
	calls map[int]*openaiwire.ToolCall
}

func (a *toolCallAccumulator) add(raw json.RawMessage) error {
	var deltas []openaiwire.ToolCall
	if err := json.Unmarshal(raw, &deltas); err != nil {
		return err
	}
	if a.calls == nil {
		a.calls = map[int]*openaiwire.ToolCall{}
	}
	for _, d := range deltas {
		i := 0
		if d.Index != nil {
			i = *d.Index
		}
		c := a.calls[i]
		if c == nil {
			c = &openaiwire.ToolCall{Type: "function"}
			a.calls[i] = c
		}
		if d.ID != "" {
			c.ID = d.ID
		}
		if d.Type != "" {
			c.Type = d.Type
		}
		c.Function.Name += d.Function.Name
		c.Function.Arguments += d.Function.Arguments
	}
	return nil
}

func (a *toolCallAccumulator) result() json.RawMessage {
	if len(a.calls) == 0 {
		return nil
	}
	idx := make([]int, 0, len(a.calls))
	for i := range a.calls {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	calls := make([]*openaiwire.ToolCall, len(idx))
	for i, k := range idx {
		calls[i] = a.calls[k]
	}
	raw, _ := json.Marshal(calls)
	return raw
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sjsonKey escapes a top-level body key for the SDKs' WithJSONSet, whose keys are sjson paths.
func sjsonKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		switch r {
		case '.', '*', '?', '\\', '|', '#', '@', ':', '!', '=', '<', '>', '%':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
