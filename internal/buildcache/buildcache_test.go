package buildcache_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/buildcache"
	"github.com/vibecoder/vibecoder/internal/sandbox"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// The seeds in these tests hold one small package (unicode/utf8, which imports nothing), so
// building one takes a second: the standard library is never compiled cold here.
var tiny = []string{"unicode/utf8"}

// toolchain is the Go installation the sandbox would expose; a test needing it fails under
// CI=true and skips, loudly, elsewhere.
func toolchain(t *testing.T) sandbox.GoToolchain {
	t.Helper()
	g, err := sandbox.DetectGo(t.Context(), "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Go toolchain: %v", err)
		}
		t.Skipf("WARNING: SKIPPED, no Go toolchain: %v", err)
	}
	return g
}

// requireBwrap fails under CI=true and skips, loudly, elsewhere when bubblewrap is missing.
func requireBwrap(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("bwrap")
	if err == nil && os.Geteuid() == 0 {
		_, err = exec.LookPath("setpriv")
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and bubblewrap or setpriv is missing (scripts/install-deps.sh): %v", err)
	}
	t.Skipf("WARNING: SKIPPED, bubblewrap or setpriv is missing (scripts/install-deps.sh): %v", err)
}

// pipelineEnv is the Spec.Env the pipeline's testrun gives a run with this cache dir.
func pipelineEnv(cache string) map[string]string {
	return map[string]string{"GOCACHE": filepath.Join(cache, "go-build"), "XDG_CACHE_HOME": cache}
}

// runner is a sandbox configured the way the app configures it for Go projects.
func runner(t *testing.T, g sandbox.GoToolchain, sandboxed bool) *sandbox.Runner {
	t.Helper()
	cfg := sandbox.Config{ExtraReadOnly: g.ReadOnly(), Env: g.Env(""), MaxProcs: 1024}
	if sandboxed {
		requireBwrap(t)
	} else {
		cfg.BwrapPath, cfg.AllowUnsandboxed = filepath.Join(t.TempDir(), "no-bwrap"), true
	}
	r, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sandboxed() != sandboxed {
		t.Fatalf("runner sandboxed=%v, want %v", r.Sandboxed(), sandboxed)
	}
	return r
}

// layout is a data dir the way the app lays it out: seeds and project caches side by side.
type layout struct{ data, seeds, cache string }

func newLayout(t *testing.T) layout {
	data := t.TempDir()
	l := layout{data: data, seeds: filepath.Join(data, "gocache-seed"), cache: filepath.Join(data, "cache", "project-1")}
	if err := os.MkdirAll(l.cache, 0o750); err != nil {
		t.Fatal(err)
	}
	return l
}

