package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

const auditUA = "audit-test/1.0 (+https://example.com)"

// auditItems lists the caller's audit entries with the given query (url-encoded pairs).
func auditItems(c *client, query ...string) []map[string]any {
	c.t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(query); i += 2 {
		q.Add(query[i], query[i+1])
	}
	return c.ok(http.StatusOK, "GET", "/api/v1/audit?"+q.Encode(), nil).items(c.t)
}

// findAudit returns the entries with the action and outcome ("" matches any outcome).
func findAudit(items []map[string]any, action, outcome string) []map[string]any {
	var out []map[string]any
	for _, it := range items {
		if it["action"] == action && (outcome == "" || it["outcome"] == outcome) {
			out = append(out, it)
		}
	}
	return out
}

func withTarget(items []map[string]any, id string) []map[string]any {
	var out []map[string]any
	for _, it := range items {
		if it["target_id"] == id {
			out = append(out, it)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func auditActionsOf(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it["action"].(string)
	}
	return out
}

// wantAudit asserts exactly one entry of the request with action and outcome, by actor (nil: anonymous),
// carrying the request's client address, user agent and request id; it returns it.
func wantAudit(t *testing.T, items []map[string]any, action, outcome string, actor any, requestID string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, it := range findAudit(items, action, outcome) {
		if it["request_id"] == requestID {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s/%s entries of request %s, want 1, in %v", len(found), action, outcome, requestID, auditActionsOf(items))
	}
	it := found[0]
	if it["actor_id"] != actor {
		t.Errorf("%s: actor %v, want %v", action, it["actor_id"], actor)
	}
	if it["ip"] != "127.0.0.1" || it["user_agent"] != auditUA || it["request_id"] != requestID {
		t.Errorf("%s: ip %v, user agent %v, request id %v; want 127.0.0.1, %q, %q", action, it["ip"], it["user_agent"], it["request_id"], auditUA, requestID)
	}
	if ts, _ := it["time"].(string); ts == "" {
		t.Errorf("%s: no time: %v", action, it)
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("%s: time %q: %v", action, ts, err)
	}
	if _, ok := it["metadata"].(map[string]any); !ok {
		t.Errorf("%s: metadata is not an object: %v", action, it["metadata"])
	}
	return it
}

func TestAuditTrail(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		ua := header("User-Agent", auditUA)
		rid := func(id string) reqOpt { return header("X-Request-ID", id) }
		anon := e.anon(t)

		// Alice signs up (by hand, to send a user agent and request id), fails a login,
		// logs in, makes and revokes a key, and makes and deletes a project.
		const alicePass = "alice's long password"
		e.secret(alicePass)
		r := anon.ok(http.StatusCreated, "POST", "/api/v1/auth/signup",
			map[string]string{"email": "alice@example.com", "password": alicePass}, ua, rid("req-signup"))
		aliceID := r.body["user"].(map[string]any)["id"].(string)
		anon.ok(http.StatusUnauthorized, "POST", "/api/v1/auth/login",
			map[string]string{"email": "alice@example.com", "password": "wrong password!"}, ua, rid("req-badlogin"))
		anon.ok(http.StatusUnauthorized, "POST", "/api/v1/auth/login",
			map[string]string{"email": "ghost@example.com", "password": "whatever123"}, ua, rid("req-ghost"))
		anon.ok(http.StatusUnauthorized, "POST", "/api/v1/auth/login",
			map[string]string{"email": "hunter2-typed-in-the-wrong-box", "password": "x"}, ua, rid("req-garbled"))
		r = anon.ok(http.StatusOK, "POST", "/api/v1/auth/login",
			map[string]string{"email": "alice@example.com", "password": alicePass}, ua, rid("req-login"))
		alice := &client{e: e, t: t, csrf: r.str("csrf_token"), userID: aliceID}
		for _, ck := range r.cookies {
			if ck.Name == httpapi.SessionCookie {
				alice.cookie = ck.Value
			}
		}
		e.secret(alice.cookie)
		r = alice.ok(http.StatusCreated, "POST", "/api/v1/apikeys", map[string]string{"name": "ci"}, ua, rid("req-key"))
		keyID := r.str("id")
		e.secret(r.str("key"))
		alice.ok(http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+keyID, nil, ua, rid("req-revoke"))
		keep := alice.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "kept", "repo_url": "https://github.com/acme/kept.git"}, ua, rid("req-project")).str("id")
		gone := alice.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "gone", "repo_url": "https://github.com/acme/gone.git"}).str("id")
		alice.ok(http.StatusNoContent, "DELETE", "/api/v1/projects/"+gone, nil, ua, rid("req-delete"))

		// Bob asks for Alice's project: the same 404 as for a missing one, recorded.
		bob := e.signup(t, "bob@example.com", "bob's long password")
		wantProblem(t, bob.do("GET", "/api/v1/projects/"+keep, nil, ua, rid("req-snoop")), http.StatusNotFound, "Bob gets Alice's project")
		wantProblem(t, bob.do("GET", "/api/v1/projects/"+gone, nil), http.StatusNotFound, "Bob gets a deleted project")
		alice.ok(http.StatusNoContent, "POST", "/api/v1/auth/logout", nil, ua, rid("req-logout"))

		// Alice's own view (by a fresh session: the old one ended).
		alice = e.anon(t)
		r = alice.ok(http.StatusOK, "POST", "/api/v1/auth/login", map[string]string{"email": "alice@example.com", "password": alicePass})
		for _, ck := range r.cookies {
			if ck.Name == httpapi.SessionCookie {
				alice.cookie = ck.Value
			}
		}
		alice.csrf = r.str("csrf_token")
		e.secret(alice.cookie)
		own := auditItems(alice)
		wantAudit(t, own, audit.ActionSignup, audit.Success, aliceID, "req-signup")
		bad := wantAudit(t, own, audit.ActionLogin, audit.Failure, aliceID, "req-badlogin")
		if bad["target_id"] != aliceID {
			t.Errorf("failed login target %v, want Alice", bad["target_id"])
		}
		if n := len(findAudit(own, audit.ActionLogin, audit.Success)); n != 2 {
			t.Errorf("Alice has %d successful logins, want 2", n)
		}
		key := wantAudit(t, own, audit.ActionAPIKeyCreate, audit.Success, aliceID, "req-key")
		if key["target_id"] != keyID || key["metadata"].(map[string]any)["name"] != "ci" {
			t.Errorf("apikey.create entry %v", key)
		}
		if k := wantAudit(t, own, audit.ActionAPIKeyRevoke, audit.Success, aliceID, "req-revoke"); k["target_id"] != keyID {
			t.Errorf("apikey.revoke target %v, want %s", k["target_id"], keyID)
		}
		if p := wantAudit(t, withTarget(own, keep), audit.ActionProjectCreate, audit.Success, aliceID, "req-project"); p["target_type"] != "project" {
			t.Errorf("project.create entry %v", p)
		}
		if len(findAudit(own, audit.ActionProjectCreate, "")) != 2 {
			t.Errorf("Alice's project.create entries: %v", auditActionsOf(own))
		}
		if p := wantAudit(t, own, audit.ActionProjectDelete, audit.Success, aliceID, "req-delete"); p["target_id"] != gone {
			t.Errorf("project.delete target %v, want %s", p["target_id"], gone)
		}
		wantAudit(t, own, audit.ActionLogout, audit.Success, aliceID, "req-logout")
		for _, it := range own {
			if it["actor_id"] != aliceID {
				t.Errorf("Alice sees an entry of %v: %v", it["actor_id"], it)
			}
		}
		if strings.Contains(string(alice.ok(http.StatusOK, "GET", "/api/v1/audit", nil).raw), "wrong password!") {
			t.Error("the audit trail holds a password")
		}

		// Bob sees only his own, and not the denied access: it would tell him that the id
		// he tried exists, which the 404 hides.
		bobOwn := auditItems(bob)
		if got := auditActionsOf(bobOwn); !slices.Equal(got, []string{audit.ActionSignup}) {
			t.Errorf("Bob's view %v, want only his signup", got)
		}
		if len(auditItems(bob, "action", audit.ActionAccessDenied)) != 0 {
			t.Error("Bob can list tenant.access_denied entries")
		}
		wantProblem(t, bob.do("GET", "/api/v1/audit?all=true", nil), http.StatusForbidden, "all=true for a non-admin")

		// An administrator sees everything: both users, anonymous entries and the denial.
		u, err := e.app.Auth.Signup(t.Context(), "root@example.com", "Root", "root's long password", true)
		if err != nil {
			t.Fatal(err)
		}
		rootKey, _, err := e.app.Auth.CreateAPIKey(t.Context(), u.ID, "root")
		if err != nil {
			t.Fatal(err)
		}
		e.secret(rootKey)
		root := &client{e: e, t: t, bearer: rootKey, userID: u.ID.String()}
		all := auditItems(root, "all", "true", "limit", "100")
		actors := map[any]bool{}
		for _, it := range all {
			actors[it["actor_id"]] = true
		}
		if !actors[aliceID] || !actors[bob.userID] || !actors[nil] {
			t.Errorf("admin's all=true view has actors %v; want Alice, Bob and anonymous", actors)
		}
		ghost := wantAudit(t, all, audit.ActionLogin, audit.Failure, nil, "req-ghost")
		if ghost["metadata"].(map[string]any)["email"] != "ghost@example.com" {
			t.Errorf("unknown-email login entry %v", ghost)
		}
		garbled := wantAudit(t, all, audit.ActionLogin, audit.Failure, nil, "req-garbled")
		if strings.Contains(mustJSON(t, garbled), "hunter2") {
			t.Errorf("a malformed email was recorded verbatim: %v", garbled)
		}
		denied := findAudit(all, audit.ActionAccessDenied, audit.Denied)
		if len(denied) != 1 {
			t.Fatalf("%d tenant.access_denied entries, want 1 (the deleted project is a plain miss): %v", len(denied), auditActionsOf(all))
		}
		d := wantAudit(t, denied, audit.ActionAccessDenied, audit.Denied, bob.userID, "req-snoop")
		if d["target_type"] != "project" || d["target_id"] != keep {
			t.Errorf("denial entry %v, want target project %s", d, keep)
		}
		if strings.Contains(mustJSON(t, d), aliceID) {
			t.Errorf("the denial entry names the owner: %v", d)
		}
		if own := auditItems(root); len(own) != 0 {
			t.Errorf("the admin's own view has %v, want nothing (the admin did nothing over HTTP)", auditActionsOf(own))
		}

		// Filters: action (repeatable), time, and the cursor.
		logins := auditItems(root, "all", "true", "action", audit.ActionLogin)
		if len(logins) != 5 {
			t.Errorf("action=user.login: %d entries, want 5 (3 failed, 2 succeeded): %v", len(logins), logins)
		}
		two := auditItems(alice, "action", audit.ActionProjectCreate, "action", audit.ActionProjectDelete)
		if got := auditActionsOf(two); !slices.Equal(got, []string{audit.ActionProjectDelete, audit.ActionProjectCreate, audit.ActionProjectCreate}) {
			t.Errorf("two actions: %v", got)
		}
		mid := own[len(own)/2]["time"].(string)
		newer := auditItems(alice, "since", mid)
		older := auditItems(alice, "until", mid)
		if len(newer)+len(older) != len(own) || len(newer) == 0 || len(older) == 0 {
			t.Errorf("since/until %s split %d entries into %d and %d", mid, len(own), len(newer), len(older))
		}
		if len(auditItems(alice, "since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))) != 0 {
			t.Error("since an hour from now returns entries")
		}
		var walked []string
		cursor := ""
		for range len(own) + 1 {
			path := "/api/v1/audit?limit=3"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			page := alice.ok(http.StatusOK, "GET", path, nil)
			walked = append(walked, page.ids(t)...)
			if cursor = page.str("next_cursor"); cursor == "" {
				break
			}
		}
		var ownIDs []string
		for _, it := range own {
			ownIDs = append(ownIDs, it["id"].(string))
		}
		if !slices.Equal(walked, ownIDs) {
			t.Errorf("pages of 3 walked %v, want %v", walked, ownIDs)
		}
		for _, q := range []string{"since=yesterday", "until=2025-13-01T00:00:00Z", "all=maybe", "limit=0", "cursor=x", "action="} {
			wantProblem(t, alice.do("GET", "/api/v1/audit?"+q, nil), http.StatusBadRequest, q)
		}
	})
}

