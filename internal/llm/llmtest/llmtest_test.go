package llmtest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSequenceAndRecording(t *testing.T) {
	srv := NewOpenAI(t, Sequence(Reply{Status: 429, RetryAfter: "1"}, Reply{Text: "second"}))
	body := `{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}`

	resp := post(t, srv.URL+"/v1/chat/completions", body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("first reply: %d %v", resp.StatusCode, resp.Header)
	}
	for range 2 { // the last reply repeats
		resp = post(t, srv.URL+"/chat/completions", body)
		var out struct {
			Choices []struct {
				Message struct{ Content string }
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Choices[0].Message.Content != "second" {
			t.Fatalf("later reply: %v %+v", err, out)
		}
	}
	if srv.Calls() != 3 {
		t.Errorf("calls %d", srv.Calls())
	}
	rec, _ := srv.Last()
	if rec.Kind != "chat" || rec.Model != "m" || rec.LastUserMessage() != "hi" || rec.Messages[0].Role != "system" {
		t.Errorf("recorded %+v", rec)
	}
}

func TestUnknownRoute(t *testing.T) {
	srv := NewAnthropic(t, nil)
	if resp := post(t, srv.URL+"/v1/complete", `{}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestGeminiStreamWireFormat(t *testing.T) {
	srv := NewGemini(t, Text("a b"))
	resp := post(t, srv.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	var events int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
		}
	}
	if events != 2 {
		t.Errorf("%d events, want one per chunk", events)
	}
	if rec, _ := srv.Last(); rec.Model != "gemini-2.5-flash" || !rec.Stream || rec.LastUserMessage() != "hi" {
		t.Errorf("recorded %+v", rec)
	}
}
