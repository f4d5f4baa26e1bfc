package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/store"
)

type streamEvent struct {
	id   int64
	typ  string
	data string
}

// openStream opens an SSE stream and returns its events on a channel (closed when the
// stream ends).
func openStream(t *testing.T, e *env, bearer, path, lastID string) <-chan streamEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan streamEvent, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev streamEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.typ != "" {
					out <- ev
				}
				ev = streamEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id, _ = strconv.ParseInt(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				ev.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

func next(t *testing.T, ch <-chan streamEvent) streamEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended early")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30s")
	}
	return streamEvent{}
}

func TestExecutionEventStream(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		web := e.signup(t, "events@example.com", "events long password")
		api, _ := web.newAPIKey("k")
		key := api.bearer
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")
		tid := api.ok(http.StatusCreated, "POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "t"}).str("id")
		uid := uuid.MustParse(web.userID)
		ex := &store.Execution{UserID: uid, TaskID: uuid.MustParse(tid), Status: store.ExecRunning}
		if err := e.app.Store.CreateExecution(t.Context(), ex); err != nil {
			t.Fatal(err)
		}
		emit := func(typ string, n int) {
			if err := e.app.Events.Emit(t.Context(), uid, ex.ProjectID, &ex.ID, typ, map[string]int{"n": n}); err != nil {
				t.Fatal(err)
			}
		}
		emit("step.started", 1)
		path := "/api/v1/executions/" + ex.ID.String() + "/events"
		stream := openStream(t, e, key, path, "")
		first := next(t, stream)
		var data map[string]int
		if err := json.Unmarshal([]byte(first.data), &data); err != nil || first.typ != "step.started" || data["n"] != 1 || first.id == 0 {
			t.Fatalf("backlog event %+v", first)
		}
		// Live: an event emitted while the stream is open arrives.
		emit("step.output", 2)
		if ev := next(t, stream); ev.typ != "step.output" || ev.id <= first.id {
			t.Fatalf("live event %+v", ev)
		}
		// Resume after the first event: the second is replayed.
		resumed := openStream(t, e, key, path, strconv.FormatInt(first.id, 10))
		if ev := next(t, resumed); ev.typ != "step.output" {
			t.Fatalf("resumed stream starts with %+v", ev)
		}
		// The execution finishes: its streams drain and end.
		emit("execution.finished", 3)
		now := store.Now()
		ex.Status, ex.FinishedAt = store.ExecSucceeded, &now
		if err := e.app.Store.UpdateExecution(t.Context(), ex); err != nil {
			t.Fatal(err)
		}
		e.app.Hub.Notify()
		if ev := next(t, stream); ev.typ != "execution.finished" {
			t.Fatalf("got %+v", ev)
		}
		if ev := next(t, stream); ev.typ != "end" {
			t.Fatalf("finished execution's stream did not end: %+v", ev)
		}
		if _, ok := <-stream; ok {
			t.Fatal("stream still open after end")
		}
		// Another user: 404, not a stream.
		bob, _ := e.signup(t, "bob-events@example.com", "bob's long password").newAPIKey("b")
		wantProblem(t, bob.do("GET", path, nil), http.StatusNotFound, "Bob streams Alice's execution")
		wantProblem(t, api.do("GET", path, nil, header("Last-Event-ID", "x")), http.StatusBadRequest, "bad Last-Event-ID")
	})
}

func TestJobsAPI(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		web := e.signup(t, "jobsapi@example.com", "jobs api long password")
		api, _ := web.newAPIKey("k")
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")
		uid, puid := uuid.MustParse(web.userID), uuid.MustParse(pid)
		var ids []int64
		for range 3 {
			// This server does not work jobs (the harness does not start them), so they wait.
			j, err := e.app.Jobs.Enqueue(t.Context(), uid, puid, nil, index.Args{UserID: uid, ProjectID: puid}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		page := api.ok(http.StatusOK, "GET", "/api/v1/jobs?project_id="+pid+"&limit=2", nil)
		items := page.items(t)
		if len(items) != 2 || items[0]["id"] != float64(ids[2]) || items[0]["state"] != "available" || items[0]["kind"] != "index" || page.str("next_cursor") == "" {
			t.Fatalf("jobs page 1: %s", page.raw)
		}
		rest := api.ok(http.StatusOK, "GET", "/api/v1/jobs?project_id="+pid+"&limit=2&cursor="+page.str("next_cursor"), nil)
		if items := rest.items(t); len(items) != 1 || items[0]["id"] != float64(ids[0]) || rest.str("next_cursor") != "" {
			t.Fatalf("jobs page 2: %s", rest.raw)
		}
		id := strconv.FormatInt(ids[0], 10)
		if r := api.do("POST", "/api/v1/jobs/"+id+"/retry", nil); r.status != http.StatusConflict {
			t.Fatalf("retry of a waiting job: %d %s", r.status, r.raw)
		}
		c := api.ok(http.StatusOK, "POST", "/api/v1/jobs/"+id+"/cancel", nil)
		if c.str("state") != "cancelled" {
			t.Fatalf("cancel: %s", c.raw)
		}
		rt := api.ok(http.StatusOK, "POST", "/api/v1/jobs/"+id+"/retry", nil)
		if rt.str("state") != "available" {
			t.Fatalf("retry: %s", rt.raw)
		}
		got := api.ok(http.StatusOK, "GET", "/api/v1/jobs/"+id, nil)
		if got.str("project_id") != pid || got.body["max_attempts"] != float64(3) {
			t.Fatalf("get: %s", got.raw)
		}
		wantProblem(t, api.do("GET", "/api/v1/jobs", nil), http.StatusBadRequest, "jobs without project_id")
		wantProblem(t, api.do("GET", "/api/v1/jobs/999999999", nil), http.StatusNotFound, "unknown job")
		wantProblem(t, api.do("GET", "/api/v1/jobs/abc", nil), http.StatusNotFound, "malformed job id")
	})
}

// TestEventsCrossProcess: on PostgreSQL, an event written by one process wakes the
// stream served by another at once, through LISTEN/NOTIFY.
func TestEventsCrossProcess(t *testing.T) {
	a := newEnv(t, "postgres", map[string]string{"VIBECODER_JOB_POLL_INTERVAL": "60s"})
	web := a.signup(t, "xproc@example.com", "cross process password")
	api, _ := web.newAPIKey("k")
	key := api.bearer
	pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")
	stop, err := a.app.StartBackground(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stream := openStream(t, a, key, "/api/v1/projects/"+pid+"/events", "")
	// A second process on the same database writes the event.
	b := newEnvSameDB(t, a)
	uid, puid := uuid.MustParse(web.userID), uuid.MustParse(pid)
	if err := b.app.Events.Emit(t.Context(), uid, puid, nil, "index.progress", map[string]string{"phase": "scan"}); err != nil {
		t.Fatal(err)
	}
	// The stream polls once a minute and next gives up after 30 s: only NOTIFY can
	// deliver it in time.
	if ev := next(t, stream); ev.typ != "index.progress" {
		t.Fatalf("got %+v", ev)
	}
}
