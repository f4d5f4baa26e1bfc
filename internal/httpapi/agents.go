package httpapi

import (
	"math"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

type agentView struct {
	ID           uuid.UUID `json:"id"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	SystemPrompt string    `json:"system_prompt"`
	Temperature  float64   `json:"temperature"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func viewAgent(a store.Agent) agentView {
	return agentView{ID: a.ID, Name: a.Name, Role: a.Role, Model: a.Model, SystemPrompt: a.SystemPrompt,
		Temperature: a.Temperature, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

type agentInput struct {
	Name         *string  `json:"name"`
	Role         *string  `json:"role"`
	Model        *string  `json:"model"`
	SystemPrompt *string  `json:"system_prompt"`
	Temperature  *float64 `json:"temperature"`
}

func (in agentInput) apply(a *store.Agent) {
	set(&a.Name, in.Name)
	set(&a.Role, in.Role)
	set(&a.Model, in.Model)
	set(&a.SystemPrompt, in.SystemPrompt)
	set(&a.Temperature, in.Temperature)
}

func validateAgent(a *store.Agent) *validator {
	var v validator
	v.text("name", a.Name, 1, 100, false)
	v.oneOf("role", a.Role, store.AgentRoles)
	v.text("model", a.Model, 0, 200, false)
	v.text("system_prompt", a.SystemPrompt, 0, 20000, true)
	if math.IsNaN(a.Temperature) || a.Temperature < 0 || a.Temperature > 2 {
		v.add("temperature", "must be between 0 and 2")
	}
	return &v
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	writeList(s, w, r, "agent", func(p store.Page) ([]store.Agent, error) { return s.store.ListAgents(r.Context(), u.ID, p) },
		func(a store.Agent) uuid.UUID { return a.ID }, viewAgent)
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) {
	var in agentInput
	if !s.decode(w, r, &in) {
		return
	}
	a := &store.Agent{UserID: userFrom(r.Context()).ID}
	in.apply(a)
	if v := validateAgent(a); !v.ok() {
		s.invalid(w, r, v)
		return
	}
	if err := s.store.CreateAgent(r.Context(), a); err != nil {
		s.storeError(w, r, "agent", err)
		return
	}
	w.Header().Set("Location", "/api/v1/agents/"+a.ID.String())
	writeJSON(w, http.StatusCreated, viewAgent(*a))
}

func (s *Server) ownAgent(w http.ResponseWriter, r *http.Request) (*store.Agent, bool) {
	id, ok := s.pathID(w, r, "agent")
	if !ok {
		return nil, false
	}
	a, err := s.store.GetAgent(r.Context(), userFrom(r.Context()).ID, id)
	if err != nil {
		s.ownedError(w, r, "agent", store.ResourceAgent, id.String(), err)
		return nil, false
	}
	return a, true
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) {
	if a, ok := s.ownAgent(w, r); ok {
		writeJSON(w, http.StatusOK, viewAgent(*a))
	}
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) {
	a, ok := s.ownAgent(w, r)
	if !ok {
		return
	}
	var in agentInput
	if !s.decode(w, r, &in) {
		return
	}
	in.apply(a)
	if v := validateAgent(a); !v.ok() {
		s.invalid(w, r, v)
		return
	}
	if err := s.store.UpdateAgent(r.Context(), a); err != nil {
		s.storeError(w, r, "agent", err)
		return
	}
	writeJSON(w, http.StatusOK, viewAgent(*a))
}

func (s *Server) deleteAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r, "agent")
	if !ok {
		return
	}
	if err := s.store.DeleteAgent(r.Context(), userFrom(r.Context()).ID, id); err != nil {
		s.ownedError(w, r, "agent", store.ResourceAgent, id.String(), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
