package llm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

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

// TestStreamHoldsOnlyWhatArrivedTogether: chunks whose events arrived together are
// marked More, and the last of them is not — so a writer flushing after each chunk
// without More sends it before the stream waits for the upstream. Here the upstream
// sends its next events only once the client has been told to flush: a chunk wrongly
// marked More would never be flushed, and the stream would never end.
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
			if c.Text == "c" {
				close(release)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// a and b came together with c; d came with the end.
	if want := "a+b+c|d+stop|"; got.String() != want {
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
	const n = 400 // ~80 KB of events, ten times the read buffer
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
	res, err := p.Stream(t.Context(), chatRequest(), func(c Chunk) error { chunks = append(chunks, c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range n {
		fmt.Fprintf(&want, "part %03d ", i)
		if got := chunks[i].Text; got != fmt.Sprintf("part %03d ", i) {
			t.Fatalf("chunk %d is %q by the end of the stream", i, got)
		}
	}
	if res.Text != want.String() || res.ID != "c1" || res.Model != "m" || res.FinishReason != FinishStop {
		t.Fatalf("response %q %q %q %q", res.ID, res.Model, res.FinishReason, res.Text[:40])
	}
}
