package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vibecoder/vibecoder/internal/index"
)

// Search limits.
const (
	DefaultSearchLimit = 10
	MaxSearchLimit     = 50
	MaxSearchQuery     = 500 // characters
)

type searchResponse[T any] struct {
	Query string `json:"query"`
	Mode  string `json:"mode"`  // "hybrid" (keyword + vector) or "keyword"
	Group string `json:"group"` // "chunk": one item a chunk; "file": one item a file
	Items []T    `json:"items"`
}

// EnableSearch registers GET /api/v1/projects/{id}/search, answered by ix. By default
// (group=chunk) each item is a chunk, as index.Indexer.Search ranks them; with group=file
// each is a file, as index.Indexer.SearchFiles ranks them, with its best chunks.
func (s *Server) EnableSearch(ix *index.Indexer) {
	s.index = ix
}

func (s *Server) searchProject(w http.ResponseWriter, r *http.Request, ix *index.Indexer) {
	p, ok := s.ownProject(w, r)
	if !ok {
		return
	}
	query := r.URL.Query()
	q := strings.TrimSpace(query.Get("q"))
	switch {
	case q == "":
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "q is required: the text to search for")
		return
	case !utf8.ValidString(q):
		s.problem(w, r, http.StatusBadRequest, "Bad Request", "q is not valid UTF-8")
		return
	case utf8.RuneCountInString(q) > MaxSearchQuery:
		s.problem(w, r, http.StatusBadRequest, "Bad Request", fmt.Sprintf("q must be at most %d characters", MaxSearchQuery))
		return
	}
	limit := DefaultSearchLimit
	if raw := query.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxSearchLimit {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", fmt.Sprintf("limit must be an integer in 1-%d", MaxSearchLimit))
			return
		}
		limit = n
	}
	mode := "keyword"
	if ix.Semantic() {
		mode = "hybrid"
	}
	switch group := query.Get("group"); group {
	case "", "chunk":
		res, err := ix.Search(r.Context(), p.UserID, p.ID, q, limit)
		if err != nil {
			s.storeError(w, r, "project", err)
			return
		}
		writeJSON(w, http.StatusOK, searchResponse[index.Result]{Query: q, Mode: mode, Group: "chunk", Items: res})
	case "file":
		res, err := ix.SearchFiles(r.Context(), p.UserID, p.ID, q, limit)
		if err != nil {
			s.storeError(w, r, "project", err)
			return
		}
		writeJSON(w, http.StatusOK, searchResponse[index.FileResult]{Query: q, Mode: mode, Group: "file", Items: res})
	default:
		s.problem(w, r, http.StatusBadRequest, "Bad Request", `group must be "chunk" or "file"`)
	}
}
