package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/pipeline"
)

// EnableRuns registers POST /api/v1/tasks/{id}/run.
func (s *Server) EnableRuns(p *pipeline.Pipeline) {
	s.pipeline = p
}

// runTask starts an execution of the task: the execution and its first job are
// written in one transaction. The body is optional: {"coder_agent_id", "reviewer_agent_id"}.
func (s *Server) runTask(w http.ResponseWriter, r *http.Request) {
	t, ok := s.ownTask(w, r)
	if !ok {
		return
	}
	proj, err := s.store.GetProject(r.Context(), t.UserID, t.ProjectID)
	if err != nil {
		s.storeError(w, r, "task", err)
		return
	}
	if !s.repoAllowed(w, r, proj.RepoURL) {
		return
	}
	var in struct {
		CoderAgentID    *uuid.UUID `json:"coder_agent_id"`
		ReviewerAgentID *uuid.UUID `json:"reviewer_agent_id"`
	}
	if r.ContentLength != 0 && r.Header.Get("Content-Type") != "" {
		if !s.decode(w, r, &in) {
			return
		}
	}
	e, job, err := s.pipeline.Run(r.Context(), t.UserID, t.ID, in.CoderAgentID, in.ReviewerAgentID)
	if errors.Is(err, gitops.ErrRepoForbidden) || errors.Is(err, gitops.ErrRepoInvalid) {
		s.problem(w, r, http.StatusForbidden, "Forbidden", err.Error())
		return
	}
	if errors.Is(err, pipeline.ErrBadAgent) {
		var v validator
		v.add("coder_agent_id", "%v", err)
		s.invalid(w, r, &v)
		return
	}
	if err != nil {
		s.storeError(w, r, "agent", err)
		return
	}
	s.record(r, audit.Entry{Action: audit.ActionTaskRun, TargetType: "task", TargetID: t.ID.String(),
		Metadata: map[string]any{"execution_id": e.ID.String(), "project_id": t.ProjectID.String(), "job_id": job.ID}})
	w.Header().Set("Location", "/api/v1/executions/"+e.ID.String())
	out := struct {
		executionView
		JobID string `json:"job_id"`
	}{viewExecution(*e), strconv.FormatInt(job.ID, 10)}
	writeJSON(w, http.StatusAccepted, out)
}
