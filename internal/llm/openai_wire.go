package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// The non-streaming chat completion is the gateway's hot path. openai-go builds its
// body by reflection over ChatCompletionNewParams (with union and "omitzero" handling)
// and decodes the answer into ChatCompletion through its own reflective decoder: about
// 150 µs of CPU per call between them, more than everything else the gateway does for
// a request. So Complete still goes through the SDK's client — its transport, headers,
// authentication, base URL, origin checks and error type — but hands it the body
// encoded here (Client.Post with a []byte body) and takes the answer back as bytes, to
// decode into the few fields we use. Stream sends the same body (with the stream
// fields) through the SDK's NewStreaming, which decodes the events; one encoder
// serves both.
// TestOpenAIWireMatchesSDK keeps the body equivalent, as JSON, to the one the SDK
// builds from the same request through its own parameter types.

// chatBody checks req and returns its chat completions request body (appendChatBody),
// streamed or not.
func (p *openAIProvider) chatBody(req *Request, stream bool) ([]byte, error) {
	if err := checkRequest(p.name, req, true); err != nil {
		return nil, err
	}
	if _, err := parseResponseFormat(p.name, req.ResponseFormat); err != nil {
		return nil, err
	}
	return p.appendChatBody(make([]byte, 0, 512+requestTextLen(req)), req, stream)
}

// appendChatBody appends the chat completions request body for req: the JSON object
// openai-go builds from ChatCompletionNewParams, with response_format, tools and Extra
// set at the top level (an Extra key replaces a field of the same name). A stream asks
// for usage in its last chunk (stream_options.include_usage), without which OpenAI
// sends none.
func (p *openAIProvider) appendChatBody(b []byte, req *Request, stream bool) ([]byte, error) {
	b = append(b, '{')
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = AppendJSONString(b, name)
		b = append(b, ':')
	}
	set := func(name string) bool {
		_, overridden := req.Extra[name]
		return !overridden
	}
	field("model")
	b = AppendJSONString(b, req.Model)
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
			b = AppendJSONString(b, s)
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
	if stream {
		field("stream")
		b = append(b, "true"...)
		if set("stream_options") {
			field("stream_options")
			b = append(b, `{"include_usage":true}`...)
		}
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
				b = AppendJSONString(b, m.Content)
			}
			return append(b, '}'), nil
		}
	}
	b = append(b, `{"role":`...)
	b = AppendJSONString(b, role)
	b = append(b, `,"content":`...)
	b = AppendJSONString(b, m.Content)
	if role == RoleTool {
		b = append(b, `,"tool_call_id":`...)
		b = AppendJSONString(b, m.ToolCallID)
	}
	return append(b, '}'), nil
}

// jsonSafe[c] reports whether the ASCII byte c stands for itself in a JSON string
// as encoding/json writes it (HTML-escaped): not a control character, quote,
// backslash, '<', '>' or '&'. A table, as encoding/json's own, is what keeps the
// common case to one load and one branch per byte.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendJSONString appends s as a JSON string, byte for byte as encoding/json writes
// it (HTML characters and U+2028/U+2029 escaped too; invalid UTF-8 becomes U+FFFD).
// The gateway's hot paths encode with it instead of reflection.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
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

// decodeChatResponse turns a chat completion body into a Response. gjson reads the
// few fields used in one pass after a validity scan, several times faster than
// encoding/json (which scans twice and decodes through reflection); types are still
// checked, so a body that is JSON but not a chat completion is refused.
func (p *openAIProvider) decodeChatResponse(body []byte) (*Response, error) {
	malformed := func(why string) (*Response, error) {
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream sent a malformed response: "+why)
	}
	if !gjson.ValidBytes(body) {
		return malformed("not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return malformed("not a JSON object")
	}
	out := &Response{}
	var choice, usage gjson.Result
	bad := ""
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id", "model":
			if v.Type != gjson.String && v.Type != gjson.Null {
				bad = k.Str + " is not a string"
				return false
			}
			if k.Str == "id" {
				out.ID = v.Str
			} else {
				out.Model = v.Str
			}
		case "choices":
			if !v.IsArray() {
				bad = "choices is not an array"
				return false
			}
			v.ForEach(func(_, c gjson.Result) bool { choice = c; return false })
		case "usage":
			usage = v
		}
		return true
	})
	if bad != "" {
		return malformed(bad)
	}
	if !choice.Exists() {
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream response has no choices")
	}
	if !choice.IsObject() {
		return malformed("choices[0] is not an object")
	}
	var msg gjson.Result
	choice.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "finish_reason":
			if v.Type != gjson.String && v.Type != gjson.Null {
				bad = "finish_reason is not a string"
				return false
			}
			out.FinishReason = openAIFinish(v.Str)
		case "message":
			msg = v
		}
		return true
	})
	if bad != "" {
		return malformed(bad)
	}
	if msg.Exists() && msg.Type != gjson.Null {
		if !msg.IsObject() {
			return malformed("message is not an object")
		}
		msg.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "content":
				switch {
				case v.Type == gjson.String || v.Type == gjson.Null:
					out.Text = v.Str
				case v.IsArray():
					// Content parts (Mistral's reasoning models answer so): the text
					// parts, in order; thinking and other parts are not the answer.
					var b strings.Builder
					v.ForEach(func(_, part gjson.Result) bool {
						if part.Get("type").Str == "text" {
							b.WriteString(part.Get("text").Str)
						}
						return true
					})
					out.Text = b.String()
				default:
					bad = "message content is not a string or an array of parts"
					return false
				}
			case "tool_calls":
				if v.IsArray() && len(v.Array()) > 0 {
					out.ToolCalls = json.RawMessage(v.Raw)
				} else if v.Type != gjson.Null && !v.IsArray() {
					bad = "tool_calls is not an array"
					return false
				}
			}
			return true
		})
		if bad != "" {
			return malformed(bad)
		}
	}
	if usage.Exists() && usage.Type != gjson.Null {
		if !usage.IsObject() {
			return malformed("usage is not an object")
		}
		num := func(v gjson.Result, name string) int {
			if v.Type == gjson.Number {
				return int(v.Int())
			}
			if v.Type == gjson.String { // some servers quote their counts, as openai-go tolerates
				if n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64); err == nil && n >= 0 {
					return int(n)
				}
			}
			if v.Exists() && v.Type != gjson.Null && bad == "" {
				bad = name + " is not a number"
			}
			return 0
		}
		u := &out.Usage
		u.PromptTokens = num(usage.Get("prompt_tokens"), "prompt_tokens")
		u.CompletionTokens = num(usage.Get("completion_tokens"), "completion_tokens")
		u.TotalTokens = num(usage.Get("total_tokens"), "total_tokens")
		u.CachedTokens = num(usage.Get("prompt_tokens_details.cached_tokens"), "cached_tokens")
		if bad != "" {
			return malformed(bad)
		}
	}
	if out.Usage.TotalTokens == 0 {
		out.Usage.TotalTokens = out.Usage.PromptTokens + out.Usage.CompletionTokens
	}
	return out, nil
}
