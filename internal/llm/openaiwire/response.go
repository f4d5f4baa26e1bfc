package openaiwire

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// ChatCompletion is a whole answer (object "chat.completion").
type ChatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   Usage    `json:"usage"`
}

// Choice is one of an answer's choices.
type Choice struct {
	Index   int              `json:"index"`
	Message AssistantMessage `json:"message"`
	// Logprobs is absent unless set; OpenAI sends null.
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason string          `json:"finish_reason"`
}

// AssistantMessage is an answer's message. Content is null when the model only called
// tools (OpenAI's way; the gateway always sends a string).
type AssistantMessage struct {
	Role    string  `json:"role"`
	Content *string `json:"content"`
	// Refusal is absent unless set; OpenAI sends null.
	Refusal   json.RawMessage `json:"refusal,omitempty"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

// Usage is the token count of an answer.
type Usage struct {
	PromptTokens        int                 `json:"prompt_tokens"`
	CompletionTokens    int                 `json:"completion_tokens"`
	TotalTokens         int                 `json:"total_tokens"`
	PromptTokensDetails PromptTokensDetails `json:"prompt_tokens_details"`
}

// PromptTokensDetails breaks the prompt's tokens down.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// NewUsage is a usage object; a zero total is the sum of the other two.
func NewUsage(prompt, completion, cached, total int) Usage {
	if total == 0 {
		total = prompt + completion
	}
	return Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: total,
		PromptTokensDetails: PromptTokensDetails{CachedTokens: cached}}
}

// NewChatCompletion is the answer of one choice with text and tool calls; an empty
// finish reason is "stop". Tool calls are left out when they hold no value: absent ones
// come back from the gateway's cache as JSON null, which must not reach clients as
// "tool_calls": null.
func NewChatCompletion(id string, created int64, model, text string, toolCalls json.RawMessage, finish string, usage Usage) ChatCompletion {
	msg := AssistantMessage{Role: RoleAssistant, Content: &text}
	if HasValue(toolCalls) {
		msg.ToolCalls = toolCalls
	}
	if finish == "" {
		finish = FinishStop
	}
	return ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: finish}}, Usage: usage}
}

// AppendJSON appends c, and the newline json.Encoder ends with, byte for byte as
// encoding/json encodes it (TestAppendChatCompletion): the server encodes every
// non-streamed answer so. It reports false, and leaves the encoding to encoding/json,
// for anything but one choice of text: raw JSON (tool calls, which encoding/json
// compacts and escapes) or null content.
func (c *ChatCompletion) AppendJSON(b []byte) ([]byte, bool) {
	if len(c.Choices) != 1 {
		return b, false
	}
	ch := &c.Choices[0]
	m := &ch.Message
	if m.Content == nil || len(m.ToolCalls) > 0 || len(m.Refusal) > 0 || len(ch.Logprobs) > 0 {
		return b, false
	}
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, c.ID)
	b = append(b, `,"object":`...)
	b = AppendJSONString(b, c.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = AppendJSONString(b, c.Model)
	b = append(b, `,"choices":[{"index":`...)
	b = strconv.AppendInt(b, int64(ch.Index), 10)
	b = append(b, `,"message":{"role":`...)
	b = AppendJSONString(b, m.Role)
	b = append(b, `,"content":`...)
	b = AppendJSONString(b, *m.Content)
	b = append(b, `},"finish_reason":`...)
	b = AppendJSONString(b, ch.FinishReason)
	u := &c.Usage
	b = append(b, `}],"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CachedTokens), 10)
	return append(b, "}}}\n"...), true
}

// ChatCompletionChunk is one event of a streamed answer (object
// "chat.completion.chunk"). The last one before [DONE] may carry only usage, with no
// choices. Fields are in alphabetical order, the order of the maps earlier versions
// encoded, so streams are byte for byte what they were.
type ChatCompletionChunk struct {
	Choices []ChunkChoice `json:"choices"`
	Created int64         `json:"created"`
	ID      string        `json:"id"`
	Model   string        `json:"model"`
	Object  string        `json:"object"`
	Usage   *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is a chunk's piece of a choice; FinishReason is null until the last.
type ChunkChoice struct {
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
	Index        int     `json:"index"`
	// Logprobs is absent unless set; OpenAI sends null.
	Logprobs json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is what a chunk adds to the message.
type Delta struct {
	Content   *string         `json:"content,omitempty"`
	Role      string          `json:"role,omitempty"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"` // deltas, each with its index
}

// NewChunk is a chunk of the one choice; finish is nil until the last.
func NewChunk(id string, created int64, model string, delta Delta, finish *string) ChatCompletionChunk {
	return ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
		Choices: []ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}}}
}

// NewUsageChunk is the chunk that ends a stream with its usage.
func NewUsageChunk(id string, created int64, model string, usage Usage) ChatCompletionChunk {
	return ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
		Choices: []ChunkChoice{}, Usage: &usage}
}

// ToolCall is one function call of tool_calls. Index is set in stream deltas only.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and its arguments (JSON text).
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ErrorBody is OpenAI's error envelope, as a status >= 400 carries it or an event of a
// failing stream.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is what went wrong; Param and Code are null unless set.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ErrNoChoices is an answer without a choice.
var ErrNoChoices = errors.New("the answer has no choices")

