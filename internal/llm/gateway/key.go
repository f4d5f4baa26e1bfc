package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
)

// canonical is the cache identity of a request: everything that can change the answer.
// JSON objects inside (response_format, tools, tool calls, extra parameters) are
// re-encoded with sorted keys, so key order in the client's JSON does not matter.
type canonical struct {
	V              int           `json:"v"`
	Scope          string        `json:"scope"`
	Provider       string        `json:"provider"`
	Model          string        `json:"model"`
	Messages       []llm.Message `json:"messages"`
	MaxTokens      int           `json:"max_tokens"`
	Temperature    *float64      `json:"temperature"`
	TopP           *float64      `json:"top_p"`
	Stop           []string      `json:"stop"`
	Seed           *int64        `json:"seed"`
	ResponseFormat any           `json:"response_format"`
	Tools          any           `json:"tools"`
	Extra          any           `json:"extra"`
}

// normalizeJSON decodes raw JSON into generic values; encoding/json then writes map
// keys sorted, which makes the encoding canonical.
func normalizeJSON(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// cacheKey returns the key for a resolved request in a scope ("u:<user id>" or "global").
func cacheKey(scope, provider string, req *llm.Request) (string, error) {
	size := 256 + len(scope) + len(req.Model)
	for _, m := range req.Messages {
		size += len(m.Role) + len(m.Content) + len(m.ToolCallID) + 48
	}
	buf := scratch.Get().(*[]byte)
	b, ok := appendCanonical(slices.Grow((*buf)[:0], size), scope, provider, req)
	key := ""
	if ok {
		key = keyOf(b)
	}
	putScratch(buf, b)
	if ok {
		return key, nil
	}
	c := canonical{V: 1, Scope: scope, Provider: provider, Model: req.Model, MaxTokens: req.MaxTokens,
		Temperature: req.Temperature, TopP: req.TopP, Stop: req.Stop, Seed: req.Seed}
	c.Messages = make([]llm.Message, len(req.Messages))
	for i, m := range req.Messages {
		if len(m.ToolCalls) > 0 {
			v, err := normalizeJSON(m.ToolCalls)
			if err != nil {
				return "", fmt.Errorf("tool_calls of message %d: %w", i, err)
			}
			b, _ := json.Marshal(v)
			m.ToolCalls = b
		}
		c.Messages[i] = m
	}
	var err error
	if c.ResponseFormat, err = normalizeJSON(req.ResponseFormat); err != nil {
		return "", fmt.Errorf("response_format: %w", err)
	}
	if c.Tools, err = normalizeJSON(req.Tools); err != nil {
		return "", fmt.Errorf("tools: %w", err)
	}
	if len(req.Extra) > 0 {
		c.Extra = req.Extra
	}
	enc, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("cache key: %w", err)
	}
	return keyOf(enc), nil
}

// keyOf is the cache key of a canonical encoding: "llm:" and its SHA-256 in hex.
func keyOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	var k [4 + 2*sha256.Size]byte
	copy(k[:], "llm:")
	hex.Encode(k[4:], sum[:])
	return string(k[:])
}

// appendCanonical appends the canonical encoding of a request whose messages carry no
// tool calls and that has no response format, tools or extra parameters (nothing to
// normalise), byte for byte what json.Marshal makes of its canonical
// (TestAppendCanonical): the same keys, without reflection. It reports false for any
// other request, and for a number JSON cannot hold.
func appendCanonical(b []byte, scope, provider string, req *llm.Request) ([]byte, bool) {
	if len(req.ResponseFormat) > 0 || len(req.Tools) > 0 || len(req.Extra) > 0 {
		return b, false
	}
	b = append(b, `{"v":1,"scope":`...)
	b = openaiwire.AppendJSONString(b, scope)
	b = append(b, `,"provider":`...)
	b = openaiwire.AppendJSONString(b, provider)
	b = append(b, `,"model":`...)
	b = openaiwire.AppendJSONString(b, req.Model)
	b = append(b, `,"messages":[`...)
	for i, m := range req.Messages {
		if len(m.ToolCalls) > 0 {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = openaiwire.AppendJSONString(b, m.Role)
		b = append(b, `,"content":`...)
		b = openaiwire.AppendJSONString(b, m.Content)
		if m.ToolCallID != "" {
			b = append(b, `,"tool_call_id":`...)
			b = openaiwire.AppendJSONString(b, m.ToolCallID)
		}
		b = append(b, '}')
	}
	b = append(b, `],"max_tokens":`...)
	b = strconv.AppendInt(b, int64(req.MaxTokens), 10)
	var ok bool
	b = append(b, `,"temperature":`...)
	if b, ok = appendFloatPtr(b, req.Temperature); !ok {
		return b, false
	}
	b = append(b, `,"top_p":`...)
	if b, ok = appendFloatPtr(b, req.TopP); !ok {
		return b, false
	}
	b = append(b, `,"stop":`...)
	if req.Stop == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range req.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = openaiwire.AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	b = append(b, `,"seed":`...)
	if req.Seed == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *req.Seed, 10)
	}
	return append(b, `,"response_format":null,"tools":null,"extra":null}`...), true
}

// appendFloatPtr appends a *float64 as encoding/json does (null for nil); false for
// NaN and infinities, which it refuses.
func appendFloatPtr(b []byte, f *float64) ([]byte, bool) {
	if f == nil {
		return append(b, "null"...), true
	}
	v := *f
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
