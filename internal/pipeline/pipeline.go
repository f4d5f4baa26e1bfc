// Package pipeline is what Vibe Coder exists for: a task goes in, a tested, reviewed
// pull request comes out. An execution moves through steps, each a River job —
// codegen (the coder agent edits a fresh workspace), testrun (the project's tests in
// the sandbox, failures going back to codegen), review (the reviewer agent) and pr
// (branch, commit, push, pull request) — and every step ends by enqueueing the next in
// the same transaction that records its outcome. PreviewFiles gives the dashboard an
// execution's files to preview, during the run and after it.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/buildcache"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/sandbox"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Config tunes the pipeline.
type Config struct {
	DataDir string
	// MaxRepairs is how many times failing tests go back to the coder.
	MaxRepairs int
	// MaxReviewRounds is how many times a review that requests changes goes back to
	// the coder (then tests and review again); when the last review still requests
	// changes, the pull request is opened as a draft.
	MaxReviewRounds int
	// ContextTokens caps the coder's context (full texts and repository map) in tokens,
	// whatever the model's window (0: DefaultContextTokens).
	ContextTokens int
	// EditRounds is how many times, within one codegen step, edits that did not apply
	// go back to the model with the reason (default 2).
	EditRounds int
	// TestTimeout bounds one test run (default 10 minutes).
	TestTimeout time.Duration
	// Author signs the commits (default gitops.DefaultAuthor).
	Author gitops.Author
	// GitHubToken enables pull requests (and authenticates HTTPS pushes).
	GitHubToken string
	// GitHubAPI is the REST API base URL; empty derives it from the remote (GitHub
	// Enterprise hosts get https://host/api/v3).
	GitHubAPI string
	// Jobs is the job configuration, for each step's timeout and retry policy.
	Jobs jobs.Config
	// Repos decides which repositories the project's owner may have the server clone
	// and push to, and how git reaches them (the token for HTTPS included). Nil: the
	// strictest policy (local repositories for administrators only, public remotes).
	Repos *gitops.RepoPolicy
	// PreviewRetention is how long the committed files of a finished execution are
	// kept for the dashboard's preview (default 7 days).
	PreviewRetention time.Duration
}

func (c *Config) defaults() {
	c.MaxRepairs = max(c.MaxRepairs, 0)
	c.MaxReviewRounds = max(c.MaxReviewRounds, 0)
	if c.EditRounds <= 0 {
		c.EditRounds = 2
	}
	if c.TestTimeout <= 0 {
		c.TestTimeout = 10 * time.Minute
	}
	if c.PreviewRetention <= 0 {
		c.PreviewRetention = DefaultPreviewRetention
	}
	if c.Repos == nil {
		c.Repos = &gitops.RepoPolicy{}
	}
}

// DefaultPreviewRetention is Config.PreviewRetention's default.
const DefaultPreviewRetention = 7 * 24 * time.Hour

// Deps are the components the pipeline drives.
type Deps struct {
	Store   store.Store
	Queue   *jobs.Queue
	Gateway *gateway.Gateway
	Index   *index.Indexer // nil: no retrieval
	Sandbox *sandbox.Runner
	// Seeder gives a Go project's build cache the standard library before its first test
	// run; nil: first runs compile it.
	Seeder *buildcache.Seeder
	Git    *gitops.Workspaces
	Events *jobs.Events
	Log    *slog.Logger
	// Audit records code generation, pushes and pull requests; nil records nothing.
	Audit audit.Recorder
}

// Pipeline runs executions.
type Pipeline struct {
	Deps
	cfg Config
}

// New returns a Pipeline.
func New(d Deps, cfg Config) *Pipeline {
	cfg.defaults()
	return &Pipeline{Deps: d, cfg: cfg}
}

// The steps' job kinds, each its queue's name.
const (
	KindCodegen = "codegen"
	KindTestrun = "testrun"
	KindReview  = "review"
	KindPR      = "pr"
)

