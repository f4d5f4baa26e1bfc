package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// JobsDeps is what the jobs endpoints need.
type JobsDeps struct {
	Queue *jobs.Queue
	Hub   *jobs.Hub
	// EnqueueIndex inserts an index job for the project (in one transaction with its
	// index status); set by the indexing component.
	EnqueueIndex func(ctx context.Context, p *store.Project) (*jobs.Job, error)
	// Poll is how often an event stream re-reads the table when nothing woke it.
	Poll time.Duration
}

// EnableJobs registers the jobs API and the event streams.
func (s *Server) EnableJobs(d JobsDeps) {
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	s.jobs = &d
}

func (s *Server) jobID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFoundResource(w, r, "job")
		return 0, false
	}
	return id, true
}

func (s *Server) jobError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, jobs.ErrJobState) {
		s.problem(w, r, http.StatusConflict, "Conflict", err.Error())
		return
	}
	s.ownedError(w, r, "job", store.ResourceJob, r.PathValue("id"), err)
}

// listJobs answers GET /api/v1/jobs?project_id=&cursor=&limit=: a project's jobs with
// state, attempts, errors and timings, newest first.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	q := r.URL.Query()
	pid, err := uuid.Parse(q.Get("project_id"))
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "project_id is required and must be a project id")
		return
	}
	if _, err := s.store.GetProject(r.Context(), u.ID, pid); err != nil {
		s.ownedError(w, r, "project", store.ResourceProject, pid.String(), err)
		return
	}
	limit := 50
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxListLimit {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", fmt.Sprintf("limit must be an integer in 1-%d", MaxListLimit))
			return
		}
		limit = n
	}
	var before int64
	if raw := q.Get("cursor"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", "cursor is not one this server returned")
			return
		}
		before = n
	}
	list, err := s.jobs.Queue.List(r.Context(), u.ID, pid, before, limit+1)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := listResponse[jobs.Job]{Items: list}
	if len(list) > limit {
		out.Items = list[:limit]
		out.NextCursor = strconv.FormatInt(list[limit-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := s.jobID(w, r)
	if !ok {
		return
	}
	j, err := s.jobs.Queue.Get(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.jobError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, ok := s.jobID(w, r)
	if !ok {
		return
	}
	j, err := s.jobs.Queue.Cancel(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.jobError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) {
	id, ok := s.jobID(w, r)
	if !ok {
		return
	}
	j, err := s.jobs.Queue.Retry(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.jobError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// indexProject answers POST /api/v1/projects/{id}/index: queue an index job.
func (s *Server) indexProject(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownProject(w, r)
	if !ok || !s.repoAllowed(w, r, p.RepoURL) {
		return
	}
	j, err := s.jobs.EnqueueIndex(r.Context(), p)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/jobs/"+strconv.FormatInt(j.ID, 10))
	writeJSON(w, http.StatusAccepted, j)
}

func (s *Server) executionEvents(w http.ResponseWriter, r *http.Request) {
	e, ok := s.ownExecution(w, r)
	if !ok {
		return
	}
	s.streamEvents(w, r, e.UserID, store.EventFilter{ProjectID: e.ProjectID, ExecutionID: e.ID}, func(ctx context.Context) bool {
		cur, err := s.store.GetExecution(ctx, e.UserID, e.ID)
		return err == nil && cur.FinishedAt != nil
	})
}

func (s *Server) projectEvents(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownProject(w, r)
	if !ok {
		return
	}
	s.streamEvents(w, r, p.UserID, store.EventFilter{ProjectID: p.ID}, nil)
}

// streamEvents serves events as server-sent events: everything after Last-Event-ID
// (or ?after=), then new events as they arrive — woken by this process's hub, by
// PostgreSQL NOTIFY through the hub, or by polling — with a heartbeat comment every
// 15 s. When finished reports true after the backlog is drained, the stream ends
// (an execution that has finished sends nothing more). When the server drains for
// shutdown the stream ends too, with a "shutdown" event that carries no id (so the
// client's Last-Event-ID stays the last event it got) and a retry hint.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, userID uuid.UUID, f store.EventFilter, finished func(context.Context) bool) {
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		raw = r.URL.Query().Get("after")
	}
	if raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", "Last-Event-ID (or after) must be an event id")
			return
		}
		f.AfterID = n
	}
	var wake <-chan struct{}
	if s.jobs.Hub != nil {
		ch, unsub := s.jobs.Hub.Subscribe()
		defer unsub()
		wake = ch
	}
	sse := newSSE(w)
	if err := sse.raw(": stream open\n\n"); err != nil {
		return
	}
	poll := time.NewTicker(s.jobs.Poll)
	defer poll.Stop()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	ctx := r.Context()
	f.Limit = 200
	for {
		evs, err := s.store.ListEvents(ctx, userID, f)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "event stream read failed", "error", err)
				_ = sse.event("error", map[string]string{"message": "reading events failed; reconnect with Last-Event-ID"})
			}
			return
		}
		for _, ev := range evs {
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, ev.Data); err != nil {
				return
			}
			f.AfterID = ev.ID
		}
		if len(evs) > 0 {
			if err := sse.rc.Flush(); err != nil {
				return
			}
		}
		if len(evs) == f.Limit {
			continue
		}
		if finished != nil && finished(ctx) {
			// Anything appended just before finishing was read above unless it raced
			// this check: read once more, then end.
			if more, err := s.store.ListEvents(ctx, userID, f); err == nil && len(more) > 0 {
				continue
			}
			_ = sse.raw("event: end\ndata: {}\n\n")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.draining:
			_ = sse.raw("retry: 1000\nevent: shutdown\ndata: {\"reason\":\"the server is shutting down; reconnect with Last-Event-ID\"}\n\n")
			return
		case <-wake:
		case <-poll.C:
		case <-heartbeat.C:
			if err := sse.raw(": heartbeat\n\n"); err != nil {
				return
			}
		}
	}
}

// repoAllowed answers 403 when the caller may not use the project's repository now
// (registration checked it, but the roots, the file system or the remote's addresses
// may have changed since).
func (s *Server) repoAllowed(w http.ResponseWriter, r *http.Request, repo string) bool {
	u := userFrom(r.Context())
	if _, err := s.cfg.Repos.Check(r.Context(), repo, gitops.Owner{ID: u.ID, Admin: u.IsAdmin}); err != nil {
		s.problem(w, r, http.StatusForbidden, "Forbidden", err.Error())
		return false
	}
	return true
}
