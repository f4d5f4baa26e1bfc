package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/openai/openai-go/v3/packages/ssestream"
)

// TestSSEReaderMatchesSDK: sseReader splits a stream into the same event data as
// openai-go's decoder, which it replaces on the chat path, whatever the line ends,
// comments, fields, multi-line data, long lines and an unfinished last event — and
// whatever sizes the stream arrives in.
func TestSSEReaderMatchesSDK(t *testing.T) {
	long := strings.Repeat("x", 3*sseReadBuffer+17)
	streams := map[string]string{
		"chunks":          "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n",
		"crlf":            "data: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n",
		"comments":        ": ping\n\n: another\ndata: x\n\n",
		"fields":          "event: error\nid: 7\nretry: 10\ndata: {\"error\":{}}\n\n",
		"multi-line data": "data: one\ndata:two\ndata:  three\n\n",
		"empty data":      "data:\n\ndata\n\n",
		"no space":        "data:{\"b\":true}\n\n",
		"blank lines":     "\n\n\ndata: a\n\n\n\ndata: b\n\n",
		"unfinished":      "data: a\n\ndata: b\n",
		"unfinished line": "data: a\n\ndata: b",
		"long line":       "data: " + long + "\n\ndata: after\n\n",
		"many":            strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n", 500),
		"many crlf":       strings.Repeat("data: {\"a\":1}\r\n\r\n", 500),
		"split ends":      strings.Repeat("data: x\n\ndata: y\r\n\ndata: z\n\r\n", 300),
		"empty":           "",
		"no colon":        "data\nfoo\n\n",
		"other names":     "datum: x\ndata2: y\n\n",
	}
	for name, stream := range streams {
		want := sdkEvents(t, stream)
		for _, r := range []struct {
			name string
			r    io.Reader
		}{{"whole", strings.NewReader(stream)}, {"byte by byte", iotest.OneByteReader(strings.NewReader(stream))}} {
			t.Run(name+"/"+r.name, func(t *testing.T) {
				sr := newSSEReader(r.r)
				var got []string
				for {
					data, err := sr.next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					sr.more() // must not disturb the data handed out
					got = append(got, string(data))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("events %q, want %q", got, want)
				}
			})
		}
	}
}

func sdkEvents(t *testing.T, stream string) []string {
	t.Helper()
	resp := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(strings.NewReader(stream))}
	dec := ssestream.NewDecoder(resp)
	var out []string
	for dec.Next() {
		out = append(out, string(dec.Event().Data))
	}
	if err := dec.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSSEReaderMore: more is true only when a whole event with data has arrived.
func TestSSEReaderMore(t *testing.T) {
	cases := []struct {
		rest string // what is buffered after the first event
		want bool
	}{
		{"", false},
		{"data: b", false},
		{"data: b\n", false},
		{"data: b\n\n", true},
		{"data: b\r\n\r\n", true},
		{": ping\n\n", false},
		{"event: x\n\n", false},
		{"event: x\ndata: b\n\n", true},
		{"\ndata: b\n\n", true},
	}
	for _, c := range cases {
		sr := newSSEReader(strings.NewReader("data: a\n\n" + c.rest))
		if _, err := sr.next(); err != nil {
			t.Fatal(err)
		}
		if got := sr.more(); got != c.want {
			t.Errorf("after %q: more %v, want %v", c.rest, got, c.want)
		}
	}
}

