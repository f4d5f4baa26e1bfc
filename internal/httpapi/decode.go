package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/store"
)

// decode reads a JSON object into v: the body must be application/json, within the
// size limit, valid UTF-8, one object with no unknown fields. On failure it has
// already answered with a problem and returns false.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		s.problem(w, r, http.StatusUnsupportedMediaType, "Unsupported Media Type", "send the body as Content-Type: application/json")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.problem(w, r, http.StatusRequestEntityTooLarge, "Content Too Large", fmt.Sprintf("the body exceeds %d bytes", mbe.Limit))
			return false
		}
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "could not read the body")
		return false
	}
	if !utf8.Valid(data) {
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "the body is not valid UTF-8")
		return false
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "the body must be a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.problem(w, r, http.StatusBadRequest, "Bad Request", jsonErrorDetail(err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "the body must hold a single JSON object")
		return false
	}
	return true
}

func jsonErrorDetail(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)
	case errors.Is(err, io.EOF):
		return "the body is empty; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of the body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON: " + err.Error()
}

// validator collects field errors; the handler answers 422 with all of them.
type validator struct {
	errs []FieldError
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) ok() bool { return len(v.errs) == 0 }

// text checks a string's length in characters and that it has no control characters
// (newlines and tabs are allowed when multiline).
func (v *validator) text(field, s string, minLen, maxLen int, multiline bool) {
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen && minLen == 1:
		v.add(field, "is required")
		return
	case n < minLen:
		v.add(field, "must be at least %d characters", minLen)
		return
	case n > maxLen:
		v.add(field, "must be at most %d characters", maxLen)
		return
	}
	for _, c := range s {
		if c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r')) || c == 0x7f {
			v.add(field, "must not contain control characters")
			return
		}
	}
}

func (v *validator) oneOf(field, s string, allowed []string) {
	if !slices.Contains(allowed, s) {
		v.add(field, "must be one of %s", strings.Join(allowed, ", "))
	}
}

// repoURL accepts a git URL (https, http, ssh, git, file), an scp-like address
// (git@host:owner/repo.git) or an absolute local path: what gitops can parse.
func (v *validator) repoURL(field, s string) {
	v.text(field, s, 1, 2048, false)
	if !v.ok() && v.errs[len(v.errs)-1].Field == field {
		return
	}
	if err := gitops.Parse(s); err != nil {
		v.add(field, "%s", strings.TrimPrefix(err.Error(), gitops.ErrRepoInvalid.Error()+": "))
	}
}

var branchRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// branch checks a git branch name (a conservative subset of git check-ref-format).
func (v *validator) branch(field, s string) {
	if s == "" {
		v.add(field, "is required")
		return
	}
	if len(s) > 255 || !branchRE.MatchString(s) || strings.Contains(s, "..") || strings.HasPrefix(s, "-") ||
		strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".lock") || strings.HasSuffix(s, ".") {
		v.add(field, "is not a valid git branch name")
	}
}

func (s *Server) invalid(w http.ResponseWriter, r *http.Request, v *validator) {
	s.writeProblem(w, r, Problem{
		Title:  "Unprocessable Content",
		Status: http.StatusUnprocessableEntity,
		Detail: "some fields are invalid",
		Errors: v.errs,
	})
}

// pathID parses the {id} path value; a malformed id is a 404 like any unknown id.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request, what string) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		s.notFoundResource(w, r, what)
		return uuid.Nil, false
	}
	return id, true
}

// MaxListLimit is the largest page a list endpoint returns.
const MaxListLimit = 100

// page reads ?limit= and ?cursor= (the opaque next_cursor of the previous page).
func (s *Server) page(w http.ResponseWriter, r *http.Request) (store.Page, bool) {
	q := r.URL.Query()
	p := store.Page{Limit: 50}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxListLimit {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", fmt.Sprintf("limit must be an integer in 1-%d", MaxListLimit))
			return p, false
		}
		p.Limit = n
	}
	if raw := q.Get("cursor"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", "cursor is not one this server returned")
			return p, false
		}
		p.After = id
	}
	return p, true
}

// listResponse is the envelope of every list: items and, when more exist, the cursor
// of the next page.
type listResponse[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// listPage fetches one page (asking for one extra row to know if more exist) and maps
// each row to its JSON view.
func listPage[R any, T any](p store.Page, fetch func(store.Page) ([]R, error), id func(R) uuid.UUID, view func(R) T) (listResponse[T], error) {
	want := p.Limit
	p.Limit = want + 1
	rows, err := fetch(p)
	if err != nil {
		return listResponse[T]{}, err
	}
	out := listResponse[T]{Items: make([]T, 0, min(len(rows), want))}
	for i, row := range rows {
		if i == want {
			out.NextCursor = id(rows[want-1]).String()
			break
		}
		out.Items = append(out.Items, view(row))
	}
	return out, nil
}

// writeList answers a list request: one page (?limit=, ?cursor=) of rows from fetch,
// each shown with view; a store failure is answered as for what.
func writeList[R any, T any](s *Server, w http.ResponseWriter, r *http.Request, what string,
	fetch func(store.Page) ([]R, error), id func(R) uuid.UUID, view func(R) T) {
	p, ok := s.page(w, r)
	if !ok {
		return
	}
	out, err := listPage(p, fetch, id, view)
	if err != nil {
		s.storeError(w, r, what, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
