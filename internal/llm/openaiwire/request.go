package openaiwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// ChatRequest is a chat completion request (POST /chat/completions). Fields the format
// names but the gateway does not use are kept in Extra with the unknown ones: they are
// provider-specific parameters, passed upstream as they came.
type ChatRequest struct {
	Model               string
	Messages            []Message
	MaxTokens           *int
	MaxCompletionTokens *int
	Temperature         *float64
	TopP                *float64
	// Stop is sent as an array; a request may name one stop as a string.
	Stop           []string
	Seed           *int64
	Stream         bool
	StreamOptions  json.RawMessage
	ResponseFormat json.RawMessage
	Tools          json.RawMessage
	N              *int
	User           string
	// Extra holds the top-level fields not above, decoded as encoding/json decodes into
	// an any. Encoding writes them last, in key order, and an Extra key replaces a field
	// of the same name (model, messages and stream excepted).
	Extra map[string]any

	stopErr error // a stop that is neither a string nor strings, reported by Validate
}

// Message is one message of a request. Content arrives as a string, null, or an array
// of text parts, and is kept as the text.
type Message struct {
	Role       string
	Content    string
	ToolCalls  json.RawMessage // an assistant's tool_calls array
	ToolCallID string          // the call a tool message answers
	Name       string

	contentErr error // content that is not text, reported by Validate
}

// DecodeChatRequest decodes a request body in one pass (decodeChatRequestFast for the
// common request; after a validity scan, by gjson for any other). It fails on what is not a chat
// request at all (invalid UTF-8 or JSON, a field of the wrong JSON type); Validate
// reports the rest, so a recording fake can decode what a server would refuse. The
// request's strings share data's memory (parseShared): data must not change afterwards.
func DecodeChatRequest(data []byte) (*ChatRequest, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("the body is not valid UTF-8")
	}
	if in, ok := decodeChatRequestFast(data); ok {
		return in, nil
	}
	return decodeChatRequestGJSON(data)
}

