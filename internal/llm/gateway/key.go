package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/vibecoder/vibecoder/internal/llm"
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
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("cache key: %w", err)
	}
	sum := sha256.Sum256(b)
	return "llm:" + hex.EncodeToString(sum[:]), nil
}
