package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// wireRecorder answers every request with status and body and keeps what it got.
type wireRecorder struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
}

func (w *wireRecorder) handler(status int, body string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.got = append(w.got, r)
		w.bodies = append(w.bodies, string(b))
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, body)
	}
}

// TestChatPostMatchesSDK: a chat completions request the adapter sends is the
// request openai-go's client sends for the same body — method, path, every header
// (authentication and the SDK's own included) and body — and an error answer comes
// back as the same SDK error.
func TestChatPostMatchesSDK(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusTooManyRequests} {
		rec := &wireRecorder{}
		answer := `{"id":"x","choices":[]}`
		if status != http.StatusOK {
			answer = `{"error":{"message":"slow down","type":"rate_limit","code":"rate_limit_exceeded"}}`
		}
		srv := httptest.NewServer(rec.handler(status, answer))
		opts := []option.RequestOption{option.WithBaseURL(srv.URL + "/v1"), option.WithHTTPClient(srv.Client()),
			option.WithMaxRetries(0), option.WithAPIKey(testKey)}
		sender, err := chatTemplate(openai.Client{Options: opts}, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		var sdkResp *http.Response
		sdkClient := openai.Client{Options: opts}
		sdkErr := sdkClient.Post(context.Background(), "chat/completions", body, &sdkResp)
		if sdkResp != nil {
			defer sdkResp.Body.Close()
		}
		resp, err := sender.post(context.Background(), body)

		if status == http.StatusOK {
			if sdkErr != nil || err != nil {
				t.Fatalf("SDK %v, ours %v", sdkErr, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != answer {
				t.Errorf("answer %q", got)
			}
		} else {
			var want, have *openai.Error
			if !errors.As(sdkErr, &want) || !errors.As(err, &have) {
				t.Fatalf("SDK %T %v, ours %T %v", sdkErr, sdkErr, err, err)
			}
			if have.StatusCode != want.StatusCode || have.Message != want.Message || have.Code != want.Code || have.Type != want.Type ||
				have.Error() != want.Error() || have.Response.Header.Get("Content-Type") != "application/json" {
				t.Errorf("error %+v, SDK's %+v", have, want)
			}
		}
		srv.Close()
		if len(rec.got) != 2 {
			t.Fatalf("%d requests", len(rec.got))
		}
		sdk, ours := rec.got[0], rec.got[1]
		if sdk.Method != ours.Method || sdk.URL.String() != ours.URL.String() || rec.bodies[0] != rec.bodies[1] ||
			sdk.ContentLength != ours.ContentLength || len(sdk.TransferEncoding)+len(ours.TransferEncoding) != 0 {
			t.Errorf("sent %s %s (%d bytes %q), SDK %s %s (%d bytes %q)", ours.Method, ours.URL, ours.ContentLength, rec.bodies[1],
				sdk.Method, sdk.URL, sdk.ContentLength, rec.bodies[0])
		}
		keys := func(h http.Header) []string {
			return slices.Sorted(func(yield func(string) bool) {
				for k := range h {
					if !yield(k) {
						return
					}
				}
			})
		}
		if !slices.Equal(keys(sdk.Header), keys(ours.Header)) {
			t.Errorf("headers %v, SDK's %v", keys(ours.Header), keys(sdk.Header))
		}
		for k, v := range sdk.Header {
			if !slices.Equal(v, ours.Header[k]) {
				t.Errorf("%s: %q, SDK's %q", k, ours.Header[k], v)
			}
		}
		if ours.Header.Get("Authorization") != "Bearer "+testKey || !strings.HasPrefix(ours.Header.Get("User-Agent"), "OpenAI/Go") {
			t.Errorf("headers %v", ours.Header)
		}
	}
}

// TestChatPostRefusesRedirectElsewhere: an upstream that redirects to another origin
// gets no second request there — the key would follow it — as with the SDK's own
// origin check; a redirect within the origin is followed.
func TestChatPostRefusesRedirectElsewhere(t *testing.T) {
	elsewhere := &wireRecorder{}
	other := httptest.NewServer(elsewhere.handler(http.StatusOK, `{}`))
	defer other.Close()
	home := &wireRecorder{}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		case "/v2/chat/completions":
			http.Redirect(w, r, srv.URL+"/v3/here", http.StatusTemporaryRedirect)
		default:
			home.handler(http.StatusOK, `{"ok":true}`)(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		base    string
		refused bool
	}{{"/v1", true}, {"/v2", false}} {
		p, err := NewOpenAI(ProviderConfig{APIKey: testKey, BaseURL: srv.URL + tc.base})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := p.(*openAIProvider).chatReq.post(context.Background(), []byte(`{}`))
		if tc.refused {
			if err == nil || !strings.Contains(err.Error(), "origin") {
				t.Errorf("redirect to another origin: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(elsewhere.got) != 0 {
		t.Errorf("the other origin was sent %d requests", len(elsewhere.got))
	}
	if len(home.got) != 1 || home.got[0].URL.Path != "/v3/here" || home.bodies[0] != `{}` || home.got[0].Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("same-origin redirect: %d requests", len(home.got))
	}
}

// TestChatPostConcurrent: calls sent at once through one provider leave its request
// template as it was — with a plain client, whose requests share the template's
// headers, and with a client with a cookie jar (an upstream setting a cookie), which
// would add to them — and each call carries the headers and only its own body. Run
// with -race, a write to the shared headers is a reported race.
func TestChatPostConcurrent(t *testing.T) {
	for _, withJar := range []bool{false, true} {
		var mu sync.Mutex
		seen := map[string]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen[string(b)]++
			mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer "+testKey {
				http.Error(w, "no key", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "upstream", Value: "set"})
			_, _ = io.WriteString(w, `{}`)
		}))
		hc := srv.Client()
		if withJar {
			jar, err := cookiejar.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			hc.Jar = jar
		}
		opts := []option.RequestOption{option.WithBaseURL(srv.URL + "/v1"), option.WithHTTPClient(hc), option.WithMaxRetries(0), option.WithAPIKey(testKey)}
		sender, err := chatTemplate(openai.Client{Options: opts}, hc)
		if err != nil {
			t.Fatal(err)
		}
		before := sender.header.Clone()
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				for j := range 8 {
					resp, err := sender.post(context.Background(), fmt.Appendf(nil, `{"call":%d}`, i*8+j))
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		srv.Close()
		if !reflect.DeepEqual(before, sender.header) {
			t.Errorf("jar %v: the template's headers changed: %v, were %v", withJar, sender.header, before)
		}
		if len(seen) != 256 {
			t.Errorf("jar %v: %d distinct bodies arrived, want 256", withJar, len(seen))
		}
	}
}

// TestSameOriginURL: redirects are judged as the SDK judges origins.
func TestSameOriginURL(t *testing.T) {
	base, _ := url.Parse("https://API.example.com/v1")
	for to, want := range map[string]bool{
		"https://api.example.com/v2":     true,
		"HTTPS://api.EXAMPLE.com:443/x":  true,
		"https://api.example.com:8443/x": false,
		"http://api.example.com/v1":      false,
		"https://evil.example.com/v1":    false,
		"https://api.example.com.evil/":  false,
	} {
		u, _ := url.Parse(to)
		if got := sameOriginURL(u, base); got != want {
			t.Errorf("%s: %v, want %v", to, got, want)
		}
	}
	plain, _ := url.Parse("http://127.0.0.1/v1")
	if u, _ := url.Parse("http://127.0.0.1:80/x"); !sameOriginURL(u, plain) {
		t.Error("http's default port")
	}
}

// cannedTransport answers every request with an empty JSON object, sending nothing.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{}`)), ContentLength: 2, Request: r}, nil
}

// BenchmarkChatPost is the cost of sending one chat completions request, the
// transport aside: through openai-go's Client.Post, and as the adapter sends it.
func BenchmarkChatPost(b *testing.B) {
	hc := &http.Client{Transport: cannedTransport{}}
	opts := []option.RequestOption{option.WithBaseURL("http://127.0.0.1:1/v1"), option.WithHTTPClient(hc),
		option.WithMaxRetries(0), option.WithAPIKey(testKey)}
	body := []byte(strings.Repeat("x", 800))
	b.Run("sdk", func(b *testing.B) {
		c := openai.Client{Options: opts}
		b.ReportAllocs()
		for range b.N {
			var resp *http.Response
			if err := c.Post(context.Background(), "chat/completions", body, &resp); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
	b.Run("adapter", func(b *testing.B) {
		sender, err := chatTemplate(openai.Client{Options: opts}, hc)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for range b.N {
			resp, err := sender.post(context.Background(), body)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}
