// Package httpapi is Vibe Coder's HTTP surface: routes on the standard library
// ServeMux, middleware (request ids, access log, recovery, authentication, CSRF),
// JSON in and out, and RFC 9457 problem+json errors.
package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/vibecoder/vibecoder/internal/audit"
	"go.opentelemetry.io/otel/trace"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/pipeline"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Config tunes the HTTP layer.
type Config struct {
	MaxBodyBytes  int64
	SecureCookies bool
	Version       string
	// Repos decides which repositories a user may register, index and run tasks on
	// (nil: the strictest policy: local repositories for administrators only, public
	// remotes only).
	Repos *gitops.RepoPolicy
	// Tracer makes a span per request (nil: no tracing).
	Tracer trace.TracerProvider
	// LogBuffer, when set, is the log's buffer: the access log marks each request in
	// flight on it, so lines written meanwhile leave together (nil: none).
	LogBuffer *observe.LogBuffer
}

// Server holds the handlers' dependencies.
type Server struct {
	store  store.Store
	auth   *auth.Service
	health *observe.Health
	log    *slog.Logger
	cfg    Config
	mux    *http.ServeMux

	llm          *gateway.Gateway
	llmCacheInfo func() LLMCacheInfo
	jobs         *JobsDeps
	pipeline     *pipeline.Pipeline
	index        *index.Indexer
	audit        *auditor
	metrics      *httpMetrics // nil until EnableMetrics

	// draining is closed by Drain when the process shuts down: event streams, which
	// would otherwise stay open until the shutdown timeout, end.
	draining  chan struct{}
	drainOnce sync.Once
}

// Drain tells long-lived responses (event streams) to end now: each sends a final
// "shutdown" event and closes, so a graceful shutdown waits only for real work. A
// client reconnects, to another process, with Last-Event-ID and misses nothing. Call
// it when shutdown starts (http.Server.RegisterOnShutdown); calling it again does
// nothing.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// New returns a Server with every route registered.
func New(st store.Store, authSvc *auth.Service, health *observe.Health, log *slog.Logger, cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Repos == nil {
		cfg.Repos = &gitops.RepoPolicy{}
	}
	s := &Server{store: st, auth: authSvc, health: health, log: log, cfg: cfg, mux: http.NewServeMux(),
		audit: newAuditor(audit.New(st, log)), draining: make(chan struct{})}
	s.routes()
	return s
}

// Handler returns the server's root handler with the middleware chain applied.
func (s *Server) Handler() http.Handler {
	return s.requestID(s.accessLog(s.observeHTTP(s.recoverPanics(observe.TraceHTTP(s.cfg.Tracer, http.HandlerFunc(s.route))))))
}

// OpsHandler serves only the operational endpoints — /health, /livez, /readyz and,
// when enabled, /metrics — with the same middleware as Handler: what a worker-only
// process exposes, so its own job metrics can be scraped.
func (s *Server) OpsHandler() http.Handler {
	ops := http.NewServeMux()
	for _, p := range []string{"GET /health", "GET /livez", "GET /readyz", "GET /metrics"} {
		ops.Handle(p, s.mux)
	}
	return s.requestID(s.accessLog(s.observeHTTP(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := ops.Handler(r); pattern == "" {
			s.problem(w, r, http.StatusNotFound, "Not Found", "a worker serves only /health, /livez, /readyz and /metrics")
			return
		}
		ops.ServeHTTP(w, r)
	})))))
}

// route serves matched requests with the mux and answers unmatched ones (404, or 405
// with Allow for a known path with another method) as problem+json.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		sendNow(w)
		return
	}
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.problem(w, r, http.StatusMethodNotAllowed, "Method Not Allowed", r.Method+" is not allowed here; allowed: "+probe.header.Get("Allow"))
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		w.Header().Set("Location", probe.header.Get("Location"))
		w.WriteHeader(probe.status)
	default:
		s.problem(w, r, http.StatusNotFound, "Not Found", "no such resource: "+r.URL.Path)
	}
}