func newSeeder(t *testing.T, dir string, env map[string]string, pkgs []string, logs *bytes.Buffer) *buildcache.Seeder {
	t.Helper()
	s, err := buildcache.New(buildcache.Config{Dir: dir, Packages: pkgs, Env: env, Timeout: 5 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wait(t *testing.T, s *buildcache.Seeder) string {
	t.Helper()
	s.Start(t.Context())
	seed, err := s.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// treeHash hashes every path, mode and content under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v %d\n", rel, fi.Mode(), fi.Size())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestSeedBuiltOncePerKey: a second seeder with the same toolchain, environment and packages
// (a restarted worker, or another worker on the same data dir) finds the seed instead of
// building it; a different environment or package set is another key, another seed.
func TestSeedBuiltOncePerKey(t *testing.T) {
	g := toolchain(t)
	r := runner(t, g, false)
	l := newLayout(t)
	env := r.Environ(pipelineEnv(l.cache))

	var logs1 bytes.Buffer
	s1 := newSeeder(t, l.seeds, env, tiny, &logs1)
	seed1 := wait(t, s1)
	if !strings.Contains(logs1.String(), "go build cache seed built") || !strings.Contains(logs1.String(), "took=") {
		t.Fatalf("first build not logged with its duration:\n%s", logs1.String())
	}
	if countFiles(t, seed1) == 0 {
		t.Fatal("the seed is empty")
	}
	manifest, err := os.Stat(filepath.Join(filepath.Dir(seed1), "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, seed1)

	var logs2 bytes.Buffer
	s2 := newSeeder(t, l.seeds, env, tiny, &logs2)
	if seed2 := wait(t, s2); seed2 != seed1 || s2.Key() != s1.Key() {
		t.Fatalf("same key, another seed: %s (%s) vs %s (%s)", seed2, s2.Key(), seed1, s1.Key())
	}
	if strings.Contains(logs2.String(), "seed built") || !strings.Contains(logs2.String(), "go build cache seed found") {
		t.Fatalf("the second seeder built again:\n%s", logs2.String())
	}
	if m, _ := os.Stat(filepath.Join(filepath.Dir(seed1), "seed.json")); !m.ModTime().Equal(manifest.ModTime()) || treeHash(t, seed1) != before {
		t.Fatal("the seed changed when it was found again")
	}

	for name, s := range map[string]*buildcache.Seeder{
		"other GOFLAGS":  newSeeder(t, l.seeds, withEnv(env, "GOFLAGS", "-tags=seedtest"), tiny, &bytes.Buffer{}),
		"other CGO":      newSeeder(t, l.seeds, withEnv(env, "CGO_ENABLED", "0"), tiny, &bytes.Buffer{}),
		"other packages": newSeeder(t, l.seeds, env, []string{"unicode/utf16"}, &bytes.Buffer{}),
	} {
		if seed := wait(t, s); seed == seed1 || s.Key() == s1.Key() {
			t.Errorf("%s: same seed %s", name, seed)
		}
	}
	entries, _ := os.ReadDir(l.seeds)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 4 {
		t.Errorf("seed dir holds %v, want 4 seeds and nothing left over", dirs)
	}
}

func withEnv(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for ek, ev := range env {
		if ek != k {
			out[ek] = ev
		}
	}
	return out
}

// TestSeedFirstRunOnly: a project's cache gets a copy on its first run (which waits for a
// build in progress), not a link; later runs keep what the project made of it, even when the
// seed has another file by then.
func TestSeedFirstRunOnly(t *testing.T) {
	g := toolchain(t)
	r := runner(t, g, false)
	l := newLayout(t)
	s := newSeeder(t, l.seeds, r.Environ(pipelineEnv(l.cache)), tiny, &bytes.Buffer{})

	if _, err := s.Seed(t.Context(), l.cache); !errors.Is(err, buildcache.ErrNotStarted) {
		t.Fatalf("Seed before Start: %v, want ErrNotStarted (the run proceeds cold)", err)
	}
	// The first run comes while the seed is being built, and waits for it.
	s.Start(t.Context())
	seeded, err := s.Seed(t.Context(), l.cache)
	if err != nil || !seeded {
		t.Fatalf("first run: seeded=%v err=%v", seeded, err)
	}
	seed := wait(t, s)
	copyDir := filepath.Join(l.cache, "go-build")
	if treeHash(t, copyDir) != treeHash(t, seed) {
		t.Fatal("the project's cache is not a copy of the seed")
	}
	// Copies, not hard links: every file of the project's cache is its own inode.
	_ = filepath.WalkDir(copyDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, _ := os.Stat(p)
		st := fi.Sys().(*syscall.Stat_t)
		orig, _ := os.Stat(filepath.Join(seed, strings.TrimPrefix(p, copyDir)))
		if st.Nlink != 1 || os.SameFile(fi, orig) {
			t.Errorf("%s is linked to the seed (nlink %d)", p, st.Nlink)
		}
		return nil
	})
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(l.cache), ".seeding-*")); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}

	// The project's runs change their cache; the seed gains a file. The second run keeps
	// the project's cache as it is.
	mine := filepath.Join(copyDir, "project-made")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seed, "seed-later"), []byte("later"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(seed, "seed-later"))
	if seeded, err := s.Seed(t.Context(), l.cache); err != nil || seeded {
		t.Fatalf("second run: seeded=%v err=%v", seeded, err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatal("the project's own cache entry is gone after its second run")
	}
	if _, err := os.Stat(filepath.Join(copyDir, "seed-later")); err == nil {
		t.Fatal("the second run was seeded again")
	}
}

var compileP = regexp.MustCompile(`/compile [^\n]* -p (\S+) `)
var vetCfg = regexp.MustCompile(`/vet [^\n]*\$WORK/(b\d+)/vet\.cfg`)

// TestSeedHitsInSandbox: with the seeded cache, a sandboxed `go test -x` of a module importing
// the seed's package compiles and vets only the module's own package: the keys computed
// inside the sandbox are the seed's. Without the seed the same run compiles and vets
// unicode/utf8, so the check can fail.
func TestSeedHitsInSandbox(t *testing.T) {
	g := toolchain(t)
	r := runner(t, g, true)
	l := newLayout(t)
	s := newSeeder(t, l.seeds, r.Environ(pipelineEnv(l.cache)), tiny, &bytes.Buffer{})
	wait(t, s)

	goTestX := func(cache string) (compiled []string, vets int) {
		t.Helper()
		ws := t.TempDir()
		testutil.WriteTree(t, ws, map[string]string{
			"go.mod":   "module example.com/fixture\n\ngo 1.21\n",
			"runes.go": "package fixture\n\nimport \"unicode/utf8\"\n\nfunc Runes(s string) int { return utf8.RuneCountInString(s) }\n",
		})
		res, err := r.Run(t.Context(), sandbox.Spec{Dir: ws, Shell: "go test -x ./...", CacheDir: cache,
			Env: pipelineEnv(cache), Timeout: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 || !res.Sandboxed {
			t.Fatalf("go test -x: exit %d sandboxed %v\n%s", res.ExitCode, res.Sandboxed, res.Output)
		}
		for _, m := range compileP.FindAllStringSubmatch(res.Output, -1) {
			compiled = append(compiled, m[1])
		}
		return compiled, len(vetCfg.FindAllString(res.Output, -1))
	}

	if seeded, err := s.Seed(t.Context(), l.cache); err != nil || !seeded {
		t.Fatalf("seeded=%v err=%v", seeded, err)
	}
	compiled, vets := goTestX(l.cache)
	if strings.Join(compiled, " ") != "example.com/fixture" || vets != 1 {
		t.Fatalf("seeded run compiled %v and ran vet %d times; want only example.com/fixture, vetted once", compiled, vets)
	}

	cold := filepath.Join(l.data, "cache", "project-2")
	if err := os.MkdirAll(cold, 0o750); err != nil {
		t.Fatal(err)
	}
	compiled, vets = goTestX(cold)
	if !strings.Contains(strings.Join(compiled, " "), "unicode/utf8") || vets != 2 {
		t.Fatalf("unseeded run compiled %v and ran vet %d times; want unicode/utf8 compiled and vetted too", compiled, vets)
	}
}

// TestSeedNotWritableFromSandbox is the attacker's test: a sandboxed test command with a seeded
// cache tries to read, write, overwrite and delete the seed by its host path, and corrupts every file
// of its own copy. Every attempt on the seed fails, and the seed is unchanged afterwards, so
// the next project's first run gets what the server compiled.
func TestSeedNotWritableFromSandbox(t *testing.T) {
	g := toolchain(t)
	r := runner(t, g, true)
	l := newLayout(t)
	s := newSeeder(t, l.seeds, r.Environ(pipelineEnv(l.cache)), tiny, &bytes.Buffer{})
	seed := wait(t, s)
	before := treeHash(t, l.seeds)
	if seeded, err := s.Seed(t.Context(), l.cache); err != nil || !seeded {
		t.Fatalf("seeded=%v err=%v", seeded, err)
	}
	var victim string
	_ = filepath.WalkDir(seed, func(p string, d fs.DirEntry, err error) error {
		if err == nil && victim == "" && d.Type().IsRegular() && strings.HasSuffix(p, "-d") {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("no output file in the seed")
	}

	attack := fmt.Sprintf(`
export seeds=%[1]q seed=%[2]q victim=%[3]q copy=%[4]q
try() { if ( "$@" ) 2>/dev/null; then echo "ATTACK SUCCEEDED: $*"; else echo "refused: $*"; fi; }
try sh -c 'echo poison > "$victim"'
try sh -c 'echo poison >> "$victim"'
try sh -c 'echo poison > "$seed/poison"'
try ls "$seeds"
try cat "$victim"
try rm "$victim"
try rm -r "$seeds"
try mkdir -p "$seeds"
try mv "$seed" "$seed.gone"
try ln -s "$copy" "$seeds/link"
try touch -d 2000-01-01 "$victim"
# Its own copy is its to spoil.
find "$copy" -type f -name '*-d' | while read -r f; do echo poison > "$f"; done
find "$copy" -type f -name '*-a' -delete
echo done
`, l.seeds, seed, victim, filepath.Join(l.cache, "go-build"))
	res, err := r.Run(t.Context(), sandbox.Spec{Dir: t.TempDir(), Shell: attack, CacheDir: l.cache, Env: pipelineEnv(l.cache), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Sandboxed || !strings.Contains(res.Output, "done") || strings.Count(res.Output, "refused:") != 11 {
		t.Fatalf("attack script (sandboxed %v, exit %d):\n%s", res.Sandboxed, res.ExitCode, res.Output)
	}
	if strings.Contains(res.Output, "ATTACK SUCCEEDED") {
		t.Fatalf("the sandbox could change the seed:\n%s", res.Output)
	}
	if treeHash(t, l.seeds) != before {
		t.Fatal("the seed changed during a sandboxed run")
	}
	if b, err := os.ReadFile(victim); err != nil || bytes.Contains(b, []byte("poison")) {
		t.Fatalf("victim: %v %q", err, b)
	}
	// The spoiled copy is the project's own; another project's first run gets the intact seed.
	other := filepath.Join(l.data, "cache", "project-2")
	if err := os.MkdirAll(other, 0o750); err != nil {
		t.Fatal(err)
	}
	if seeded, err := s.Seed(t.Context(), other); err != nil || !seeded {
		t.Fatalf("seeded=%v err=%v", seeded, err)
	}
	if treeHash(t, filepath.Join(other, "go-build")) != treeHash(t, seed) {
		t.Fatal("the next project's copy is not the seed")
	}
}
