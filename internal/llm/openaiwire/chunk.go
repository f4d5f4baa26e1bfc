package openaiwire

import (
	"encoding/json"
	"strconv"

	"github.com/tidwall/gjson"
)

// StreamChunk is what one event of a provider's chunk stream says, as a client of
// the stream reads it: the id, the model, the deltas of choice 0 and the usage.
type StreamChunk struct {
	ID, Model string
	Deltas    []StreamDelta // of the choices with index 0 (one, from every provider)
	Usage     *Usage        // nil when absent or null
	// Error is the text of an "error" member (a provider's error event mid-stream),
	// and HasError whether there was one.
	Error    string
	HasError bool
}

// StreamDelta is what a chunk adds to choice 0.
type StreamDelta struct {
	Content      string
	ToolCalls    json.RawMessage // the tool_calls array as sent; nil when absent or empty
	FinishReason string          // as sent: not normalised (see Finish)
}

// DecodeStreamChunk reads one chunk event's data. Like openai-go's chunk decoding,
// which it replaces on the gateway's path (several times faster: one gjson pass, no
// reflection), it is lenient: a field of another type than expected reads as absent
// (a count: as zero). It fails only on data that is not a JSON object. The chunk's
// strings share data's memory (parseShared): data must not change afterwards.
func DecodeStreamChunk(data []byte) (*StreamChunk, error) {
	c := &StreamChunk{}
	if err := c.Decode(data); err != nil {
		return nil, err
	}
	return c, nil
}

// Decode is DecodeStreamChunk into c, which it resets first; c's list of deltas is
// reused, so a stream can read every chunk into one value (a chunk and its deltas
// were two allocations per event). On an error c is left reset.
func (c *StreamChunk) Decode(data []byte) error {
	*c = StreamChunk{Deltas: c.Deltas[:0]}
	if c.decodeFast(data) {
		return nil
	}
	*c = StreamChunk{Deltas: c.Deltas[:0]}
	return c.decodeGJSON(data)
}

// decodeGJSON is Decode by gjson: every chunk decodeFast leaves.
func (c *StreamChunk) decodeGJSON(data []byte) error {
	root, err := parseObject(data, "stream chunk is ")
	if err != nil {
		return err
	}
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "error":
			c.Error, c.HasError = v.String(), true
		case "id":
			c.ID = lenientString(v)
		case "model":
			c.Model = lenientString(v)
		case "usage":
			c.Usage = nil
			if v.IsObject() {
				u, _ := decodeUsage(v) // what is not a number counts as zero
				c.Usage = &u
			}
		case "choices":
			c.Deltas = c.Deltas[:0]
			v.ForEach(func(_, choice gjson.Result) bool {
				if choice.IsObject() && choice.Get("index").Int() == 0 {
					c.Deltas = append(c.Deltas, streamDelta(choice))
				}
				return true
			})
		}
		return true
	})
	return nil
}

func streamDelta(choice gjson.Result) StreamDelta {
	var d StreamDelta
	d.FinishReason = lenientString(choice.Get("finish_reason"))
	delta := choice.Get("delta")
	if !delta.IsObject() {
		return d
	}
	d.Content = lenientString(delta.Get("content"))
	if tc := delta.Get("tool_calls"); tc.IsArray() {
		tc.ForEach(func(_, _ gjson.Result) bool {
			d.ToolCalls = json.RawMessage(tc.Raw) // not empty
			return false
		})
	}
	return d
}

func lenientString(v gjson.Result) string {
	if v.Type == gjson.String {
		return v.Str
	}
	return ""
}

// AppendJSON appends c byte for byte as encoding/json encodes it
// (TestAppendChunk): a /v1 stream encodes its text chunks so, one per upstream
// chunk. It reports false, and leaves the encoding to encoding/json, for anything but
// a chunk of one choice without tool calls or logprobs, or the usage chunk.
func (c *ChatCompletionChunk) AppendJSON(b []byte) ([]byte, bool) {
	switch {
	case len(c.Choices) == 0 && c.Choices != nil && c.Usage != nil:
		b = append(b, `{"choices":[]`...)
	case len(c.Choices) == 1 && c.Usage == nil:
		ch := &c.Choices[0]
		if len(ch.Delta.ToolCalls) > 0 || len(ch.Logprobs) > 0 {
			return b, false
		}
		b = append(b, `{"choices":[{"delta":{`...)
		comma := false
		if ch.Delta.Content != nil {
			b = append(b, `"content":`...)
			b = AppendJSONString(b, *ch.Delta.Content)
			comma = true
		}
		if ch.Delta.Role != "" {
			if comma {
				b = append(b, ',')
			}
			b = append(b, `"role":`...)
			b = AppendJSONString(b, ch.Delta.Role)
		}
		b = append(b, `},"finish_reason":`...)
		if ch.FinishReason == nil {
			b = append(b, "null"...)
		} else {
			b = AppendJSONString(b, *ch.FinishReason)
		}
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(ch.Index), 10)
		b = append(b, "}]"...)
	default:
		return b, false
	}
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"id":`...)
	b = AppendJSONString(b, c.ID)
	b = append(b, `,"model":`...)
	b = AppendJSONString(b, c.Model)
	b = append(b, `,"object":`...)
	b = AppendJSONString(b, c.Object)
	if u := c.Usage; u != nil {
		b = append(b, `,"usage":{"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
		b = append(b, `,"completion_tokens":`...)
		b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(u.PromptTokensDetails.CachedTokens), 10)
		b = append(b, "}}"...)
	}
	return append(b, '}'), true
}

// TextChunks encodes a stream's text chunks — NewChunk(id, created, model,
// Delta{Content: &text}, nil) — byte for byte as AppendJSON does
// (TestTextChunksMatchAppendJSON), with what every chunk of the stream repeats after
// its choices (created, id, model, object) encoded once: escaping the id, model and
// object again for every chunk was most of a 50-chunk stream's encoding.
type TextChunks struct {
	tail []byte
}

// NewTextChunks returns the encoder of a stream's text chunks.
func NewTextChunks(id string, created int64, model string) TextChunks {
	b := append(make([]byte, 0, 64+len(id)+len(model)), `,"created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"id":`...)
	b = AppendJSONString(b, id)
	b = append(b, `,"model":`...)
	b = AppendJSONString(b, model)
	b = append(b, `,"object":"chat.completion.chunk"}`...)
	return TextChunks{tail: b}
}

// Append appends the chunk carrying text. The zero TextChunks encodes the chunks of
// a stream with a zero id, created and model, as NewTextChunks("", 0, "") does.
func (t *TextChunks) Append(b []byte, text string) []byte {
	if t.tail == nil {
		*t = NewTextChunks("", 0, "")
	}
	b = append(b, `{"choices":[{"delta":{"content":`...)
	b = AppendJSONString(b, text)
	b = append(b, `},"finish_reason":null,"index":0}]`...)
	return append(b, t.tail...)
}
