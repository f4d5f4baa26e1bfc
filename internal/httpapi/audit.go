package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// auditor is the HTTP layer's side of the audit trail: the recorder, and a throttle for
// refusals a client can repeat at will (a rate-limited client retrying in a loop must
// not turn every refused call into a database write).
type auditor struct {
	rec audit.Recorder

	mu   sync.Mutex
	last map[string]time.Time // throttle key → when last recorded
}

// limitAuditEvery is how often, at most, one user's LLM limit refusals of one kind are
// recorded by one process.
const limitAuditEvery = 10 * time.Second

func newAuditor(rec audit.Recorder) *auditor {
	return &auditor{rec: rec, last: map[string]time.Time{}}
}

// allow reports whether an entry under key may be recorded now.
func (a *auditor) allow(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.last[key]; ok && now.Sub(t) < limitAuditEvery {
		return false
	}
	if len(a.last) > 10_000 {
		for k, t := range a.last {
			if now.Sub(t) >= limitAuditEvery {
				delete(a.last, k)
			}
		}
	}
	a.last[key] = now
	return true
}

// record writes an audit entry for the request: its client IP, user agent and request
// id, and the signed-in caller as the actor unless e names one.
func (s *Server) record(r *http.Request, e audit.Entry) {
	from := audit.FromRequest(r)
	e.IP, e.UserAgent, e.RequestID = from.IP, from.UserAgent, from.RequestID
	if e.ActorID == nil {
		if u := userFrom(r.Context()); u != nil {
			e.ActorID = audit.Actor(u.ID)
		}
	}
	audit.Record(r.Context(), s.audit.rec, e)
}

// ownedError answers a store error about the resource kind/id exactly as storeError
// does. When the answer is a 404, it first checks whether the row exists under another
// tenant and, if so, records tenant.access_denied; the answer stays the same 404.
func (s *Server) ownedError(w http.ResponseWriter, r *http.Request, what, kind, id string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.auditForeign(r, kind, id)
	}
	s.storeError(w, r, what, err)
}

// auditForeign records tenant.access_denied when the signed-in caller asked for a
// resource that exists and belongs to someone else. The owner is not recorded: the
// caller must learn nothing about the row (the entry is shown to administrators only).
func (s *Server) auditForeign(r *http.Request, kind, id string) {
	u := userFrom(r.Context())
	if u == nil {
		return
	}
	owner, found, err := s.store.ResourceOwner(r.Context(), kind, id)
	if err != nil {
		s.log.WarnContext(r.Context(), "look up a resource's owner for the audit trail",
			slog.String("request_id", observe.RequestID(r.Context())), slog.String("kind", kind), slog.Any("error", err))
		return
	}
	if !found || owner == u.ID {
		return
	}
	s.record(r, audit.Entry{Action: audit.ActionAccessDenied, TargetType: kind, TargetID: id, Outcome: audit.Denied,
		Metadata: map[string]any{"method": r.Method, "route": r.Pattern}})
}

// recordLimit records an LLM call refused by a rate limit or the budget, at most once
// per user, kind and limitAuditEvery in this process.
func (s *Server) recordLimit(r *http.Request, err error) {
	var le *gateway.LimitError
	u := userFrom(r.Context())
	if !errors.As(err, &le) || u == nil || le.Err == nil {
		return
	}
	action := audit.ActionRateLimited
	if le.Limit == nil {
		action = audit.ActionBudgetExceeded
	}
	if !s.audit.allow(action+":"+u.ID.String(), time.Now()) {
		return
	}
	meta := map[string]any{"route": r.Pattern, "type": le.Err.Type, "message": le.Err.Message}
	if le.Err.RetryAfter > 0 {
		meta["retry_after_s"] = le.Err.RetryAfter.Seconds()
	}
	s.record(r, audit.Entry{Action: action, TargetType: "llm", Outcome: audit.Denied, Metadata: meta})
}

