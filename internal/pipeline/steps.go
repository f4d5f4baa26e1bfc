package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/edit"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/sandbox"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Default agent prompts.
const (
	DefaultCoderPrompt = `You are a careful senior software engineer working in an existing repository.
You are given a task, context from the repository, and sometimes the output of a failing test run.
Make the smallest correct change that completes the task and keeps the tests passing.
Explain your plan in at most a few sentences, then give the edits.

` + edit.Instructions
	DefaultReviewerPrompt = `You are a meticulous code reviewer. You are given a task, the diff that
implements it and the result of the project's tests. Judge whether the change is correct, safe and
complete. Answer with one JSON object and nothing else:
{"verdict": "approve" | "request_changes" | "comment", "summary": "one paragraph",
 "comments": [{"path": "file", "line": 12, "body": "what and why"}]}`
)

// DefaultAgent returns the built-in agent for a role (the gateway's default model).
func DefaultAgent(userID uuid.UUID, role string) *store.Agent {
	a := &store.Agent{UserID: userID, Role: role, Temperature: 0}
	switch role {
	case store.RoleCoder:
		a.Name, a.SystemPrompt = "Default coder", DefaultCoderPrompt
	default:
		a.Name, a.SystemPrompt = "Default reviewer", DefaultReviewerPrompt
	}
	return a
}

// llmCall runs one chat completion for an execution through the gateway and adds
// its tokens and cost to the execution.
func (p *Pipeline) llmCall(ctx context.Context, e *store.Execution, a *store.Agent, msgs []llm.Message, format json.RawMessage) (string, error) {
	temp := a.Temperature
	call := func(format json.RawMessage) (*gateway.Result, error) {
		return p.Gateway.Complete(ctx, &gateway.Call{UserID: e.UserID, ProjectID: &e.ProjectID, ExecutionID: &e.ID, Model: a.Model,
			Request: llm.Request{Messages: msgs, Temperature: &temp, MaxTokens: 8192, ResponseFormat: format}})
	}
	res, err := call(format)
	var le *llm.Error
	if err != nil && format != nil && ctx.Err() == nil && errors.As(err, &le) && le.Status == http.StatusBadRequest {
		// The model or server takes no structured output: ask in words instead.
		p.Log.Info("structured output refused; asking without it", slog.String("agent", a.Role), slog.String("model", a.Model), slog.Any("error", err))
		res, err = call(nil)
	}
	if err != nil {
		if ctx.Err() != nil {
			// Stopped (shutdown or cancel), not refused: the step returns to the queue.
			return "", fmt.Errorf("%s agent: %w", a.Role, context.Cause(ctx))
		}
		var le *llm.Error
		if errors.As(err, &le) && !le.Retryable && le.Status != 429 {
			return "", fail("the %s agent's model refused the request: %v", a.Role, err)
		}
		return "", err
	}
	e.TokensIn += int64(res.Response.Usage.PromptTokens)
	e.TokensOut += int64(res.Response.Usage.CompletionTokens)
	e.CostUSD += res.CostUSD
	return res.Response.Text, nil
}

func (p *Pipeline) agentOf(ctx context.Context, userID uuid.UUID, id *uuid.UUID, role string) (*store.Agent, error) {
	if id != nil {
		if a, err := p.Store.GetAgent(ctx, userID, *id); err == nil {
			return a, nil
		}
	}
	// The agent was deleted since the run started: the built-in one stands in.
	return DefaultAgent(userID, role), nil
}

