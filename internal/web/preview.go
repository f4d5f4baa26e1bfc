package web

// The preview serves an execution's files so that a generated static web app can be
// looked at, without letting that app act as the user.
//
// Every response carries a Content-Security-Policy whose sandbox directive (scripts
// allowed, same-origin not) gives the document an opaque origin, whether it is framed
// by the execution page (<iframe sandbox="allow-scripts">) or opened on its own: it
// cannot read the dashboard's cookies or storage, and connect-src 'none' and
// form-action 'none' stop it from calling the API at all.
//
// Because that origin is opaque, Chromium sends the SameSite=Lax session cookie with
// the framed document's own request but not with the requests the document makes for
// its style sheets, scripts and images (they are cross-site to the browser; a browser
// test checks this). So the session cannot authorise a preview's sub-resources. The
// cookie is used once, to check ownership; the visitor is then redirected to a URL
// that carries a capability in the execution segment,
//
//	/preview/{execution_id}.{expiry}.{hmac}/{path...}
//
// an HMAC over the execution, its owner and an expiry an hour away. It authorises GETs
// of that one execution's files and nothing else (the API does not know it), so a page
// that leaks it leaks only what it shows. Relative links resolve beside it.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/pipeline"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Previews finds an execution's files (pipeline.Pipeline.PreviewFiles).
type Previews interface {
	PreviewFiles(ctx context.Context, e *store.Execution) (fs.FS, func(), error)
}

// previewCSP is every preview response's policy. The sandbox keeps the document in an
// opaque origin; the rest allows only the execution's own files (inline code too: it
// runs with no more power than a script file would).
const previewCSP = "sandbox allow-scripts; default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; connect-src 'none'; form-action 'none'; " +
	"frame-ancestors 'self'; base-uri 'none'; object-src 'none'; worker-src 'none'; frame-src 'none'"

// previewTTL is how long a preview link works. A link claiming a later expiry is
// refused (past previewClockSkew, for servers whose clocks differ a little), so even
// a signature made with a stolen key is worth an hour at most.
const (
	previewTTL       = time.Hour
	previewClockSkew = time.Minute
)

// maxPreviewFile bounds a file the preview reads into memory when it cannot seek.
const maxPreviewFile = 32 << 20

