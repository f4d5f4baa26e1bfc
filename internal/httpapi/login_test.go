package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/ratelimit"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/testutil"
	"github.com/vibecoder/vibecoder/internal/web"
)

// loginServer is the API and the dashboard as production assembles them, over an auth
// service the test configures (its clock, its limiter, its hashing hook).
type loginServer struct {
	st   store.Store
	auth *auth.Service
	srv  *httptest.Server
}

func newLoginStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "vibecoder.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newLoginServer(t *testing.T, st store.Store, cfg auth.Config) *loginServer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	svc, err := auth.New(st, log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := httpapi.New(st, svc, observe.NewHealth(st.Dialect(), st.Ping, nil), log, httpapi.Config{})
	web.New(st, svc, log, web.Config{}).Register(s.Handle)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &loginServer{st: st, auth: svc, srv: srv}
}

// addUsers creates accounts with one precomputed hash of password, so a test can
// have many accounts without hashing for each.
func (ls *loginServer) addUsers(t *testing.T, password string, p auth.Argon2Params, emails ...string) {
	t.Helper()
	hash, err := auth.HashPassword(password, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range emails {
		if err := ls.st.CreateUser(t.Context(), &store.User{Email: e, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
}

// from returns an HTTP client whose connections come from the loopback address ip
// (127.0.0.2 and so on), so the server sees a different client address.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64},
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, c *http.Client, req *http.Request) answer {
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return answer{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: string(b)}
}

// apiLogin posts to POST /api/v1/auth/login.
func (ls *loginServer) apiLogin(t *testing.T, c *http.Client, email, password string) answer {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", ls.srv.URL+"/api/v1/auth/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	return send(t, c, req)
}

var formCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// formLogin logs in through the dashboard's form, as a browser does.
func (ls *loginServer) formLogin(t *testing.T, c *http.Client, email, password, next string) answer {
	t.Helper()
	page := send(t, c, mustRequest(t, "GET", ls.srv.URL+"/login", ""))
	m := formCSRF.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no csrf_token in the login page:\n%s", page.body)
	}
	form := url.Values{"csrf_token": {m[1]}, "email": {email}, "password": {password}, "next": {next}}
	req := mustRequest(t, "POST", ls.srv.URL+"/login", form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, c, req)
}

func mustRequest(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// wantRefusal asserts a problem+json answer with status and a Retry-After of whole
// seconds in [1, most].
func wantRefusal(t *testing.T, a answer, status, most int, what string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, a.status, status, a.body)
	}
	if mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type")); mt != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", what, a.header.Get("Content-Type"))
	}
	var p httpapi.Problem
	if err := json.Unmarshal([]byte(a.body), &p); err != nil || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Fatalf("%s: problem %+v (%v): %s", what, p, err, a.body)
	}
	wantRetryAfter(t, a, most, what)
}

func wantRetryAfter(t *testing.T, a answer, most int, what string) {
	t.Helper()
	n, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || n < 1 || n > most {
		t.Fatalf("%s: Retry-After %q, want whole seconds in [1, %d]", what, a.header.Get("Retry-After"), most)
	}
}

