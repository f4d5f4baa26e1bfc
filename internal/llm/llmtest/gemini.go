package llmtest

import (
	"net/http"
	"strings"
	"testing"
)

// NewGemini starts a fake Gemini API server: POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent?alt=sse, :embedContent and :batchEmbedContents. Errors use Google's
// {"error":{"code","message","status"}} body; a 429 also carries a google.rpc.RetryInfo detail
// when the reply sets RetryAfter in seconds.
func NewGemini(t testing.TB, script Script) *Server {
	t.Helper()
	return newServer(t, "gemini", geminiWire{}, script)
}

type geminiWire struct{}

func (geminiWire) decode(rec *RecordedRequest) {
	// /v1beta/models/gemini-2.5-flash:generateContent
	_, rest, ok := strings.Cut(rec.Path, "/models/")
	if !ok {
		return
	}
	model, method, ok := strings.Cut(rest, ":")
	if !ok {
		return
	}
	rec.Model = model
	switch method {
	case "generateContent":
		rec.Kind = "chat"
	case "streamGenerateContent":
		rec.Kind = "chat"
		rec.Stream = true
	case "embedContent":
		rec.Kind = "embeddings"
		rec.Inputs = append(rec.Inputs, contentText(obj(rec.Body["content"])["parts"]))
		return
	case "batchEmbedContents":
		rec.Kind = "embeddings"
		for _, r := range list(rec.Body["requests"]) {
			rec.Inputs = append(rec.Inputs, contentText(obj(obj(r)["content"])["parts"]))
		}
		return
	default:
		return
	}
	if sys := obj(rec.Body["systemInstruction"]); sys != nil {
		rec.Messages = append(rec.Messages, Message{Role: "system", Content: contentText(sys["parts"])})
	}
	for _, c := range list(rec.Body["contents"]) {
		cc := obj(c)
		role := str(cc["role"])
		if role == "model" {
			role = "assistant"
		}
		rec.Messages = append(rec.Messages, Message{Role: role, Content: contentText(cc["parts"])})
	}
}

func geminiFinish(finish string) string {
	switch finish {
	case "length":
		return "MAX_TOKENS"
	case "content_filter":
		return "SAFETY"
	default:
		return "STOP"
	}
}

func geminiUsage(u Usage) map[string]any {
	m := map[string]any{
		"promptTokenCount":     u.PromptTokens,
		"candidatesTokenCount": u.CompletionTokens,
		"totalTokenCount":      u.PromptTokens + u.CompletionTokens,
	}
	if u.CachedTokens > 0 {
		m["cachedContentTokenCount"] = u.CachedTokens
	}
	return m
}

func geminiResponse(model, text, finish string, u Usage) map[string]any {
	cand := map[string]any{
		"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}},
		"index":   0,
	}
	if finish != "" {
		cand["finishReason"] = finish
	}
	return map[string]any{
		"candidates":    []any{cand},
		"usageMetadata": geminiUsage(u),
		"modelVersion":  model,
		"responseId":    "fake0001",
	}
}

func (geminiWire) writeChat(w http.ResponseWriter, rec RecordedRequest, r Reply) {
	writeJSON(w, http.StatusOK, geminiResponse(rec.Model, r.text(), geminiFinish(r.finish()), r.usage(rec)))
}

func (geminiWire) writeStream(s *sse, rec RecordedRequest, r Reply) {
	u := r.usage(rec)
	text := r.chunks()
	if len(text) == 0 {
		text = []string{""}
	}
	for i, t := range text {
		if r.DisconnectAfter > 0 && i == r.DisconnectAfter {
			s.disconnect()
		}
		// Like the real API, every chunk carries usage so far; the last one has the totals.
		partial := Usage{PromptTokens: u.PromptTokens, CachedTokens: u.CachedTokens, CompletionTokens: i + 1}
		finish := ""
		if i == len(text)-1 {
			partial = u
			if r.DisconnectAfter == 0 || r.DisconnectAfter > len(text) {
				finish = geminiFinish(r.finish())
			}
		}
		s.event("", geminiResponse(rec.Model, t, finish, partial))
	}
	if r.DisconnectAfter > 0 && r.DisconnectAfter >= len(text) {
		s.disconnect()
	}
}

func (geminiWire) writeEmbeddings(w http.ResponseWriter, rec RecordedRequest, r Reply) {
	dims := num(rec.Body["outputDimensionality"])
	if reqs := list(rec.Body["requests"]); len(reqs) > 0 {
		dims = num(obj(reqs[0])["outputDimensionality"])
	}
	vecs := r.embeddings(rec.Inputs, dims)
	if strings.HasSuffix(rec.Path, ":embedContent") {
		var v []float32
		if len(vecs) > 0 {
			v = vecs[0]
		}
		writeJSON(w, http.StatusOK, map[string]any{"embedding": map[string]any{"values": v}})
		return
	}
	embs := make([]any, len(vecs))
	for i, v := range vecs {
		embs[i] = map[string]any{"values": v}
	}
	writeJSON(w, http.StatusOK, map[string]any{"embeddings": embs})
}

func (geminiWire) writeError(w http.ResponseWriter, status int, typ, msg string) {
	if typ == "" {
		switch status {
		case http.StatusBadRequest:
			typ = "INVALID_ARGUMENT"
		case http.StatusUnauthorized:
			typ = "UNAUTHENTICATED"
		case http.StatusForbidden:
			typ = "PERMISSION_DENIED"
		case http.StatusNotFound:
			typ = "NOT_FOUND"
		case http.StatusTooManyRequests:
			typ = "RESOURCE_EXHAUSTED"
		case http.StatusServiceUnavailable:
			typ = "UNAVAILABLE"
		case http.StatusGatewayTimeout:
			typ = "DEADLINE_EXCEEDED"
		default:
			typ = "INTERNAL"
		}
	}
	e := map[string]any{"code": status, "message": msg, "status": typ}
	if ra := w.Header().Get("Retry-After"); ra != "" && status == http.StatusTooManyRequests && isDigits(ra) {
		e["details"] = []any{map[string]any{
			"@type":      "type.googleapis.com/google.rpc.RetryInfo",
			"retryDelay": ra + "s",
		}}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
