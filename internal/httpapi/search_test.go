package httpapi_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/httpapi"
)

// searchFixture copies the index package's fixture repository into a git work tree at dst.
func searchFixture(t *testing.T, dst string) string {
	t.Helper()
	src := filepath.Join("..", "index", "testdata", "fixture")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "fixture"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dst
}

func TestSearchEndpoint(t *testing.T) {
	root := t.TempDir()
	forEachDialect(t, map[string]string{"VIBECODER_LOCAL_REPO_ROOTS": root}, func(t *testing.T, e *env) {
		ix := e.app.Index // app.New builds the indexer and calls EnableSearch with it
		if ix == nil {
			t.Fatal("app.New built no indexer")
		}

		ada := e.signup(t, "ada@example.com", "correct horse battery")
		bob := e.signup(t, "bob@example.com", "battery staple horse")
		repo := searchFixture(t, filepath.Join(root, ada.userID, "fixture")) // ada's own directory of the root
		pr := ada.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "fixture", "repo_url": repo})
		pid := pr.str("id")
		p, err := e.app.Store.GetProject(t.Context(), uuid.MustParse(ada.userID), uuid.MustParse(pid))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ix.Index(t.Context(), p, nil); err != nil {
			t.Fatal(err)
		}

		path := "/api/v1/projects/" + pid + "/search"
		r := ada.ok(http.StatusOK, "GET", path+"?q="+url.QueryEscape("where are passwords hashed")+"&limit=3", nil)
		items := r.items(t)
		if len(items) == 0 || len(items) > 3 || r.str("mode") != "keyword" || r.str("query") != "where are passwords hashed" {
			t.Fatalf("search: %s", r.raw)
		}
		top := items[0]
		if top["path"] != "auth/password.go" || top["symbol"] != "HashPassword" || top["language"] != "go" ||
			top["start_line"].(float64) != 28 || top["end_line"].(float64) != 37 ||
			!strings.Contains(top["snippet"].(string), "HashPassword") || top["score"].(float64) <= 0 {
			t.Errorf("top item: %v", top)
		}
		r = ada.ok(http.StatusOK, "GET", path+"?q=zzzunknownzzz", nil)
		if len(r.items(t)) != 0 {
			t.Errorf("no match gives items: %s", r.raw)
		}
		r = ada.ok(http.StatusOK, "GET", path+"?q=password", nil)
		if n := len(r.items(t)); n < 1 || n > httpapi.DefaultSearchLimit {
			t.Errorf("default limit: %d items", n)
		}

		if r.str("group") != "chunk" {
			t.Errorf("default group: %s", r.raw)
		}

		// group=file: one item a file, ranked by SearchFiles, each with its best chunks.
		r = ada.ok(http.StatusOK, "GET", path+"?q="+url.QueryEscape("where are passwords hashed")+"&limit=2&group=file", nil)
		files := r.items(t)
		if len(files) == 0 || len(files) > 2 || r.str("group") != "file" || r.str("mode") != "keyword" {
			t.Fatalf("file search: %s", r.raw)
		}
		chunks, _ := files[0]["chunks"].([]any)
		if files[0]["path"] != "auth/password.go" || files[0]["language"] != "go" || files[0]["score"].(float64) <= 0 ||
			len(chunks) == 0 || chunks[0].(map[string]any)["path"] != "auth/password.go" {
			t.Errorf("top file: %v", files[0])
		}
		seen := map[any]bool{}
		for _, f := range files {
			if seen[f["path"]] {
				t.Errorf("file %v listed twice: %s", f["path"], r.raw)
			}
			seen[f["path"]] = true
		}
		wantProblem(t, bob.do("GET", path+"?q=password&group=file", nil), http.StatusNotFound, "another user's project, files")

		for _, bad := range []string{"", "?q=", "?q=%20%20", "?q=x&limit=0", "?q=x&limit=51", "?q=x&limit=ten",
			"?q=" + strings.Repeat("a", 501), "?q=%ff%fe", "?q=x&group=files", "?q=x&group=FILE"} {
			wantProblem(t, ada.do("GET", path+bad, nil), http.StatusBadRequest, "search "+bad)
		}
		ada.ok(http.StatusOK, "GET", path+"?q="+strings.Repeat("a", 500)+"&limit=50", nil)

		// Another user's project, an unknown one and a malformed id are all 404; no
		// credentials is 401.
		wantProblem(t, bob.do("GET", path+"?q=password", nil), http.StatusNotFound, "another user's project")
		wantProblem(t, ada.do("GET", "/api/v1/projects/"+uuid.NewString()+"/search?q=password", nil), http.StatusNotFound, "unknown project")
		wantProblem(t, ada.do("GET", "/api/v1/projects/nope/search?q=password", nil), http.StatusNotFound, "malformed id")
		wantProblem(t, e.anon(t).do("GET", path+"?q=password", nil), http.StatusUnauthorized, "anonymous")
		wantProblem(t, ada.do("POST", path+"?q=password", nil), http.StatusMethodNotAllowed, "POST")
	})
}