// decodeChatRequestGJSON is DecodeChatRequest by gjson, after the UTF-8 check: every
// body decodeChatRequestFast leaves, and every error.
func decodeChatRequestGJSON(data []byte) (*ChatRequest, error) {
	// encoding/json's scanner checks validity (iteratively, with a depth limit, so a
	// deeply nested body cannot exhaust the stack of gjson's recursive parser below).
	if !json.Valid(data) {
		return nil, syntaxError(data)
	}
	root := parseShared(data) // in's strings share data's memory
	in := &ChatRequest{}
	switch {
	case root.Type == gjson.Null: // as encoding/json: nothing set
		return in, nil
	case !root.IsObject():
		return nil, fmt.Errorf("the body must be a JSON object, not %s", kind(root))
	}
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		err = in.set(k.Str, v)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// set decodes one top-level field; a repeated key's last value wins.
func (in *ChatRequest) set(key string, v gjson.Result) error {
	var err error
	switch key {
	case "model":
		in.Model, err = str(key, v)
	case "messages":
		in.Messages, err = messages(v)
	case "max_tokens":
		in.MaxTokens, err = intPtr(key, v)
	case "max_completion_tokens":
		in.MaxCompletionTokens, err = intPtr(key, v)
	case "temperature":
		in.Temperature, err = floatPtr(key, v)
	case "top_p":
		in.TopP, err = floatPtr(key, v)
	case "stop":
		in.Stop, in.stopErr = stop(v)
	case "seed":
		in.Seed, err = int64Ptr(key, v)
	case "stream":
		in.Stream, err = boolean(key, v)
	case "stream_options":
		in.StreamOptions = raw(v)
	case "response_format":
		in.ResponseFormat = raw(v)
	case "tools":
		in.Tools = raw(v)
	case "n":
		in.N, err = intPtr(key, v)
	case "user":
		in.User, err = str(key, v)
	default:
		var val any
		if err := json.Unmarshal([]byte(v.Raw), &val); err != nil {
			return fmt.Errorf("field %q: %v", key, err)
		}
		if in.Extra == nil {
			in.Extra = map[string]any{}
		}
		in.Extra[key] = val
	}
	return err
}

// Validate checks what the gateway accepts: at least one message, one choice, a
// non-negative bound, a temperature in [0, 2], a well-formed stop, text content and
// known roles. The error is the message to answer with.
func (in *ChatRequest) Validate() error {
	if len(in.Messages) == 0 {
		return errors.New("messages must hold at least one message")
	}
	if in.N != nil && *in.N != 1 {
		return errors.New("n must be 1: the gateway returns one choice")
	}
	if in.MaxTokensBound() < 0 {
		return errors.New("max_tokens must not be negative")
	}
	if t := in.Temperature; t != nil && (*t < 0 || *t > 2) {
		return errors.New("temperature must be between 0 and 2")
	}
	if in.stopErr != nil {
		return in.stopErr
	}
	for i, m := range in.Messages {
		if m.contentErr != nil {
			return fmt.Errorf("messages[%d]: %v", i, m.contentErr)
		}
		if err := CheckRole(i, m.Role); err != nil {
			return err
		}
	}
	return nil
}

// MaxTokensBound is the completion bound the request names (max_completion_tokens,
// else the older max_tokens), or 0 for none.
func (in *ChatRequest) MaxTokensBound() int {
	switch {
	case in.MaxCompletionTokens != nil:
		return *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		return *in.MaxTokens
	}
	return 0
}

func messages(v gjson.Result) ([]Message, error) {
	if v.Type == gjson.Null {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, typeError("messages", "an array", v)
	}
	out := make([]Message, 0, 4)
	var err error
	v.ForEach(func(_, mv gjson.Result) bool {
		var m Message
		m, err = message(len(out), mv)
		out = append(out, m)
		return err == nil
	})
	return out, err
}

func message(i int, v gjson.Result) (Message, error) {
	var m Message
	if v.Type == gjson.Null {
		return m, nil
	}
	if !v.IsObject() {
		return m, typeError(fmt.Sprintf("messages[%d]", i), "an object", v)
	}
	var bad string // the key of a field that is not a string
	var badValue gjson.Result
	v.ForEach(func(k, f gjson.Result) bool {
		var err error
		switch k.Str {
		case "role":
			m.Role, err = str("", f)
		case "content":
			m.Content, m.contentErr = content(f)
		case "tool_calls":
			m.ToolCalls = raw(f)
		case "tool_call_id":
			m.ToolCallID, err = str("", f)
		case "name":
			m.Name, err = str("", f)
		}
		if err != nil {
			bad, badValue = k.Str, f
		}
		return err == nil
	})
	if bad != "" {
		return m, typeError(fmt.Sprintf("messages[%d].%s", i, bad), "a string", badValue)
	}
	return m, nil
}

// content is a message's content as text: a string, null, or an array of text parts.
func content(v gjson.Result) (string, error) {
	switch {
	case v.Type == gjson.String:
		return v.Str, nil
	case v.Type == gjson.Null:
		return "", nil
	case !v.IsArray():
		return "", errors.New("content must be a string or an array of content parts")
	}
	var b strings.Builder
	var err error
	v.ForEach(func(_, p gjson.Result) bool {
		var typ, text string
		switch {
		case p.Type == gjson.Null:
		case !p.IsObject():
			err = errors.New("content must be a string or an array of content parts")
		default:
			p.ForEach(func(k, f gjson.Result) bool {
				switch k.Str {
				case "type":
					typ, err = str("", f)
				case "text":
					text, err = str("", f)
				}
				return err == nil
			})
			if err != nil {
				err = errors.New("content must be a string or an array of content parts")
			}
		}
		if err == nil && typ != "text" {
			err = fmt.Errorf("content part type %q is not supported; only text", typ)
		}
		b.WriteString(text)
		return err == nil
	})
	return b.String(), err
}

var errBadStop = errors.New("stop must be a string or an array of strings")

// stop is a stop field: a string, an array of strings, or null.
func stop(v gjson.Result) ([]string, error) {
	switch {
	case v.Type == gjson.Null:
		return nil, nil
	case v.Type == gjson.String:
		return []string{v.Str}, nil
	case !v.IsArray():
		return nil, errBadStop
	}
	out := []string{}
	ok := true
	v.ForEach(func(_, s gjson.Result) bool {
		if s.Type != gjson.String && s.Type != gjson.Null {
			ok = false
			return false
		}
		out = append(out, s.Str)
		return true
	})
	if !ok {
		return nil, errBadStop
	}
	return out, nil
}

func str(name string, v gjson.Result) (string, error) {
	if v.Type != gjson.String && v.Type != gjson.Null {
		return "", typeError(name, "a string", v)
	}
	return v.Str, nil
}

func boolean(name string, v gjson.Result) (bool, error) {
	if v.Type != gjson.True && v.Type != gjson.False && v.Type != gjson.Null {
		return false, typeError(name, "a boolean", v)
	}
	return v.Type == gjson.True, nil
}

func int64Ptr(name string, v gjson.Result) (*int64, error) {
	if v.Type == gjson.Null {
		return nil, nil
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if v.Type != gjson.Number || err != nil {
		return nil, typeError(name, "an integer", v)
	}
	return &n, nil
}

func intPtr(name string, v gjson.Result) (*int, error) {
	n, err := int64Ptr(name, v)
	if n == nil || err != nil {
		return nil, err
	}
	i := int(*n)
	if int64(i) != *n {
		return nil, typeError(name, "an integer", v)
	}
	return &i, nil
}

func floatPtr(name string, v gjson.Result) (*float64, error) {
	if v.Type == gjson.Null {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	if v.Type != gjson.Number || err != nil {
		return nil, typeError(name, "a number", v)
	}
	return &f, nil
}

// raw is a field passed on as it came (null included, as encoding/json's RawMessage).
func raw(v gjson.Result) json.RawMessage { return json.RawMessage(v.Raw) }

func typeError(name, want string, v gjson.Result) error {
	return fmt.Errorf("field %q must be %s, not %s", name, want, kind(v))
}

func kind(v gjson.Result) string {
	switch {
	case v.IsObject():
		return "an object"
	case v.IsArray():
		return "an array"
	case v.Type == gjson.String:
		return "a string"
	case v.Type == gjson.True, v.Type == gjson.False:
		return "a boolean"
	case v.Type == gjson.Null:
		return "null"
	}
	return "the number " + v.Raw
}

// syntaxError describes an invalid body as the server always has.
func syntaxError(data []byte) error {
	var v any
	var syn *json.SyntaxError
	if err := json.Unmarshal(data, &v); errors.As(err, &syn) {
		return fmt.Errorf("malformed JSON at byte %d", syn.Offset)
	}
	return errors.New("malformed JSON")
}

// AppendChatRequest appends r as a request body: the fields in a fixed order, then
// Extra's in key order (an Extra key replaces a field of the same name). The error says
// which part cannot be sent.
func AppendChatRequest(b []byte, r *ChatRequest) ([]byte, error) {
	e := requestEncoder{b: append(b, '{'), first: true, extra: r.Extra}
	e.field("model")
	e.b = AppendJSONString(e.b, r.Model)
	e.field("messages")
	e.b = append(e.b, '[')
	for i := range r.Messages {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		var err error
		if e.b, err = appendMessage(e.b, &r.Messages[i]); err != nil {
			return nil, fmt.Errorf("messages[%d]: %v", i, err)
		}
	}
	e.b = append(e.b, ']')
	e.int("max_tokens", r.MaxTokens)
	e.int("max_completion_tokens", r.MaxCompletionTokens)
	if err := e.float("temperature", r.Temperature); err != nil {
		return nil, err
	}
	if err := e.float("top_p", r.TopP); err != nil {
		return nil, err
	}
	if r.Seed != nil && e.set("seed") {
		e.b = strconv.AppendInt(e.b, *r.Seed, 10)
	}
	if len(r.Stop) > 0 && e.set("stop") {
		e.b = append(e.b, '[')
		for i, s := range r.Stop {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = AppendJSONString(e.b, s)
		}
		e.b = append(e.b, ']')
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"response_format", r.ResponseFormat}, {"tools", r.Tools}} {
		if HasValue(f.raw) && e.set(f.name) {
			if !json.Valid(f.raw) {
				return nil, errors.New(f.name + " is not valid JSON")
			}
			e.b = append(e.b, f.raw...)
		}
	}
	if r.Stream {
		e.field("stream")
		e.b = append(e.b, "true"...)
		if HasValue(r.StreamOptions) && e.set("stream_options") {
			e.b = append(e.b, r.StreamOptions...)
		}
	}
	return e.appendExtra()
}

// requestEncoder writes a request object's fields.
type requestEncoder struct {
	b     []byte
	first bool
	extra map[string]any
}

func (e *requestEncoder) field(name string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = AppendJSONString(e.b, name)
	e.b = append(e.b, ':')
}

// set starts field name unless Extra replaces it.
func (e *requestEncoder) set(name string) bool {
	if e.replaced(name) {
		return false
	}
	e.field(name)
	return true
}

func (e *requestEncoder) replaced(name string) bool {
	_, ok := e.extra[name]
	return ok
}

func (e *requestEncoder) int(name string, v *int) {
	if v != nil && *v > 0 && e.set(name) {
		e.b = strconv.AppendInt(e.b, int64(*v), 10)
	}
}

func (e *requestEncoder) float(name string, v *float64) error {
	if v == nil || e.replaced(name) {
		return nil
	}
	raw, err := json.Marshal(*v)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	e.field(name)
	e.b = append(e.b, raw...)
	return nil
}

func (e *requestEncoder) appendExtra() ([]byte, error) {
	keys := make([]string, 0, len(e.extra))
	for k := range e.extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw, err := json.Marshal(e.extra[k])
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %v", k, err)
		}
		e.field(k)
		e.b = append(e.b, raw...)
	}
	return append(e.b, '}'), nil
}

// appendMessage appends m as OpenAI's message params: an assistant's tool calls with
// null content when it has none, a tool message with the call it answers.
func appendMessage(b []byte, m *Message) ([]byte, error) {
	switch m.Role {
	case RoleTool:
		if m.ToolCallID == "" {
			return nil, errors.New("a tool message needs tool_call_id")
		}
	case RoleAssistant:
		if HasValue(m.ToolCalls) {
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
	b = AppendJSONString(b, m.Role)
	b = append(b, `,"content":`...)
	b = AppendJSONString(b, m.Content)
	if m.Role == RoleTool {
		b = append(b, `,"tool_call_id":`...)
		b = AppendJSONString(b, m.ToolCallID)
	}
	return append(b, '}'), nil
}
