package gateway

import (
	"encoding/json"

	"github.com/vibecoder/vibecoder/internal/llm"
)

// entry is what the cache keeps for one successful, complete response. A streamed
// response keeps its chunks so a replay is the same stream, chunk by chunk.
type entry struct {
	Provider  string       `json:"provider"`
	Model     string       `json:"model"`
	Response  llm.Response `json:"response"`
	Chunks    []llm.Chunk  `json:"chunks,omitempty"`
	CostUSD   float64      `json:"cost_usd"`
	LatencyMS int64        `json:"latency_ms"`
}

func (e *entry) encode() ([]byte, error) { return json.Marshal(e) }

func decodeEntry(b []byte) (*entry, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	// An absent tool-call list was stored as JSON null; give it back as absent.
	e.Response.ToolCalls = dropNull(e.Response.ToolCalls)
	for i := range e.Chunks {
		e.Chunks[i].ToolCalls = dropNull(e.Chunks[i].ToolCalls)
	}
	return &e, nil
}

// chunks returns the entry as a stream: its own chunks when it was streamed, else one
// text chunk and a final chunk with the finish reason and usage.
func (e *entry) stream() []llm.Chunk {
	if len(e.Chunks) > 0 {
		return e.Chunks
	}
	u := e.Response.Usage
	out := []llm.Chunk{}
	if e.Response.Text != "" || len(e.Response.ToolCalls) > 0 {
		out = append(out, llm.Chunk{Text: e.Response.Text, ToolCalls: e.Response.ToolCalls})
	}
	return append(out, llm.Chunk{FinishReason: e.Response.FinishReason, Usage: &u})
}

func dropNull(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}
