package llm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
)

// The chat completions call is the gateway's hot path, and openai-go's request
// machinery (Client.Post) rebuilds the same request on every call — parses the URL,
// makes the platform and default header maps, applies every option, clones the
// request and wraps its body and transport: 5 to 9 µs and 49 allocations a call more
// than sending the request itself (BenchmarkChatPost), the larger part of what the
// gateway cost above a bare reverse proxy (docs/BENCHMARKS.md, issue 17). The request
// never differs but for its body, so the adapter asks the SDK once, when it is made,
// what a chat completions request is — its URL and every header, authentication
// included — by sending one through the SDK's own client with a last middleware that
// keeps it instead of sending it (chatTemplate), and then sends each call's body with
// that URL and those headers (one map, which net/http only reads) through the same
// HTTP client. Error answers become the
// SDK's own error type exactly as the SDK makes them (chatError), so everything
// downstream (mapError) reads them as before; the SDK's origin check is kept as a
// redirect policy (sameOrigin). TestChatPostMatchesSDK holds the wire request and the
// error to the SDK's.

// errKept ends the SDK call that only builds the template.
var errKept = errors.New("llm: request kept as the template, not sent")

// chatSender sends a provider's chat completions requests.
type chatSender struct {
	url    string
	header http.Header
	// shared says header can serve every request as it is: net/http's client and
	// transport only read a request's headers, but a client with a cookie jar adds
	// the jar's cookies to them, so each request then gets a copy.
	shared bool
	client *http.Client
}

// chatTemplate asks the SDK client (built from opts) for its chat completions request.
func chatTemplate(c openai.Client, hc *http.Client) (*chatSender, error) {
	var kept *http.Request
	keep := option.WithMiddleware(func(req *http.Request, _ option.MiddlewareNext) (*http.Response, error) {
		kept = req
		return nil, errKept
	})
	err := c.Post(context.Background(), "chat/completions", []byte("{}"), nil, keep)
	if kept == nil {
		return nil, fmt.Errorf("llm: building the chat request: %w", err)
	}
	if kept.Method != http.MethodPost {
		return nil, fmt.Errorf("llm: the SDK's chat request is a %s", kept.Method)
	}
	header := kept.Header.Clone()
	header.Del("Content-Length") // each body sets its own
	client := *hc
	client.CheckRedirect = sameOrigin(kept.URL, hc.CheckRedirect)
	return &chatSender{url: kept.URL.String(), header: header, shared: hc.Jar == nil, client: &client}, nil
}

// sameOrigin refuses a redirect to another origin than the base URL's (the SDK's
// originTransport refuses such a request, so credentials never follow one), then
// applies next (net/http's default policy when nil).
func sameOrigin(base *url.URL, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOriginURL(req.URL, base) {
			return errors.New("requestconfig: request URL origin must match the configured base URL")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// sameOriginURL reports whether a and b have one origin, as the SDK compares them:
// scheme and host name without regard to case, and the port, a scheme's default
// standing for itself.
func sameOriginURL(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		switch p := u.Port(); {
		case p != "":
			return p
		case strings.EqualFold(u.Scheme, "https"):
			return "443"
		case strings.EqualFold(u.Scheme, "http"):
			return "80"
		}
		return ""
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// post sends body as a chat completions request and returns the answer of a
// successful one; an error answer is returned as the SDK returns it (*openai.Error).
func (t *chatSender) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = t.header
	if !t.shared {
		req.Header = t.header.Clone()
	}
	resp, err := t.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, chatError(req, resp)
	}
	return resp, nil
}

// chatError reads an error answer into the SDK's error type as its Execute does.
func chatError(req *http.Request, resp *http.Response) error {
	contents, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(contents))
	aerr := openai.Error{Request: req, Response: resp, StatusCode: resp.StatusCode}
	if err := aerr.UnmarshalJSON([]byte(gjson.GetBytes(contents, "error").Raw)); err != nil {
		return err
	}
	return &aerr
}