// DecodeChatCompletion reads an answer's id, model, first choice and usage. The common
// answer is read in one pass by a scanner (decodeChatCompletionFast), any other by gjson
// after a validity scan; both are several times faster than encoding/json (which scans
// twice and decodes through reflection). Types are still checked, so a body that is JSON but not a chat completion is refused with the reason
// (ErrNoChoices when it has none). Text parts of an array content are joined (Mistral's
// reasoning models answer so), counts may be quoted (as openai-go tolerates), and the
// finish reason is normalised (Finish). The answer's strings share body's memory
// (parseShared): body must not change afterwards.
func DecodeChatCompletion(body []byte) (*ChatCompletion, error) {
	if c, ok := decodeChatCompletionFast(body); ok {
		return c, nil
	}
	return decodeChatCompletionGJSON(body)
}

// decodeChatCompletionGJSON is DecodeChatCompletion by gjson: every answer
// decodeChatCompletionFast leaves, and every error.
func decodeChatCompletionGJSON(body []byte) (*ChatCompletion, error) {
	root, err := parseObject(body, "")
	if err != nil {
		return nil, err
	}
	out := &ChatCompletion{}
	var choice, usage gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			out.ID, err = answerString(k.Str, v)
		case "model":
			out.Model, err = answerString(k.Str, v)
		case "choices":
			if !v.IsArray() {
				err = errors.New("choices is not an array")
			}
			v.ForEach(func(_, c gjson.Result) bool { choice = c; return false })
		case "usage":
			usage = v
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if !choice.Exists() {
		return nil, ErrNoChoices
	}
	ch, err := decodeChoice(choice)
	if err != nil {
		return nil, err
	}
	out.Choices = []Choice{ch}
	if out.Usage, err = decodeUsage(usage); err != nil {
		return nil, err
	}
	return out, nil
}

func answerString(name string, v gjson.Result) (string, error) {
	if v.Type != gjson.String && v.Type != gjson.Null {
		return "", errors.New(name + " is not a string")
	}
	return v.Str, nil
}

func decodeChoice(choice gjson.Result) (Choice, error) {
	var ch Choice
	if !choice.IsObject() {
		return ch, errors.New("choices[0] is not an object")
	}
	var msg gjson.Result
	var err error
	choice.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "finish_reason":
			ch.FinishReason, err = answerString(k.Str, v)
			ch.FinishReason = Finish(ch.FinishReason)
		case "message":
			msg = v
		}
		return err == nil
	})
	if err != nil || !msg.Exists() || msg.Type == gjson.Null {
		return ch, err
	}
	if !msg.IsObject() {
		return ch, errors.New("message is not an object")
	}
	m := &ch.Message
	msg.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content":
			var text string
			text, err = answerContent(v)
			m.Content = &text
		case "tool_calls":
			if v.IsArray() && len(v.Array()) > 0 {
				m.ToolCalls = json.RawMessage(v.Raw)
			} else if v.Type != gjson.Null && !v.IsArray() {
				err = errors.New("tool_calls is not an array")
			}
		}
		return err == nil
	})
	return ch, err
}

// answerContent is a message content's text: a string, null, or the text parts of an
// array (thinking and other parts are not the answer).
func answerContent(v gjson.Result) (string, error) {
	switch {
	case v.Type == gjson.String || v.Type == gjson.Null:
		return v.Str, nil
	case v.IsArray():
		var b strings.Builder
		v.ForEach(func(_, part gjson.Result) bool {
			if part.Get("type").Str == "text" {
				b.WriteString(part.Get("text").Str)
			}
			return true
		})
		return b.String(), nil
	}
	return "", errors.New("message content is not a string or an array of parts")
}

func decodeUsage(usage gjson.Result) (Usage, error) {
	var u Usage
	if !usage.Exists() || usage.Type == gjson.Null {
		return u, nil
	}
	if !usage.IsObject() {
		return u, errors.New("usage is not an object")
	}
	var err error
	num := func(v gjson.Result, name string) int {
		if v.Type == gjson.Number {
			return int(v.Int())
		}
		if v.Type == gjson.String { // some servers quote their counts, as openai-go tolerates
			if n, perr := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64); perr == nil && n >= 0 {
				return int(n)
			}
		}
		if v.Exists() && v.Type != gjson.Null && err == nil {
			err = errors.New(name + " is not a number")
		}
		return 0
	}
	u.PromptTokens = num(usage.Get("prompt_tokens"), "prompt_tokens")
	u.CompletionTokens = num(usage.Get("completion_tokens"), "completion_tokens")
	u.TotalTokens = num(usage.Get("total_tokens"), "total_tokens")
	u.PromptTokensDetails.CachedTokens = num(usage.Get("prompt_tokens_details.cached_tokens"), "cached_tokens")
	return u, err
}

// parseObject parses data, which must be one JSON object; subject ("stream chunk is ",
// or nothing) begins the error.
func parseObject(data []byte, subject string) (gjson.Result, error) {
	if !gjson.ValidBytes(data) {
		return gjson.Result{}, errors.New(subject + "not valid JSON")
	}
	root := parseShared(data)
	if !root.IsObject() {
		return gjson.Result{}, errors.New(subject + "not a JSON object")
	}
	return root, nil
}

// parseShared parses data in place: gjson.ParseBytes copies it into a string first,
// and the values read from it (every unescaped string) are slices of that copy. Here
// they are slices of data itself, so the Decode functions' results share data's
// memory and the caller must not change data afterwards (each caller's data is a
// buffer of its own: a request body, an answer body, a stream event). A 50-chunk
// stream copied ~16 KB so.
func parseShared(data []byte) gjson.Result {
	if len(data) == 0 {
		return gjson.Result{}
	}
	return gjson.Parse(unsafe.String(&data[0], len(data)))
}
