// Package faultstest is the fault-injection harness: it runs the real vibecoder binary
// as separate processes against a PostgreSQL cluster and a Redis server of the test's
// own, which the test can stop, kill and restart, so that outages are real (refused
// connections, lost sessions, a restarted server) and never touch the machine's shared
// services.
//
// A test starts what it needs and everything is stopped when it ends:
//
//	pg := faultstest.StartPostgres(t)           // initdb + pg_ctl on a free port
//	rd := faultstest.StartRedis(t)              // redis-server on a free port
//	llm := llmtest.NewOpenAI(t, llmtest.Text("hi"))
//	env := faultstest.Env(t, pg.NewDatabase(t), rd.URL, llm.URL)
//	api := faultstest.Serve(t, env)             // vibecoder serve on a free port
//	api.WaitReady(t, 30*time.Second)
//	key := faultstest.NewAPIKey(t, env, "ada@example.com")
//	rd.Kill(); ...; rd.Start()
//	pg.Stop(); ...; pg.Start()
//
// Binaries it needs (initdb, pg_ctl, redis-server) that are missing fail the test under
// CI=true and skip it, loudly, elsewhere. A package using it runs Main from TestMain, which
// removes the binary built for the run.
package faultstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// Main runs the tests of a package that uses the harness and removes what the harness
// built. Call it from TestMain: func TestMain(m *testing.M) { faultstest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// Missing reports a program the test needs and cannot find: under CI=true the test
// fails, saying what to install; elsewhere it is skipped with a loud message.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found; install %s", what, install)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s (the fault-injection suite needs it)", msg)
	}
	t.Skipf("SKIPPED, NOT TESTED: %s", msg)
}

// FreeAddr returns 127.0.0.1:port for a port nothing listens on right now and that no
// earlier call in this process returned.
func FreeAddr(t testing.TB) string {
	t.Helper()
	// A port is free until a process binds it, which a process started with it does
	// only some time later: meanwhile the kernel may offer the same port again, and
	// two processes of one test were once both given it. No port is handed out twice.
	given.mu.Lock()
	defer given.mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !given.addrs[addr] {
			given.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("no free port that was not handed out already")
	return ""
}

// given is every address FreeAddr has handed out in this process.
var given = struct {
	mu    sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// build is the vibecoder binary built for this test process.
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary builds ./cmd/vibecoder once per test process (with -race when the tests run
// with it, which also reuses their build cache) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			build.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if build.dir, build.err = os.MkdirTemp("", "vibecoder-faults-"); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "vibecoder")
		args := []string{"build", "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/vibecoder")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/vibecoder: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// Env returns the environment of a vibecoder process against databaseURL ("" for the
// embedded SQLite) and redisURL ("" for none), with llmURL (an llmtest server) as its
// OpenAI-compatible provider, default model openai/gpt-4o-mini, a data directory of
// its own, and limits high enough that test traffic is never refused. Processes
// started with the same Env share the data directory; change VIBECODER_DATA_DIR
// for one that should not.
func Env(t testing.TB, databaseURL, redisURL, llmURL string) map[string]string {
	env := map[string]string{
		"VIBECODER_DATA_DIR":      t.TempDir(),
		"LOG_LEVEL":               "info",
		"VIBECODER_LLM_RPM":       "1000000",
		"VIBECODER_JOB_SOFT_STOP": "2s",
		// Off: every worker would compile the standard library for its seed, and a Go
		// project's test run waits for it (minutes on a busy 2-core machine), which is not
		// what these tests are about (internal/buildcache and internal/app test the seed).
		"VIBECODER_GO_CACHE_SEED": "off",
	}
	if databaseURL != "" {
		env["DATABASE_URL"] = databaseURL
	}
	if redisURL != "" {
		env["REDIS_URL"] = redisURL
	}
	if llmURL != "" {
		env["OPENAI_API_KEY"] = "sk-faults-0123456789abcdef"
		env["OPENAI_BASE_URL"] = llmURL
		env["VIBECODER_DEFAULT_MODEL"] = "openai/gpt-4o-mini"
	}
	return env
}

// with returns a copy of env with the extra variables set.
func with(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env)+len(kv)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// Proc is a running vibecoder process.
type Proc struct {
	// Name says which process it is in failure messages: "serve", "worker-2", ...
	Name string
	// URL is the base URL of its HTTP server (the API, or a worker's operational
	// endpoints); "" for a process that serves none (migrate).
	URL string

	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error // the Wait error, once done is closed
}

// Serve starts `vibecoder serve` on a free port with env (see Env) plus kv pairs.
func Serve(t testing.TB, env map[string]string, kv ...string) *Proc {
	t.Helper()
	addr := FreeAddr(t)
	return Start(t, "serve", with(env, append(kv, "VIBECODER_ADDR", addr)...), "http://"+addr, "serve")
}

// Worker starts `vibecoder worker` serving its operational endpoints on a free port.
func Worker(t testing.TB, env map[string]string, kv ...string) *Proc {
	t.Helper()
	addr := FreeAddr(t)
	return Start(t, "worker", with(env, append(kv, "VIBECODER_WORKER_ADDR", addr)...), "http://"+addr, "worker")
}

// Migrate starts `vibecoder migrate`; Wait for its exit.
func Migrate(t testing.TB, env map[string]string) *Proc {
	t.Helper()
	return Start(t, "migrate", env, "", "migrate")
}

// Start runs the vibecoder binary with args and exactly env (plus PATH, HOME and
// TMPDIR from the test's environment). The process is stopped when the test ends
// (SIGTERM, then SIGKILL after 15s); its output is in Output and, if the test fails,
// in the test log.
func Start(t testing.TB, name string, env map[string]string, url string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, URL: url, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(Binary(t), args...)
	p.cmd.Env = processEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("--- output of %s (%s):\n%s", p.Name, strings.Join(args, " "), p.Output())
		}
	})
	return p
}

