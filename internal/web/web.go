// Package web is Vibe Coder's dashboard: server-rendered pages (html/template) with
// a little vanilla JavaScript that talks to the JSON API with the session cookie.
// Templates and assets are embedded, so the dashboard needs no build step or network.
// It also serves /preview/, an execution's files as a sandboxed web page (preview.go
// explains how the page is kept from acting as the user).
package web

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// sessionCookie must match the API's (httpapi.SessionCookie): the pages and the API
// share one session.
const sessionCookie = "vc_session"

// formCookie carries the double-submit token of the signed-out forms (log in, sign
// up), which have no session yet to hold a CSRF token.
const formCookie = "vc_form"

// Config tunes the dashboard.
type Config struct {
	SecureCookies bool
	// Previews serves executions' files at /preview/; nil: no previews.
	Previews Previews
	// PreviewKey signs preview links (LoadPreviewKey); empty: a random key for this
	// process only.
	PreviewKey []byte
}

// Web serves the dashboard's pages.
type Web struct {
	st    store.Store
	auth  *auth.Service
	audit audit.Recorder
	log   *slog.Logger
	cfg   Config
	pages map[string]*template.Template

	previews   Previews
	previewKey []byte
	now        func() time.Time
}

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"login", "signup", "projects", "project", "task", "execution", "keys", "system", "usage", "notfound"}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"add": func(a, b int) int { return a + b },
	"pct": func(f float64) float64 { return f * 100 },
	// bary and barend place a horizontal bar's texts: its middle line, past its end.
	"bary":   func(b bar) float64 { return b.Y + b.H/2 + 4 },
	"barend": func(b bar) float64 { return b.X + b.W + 6 },
}

