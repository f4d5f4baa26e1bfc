package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// sameJSON reports whether two JSON documents are equal as values (PostgreSQL's jsonb
// does not keep the text as written).
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("stored metadata %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("metadata %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func auditActions(list []store.AuditEntry) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Action
	}
	return out
}

// testAudit runs the audit trail's cases in order on one store (the first needs it empty).
func testAudit(t *testing.T, s store.Store, exec Exec) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AppendAndList", testAuditAppendList},
		{"AppendOnly", func(t *testing.T, s store.Store) { testAuditAppendOnly(t, s, exec) }},
		{"InTx", testAuditInTx},
		{"ResourceOwner", testResourceOwner},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

// testAuditAppendList: entries round-trip with every field, defaults are filled, bad entries are
// refused, and every filter, the cursor and the limit work.
func testAuditAppendList(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	auditReadBack(t, s, a, b)
	// Filters and pagination over a longer history of b's.
	base, ids := appendAuditHistory(t, s, b)
	auditFilters(t, s, b, base, ids)
	auditPages(t, s, b, ids)
}

// auditReadBack: a's entry round-trips with every field, an anonymous entry and one
// with defaults go in, bad entries are refused; all are listed newest first, and b
// sees none.
func auditReadBack(t *testing.T, s store.Store, a, b *store.User) {
	full := &store.AuditEntry{ActorID: &a.ID, Action: "project.create", TargetType: "project", TargetID: store.NewID().String(),
		Outcome: store.OutcomeSuccess, IP: "192.0.2.7", UserAgent: "curl/8.5", RequestID: "req-1",
		Metadata: json.RawMessage(`{"name": "demo", "n": 2}`)}
	must(t, s.AppendAudit(ctx(t), full))
	if full.ID == uuid.Nil || full.CreatedAt.IsZero() {
		t.Fatalf("AppendAudit did not set id and time: %+v", full)
	}
	got, err := s.ListAudit(ctx(t), store.AuditFilter{ActorID: a.ID})
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("ListAudit(a) = %d entries, want 1", len(got))
	}
	g := got[0]
	if !sameJSON(t, g.Metadata, full.Metadata) {
		t.Errorf("metadata = %s, want %s", g.Metadata, full.Metadata)
	}
	g.Metadata, full.Metadata = nil, nil
	if !reflect.DeepEqual(g, *full) {
		t.Errorf("read back %+v\nwant        %+v", g, *full)
	}

	anon := &store.AuditEntry{Action: "user.login", Outcome: store.OutcomeFailure, Metadata: json.RawMessage(`{"reason":"unknown email"}`)}
	must(t, s.AppendAudit(ctx(t), anon))
	nilActor := uuid.Nil
	defaults := &store.AuditEntry{ActorID: &nilActor, Action: "admin.user_create"}
	must(t, s.AppendAudit(ctx(t), defaults))
	if defaults.ActorID != nil || defaults.Outcome != store.OutcomeSuccess || string(defaults.Metadata) != "{}" {
		t.Errorf("defaults not filled: actor %v, outcome %q, metadata %s", defaults.ActorID, defaults.Outcome, defaults.Metadata)
	}
	for name, bad := range map[string]store.AuditEntry{
		"no action":         {ActorID: &a.ID},
		"unknown outcome":   {ActorID: &a.ID, Action: "x", Outcome: "maybe"},
		"metadata array":    {ActorID: &a.ID, Action: "x", Metadata: json.RawMessage(`[1]`)},
		"metadata not json": {ActorID: &a.ID, Action: "x", Metadata: json.RawMessage(`{`)},
	} {
		if err := s.AppendAudit(ctx(t), &bad); err == nil {
			t.Errorf("AppendAudit(%s) succeeded", name)
		}
	}

	all, err := s.ListAudit(ctx(t), store.AuditFilter{})
	must(t, err)
	if want := []string{"admin.user_create", "user.login", "project.create"}; !reflect.DeepEqual(auditActions(all), want) {
		t.Fatalf("ListAudit(all) = %v, want %v (newest first)", auditActions(all), want)
	}
	if all[1].ActorID != nil || all[1].Outcome != store.OutcomeFailure {
		t.Errorf("anonymous entry read back as %+v", all[1])
	}
	if got, _ := s.ListAudit(ctx(t), store.AuditFilter{ActorID: b.ID}); len(got) != 0 {
		t.Errorf("b sees %d entries, want none", len(got))
	}
}