// JobKinds declares the steps to the job system, with their queues' defaults.
var JobKinds = []jobs.Kind{
	{Name: KindCodegen, Queue: jobs.QueueConfig{Concurrency: 4, Timeout: 15 * time.Minute, MaxAttempts: 3, Backoff: 15 * time.Second}},
	{Name: KindTestrun, Queue: jobs.QueueConfig{Concurrency: 2, Timeout: 20 * time.Minute, MaxAttempts: 2, Backoff: 15 * time.Second}},
	{Name: KindReview, Queue: jobs.QueueConfig{Concurrency: 4, Timeout: 10 * time.Minute, MaxAttempts: 3, Backoff: 15 * time.Second}},
	{Name: KindPR, Queue: jobs.QueueConfig{Concurrency: 2, Timeout: 5 * time.Minute, MaxAttempts: 5, Backoff: 30 * time.Second}},
}

// Step job arguments: the execution they advance.
type (
	CodegenArgs struct {
		UserID      uuid.UUID `json:"user_id"`
		ExecutionID uuid.UUID `json:"execution_id"`
	}
	TestrunArgs CodegenArgs
	ReviewArgs  CodegenArgs
	PRArgs      CodegenArgs
)

// Kind implements river.JobArgs.
func (CodegenArgs) Kind() string { return KindCodegen }

// Kind implements river.JobArgs.
func (TestrunArgs) Kind() string { return KindTestrun }

// Kind implements river.JobArgs.
func (ReviewArgs) Kind() string { return KindReview }

// Kind implements river.JobArgs.
func (PRArgs) Kind() string { return KindPR }

// Register adds the step workers to a River workers bundle.
func (p *Pipeline) Register(w *river.Workers) {
	river.AddWorker(w, &stepWorker[CodegenArgs]{Policy: jobs.PolicyFor[CodegenArgs](p.cfg.Jobs, KindCodegen), p: p, run: p.codegen})
	river.AddWorker(w, &stepWorker[TestrunArgs]{Policy: jobs.PolicyFor[TestrunArgs](p.cfg.Jobs, KindTestrun), p: p, run: p.testrun})
	river.AddWorker(w, &stepWorker[ReviewArgs]{Policy: jobs.PolicyFor[ReviewArgs](p.cfg.Jobs, KindReview), p: p, run: p.review})
	river.AddWorker(w, &stepWorker[PRArgs]{Policy: jobs.PolicyFor[PRArgs](p.cfg.Jobs, KindPR), p: p, run: p.pr})
}

