package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/store"
)

// testNULText stores model and test output holding NUL — as a byte in text and as \u0000 in
// JSON, which PostgreSQL refuses in text and jsonb — in every column that carries such output.
// Every dialect stores the same thing: U+FFFD where the NUL was, everything else intact
// (including an escaped backslash followed by "u0000", which is text, not a NUL).
func testNULText(t *testing.T, s store.Store) {
	const nul, repl = "\x00", store.NULReplacement
	u := newUser(t, s)
	p := newProject(t, s, u)
	tk := &store.Task{UserID: u.ID, ProjectID: p.ID, Title: "t" + nul + "itle", Description: "d" + nul}
	must(t, s.CreateTask(ctx(t), tk))
	got, err := s.GetTask(ctx(t), u.ID, tk.ID)
	must(t, err)
	if got.Title != "t"+repl+"itle" || got.Description != "d"+repl {
		t.Errorf("task = %q, %q", got.Title, got.Description)
	}
	got.Description = "again" + nul
	must(t, s.UpdateTask(ctx(t), got))

	testOutput := "--- FAIL: TestX\n\x00\x00binary\x00junk"
	details, err := json.Marshal(map[string]any{"tests": []map[string]string{{"output": testOutput}}, "literal": `\u0000 is six characters`})
	must(t, err)
	if !strings.Contains(string(details), `\u0000`) || !strings.Contains(string(details), `\\u0000`) {
		t.Fatalf("setup: the details do not hold both escapes: %s", details)
	}
	e := &store.Execution{UserID: u.ID, TaskID: tk.ID, Error: "codegen: model said " + nul, Details: details}
	must(t, s.CreateExecution(ctx(t), e))
	e.Error, e.Step = "tests failed"+nul, "testrun"+nul
	must(t, s.UpdateExecution(ctx(t), e))
	ge, err := s.GetExecution(ctx(t), u.ID, e.ID)
	must(t, err)
	if ge.Error != "tests failed"+repl || ge.Step != "testrun"+repl {
		t.Errorf("execution error, step = %q, %q", ge.Error, ge.Step)
	}
	var d struct {
		Tests []struct {
			Output string `json:"output"`
		} `json:"tests"`
		Literal string `json:"literal"`
	}
	must(t, json.Unmarshal(ge.Details, &d))
	if want := strings.ReplaceAll(testOutput, nul, repl); len(d.Tests) != 1 || d.Tests[0].Output != want {
		t.Errorf("details output = %+v, want %q", d.Tests, want)
	}
	if d.Literal != `\u0000 is six characters` {
		t.Errorf("an escaped backslash before u0000 was changed: %q", d.Literal)
	}

	c := &store.Commit{UserID: u.ID, ExecutionID: e.ID, SHA: strings.Repeat("b", 40), Branch: "vibe/x",
		Message: "fix" + nul, FilesChanged: []string{"a" + nul + ".go"}}
	must(t, s.CreateCommit(ctx(t), c))
	commits, err := s.ListCommits(ctx(t), u.ID, e.ID, store.Page{Limit: 10})
	must(t, err)
	if len(commits) != 1 || commits[0].Message != "fix"+repl || commits[0].FilesChanged[0] != "a"+repl+".go" {
		t.Errorf("commits = %+v", commits)
	}

	r := &store.Review{UserID: u.ID, ExecutionID: e.ID, Verdict: store.VerdictComment, Summary: "looks" + nul + "ok",
		Comments: []store.ReviewComment{{Path: "main.go", Line: 3, Body: "nul here: " + nul}}}
	must(t, s.CreateReview(ctx(t), r))
	reviews, err := s.ListReviews(ctx(t), u.ID, e.ID, store.Page{Limit: 10})
	must(t, err)
	if len(reviews) != 1 || reviews[0].Summary != "looks"+repl+"ok" || reviews[0].Comments[0].Body != "nul here: "+repl {
		t.Errorf("reviews = %+v", reviews)
	}

	data, err := json.Marshal(map[string]string{"output": testOutput})
	must(t, err)
	ev := &store.Event{UserID: u.ID, ProjectID: p.ID, ExecutionID: &e.ID, Type: "tests.finished", Data: data}
	must(t, s.AppendEvent(ctx(t), ev))
	events, err := s.ListEvents(ctx(t), u.ID, store.EventFilter{ProjectID: p.ID, ExecutionID: e.ID, Limit: 10})
	must(t, err)
	var out struct{ Output string }
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	must(t, json.Unmarshal(events[0].Data, &out))
	if out.Output != strings.ReplaceAll(testOutput, nul, repl) {
		t.Errorf("event output = %q", out.Output)
	}

	meta, err := json.Marshal(map[string]string{"reason": "bad" + nul})
	must(t, err)
	actor := u.ID
	must(t, s.AppendAudit(ctx(t), &store.AuditEntry{ActorID: &actor, Action: "test.nul", UserAgent: "curl" + nul, Metadata: meta}))
	entries, err := s.ListAudit(ctx(t), store.AuditFilter{ActorID: u.ID, Actions: []string{"test.nul"}, Limit: 10})
	must(t, err)
	if len(entries) != 1 || entries[0].UserAgent != "curl"+repl || !strings.Contains(string(entries[0].Metadata), `\ufffd`) &&
		!strings.Contains(string(entries[0].Metadata), repl) {
		t.Errorf("audit entries = %+v", entries)
	}

	must(t, s.InsertUsage(ctx(t), []store.LLMUsage{{UserID: u.ID, Provider: "openai", Model: "gpt" + nul, Status: "ok"}}))
	stats, err := s.UsageStats(ctx(t), u.ID, time.Now().Add(-time.Hour))
	must(t, err)
	if len(stats) != 1 || stats[0].Model != "gpt"+repl {
		t.Errorf("usage stats = %+v", stats)
	}
}
