package faults_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/faults/faultstest"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// TestSigtermWithOpenEventStream: a client holds a project's event stream open when
// the server gets SIGTERM. The stream ends with a final "shutdown" event and the
// process exits 0 at once, long before its shutdown timeout (it used to wait the whole
// timeout out, then exit 1).
func TestSigtermWithOpenEventStream(t *testing.T) {
	env := faultstest.Env(t, "", "", "")
	api := faultstest.Serve(t, env, "VIBECODER_SHUTDOWN_TIMEOUT", "5m")
	api.WaitReady(t, startTimeout)
	key := faultstest.NewAPIKey(t, env, "ada@example.com")
	r := api.Do("POST", "/api/v1/projects", key, []byte(`{"name":"p","repo_url":"https://github.com/acme/p.git"}`))
	var proj struct{ ID string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &proj) != nil {
		t.Fatalf("project: %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", api.URL+"/api/v1/projects/"+proj.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", err, res)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if l := <-lines; !strings.HasPrefix(l, ": stream open") {
		t.Fatalf("stream began with %q", l)
	}
	api.Signal(syscall.SIGTERM)
	sawShutdown := false
	for l := range lines {
		sawShutdown = sawShutdown || l == "event: shutdown"
	}
	if !sawShutdown {
		t.Error("the stream closed without a shutdown event")
	}
	if code := api.Wait(30 * time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM with an open event stream, want 0; output:\n%s", code, api.Output())
	}
}

// TestBudgetOverReportedAcrossProcesses: two API processes on one PostgreSQL, a $0.01
// monthly budget, an upstream that reports far more usage than any request could use,
// and 50 concurrent unbounded requests. Nothing fails but with 402; every answered
// call's true cost is recorded and the budget's spent equals the usage rows; nothing
// stays reserved; the overruns are counted; and the next call is refused, saying the
// budget is spent.
func TestBudgetOverReportedAcrossProcesses(t *testing.T) {
	pg := faultstest.StartPostgres(t)
	llm := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Text: "done", Delay: 20 * time.Millisecond, Usage: &llmtest.Usage{PromptTokens: 20000, CompletionTokens: 3000}}
	})
	db := pg.NewDatabase(t)
	env := faultstest.Env(t, db, "", llm.URL)
	budget := []string{"VIBECODER_LLM_MONTHLY_BUDGET_USD", "0.01"}
	a1, a2 := faultstest.Serve(t, env, budget...), faultstest.Serve(t, env, budget...)
	a1.WaitReady(t, startTimeout)
	a2.WaitReady(t, startTimeout)
	key := faultstest.NewAPIKey(t, env, "ada@example.com")
	var ok, refused atomic.Int64
	var mu sync.Mutex
	var other []string
	var wg sync.WaitGroup
	for i := range 50 {
		api := []*faultstest.Proc{a1, a2}[i%2]
		wg.Go(func() {
			r := api.Chat(key, fmt.Sprintf("distinct %d", i))
			switch r.Status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusPaymentRequired:
				refused.Add(1)
			default:
				mu.Lock()
				other = append(other, fmt.Sprintf("%d %v %s", r.Status, r.Err, r.Body))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(other) > 0 || ok.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("%d answered, %d refused, others: %v", ok.Load(), refused.Load(), other)
	}
	r := a1.Chat(key, "one more")
	if r.Status != http.StatusPaymentRequired || !strings.Contains(string(r.Body), "is spent") || !strings.Contains(string(r.Body), "$0.01") {
		t.Fatalf("after the overruns: %d %s, want 402 saying the $0.01 budget is spent", r.Status, r.Body)
	}
	// Usage rows are written in batches off the request path: wait for all of them.
	su := pg.AsSuperuser(db)
	var rows int64
	var rowCost float64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		faultstest.Query(t, su, "SELECT count(*), coalesce(sum(cost_usd), 0) FROM llm_usage WHERE status = 'ok'", &rows, &rowCost)
		if rows >= ok.Load() || time.Now().After(deadline) {
			break
		}
	}
	var spent, reserved float64
	faultstest.Query(t, su, "SELECT spent_usd, reserved_usd FROM budget_periods", &spent, &reserved)
	if rows != ok.Load() || math.Abs(spent-rowCost) > 1e-9 || math.Abs(reserved) > 1e-9 || spent <= 0.01 {
		t.Fatalf("%d answered, %d usage rows costing $%.9f; budget spent $%.9f, reserved $%.9f", ok.Load(), rows, rowCost, spent, reserved)
	}
	overruns := metric(t, a1, "vibecoder_llm_budget_overruns_total") + metric(t, a2, "vibecoder_llm_budget_overruns_total")
	if int64(overruns) != ok.Load() {
		t.Errorf("%v overruns counted, want %d", overruns, ok.Load())
	}
}

