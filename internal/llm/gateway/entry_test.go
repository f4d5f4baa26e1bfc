package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm"
)

func sampleEntries() []*entry {
	u := llm.Usage{PromptTokens: 12, CompletionTokens: 34, CachedTokens: 5, TotalTokens: 46}
	return []*entry{
		{Provider: "openai", Model: "gpt-4o-mini", CostUSD: 0.000123, LatencyMS: 812,
			Response: llm.Response{ID: "chatcmpl-1", Model: "gpt-4o-mini-2024", Text: "héllo\n\"world\" 🦫", FinishReason: "stop", Usage: u}},
		{Provider: "anthropic", Model: "claude", Response: llm.Response{FinishReason: "tool_calls",
			ToolCalls: json.RawMessage(`[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]`)}},
		{Provider: "ollama", Model: "llama3", CostUSD: 0, LatencyMS: 0,
			Response: llm.Response{Text: "ab", FinishReason: "stop", Usage: u},
			Chunks:   []llm.Chunk{{Text: "a"}, {Text: "b"}, {ToolCalls: json.RawMessage(`[{"index":0}]`)}, {FinishReason: "stop", Usage: &u}}},
		{},
	}
}

// TestEntryRoundTrip: what appendTo writes, decodeEntry gives back, field for field.
func TestEntryRoundTrip(t *testing.T) {
	for i, e := range sampleEntries() {
		b := e.appendTo(nil)
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got, e)
		}
		// Every truncation is an error, never a panic or a short entry.
		for cut := range len(b) {
			if _, err := decodeEntry(b[:cut]); err == nil {
				t.Errorf("entry %d cut at %d of %d decoded", i, cut, len(b))
			}
		}
	}
}

// TestEntryReadsJSON: entries earlier versions wrote as JSON are still hits.
func TestEntryReadsJSON(t *testing.T) {
	for i, e := range sampleEntries() {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got, e)
		}
	}
	if _, err := decodeEntry([]byte(`{"provider":`)); err == nil {
		t.Error("broken JSON decoded")
	}
}

// FuzzDecodeEntry: arbitrary bytes (a corrupted or foreign Redis value) never panic,
// and anything that decodes re-encodes to an entry that decodes the same.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		f.Add(e.appendTo(nil))
	}
	f.Add([]byte{entryV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		e2, err := decodeEntry(e.appendTo(nil))
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("re-encoded entry differs: %v\n%+v\n%+v", err, e, e2)
		}
	})
}