// adminOnlyActions are hidden from a user's own view of the trail. A denied access is
// recorded against the user who tried, but showing it to them would tell them that
// the id they tried exists — exactly what the 404 hides.
var adminOnlyActions = []string{audit.ActionAccessDenied}

// MaxAuditActions bounds how many action= filters one query may carry.
const MaxAuditActions = 20

type auditView struct {
	ID         uuid.UUID      `json:"id"`
	Time       time.Time      `json:"time"`
	ActorID    *uuid.UUID     `json:"actor_id"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	Outcome    string         `json:"outcome"`
	IP         string         `json:"ip"`
	UserAgent  string         `json:"user_agent"`
	RequestID  string         `json:"request_id"`
	Metadata   map[string]any `json:"metadata"`
}

func viewAudit(e store.AuditEntry) auditView {
	v := auditView{ID: e.ID, Time: e.CreatedAt, ActorID: e.ActorID, Action: e.Action, TargetType: e.TargetType,
		TargetID: e.TargetID, Outcome: e.Outcome, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID}
	if err := json.Unmarshal(e.Metadata, &v.Metadata); err != nil || v.Metadata == nil {
		v.Metadata = map[string]any{}
	}
	return v
}

// listAudit answers GET /api/v1/audit?action=&since=&until=&cursor=&limit=&all=:
// the caller's own audit entries newest first, or, with all=true, everyone's (for
// administrators only). action may repeat; since (inclusive) and until (exclusive)
// are RFC 3339 times.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	q := r.URL.Query()
	p, ok := s.page(w, r)
	if !ok {
		return
	}
	f := store.AuditFilter{ActorID: u.ID, Before: p.After}
	switch q.Get("all") {
	case "", "false":
	case "true":
		if !u.IsAdmin {
			s.problem(w, r, http.StatusForbidden, "Forbidden", "all=true is for administrators; without it you see your own entries")
			return
		}
		f.ActorID = uuid.Nil
	default:
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "all must be true or false")
		return
	}
	actions := q["action"]
	if len(actions) > MaxAuditActions {
		s.problem(w, r, http.StatusBadRequest, "Bad Request", fmt.Sprintf("at most %d action filters", MaxAuditActions))
		return
	}
	for _, a := range actions {
		if a == "" || len(a) > store.MaxAuditActionLen {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", "action must be an action name such as user.login")
			return
		}
	}
	f.Actions = actions
	if !u.IsAdmin {
		f.ExcludeActions = adminOnlyActions
	}
	for _, bound := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		raw := q.Get(bound.name)
		if raw == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", bound.name+" must be an RFC 3339 time such as 2025-01-02T15:04:05Z")
			return
		}
		*bound.dst = t
	}
	out, err := listPage(p, func(p store.Page) ([]store.AuditEntry, error) {
		f.Before, f.Limit = p.After, p.Limit
		return s.store.ListAudit(r.Context(), f)
	}, func(e store.AuditEntry) uuid.UUID { return e.ID }, viewAudit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// loginFailed records a refused password login: against the account when the email
// names one (its owner sees the attempt), anonymously otherwise. An unknown email is
// kept only when it is a well-formed address: free text in the email field may be a
// password typed into the wrong box.
func (s *Server) loginFailed(r *http.Request, email string) {
	e := audit.Entry{Action: audit.ActionLogin, Outcome: audit.Failure, TargetType: "user"}
	email = auth.NormalizeEmail(email)
	if auth.ValidateEmail(email) != nil {
		e.Metadata = map[string]any{"reason": "malformed email"}
		s.record(r, e)
		return
	}
	u, err := s.store.GetUserByEmail(r.Context(), email)
	switch {
	case err == nil:
		e.ActorID, e.TargetID = audit.Actor(u.ID), u.ID.String()
	case errors.Is(err, store.ErrNotFound):
		e.Metadata = map[string]any{"reason": "unknown email", "email": email}
	default:
		s.log.WarnContext(r.Context(), "look up a failed login's account for the audit trail",
			slog.String("request_id", observe.RequestID(r.Context())), slog.Any("error", err))
	}
	s.record(r, e)
}