// sendNow sends a complete answer — one whose Content-Length is set, as writeJSON
// sets it — to the client straight away, instead of when the handler chain returns:
// the access log, metrics and trace of the request then no longer delay it. Answers
// of unknown length are left to net/http, which then picks Content-Length or chunked
// encoding as it always has.
func sendNow(w http.ResponseWriter) {
	if w.Header().Get("Content-Length") == "" || !answered(w) {
		return
	}
	_ = http.NewResponseController(w).Flush()
}

// answered reports whether the handler has begun its answer, by the access log's
// statusRecorder, found through whatever wrappers (the tracing middleware's) sit
// between it and route.
func answered(w http.ResponseWriter) bool {
	for {
		switch v := w.(type) {
		case *statusRecorder:
			return v.status != 0
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return false
		}
	}
}

// headerProbe records what the mux's own fallback handlers would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(status int)      { p.status = status }

// Handle registers an extra route (later components add theirs this way).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /health", s.getHealth)
	m.HandleFunc("GET /livez", s.getLivez)
	m.HandleFunc("GET /readyz", s.getReadyz)

	m.HandleFunc("POST /api/v1/auth/signup", s.signup)
	m.HandleFunc("POST /api/v1/auth/login", s.login)
	m.Handle("POST /api/v1/auth/logout", s.authed(s.logout))
	m.Handle("GET /api/v1/me", s.authed(s.getMe))

	m.Handle("GET /api/v1/apikeys", s.authed(s.listAPIKeys))
	m.Handle("POST /api/v1/apikeys", s.authed(s.createAPIKey))
	m.Handle("DELETE /api/v1/apikeys/{id}", s.authed(s.revokeAPIKey))

	m.Handle("GET /api/v1/projects", s.authed(s.listProjects))
	m.Handle("POST /api/v1/projects", s.authed(s.createProject))
	m.Handle("GET /api/v1/projects/{id}", s.authed(s.getProject))
	m.Handle("PATCH /api/v1/projects/{id}", s.authed(s.updateProject))
	m.Handle("DELETE /api/v1/projects/{id}", s.authed(s.deleteProject))

	m.Handle("GET /api/v1/projects/{id}/tasks", s.authed(s.listTasks))
	m.Handle("POST /api/v1/projects/{id}/tasks", s.authed(s.createTask))
	m.Handle("GET /api/v1/tasks/{id}", s.authed(s.getTask))
	m.Handle("PATCH /api/v1/tasks/{id}", s.authed(s.updateTask))
	m.Handle("DELETE /api/v1/tasks/{id}", s.authed(s.deleteTask))
	m.Handle("GET /api/v1/tasks/{id}/executions", s.authed(s.listTaskExecutions))

	m.Handle("GET /api/v1/agents", s.authed(s.listAgents))
	m.Handle("POST /api/v1/agents", s.authed(s.createAgent))
	m.Handle("GET /api/v1/agents/{id}", s.authed(s.getAgent))
	m.Handle("PATCH /api/v1/agents/{id}", s.authed(s.updateAgent))
	m.Handle("DELETE /api/v1/agents/{id}", s.authed(s.deleteAgent))

	m.Handle("GET /api/v1/executions", s.authed(s.listExecutions))
	m.Handle("GET /api/v1/executions/{id}", s.authed(s.getExecution))
	m.Handle("GET /api/v1/executions/{id}/commits", s.authed(s.listCommits))
	m.Handle("GET /api/v1/executions/{id}/reviews", s.authed(s.listReviews))

	m.Handle("GET /api/v1/audit", s.authed(s.listAudit))

	// Parts the wiring enables after construction (Enable*): until a part is enabled its
	// routes answer as unknown ones do.
	m.Handle("GET /api/v1/projects/{id}/search", s.needs(s.hasIndex, s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.searchProject(w, r, s.index)
	})))
	m.Handle("POST /api/v1/tasks/{id}/run", s.needs(s.hasPipeline, s.authed(s.runTask)))

	m.Handle("GET /api/v1/jobs", s.needs(s.hasJobs, s.authed(s.listJobs)))
	m.Handle("GET /api/v1/jobs/{id}", s.needs(s.hasJobs, s.authed(s.getJob)))
	m.Handle("POST /api/v1/jobs/{id}/cancel", s.needs(s.hasJobs, s.authed(s.cancelJob)))
	m.Handle("POST /api/v1/jobs/{id}/retry", s.needs(s.hasJobs, s.authed(s.retryJob)))
	m.Handle("GET /api/v1/executions/{id}/events", s.needs(s.hasJobs, s.authed(s.executionEvents)))
	m.Handle("GET /api/v1/projects/{id}/events", s.needs(s.hasJobs, s.authed(s.projectEvents)))
	m.Handle("POST /api/v1/projects/{id}/index", s.needs(s.canIndex, s.authed(s.indexProject)))

	m.Handle("POST /llm/generate", s.needs(s.hasLLM, s.authed(s.generate)))
	m.Handle("GET /llm/cache/stats", s.needs(s.hasLLM, s.authed(s.cacheStats)))
	m.Handle("POST /v1/chat/completions", s.needs(s.hasLLM, s.authedWith(s.chatCompletions, openAIAuthError)))
	m.Handle("GET /v1/models", s.needs(s.hasLLM, s.authedWith(s.listModels, openAIAuthError)))

	m.Handle("GET /metrics", s.needs(func() bool { return s.metrics != nil }, http.HandlerFunc(s.getMetrics)))
}

