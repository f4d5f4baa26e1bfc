// Package observe is Vibe Coder's logging, request correlation and health checking:
// a JSON slog logger that redacts secrets, request ids carried in the context, and the
// checks behind /health, /livez and /readyz.
package observe

import (
	"context"
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

// patternHints are substrings every secretPatterns match contains (case-folded where
// the pattern is case-insensitive); a string with none of them skips the regexp, which
// keeps redaction cheap on the hot path (ids, routes, numbers).
var (
	patternHints     = []string{"vc_", "sk-", "xai-", "AIza", "gh", "://"}
	patternHintsFold = []string{"bearer", "passw", "secret"} // the (?i) patterns
)

// containsFold reports whether s contains sub, ignoring ASCII case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// Redact returns s with every secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	for _, v := range r.secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	for _, h := range patternHints {
		if strings.Contains(s, h) {
			return secretPatterns.ReplaceAllString(s, "[REDACTED]")
		}
	}
	for _, h := range patternHintsFold {
		if containsFold(s, h) {
			return secretPatterns.ReplaceAllString(s, "[REDACTED]")
		}
	}
	return s
}

// sensitiveKeys are attribute names whose values are never logged.
var sensitiveKeys = map[string]bool{
	"password": true, "authorization": true, "cookie": true, "set-cookie": true,
	"api_key": true, "apikey": true, "token": true, "secret": true, "csrf_token": true,
}

// NewLogger returns a JSON logger writing to w at level, with every string value
// passed through the redactor.
func NewLogger(w io.Writer, level slog.Leveler, red *Redactor) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if sensitiveKeys[strings.ToLower(a.Key)] {
				return slog.String(a.Key, "[REDACTED]")
			}
			switch a.Value.Kind() {
			case slog.KindString:
				return slog.String(a.Key, red.Redact(a.Value.String()))
			case slog.KindAny:
				if err, ok := a.Value.Any().(error); ok {
					return slog.String(a.Key, red.Redact(err.Error()))
				}
			}
			return a
		},
	})
	return slog.New(h)
}

type ctxKey int

const requestIDKey ctxKey = 0

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
