package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/store"
)

type userView struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
}

func viewUser(u *store.User) userView {
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt}
}

type sessionResponse struct {
	User      userView `json:"user"`
	CSRFToken string   `json:"csrf_token"`
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User, status int) {
	token, sess, err := s.auth.NewSession(r.Context(), u.ID, audit.ClientIP(r), r.UserAgent())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  sess.ExpiresAt,
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies || r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	writeJSON(w, status, sessionResponse{User: viewUser(u), CSRFToken: sess.CSRFToken})
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	in.Email = auth.NormalizeEmail(in.Email)
	var se *auth.SignupError
	if err := auth.ValidateSignup(in.Email, in.Name, in.Password); errors.As(err, &se) {
		var v validator
		for _, f := range se.Fields {
			v.add(f.Field, "%s", f.Err.Error())
		}
		s.invalid(w, r, &v)
		return
	}
	u, err := s.auth.Signup(r.Context(), in.Email, in.Name, in.Password, false)
	if errors.Is(err, auth.ErrEmailTaken) {
		s.problem(w, r, http.StatusConflict, "Conflict", "an account with this email already exists")
		return
	}
	if s.passwordRefused(w, r, err) {
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.record(r, audit.Entry{ActorID: audit.Actor(u.ID), Action: audit.ActionSignup, TargetType: "user", TargetID: u.ID.String()})
	s.startSession(w, r, u, http.StatusCreated)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if auth.ValidateLogin(in.Email, in.Password) != nil {
		s.loginFailed(r, in.Email)
		s.problem(w, r, http.StatusUnauthorized, "Unauthorized", auth.ErrInvalidCredentials.Error())
		return
	}
	u, err := s.auth.CheckLogin(r.Context(), in.Email, in.Password, audit.ClientIP(r))
	if errors.Is(err, auth.ErrInvalidCredentials) {
		s.loginFailed(r, in.Email)
		s.problem(w, r, http.StatusUnauthorized, "Unauthorized", auth.ErrInvalidCredentials.Error())
		return
	}
	if s.passwordRefused(w, r, err) {
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.record(r, audit.Entry{ActorID: audit.Actor(u.ID), Action: audit.ActionLogin, TargetType: "user", TargetID: u.ID.String()})
	s.startSession(w, r, u, http.StatusOK)
}

// passwordRefused answers when the auth service refused to check a password: 429
// past a failed-login limit, 503 when every hashing slot stayed busy, both with
// Retry-After. Throttled attempts are not audited: they are refused before any work,
// and an audit row each would hand the work back to whoever is guessing.
func (s *Server) passwordRefused(w http.ResponseWriter, r *http.Request, err error) bool {
	ref, ok := auth.Refused(err)
	if !ok {
		return false
	}
	w.Header().Set("Retry-After", strconv.FormatInt(ref.RetryAfter, 10))
	s.problem(w, r, ref.Status(), http.StatusText(ref.Status()), ref.Err.Error())
	return true
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if p.session != nil {
		if err := s.auth.EndSession(r.Context(), p.token); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	s.record(r, audit.Entry{Action: audit.ActionLogout, TargetType: "user", TargetID: p.user.ID.String(),
		Metadata: map[string]any{"session": p.session != nil}})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	out := struct {
		userView
		CSRFToken string `json:"csrf_token,omitempty"`
		AuthVia   string `json:"auth_via"`
	}{userView: viewUser(p.user), AuthVia: "api_key"}
	if p.session != nil {
		out.CSRFToken, out.AuthVia = p.session.CSRFToken, "session"
	}
	writeJSON(w, http.StatusOK, out)
}

type apiKeyView struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key,omitempty"` // only in the response that creates it
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func viewAPIKey(k store.APIKey) apiKeyView {
	return apiKeyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	writeList(s, w, r, "api key", func(p store.Page) ([]store.APIKey, error) { return s.store.ListAPIKeys(r.Context(), u.ID, p) },
		func(k store.APIKey) uuid.UUID { return k.ID }, viewAPIKey)
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	var v validator
	v.text("name", in.Name, 1, 100, false)
	if !v.ok() {
		s.invalid(w, r, &v)
		return
	}
	key, k, err := s.auth.CreateAPIKey(r.Context(), userFrom(r.Context()).ID, in.Name)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.record(r, audit.Entry{Action: audit.ActionAPIKeyCreate, TargetType: "apikey", TargetID: k.ID.String(),
		Metadata: map[string]any{"name": k.Name, "prefix": k.Prefix}})
	out := viewAPIKey(*k)
	out.Key = key
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r, "api key")
	if !ok {
		return
	}
	if err := s.auth.RevokeAPIKey(r.Context(), userFrom(r.Context()).ID, id); err != nil {
		s.storeError(w, r, "api key", err)
		return
	}
	s.record(r, audit.Entry{Action: audit.ActionAPIKeyRevoke, TargetType: "apikey", TargetID: id.String()})
	w.WriteHeader(http.StatusNoContent)
}
