package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Error types, in OpenAI's error vocabulary so the gateway can return them unchanged.
const (
	TypeInvalidRequest      = "invalid_request_error"
	TypeAuthentication      = "authentication_error"
	TypePermission          = "permission_error"
	TypeNotFound            = "not_found_error"
	TypeRateLimit           = "rate_limit_error"
	TypeServer              = "server_error"
	TypeOverloaded          = "overloaded_error"
	TypeTimeout             = "timeout"
	TypeUpstreamUnavailable = "upstream_unavailable"
	TypeBadUpstreamResponse = "bad_upstream_response"
	TypeCanceled            = "canceled"
)

// StatusClientClosedRequest is returned (with TypeCanceled) when the caller's context was
// canceled; it is nginx's convention, never sent upstream.
const StatusClientClosedRequest = 499

// Error is an upstream failure mapped to something the gateway can return as an OpenAI-style
// error. Its message never contains an API key.
type Error struct {
	Provider string
	// Status is the HTTP status to report: the upstream's for API errors, 504 for timeouts,
	// 502 for connection failures and malformed upstream responses, 499 for cancellation.
	Status  int
	Type    string
	Message string
	// RetryAfter is how long the upstream asked us to wait (Retry-After, retry-after-ms, or
	// Gemini's RetryInfo), 0 if it did not say.
	RetryAfter time.Duration
	// Retryable is true for 429, 5xx and connection failures.
	Retryable bool

	cause error // for errors.Is(err, context.DeadlineExceeded) and the like; never an SDK error
}

func (e *Error) Error() string {
	if e.Provider == "" {
		return fmt.Sprintf("llm: %d %s: %s", e.Status, e.Type, e.Message)
	}
	return fmt.Sprintf("llm %s: %d %s: %s", e.Provider, e.Status, e.Type, e.Message)
}

// Unwrap returns the underlying context or network error, if any.
func (e *Error) Unwrap() error { return e.cause }

func newError(provider string, status int, typ, msg string) *Error {
	return &Error{
		Provider:  provider,
		Status:    status,
		Type:      typ,
		Message:   msg,
		Retryable: retryableStatus(status),
	}
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// typeForStatus maps an upstream HTTP status to an error type.
func typeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return TypeAuthentication
	case status == http.StatusForbidden:
		return TypePermission
	case status == http.StatusNotFound:
		return TypeNotFound
	case status == http.StatusTooManyRequests:
		return TypeRateLimit
	case status == http.StatusGatewayTimeout || status == http.StatusRequestTimeout:
		return TypeTimeout
	case status == http.StatusServiceUnavailable || status == 529:
		return TypeOverloaded
	case status >= 500:
		return TypeServer
	default:
		return TypeInvalidRequest
	}
}

// apiError builds the *Error for an upstream HTTP error response. msg is the upstream's own
// message; for authentication failures it is replaced, because providers echo (parts of) the
// key back.
func apiError(provider string, status int, msg string, header http.Header, secret string) *Error {
	if status == 529 { // Anthropic's "overloaded": report it the way HTTP clients understand.
		status = http.StatusServiceUnavailable
	}
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	e := newError(provider, status, typeForStatus(status), truncate(redact(strings.TrimSpace(msg), secret)))
	if status == http.StatusUnauthorized {
		e.Message = "upstream rejected the API key (check the provider's key configuration)"
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if header != nil {
		e.RetryAfter = parseRetryAfter(header, time.Now())
	}
	return e
}

// transportError maps errors that are not upstream API errors: context expiry and
// cancellation, connection failures, and bodies that do not decode. It returns nil for an
// error it does not recognise.
func transportError(ctx context.Context, provider string, err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded || isNetTimeout(err):
		e = newError(provider, http.StatusGatewayTimeout, TypeTimeout, "upstream did not answer in time")
		e.cause = context.DeadlineExceeded
		return e
	case errors.Is(err, context.Canceled) || ctx.Err() == context.Canceled:
		e = newError(provider, StatusClientClosedRequest, TypeCanceled, "request canceled")
		e.cause = context.Canceled
		return e
	case decodeError(err) != nil:
		// The JSON error alone: the SDKs' wrappers quote the whole body.
		return newError(provider, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream sent a malformed response: "+decodeError(err).Error())
	case isConnError(err):
		e = newError(provider, http.StatusBadGateway, TypeUpstreamUnavailable, "upstream connection failed: "+scrub(safeCause(err).Error()))
		e.cause = safeCause(err)
		return e
	}
	return nil
}

// mapUnknown is the last resort: an error from the SDK we could not classify.
func mapUnknown(provider string, err error) *Error {
	return newError(provider, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream call failed: "+truncate(scrub(safeCause(err).Error())))
}

// truncate keeps upstream text (sometimes a whole HTML error page) to a readable length.
func truncate(s string) string {
	const max = 500
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sdkDecodeMarkers are how the SDKs report a body they read in full but could not decode (the
// cause is then a bare io.ErrUnexpectedEOF, indistinguishable by type from a broken connection).
var sdkDecodeMarkers = []string{"error parsing response json: ", "error unmarshalling response: "}

// decodeError returns the JSON decoding error inside err, or nil if err is not one.
func decodeError(err error) error {
	msg := err.Error()
	for _, m := range sdkDecodeMarkers {
		if _, after, ok := strings.Cut(msg, m); ok {
			after, _, _ = strings.Cut(after, "\n") // genai appends the body
			return errors.New(after)
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te
	}
	return nil
}

func isConnError(err error) bool {
	var oe *net.OpError
	var ue *url.Error
	var de *net.DNSError
	return errors.As(err, &oe) || errors.As(err, &ue) || errors.As(err, &de) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// safeCause strips a *url.Error down to its cause: its URL may carry credentials or query keys.
func safeCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseRetryAfter reads retry-after-ms (OpenAI) or Retry-After in seconds or as an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// keyPattern matches the shapes of provider API keys, as a safety net for messages that echo
// one back (OpenAI's "Incorrect API key provided: sk-…").
var keyPattern = regexp.MustCompile(`\b(sk-[A-Za-z0-9_*\-]{6,}|xai-[A-Za-z0-9_*\-]{6,}|AIza[A-Za-z0-9_\-]{20,})`)

func scrub(msg string) string {
	return keyPattern.ReplaceAllString(msg, "[redacted]")
}

// redact removes the configured key and anything shaped like a key from an upstream message.
func redact(msg, secret string) string {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return scrub(msg)
}
