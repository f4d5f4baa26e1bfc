// Package observe is Vibe Coder's logging, request correlation and health checking:
// a JSON slog logger that redacts secrets, request ids carried in the context, and the
// checks behind /health, /livez and /readyz.
package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
)

// secretPatterns match credentials by their shape, whatever their source.
var secretPatterns = regexp.MustCompile(strings.Join([]string{
	`vc_[A-Za-z0-9_-]{20,}`,                  // Vibe Coder API keys
	`sk-ant-[A-Za-z0-9_-]{10,}`,              // Anthropic
	`sk-[A-Za-z0-9_-]{16,}`,                  // OpenAI
	`xai-[A-Za-z0-9_-]{16,}`,                 // xAI
	`AIza[0-9A-Za-z_-]{30,}`,                 // Google
	`gh[pousr]_[A-Za-z0-9]{20,}`,             // GitHub tokens
	`github_pat_[A-Za-z0-9_]{20,}`,           // GitHub fine-grained tokens
	`(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}`,    // Authorization headers
	`(?i)(password|passwd|secret)=[^&\s"']+`, // credentials in query strings
	`://[^/@\s:]+:[^/@\s]+@`,                 // credentials in URLs
}, "|"))

// Redactor removes secrets from strings: the configured secret values verbatim, and
// anything shaped like a known credential.
type Redactor struct {
	secrets []string
}

// NewRedactor returns a Redactor for the given secret values (empty ones ignored).
func NewRedactor(secrets []string) *Redactor {
	var s []string
	for _, v := range secrets {
		if len(v) >= 4 {
			s = append(s, v)
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return &Redactor{secrets: s}
}

// mayHoldPattern reports whether s holds a substring every secretPatterns match
// contains: vc_, sk-, xai-, AIza, gh or ://, or, in any ASCII case, bearer, passw or
// secret (the (?i) patterns). A string with none of them skips the regexp, which keeps
// redaction cheap on the hot path (ids, routes, numbers). It looks at s once, at the
// bytes a hint can begin with, rather than once a hint.
func mayHoldPattern(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hintStart[s[i]] {
			continue
		}
		rest := s[i:]
		switch s[i] {
		case 'v':
			if strings.HasPrefix(rest, "vc_") {
				return true
			}
		case 's':
			if strings.HasPrefix(rest, "sk-") || hasPrefixFold(rest, "secret") {
				return true
			}
		case 'S':
			if hasPrefixFold(rest, "secret") {
				return true
			}
		case 'x':
			if strings.HasPrefix(rest, "xai-") {
				return true
			}
		case 'A':
			if strings.HasPrefix(rest, "AIza") {
				return true
			}
		case 'g':
			if strings.HasPrefix(rest, "gh") {
				return true
			}
		case ':':
			if strings.HasPrefix(rest, "://") {
				return true
			}
		case 'b', 'B':
			if hasPrefixFold(rest, "bearer") {
				return true
			}
		case 'p', 'P':
			if hasPrefixFold(rest, "passw") {
				return true
			}
		}
	}
	return false
}

// hintStart marks the bytes mayHoldPattern's hints begin with.
var hintStart = func() (t [256]bool) {
	for _, c := range "vsSxAg:bBpP" {
		t[c] = true
	}
	return t
}()

// hasPrefixFold reports whether s begins with prefix, ignoring ASCII case; prefix must
// be lower-case ASCII letters, so that a byte of s, folded to lower case by setting
// 0x20, equals prefix's only when it is that letter in either case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if s[i]|0x20 != prefix[i] {
			return false
		}
	}
	return true
}

// Redact returns s with every secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	for _, v := range r.secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	if mayHoldPattern(s) {
		return secretPatterns.ReplaceAllString(s, "[REDACTED]")
	}
	return s
}

// sensitiveKeys are attribute names whose values are never logged.
var sensitiveKeys = map[string]bool{
	"password": true, "authorization": true, "cookie": true, "set-cookie": true,
	"api_key": true, "apikey": true, "token": true, "secret": true, "csrf_token": true,
	"x-api-key": true, "x-goog-api-key": true, "access_token": true, "refresh_token": true,
}

// NewLogger returns a JSON logger writing to w at level, with every string value
// passed through the redactor. Its handler is one LogAccess recognises, to write the
// access log's lines directly.
func NewLogger(w io.Writer, level slog.Leveler, red *Redactor) *slog.Logger {
	lw := &lockedWriter{w: w}
	h := slog.NewJSONHandler(lw, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if sensitiveKeys[strings.ToLower(a.Key)] {
				return slog.String(a.Key, "[REDACTED]")
			}
			switch a.Value.Kind() {
			case slog.KindString:
				return slog.String(a.Key, red.Redact(a.Value.String()))
			case slog.KindAny:
				switch v := a.Value.Any().(type) {
				case error:
					return slog.String(a.Key, red.Redact(v.Error()))
				case slog.Level:
					// Every record's level: nothing to redact. As a string it is written
					// directly; as the Level it is, the JSON handler would marshal it
					// through encoding/json (Level.MarshalJSON), an allocation a line.
					return slog.String(a.Key, v.String())
				}
				if v, changed := red.redactAny(a.Value.Any()); changed {
					return slog.Any(a.Key, v)
				}
			}
			return a
		},
	})
	return slog.New(&handler{JSONHandler: h, w: lw, red: red, msg: red.Redact(accessMessage)})
}

// redactAny redacts a value the JSON handler would marshal as it is (a struct, a map,
// a slice), which ReplaceAttr otherwise sees only whole: it is marshalled, its strings
// redacted and its sensitive keys blanked, and the result returned as raw JSON. changed
// is false, and the value left alone, when nothing needed redacting.
func (r *Redactor) redactAny(v any) (_ any, changed bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s := fmt.Sprintf("%+v", v)
		return r.Redact(s), true
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return "[unloggable value]", true
	}
	x, changed = r.redactJSON(x)
	if !changed {
		return v, false
	}
	buf.Reset()
	if err := enc.Encode(x); err != nil {
		return "[unloggable value]", true
	}
	return json.RawMessage(bytes.TrimSpace(buf.Bytes())), true
}

// redactJSON redacts a decoded JSON value in place.
func (r *Redactor) redactJSON(x any) (_ any, changed bool) {
	switch v := x.(type) {
	case string:
		out := r.Redact(v)
		return out, out != v
	case []any:
		for i, e := range v {
			var c bool
			if v[i], c = r.redactJSON(e); c {
				changed = true
			}
		}
	case map[string]any:
		for k, e := range v {
			if sensitiveKeys[strings.ToLower(k)] {
				if e != "[REDACTED]" {
					v[k], changed = "[REDACTED]", true
				}
				continue
			}
			var c bool
			if v[k], c = r.redactJSON(e); c {
				changed = true
			}
		}
	}
	return x, changed
}

type ctxKey int

const requestIDKey ctxKey = 0

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return &requestIDCtx{Context: ctx, id: id}
}

// requestIDCtx is a context carrying a request id: one allocation a request where
// context.WithValue makes two, its node and the id boxed as an any.
type requestIDCtx struct {
	context.Context
	id string
}

// Value answers requestIDKey with the context itself, already an any, and asks the
// parent for every other key.
func (c *requestIDCtx) Value(key any) any {
	if key == requestIDKey {
		return c
	}
	return c.Context.Value(key)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey).(*requestIDCtx); ok {
		return c.id
	}
	return ""
}
