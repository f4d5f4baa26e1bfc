package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/store"
)

type projectView struct {
	ID            uuid.UUID  `json:"id"`
	Name          string     `json:"name"`
	Description   string     `json:"description"`
	RepoURL       string     `json:"repo_url"`
	DefaultBranch string     `json:"default_branch"`
	TestCommand   string     `json:"test_command"`
	IndexStatus   string     `json:"index_status"`
	IndexedAt     *time.Time `json:"indexed_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

func viewProject(p store.Project) projectView {
	return projectView{ID: p.ID, Name: p.Name, Description: p.Description, RepoURL: p.RepoURL, DefaultBranch: p.DefaultBranch,
		TestCommand: p.TestCommand, IndexStatus: p.IndexStatus, IndexedAt: p.IndexedAt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// projectInput is the body of create (all fields) and update (only those present).
type projectInput struct {
	Name          *string `json:"name"`
	Description   *string `json:"description"`
	RepoURL       *string `json:"repo_url"`
	DefaultBranch *string `json:"default_branch"`
	TestCommand   *string `json:"test_command"`
}

func (in projectInput) apply(p *store.Project) {
	set(&p.Name, in.Name)
	set(&p.Description, in.Description)
	set(&p.RepoURL, in.RepoURL)
	set(&p.DefaultBranch, in.DefaultBranch)
	set(&p.TestCommand, in.TestCommand)
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// validateProject checks a project's fields and, when its repository is new or
// changed (checkRepo), that the caller may use it: their own local directory, a
// public remote (gitops.RepoPolicy).
func (s *Server) validateProject(r *http.Request, p *store.Project, checkRepo bool) *validator {
	var v validator
	v.text("name", p.Name, 1, 100, false)
	v.text("description", p.Description, 0, 2000, true)
	v.repoURL("repo_url", p.RepoURL)
	v.branch("default_branch", p.DefaultBranch)
	v.text("test_command", p.TestCommand, 0, 1000, false)
	if checkRepo && v.ok() {
		u := userFrom(r.Context())
		if _, err := s.cfg.Repos.Check(r.Context(), p.RepoURL, gitops.Owner{ID: u.ID, Admin: u.IsAdmin}); err != nil {
			v.add("repo_url", "%v", err)
		}
	}
	return &v
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	writeList(s, w, r, "project", func(p store.Page) ([]store.Project, error) { return s.store.ListProjects(r.Context(), u.ID, p) },
		func(p store.Project) uuid.UUID { return p.ID }, viewProject)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) {
	var in projectInput
	if !s.decode(w, r, &in) {
		return
	}
	p := &store.Project{UserID: userFrom(r.Context()).ID, DefaultBranch: "main"}
	in.apply(p)
	if v := s.validateProject(r, p, true); !v.ok() {
		s.invalid(w, r, v)
		return
	}
	if err := s.store.CreateProject(r.Context(), p); err != nil {
		s.storeError(w, r, "project", err)
		return
	}
	s.record(r, audit.Entry{Action: audit.ActionProjectCreate, TargetType: "project", TargetID: p.ID.String(),
		Metadata: map[string]any{"name": p.Name}})
	w.Header().Set("Location", "/api/v1/projects/"+p.ID.String())
	writeJSON(w, http.StatusCreated, viewProject(*p))
}

// ownProject loads the caller's project named by {id}, answering 404 otherwise.
func (s *Server) ownProject(w http.ResponseWriter, r *http.Request) (*store.Project, bool) {
	id, ok := s.pathID(w, r, "project")
	if !ok {
		return nil, false
	}
	p, err := s.store.GetProject(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.ownedError(w, r, "project", store.ResourceProject, id.String(), err)
		return nil, false
	}
	return p, true
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.ownProject(w, r); ok {
		writeJSON(w, http.StatusOK, viewProject(*p))
	}
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownProject(w, r)
	if !ok {
		return
	}
	var in projectInput
	if !s.decode(w, r, &in) {
		return
	}
	in.apply(p)
	if v := s.validateProject(r, p, in.RepoURL != nil); !v.ok() {
		s.invalid(w, r, v)
		return
	}
	if err := s.store.UpdateProject(r.Context(), p); err != nil {
		s.storeError(w, r, "project", err)
		return
	}
	writeJSON(w, http.StatusOK, viewProject(*p))
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r, "project")
	if !ok {
		return
	}
	if err := s.store.DeleteProject(r.Context(), userFrom(r.Context()).ID, id); err != nil {
		s.ownedError(w, r, "project", store.ResourceProject, id.String(), err)
		return
	}
	s.record(r, audit.Entry{Action: audit.ActionProjectDelete, TargetType: "project", TargetID: id.String()})
	w.WriteHeader(http.StatusNoContent)
}