func processEnv(env map[string]string) []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GORACE"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// Output is everything the process wrote to stdout and stderr so far (its JSON logs).
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its exit code (-1 if it
// did not end in time or was killed by a signal).
func (p *Proc) Wait(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM, waits up to grace, then SIGKILLs, and returns the exit code (-1
// when it had to be killed).
func (p *Proc) Stop(grace time.Duration) int {
	if p.Exited() {
		return p.cmd.ProcessState.ExitCode()
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(grace); code != -1 || p.Exited() {
		return code
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return -1
}

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// WaitReady polls GET /readyz until it answers 200, failing the test if the process
// exits or timeout passes first.
func (p *Proc) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.WaitStatus(t, "/readyz", http.StatusOK, timeout)
}

// WaitStatus polls GET path until it answers status, failing the test if the process
// exits or timeout passes first.
func (p *Proc) WaitStatus(t testing.TB, path string, status int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		if p.Exited() {
			t.Fatalf("%s exited (%v) while waiting for %s to answer %d; output:\n%s", p.Name, p.err, path, status, p.Output())
		}
		r := p.Get(path)
		if r.Status == status {
			return
		}
		if r.Status != 0 {
			last = fmt.Sprintf("%d %s", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer %d within %s; last: %s", p.Name, path, status, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Response is an HTTP answer, read whole; Status 0 means no answer (Err says why).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

// Client is the harness's HTTP client: no connection reuse (a restarted process gets
// fresh connections) and a 30s bound per request.
var Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Get sends GET path to the process, without credentials.
func (p *Proc) Get(path string) Response { return p.Do("GET", path, "", nil) }

// Do sends a request to the process: body is nil (none) or JSON text; key, when set,
// goes as Authorization: Bearer.
func (p *Proc) Do(method, path, key string, body []byte) Response {
	ctx, cancel := context.WithTimeout(context.Background(), Client.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, rd)
	if err != nil {
		return Response{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := Client.Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b, Err: err}
}

// Chat sends one OpenAI chat completion with prompt as the user message.
func (p *Proc) Chat(key, prompt string) Response {
	body := fmt.Sprintf(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":%q}]}`, prompt)
	return p.Do("POST", "/v1/chat/completions", key, []byte(body))
}

// Run runs a vibecoder command (an admin command, say) to completion with env and
// returns its stdout, failing the test if it fails.
func Run(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = processEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vibecoder %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// NewAPIKey creates the user email (unless it exists) and an API key for it with the
// admin commands, and returns the key.
func NewAPIKey(t testing.TB, env map[string]string, email string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), "user", "create", "--email", email)
	cmd.Env = processEnv(env)
	_ = cmd.Run() // already there is fine: apikey create says if it is not
	key := strings.TrimSpace(Run(t, env, "apikey", "create", "--email", email, "--name", "faults"))
	if !strings.HasPrefix(key, "vc_") {
		t.Fatalf("apikey create printed %q, want a vc_ key", key)
	}
	return key
}