func (s *Server) hasIndex() bool    { return s.index != nil }
func (s *Server) hasPipeline() bool { return s.pipeline != nil }
func (s *Server) hasJobs() bool     { return s.jobs != nil }
func (s *Server) canIndex() bool    { return s.jobs != nil && s.jobs.EnqueueIndex != nil }
func (s *Server) hasLLM() bool      { return s.llm != nil }

// needs serves h once the part enabled reports is wired in, and answers as for an
// unknown route before.
func (s *Server) needs(enabled func() bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !enabled() {
			s.problem(w, r, http.StatusNotFound, "Not Found", "no such resource: "+r.URL.Path)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) {
	rep := s.health.Check(r.Context())
	status := http.StatusOK
	if !rep.Healthy {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rep)
}

func (s *Server) getLivez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) getReadyz(w http.ResponseWriter, r *http.Request) {
	ok, rep := s.health.Ready(r.Context())
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ok, "status": rep.Status, "database": rep.Database, "redis": rep.Redis,
		"jobs": rep.Jobs, "disk": rep.Disk, "sandbox": rep.Sandbox, "down": rep.Down, "degraded": rep.Degraded})
}

// jsonBuffers holds writeJSON's encoding buffers; one grown past 64 KiB is not kept.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// jsonAppender is a value that encodes itself, byte for byte as encoding/json would
// and without reflection (answers on the gateway's hot path). ok is false when it
// leaves a value to encoding/json.
type jsonAppender interface {
	AppendJSON(b []byte) (_ []byte, ok bool)
}

// encodeJSON writes v to buf as json.Encoder does, through its own AppendJSON when
// it has one.
func encodeJSON(buf *bytes.Buffer, v any) error {
	if a, ok := v.(jsonAppender); ok {
		if b, ok := a.AppendJSON(buf.AvailableBuffer()); ok {
			buf.Write(b)
			return nil
		}
	}
	return json.NewEncoder(buf).Encode(v)
}

// writeJSON answers with v as JSON (one line, as json.Encoder writes it) and its
// Content-Length, so route can send the answer before the middleware's bookkeeping.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			jsonBuffers.Put(buf)
		}
	}()
	if err := encodeJSON(buf, v); err != nil {
		// Every value handed here encodes; if one ever does not, the client gets a 500
		// problem rather than half a document.
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"the answer could not be encoded"}` + "\n"))
		return
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// contentTypeJSON is the Content-Type of JSON answers, shared by all of them.
var contentTypeJSON = []string{"application/json"}
