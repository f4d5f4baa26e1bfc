package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

type taskView struct {
	ID          uuid.UUID `json:"id"`
	ProjectID   uuid.UUID `json:"project_id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewTask(t store.Task) taskView {
	return taskView{ID: t.ID, ProjectID: t.ProjectID, Title: t.Title, Description: t.Description, Status: t.Status,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

type taskInput struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Status      *string `json:"status"`
}

func (in taskInput) apply(t *store.Task) {
	set(&t.Title, in.Title)
	set(&t.Description, in.Description)
	set(&t.Status, in.Status)
}

func validateTask(t *store.Task) *validator {
	var v validator
	v.text("title", t.Title, 1, 200, false)
	v.text("description", t.Description, 0, 20000, true)
	v.oneOf("status", t.Status, store.TaskStatuses)
	return &v
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	proj, ok := s.ownProject(w, r)
	if !ok {
		return
	}
	writeList(s, w, r, "task", func(p store.Page) ([]store.Task, error) {
		return s.store.ListTasks(r.Context(), proj.UserID, proj.ID, p)
	}, func(t store.Task) uuid.UUID { return t.ID }, viewTask)
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	proj, ok := s.ownProject(w, r)
	if !ok {
		return
	}
	var in taskInput
	if !s.decode(w, r, &in) {
		return
	}
	t := &store.Task{UserID: proj.UserID, ProjectID: proj.ID, Status: store.TaskOpen}
	in.apply(t)
	if v := validateTask(t); !v.ok() {
		s.invalid(w, r, v)
		return
	}
	if err := s.store.CreateTask(r.Context(), t); err != nil {
		s.storeError(w, r, "project", err)
		return
	}
	w.Header().Set("Location", "/api/v1/tasks/"+t.ID.String())
	writeJSON(w, http.StatusCreated, viewTask(*t))
}

func (s *Server) ownTask(w http.ResponseWriter, r *http.Request) (*store.Task, bool) {
	id, ok := s.pathID(w, r, "task")
	if !ok {
		return nil, false
	}
	t, err := s.store.GetTask(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.ownedError(w, r, "task", store.ResourceTask, id.String(), err)
		return nil, false
	}
	return t, true
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	if t, ok := s.ownTask(w, r); ok {
		writeJSON(w, http.StatusOK, viewTask(*t))
	}
}

func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) {
	t, ok := s.ownTask(w, r)
	if !ok {
		return
	}
	var in taskInput
	if !s.decode(w, r, &in) {
		return
	}
	in.apply(t)
	if v := validateTask(t); !v.ok() {
		s.invalid(w, r, v)
		return
	}
	if err := s.store.UpdateTask(r.Context(), t); err != nil {
		s.storeError(w, r, "task", err)
		return
	}
	writeJSON(w, http.StatusOK, viewTask(*t))
}

func (s *Server) deleteTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r, "task")
	if !ok {
		return
	}
	if err := s.store.DeleteTask(r.Context(), userFrom(r.Context()).ID, id); err != nil {
		s.ownedError(w, r, "task", store.ResourceTask, id.String(), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