// TestConcurrentLoginsBounded sends 40 logins at once with two hashing slots. First
// with both slots held by the hashing hook: the other 38 wait their short while and
// are refused 503 with Retry-After. Then 40 more with real argon2id at the production
// cost: every answer is 200 or 503, never anything else, and no more than two
// passwords are ever hashed at once.
func TestConcurrentLoginsBounded(t *testing.T) {
	release := make(chan struct{})
	var inHook, mostInHook atomic.Int64
	ls := newLoginServer(t, newLoginStore(t), auth.Config{
		Argon2:          auth.DefaultArgon2,
		HashConcurrency: 2,
		HashWait:        200 * time.Millisecond,
		AddressLimit:    ratelimit.Limit{Rate: 1000, Period: time.Minute},
		BeforeHash: func() {
			n := inHook.Add(1)
			for m := mostInHook.Load(); n > m && !mostInHook.CompareAndSwap(m, n); m = mostInHook.Load() {
			}
			<-release
			inHook.Add(-1)
		},
	})
	const password = "the right password"
	emails := make([]string, 80)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%02d@example.com", i)
	}
	ls.addUsers(t, password, auth.DefaultArgon2, emails...)
	c := from("127.0.0.1")

	burst := func(emails []string, onAnswer func(answer)) map[int]int {
		var wg sync.WaitGroup
		answers := make(chan answer, len(emails))
		start := make(chan struct{})
		for _, e := range emails {
			wg.Go(func() {
				<-start
				a := ls.apiLogin(t, c, e, password)
				onAnswer(a)
				answers <- a
			})
		}
		close(start)
		wg.Wait()
		close(answers)
		count := map[int]int{}
		for a := range answers {
			count[a.status]++
			switch a.status {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				wantRefusal(t, a, http.StatusServiceUnavailable, 1, "login while every hashing slot is busy")
			default:
				t.Errorf("login answered %d, want 200 or 503: %s", a.status, a.body)
			}
		}
		return count
	}

	var busy atomic.Int64
	count := burst(emails[:40], func(a answer) {
		if a.status == http.StatusServiceUnavailable && busy.Add(1) == 38 {
			close(release) // every request but the two hashing ones has been answered
		}
	})
	if count[http.StatusOK] != 2 || count[http.StatusServiceUnavailable] != 38 {
		t.Fatalf("with the slots held: %v, want 2 × 200 and 38 × 503", count)
	}

	count = burst(emails[40:], func(answer) {})
	if count[http.StatusOK] < 2 || count[http.StatusOK]+count[http.StatusServiceUnavailable] != 40 {
		t.Fatalf("real hashing: %v, want 200s and 503s only, at least 2 served", count)
	}
	s := ls.auth.Stats()
	if s.HashPeak > 2 || mostInHook.Load() > 2 || s.HashRunning != 0 {
		t.Fatalf("hashing ran %d at once (hook saw %d), bound is 2", s.HashPeak, mostInHook.Load())
	}
	if s.HashBusy != int64(38+count[http.StatusServiceUnavailable]) {
		t.Fatalf("%d busy refusals counted, want %d", s.HashBusy, 38+count[http.StatusServiceUnavailable])
	}
	t.Logf("real hashing, 40 at once through 2 slots: %v", count)
}

// TestBusyDashboardLogin: the login form says the server is busy, with 503 and
// Retry-After, while every hashing slot is taken; so does the signup form.
func TestBusyDashboardLogin(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	ls := newLoginServer(t, newLoginStore(t), auth.Config{Argon2: fastArgon2, HashConcurrency: 1, HashWait: 50 * time.Millisecond,
		BeforeHash: func() { held <- struct{}{}; <-release }})
	ls.addUsers(t, "the right password", fastArgon2, "busy@example.com")
	holder := make(chan answer)
	go func() { holder <- ls.apiLogin(t, from("127.0.0.1"), "busy@example.com", "the right password") }()
	<-held // the only slot is taken

	a := ls.formLogin(t, from("127.0.0.2"), "busy@example.com", "the right password", "/keys")
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "The server is busy checking other passwords. Try again in a moment.") {
		t.Fatalf("busy dashboard login: %d\n%s", a.status, a.body)
	}
	wantRetryAfter(t, a, 1, "busy dashboard login")

	c := from("127.0.0.3")
	page := send(t, c, mustRequest(t, "GET", ls.srv.URL+"/signup", ""))
	form := url.Values{"csrf_token": {formCSRF.FindStringSubmatch(page.body)[1]}, "email": {"new@example.com"}, "password": {"a long password"}}
	req := mustRequest(t, "POST", ls.srv.URL+"/signup", form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a := send(t, c, req); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "busy") {
		t.Fatalf("busy dashboard signup: %d\n%s", a.status, a.body)
	}
	body := `{"email":"new@example.com","password":"a long password"}`
	req = mustRequest(t, "POST", ls.srv.URL+"/api/v1/auth/signup", body)
	req.Header.Set("Content-Type", "application/json")
	wantRefusal(t, send(t, c, req), http.StatusServiceUnavailable, 1, "busy API signup")
	close(release)
	if a := <-holder; a.status != http.StatusOK {
		t.Fatalf("the login holding the slot: %d %s", a.status, a.body)
	}
}

