package openaiwire

import (
	"encoding/json"
	"errors"

	"github.com/tidwall/gjson"
)

// StreamChunk is what one event of a provider's chunk stream says, as a client of
// the stream reads it: the id, the model, the deltas of choice 0 and the usage.
type StreamChunk struct {
	ID, Model string
	Deltas    []StreamDelta // of the choices with index 0 (one, from every provider)
	Usage     *Usage        // nil when absent or null
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
// (a count: as zero). It fails only on data that is not a JSON object.
func DecodeStreamChunk(data []byte) (*StreamChunk, error) {
	if !gjson.ValidBytes(data) {
		return nil, errors.New("stream chunk is not valid JSON")
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, errors.New("stream chunk is not a JSON object")
	}
	c := &StreamChunk{}
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
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
	return c, nil
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
