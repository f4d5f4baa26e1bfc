package observe

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessMessage is the access-log line's message.
const accessMessage = "http request"

// AccessLine is what the HTTP server logs of each request, one line per request.
type AccessLine struct {
	RequestID string
	Method    string
	Route     string // the matched route pattern, never the raw path (which carries ids)
	Status    int
	Duration  time.Duration // logged as duration_ms, to the microsecond
	Bytes     int64         // of the answer's body
	UserID    string        // "" when nobody is signed in, and the field is left out
}

// attrs appends the line's attributes to dst, in the order they are logged.
func (a *AccessLine) attrs(dst []slog.Attr) []slog.Attr {
	dst = append(dst,
		slog.String("request_id", a.RequestID),
		slog.String("method", a.Method),
		slog.String("route", a.Route),
		slog.Int("status", a.Status),
		slog.Float64("duration_ms", a.durationMS()),
		slog.Int64("bytes", a.Bytes),
	)
	if a.UserID != "" {
		dst = append(dst, slog.String("user_id", a.UserID))
	}
	return dst
}

func (a *AccessLine) durationMS() float64 { return float64(a.Duration.Microseconds()) / 1000 }

// LogAccess writes a's line at Info level through log. The line is, byte for byte, the
// one log.LogAttrs would write with a's attributes; when log is one NewLogger made
// (not derived through With or WithGroup) and every string in the line is plain
// printable ASCII once redacted, it is formatted straight into a pooled buffer rather
// than built as a slog.Record and walked attribute by attribute through ReplaceAttr
// and the JSON handler, which cost a busy gateway a few per cent of its CPU
// (docs/BENCHMARKS.md, Gateway at the floor, fourth pass).
func LogAccess(ctx context.Context, log *slog.Logger, a *AccessLine) {
	if h, ok := log.Handler().(*handler); ok {
		if !h.Enabled(ctx, slog.LevelInfo) {
			return
		}
		if h.writeAccess(a) {
			return
		}
	}
	var buf [7]slog.Attr
	log.LogAttrs(ctx, slog.LevelInfo, accessMessage, a.attrs(buf[:0])...)
}

// handler is the JSON handler NewLogger builds, kept with what its ReplaceAttr uses so
// that LogAccess can write the access line the way it would.
type handler struct {
	*slog.JSONHandler
	w   *lockedWriter // the JSON handler's writer too: both paths' lines go out whole and in turn
	red *Redactor
	msg string // accessMessage, redacted
}

// lockedWriter makes the writes of the JSON handler (and every handler derived from
// it) and of LogAccess's fast path one at a time, as slog promises its writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var accessBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAccess writes a's line, reporting false, having written nothing, when it
// cannot be written the fast way.
func (h *handler) writeAccess(a *AccessLine) bool {
	bp := accessBufs.Get().(*[]byte)
	b, ok := h.appendAccess((*bp)[:0], time.Now(), a)
	if ok {
		_, _ = h.w.Write(b) // as slog.Logger does with its handler's error
	}
	if cap(b) <= 4<<10 { // one huge line need not stay pooled
		*bp = b
		accessBufs.Put(bp)
	}
	return ok
}

// appendAccess appends a's line logged at t to b as the JSON handler would write it
// through NewLogger's ReplaceAttr: strings redacted, the level as its name; keys and
// numbers are never redacted. It reports false when the line needs what only the JSON
// handler does: escaping a string, a year outside 0–9999, a float that encoding/json
// writes with an exponent.
func (h *handler) appendAccess(b []byte, t time.Time, a *AccessLine) ([]byte, bool) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, false
	}
	ms := a.durationMS()
	if ms != 0 && (ms < 1e-6 || ms >= 1e21) { // negative ones too: never, but not plain
		return b, false
	}
	id, method, route, user := h.red.Redact(a.RequestID), h.red.Redact(a.Method), h.red.Redact(a.Route), ""
	if a.UserID != "" {
		user = h.red.Redact(a.UserID)
	}
	if !plain(h.msg) || !plain(id) || !plain(method) || !plain(route) || !plain(user) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"`...)
	b = append(b, h.msg...)
	b = append(b, `","request_id":"`...)
	b = append(b, id...)
	b = append(b, `","method":"`...)
	b = append(b, method...)
	b = append(b, `","route":"`...)
	b = append(b, route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(a.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, ms, 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, a.Bytes, 10)
	if a.UserID != "" {
		b = append(b, `,"user_id":"`...)
		b = append(b, user...)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	return b, true
}

// plain reports whether the JSON handler writes s as it is: only bytes below
// utf8.RuneSelf, none of them a control character, the quote or the backslash.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