// codegen asks the coder for edits and applies them to the workspace.
func (p *Pipeline) codegen(ctx context.Context, job *river.Job[CodegenArgs]) error {
	st, err := p.open(ctx, job.Args.UserID, job.Args.ExecutionID)
	if err != nil || st == nil {
		return err
	}
	e, d, task, proj := st.e, st.d, st.task, st.proj
	attempt := d.Attempt + 1
	if err := p.begin(ctx, e, d, KindCodegen, attempt); err != nil {
		return err
	}
	ws, err := p.workspace(ctx, e, d, proj)
	if err != nil {
		return err
	}
	coder, err := p.agentOf(ctx, e.UserID, d.CoderAgentID, store.RoleCoder)
	if err != nil {
		return err
	}
	if attempt == 1 {
		p.refreshIndex(ctx, e, proj)
	}
	msgs := []llm.Message{
		{Role: llm.RoleSystem, Content: coder.SystemPrompt},
		{Role: llm.RoleUser, Content: p.codegenPrompt(ctx, e, d, task, coder, ws.Dir)},
	}
	applied := 0
	for round := 1; round <= p.cfg.EditRounds+1; round++ {
		answer, err := p.llmCall(ctx, e, coder, msgs, nil)
		if err != nil {
			return err
		}
		d.CoderOutput = truncate(answer, 20000)
		p.emitE(ctx, e, "llm.output", map[string]any{"agent": "coder", "attempt": attempt, "round": round, "text": d.CoderOutput})
		edits, perrs := edit.Parse(answer)
		res, err := edit.Apply(ws.Dir, edits)
		if err != nil {
			return err
		}
		failures := append(edit.ParseFailures(perrs), res.Failed...)
		report := edit.FailureReport(failures)
		applied += len(res.Applied)
		for _, f := range res.Files {
			if !slices.Contains(d.Changed, f) {
				d.Changed = append(d.Changed, f)
			}
		}
		d.Edits = append(d.Edits, EditRound{Attempt: attempt, Round: round, Applied: len(res.Applied), Failed: len(failures), Files: res.Files, Report: report})
		p.emitE(ctx, e, "edits.applied", map[string]any{"attempt": attempt, "round": round, "applied": len(res.Applied), "failed": len(failures), "files": res.Files})
		if len(failures) == 0 && (len(res.Applied) > 0 || applied > 0) {
			break
		}
		if round > p.cfg.EditRounds {
			break
		}
		if report == "" {
			report = "Your answer contained no edits: no SEARCH/REPLACE block, no file written whole under its path, no unified diff. " +
				"Give the edits as SEARCH/REPLACE blocks, each under the file's path."
		}
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: answer},
			llm.Message{Role: llm.RoleUser, Content: "Some edits could not be applied:\n\n" + report + "\nAnswer again with corrected blocks for those edits only."})
	}
	if applied == 0 {
		p.recordAudit(ctx, e, audit.ActionCodegenFinish, audit.Failure, map[string]any{"attempt": attempt, "applied": 0})
		return fail("the coder proposed no edit that applies (after %d rounds)", p.cfg.EditRounds+1)
	}
	// The change is the files the coder wrote, not whatever an earlier test run left.
	ws.Restrict(d.Changed)
	diff, err := ws.Diff(ctx)
	if err != nil {
		return err
	}
	d.Diff, d.Attempt = diff, attempt
	d.done("succeeded", "")
	p.emitE(ctx, e, "diff", map[string]any{"attempt": attempt, "diff": truncate(diff, 200000)})
	e.Step = KindTestrun
	err = jobs.Advance(ctx, p.Queue, job, e.UserID, e.ProjectID, &e.ID, TestrunArgs(job.Args), func(ctx context.Context) error {
		return p.save(ctx, e, d)
	})
	if err == nil {
		p.recordAudit(ctx, e, audit.ActionCodegenFinish, audit.Success, map[string]any{"attempt": attempt, "applied": applied,
			"tokens_in": e.TokensIn, "tokens_out": e.TokensOut, "cost_usd": e.CostUSD})
	}
	return err
}

// codegenPrompt is the coder's context (BuildCoderPrompt): the task, retrieved code,
// the repository map, the files most likely to change, and the last review or failing
// test run. The workspace is untrusted (the repository's files and whatever the tests
// left): it is read through safefs, so a link out of it, a FIFO or a device contributes
// nothing.
func (p *Pipeline) codegenPrompt(ctx context.Context, e *store.Execution, d *Details, task *store.Task, coder *store.Agent, dir string) string {
	in := PromptInput{Title: task.Title, Description: task.Description, Dir: dir, Review: d.ReviewFeedback, Diff: d.Diff,
		Window: p.contextWindow(coder.Model), MaxTokens: p.cfg.ContextTokens, Log: p.Log.With(slog.String("execution_id", e.ID.String()))}
	if p.Index != nil {
		in.Search = func(ctx context.Context, q string, limit int) ([]index.Result, error) {
			return p.Index.Search(ctx, e.UserID, e.ProjectID, q, limit)
		}
	}
	if n := len(d.Tests); n > 0 && !d.Tests[n-1].Passed {
		in.Failed = &d.Tests[n-1]
	}
	prompt, rep := BuildCoderPrompt(ctx, in)
	p.emitE(ctx, e, "context", rep)
	return prompt
}