func TestAuditLLMRateLimit(t *testing.T) {
	forEachDialectLLM(t, map[string]string{"VIBECODER_LLM_RPM": "1"}, nil, func(t *testing.T, e *llmEnv) {
		c := e.llmUser(t, "limited")
		c.ok(http.StatusOK, "POST", "/llm/generate", generateBody("one"))
		for range 3 { // a client retrying in a loop is recorded once
			wantProblem(t, c.do("POST", "/llm/generate", generateBody("two")), http.StatusTooManyRequests, "second call")
		}
		r := c.do("POST", "/v1/chat/completions", chatBody("three"))
		wantOpenAIError(t, r, http.StatusTooManyRequests, "rate_limit_error", "openai-compatible")
		got := findAudit(auditItems(c), audit.ActionRateLimited, audit.Denied)
		if len(got) != 1 {
			t.Fatalf("%d llm.rate_limited entries, want 1 (throttled)", len(got))
		}
		if got[0]["actor_id"] != c.userID || got[0]["metadata"].(map[string]any)["route"] != "POST /llm/generate" {
			t.Errorf("llm.rate_limited entry %v", got[0])
		}
	})
}

func TestAuditLLMBudget(t *testing.T) {
	// Each answer costs $0.003, so a $0.005 budget refuses the second or third call.
	expensive := func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Chunks: fakeChunks, Usage: &llmtest.Usage{PromptTokens: 10, CompletionTokens: 5000}}
	}
	forEachDialectLLM(t, map[string]string{"VIBECODER_LLM_MONTHLY_BUDGET_USD": "0.005"}, expensive, func(t *testing.T, e *llmEnv) {
		c := e.llmUser(t, "spender")
		refused := false
		for i := range 10 {
			r := c.do("POST", "/v1/chat/completions", chatBody("question "+string(rune('a'+i))))
			if r.status == http.StatusPaymentRequired {
				refused = true
				break
			}
		}
		if !refused {
			t.Fatal("the budget never refused a call")
		}
		got := findAudit(auditItems(c), audit.ActionBudgetExceeded, audit.Denied)
		if len(got) != 1 || got[0]["actor_id"] != c.userID {
			t.Fatalf("llm.budget_exceeded entries %v, want 1 of the caller", got)
		}
	})
}
