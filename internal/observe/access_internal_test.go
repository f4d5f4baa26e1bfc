package observe

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// accessSecrets are the configured secrets of the redactors the access line is tried
// with: none, and ones that meet the line's message, level, keys, method, route and ids.
var accessSecrets = [][]string{
	nil,
	{"sk-test-0123456789abcdef0123", "pw-secret-value"},
	{"request", "INFO", "POST", "route", "status", "chat", "0f1e", "71ca-8ef9", "é-secret"},
	{"http request"},
}

// accessStrings are the field values tried: plain ones, ones to escape (quotes,
// backslashes, control characters, HTML, unicode, U+2028, invalid UTF-8), long ones,
// and secrets of every shape the redactor knows.
var accessStrings = []string{
	"", "0f1e2d3c4b5a69788796a5b4", "POST", "GET", "M-SEARCH", "POST /v1/chat/completions",
	"GET /api/v1/projects/{id}", "unmatched", "01a21357-39bd-71ca-8ef9-b2db0bbee131",
	`a"b`, `back\slash`, "tab\there", "new\nline", "\r", "\x00\x01\x1f", "\x1f", " ", "~", "\x7f", "\x80", "a\x80b", "<script>&amp;",
	"héllo wörld", "日本語", "emoji 🚀", "\u2028\u2029", "bad \xff\xfe utf8", "\xc3",
	strings.Repeat("x", 4000), strings.Repeat("é", 300),
	"sk-abcdefghijklmnop1234", "vc_abcdefghijklmnopqrstuvwxyz0123456789", "Bearer abcdefghijkl",
	"ghp_abcdefghijklmnopqrstuvwxyz0123", "https://user:hunter2@db.example.com/x", "?password=hunter2",
	"sk-test-0123456789abcdef0123", "pw-secret-value", "xpw-secret-valuex", "request", "INFO",
	"http request", "é-secret", "chat",
}

var accessDurations = []time.Duration{
	0, time.Nanosecond, 999 * time.Nanosecond, time.Microsecond, 1234 * time.Microsecond,
	5123 * time.Microsecond, time.Second, 90 * time.Minute, 1<<63 - 1, -time.Microsecond, -time.Hour,
}

var accessTimes = []time.Time{
	time.Date(2026, 12, 5, 10, 12, 31, 123456789, time.UTC),
	time.Date(2026, 12, 5, 10, 12, 31, 0, time.UTC),
	time.Date(2026, 12, 5, 10, 12, 31, 120000000, time.FixedZone("", 5*3600+45*60)),
	time.Date(1999, 1, 1, 0, 0, 0, 1, time.FixedZone("X", -9*3600-30*60)),
	time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Now(),
}

// slogLine is the line the JSON handler writes for a at t: what log.LogAttrs(ctx,
// slog.LevelInfo, accessMessage, a's attributes...) hands it, the time aside.
func slogLine(t *testing.T, h *handler, out *bytes.Buffer, at time.Time, a *AccessLine) string {
	t.Helper()
	out.Reset()
	r := slog.NewRecord(at, slog.LevelInfo, accessMessage, 0)
	r.AddAttrs(a.attrs(nil)...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestAccessLineMatchesSlog holds the fast path's line to the JSON handler's, byte
// for byte, over field values of every kind, redactors and times.
func TestAccessLineMatchesSlog(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 9))
	var plainOnes []string
	for _, s := range accessStrings {
		if plain(s) {
			plainOnes = append(plainOnes, s)
		}
	}
	pick := func() string { // mostly plain ones, which the fast path takes
		if rng.IntN(10) == 0 {
			return accessStrings[rng.IntN(len(accessStrings))]
		}
		return plainOnes[rng.IntN(len(plainOnes))]
	}
	var fast, slow int
	for _, secrets := range accessSecrets {
		var out bytes.Buffer
		h := NewLogger(&out, slog.LevelInfo, NewRedactor(secrets)).Handler().(*handler)
		check := func(at time.Time, a *AccessLine) {
			want := slogLine(t, h, &out, at, a)
			got, ok := h.appendAccess(nil, at, a)
			if !ok {
				slow++
				return
			}
			fast++
			if string(got) != want {
				t.Fatalf("secrets %q, line %+v at %v:\n fast %s\n slog %s", secrets, *a, at, got, want)
			}
		}
		for _, s := range accessStrings { // each value in each string field
			for _, a := range []AccessLine{
				{RequestID: s, Method: "POST", Route: "POST /v1/chat/completions", Status: 200},
				{RequestID: "id", Method: s, Route: "unmatched", Status: 404, UserID: "u"},
				{RequestID: "id", Method: "GET", Route: s, Status: 500},
				{RequestID: "id", Method: "GET", Route: "GET /", UserID: s},
			} {
				check(accessTimes[0], &a)
			}
		}
		for _, at := range accessTimes {
			for _, d := range accessDurations {
				check(at, &AccessLine{RequestID: "r", Method: "GET", Route: "GET /livez", Status: 200, Duration: d, Bytes: 2})
			}
		}
		for range 3000 {
			a := AccessLine{
				RequestID: pick(), Method: pick(), Route: pick(),
				Status:   []int{0, 200, 204, 404, 499, 502, -1, math.MaxInt}[rng.IntN(8)],
				Duration: time.Duration(rng.Int64N(int64(10 * time.Second))),
				Bytes:    []int64{0, 1, 1432, math.MaxInt64, -1}[rng.IntN(5)],
			}
			if rng.IntN(2) == 0 {
				a.UserID = pick()
			}
			check(accessTimes[rng.IntN(len(accessTimes))], &a)
		}
	}
	if fast < 4000 || slow < 1000 {
		t.Errorf("fast path took %d lines, the handler %d: the cases do not exercise both", fast, slow)
	}
}