func isSource(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".go", ".py", ".js", ".ts", ".tsx", ".jsx", ".rs", ".java", ".rb", ".c", ".h", ".cpp", ".cs", ".php", ".kt", ".swift", ".html", ".css":
		return true
	}
	return false
}

// repoFiles lists up to max regular files of the working copy, skipping hidden and
// vendored directories; links and special files are not listed.
func repoFiles(tree *safefs.Tree, max int) []string {
	var out []string
	_ = tree.WalkDir(func(name string, de fs.DirEntry, err error) error {
		if err != nil || len(out) >= max {
			return fs.SkipDir
		}
		if de.IsDir() {
			if name != "." && (strings.HasPrefix(de.Name(), ".") || de.Name() == "vendor" || de.Name() == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		if de.Type().IsRegular() {
			out = append(out, name)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestEnv is the environment the test command gets besides the sandbox's own: the
// project's cache dir for Go's build cache and for XDG caches. The build cache seed is
// compiled with it (internal/app), so that its keys are the test command's.
func TestEnv(cache string) map[string]string {
	return map[string]string{"GOCACHE": filepath.Join(cache, "go-build"), "XDG_CACHE_HOME": cache}
}

// seedCache copies the standard library seed into a Go project's cache before the
// project's first run (buildcache.Seeder.Seed). A run while the seed is being built waits
// for it, as long as the job can spare: its deadline less the test timeout. A project is
// a Go project when its root has go.mod or go.work or its test command runs go. Without a
// seed, past that wait, or when copying fails, the run goes on cold.
func (p *Pipeline) seedCache(ctx context.Context, dir, cmd, cache string) (bool, error) {
	if p.Seeder == nil || !usesGo(dir, cmd) {
		return false, nil
	}
	start := time.Now()
	wait := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithDeadline(ctx, deadline.Add(-p.cfg.TestTimeout))
		defer cancel()
	}
	seeded, err := p.Seeder.Seed(wait, cache)
	switch {
	case err != nil && ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		p.Log.Warn("go build cache not seeded: this run compiles the standard library", slog.String("cache", cache), slog.Any("error", err))
	case seeded:
		p.Log.Info("go build cache seeded", slog.String("cache", cache), slog.Duration("took", time.Since(start)))
	}
	return seeded, nil
}

// usesGo reports whether a workspace looks like a Go project to its test command.
func usesGo(dir, cmd string) bool {
	if slices.Contains(strings.Fields(cmd), "go") {
		return true
	}
	tree, err := safefs.Open(dir)
	if err != nil {
		return false
	}
	defer tree.Close()
	return tree.Exists("go.mod") || tree.Exists("go.work")
}

// testrun runs the project's tests in the sandbox.
func (p *Pipeline) testrun(ctx context.Context, job *river.Job[TestrunArgs]) error {
	st, err := p.open(ctx, job.Args.UserID, job.Args.ExecutionID)
	if err != nil || st == nil {
		return err
	}
	e, d, proj := st.e, st.d, st.proj
	if err := p.begin(ctx, e, d, KindTestrun, d.Attempt); err != nil {
		return err
	}
	ws, err := p.workspace(ctx, e, d, proj)
	if err != nil {
		return err
	}
	cmd := proj.TestCommand
	if cmd == "" {
		cmd = DetectTestCommand(ws.Dir)
	}
	d.TestCommand = cmd
	next := river.JobArgs(ReviewArgs(job.Args))
	if cmd == "" {
		d.done("succeeded", "no test command configured or detected")
		p.emitE(ctx, e, "tests.skipped", map[string]any{"reason": "no test command configured or detected"})
	} else {
		cache := filepath.Join(p.cfg.DataDir, "cache", e.ProjectID.String())
		if err := os.MkdirAll(cache, 0o750); err != nil {
			return err
		}
		// The cache directory persists between runs of the project (never shared
		// between projects): build caches make repair runs fast. A Go project's first
		// run starts from a copy of the server's standard library seed.
		seeded, err := p.seedCache(ctx, ws.Dir, cmd, cache)
		if err != nil {
			return err
		}
		res, err := p.Sandbox.Run(ctx, sandbox.Spec{Dir: ws.Dir, Shell: cmd, Timeout: p.cfg.TestTimeout, CacheDir: cache,
			Env: TestEnv(cache)})
		if errors.Is(err, sandbox.ErrNoSandbox) {
			return fail("tests not run: %v (install bubblewrap, or set VIBECODER_ALLOW_UNSANDBOXED=true)", err)
		}
		if err != nil {
			return err
		}
		run := TestRun{Attempt: d.Attempt, Command: cmd, ExitCode: res.ExitCode, Passed: res.ExitCode == 0 && !res.TimedOut,
			Sandboxed: res.Sandboxed, TimedOut: res.TimedOut, DurationMS: res.Duration.Milliseconds(),
			Output: truncate(res.Output, 64000), Truncated: res.Truncated, Seeded: seeded}
		d.Tests = append(d.Tests, run)
		sb := res.Sandboxed
		d.Sandboxed = &sb
		p.emitE(ctx, e, "tests.finished", map[string]any{"attempt": d.Attempt, "passed": run.Passed, "exit_code": run.ExitCode,
			"sandboxed": run.Sandboxed, "timed_out": run.TimedOut, "duration_ms": run.DurationMS, "seeded": run.Seeded, "output": truncate(run.Output, 20000)})
		switch {
		case run.Passed:
			d.done("succeeded", "")
		case d.Attempt-d.ReviewRounds <= d.MaxRepairs: // rounds a review asked for are not repairs
			d.done("failed", fmt.Sprintf("tests failed (exit %d); repair attempt %d of %d", run.ExitCode, d.Attempt-d.ReviewRounds, d.MaxRepairs))
			next = CodegenArgs(job.Args)
		default:
			d.done("failed", "tests failed")
			if err := p.save(ctx, e, d); err != nil {
				return err
			}
			return fail("the tests still fail after %d attempts (exit %d)", d.Attempt, run.ExitCode)
		}
	}
	e.Step = next.Kind()
	return jobs.Advance(ctx, p.Queue, job, e.UserID, e.ProjectID, &e.ID, next, func(ctx context.Context) error {
		return p.save(ctx, e, d)
	})
}

// review has the reviewer agent judge the diff and stores its review.
func (p *Pipeline) review(ctx context.Context, job *river.Job[ReviewArgs]) error {
	st, err := p.open(ctx, job.Args.UserID, job.Args.ExecutionID)
	if err != nil || st == nil {
		return err
	}
	e, d, task := st.e, st.d, st.task
	if err := p.begin(ctx, e, d, KindReview, d.Attempt); err != nil {
		return err
	}
	reviewer, err := p.agentOf(ctx, e.UserID, d.ReviewerAgentID, store.RoleReviewer)
	if err != nil {
		return err
	}
	var tests string
	if n := len(d.Tests); n > 0 {
		last := d.Tests[n-1]
		tests = fmt.Sprintf("`%s` exited %d (passed: %v, sandboxed: %v)\n```\n%s\n```", last.Command, last.ExitCode, last.Passed, last.Sandboxed, truncate(last.Output, 8000))
	} else {
		tests = "No test command was found; no tests ran."
	}
	prompt := fmt.Sprintf("# Task\n%s\n\n%s\n\n# Diff\n```diff\n%s```\n\n# Tests\n%s\n", task.Title, task.Description, truncate(d.Diff, 60000), tests)
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: reviewer.SystemPrompt}, {Role: llm.RoleUser, Content: prompt}}
	var rv *reviewAnswer
	var answer string
	for round := 1; round <= 2 && rv == nil; round++ {
		if answer, err = p.llmCall(ctx, e, reviewer, msgs, reviewFormat); err != nil {
			return err
		}
		p.emitE(ctx, e, "llm.output", map[string]any{"agent": "reviewer", "round": round, "text": truncate(answer, 20000)})
		var perr error
		if rv, perr = parseReview(answer); perr != nil {
			msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: answer},
				llm.Message{Role: llm.RoleUser, Content: "That was not the JSON object asked for (" + perr.Error() + "). Answer with the JSON object only."})
		}
	}
	if rv == nil {
		// A review in prose is still a review: its format never fails a tested change.
		rv = proseReview(answer)
	}
	var next river.JobArgs = PRArgs(job.Args)
	note := ""
	d.ChangesRequested = false
	switch {
	case rv.Verdict == store.VerdictRequestChanges && d.ReviewRounds < p.cfg.MaxReviewRounds:
		d.ReviewRounds++
		d.ReviewFeedback = reviewFeedback(rv)
		next = CodegenArgs(job.Args)
		note = fmt.Sprintf("the reviewer asked for changes: back to the coder (review round %d of %d)", d.ReviewRounds, p.cfg.MaxReviewRounds)
	case rv.Verdict == store.VerdictRequestChanges:
		d.ChangesRequested = true
		note = "the reviewer still asks for changes: the pull request is opened as a draft"
	default:
		d.ReviewFeedback = ""
	}
	d.done("succeeded", note)
	p.emitE(ctx, e, "review", map[string]any{"verdict": rv.Verdict, "summary": rv.Summary, "comments": rv.Comments,
		"round": d.ReviewRounds, "next": next.Kind()})
	e.Step = next.Kind()
	var agentID *uuid.UUID
	if reviewer.ID != uuid.Nil {
		agentID = &reviewer.ID
	}
	return jobs.Advance(ctx, p.Queue, job, e.UserID, e.ProjectID, &e.ID, next, func(ctx context.Context) error {
		if err := p.Store.CreateReview(ctx, &store.Review{UserID: e.UserID, ExecutionID: e.ID, AgentID: agentID,
			Verdict: rv.Verdict, Summary: rv.Summary, Comments: rv.Comments}); err != nil {
			return err
		}
		return p.save(ctx, e, d)
	})
}

// pr commits the change on a branch, pushes it, opens a pull request when a GitHub
// token is configured, and finishes the execution.
func (p *Pipeline) pr(ctx context.Context, job *river.Job[PRArgs]) error {
	st, err := p.open(ctx, job.Args.UserID, job.Args.ExecutionID)
	if err != nil || st == nil {
		return err
	}
	e, d, task, proj := st.e, st.d, st.task, st.proj
	if err := p.begin(ctx, e, d, KindPR, d.Attempt); err != nil {
		return err
	}
	ws, err := p.workspace(ctx, e, d, proj)
	if err != nil {
		return err
	}
	author := p.cfg.Author
	if author.Name == "" {
		author = gitops.DefaultAuthor
	}
	branch := gitops.BranchName(task.ID.String(), task.Title)
	if len(d.Changed) > 0 {
		// Exactly the change that was tested and reviewed: what the test command wrote
		// (bytecode, caches, build output) never enters the commit.
		ws.Restrict(d.Changed)
	}
	sha, files, err := ws.Commit(ctx, branch, gitops.CommitMessage(task.Title, task.Description), author)
	if errors.Is(err, gitops.ErrNothingToCommit) {
		return fail("the change is empty: nothing to commit")
	}
	if err != nil {
		return err
	}
	d.Branch, d.CommitSHA = branch, sha
	p.emitE(ctx, e, "commit", map[string]any{"sha": sha, "branch": branch, "files": files})
	p.keepSnapshot(ctx, e, ws, sha)
	// The branch goes to the repository the run started with (a local project's own
	// repository, beside its other branches), checked again for the owner now; never
	// to whatever the project's repo_url has become since.
	repo, err := p.repository(ctx, e, d, proj)
	if err != nil {
		return err
	}
	if err := ws.Push(ctx, repo, branch, gitops.Force()); err != nil {
		return err
	}
	p.emitE(ctx, e, "pushed", map[string]any{"branch": branch, "remote": repo.String()})
	p.recordAudit(ctx, e, audit.ActionGitPush, audit.Success, map[string]any{"branch": branch, "commit": sha, "remote": repo.String()})
	if p.cfg.GitHubToken != "" && !repo.IsPath() {
		url, err := p.openPR(ctx, e, repo, task, branch, ws.BaseBranch, d)
		if err != nil {
			return err
		}
		d.PRURL = url
		p.emitE(ctx, e, "pr.opened", map[string]any{"url": url})
		p.recordAudit(ctx, e, audit.ActionPROpen, audit.Success, map[string]any{"url": url, "branch": branch})
	}
	now := store.Now()
	d.done("succeeded", "")
	e.Status, e.FinishedAt, e.Step = store.ExecSucceeded, &now, "done"
	err = jobs.Advance(ctx, p.Queue, job, e.UserID, e.ProjectID, &e.ID, nil, func(ctx context.Context) error {
		if err := p.Store.CreateCommit(ctx, &store.Commit{UserID: e.UserID, ExecutionID: e.ID, SHA: sha, Branch: branch,
			Message: gitops.CommitMessage(task.Title, task.Description), FilesChanged: files, PRURL: d.PRURL}); err != nil {
			return err
		}
		task.Status = store.TaskDone
		if err := p.Store.UpdateTask(ctx, task); err != nil {
			return err
		}
		if err := p.save(ctx, e, d); err != nil {
			return err
		}
		// In the same transaction as the finished status: a stream that sees the
		// execution finished has this event to read too.
		return p.Events.Emit(ctx, e.UserID, e.ProjectID, &e.ID, "execution.finished", map[string]any{"status": store.ExecSucceeded,
			"commit": sha, "branch": branch, "pr_url": d.PRURL, "changes_requested": d.ChangesRequested, "tokens_in": e.TokensIn, "tokens_out": e.TokensOut, "cost_usd": e.CostUSD})
	})
	if err != nil {
		return err
	}
	p.removeWorkspace(e)
	return nil
}

func (p *Pipeline) openPR(ctx context.Context, e *store.Execution, pinned *gitops.Repository, task *store.Task, branch, base string, d *Details) (string, error) {
	repo, err := pinned.GitHub()
	if err != nil {
		return "", fail("cannot open a pull request: %v", err)
	}
	api := p.cfg.GitHubAPI
	if api == "" {
		api = repo.APIBaseURL()
	}
	gh, err := gitops.NewGitHub(gitops.GitHubConfig{BaseURL: api, Token: p.cfg.GitHubToken})
	if err != nil {
		return "", fail("github client: %v", err)
	}
	reviews, _ := p.Store.ListReviews(ctx, e.UserID, e.ID, store.Page{Limit: 1})
	pr, err := gh.OpenPullRequest(ctx, gitops.PRRequest{Owner: repo.Owner, Repo: repo.Name, Title: subject(gitops.CommitMessage(task.Title, "")),
		Body: prBody(task, d, reviews), Head: branch, Base: base, Draft: d.ChangesRequested})
	if err != nil {
		var ae *gitops.APIError
		if errors.As(err, &ae) && !ae.Retryable() {
			return "", fail("opening the pull request failed: %v", err)
		}
		return "", err
	}
	return pr.HTMLURL, nil
}

func prBody(task *store.Task, d *Details, reviews []store.Review) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(task.Description))
	if n := len(d.Tests); n > 0 {
		last := d.Tests[n-1]
		fmt.Fprintf(&b, "**Tests:** `%s` passed: %v (sandboxed: %v, %d attempt(s))\n\n", last.Command, last.Passed, last.Sandboxed, d.Attempt)
	}
	if d.ChangesRequested {
		fmt.Fprintf(&b, "**Draft:** the reviewer still asked for changes after %d round(s) with the coder; a person should look before merging.\n\n", d.ReviewRounds)
	}
	if len(reviews) > 0 {
		r := reviews[0]
		fmt.Fprintf(&b, "## Review: %s\n\n%s\n", r.Verdict, r.Summary)
		for _, c := range r.Comments {
			fmt.Fprintf(&b, "- `%s:%d` %s\n", c.Path, c.Line, c.Body)
		}
	}
	b.WriteString("\n---\nOpened by Vibe Coder.\n")
	return b.String()
}

