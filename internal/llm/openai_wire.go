package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// The non-streaming chat completion is the gateway's hot path. openai-go builds its
// body by reflection over ChatCompletionNewParams (with union and "omitzero" handling)
// and decodes the answer into ChatCompletion through its own reflective decoder: about
// 150 µs of CPU per call between them, more than everything else the gateway does for
// a request. So Complete still goes through the SDK's client — its transport, headers,
// authentication, base URL, origin checks and error type — but hands it the body
// encoded here (Client.Post with a []byte body) and takes the answer back as bytes, to
// decode into the few fields we use.
// TestOpenAIWireMatchesSDK keeps the body byte-for-byte equivalent, as JSON, to
// the one the SDK builds from the same request.

// appendChatBody appends the chat completions request body for req: the JSON object
// openai-go would send for params(req), with response_format, tools and Extra set at
// the top level (an Extra key replaces a field of the same name).
func (p *openAIProvider) appendChatBody(b []byte, req *Request) ([]byte, error) {
	b = append(b, '{')
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, name)
		b = append(b, ':')
	}
	set := func(name string) bool {
		_, overridden := req.Extra[name]
		return !overridden
	}
	field("model")
	b = appendJSONString(b, req.Model)
	field("messages")
	b = append(b, '[')
	for i, m := range req.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = p.appendMessage(b, m); err != nil {
			return nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("messages[%d]: %v", i, err))
		}
	}
	b = append(b, ']')
	if req.MaxTokens > 0 {
		name := "max_tokens"
		if p.kind == kindOpenAI {
			name = "max_completion_tokens" // see params
		}
		if set(name) {
			field(name)
			b = strconv.AppendInt(b, int64(req.MaxTokens), 10)
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"temperature", req.Temperature}, {"top_p", req.TopP}} {
		if f.v != nil && set(f.name) {
			raw, err := json.Marshal(*f.v)
			if err != nil {
				return nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, f.name+": "+err.Error())
			}
			field(f.name)
			b = append(b, raw...)
		}
	}
	if req.Seed != nil && set("seed") {
		field("seed")
		b = strconv.AppendInt(b, *req.Seed, 10)
	}
	if len(req.Stop) > 0 && set("stop") {
		field("stop")
		b = append(b, '[')
		for i, s := range req.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if hasJSON(req.ResponseFormat) && set("response_format") {
		if !json.Valid(req.ResponseFormat) {
			return nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "response_format is not valid JSON")
		}
		field("response_format")
		b = append(b, req.ResponseFormat...)
	}
	if hasJSON(req.Tools) && set("tools") {
		if !json.Valid(req.Tools) {
			return nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, "tools is not valid JSON")
		}
		field("tools")
		b = append(b, req.Tools...)
	}
	for _, k := range sortedKeys(req.Extra) {
		raw, err := json.Marshal(req.Extra[k])
		if err != nil {
			return nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, fmt.Sprintf("parameter %q: %v", k, err))
		}
		field(k)
		b = append(b, raw...)
	}
	return append(b, '}'), nil
}

// appendMessage is message (the SDK's message params) as JSON.
func (p *openAIProvider) appendMessage(b []byte, m Message) ([]byte, error) {
	role := m.Role
	switch role {
	case RoleDeveloper:
		if p.kind != kindOpenAI {
			role = RoleSystem
		}
	case RoleTool:
		if m.ToolCallID == "" {
			return nil, errors.New("a tool message needs tool_call_id")
		}
	case RoleAssistant:
		if hasJSON(m.ToolCalls) {
			if !json.Valid(m.ToolCalls) {
				return nil, errors.New("tool_calls is not valid JSON")
			}
			b = append(b, `{"role":"assistant","tool_calls":`...)
			b = append(b, m.ToolCalls...)
			b = append(b, `,"content":`...)
			if m.Content == "" {
				b = append(b, "null"...)
			} else {
				b = appendJSONString(b, m.Content)
			}
			return append(b, '}'), nil
		}
	}
	b = append(b, `{"role":`...)
	b = appendJSONString(b, role)
	b = append(b, `,"content":`...)
	b = appendJSONString(b, m.Content)
	if role == RoleTool {
		b = append(b, `,"tool_call_id":`...)
		b = appendJSONString(b, m.ToolCallID)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string, escaped as encoding/json does (HTML
// characters and U+2028/U+2029 too; invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// openAIChatResponse is the part of a chat completion the gateway reads.
type openAIChatResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int    `json:"index"`
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Content   *string         `json:"content"`
			ToolCalls json.RawMessage `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens        int64 `json:"prompt_tokens"`
		CompletionTokens    int64 `json:"completion_tokens"`
		TotalTokens         int64 `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

// decodeChatResponse turns a chat completion body into a Response.
func (p *openAIProvider) decodeChatResponse(body []byte) (*Response, error) {
	var res openAIChatResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream sent a malformed response: "+err.Error())
	}
	if len(res.Choices) == 0 {
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream response has no choices")
	}
	choice := res.Choices[0]
	out := &Response{ID: res.ID, Model: res.Model, FinishReason: openAIFinish(choice.FinishReason)}
	if choice.Message.Content != nil {
		out.Text = *choice.Message.Content
	}
	u := res.Usage
	out.Usage = Usage{PromptTokens: int(u.PromptTokens), CompletionTokens: int(u.CompletionTokens),
		CachedTokens: int(u.PromptTokensDetails.CachedTokens), TotalTokens: int(u.TotalTokens)}
	if out.Usage.TotalTokens == 0 {
		out.Usage.TotalTokens = out.Usage.PromptTokens + out.Usage.CompletionTokens
	}
	if tc := choice.Message.ToolCalls; hasJSON(tc) {
		out.ToolCalls = tc
	}
	return out, nil
}
