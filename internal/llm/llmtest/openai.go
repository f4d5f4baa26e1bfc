package llmtest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
)

// NewOpenAI starts a fake OpenAI-compatible server (OpenAI, xAI, Ollama, vLLM, llama.cpp all
// speak this format). It serves POST /chat/completions and POST /embeddings, with or without a
// /v1 prefix. Streams send `data: {chunk}` lines ending with `data: [DONE]`, and a final usage
// chunk with empty choices when the request sets stream_options.include_usage.
func NewOpenAI(t testing.TB, script Script) *Server {
	t.Helper()
	return newServer(t, "openai", openaiWire{}, script)
}

type openaiWire struct{}

func (openaiWire) decode(rec *RecordedRequest) {
	switch {
	case strings.HasSuffix(rec.Path, "/chat/completions"):
		rec.Kind = "chat"
	case strings.HasSuffix(rec.Path, "/embeddings"):
		rec.Kind = "embeddings"
		rec.Model = str(rec.Body["model"])
		switch in := rec.Body["input"].(type) {
		case string:
			rec.Inputs = []string{in}
		case []any:
			for _, s := range in {
				rec.Inputs = append(rec.Inputs, str(s))
			}
		}
		return
	default:
		return
	}
	// Recorded as the server reads it; a body it would refuse is recorded as far as
	// it decodes (the raw body is there too).
	in, err := openaiwire.DecodeChatRequest(rec.RawBody)
	if err != nil {
		return
	}
	rec.Model, rec.Stream = in.Model, in.Stream
	for _, m := range in.Messages {
		rec.Messages = append(rec.Messages, Message{Role: m.Role, Content: m.Content})
	}
}

func openaiUsage(u Usage) openaiwire.Usage {
	return openaiwire.NewUsage(u.PromptTokens, u.CompletionTokens, u.CachedTokens, 0)
}

func openaiToolCalls(calls []ToolCall, withIndex bool) json.RawMessage {
	out := make([]openaiwire.ToolCall, len(calls))
	for i, c := range calls {
		out[i] = openaiwire.ToolCall{ID: c.ID, Type: "function", Function: openaiwire.FunctionCall{Name: c.Name, Arguments: c.Arguments}}
		if withIndex {
			out[i].Index = &i
		}
	}
	raw, _ := json.Marshal(out)
	return raw
}

const openaiID = "chatcmpl-fake0001"

// null is what OpenAI sends for logprobs and refusal, which the gateway's server leaves out.
func null() json.RawMessage { return json.RawMessage("null") }

func (openaiWire) writeChat(w http.ResponseWriter, rec RecordedRequest, r Reply) {
	text := r.text()
	msg := openaiwire.AssistantMessage{Role: openaiwire.RoleAssistant, Content: &text, Refusal: null()}
	if len(r.ToolCalls) > 0 {
		msg.ToolCalls = openaiToolCalls(r.ToolCalls, false)
		if r.Text == "" {
			msg.Content = nil
		}
	}
	writeJSON(w, http.StatusOK, openaiwire.ChatCompletion{ID: openaiID, Object: "chat.completion", Created: time.Now().Unix(), Model: rec.Model,
		Choices: []openaiwire.Choice{{Index: 0, Message: msg, Logprobs: null(), FinishReason: r.finish()}},
		Usage:   openaiUsage(r.usage(rec))})
}

// nullUsageChunk is a chunk as OpenAI sends it when asked for usage: "usage": null on
// every chunk but the last.
type nullUsageChunk struct {
	openaiwire.ChatCompletionChunk
	Usage *openaiwire.Usage `json:"usage"`
}

func (openaiWire) writeStream(s *sse, rec RecordedRequest, r Reply) {
	includeUsage, _ := obj(rec.Body["stream_options"])["include_usage"].(bool)
	created := time.Now().Unix()
	chunk := func(delta openaiwire.Delta, finish *string) {
		c := openaiwire.NewChunk(openaiID, created, rec.Model, delta, finish)
		c.Choices[0].Logprobs = null()
		if includeUsage {
			s.event("", nullUsageChunk{ChatCompletionChunk: c})
			return
		}
		s.event("", c)
	}
	empty := ""
	chunk(openaiwire.Delta{Role: openaiwire.RoleAssistant, Content: &empty}, nil)
	text := r.chunks()
	if len(r.ToolCalls) > 0 && r.Text == "" && len(r.Chunks) == 0 {
		text = nil
	}
	for i, t := range text {
		if r.DisconnectAfter > 0 && i == r.DisconnectAfter {
			s.disconnect()
		}
		chunk(openaiwire.Delta{Content: &t}, nil)
		if r.Pace != nil {
			r.Pace(i)
		}
	}
	if r.DisconnectAfter > 0 && r.DisconnectAfter >= len(text) {
		s.disconnect()
	}
	if len(r.ToolCalls) > 0 {
		chunk(openaiwire.Delta{ToolCalls: openaiToolCalls(r.ToolCalls, true)}, nil)
	}
	finish := r.finish()
	chunk(openaiwire.Delta{}, &finish)
	if includeUsage {
		s.event("", openaiwire.NewUsageChunk(openaiID, created, rec.Model, openaiUsage(r.usage(rec))))
	}
	s.event("", "[DONE]")
}

func (openaiWire) writeEmbeddings(w http.ResponseWriter, rec RecordedRequest, r Reply) {
	vecs := r.embeddings(rec.Inputs, num(rec.Body["dimensions"]))
	base64Format := str(rec.Body["encoding_format"]) == "base64"
	data := make([]any, len(vecs))
	for i, v := range vecs {
		var emb any = v
		if base64Format {
			var buf bytes.Buffer
			for _, f := range v {
				_ = binary.Write(&buf, binary.LittleEndian, math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	u := r.usage(rec)
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  rec.Model,
		"usage":  map[string]any{"prompt_tokens": u.PromptTokens, "total_tokens": u.PromptTokens},
	})
}

func (openaiWire) writeError(w http.ResponseWriter, status int, typ, msg string) {
	if typ == "" {
		switch {
		case status == http.StatusUnauthorized:
			typ = "invalid_request_error"
		case status == http.StatusTooManyRequests:
			typ = "rate_limit_exceeded"
		case status >= 500:
			typ = "server_error"
		default:
			typ = "invalid_request_error"
		}
	}
	writeJSON(w, status, openaiwire.ErrorBody{Error: openaiwire.ErrorDetail{Message: msg, Type: typ}})
}
