// Package audit records security-relevant actions in the store's append-only audit
// trail: who (the actor), did what (the action), to which resource (the target), with
// what outcome, from where (IP, user agent) and under which request id.
//
// Actions and their outcomes:
//
//	user.signup           an account was created through the API
//	user.login            a password login: success, or failure (actor nil for an unknown email)
//	user.logout           a session was ended
//	apikey.create         an API key was created (never the key itself)
//	apikey.revoke         an API key was revoked
//	project.create        a project was created
//	project.delete        a project and everything in it was deleted
//	task.run              an execution of a task was started
//	codegen.finish        the coder agent's step ended: success, or failure
//	git.push              an execution's branch was pushed
//	pr.open               a pull request was opened
//	llm.rate_limited      an LLM call was refused by a rate limit (denied)
//	llm.budget_exceeded   an LLM call was refused by the monthly budget (denied)
//	tenant.access_denied  a request named another tenant's resource (denied; it was answered 404)
//	admin.user_create     the command line created an account
//	admin.apikey_create   the command line created an API key for a user
//	admin.user_limits     the command line set or cleared a user's LLM limits
//
// Recording never fails the action it records: a write that fails is logged (without
// metadata, user agent or any other caller-supplied text) and dropped.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Actions.
const (
	ActionSignup         = "user.signup"
	ActionLogin          = "user.login"
	ActionLogout         = "user.logout"
	ActionAPIKeyCreate   = "apikey.create"
	ActionAPIKeyRevoke   = "apikey.revoke"
	ActionProjectCreate  = "project.create"
	ActionProjectDelete  = "project.delete"
	ActionTaskRun        = "task.run"
	ActionCodegenFinish  = "codegen.finish"
	ActionGitPush        = "git.push"
	ActionPROpen         = "pr.open"
	ActionRateLimited    = "llm.rate_limited"
	ActionBudgetExceeded = "llm.budget_exceeded"
	ActionAccessDenied   = "tenant.access_denied"
	ActionAdminUser      = "admin.user_create"
	ActionAdminAPIKey    = "admin.apikey_create"
	ActionAdminLimits    = "admin.user_limits"
)

// Outcomes, as the store spells them.
const (
	Success = store.OutcomeSuccess
	Failure = store.OutcomeFailure
	Denied  = store.OutcomeDenied
)

// MaxUserAgent is how much of a user agent is kept, in bytes.
const MaxUserAgent = 512

// Entry is an action to record. Empty Outcome means Success; empty RequestID is taken
// from the context.
type Entry struct {
	ActorID    *uuid.UUID // nil: anonymous
	Action     string
	TargetType string
	TargetID   string
	Outcome    string
	IP         string
	UserAgent  string
	RequestID  string
	// Metadata is stored as a JSON object. Never put a secret in it: the trail is
	// readable by its actor and by administrators.
	Metadata map[string]any
}

// Recorder records audit entries. Record never fails the caller; implementations
// report their own failures.
type Recorder interface {
	Record(ctx context.Context, e Entry)
}

// Record records e with rec, which may be nil (nothing is recorded).
func Record(ctx context.Context, rec Recorder, e Entry) {
	if rec != nil {
		rec.Record(ctx, e)
	}
}

// Actor returns a pointer to id, for Entry.ActorID.
func Actor(id uuid.UUID) *uuid.UUID { return &id }

// FromRequest returns an entry carrying r's client address (ClientIP), user agent
// and request id.
func FromRequest(r *http.Request) Entry {
	return Entry{IP: ClientIP(r), UserAgent: r.UserAgent(), RequestID: observe.RequestID(r.Context())}
}

// ClientIP is the address a request came from, as the server records it everywhere
// (audit entries, sessions, the failed-login limit): the host of RemoteAddr. Proxy
// headers such as X-Forwarded-For are not trusted: any client can send them.
func ClientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Store is where a StoreRecorder writes.
type Store interface {
	AppendAudit(ctx context.Context, e *store.AuditEntry) error
}

// StoreRecorder writes entries to the store, synchronously: when Record returns the
// entry is stored (or its failure logged).
type StoreRecorder struct {
	st      Store
	log     *slog.Logger
	timeout time.Duration
}

var _ Recorder = (*StoreRecorder)(nil)

// New returns a recorder over st that logs its failures to log.
func New(st Store, log *slog.Logger) *StoreRecorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &StoreRecorder{st: st, log: log, timeout: 5 * time.Second}
}

// Record implements Recorder. The write outlives a cancelled request (a client that
// hangs up after a failed login is still recorded), bounded by a timeout; it keeps
// the context's values, so inside an InTx context it joins that transaction.
func (r *StoreRecorder) Record(ctx context.Context, e Entry) {
	if r == nil {
		return
	}
	if e.RequestID == "" {
		e.RequestID = observe.RequestID(ctx)
	}
	row := &store.AuditEntry{
		ActorID:    e.ActorID,
		Action:     clean(e.Action, store.MaxAuditActionLen),
		TargetType: clean(e.TargetType, store.MaxAuditFieldLen),
		TargetID:   clean(e.TargetID, store.MaxAuditFieldLen),
		Outcome:    e.Outcome,
		IP:         clean(e.IP, store.MaxAuditFieldLen),
		UserAgent:  clean(e.UserAgent, MaxUserAgent),
		RequestID:  clean(e.RequestID, store.MaxAuditFieldLen),
	}
	if len(e.Metadata) > 0 {
		meta, err := json.Marshal(e.Metadata)
		if err != nil || len(meta) > store.MaxAuditMetadataLen {
			meta = []byte(`{"metadata_dropped":true}`)
		}
		// PostgreSQL's jsonb refuses the NUL character.
		meta = bytes.ReplaceAll(meta, []byte(`\u0000`), []byte(`\ufffd`))
		row.Metadata = meta
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.st.AppendAudit(wctx, row); err != nil {
		attrs := []slog.Attr{slog.String("action", row.Action), slog.String("outcome", row.Outcome),
			slog.String("request_id", row.RequestID), slog.Any("error", err)}
		if row.ActorID != nil {
			attrs = append(attrs, slog.String("actor_id", row.ActorID.String()))
		}
		r.log.LogAttrs(ctx, slog.LevelError, "audit entry not recorded", attrs...)
	}
}

// clean makes s valid UTF-8 without NUL (which PostgreSQL's text refuses) of at most
// max bytes, cut at a character boundary.
func clean(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
