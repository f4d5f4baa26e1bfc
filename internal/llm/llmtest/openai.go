package llmtest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
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
	default:
		return
	}
	rec.Model = str(rec.Body["model"])
	rec.Stream, _ = rec.Body["stream"].(bool)
	for _, m := range list(rec.Body["messages"]) {
		mm := obj(m)
		rec.Messages = append(rec.Messages, Message{Role: str(mm["role"]), Content: contentText(mm["content"])})
	}
	switch in := rec.Body["input"].(type) {
	case string:
		rec.Inputs = []string{in}
	case []any:
		for _, s := range in {
			rec.Inputs = append(rec.Inputs, str(s))
		}
	}
}

func openaiUsage(u Usage) map[string]any {
	return map[string]any{
		"prompt_tokens":     u.PromptTokens,
		"completion_tokens": u.CompletionTokens,
		"total_tokens":      u.PromptTokens + u.CompletionTokens,
		"prompt_tokens_details": map[string]any{
			"cached_tokens": u.CachedTokens,
		},
	}
}

func openaiToolCalls(calls []ToolCall, withIndex bool) []any {
	out := make([]any, len(calls))
	for i, c := range calls {
		tc := map[string]any{
			"id":   c.ID,
			"type": "function",
			"function": map[string]any{
				"name":      c.Name,
				"arguments": c.Arguments,
			},
		}
		if withIndex {
			tc["index"] = i
		}
		out[i] = tc
	}
	return out
}

const openaiID = "chatcmpl-fake0001"

func (openaiWire) writeChat(w http.ResponseWriter, rec RecordedRequest, r Reply) {
	msg := map[string]any{"role": "assistant", "content": r.text(), "refusal": nil}
	if len(r.ToolCalls) > 0 {
		msg["tool_calls"] = openaiToolCalls(r.ToolCalls, false)
		if r.Text == "" {
			msg["content"] = nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      openaiID,
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   rec.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       msg,
			"logprobs":      nil,
			"finish_reason": r.finish(),
		}},
		"usage": openaiUsage(r.usage(rec)),
	})
}

func (openaiWire) writeStream(s *sse, rec RecordedRequest, r Reply) {
	includeUsage, _ := obj(rec.Body["stream_options"])["include_usage"].(bool)
	created := time.Now().Unix()
	chunk := func(delta map[string]any, finish any) map[string]any {
		c := map[string]any{
			"id":      openaiID,
			"object":  "chat.completion.chunk",
			"created": created,
			"model":   rec.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if includeUsage {
			c["usage"] = nil
		}
		return c
	}
	s.event("", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	text := r.chunks()
	if len(r.ToolCalls) > 0 && r.Text == "" && len(r.Chunks) == 0 {
		text = nil
	}
	for i, t := range text {
		if r.DisconnectAfter > 0 && i == r.DisconnectAfter {
			s.disconnect()
		}
		s.event("", chunk(map[string]any{"content": t}, nil))
	}
	if r.DisconnectAfter > 0 && r.DisconnectAfter >= len(text) {
		s.disconnect()
	}
	if len(r.ToolCalls) > 0 {
		s.event("", chunk(map[string]any{"tool_calls": openaiToolCalls(r.ToolCalls, true)}, nil))
	}
	s.event("", chunk(map[string]any{}, r.finish()))
	if includeUsage {
		s.event("", map[string]any{
			"id":      openaiID,
			"object":  "chat.completion.chunk",
			"created": created,
			"model":   rec.Model,
			"choices": []any{},
			"usage":   openaiUsage(r.usage(rec)),
		})
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
	writeJSON(w, status, map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil},
	})
}