// Step is one entry of an execution's timeline.
type Step struct {
	Name       string     `json:"name"`
	Attempt    int        `json:"attempt"`
	Status     string     `json:"status"` // running, succeeded, failed
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// TestRun is one run of the project's tests.
type TestRun struct {
	Attempt    int    `json:"attempt"`
	Command    string `json:"command"`
	ExitCode   int    `json:"exit_code"`
	Passed     bool   `json:"passed"`
	Sandboxed  bool   `json:"sandboxed"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
	Output     string `json:"output"`
	Truncated  bool   `json:"truncated"`
	// Seeded reports that the project's Go build cache was seeded for this run, its first
	// (see internal/buildcache).
	Seeded bool `json:"seeded,omitempty"`
}

// EditRound is one answer of the coder and what came of its edits.
type EditRound struct {
	Attempt int      `json:"attempt"`
	Round   int      `json:"round"`
	Applied int      `json:"applied"`
	Failed  int      `json:"failed"`
	Files   []string `json:"files"`
	Report  string   `json:"report,omitempty"` // what went back to the model
}

// Details is an execution's record (store.Execution.Details).
type Details struct {
	Steps           []Step      `json:"steps"`
	CoderAgentID    *uuid.UUID  `json:"coder_agent_id,omitempty"`
	ReviewerAgentID *uuid.UUID  `json:"reviewer_agent_id,omitempty"`
	CoderModel      string      `json:"coder_model,omitempty"`
	ReviewerModel   string      `json:"reviewer_model,omitempty"`
	Attempt         int         `json:"attempt"` // codegen attempts so far
	MaxRepairs      int         `json:"max_repairs"`
	Repo            *PinnedRepo `json:"repo,omitempty"`
	Source          string      `json:"source,omitempty"`
	Local           bool        `json:"local,omitempty"`
	BaseBranch      string      `json:"base_branch,omitempty"`
	BaseSHA         string      `json:"base_sha,omitempty"`
	TestCommand     string      `json:"test_command,omitempty"`
	Tests           []TestRun   `json:"tests"`
	Edits           []EditRound `json:"edits"`
	// Changed lists every file the coder's edits wrote, across rounds and attempts:
	// the diff and the commit take these files and nothing else from the workspace.
	Changed     []string `json:"changed,omitempty"`
	CoderOutput string   `json:"coder_output,omitempty"` // the coder's last answer
	// ReviewRounds counts the reviews that requested changes and went back to the
	// coder; ReviewFeedback is the last such review, for the coder's next prompt.
	ReviewRounds   int    `json:"review_rounds,omitempty"`
	ReviewFeedback string `json:"review_feedback,omitempty"`
	// ChangesRequested is set when the last review still requested changes: the
	// branch is pushed and the pull request opened as a draft.
	ChangesRequested bool   `json:"changes_requested,omitempty"`
	Diff             string `json:"diff"`
	Branch           string `json:"branch,omitempty"`
	CommitSHA        string `json:"commit_sha,omitempty"`
	PRURL            string `json:"pr_url,omitempty"`
	Sandboxed        *bool  `json:"sandboxed,omitempty"`
}

// PinnedRepo is the repository an execution started with. Every step clones from
// and pushes to it, whatever the project's repo_url has become since, and checks it
// against the policy again (the owner's rights, the roots, the remote's addresses)
// before using it.
type PinnedRepo struct {
	// URL is the project's repo_url when the run started, without credentials.
	URL string `json:"url"`
	// Local reports a repository on the server's disk; Path is its real path then,
	// which must not change during the run (a symbolic link swapped mid-run).
	Local bool   `json:"local,omitempty"`
	Path  string `json:"path,omitempty"`
}

// permanent marks an error no retry can fix: the execution fails at once.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

func fail(format string, args ...any) error { return permanent{fmt.Errorf(format, args...)} }

func terminal(status string) bool {
	return status == store.ExecSucceeded || status == store.ExecFailed || status == store.ExecCancelled
}

// stepWorker runs one step kind with the policy of its queue, and turns the step's
// last failure (or a permanent one, or a cancellation by the user) into a failed or
// cancelled execution, so no execution is ever left "running" with no job behind it.
type stepWorker[T interface {
	river.JobArgs
	ids() (uuid.UUID, uuid.UUID)
}] struct {
	jobs.Policy[T]
	p   *Pipeline
	run func(ctx context.Context, job *river.Job[T]) error
}

func (a CodegenArgs) ids() (uuid.UUID, uuid.UUID) { return a.UserID, a.ExecutionID }
func (a TestrunArgs) ids() (uuid.UUID, uuid.UUID) { return a.UserID, a.ExecutionID }
func (a ReviewArgs) ids() (uuid.UUID, uuid.UUID)  { return a.UserID, a.ExecutionID }
func (a PRArgs) ids() (uuid.UUID, uuid.UUID)      { return a.UserID, a.ExecutionID }

func (w *stepWorker[T]) Work(ctx context.Context, job *river.Job[T]) (err error) {
	userID, execID := job.Args.ids()
	ctx = jobs.WithJobContext(ctx, job.Metadata)
	ctx, span := observe.StartSpan(ctx, "job "+job.Kind, attribute.String("job.kind", job.Kind), attribute.Int64("job.id", job.ID),
		attribute.Int("job.attempt", job.Attempt), attribute.String("execution.id", execID.String()))
	defer func() { observe.EndSpan(span, err) }()
	memo := &stepMemo{}
	err = w.run(context.WithValue(ctx, memoKey{}, memo), job)
	if err == nil {
		return nil
	}
	cctx := context.WithoutCancel(ctx)
	var perm permanent
	switch {
	case errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
		w.p.finish(cctx, memo, userID, execID, store.ExecCancelled, "cancelled by the user")
		return err
	case errors.As(err, &perm):
		w.p.finish(cctx, memo, userID, execID, store.ExecFailed, err.Error())
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		w.p.finish(cctx, memo, userID, execID, store.ExecFailed, fmt.Sprintf("%s failed after %d attempts: %v", job.Kind, job.Attempt, err))
	default:
		// The job goes back to the queue: close this try's timeline entry, keeping what
		// the try did.
		if e, d, lerr := w.p.recall(cctx, memo, userID, execID); lerr == nil && !terminal(e.Status) {
			d.done("failed", err.Error())
			_ = w.p.save(cctx, e, d)
			w.p.emitE(cctx, e, "step.retry", map[string]any{"step": job.Kind, "attempt": job.Attempt, "error": err.Error()})
		}
	}
	return err
}

// stepMemo holds the execution a step is working on, as the step has changed it in
// memory: when the step fails, what it did (its edit rounds, the coder's output, the
// tokens and cost of its LLM calls) is saved with the failure rather than lost.
type stepMemo struct {
	e *store.Execution
	d *Details
}

type memoKey struct{}

// recall loads an execution for a step that failed: its status as stored (a cancel may
// have changed it), with the record and spend the step had collected in memory.
func (p *Pipeline) recall(ctx context.Context, m *stepMemo, userID, execID uuid.UUID) (*store.Execution, *Details, error) {
	e, d, err := p.load(ctx, userID, execID)
	if err != nil || m == nil || m.e == nil {
		return e, d, err
	}
	e.TokensIn, e.TokensOut, e.CostUSD = m.e.TokensIn, m.e.TokensOut, m.e.CostUSD
	return e, m.d, nil
}

// load reads an execution and its details.
func (p *Pipeline) load(ctx context.Context, userID, execID uuid.UUID) (*store.Execution, *Details, error) {
	e, err := p.Store.GetExecution(ctx, userID, execID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, fail("execution %s no longer exists", execID)
		}
		return nil, nil, err
	}
	d := &Details{}
	if len(e.Details) > 0 {
		if err := json.Unmarshal(e.Details, d); err != nil {
			return nil, nil, fail("execution %s has unreadable details: %v", execID, err)
		}
	}
	return e, d, nil
}

func (p *Pipeline) save(ctx context.Context, e *store.Execution, d *Details) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	e.Details = b
	return p.Store.UpdateExecution(ctx, e)
}

func (p *Pipeline) emitE(ctx context.Context, e *store.Execution, typ string, data any) {
	if err := p.Events.Emit(ctx, e.UserID, e.ProjectID, &e.ID, typ, data); err != nil {
		p.Log.Warn("execution event", slog.String("execution_id", e.ID.String()), slog.Any("error", err))
	}
}

// begin marks a step started (an event, a timeline entry, the execution running).
func (p *Pipeline) begin(ctx context.Context, e *store.Execution, d *Details, name string, attempt int) error {
	now := store.Now()
	e.Status, e.Step = store.ExecRunning, name
	if e.StartedAt == nil {
		e.StartedAt = &now
	}
	d.Steps = append(d.Steps, Step{Name: name, Attempt: attempt, Status: "running", StartedAt: now})
	if err := p.save(ctx, e, d); err != nil {
		return err
	}
	p.emitE(ctx, e, "step.started", map[string]any{"step": name, "attempt": attempt})
	return nil
}

// done closes the current step of the timeline.
func (d *Details) done(status, errMsg string) {
	if len(d.Steps) == 0 {
		return
	}
	now := store.Now()
	s := &d.Steps[len(d.Steps)-1]
	s.Status, s.FinishedAt, s.Error = status, &now, errMsg
}

// finish ends an execution (failed or cancelled), its task, and its workspace.
func (p *Pipeline) finish(ctx context.Context, memo *stepMemo, userID, execID uuid.UUID, status, msg string) {
	e, d, err := p.recall(ctx, memo, userID, execID)
	if err != nil || terminal(e.Status) {
		return
	}
	now := store.Now()
	d.done("failed", msg)
	e.Status, e.Error, e.FinishedAt = status, msg, &now
	err = p.Store.InTx(ctx, userID, func(ctx context.Context) error {
		if err := p.save(ctx, e, d); err != nil {
			return err
		}
		// With the status, so a stream that sees the execution finished reads this too.
		return p.Events.Emit(ctx, e.UserID, e.ProjectID, &e.ID, "execution.finished", map[string]any{"status": status, "error": msg})
	})
	if err != nil {
		p.Log.Error("finish execution", slog.String("execution_id", execID.String()), slog.Any("error", err))
		return
	}
	p.setTask(ctx, e, map[string]string{store.ExecFailed: store.TaskFailed, store.ExecCancelled: store.TaskCancelled}[status])
	p.removeWorkspace(e)
}

func (p *Pipeline) setTask(ctx context.Context, e *store.Execution, status string) {
	t, err := p.Store.GetTask(ctx, e.UserID, e.TaskID)
	if err != nil {
		return
	}
	t.Status = status
	if err := p.Store.UpdateTask(ctx, t); err != nil {
		p.Log.Warn("update task status", slog.String("task_id", t.ID.String()), slog.Any("error", err))
	}
}

func (p *Pipeline) workspaceDir(e *store.Execution) string {
	return filepath.Join(p.cfg.DataDir, "workspaces", e.ID.String())
}

func (p *Pipeline) removeWorkspace(e *store.Execution) {
	if err := p.Git.Discard(p.workspaceDir(e)); err != nil {
		p.Log.Warn("remove workspace", slog.String("execution_id", e.ID.String()), slog.Any("error", err))
	}
}

// workspace opens the execution's workspace, creating it on the first step — or again,
// from the recorded base and diff, when a step runs where the workspace is not.
func (p *Pipeline) workspace(ctx context.Context, e *store.Execution, d *Details, proj *store.Project) (*gitops.Workspace, error) {
	dir := p.workspaceDir(e)
	if d.BaseSHA != "" {
		if ws, err := p.Git.Open(ctx, dir, d.Source, d.Local, d.BaseBranch, d.BaseSHA); err == nil {
			return ws, nil
		}
	}
	// Whatever an interrupted step left there is not a workspace we recorded.
	if err := p.Git.Discard(dir); err != nil {
		return nil, err
	}
	repo, err := p.repository(ctx, e, d, proj)
	if err != nil {
		return nil, err
	}
	branch := proj.DefaultBranch
	if d.BaseBranch != "" {
		branch = d.BaseBranch
	}
	ws, err := p.Git.Create(ctx, repo, branch, dir)
	if err != nil {
		return nil, err
	}
	if d.BaseSHA != "" && ws.BaseSHA != d.BaseSHA {
		_ = ws.Remove()
		return nil, fail("the workspace is gone and the base commit %s is no longer at the head of %s", d.BaseSHA, d.BaseBranch)
	}
	if err := ws.ApplyDiff(ctx, d.Diff); err != nil {
		_ = ws.Remove()
		return nil, err
	}
	d.Source, d.Local, d.BaseBranch, d.BaseSHA = ws.Source, ws.Local, ws.BaseBranch, ws.BaseSHA
	p.emitE(ctx, e, "workspace.ready", map[string]any{"base_branch": ws.BaseBranch, "base_sha": ws.BaseSHA})
	return ws, nil
}

// owner is who the execution's repository is resolved for: its owner, as the
// database has them now (an administrator demoted mid-run loses a shared repository).
func (p *Pipeline) owner(ctx context.Context, userID uuid.UUID) (gitops.Owner, error) {
	u, err := p.Store.GetUser(ctx, userID)
	if err != nil {
		return gitops.Owner{}, err
	}
	return gitops.Owner{ID: u.ID, Admin: u.IsAdmin}, nil
}

// pin records the project's repository on the execution, once: the one every step
// uses. It is checked for the owner as a registration is (Run refuses what the owner
// may not use); each use resolves it again, strictly.
func (p *Pipeline) pin(ctx context.Context, userID uuid.UUID, d *Details, proj *store.Project) error {
	if d.Repo != nil {
		return nil
	}
	owner, err := p.owner(ctx, userID)
	if err != nil {
		return err
	}
	repo, err := p.cfg.Repos.Check(ctx, proj.RepoURL, owner)
	if err != nil {
		return permanent{err}
	}
	d.Repo = &PinnedRepo{URL: gitops.RedactURL(proj.RepoURL), Local: repo.Local(), Path: repo.Path()}
	return nil
}

// repository resolves the execution's pinned repository for its owner, now. The
// project's current repo_url lends its credentials only when it still names the pinned
// repository; a different one is ignored.
func (p *Pipeline) repository(ctx context.Context, e *store.Execution, d *Details, proj *store.Project) (*gitops.Repository, error) {
	if err := p.pin(ctx, e.UserID, d, proj); err != nil { // executions started before pinning existed
		return nil, err
	}
	raw := d.Repo.URL
	if gitops.RedactURL(proj.RepoURL) == d.Repo.URL {
		raw = proj.RepoURL
	}
	owner, err := p.owner(ctx, e.UserID)
	if err != nil {
		return nil, err
	}
	repo, err := p.cfg.Repos.Resolve(ctx, raw, owner)
	if err != nil {
		if errors.Is(err, gitops.ErrRepoUnreachable) {
			return nil, err // perhaps a passing network failure: the step is retried
		}
		return nil, permanent{err}
	}
	if repo.Local() != d.Repo.Local || d.Repo.Path != "" && repo.Path() != d.Repo.Path {
		return nil, fail("the repository %s is no longer the one the run started with (%s)", repo, d.Repo.Path)
	}
	return repo, nil
}

// Run starts an execution of a task: the execution row and its first job are
// written in one transaction. Agents default to the user's first coder and reviewer
// (created with the built-in defaults when the user has none).
func (p *Pipeline) Run(ctx context.Context, userID, taskID uuid.UUID, coderID, reviewerID *uuid.UUID) (*store.Execution, *jobs.Job, error) {
	task, err := p.Store.GetTask(ctx, userID, taskID)
	if err != nil {
		return nil, nil, err
	}
	coder, err := p.agent(ctx, userID, coderID, store.RoleCoder)
	if err != nil {
		return nil, nil, err
	}
	reviewer, err := p.agent(ctx, userID, reviewerID, store.RoleReviewer)
	if err != nil {
		return nil, nil, err
	}
	d := &Details{CoderAgentID: &coder.ID, ReviewerAgentID: &reviewer.ID, CoderModel: coder.Model, ReviewerModel: reviewer.Model,
		MaxRepairs: p.cfg.MaxRepairs, Tests: []TestRun{}, Edits: []EditRound{}, Steps: []Step{}}
	proj, err := p.Store.GetProject(ctx, userID, task.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	if err := p.pin(ctx, userID, d, proj); err != nil {
		var perm permanent
		if errors.As(err, &perm) {
			return nil, nil, perm.err // gitops.ErrRepoForbidden or ErrRepoInvalid
		}
		return nil, nil, err
	}
	b, _ := json.Marshal(d)
	e := &store.Execution{ID: store.NewID(), UserID: userID, TaskID: taskID, Status: store.ExecQueued, Step: KindCodegen, Details: b}
	job, err := p.Queue.Enqueue(ctx, userID, task.ProjectID, &e.ID, CodegenArgs{UserID: userID, ExecutionID: e.ID}, func(ctx context.Context) error {
		if err := p.Store.CreateExecution(ctx, e); err != nil {
			return err
		}
		task.Status = store.TaskRunning
		return p.Store.UpdateTask(ctx, task)
	})
	if err != nil {
		return nil, nil, err
	}
	p.emitE(ctx, e, "execution.queued", map[string]any{"job_id": job.ID})
	return e, job, nil
}

// agent returns the named agent (which must have the role), or the user's default one.
func (p *Pipeline) agent(ctx context.Context, userID uuid.UUID, id *uuid.UUID, role string) (*store.Agent, error) {
	if id != nil {
		a, err := p.Store.GetAgent(ctx, userID, *id)
		if err != nil {
			return nil, err
		}
		if a.Role != role {
			return nil, fmt.Errorf("%w: agent %s is a %s, not a %s", ErrBadAgent, a.ID, a.Role, role)
		}
		return a, nil
	}
	page := store.Page{Limit: store.MaxPageLimit}
	for {
		list, err := p.Store.ListAgents(ctx, userID, page)
		if err != nil {
			return nil, err
		}
		for i := len(list) - 1; i >= 0; i-- { // oldest first
			if list[i].Role == role {
				return &list[i], nil
			}
		}
		if len(list) < page.Limit {
			break
		}
		page.After = list[len(list)-1].ID
	}
	a := DefaultAgent(userID, role)
	if err := p.Store.CreateAgent(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// ErrBadAgent is returned by Run for an agent of the wrong role.
var ErrBadAgent = errors.New("wrong agent")

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n/2], "") + "\n… [truncated] …\n" + strings.ToValidUTF8(s[len(s)-n/2:], "")
}
