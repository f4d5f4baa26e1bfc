// Package llmtest provides local HTTP servers that speak the OpenAI, Anthropic and Gemini wire
// formats, scripted per request, so code that calls LLM providers can be tested end to end without
// a network.
//
// Each server answers chat requests (plain JSON and server-sent events) and embedding requests in
// its provider's real format, records every request it receives, and asks a [Script] what to reply:
//
//	srv := llmtest.NewOpenAI(t, llmtest.Sequence(
//		llmtest.Reply{Status: 429, RetryAfter: "2"},
//		llmtest.Reply{Text: "hello"},
//	))
//	p, _ := llm.NewOpenAICompatible(llm.ProviderConfig{Name: "local", BaseURL: srv.URL})
//
// A Script may be called from several goroutines at once.
package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one chat message as the server received it, normalised across providers: system
// prompts come first with Role "system", and Gemini's "model" role is reported as "assistant".
type Message struct {
	Role    string
	Content string
}

// RecordedRequest is a request the server received, with the parts tests usually look at already
// decoded.
type RecordedRequest struct {
	Method  string
	Path    string
	Query   url.Values
	Header  http.Header
	RawBody []byte
	// Body is the decoded JSON body (nil if the body was not a JSON object).
	Body map[string]any

	// Kind is "chat" or "embeddings" ("" for a path the server does not know).
	Kind   string
	Model  string
	Stream bool
	// Messages holds the chat messages (Kind "chat").
	Messages []Message
	// Inputs holds the texts to embed (Kind "embeddings").
	Inputs []string
}

// LastUserMessage returns the content of the last user message, or "".
func (r RecordedRequest) LastUserMessage() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Usage is the token usage a reply reports.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int
}

// ToolCall is a function call in a reply (OpenAI server only).
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // JSON text
}

// Reply is what the server sends back. The zero Reply is a successful completion with text "ok".
type Reply struct {
	// Text is the completion text. Streams send it in Chunks, or split after each space.
	Text   string
	Chunks []string
	// ToolCalls are returned as OpenAI tool_calls (OpenAI server only).
	ToolCalls []ToolCall
	// FinishReason is OpenAI-style: "stop" (default, or "tool_calls" with ToolCalls), "length",
	// "content_filter"; each server translates it to its own wire value.
	FinishReason string
	// Usage defaults to PromptTokens = words in the request's messages, CompletionTokens =
	// number of chunks.
	Usage *Usage
	// Embeddings answer an embeddings request; by default each input gets a deterministic
	// unit vector (8 dimensions, or the dimensions the request asks for) derived from its text.
	Embeddings [][]float32

	// Status, when 400 or above, sends an error in the provider's format with message Error
	// (default: the status text) and type ErrorType (default: derived from the status).
	Status    int
	Error     string
	ErrorType string

	// Header is added to the response; RetryAfter sets the Retry-After header.
	Header     http.Header
	RetryAfter string
	// Body, when set, is sent verbatim (with Status, default 200) instead of a generated body:
	// use it for malformed responses.
	Body string
	// Delay waits before answering (or until the client goes away).
	Delay time.Duration
	// DisconnectAfter > 0 makes a stream drop the connection, without ending the response
	// properly, after that many text chunks.
	DisconnectAfter int
	// Pace, when set, is called with each text chunk's index once the chunk has been
	// sent and flushed, before the next is written (OpenAI server only): a test that
	// waits there until its client has seen the chunk gets every chunk to the client on
	// its own, where chunks written back to back may be read together (and a gateway
	// joins text that arrives together). It must return when the client goes away.
	Pace func(i int)
}

// Script decides the reply to each request.
type Script func(req RecordedRequest) Reply

// Text is a Script that always answers with text.
func Text(text string) Script {
	return func(RecordedRequest) Reply { return Reply{Text: text} }
}

// Sequence is a Script that answers the n-th request with replies[n]; once they run out, the
// last reply is repeated.
func Sequence(replies ...Reply) Script {
	var mu sync.Mutex
	n := 0
	return func(RecordedRequest) Reply {
		mu.Lock()
		defer mu.Unlock()
		if len(replies) == 0 {
			return Reply{}
		}
		r := replies[min(n, len(replies)-1)]
		n++
		return r
	}
}

// Server is a running fake provider. Give URL to the adapter as its base URL.
type Server struct {
	// URL is the base URL clients use, e.g. http://127.0.0.1:41234.
	URL string

	provider string
	srv      *httptest.Server
	script   Script
	wire     wire

	mu   sync.Mutex
	reqs []RecordedRequest
}

// wire is one provider's format.
type wire interface {
	// decode fills the provider-specific parts of rec (Kind, Model, Stream, Messages, Inputs).
	decode(rec *RecordedRequest)
	writeChat(w http.ResponseWriter, rec RecordedRequest, r Reply)
	writeStream(s *sse, rec RecordedRequest, r Reply)
	writeEmbeddings(w http.ResponseWriter, rec RecordedRequest, r Reply)
	writeError(w http.ResponseWriter, status int, typ, msg string)
}

func newServer(t testing.TB, provider string, wr wire, script Script) *Server {
	t.Helper()
	if script == nil {
		script = func(RecordedRequest) Reply { return Reply{} }
	}
	s := &Server{provider: provider, script: script, wire: wr}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Requests returns a copy of the requests received so far, in arrival order.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.reqs...)
}

