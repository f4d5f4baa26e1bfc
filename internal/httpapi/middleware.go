package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "vc_session"

// CSRFHeader carries the session's CSRF token on unsafe requests authenticated by cookie.
const CSRFHeader = "X-CSRF-Token"

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestID accepts a well-formed X-Request-ID or makes one, and echoes it.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id") // canonical: Get does not make it so anew each request
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header()["X-Request-Id"] = []string{id} // Set("X-Request-ID"), without canonicalising it each time
		// The request's one copy with a new context: the access log and
		// authentication fill in the reqInfo rather than each copy the request again.
		ctx := &reqCtx{Context: observe.WithRequestID(r.Context(), id)}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines (server-sent events).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog writes one line per request: method, route pattern (never the raw path,
// which carries ids), status, duration and request id.
func (s *Server) accessLog(next http.Handler) http.Handler {
	lb := s.cfg.LogBuffer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lb != nil {
			lb.Begin()
			defer lb.End() // after the line below: it leaves with the others in flight
		}
		start := time.Now()
		info := infoFrom(r.Context())
		if info == nil { // not behind requestID
			info = &reqInfo{}
			r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		}
		rec := &info.rec
		rec.ResponseWriter = w
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		line := observe.AccessLine{
			RequestID: observe.RequestID(r.Context()),
			Method:    r.Method,
			Route:     route,
			Status:    rec.status,
			Duration:  time.Since(start),
			Bytes:     rec.bytes,
		}
		if p := info.p; p != nil {
			line.UserID = p.user.ID.String()
		}
		observe.LogAccess(r.Context(), s.log, &line)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.internalError(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// reqInfo is what the middleware learns of a request, in its context from requestID
// on: authentication sets the caller, for the handlers and for the access log, which
// runs outside it and names the caller; the access log's statusRecorder lives here
// too, in the request's one allocation rather than one of its own.
type reqInfo struct {
	p   *principal // nil until authenticated
	rec statusRecorder
}

type reqInfoKey struct{}

// reqCtx is a request's context from requestID on, with its reqInfo: one allocation
// where context.WithValue and a reqInfo make two.
type reqCtx struct {
	context.Context
	info reqInfo
}

// Value answers reqInfoKey with the reqInfo and asks the parent for every other key.
func (c *reqCtx) Value(key any) any {
	if key == (reqInfoKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return info
}

type principal struct {
	user    *store.User
	session *store.Session // nil when authenticated by API key
	token   string         // session cookie token
}

func userFrom(ctx context.Context) *store.User {
	if p := principalFrom(ctx); p != nil {
		return p.user
	}
	return nil
}

func principalFrom(ctx context.Context) *principal {
	if info := infoFrom(ctx); info != nil {
		return info.p
	}
	return nil
}

// authenticate resolves the caller from a bearer API key or the session cookie.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, key, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, auth.ErrUnauthenticated
		}
		_, u, err := s.auth.APIKeyUser(r.Context(), strings.TrimSpace(key))
		if err != nil {
			return nil, err
		}
		return &principal{user: u}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, auth.ErrUnauthenticated
	}
	sess, u, err := s.auth.SessionUser(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &principal{user: u, session: sess, token: c.Value}, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authed wraps a handler that needs a signed-in caller. Unsafe requests authenticated
// by the session cookie must carry the session's CSRF token.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return s.authedWith(h, func(w http.ResponseWriter, r *http.Request, status int, msg string) {
		s.problem(w, r, status, http.StatusText(status), msg)
	})
}

// authedWith is authed with its own way of writing a refusal (the OpenAI-compatible
// routes answer in OpenAI's error format), failures to authenticate included.
func (s *Server) authedWith(h http.HandlerFunc, refuse func(w http.ResponseWriter, r *http.Request, status int, msg string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				// The caller could not be checked (the database is down, say):
				// answered in the route's own error shape.
				status, msg := s.failure(w, r, err)
				refuse(w, r, status, msg)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="vibecoder"`)
			refuse(w, r, http.StatusUnauthorized, "sign in, or send Authorization: Bearer <api key>")
			return
		}
		if p.session != nil && !safeMethod(r.Method) && !auth.EqualTokens(r.Header.Get(CSRFHeader), p.session.CSRFToken) {
			refuse(w, r, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header")
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.p = p
			h(w, r)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, &reqInfo{p: p})))
	})
}
