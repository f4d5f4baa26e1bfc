package index_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/index"
)

// gitHTTPServer serves the repositories under root over git's smart HTTP protocol to
// requests that carry token as git sends it (Basic x-access-token), and counts them.
func gitHTTPServer(t *testing.T, root, token string) (url string, authorized *atomic.Int64) {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Stderr: io.Discard,
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + os.DevNull}}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	authorized = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, authorized
}

// The indexer clones a private HTTPS repository with GITHUB_TOKEN (sent as a header,
// kept out of the clone), and runs git in gitops's sanitised environment: a GIT_DIR,
// HOME and global configuration in the server's environment change nothing.
func TestIndexPrivateRemoteWithToken(t *testing.T) {
	const token = "ghp_indextoken0123456789abcdefSECRET"
	st := openStore(t, "sqlite")
	work := gitFixture(t)
	srvRoot := t.TempDir()
	git(t, srvRoot, "clone", "-q", "--bare", work, filepath.Join(srvRoot, "acme", "fixture.git"))
	base, authorized := gitHTTPServer(t, srvRoot, token)
	remote := base + "/acme/fixture.git"

	// What a server process might inherit: a GIT_DIR that would make git work in
	// another repository, and a HOME whose configuration would rewrite the URL to a
	// dead port and drop the token.
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	write(t, home, ".gitconfig", "[url \"http://127.0.0.1:9/\"]\n\tinsteadOf = "+base+"/\n[http]\n\textraHeader = Authorization: Basic bm9ib2R5Om5vdGhpbmc=\n")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	strayGitDir := filepath.Join(tmp, "stray.git")
	t.Setenv("GIT_DIR", strayGitDir)
	t.Setenv("GIT_CONFIG_PARAMETERS", "'url.http://127.0.0.1:9/.insteadof'='"+base+"/'")

	p := newProject(t, st, remote)
	data := t.TempDir()
	policy := &gitops.RepoPolicy{AllowPrivateRemotes: true, GitHubToken: token} // the server is on loopback
	ix := newIndexer(t, st, index.Config{DataDir: data, Repos: policy})
	stats, err := ix.Index(t.Context(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.FilesIndexed != 9 || authorized.Load() == 0 {
		t.Fatalf("stats %+v, %d authorized requests", stats, authorized.Load())
	}
	if _, err := os.Stat(strayGitDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("git used the inherited GIT_DIR (%v)", err)
	}
	clone := filepath.Join(data, "repos", p.ID.String())
	err = filepath.WalkDir(filepath.Join(clone, ".git"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && (strings.Contains(string(b), token) || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)))) {
			t.Errorf("%s holds the token", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The next index fetches, with the token again.
	before := authorized.Load()
	if _, err := ix.Index(t.Context(), p, nil); err != nil || authorized.Load() == before {
		t.Fatalf("re-index: %v, %d new authorized requests", err, authorized.Load()-before)
	}

	// Without the token the server refuses, and the error is the one for every
	// unreachable remote, with no token or git output in it.
	other := newProject(t, st, remote)
	noToken := newIndexer(t, st, index.Config{DataDir: t.TempDir(), Repos: &gitops.RepoPolicy{AllowPrivateRemotes: true}})
	_, err = noToken.Index(t.Context(), other, nil)
	if !errors.Is(err, gitops.ErrRepoUnreachable) || !strings.HasSuffix(err.Error(), "repository unreachable: "+remote) {
		t.Fatalf("without the token: %v", err)
	}
	// And with the default policy, the loopback server is refused before git runs.
	strict := newIndexer(t, st, index.Config{DataDir: t.TempDir()})
	before = authorized.Load()
	if _, err := strict.Index(t.Context(), other, nil); !errors.Is(err, gitops.ErrRepoForbidden) || authorized.Load() != before {
		t.Fatalf("a loopback remote under the default policy: %v", err)
	}
}