// LoadPreviewKey returns the key that signs preview links, stored at path (created,
// 32 random bytes, readable by its owner only, on first use). Every server that shares
// a data directory shares the key, so a link made by one works on another.
func LoadPreviewKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("preview key: %w", err)
	}
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			key, err := hex.DecodeString(strings.TrimSpace(string(b)))
			if err != nil || len(key) < 32 {
				return nil, fmt.Errorf("preview key %s: not 32 or more hex-encoded bytes", path)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("preview key: %w", err)
		}
		key, err := createPreviewKey(path)
		if errors.Is(err, fs.ErrExist) {
			continue // another process made it first: read theirs
		}
		if err != nil {
			return nil, fmt.Errorf("preview key: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("preview key %s: could not be read or created", path)
}

// createPreviewKey writes a new key to a temporary file and links it into place, so
// the key appears whole or not at all: a process starting beside this one never
// reads a half-written key. It returns fs.ErrExist when another process won.
func createPreviewKey(path string) ([]byte, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	f, err := os.CreateTemp(filepath.Dir(path), ".preview.key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return nil, err
	}
	return key, nil
}

func (w *Web) previewMAC(execID, ownerID uuid.UUID, expiry int64) []byte {
	m := hmac.New(sha256.New, w.previewKey)
	fmt.Fprintf(m, "vibecoder preview\x00%s\x00%s\x00%d", execID, ownerID, expiry)
	return m.Sum(nil)
}

// previewBase is the capability URL of an execution's preview root.
func (w *Web) previewBase(e *store.Execution) string {
	exp := w.now().Add(previewTTL).Unix()
	return fmt.Sprintf("/preview/%s.%d.%s/", e.ID, exp, base64.RawURLEncoding.EncodeToString(w.previewMAC(e.ID, e.UserID, exp)))
}

// previewTarget is a request's execution, capability and file.
type previewTarget struct {
	id      uuid.UUID
	expiry  int64
	mac     []byte
	signed  bool
	name    string // for fs.FS: "." for the root
	wantDir bool   // the path ended in a slash
	rawPath string // as requested, after the execution segment
}

func parsePreview(r *http.Request) (previewTarget, string) {
	var t previewTarget
	seg := r.PathValue("id")
	idPart, capPart, signed := strings.Cut(seg, ".")
	id, err := uuid.Parse(idPart)
	if err != nil {
		return t, "not found"
	}
	t.id, t.signed = id, signed
	if signed {
		exp, mac, ok := strings.Cut(capPart, ".")
		if t.expiry, err = strconv.ParseInt(exp, 10, 64); !ok || err != nil {
			return t, "not found"
		}
		// One capability has one spelling: the decoder would also take the unused low
		// bits of the last character set, and line breaks anywhere.
		if t.mac, err = base64.RawURLEncoding.DecodeString(mac); err != nil || base64.RawURLEncoding.EncodeToString(t.mac) != mac {
			return t, "not found"
		}
	}
	p := r.PathValue("path")
	t.rawPath = p
	if strings.ContainsRune(p, 0) || !utf8.ValidString(p) {
		return t, "invalid path: it contains a NUL byte or is not UTF-8"
	}
	t.wantDir = p == "" || strings.HasSuffix(p, "/")
	name := strings.TrimSuffix(p, "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) || strings.Contains(name, "\\") {
		return t, "invalid path: only a relative path inside the workspace (no '..', '.', empty or absolute parts) can be previewed"
	}
	t.name = name
	return t, ""
}

// preview serves GET /preview/{id}/{path...}.
func (w *Web) preview(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Security-Policy", previewCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "private, no-store")
	t, bad := parsePreview(r)
	if bad == "not found" {
		previewProblem(rw, http.StatusNotFound, "no such preview")
		return
	}
	if !t.signed {
		w.previewRedirect(rw, r, t, bad)
		return
	}
	e, msg := w.previewExecution(r, t)
	if e == nil {
		previewProblem(rw, http.StatusNotFound, msg)
		return
	}
	if bad != "" {
		previewProblem(rw, http.StatusBadRequest, bad)
		return
	}
	if w.previews == nil {
		previewProblem(rw, http.StatusNotFound, "previews are not available on this server")
		return
	}
	fsys, release, err := w.previews.PreviewFiles(r.Context(), e)
	if errors.Is(err, pipeline.ErrNoPreview) {
		previewProblem(rw, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		w.log.ErrorContext(r.Context(), "open preview files", "execution_id", e.ID.String(), "error", err)
		previewProblem(rw, http.StatusInternalServerError, "the preview's files could not be opened")
		return
	}
	defer release()
	w.serveFile(rw, r, fsys, t)
}

// previewRedirect checks, with the session, that the visitor owns the execution, and
// sends them to the preview's capability URL.
func (w *Web) previewRedirect(rw http.ResponseWriter, r *http.Request, t previewTarget, bad string) {
	v, err := w.current(r)
	if err != nil {
		w.log.ErrorContext(r.Context(), "preview session", "error", err)
		previewProblem(rw, http.StatusInternalServerError, "internal error")
		return
	}
	if v == nil {
		previewProblem(rw, http.StatusNotFound, "no such preview (sign in to the dashboard and open it from the execution's page)")
		return
	}
	e, err := w.st.GetExecution(r.Context(), v.user.ID, t.id)
	if errors.Is(err, store.ErrNotFound) {
		w.auditForeign(r, v, store.ResourceExecution, t.id.String())
		previewProblem(rw, http.StatusNotFound, "no such preview")
		return
	}
	if err != nil {
		w.log.ErrorContext(r.Context(), "preview execution", "error", err)
		previewProblem(rw, http.StatusInternalServerError, "internal error")
		return
	}
	if bad != "" {
		previewProblem(rw, http.StatusBadRequest, bad)
		return
	}
	target := w.previewBase(e) + escapePath(t.rawPath)
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(rw, r, target, http.StatusSeeOther)
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// previewExecution checks a capability and returns its execution, or nil and why not.
func (w *Web) previewExecution(r *http.Request, t previewTarget) (*store.Execution, string) {
	if t.expiry > w.now().Add(previewTTL+previewClockSkew).Unix() {
		return nil, "no such preview"
	}
	owner, found, err := w.st.ResourceOwner(r.Context(), store.ResourceExecution, t.id.String())
	if err != nil || !found {
		return nil, "no such preview"
	}
	if !hmac.Equal(t.mac, w.previewMAC(t.id, owner, t.expiry)) {
		return nil, "no such preview"
	}
	if w.now().Unix() > t.expiry {
		return nil, "this preview link has expired: reload the execution's page"
	}
	e, err := w.st.GetExecution(r.Context(), owner, t.id)
	if err != nil {
		return nil, "no such preview"
	}
	return e, ""
}

func (w *Web) serveFile(rw http.ResponseWriter, r *http.Request, fsys fs.FS, t previewTarget) {
	name := t.name
	st, err := fs.Stat(fsys, name)
	if err == nil && st.IsDir() {
		if !t.wantDir {
			// A directory's relative links resolve inside it only with the slash.
			http.Redirect(rw, r, path.Base(name)+"/", http.StatusSeeOther)
			return
		}
		name = path.Join(name, "index.html")
		st, err = fs.Stat(fsys, name)
	}
	if err != nil || !st.Mode().IsRegular() {
		previewProblem(rw, http.StatusNotFound, "no file "+name+" in this execution's files")
		return
	}
	if t.wantDir && name == t.name {
		previewProblem(rw, http.StatusNotFound, "no directory "+t.name+" in this execution's files")
		return
	}
	f, err := fsys.Open(name)
	if err != nil {
		previewProblem(rw, http.StatusNotFound, "no file "+name+" in this execution's files")
		return
	}
	defer f.Close()
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	rw.Header().Set("Content-Type", ctype)
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		if st.Size() > maxPreviewFile {
			previewProblem(rw, http.StatusNotFound, "file "+name+" is too large to preview")
			return
		}
		body, err := io.ReadAll(io.LimitReader(f, maxPreviewFile))
		if err != nil {
			previewProblem(rw, http.StatusNotFound, "file "+name+" could not be read")
			return
		}
		rs = strings.NewReader(string(body))
	}
	http.ServeContent(rw, r, "", st.ModTime(), rs)
}

// previewProblem answers with an RFC 9457 problem.
func previewProblem(rw http.ResponseWriter, status int, detail string) {
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}