// appendAuditHistory appends six entries of b's an hour apart from base, logins and
// key creations in turn, and returns base and their ids, oldest first.
func appendAuditHistory(t *testing.T, s store.Store, b *store.User) (time.Time, []uuid.UUID) {
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var ids []uuid.UUID
	for i := range 6 {
		action := "user.login"
		if i%2 == 1 {
			action = "apikey.create"
		}
		e := &store.AuditEntry{ActorID: &b.ID, Action: action, CreatedAt: base.Add(time.Duration(i) * time.Hour),
			Metadata: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)}
		must(t, s.AppendAudit(ctx(t), e))
		ids = append(ids, e.ID)
	}
	return base, ids
}

// auditFilters: every filter over b's history (and the anonymous login of
// auditReadBack), the cursor and the limit.
func auditFilters(t *testing.T, s store.Store, b *store.User, base time.Time, ids []uuid.UUID) {
	count := func(f store.AuditFilter) int {
		t.Helper()
		got, err := s.ListAudit(ctx(t), f)
		must(t, err)
		for _, e := range got {
			if f.ActorID != uuid.Nil && (e.ActorID == nil || *e.ActorID != f.ActorID) {
				t.Fatalf("filter %+v returned an entry of %v", f, e.ActorID)
			}
		}
		return len(got)
	}
	for name, tc := range map[string]struct {
		f    store.AuditFilter
		want int
	}{
		"actor":              {store.AuditFilter{ActorID: b.ID}, 6},
		"one action":         {store.AuditFilter{ActorID: b.ID, Actions: []string{"apikey.create"}}, 3},
		"two actions":        {store.AuditFilter{ActorID: b.ID, Actions: []string{"apikey.create", "user.login"}}, 6},
		"action, all actors": {store.AuditFilter{Actions: []string{"user.login"}}, 4},
		"unknown action":     {store.AuditFilter{ActorID: b.ID, Actions: []string{"nope"}}, 0},
		"excluded action":    {store.AuditFilter{ActorID: b.ID, ExcludeActions: []string{"user.login", "nope"}}, 3},
		"kept and excluded":  {store.AuditFilter{ActorID: b.ID, Actions: []string{"user.login"}, ExcludeActions: []string{"user.login"}}, 0},
		"since (inclusive)":  {store.AuditFilter{ActorID: b.ID, Since: base.Add(2 * time.Hour)}, 4},
		"until (exclusive)":  {store.AuditFilter{ActorID: b.ID, Until: base.Add(2 * time.Hour)}, 2},
		"window":             {store.AuditFilter{ActorID: b.ID, Since: base.Add(time.Hour), Until: base.Add(4 * time.Hour)}, 3},
		"window and action":  {store.AuditFilter{ActorID: b.ID, Actions: []string{"user.login"}, Since: base.Add(time.Hour), Until: base.Add(5 * time.Hour)}, 2},
		"before cursor":      {store.AuditFilter{ActorID: b.ID, Before: ids[2]}, 2},
		"limit":              {store.AuditFilter{ActorID: b.ID, Limit: 4}, 4},
	} {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: %d entries, want %d", name, got, tc.want)
		}
	}
}

// auditPages: walking pages of two yields every entry once, newest first.
func auditPages(t *testing.T, s store.Store, b *store.User, ids []uuid.UUID) {
	var walked []uuid.UUID
	cursor := uuid.Nil
	for range 10 {
		page, err := s.ListAudit(ctx(t), store.AuditFilter{ActorID: b.ID, Before: cursor, Limit: 2})
		must(t, err)
		for _, e := range page {
			walked = append(walked, e.ID)
		}
		if len(page) < 2 {
			break
		}
		cursor = page[len(page)-1].ID
	}
	want := []uuid.UUID{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}
	if !reflect.DeepEqual(walked, want) {
		t.Errorf("pages walked %v, want %v", walked, want)
	}
}

