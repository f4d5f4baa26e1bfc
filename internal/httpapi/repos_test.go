package httpapi_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// repoMessage is the message of the repo_url field error in a 422 answer.
func repoMessage(t *testing.T, r response, what string) string {
	t.Helper()
	wantFieldError(t, r, "repo_url", what)
	for _, fe := range r.body["errors"].([]any) {
		if m := fe.(map[string]any); m["field"] == "repo_url" {
			return m["message"].(string)
		}
	}
	return ""
}

// adminClient makes an administrator (an operator's command, not a signup) and
// returns a client authenticated by an API key of theirs.
func adminClient(t *testing.T, e *env, email string) *client {
	t.Helper()
	u, err := e.app.Auth.Signup(t.Context(), email, "", "admin long password", true)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := e.app.Auth.CreateAPIKey(t.Context(), u.ID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	e.secret(key)
	return &client{e: e, t: t, bearer: key, userID: u.ID.String()}
}

// Local repositories belong to someone: Bob cannot register, PATCH to, index or run
// against Alice's repository under the shared root — by its path, the root, its .git,
// or a link in his own directory — and a link planted after registration is caught
// when the repository is used.
func TestLocalRepositoryOwnership(t *testing.T) {
	root := t.TempDir()
	forEachDialect(t, map[string]string{"VIBECODER_LOCAL_REPO_ROOTS": root}, func(t *testing.T, e *env) {
		alice, _ := e.signup(t, "alice-repo@example.com", "alice long password").newAPIKey("a")
		bob, _ := e.signup(t, "bob-repo@example.com", "bob's long password").newAPIKey("b")
		aliceRepo := filepath.Join(root, alice.userID, "repo")
		testutil.GitRepo(t, aliceRepo, map[string]string{"secret.go": "package secret\n\nconst Key = 1\n"}, "alice's")
		bobDir := filepath.Join(root, bob.userID)
		bobRepo := filepath.Join(bobDir, "mine")
		testutil.GitRepo(t, bobRepo, map[string]string{"mine.go": "package mine\n"}, "bob's")
		link := filepath.Join(bobDir, "link")
		if err := os.Symlink(aliceRepo, link); err != nil {
			t.Fatal(err)
		}

		alice.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "a", "repo_url": aliceRepo})
		for name, raw := range map[string]string{
			"Alice's repository":        aliceRepo,
			"Alice's repository by URL": "file://" + aliceRepo,
			"Alice's directory":         filepath.Join(root, alice.userID),
			"the root":                  root,
			"Alice's .git":              filepath.Join(aliceRepo, ".git"),
			"a link to Alice's":         link,
			"up and into Alice's":       filepath.Join(bobDir, "..", alice.userID, "repo"),
			"outside the root":          t.TempDir(),
		} {
			msg := repoMessage(t, bob.do("POST", "/api/v1/projects", map[string]string{"name": "b", "repo_url": raw}), "Bob registers "+name)
			if !strings.Contains(msg, "not allowed") && !strings.Contains(msg, "does not exist") {
				t.Errorf("Bob registers %s: %q", name, msg)
			}
		}
		// PATCH: Bob's own project cannot be pointed at Alice's repository.
		pid := bob.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "b", "repo_url": bobRepo}).str("id")
		repoMessage(t, bob.do("PATCH", "/api/v1/projects/"+pid, map[string]string{"repo_url": aliceRepo}), "Bob PATCHes to Alice's")
		repoMessage(t, bob.do("PATCH", "/api/v1/projects/"+pid, map[string]string{"repo_url": link}), "Bob PATCHes to his link")
		if got := bob.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid, nil).str("repo_url"); got != bobRepo {
			t.Fatalf("a refused PATCH changed repo_url to %s", got)
		}
		// An administrator may use any repository below the root (that is how one is shared).
		admin := adminClient(t, e, "admin-repo@example.com")
		admin.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "shared", "repo_url": aliceRepo})
		repoMessage(t, admin.do("POST", "/api/v1/projects", map[string]string{"name": "r", "repo_url": root}), "admin registers the root")

		// A path registered before it exists becomes a link to Alice's repository: every
		// use refuses it.
		later := filepath.Join(bobDir, "later")
		lid := bob.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "later", "repo_url": later}).str("id")
		tid := bob.ok(http.StatusCreated, "POST", "/api/v1/projects/"+lid+"/tasks", map[string]string{"title": "read it"}).str("id")
		if err := os.Symlink(aliceRepo, later); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, bob.do("POST", "/api/v1/projects/"+lid+"/index", nil), http.StatusForbidden, "Bob indexes his link")
		wantProblem(t, bob.do("POST", "/api/v1/tasks/"+tid+"/run", nil), http.StatusForbidden, "Bob runs on his link")
		p, err := e.app.Store.GetProject(t.Context(), uuid.MustParse(bob.userID), uuid.MustParse(lid))
		if err != nil {
			t.Fatal(err)
		}
		// The index job itself checks again (it may have been queued before the link).
		if _, err := e.app.Index.Index(t.Context(), p, nil); !errors.Is(err, gitops.ErrRepoForbidden) {
			t.Fatalf("the indexer read Bob's link to Alice's repository: %v", err)
		}
		if hits, _ := e.app.Index.Search(t.Context(), p.UserID, p.ID, "Key", 5); len(hits) != 0 {
			t.Fatalf("Alice's code is in Bob's index: %+v", hits)
		}
		// And the pipeline refuses to start on it.
		if _, _, err := e.app.Pipeline.Run(t.Context(), p.UserID, uuid.MustParse(tid), nil, nil); !errors.Is(err, gitops.ErrRepoForbidden) {
			t.Fatalf("a run started on Bob's link to Alice's repository: %v", err)
		}
	})
}

