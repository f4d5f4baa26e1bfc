package llmtest

import (
	"net/http"
	"testing"
)

// NewAnthropic starts a fake Anthropic Messages API server: POST /v1/messages, as JSON or as a
// stream of message_start, content_block_start, ping, content_block_delta…,
// content_block_stop, message_delta and message_stop events. Errors use Anthropic's
// {"type":"error","error":{...}} body. It has no embeddings endpoint, like the real API.
func NewAnthropic(t testing.TB, script Script) *Server {
	t.Helper()
	return newServer(t, "anthropic", anthropicWire{}, script)
}

type anthropicWire struct{}

func (anthropicWire) decode(rec *RecordedRequest) {
	if rec.Path != "/v1/messages" {
		return
	}
	rec.Kind = "chat"
	rec.Model = str(rec.Body["model"])
	rec.Stream, _ = rec.Body["stream"].(bool)
	if sys := contentText(rec.Body["system"]); sys != "" {
		rec.Messages = append(rec.Messages, Message{Role: "system", Content: sys})
	}
	for _, m := range list(rec.Body["messages"]) {
		mm := obj(m)
		rec.Messages = append(rec.Messages, Message{Role: str(mm["role"]), Content: contentText(mm["content"])})
	}
}

func anthropicStop(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	case "content_filter":
		return "refusal"
	default:
		return "end_turn"
	}
}

const anthropicID = "msg_fake0001"

func (anthropicWire) writeChat(w http.ResponseWriter, rec RecordedRequest, r Reply) {
	u := r.usage(rec)
	writeJSON(w, http.StatusOK, map[string]any{
		"id":            anthropicID,
		"type":          "message",
		"role":          "assistant",
		"model":         rec.Model,
		"content":       []any{map[string]any{"type": "text", "text": r.text()}},
		"stop_reason":   anthropicStop(r.finish()),
		"stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens":                u.PromptTokens - u.CachedTokens,
			"output_tokens":               u.CompletionTokens,
			"cache_read_input_tokens":     u.CachedTokens,
			"cache_creation_input_tokens": 0,
		},
	})
}

func (anthropicWire) writeStream(s *sse, rec RecordedRequest, r Reply) {
	u := r.usage(rec)
	s.event("message_start", map[string]any{
		"type": "message_start",
		"message": map[string]any{
			"id": anthropicID, "type": "message", "role": "assistant", "model": rec.Model,
			"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
			"usage": map[string]any{
				"input_tokens":                u.PromptTokens - u.CachedTokens,
				"output_tokens":               1,
				"cache_read_input_tokens":     u.CachedTokens,
				"cache_creation_input_tokens": 0,
			},
		},
	})
	s.event("content_block_start", map[string]any{
		"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "text", "text": ""},
	})
	s.event("ping", map[string]any{"type": "ping"})
	text := r.chunks()
	for i, t := range text {
		if r.DisconnectAfter > 0 && i == r.DisconnectAfter {
			s.disconnect()
		}
		s.event("content_block_delta", map[string]any{
			"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": t},
		})
	}
	if r.DisconnectAfter > 0 && r.DisconnectAfter >= len(text) {
		s.disconnect()
	}
	s.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	s.event("message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": anthropicStop(r.finish()), "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": u.CompletionTokens},
	})
	s.event("message_stop", map[string]any{"type": "message_stop"})
}

func (w anthropicWire) writeEmbeddings(rw http.ResponseWriter, _ RecordedRequest, _ Reply) {
	w.writeError(rw, http.StatusNotFound, "not_found_error", "Anthropic has no embeddings endpoint")
}

func (anthropicWire) writeError(w http.ResponseWriter, status int, typ, msg string) {
	if typ == "" {
		switch status {
		case http.StatusBadRequest:
			typ = "invalid_request_error"
		case http.StatusUnauthorized:
			typ = "authentication_error"
		case http.StatusForbidden:
			typ = "permission_error"
		case http.StatusNotFound:
			typ = "not_found_error"
		case http.StatusTooManyRequests:
			typ = "rate_limit_error"
		case 529:
			typ = "overloaded_error"
		default:
			typ = "api_error"
		}
	}
	w.Header().Set("request-id", "req_fake0001")
	writeJSON(w, status, map[string]any{
		"type":  "error",
		"error": map[string]any{"type": typ, "message": msg},
	})
}