// Calls returns how many requests the server has received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// Last returns the most recent request; ok is false if there was none.
func (s *Server) Last() (req RecordedRequest, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return RecordedRequest{}, false
	}
	return s.reqs[len(s.reqs)-1], true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := RecordedRequest{
		Method:  r.Method,
		Path:    r.URL.Path,
		Query:   r.URL.Query(),
		Header:  r.Header.Clone(),
		RawBody: raw,
	}
	_ = json.Unmarshal(raw, &rec.Body)
	s.wire.decode(&rec)

	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()

	if rec.Kind == "" || r.Method != http.MethodPost {
		s.wire.writeError(w, http.StatusNotFound, "", fmt.Sprintf("fake %s server: no route for %s %s", s.provider, r.Method, r.URL.Path))
		return
	}

	reply := s.script(rec)
	if reply.Delay > 0 {
		timer := time.NewTimer(reply.Delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	for k, vs := range reply.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case reply.Body != "":
		if w.Header().Get("Content-Type") == "" {
			if rec.Stream && status < 400 {
				w.Header().Set("Content-Type", "text/event-stream")
			} else {
				w.Header().Set("Content-Type", "application/json")
			}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply.Body)
	case status >= 400:
		msg := reply.Error
		if msg == "" {
			msg = http.StatusText(status)
		}
		s.wire.writeError(w, status, reply.ErrorType, msg)
	case rec.Kind == "embeddings":
		s.wire.writeEmbeddings(w, rec, reply)
	case rec.Stream:
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(status)
		s.wire.writeStream(&sse{w: w}, rec, reply)
	default:
		s.wire.writeChat(w, rec, reply)
	}
}

// sse writes server-sent events, flushing each one so the client sees it at once.
type sse struct {
	w http.ResponseWriter
}

// event writes one event (name may be empty) with a JSON data line (data may be a string for raw
// lines such as [DONE]).
func (s *sse) event(name string, data any) {
	var buf bytes.Buffer
	if name != "" {
		fmt.Fprintf(&buf, "event: %s\n", name)
	}
	switch d := data.(type) {
	case string:
		fmt.Fprintf(&buf, "data: %s\n\n", d)
	default:
		b, _ := json.Marshal(d)
		fmt.Fprintf(&buf, "data: %s\n\n", b)
	}
	_, _ = s.w.Write(buf.Bytes())
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// disconnect drops the connection mid-response: the client sees a truncated body, as when a
// provider's connection breaks.
func (s *sse) disconnect() {
	panic(http.ErrAbortHandler)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Helpers shared by the wires.

func (r Reply) text() string {
	if r.Text == "" && len(r.Chunks) == 0 && len(r.ToolCalls) == 0 {
		return "ok"
	}
	if r.Text == "" {
		return strings.Join(r.Chunks, "")
	}
	return r.Text
}

func (r Reply) chunks() []string {
	if len(r.Chunks) > 0 {
		return r.Chunks
	}
	t := r.text()
	if t == "" {
		return nil
	}
	return strings.SplitAfter(t, " ")
}

func (r Reply) finish() string {
	if r.FinishReason != "" {
		return r.FinishReason
	}
	if len(r.ToolCalls) > 0 {
		return "tool_calls"
	}
	return "stop"
}

func (r Reply) usage(rec RecordedRequest) Usage {
	if r.Usage != nil {
		return *r.Usage
	}
	words := 0
	for _, m := range rec.Messages {
		words += len(strings.Fields(m.Content))
	}
	for _, in := range rec.Inputs {
		words += len(strings.Fields(in))
	}
	n := len(r.chunks())
	if rec.Kind == "embeddings" {
		n = 0
	}
	return Usage{PromptTokens: words, CompletionTokens: n}
}

func (r Reply) embeddings(inputs []string, dims int) [][]float32 {
	if r.Embeddings != nil {
		return r.Embeddings
	}
	if dims <= 0 {
		dims = 8
	}
	out := make([][]float32, len(inputs))
	for i, in := range inputs {
		out[i] = Vector(in, dims)
	}
	return out
}

// Vector returns the deterministic unit vector the servers use by default for text, so tests
// can compute expected embeddings.
func Vector(text string, dims int) []float32 {
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d:%s", i, text)
		x := float64(h.Sum64()%2001)/1000 - 1 // in [-1, 1]
		v[i] = float32(x)
		norm += x * x
	}
	if norm == 0 {
		v[0], norm = 1, 1
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(norm))
	}
	return v
}

// JSON-navigation helpers for decoding request bodies.

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// contentText flattens a message content that is either a string or a list of {"text": ...}
// parts (OpenAI and Anthropic both allow both).
func contentText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	for _, p := range list(v) {
		b.WriteString(str(obj(p)["text"]))
	}
	return b.String()
}

// JoinedFrom reports whether texts are pieces, in order, each text one piece or
// several consecutive pieces joined, and every piece there: what a client is handed of
// a stream whose pieces the fake upstream sent, where a gateway may send text that
// arrived together as one chunk.
func JoinedFrom(texts, pieces []string) bool {
	for _, t := range texts {
		n := 0
		for rest := t; rest != ""; n++ {
			if n >= len(pieces) || pieces[n] == "" || !strings.HasPrefix(rest, pieces[n]) {
				return false
			}
			rest = rest[len(pieces[n]):]
		}
		if n == 0 {
			return false
		}
		pieces = pieces[n:]
	}
	return len(pieces) == 0
}
