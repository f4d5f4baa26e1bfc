package gateway

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"unsafe"

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

// entryV1 starts an entry in the binary encoding. Every cache hit decodes an entry,
// and JSON made that the costliest step of a hit (~20 µs for a 1 KB answer); this
// takes about a microsecond. Entries written as JSON by earlier versions start
// with '{' and are still read.
const entryV1 = 0x01

// appendTo appends e's binary encoding to b: a version byte, then the fields in order,
// strings and raw JSON as a uvarint length and bytes, integers as varints.
func (e *entry) appendTo(b []byte) []byte {
	n := 64 + len(e.Provider) + len(e.Model) + len(e.Response.ID) + len(e.Response.Model) + len(e.Response.Text) + len(e.Response.ToolCalls)
	for _, c := range e.Chunks {
		n += 48 + len(c.Text) + len(c.ToolCalls) + len(c.FinishReason)
	}
	b = slices.Grow(b, n)
	b = append(b, entryV1)
	b = appendString(b, e.Provider)
	b = appendString(b, e.Model)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.CostUSD))
	b = binary.AppendVarint(b, e.LatencyMS)
	r := &e.Response
	b = appendString(b, r.ID)
	b = appendString(b, r.Model)
	b = appendString(b, r.Text)
	b = appendString(b, r.FinishReason)
	b = appendString(b, string(r.ToolCalls))
	b = appendUsage(b, r.Usage)
	b = binary.AppendUvarint(b, uint64(len(e.Chunks)))
	for _, c := range e.Chunks {
		b = appendString(b, c.Text)
		b = appendString(b, string(c.ToolCalls))
		b = appendString(b, c.FinishReason)
		if c.Usage == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendUsage(b, *c.Usage)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendUsage(b []byte, u llm.Usage) []byte {
	for _, v := range []int{u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.TotalTokens} {
		b = binary.AppendVarint(b, int64(v))
	}
	return b
}

var errBadEntry = errors.New("malformed cache entry")

// entryReader reads the binary encoding; the first error sticks.
type entryReader struct {
	b   []byte
	err error
}

func (r *entryReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// string returns the next string, on the entry's bytes rather than a copy of them:
// the cache never changes a value it has handed out (cache.Cache.Get), so strings
// made on it stay as they are, and a hit no longer copies its whole answer.
func (r *entryReader) string() string {
	b := r.bytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// raw returns JSON kept verbatim, nil when empty. It is the entry's bytes, not a
// copy (see string), and capped, so an append to it copies.
func (r *entryReader) raw() json.RawMessage {
	v := r.bytes()
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return json.RawMessage(v)
}

func (r *entryReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *entryReader) usage() llm.Usage {
	return llm.Usage{PromptTokens: int(r.varint()), CompletionTokens: int(r.varint()), CachedTokens: int(r.varint()), TotalTokens: int(r.varint())}
}

func (r *entryReader) fail() {
	if r.err == nil {
		r.err = errBadEntry
	}
	r.b = nil
}

func decodeEntry(b []byte) (*entry, error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSONEntry(b)
	}
	if len(b) == 0 || b[0] != entryV1 {
		return nil, errBadEntry
	}
	r := &entryReader{b: b[1:]}
	e := &entry{Provider: r.string(), Model: r.string()}
	if len(r.b) < 8 {
		return nil, errBadEntry
	}
	e.CostUSD = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	e.LatencyMS = r.varint()
	e.Response = llm.Response{ID: r.string(), Model: r.string(), Text: r.string(), FinishReason: r.string(), ToolCalls: r.raw()}
	e.Response.Usage = r.usage()
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every chunk takes at least a byte
		return nil, errBadEntry
	}
	if n > 0 {
		e.Chunks = make([]llm.Chunk, n)
		for i := range e.Chunks {
			c := &e.Chunks[i]
			c.Text, c.ToolCalls, c.FinishReason = r.string(), r.raw(), r.string()
			if r.byte() == 1 {
				u := r.usage()
				c.Usage = &u
			}
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errBadEntry
	}
	return e, nil
}

// decodeJSONEntry reads an entry an earlier version wrote as JSON.
func decodeJSONEntry(b []byte) (*entry, error) {
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