// subject is a commit message's first line.
func subject(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	return line
}

// recordAudit records a step's outcome against the execution's owner; the target is
// the execution (its project is in the metadata).
func (p *Pipeline) recordAudit(ctx context.Context, e *store.Execution, action, outcome string, meta map[string]any) {
	meta["project_id"] = e.ProjectID.String()
	audit.Record(ctx, p.Audit, audit.Entry{ActorID: audit.Actor(e.UserID), Action: action, TargetType: "execution",
		TargetID: e.ID.String(), Outcome: outcome, Metadata: meta})
}

// stepState is what every step starts from.
type stepState struct {
	e    *store.Execution
	d    *Details
	task *store.Task
	proj *store.Project
}

// open loads a step's execution with its task and project; it returns nil (and no
// error) when the execution has already ended, so the step has nothing to do.
func (p *Pipeline) open(ctx context.Context, userID, execID uuid.UUID) (*stepState, error) {
	e, d, err := p.load(ctx, userID, execID)
	if err != nil {
		return nil, err
	}
	if terminal(e.Status) {
		return nil, nil
	}
	task, err := p.Store.GetTask(ctx, e.UserID, e.TaskID)
	if err != nil {
		return nil, fail("task of execution: %v", err)
	}
	proj, err := p.Store.GetProject(ctx, e.UserID, e.ProjectID)
	if err != nil {
		return nil, fail("project of execution: %v", err)
	}
	if m, ok := ctx.Value(memoKey{}).(*stepMemo); ok {
		m.e, m.d = e, d
	}
	return &stepState{e: e, d: d, task: task, proj: proj}, nil
}