// testAuditAppendOnly: the database itself refuses to change or remove an entry, even
// for a statement that bypasses the store, and the entry survives.
func testAuditAppendOnly(t *testing.T, s store.Store, exec Exec) {
	u := newUser(t, s)
	e := &store.AuditEntry{ActorID: &u.ID, Action: "user.signup", TargetType: "user", TargetID: u.ID.String()}
	must(t, s.AppendAudit(ctx(t), e))
	for _, q := range []string{
		"UPDATE audit_log SET outcome = 'failure'",
		"UPDATE audit_log SET actor_id = NULL",
		"DELETE FROM audit_log",
	} {
		err := exec(ctx(t), s, u.ID, q)
		if err == nil {
			t.Errorf("%s: succeeded on the append-only audit log", q)
		}
	}
	got, err := s.ListAudit(ctx(t), store.AuditFilter{ActorID: u.ID})
	must(t, err)
	if len(got) != 1 || got[0].ID != e.ID || got[0].Outcome != store.OutcomeSuccess {
		t.Fatalf("after refused changes the log holds %+v, want the one entry unchanged", got)
	}
}

// testAuditInTx: an entry written with InTx's context commits or rolls back with it.
func testAuditInTx(t *testing.T, s store.Store) {
	u := newUser(t, s)
	kept := &store.AuditEntry{ActorID: &u.ID, Action: "test.intx.kept"}
	anon := &store.AuditEntry{Action: "test.intx.anonymous", Outcome: store.OutcomeFailure}
	must(t, s.InTx(ctx(t), u.ID, func(ctx context.Context) error {
		if err := s.AppendAudit(ctx, kept); err != nil {
			return err
		}
		return s.AppendAudit(ctx, anon)
	}))
	rolled := &store.AuditEntry{ActorID: &u.ID, Action: "test.intx.rolled_back"}
	_ = s.InTx(ctx(t), u.ID, func(ctx context.Context) error {
		if err := s.AppendAudit(ctx, rolled); err != nil {
			t.Fatalf("AppendAudit in InTx: %v", err)
		}
		return context.Canceled
	})
	got, err := s.ListAudit(ctx(t), store.AuditFilter{Actions: []string{kept.Action, anon.Action, rolled.Action}})
	must(t, err)
	if want := []string{anon.Action, kept.Action}; !reflect.DeepEqual(auditActions(got), want) {
		t.Fatalf("after a commit and a rollback the log holds %v, want %v", auditActions(got), want)
	}
}

// testResourceOwner: the owner of each kind of resource is found across tenants; a
// missing or malformed id is not found; an unknown kind is an error.
func testResourceOwner(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	p := newProject(t, s, a)
	tk := newTask(t, s, p)
	e := newExecution(t, s, tk)
	ag := &store.Agent{UserID: a.ID, Name: "r", Role: store.RoleReviewer}
	must(t, s.CreateAgent(ctx(t), ag))
	must(t, s.CreateJobRef(ctx(t), &store.JobRef{JobID: 777, UserID: a.ID, ProjectID: p.ID, Kind: "index"}))
	newProject(t, s, b) // another tenant's rows must not confuse the lookup

	for kind, id := range map[string]string{
		store.ResourceProject:   p.ID.String(),
		store.ResourceTask:      tk.ID.String(),
		store.ResourceAgent:     ag.ID.String(),
		store.ResourceExecution: e.ID.String(),
		store.ResourceJob:       "777",
	} {
		owner, found, err := s.ResourceOwner(ctx(t), kind, id)
		if err != nil || !found || owner != a.ID {
			t.Errorf("ResourceOwner(%s %s) = %s, %v, %v; want %s", kind, id, owner, found, err, a.ID)
		}
	}
	for kind, id := range map[string]string{
		store.ResourceProject:   store.NewID().String(),
		store.ResourceTask:      p.ID.String(), // a project's id is no task's
		store.ResourceAgent:     "not-a-uuid",
		store.ResourceExecution: "",
		store.ResourceJob:       "778",
	} {
		owner, found, err := s.ResourceOwner(ctx(t), kind, id)
		if err != nil || found || owner != uuid.Nil {
			t.Errorf("ResourceOwner(%s %q) = %s, %v, %v; want not found", kind, id, owner, found, err)
		}
	}
	for _, id := range []string{"-1", "0", "x", "99999999999999999999"} {
		if _, found, err := s.ResourceOwner(ctx(t), store.ResourceJob, id); err != nil || found {
			t.Errorf("ResourceOwner(job %q) = %v, %v; want not found", id, found, err)
		}
	}
	if _, _, err := s.ResourceOwner(ctx(t), "apikey", store.NewID().String()); err == nil {
		t.Error("ResourceOwner of an unknown kind succeeded")
	}
	// The lookup leaves tenant reads as they were.
	if _, err := s.GetProject(ctx(t), b.ID, p.ID); err == nil {
		t.Error("after ResourceOwner, b reads a's project")
	}
}