// TestLogAccess checks LogAccess end to end against log.LogAttrs through every kind of
// logger: NewLogger's (fast path, and lines it leaves to slog), one derived from it
// With an attribute, one above Info, a plain JSON handler, and NewLogger's behind a
// LogBuffer with a request in flight. Lines are compared with their times cut out.
func TestLogAccess(t *testing.T) {
	red := NewRedactor([]string{"pw-secret-value"})
	lines := []AccessLine{
		{RequestID: "0f1e2d3c4b5a69788796a5b4", Method: "POST", Route: "POST /v1/chat/completions", Status: 200,
			Duration: 5123 * time.Microsecond, Bytes: 1432, UserID: "01a21357-39bd-71ca-8ef9-b2db0bbee131"},
		{RequestID: "abc", Method: "GET", Route: "unmatched", Status: 404, Duration: 17 * time.Microsecond},
		{RequestID: "pw-secret-value", Method: "GET", Route: "GET /", Status: 200, UserID: "pw-secret-value"},
		{RequestID: "héllo", Method: "GET", Route: `a"b`, Status: 200, UserID: "\u2028"},
	}
	for _, tc := range []struct {
		name string
		log  func(w *bytes.Buffer) (*slog.Logger, func())
	}{
		{"NewLogger", func(w *bytes.Buffer) (*slog.Logger, func()) {
			return NewLogger(w, slog.LevelInfo, red), func() {}
		}},
		{"With", func(w *bytes.Buffer) (*slog.Logger, func()) {
			return NewLogger(w, slog.LevelDebug, red).With(slog.String("component", "http")), func() {}
		}},
		{"WithGroup", func(w *bytes.Buffer) (*slog.Logger, func()) {
			return NewLogger(w, slog.LevelDebug, red).WithGroup("g"), func() {}
		}},
		{"Warn", func(w *bytes.Buffer) (*slog.Logger, func()) {
			return NewLogger(w, slog.LevelWarn, red), func() {}
		}},
		{"JSONHandler", func(w *bytes.Buffer) (*slog.Logger, func()) {
			return slog.New(slog.NewJSONHandler(w, nil)), func() {}
		}},
		{"LogBuffer", func(w *bytes.Buffer) (*slog.Logger, func()) {
			lb := NewLogBuffer(w, time.Hour)
			lb.Begin()
			return NewLogger(lb, slog.LevelInfo, red), lb.End
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want bytes.Buffer
			gotLog, gotDone := tc.log(&got)
			wantLog, wantDone := tc.log(&want)
			for _, a := range lines {
				LogAccess(context.Background(), gotLog, &a)
				wantLog.LogAttrs(context.Background(), slog.LevelInfo, accessMessage, a.attrs(nil)...)
			}
			gotDone()
			wantDone()
			if g, w := withoutTimes(got.String()), withoutTimes(want.String()); g != w {
				t.Errorf("LogAccess wrote\n%s\nLogAttrs wrote\n%s", g, w)
			}
			if tc.name == "Warn" && got.Len() != 0 {
				t.Errorf("an access line above its level: %s", got.String())
			}
		})
	}
}

// withoutTimes cuts the time out of every JSON line in s.
func withoutTimes(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if rest, ok := strings.CutPrefix(line, `{"time":"`); ok {
			if _, after, ok := strings.Cut(rest, `"`); ok {
				line = `{"time":""` + after
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

// TestLogAccessDoesNotAllocate: the fast path's line costs no allocation (its buffer
// is pooled), whatever the redactor holds.
func TestLogAccessDoesNotAllocate(t *testing.T) {
	log := NewLogger(discard{}, slog.LevelInfo, NewRedactor([]string{"sk-test-0123456789abcdef0123", "pw-secret-value"}))
	a := AccessLine{RequestID: "0f1e2d3c4b5a69788796a5b4", Method: "POST", Route: "POST /v1/chat/completions",
		Status: 200, Duration: 5123 * time.Microsecond, Bytes: 1432, UserID: "01a21357-39bd-71ca-8ef9-b2db0bbee131"}
	if n := testing.AllocsPerRun(1000, func() { LogAccess(context.Background(), log, &a) }); n != 0 {
		t.Errorf("LogAccess allocates %v times a line", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
