package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// fakeStore keeps what it is given, or fails with err.
type fakeStore struct {
	got    []store.AuditEntry
	ctxErr []error
	err    error
}

func (f *fakeStore) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	f.ctxErr = append(f.ctxErr, ctx.Err())
	if f.err != nil {
		return f.err
	}
	if err := store.PrepareAudit(e); err != nil {
		return err
	}
	f.got = append(f.got, *e)
	return nil
}

func TestFromRequest(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"203.0.113.9:5555", "203.0.113.9"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"unix-socket", "unix-socket"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("User-Agent", "probe/1")
		r = r.WithContext(observe.WithRequestID(r.Context(), "rid-1"))
		e := audit.FromRequest(r)
		if e.IP != tc.want || e.UserAgent != "probe/1" || e.RequestID != "rid-1" {
			t.Errorf("FromRequest(%s) = %+v, want IP %s", tc.remote, e, tc.want)
		}
	}
}

func TestRecord(t *testing.T) {
	st := &fakeStore{}
	rec := audit.New(st, nil)
	ctx, cancel := context.WithCancel(observe.WithRequestID(context.Background(), "rid-7"))
	// The client hung up: the entry is still written.
	cancel()
	// é straddles the limit: the cut must not split it.
	long := strings.Repeat("a", audit.MaxUserAgent-1) + "é" + "tail"
	actor := uuid.New()
	rec.Record(ctx, audit.Entry{ActorID: &actor, Action: audit.ActionLogin, Outcome: audit.Failure,
		IP: "192.0.2.1", UserAgent: long, Metadata: map[string]any{"email": "a\x00b@example.com"}})
	rec.Record(ctx, audit.Entry{Action: audit.ActionSignup, UserAgent: "bad \xff\x00 bytes", RequestID: "explicit"})
	if len(st.got) != 2 {
		t.Fatalf("stored %d entries, want 2", len(st.got))
	}
	for _, err := range st.ctxErr {
		if err != nil {
			t.Errorf("the write ran with a done context: %v", err)
		}
	}
	e := st.got[0]
	if e.RequestID != "rid-7" || *e.ActorID != actor || e.Outcome != audit.Failure || e.IP != "192.0.2.1" {
		t.Errorf("entry %+v", e)
	}
	if len(e.UserAgent) != audit.MaxUserAgent-1 || !utf8.ValidString(e.UserAgent) {
		t.Errorf("user agent kept %d bytes (valid UTF-8: %v), want %d", len(e.UserAgent), utf8.ValidString(e.UserAgent), audit.MaxUserAgent-1)
	}
	if bytes.Contains(e.Metadata, []byte(`\u0000`)) || !json.Valid(e.Metadata) {
		t.Errorf("metadata %s keeps a NUL or is not JSON", e.Metadata)
	}
	e = st.got[1]
	if e.RequestID != "explicit" || e.ActorID != nil || e.Outcome != audit.Success || string(e.Metadata) != "{}" {
		t.Errorf("entry %+v", e)
	}
	if !utf8.ValidString(e.UserAgent) || strings.ContainsRune(e.UserAgent, 0) {
		t.Errorf("user agent %q is not clean UTF-8", e.UserAgent)
	}
}

func TestRecordFailureIsLoggedNotReturned(t *testing.T) {
	var logs bytes.Buffer
	rec := audit.New(&fakeStore{err: errors.New("database on fire")}, slog.New(slog.NewJSONHandler(&logs, nil)))
	rec.Record(context.Background(), audit.Entry{Action: audit.ActionAPIKeyCreate, UserAgent: "ua-secret-ish",
		Metadata: map[string]any{"name": "metadata-value"}})
	out := logs.String()
	if !strings.Contains(out, "audit entry not recorded") || !strings.Contains(out, audit.ActionAPIKeyCreate) || !strings.Contains(out, "database on fire") {
		t.Errorf("failure not logged with action and error: %s", out)
	}
	if strings.Contains(out, "metadata-value") || strings.Contains(out, "ua-secret-ish") {
		t.Errorf("the log carries caller-supplied text: %s", out)
	}
}

func TestNilRecorders(t *testing.T) {
	audit.Record(context.Background(), nil, audit.Entry{Action: audit.ActionLogout})
	var rec *audit.StoreRecorder
	audit.Record(context.Background(), rec, audit.Entry{Action: audit.ActionLogout})
}