// privateRemotes are remotes on loopback, link-local and private addresses.
var privateRemotes = []string{"http://127.0.0.1:6379/x.git", "git://127.0.0.1:5432/x", "http://[::1]/", "http://169.254.169.254/",
	"http://10.0.0.1/", "https://localhost/acme/x.git", "git@192.168.0.1:acme/x.git"}

// Remotes cannot probe the host's network: a remote on a loopback, link-local or
// private address is refused at registration, and at index time with the same text.
func TestPrivateRemotesRefused(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		web := e.signup(t, "private@example.com", "private long password")
		api, _ := web.newAPIKey("k")
		uid := uuid.MustParse(web.userID)
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")
		for _, raw := range privateRemotes {
			msg := repoMessage(t, api.do("POST", "/api/v1/projects", map[string]string{"name": "x", "repo_url": raw}), "register "+raw)
			want := "repository not allowed: " + raw + " resolves to a loopback, private or otherwise non-public address"
			if !strings.HasPrefix(msg, want) {
				t.Errorf("register %s: %q, want %q…", raw, msg, want)
			}
			repoMessage(t, api.do("PATCH", "/api/v1/projects/"+pid, map[string]string{"repo_url": raw}), "PATCH to "+raw)
			// Registered when it was allowed (or before this check existed): the index
			// refuses it with the same words, and no git runs.
			p := &store.Project{UserID: uid, Name: "old", RepoURL: raw, DefaultBranch: "main"}
			if err := e.app.Store.CreateProject(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			_, err := e.app.Index.Index(t.Context(), p, nil)
			if !errors.Is(err, gitops.ErrRepoForbidden) || !strings.HasSuffix(err.Error(), ": "+msg) {
				t.Errorf("index %s: %v; registration said %q", raw, err, msg)
			}
		}
	})
}

// VIBECODER_ALLOW_PRIVATE_REMOTES=true allows remotes on private addresses; one that
// cannot be reached fails with the same error whatever answers on its port. (A test of
// its own: a second forEachDialect in one test names its SQLite directory "…#01",
// and the SQLite driver takes the "#" for the start of a URL fragment.)
func TestPrivateRemotesAllowed(t *testing.T) {
	forEachDialect(t, map[string]string{"VIBECODER_ALLOW_PRIVATE_REMOTES": "true", "VIBECODER_INDEX_CLONE_TIMEOUT": "10s"}, func(t *testing.T, e *env) {
		web := e.signup(t, "private-ok@example.com", "private long password")
		api, _ := web.newAPIKey("k")
		for _, raw := range privateRemotes {
			api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "x", "repo_url": raw})
		}
		// Allowed, but unreachable: the error is the same whatever answers on the port.
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedAddr := closed.Addr().String()
		closed.Close()
		redisLike := serveTCP(t, "-ERR unknown command 'GET'\r\n")
		pgLike := serveTCP(t, "E\x00\x00\x00\x10SFATAL\x00\x00")
		var texts []string
		for _, addr := range []string{closedAddr, redisLike, pgLike} {
			for _, scheme := range []string{"http", "git"} {
				raw := fmt.Sprintf("%s://%s/x.git", scheme, addr)
				pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "x", "repo_url": raw}).str("id")
				p, err := e.app.Store.GetProject(t.Context(), uuid.MustParse(web.userID), uuid.MustParse(pid))
				if err != nil {
					t.Fatal(err)
				}
				_, err = e.app.Index.Index(t.Context(), p, nil)
				if !errors.Is(err, gitops.ErrRepoUnreachable) || !strings.HasSuffix(err.Error(), "repository unreachable: "+raw) {
					t.Fatalf("index %s: %v", raw, err)
				}
				texts = append(texts, strings.NewReplacer(raw, "URL", p.ID.String(), "ID").Replace(err.Error()))
			}
		}
		for _, s := range texts[1:] {
			if s != texts[0] {
				t.Fatalf("unreachable remotes' errors differ: %q", texts)
			}
		}
	})
}

// serveTCP answers every connection with greeting and closes it (a service that is not git).
func serveTCP(t *testing.T, greeting string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(greeting))
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}