// New returns the dashboard. Its templates are embedded, so a parse error is a
// programming error and panics.
func New(st store.Store, authSvc *auth.Service, log *slog.Logger, cfg Config) *Web {
	w := &Web{st: st, auth: authSvc, audit: audit.New(st, log), log: log, cfg: cfg, pages: map[string]*template.Template{},
		previews: cfg.Previews, previewKey: cfg.PreviewKey, now: time.Now}
	if len(w.previewKey) == 0 {
		w.previewKey = make([]byte, 32)
		_, _ = rand.Read(w.previewKey)
	}
	for _, name := range pageNames {
		w.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return w
}

// Register adds the dashboard's routes with handle (httpapi.Server.Handle).
func (w *Web) Register(handle func(pattern string, h http.Handler)) {
	static, _ := fs.Sub(staticFS, "static")
	handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	handle("GET /{$}", http.HandlerFunc(w.home))
	handle("GET /login", http.HandlerFunc(w.loginPage))
	handle("POST /login", http.HandlerFunc(w.loginPost))
	handle("GET /signup", http.HandlerFunc(w.signupPage))
	handle("POST /signup", http.HandlerFunc(w.signupPost))
	handle("POST /logout", w.signedIn(w.logoutPost))
	handle("GET /projects", w.signedIn(w.simplePage("projects", "Projects")))
	handle("GET /projects/{id}", w.signedIn(w.projectPage))
	handle("GET /tasks/{id}", w.signedIn(w.taskPage))
	handle("GET /executions/{id}", w.signedIn(w.executionPage))
	handle("GET /keys", w.signedIn(w.simplePage("keys", "API keys")))
	handle("GET /system", w.signedIn(w.simplePage("system", "System")))
	handle("GET /usage", w.signedIn(w.usagePage))
	handle("GET /preview/{id}/{path...}", http.HandlerFunc(w.preview))
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// viewer is the signed-in user and their session.
type viewer struct {
	user    *store.User
	session *store.Session
	token   string
}

type viewerKey struct{}

// current resolves the session cookie; nil when signed out.
func (w *Web) current(r *http.Request) (*viewer, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, u, err := w.auth.SessionUser(r.Context(), c.Value)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &viewer{user: u, session: sess, token: c.Value}, nil
}

// signedIn sends signed-out visitors to the login page and checks the session's CSRF
// token (a hidden form field) on every form post.
func (w *Web) signedIn(h func(http.ResponseWriter, *http.Request, *viewer)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		v, err := w.current(r)
		if err != nil {
			w.serverError(rw, r, err)
			return
		}
		if v == nil {
			if r.Method != http.MethodGet {
				http.Error(rw, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && !auth.EqualTokens(r.PostFormValue("csrf_token"), v.session.CSRFToken) {
			http.Error(rw, "missing or wrong CSRF token; reload the page and try again", http.StatusForbidden)
			return
		}
		h(rw, r, v)
	})
}

// pageData is what every template sees.
type pageData struct {
	Title string
	Page  string
	User  *store.User
	CSRF  string
	Error string
	Next  string
	Email string
	Name  string
	ID    string
	// Item is the page's own resource (a project, a task or an execution).
	Item any
	// Preview is the execution page's preview link.
	Preview string
}

func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Page = name
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("X-Frame-Options", "DENY")
	rw.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	rw.WriteHeader(status)
	if err := w.pages[name].Execute(rw, d); err != nil {
		w.log.ErrorContext(r.Context(), "render page", slog.String("page", name), slog.Any("error", err))
	}
}

func (w *Web) serverError(rw http.ResponseWriter, r *http.Request, err error) {
	w.log.ErrorContext(r.Context(), "dashboard request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	http.Error(rw, "internal error", http.StatusInternalServerError)
}

func (w *Web) notFound(rw http.ResponseWriter, r *http.Request, v *viewer) {
	d := pageData{Title: "Not found"}
	if v != nil {
		d.User, d.CSRF = v.user, v.session.CSRFToken
	}
	w.render(rw, r, http.StatusNotFound, "notfound", d)
}

func (w *Web) simplePage(name, title string) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(rw http.ResponseWriter, r *http.Request, v *viewer) {
		w.render(rw, r, http.StatusOK, name, pageData{Title: title, User: v.user, CSRF: v.session.CSRFToken})
	}
}

func (w *Web) home(rw http.ResponseWriter, r *http.Request) {
	v, err := w.current(r)
	if err != nil {
		w.serverError(rw, r, err)
		return
	}
	if v == nil {
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(rw, r, "/projects", http.StatusSeeOther)
}

// owned loads the {id} resource with get, which must scope it to the user; another
// user's resource and a malformed id are both 404, as in the API.
func owned[T any](w *Web, rw http.ResponseWriter, r *http.Request, v *viewer, kind string, get func(userID, id uuid.UUID) (*T, error)) (*T, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		w.notFound(rw, r, v)
		return nil, false
	}
	item, err := get(v.user.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		w.auditForeign(r, v, kind, id.String())
		w.notFound(rw, r, v)
		return nil, false
	}
	if err != nil {
		w.serverError(rw, r, err)
		return nil, false
	}
	return item, true
}

// auditForeign records tenant.access_denied, as the API does, when the row exists
// under another user; the visitor still sees a plain 404.
func (w *Web) auditForeign(r *http.Request, v *viewer, kind, id string) {
	owner, found, err := w.st.ResourceOwner(r.Context(), kind, id)
	if err != nil {
		w.log.WarnContext(r.Context(), "look up a resource's owner for the audit trail", slog.String("kind", kind), slog.Any("error", err))
		return
	}
	if !found || owner == v.user.ID {
		return
	}
	e := audit.FromRequest(r)
	e.ActorID, e.Action, e.TargetType, e.TargetID, e.Outcome = audit.Actor(v.user.ID), audit.ActionAccessDenied, kind, id, audit.Denied
	e.Metadata = map[string]any{"method": r.Method, "route": r.Pattern, "via": "web"}
	w.audit.Record(r.Context(), e)
}

func (w *Web) projectPage(rw http.ResponseWriter, r *http.Request, v *viewer) {
	p, ok := owned(w, rw, r, v, store.ResourceProject, func(u, id uuid.UUID) (*store.Project, error) { return w.st.GetProject(r.Context(), u, id) })
	if !ok {
		return
	}
	w.render(rw, r, http.StatusOK, "project", pageData{Title: p.Name, User: v.user, CSRF: v.session.CSRFToken, ID: p.ID.String(), Item: p})
}

func (w *Web) taskPage(rw http.ResponseWriter, r *http.Request, v *viewer) {
	t, ok := owned(w, rw, r, v, store.ResourceTask, func(u, id uuid.UUID) (*store.Task, error) { return w.st.GetTask(r.Context(), u, id) })
	if !ok {
		return
	}
	w.render(rw, r, http.StatusOK, "task", pageData{Title: t.Title, User: v.user, CSRF: v.session.CSRFToken, ID: t.ID.String(), Item: t})
}

func (w *Web) executionPage(rw http.ResponseWriter, r *http.Request, v *viewer) {
	e, ok := owned(w, rw, r, v, store.ResourceExecution, func(u, id uuid.UUID) (*store.Execution, error) { return w.st.GetExecution(r.Context(), u, id) })
	if !ok {
		return
	}
	w.render(rw, r, http.StatusOK, "execution", pageData{Title: "Execution", User: v.user, CSRF: v.session.CSRFToken, ID: e.ID.String(), Item: e,
		Preview: w.previewBase(e)})
}

// formToken returns the signed-out forms' double-submit token, setting its cookie.
func (w *Web) formToken(rw http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(rw, &http.Cookie{Name: formCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: w.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return tok
}

func formTokenOK(r *http.Request) bool {
	c, err := r.Cookie(formCookie)
	return err == nil && c.Value != "" && auth.EqualTokens(r.PostFormValue("csrf_token"), c.Value)
}

// safeNext keeps post-login redirects on this site: it returns next when it is a plain
// path of this origin, and /projects otherwise. Browsers forgive a lot in a Location
// (they drop tabs and newlines, read \ as /, resolve dot segments), so anything
// unusual is refused rather than cleaned: a control character or whitespace, a
// backslash, a leading "//", a scheme or host, a dot segment, and percent-encodings
// that decode to any of those (/%2F%2Fevil.example, /%5Cevil, /%09/evil).
func safeNext(next string) string {
	const fallback = "/projects"
	if len(next) > 2048 || !plainPath(next) {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	// Check what a server or browser that decodes once more would see, as many times
	// as the text still changes (double encoding: %252F).
	for s := next; ; {
		dec, err := url.PathUnescape(s)
		if err != nil || !plainPath(dec) {
			return fallback
		}
		if dec == s {
			return next
		}
		s = dec
	}
}

// plainPath reports whether s starts with one "/" and holds no control character,
// whitespace, backslash or dot segment, and is valid UTF-8.
func plainPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || !utf8.ValidString(s) || strings.ContainsRune(s, '\\') {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	path, _, _ := strings.Cut(s, "?")
	path, _, _ = strings.Cut(path, "#")
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "login", pageData{Title: "Log in", CSRF: w.formToken(rw, r), Next: r.URL.Query().Get("next")})
}

func (w *Web) signupPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "signup", pageData{Title: "Sign up", CSRF: w.formToken(rw, r)})
}

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	if !formTokenOK(r) {
		http.Error(rw, "missing or wrong CSRF token; reload the page and try again", http.StatusForbidden)
		return
	}
	email, password := auth.NormalizeEmail(r.PostFormValue("email")), r.PostFormValue("password")
	d := pageData{Title: "Log in", CSRF: w.formToken(rw, r), Next: r.PostFormValue("next"), Email: email}
	if auth.ValidateLogin(email, password) != nil {
		d.Error = auth.ErrInvalidCredentials.Error()
		w.render(rw, r, http.StatusUnauthorized, "login", d)
		return
	}
	u, err := w.auth.CheckLogin(r.Context(), email, password, audit.ClientIP(r))
	if w.passwordRefused(rw, r, "login", d, err) {
		return
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		e := audit.FromRequest(r)
		e.Action, e.TargetType, e.Outcome, e.Metadata = audit.ActionLogin, "user", "failure", map[string]any{"via": "web"}
		w.audit.Record(r.Context(), e)
		d.Error = auth.ErrInvalidCredentials.Error()
		w.render(rw, r, http.StatusUnauthorized, "login", d)
		return
	}
	if err != nil {
		w.serverError(rw, r, err)
		return
	}
	w.record(r, u, audit.ActionLogin)
	w.startSession(rw, r, u, safeNext(d.Next))
}

func (w *Web) signupPost(rw http.ResponseWriter, r *http.Request) {
	if !formTokenOK(r) {
		http.Error(rw, "missing or wrong CSRF token; reload the page and try again", http.StatusForbidden)
		return
	}
	email, name, password := auth.NormalizeEmail(r.PostFormValue("email")), strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	d := pageData{Title: "Sign up", CSRF: w.formToken(rw, r), Email: email, Name: name}
	if err := auth.ValidateSignup(email, name, password); err != nil {
		d.Error = signupProblem(err)
		w.render(rw, r, http.StatusUnprocessableEntity, "signup", d)
		return
	}
	u, err := w.auth.Signup(r.Context(), email, name, password, false)
	if errors.Is(err, auth.ErrEmailTaken) {
		d.Error = "An account with this email already exists."
		w.render(rw, r, http.StatusConflict, "signup", d)
		return
	}
	if w.passwordRefused(rw, r, "signup", d, err) {
		return
	}
	if err != nil {
		w.serverError(rw, r, err)
		return
	}
	w.record(r, u, audit.ActionSignup)
	w.startSession(rw, r, u, "/projects")
}

// signupProblem is the form's sentence for the first problem ValidateSignup found,
// in field order.
func signupProblem(err error) string {
	switch {
	case errors.Is(err, auth.ErrEmailTooLong), errors.Is(err, auth.ErrEmailInvalid):
		return "Enter a valid email address."
	case errors.Is(err, auth.ErrNameTooLong):
		return fmt.Sprintf("Name must be at most %d characters.", auth.MaxNameLen)
	case errors.Is(err, auth.ErrNameControl):
		return "Name must not contain control characters."
	default: // auth.ErrPasswordLength
		return fmt.Sprintf("Password must be %d to %d characters.", auth.MinPasswordLen, auth.MaxPasswordLen)
	}
}

// passwordRefused shows the form again, with Retry-After, when the auth service
// refused to check a password: 429 past a failed-login limit, 503 when the server is
// busy hashing other passwords.
func (w *Web) passwordRefused(rw http.ResponseWriter, r *http.Request, page string, d pageData, err error) bool {
	ref, ok := auth.Refused(err)
	if !ok {
		return false
	}
	rw.Header().Set("Retry-After", strconv.FormatInt(ref.RetryAfter, 10))
	d.Error = "The server is busy checking other passwords. Try again in a moment."
	if ref.Throttled {
		wait := fmt.Sprintf("%d seconds", ref.RetryAfter)
		if ref.RetryAfter > 60 {
			wait = fmt.Sprintf("%d minutes", (ref.RetryAfter+59)/60)
		}
		d.Error = "Too many failed logins. Wait " + wait + ", then try again."
	}
	w.render(rw, r, ref.Status(), page, d)
	return true
}

func (w *Web) record(r *http.Request, u *store.User, action string) {
	e := audit.FromRequest(r)
	e.ActorID, e.Action, e.TargetType, e.TargetID, e.Metadata = audit.Actor(u.ID), action, "user", u.ID.String(), map[string]any{"via": "web"}
	w.audit.Record(r.Context(), e)
}

func (w *Web) startSession(rw http.ResponseWriter, r *http.Request, u *store.User, next string) {
	token, sess, err := w.auth.NewSession(r.Context(), u.ID, audit.ClientIP(r), r.UserAgent())
	if err != nil {
		w.serverError(rw, r, err)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt, HttpOnly: true,
		Secure: w.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func (w *Web) logoutPost(rw http.ResponseWriter, r *http.Request, v *viewer) {
	if err := w.auth.EndSession(r.Context(), v.token); err != nil {
		w.serverError(rw, r, err)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: w.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	w.record(r, v.user, audit.ActionLogout)
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}