// TestStreamHoldsOnlyWhatArrivedTogether: text whose events arrived together is
// handed over as one chunk, and chunks that arrived together are marked More but the
// last of them — so a writer flushing after each chunk without More sends it before
// the stream waits for the upstream. Here the upstream sends its next events only
// once the client has been told to flush: a chunk wrongly marked More (or held for
// joining) would never be flushed, and the stream would never end.
func TestStreamHoldsOnlyWhatArrivedTogether(t *testing.T) {
	release := make(chan struct{})
	event := func(content string) string {
		return `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"` + content + `"}}]}` + "\n\n"
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`+"\n\n"+
			event("a")+": ping\n\n"+event("b")+event("c"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, event("d")+`data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n"+
			`data: {"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	p, err := NewOpenAICompatible(ProviderConfig{Name: "local", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // fail rather than hang
	defer cancel()
	var got bytes.Buffer
	res, err := p.Stream(ctx, chatRequest(), func(c Chunk) error {
		fmt.Fprintf(&got, "%s%s", c.Text, c.FinishReason)
		if c.More {
			got.WriteString("+")
		} else {
			got.WriteString("|")
			if strings.HasSuffix(c.Text, "c") {
				close(release)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// a and b came together with c, so as one chunk; d came with the end.
	if want := "abc|d+stop|"; got.String() != want {
		t.Fatalf("chunks %q, want %q", got.String(), want)
	}
	if res.Text != "abcd" || res.Usage.TotalTokens != 7 {
		t.Fatalf("response %+v", res)
	}
}

// TestStreamChunksOutliveTheReadBuffer: the chunks a stream hands on, and the answer
// it assembles, stay as they were while the read buffer their events were read from
// is refilled many times over (a stream longer than the buffer, its chunks kept
// until the end, as the gateway keeps them for the cache).
func TestStreamChunksOutliveTheReadBuffer(t *testing.T) {
	const n = 400 // ~43 KB of events, five times the read buffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			fmt.Fprintf(w, `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"part %03d "},"finish_reason":null}]}`+"\n\n", i)
			if i%7 == 0 {
				w.(http.Flusher).Flush()
			}
		}
		io.WriteString(w, `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	p, err := NewOpenAICompatible(ProviderConfig{Name: "local", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	var texts []string // each chunk's text as handed over, copied
	res, err := p.Stream(t.Context(), chatRequest(), func(c Chunk) error {
		chunks, texts = append(chunks, c), append(texts, strings.Clone(c.Text))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want, joined strings.Builder
	for i := range n {
		fmt.Fprintf(&want, "part %03d ", i)
	}
	for i, c := range chunks {
		if c.Text != texts[i] {
			t.Fatalf("chunk %d is %q by the end of the stream, was %q", i, c.Text, texts[i])
		}
		joined.WriteString(c.Text)
	}
	if joined.String() != want.String() {
		t.Fatalf("the chunks' text is %q", joined.String())
	}
	// Text is joined only while its events are in the read buffer (sseReadBuffer)
	// together: no chunk holds more than the text of the events one buffer holds.
	event := len(`data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"part 000 "},"finish_reason":null}]}` + "\n\n")
	for i, c := range chunks {
		if len(c.Text) > (sseReadBuffer/event+1)*len("part 000 ") {
			t.Fatalf("chunk %d holds %d bytes of text: joined across reads", i, len(c.Text))
		}
	}
	if res.Text != want.String() || res.ID != "c1" || res.Model != "m" || res.FinishReason != FinishStop {
		t.Fatalf("response %q %q %q %q", res.ID, res.Model, res.FinishReason, res.Text[:40])
	}
}

// TestChunkFieldsKnownToFollows: follows (which decides which chunks may be joined)
// names every field of Chunk but More; a field added to Chunk must be added there
// too, or a chunk carrying it could be joined and the field's value lost.
func TestChunkFieldsKnownToFollows(t *testing.T) {
	var names []string
	for f := range reflect.TypeFor[Chunk]().Fields() {
		names = append(names, f.Name)
	}
	if want := []string{"Text", "ToolCalls", "FinishReason", "Usage", "More"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Chunk's fields are %q, follows knows %q: update follows", names, want)
	}
}

// TestChunkHolderJoinsText: a text chunk made while another is held joins it when its
// text follows the held text in memory, up to maxJoinedText; anything else — tool
// calls, a finish reason, usage, text elsewhere in memory — is handed over on its own,
// and what is held is handed over (More false) when the provider would wait.
func TestChunkHolderJoinsText(t *testing.T) {
	buf := make([]byte, 0, 4*maxJoinedText)
	piece := func(s string) string { // s appended to buf, as streamChunk appends the stream's text
		n := len(buf)
		buf = append(buf, s...)
		return unsafe.String(&buf[n], len(s))
	}
	var got []Chunk
	h := chunkHolder{fn: func(c Chunk) error { got = append(got, c); return nil }}
	add := func(c Chunk) {
		t.Helper()
		if err := h.add(c); err != nil {
			t.Fatal(err)
		}
	}
	add(Chunk{Text: piece("Hel")})
	add(Chunk{Text: piece("lo ")})
	add(Chunk{Text: piece("world")})
	add(Chunk{ToolCalls: json.RawMessage(`[{"index":0}]`)})
	add(Chunk{Text: piece("a")})
	add(Chunk{Text: strings.Clone("b")}) // not after "a" in memory
	add(Chunk{Text: piece("c")})         // after "a", but "b" came between
	big := strings.Repeat("x", maxJoinedText-1)
	add(Chunk{Text: piece(big)})
	add(Chunk{Text: piece("yy")}) // c + big + yy is over the bound
	if err := h.release(false); err != nil {
		t.Fatal(err)
	}
	add(Chunk{Text: piece("z")}) // after the release: a chunk of its own
	add(Chunk{FinishReason: FinishStop, Usage: &Usage{TotalTokens: 1}})
	if err := h.release(true); err != nil {
		t.Fatal(err)
	}
	type summary struct {
		text  string
		tools bool
		more  bool
	}
	var sums []summary
	for _, c := range got {
		sums = append(sums, summary{c.Text, c.ToolCalls != nil, c.More})
	}
	want := []summary{{"Hello world", false, true}, {"", true, true}, {"a", false, true}, {"b", false, true},
		{"c" + big, false, true}, {"yy", false, false}, {"z", false, true}, {"", false, true}}
	if !reflect.DeepEqual(sums, want) {
		t.Fatalf("handed over %+v\nwant %+v", sums, want)
	}
	if last := got[len(got)-1]; last.FinishReason != FinishStop || last.Usage == nil {
		t.Fatalf("the final chunk %+v", last)
	}
}