// TestWorkerKilledMidRun: two workers and an API-only process on one PostgreSQL. The
// worker running a task's codegen step is killed (SIGKILL) while its LLM call is in
// flight; the other worker rescues the step and carries the execution to the end,
// once: one commit, one finished event, one branch.
func TestWorkerKilledMidRun(t *testing.T) {
	pg := faultstest.StartPostgres(t)
	db := pg.NewDatabase(t)
	var coderCalls atomic.Int64
	held := make(chan string, 2)
	script := func(name string) llmtest.Script {
		return func(req llmtest.RecordedRequest) llmtest.Reply {
			for _, m := range req.Messages {
				if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
					return llmtest.Reply{Text: `{"verdict":"approve","summary":"ok","comments":[]}`}
				}
			}
			if coderCalls.Add(1) == 1 {
				held <- name
				return llmtest.Reply{Text: "never sent", Delay: 10 * time.Minute} // the worker dies first
			}
			return llmtest.Reply{Text: "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n"}
		}
	}
	llm1, llm2 := llmtest.NewOpenAI(t, script("w1")), llmtest.NewOpenAI(t, script("w2"))
	env := faultstest.Env(t, db, "", llm1.URL)
	jobsEnv := []string{"VIBECODER_JOB_QUEUES", "codegen:timeout=20s,backoff=100ms;testrun:backoff=100ms;review:backoff=100ms;pr:backoff=100ms",
		"VIBECODER_JOB_RESCUE_AFTER", "25s"}
	api := faultstest.Serve(t, env, append([]string{"VIBECODER_WORKERS", "false"}, jobsEnv...)...)
	w1 := faultstest.Worker(t, env, append([]string{"VIBECODER_WORKER_ADDR", faultstest.FreeAddr(t)}, jobsEnv...)...)
	w2 := faultstest.Worker(t, env, append([]string{"VIBECODER_WORKER_ADDR", faultstest.FreeAddr(t), "OPENAI_BASE_URL", llm2.URL}, jobsEnv...)...)
	api.WaitReady(t, startTimeout)
	w1.WaitReady(t, startTimeout)
	w2.WaitReady(t, startTimeout)
	faultstest.Run(t, env, "user", "create", "--email", "root@example.com", "--admin")
	key := faultstest.NewAPIKey(t, env, "root@example.com")

	repo := t.TempDir()
	testutil.GitRepo(t, repo, map[string]string{
		"go.mod":  "module example.com/calc\n\ngo 1.22\n",
		"calc.go": "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n",
	}, "calc")

	post := func(path, body string, out any) {
		t.Helper()
		r := api.Do("POST", path, key, []byte(body))
		if r.Status/100 != 2 || json.Unmarshal(r.Body, out) != nil {
			t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
		}
	}
	var proj, task, run struct{ ID string }
	post("/api/v1/projects", fmt.Sprintf(`{"name":"calc","repo_url":%q,"test_command":"grep -q 'a + b' calc.go"}`, repo), &proj)
	post("/api/v1/projects/"+proj.ID+"/tasks", `{"title":"Fix Add"}`, &task)
	post("/api/v1/tasks/"+task.ID+"/run", `{}`, &run)

	var victim *faultstest.Proc
	select {
	case name := <-held:
		victim = map[string]*faultstest.Proc{"w1": w1, "w2": w2}[name]
	case <-time.After(2 * time.Minute):
		t.Fatal("no worker took the codegen step")
	}
	victim.Kill()

	var status string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		r := api.Do("GET", "/api/v1/executions/"+run.ID, key, nil)
		var ex struct{ Status string }
		_ = json.Unmarshal(r.Body, &ex)
		if status = ex.Status; status == "succeeded" || status == "failed" || status == "cancelled" || time.Now().After(deadline) {
			break
		}
	}
	if status != "succeeded" {
		t.Fatalf("execution %q after the worker was killed, want succeeded", status)
	}
	su := pg.AsSuperuser(db)
	var commits, finished int64
	faultstest.Query(t, su, "SELECT count(*) FROM commits", &commits)
	faultstest.Query(t, su, "SELECT count(*) FROM events WHERE type = 'execution.finished'", &finished)
	branches := strings.Fields(testutil.Git(t, repo, "branch", "--list", "vibecoder/*"))
	if commits != 1 || finished != 1 || len(branches) != 1 {
		t.Fatalf("%d commits, %d finished events, branches %v: want the run completed once", commits, finished, branches)
	}
}