var fastArgon2 = auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestFailedLoginsThrottled guesses 30 wrong passwords for one account in quick
// succession, through the API and the dashboard alike: after five, 429 with
// Retry-After, before any hashing; the right password too, until the budget decays
// (on the test's clock); another account from another address is unaffected.
func TestFailedLoginsThrottled(t *testing.T) {
	clk := testutil.NewClock()
	var hashes atomic.Int64
	ls := newLoginServer(t, newLoginStore(t), auth.Config{Argon2: fastArgon2, Limiter: ratelimit.NewMemory(clk.Now),
		BeforeHash: func() { hashes.Add(1) }})
	ls.addUsers(t, "the right password", fastArgon2, "victim@example.com", "bystander@example.com")
	attacker := from("127.0.0.1")

	for i := range 30 {
		var a answer
		if i%2 == 0 {
			a = ls.apiLogin(t, attacker, "victim@example.com", fmt.Sprintf("guess %d", i))
		} else {
			a = ls.formLogin(t, attacker, "Victim@Example.com", fmt.Sprintf("guess %d", i), "/keys")
		}
		switch {
		case i < 5 && a.status == http.StatusUnauthorized:
		case i < 5:
			t.Fatalf("guess %d: %d, want 401: %s", i+1, a.status, a.body)
		case i%2 == 0:
			wantRefusal(t, a, http.StatusTooManyRequests, 180, fmt.Sprintf("API guess %d", i+1))
		default:
			if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "Too many failed logins. Wait 3 minutes, then try again.") {
				t.Fatalf("dashboard guess %d: %d\n%s", i+1, a.status, a.body)
			}
			wantRetryAfter(t, a, 180, "dashboard guess")
		}
	}
	if n := hashes.Load(); n != 5 {
		t.Fatalf("%d passwords hashed for 30 guesses, want 5", n)
	}
	if a := ls.apiLogin(t, attacker, "victim@example.com", "the right password"); a.status != http.StatusTooManyRequests {
		t.Fatalf("the right password during the lockout: %d, want 429", a.status)
	}
	owner := from("127.0.0.2")
	wantRefusal(t, ls.apiLogin(t, owner, "victim@example.com", "the right password"), http.StatusTooManyRequests, 180,
		"the owner from elsewhere during the lockout")
	if a := ls.apiLogin(t, from("127.0.0.3"), "bystander@example.com", "the right password"); a.status != http.StatusOK {
		t.Fatalf("another account from another address: %d %s", a.status, a.body)
	}

	clk.Advance(3 * time.Minute)
	if a := ls.formLogin(t, owner, "victim@example.com", "the right password", "/keys"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/keys" {
		t.Fatalf("after the budget decays: %d %q", a.status, a.header.Get("Location"))
	}
}

// TestFailedLoginsThrottledPerAddress: one address trying many accounts runs out of
// its own budget; another address does not.
func TestFailedLoginsThrottledPerAddress(t *testing.T) {
	ls := newLoginServer(t, newLoginStore(t), auth.Config{Argon2: fastArgon2,
		AddressLimit: ratelimit.Limit{Rate: 10, Period: 15 * time.Minute, Burst: 10}})
	ls.addUsers(t, "the right password", fastArgon2, "real@example.com")
	sprayer := from("127.0.0.4")
	for i := range 10 {
		if a := ls.apiLogin(t, sprayer, fmt.Sprintf("user%d@example.com", i), "Password1"); a.status != http.StatusUnauthorized {
			t.Fatalf("account %d: %d %s", i+1, a.status, a.body)
		}
	}
	for i := 10; i < 20; i++ {
		wantRefusal(t, ls.apiLogin(t, sprayer, fmt.Sprintf("user%d@example.com", i), "Password1"), http.StatusTooManyRequests, 90,
			"past the address's budget")
	}
	if a := ls.apiLogin(t, from("127.0.0.5"), "real@example.com", "the right password"); a.status != http.StatusOK {
		t.Fatalf("another address: %d %s", a.status, a.body)
	}
}

// TestFailedLoginsSharedAcrossReplicas runs two servers (two processes, in effect) on
// one database and one Redis: failures on either count toward one limit.
func TestFailedLoginsSharedAcrossReplicas(t *testing.T) {
	client, prefix := testutil.RedisScratch(t)
	st := newLoginStore(t)
	a := newLoginServer(t, st, auth.Config{Argon2: fastArgon2, Limiter: ratelimit.NewRedis(client, prefix)})
	b := newLoginServer(t, st, auth.Config{Argon2: fastArgon2, Limiter: ratelimit.NewRedis(testutil.RedisClient(t), prefix)})
	a.addUsers(t, "the right password", fastArgon2, "shared@example.com")
	c := from("127.0.0.6")
	for i := range 5 {
		ls := []*loginServer{a, b}[i%2]
		if r := ls.apiLogin(t, c, "shared@example.com", "guess"); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d on replica %d: %d", i+1, i%2, r.status)
		}
	}
	for i, ls := range []*loginServer{a, b} {
		wantRefusal(t, ls.apiLogin(t, c, "shared@example.com", "guess"), http.StatusTooManyRequests, 180,
			fmt.Sprintf("sixth guess on replica %d", i))
	}
	if n, err := client.Exists(context.Background(), prefix+"addr:127.0.0.6").Result(); err != nil || n != 1 {
		t.Fatalf("the address's count is not in Redis under the prefix: %d, %v", n, err)
	}
}
