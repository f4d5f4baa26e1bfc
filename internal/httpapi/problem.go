package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid field of a request body.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	p.Instance = r.URL.Path
	p.RequestID = observe.RequestID(r.Context())
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	s.writeProblem(w, r, Problem{Title: title, Status: status, Detail: detail})
}

// notFoundResource answers 404 for a missing resource and for another tenant's alike.
func (s *Server) notFoundResource(w http.ResponseWriter, r *http.Request, what string) {
	s.problem(w, r, http.StatusNotFound, "Not Found", what+" not found")
}

// storeError answers for an error from the store: not found is a 404, a conflict a
// 409, an unavailable database a 503, anything else is logged and answered 500
// without internals.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.notFoundResource(w, r, what)
	case errors.Is(err, store.ErrConflict):
		s.problem(w, r, http.StatusConflict, "Conflict", what+" conflicts with an existing one")
	default:
		s.internalError(w, r, err)
	}
}

// internalError answers a failure of the server (500) or of a dependency (503, see
// failure) as problem+json.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := s.failure(w, r, err)
	s.problem(w, r, status, http.StatusText(status), detail)
}

// unavailableRetryAfter is the Retry-After, in seconds, of an answer given while the
// database is unavailable: long enough not to hammer a database coming back, short
// enough that clients notice it is back.
const unavailableRetryAfter = 5

// Details of failures, the same for every cause: internals stay in the logs.
const (
	detailUnavailable = "the service is temporarily unavailable; retry after the number of seconds in Retry-After"
	detailFailed      = "the server failed; the request id identifies it in the logs"
)

// failure classifies err, an error the request could not recover from, logs it and
// returns the status and the detail to answer with: 503 with a Retry-After header
// (which it sets) when the database is unavailable (store.ErrUnavailable: the request
// may succeed if retried), else 500. Every handler's unexpected error comes through
// here, whatever the answer's shape (problem+json, or OpenAI's error on /v1).
func (s *Server) failure(w http.ResponseWriter, r *http.Request, err error) (int, string) {
	attrs := []any{slog.String("request_id", observe.RequestID(r.Context())),
		slog.String("method", r.Method), slog.String("route", r.Pattern), slog.Any("error", err)}
	if errors.Is(err, store.ErrUnavailable) {
		s.log.WarnContext(r.Context(), "request failed: database unavailable", attrs...)
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		return http.StatusServiceUnavailable, detailUnavailable
	}
	s.log.ErrorContext(r.Context(), "request failed", attrs...)
	return http.StatusInternalServerError, detailFailed
}
