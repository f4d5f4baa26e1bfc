package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

type executionView struct {
	ID         uuid.UUID  `json:"id"`
	ProjectID  uuid.UUID  `json:"project_id"`
	TaskID     uuid.UUID  `json:"task_id"`
	Status     string     `json:"status"`
	Step       string     `json:"step"`
	Error      string     `json:"error,omitempty"`
	TokensIn   int64      `json:"tokens_in"`
	TokensOut  int64      `json:"tokens_out"`
	CostUSD    float64    `json:"cost_usd"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// Details is what the pipeline recorded: steps with timings, test runs, the diff,
	// the agents and models used, the branch and pull request.
	Details json.RawMessage `json:"details"`
	// Review and Commit are the latest of each, on GET of one execution.
	Review *reviewView `json:"review,omitempty"`
	Commit *commitView `json:"commit,omitempty"`
}

func viewExecution(e store.Execution) executionView {
	d := e.Details
	if len(d) == 0 {
		d = json.RawMessage(`{}`)
	}
	return executionView{ID: e.ID, ProjectID: e.ProjectID, TaskID: e.TaskID, Status: e.Status, Step: e.Step, Error: e.Error,
		TokensIn: e.TokensIn, TokensOut: e.TokensOut, CostUSD: e.CostUSD, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Details: d}
}

type commitView struct {
	ID           uuid.UUID `json:"id"`
	ExecutionID  uuid.UUID `json:"execution_id"`
	SHA          string    `json:"sha"`
	Branch       string    `json:"branch"`
	Message      string    `json:"message"`
	FilesChanged []string  `json:"files_changed"`
	PRURL        string    `json:"pr_url"`
	CreatedAt    time.Time `json:"created_at"`
}

func viewCommit(c store.Commit) commitView {
	return commitView{ID: c.ID, ExecutionID: c.ExecutionID, SHA: c.SHA, Branch: c.Branch, Message: c.Message,
		FilesChanged: c.FilesChanged, PRURL: c.PRURL, CreatedAt: c.CreatedAt}
}

type reviewView struct {
	ID          uuid.UUID             `json:"id"`
	ExecutionID uuid.UUID             `json:"execution_id"`
	AgentID     *uuid.UUID            `json:"agent_id"`
	Verdict     string                `json:"verdict"`
	Summary     string                `json:"summary"`
	Comments    []store.ReviewComment `json:"comments"`
	CreatedAt   time.Time             `json:"created_at"`
}

func viewReview(r store.Review) reviewView {
	return reviewView{ID: r.ID, ExecutionID: r.ExecutionID, AgentID: r.AgentID, Verdict: r.Verdict, Summary: r.Summary,
		Comments: r.Comments, CreatedAt: r.CreatedAt}
}

func executionID(e store.Execution) uuid.UUID { return e.ID }

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	taskID := uuid.Nil
	if raw := r.URL.Query().Get("task_id"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", "task_id is not a valid id")
			return
		}
		// A filter naming another user's task (or none) is a 404, as the task's own
		// routes answer, not an empty list that says nothing about whether it exists.
		if _, err := s.store.GetTask(r.Context(), u.ID, id); err != nil {
			s.ownedError(w, r, "task", store.ResourceTask, id.String(), err)
			return
		}
		taskID = id
	}
	s.writeExecutions(w, r, u.ID, taskID)
}

func (s *Server) listTaskExecutions(w http.ResponseWriter, r *http.Request) {
	t, ok := s.ownTask(w, r)
	if !ok {
		return
	}
	s.writeExecutions(w, r, t.UserID, t.ID)
}

func (s *Server) writeExecutions(w http.ResponseWriter, r *http.Request, userID, taskID uuid.UUID) {
	writeList(s, w, r, "execution", func(p store.Page) ([]store.Execution, error) {
		return s.store.ListExecutions(r.Context(), userID, taskID, p)
	}, executionID, viewExecution)
}

func (s *Server) ownExecution(w http.ResponseWriter, r *http.Request) (*store.Execution, bool) {
	id, ok := s.pathID(w, r, "execution")
	if !ok {
		return nil, false
	}
	e, err := s.store.GetExecution(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.ownedError(w, r, "execution", store.ResourceExecution, id.String(), err)
		return nil, false
	}
	return e, true
}

func (s *Server) getExecution(w http.ResponseWriter, r *http.Request) {
	e, ok := s.ownExecution(w, r)
	if !ok {
		return
	}
	out := viewExecution(*e)
	reviews, err := s.store.ListReviews(r.Context(), e.UserID, e.ID, store.Page{Limit: 1})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if len(reviews) > 0 {
		v := viewReview(reviews[0])
		out.Review = &v
	}
	commits, err := s.store.ListCommits(r.Context(), e.UserID, e.ID, store.Page{Limit: 1})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if len(commits) > 0 {
		v := viewCommit(commits[0])
		out.Commit = &v
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listCommits(w http.ResponseWriter, r *http.Request) {
	e, ok := s.ownExecution(w, r)
	if !ok {
		return
	}
	writeList(s, w, r, "commit", func(p store.Page) ([]store.Commit, error) {
		return s.store.ListCommits(r.Context(), e.UserID, e.ID, p)
	}, func(c store.Commit) uuid.UUID { return c.ID }, viewCommit)
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	e, ok := s.ownExecution(w, r)
	if !ok {
		return
	}
	writeList(s, w, r, "review", func(p store.Page) ([]store.Review, error) {
		return s.store.ListReviews(r.Context(), e.UserID, e.ID, p)
	}, func(rv store.Review) uuid.UUID { return rv.ID }, viewReview)
}
