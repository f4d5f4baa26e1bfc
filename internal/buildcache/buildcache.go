// Package buildcache spares a new Go project's first sandboxed `go test` the compilation of the
// standard library: the server compiles it once per Go toolchain into a seed that only it can
// write, and copies the seed into a project's build cache before that project's first test run.
//
// The seed is what `go test` of a module would leave in an empty GOCACHE for the chosen standard
// library packages: their compiled export data and object code, the vet facts `go test` computes
// for every dependency of the package it tests, and (when `testing` is among them) the packages
// the generated test main imports. It is built by running `go test` on a throwaway module that
// imports those packages, with exactly the environment the sandbox gives a test command (see
// [Config.Env]), so the cache keys a sandboxed run computes are the keys the seed holds.
//
// Why a copy: a project's cache is written by the project's test command, which is untrusted. The
// seed lives outside every directory the sandbox mounts and is never bound into it, and a
// project gets its own copy (os.CopyFS: new files, never hard links), so nothing a test command
// does can change what another project's runs will read. (Unsandboxed runs, allowed only by
// VIBECODER_ALLOW_UNSANDBOXED, can write whatever the server can, the seed included.)
package buildcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vibecoder/vibecoder/internal/sandbox"
)

// DefaultPackages is the seed's package set when Config.Packages is empty: the whole standard
// library (about 170 MB of cache on linux/amd64).
var DefaultPackages = []string{"std"}

// DefaultTimeout bounds one build of the seed.
const DefaultTimeout = 30 * time.Minute

// ErrNotStarted is returned by [Seeder.Wait] and [Seeder.Seed] before [Seeder.Start].
var ErrNotStarted = errors.New("buildcache: the seed build was not started")

// Config configures a Seeder.
type Config struct {
	// Dir holds the seeds, one directory per key. It must be written by the server only and never
	// be mounted into a sandbox ($VIBECODER_DATA_DIR/gocache-seed).
	Dir string
	// Packages are the standard library package patterns to compile ("std", "net/http",
	// "encoding/..."); DefaultPackages when empty.
	Packages []string
	// GoBin is the go command; empty looks "go" up in Env's PATH.
	GoBin string
	// Env is the environment the sandbox gives a test command (sandbox.Runner.Environ with the
	// pipeline's Spec.Env). The build replaces HOME, TMPDIR, GOCACHE and XDG_CACHE_HOME with its
	// own directories; everything else (PATH, GOROOT, GOFLAGS, CGO_ENABLED, LANG...) is used as is.
	Env map[string]string
	// Timeout bounds the build (DefaultTimeout when zero).
	Timeout time.Duration
	// Logger receives the build's start, end and duration. Nil discards.
	Logger *slog.Logger
}

// Seeder builds the seed once and copies it into projects' caches. It is safe for concurrent use.
type Seeder struct {
	cfg     Config
	log     *slog.Logger
	once    sync.Once
	started atomic.Bool
	ready   chan struct{} // closed when the build is over
	seed    string        // the seed's go-build directory, once ready
	key     string
	err     error
}

// New checks cfg. It runs nothing: [Seeder.Start] builds.
func New(cfg Config) (*Seeder, error) {
	if cfg.Dir == "" || !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("buildcache: Dir %q must be an absolute path", cfg.Dir)
	}
	if len(cfg.Packages) == 0 {
		cfg.Packages = DefaultPackages
	}
	for _, p := range cfg.Packages {
		if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n\"`\\") {
			return nil, fmt.Errorf("buildcache: invalid package pattern %q", p)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.Env = maps.Clone(cfg.Env)
	if cfg.Env == nil {
		cfg.Env = map[string]string{}
	}
	if cfg.GoBin == "" {
		p, err := sandbox.LookPath("go", cfg.Env["PATH"])
		if err != nil {
			return nil, fmt.Errorf("buildcache: %w", err)
		}
		cfg.GoBin = p
	}
	s := &Seeder{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Start builds the seed in the background, or finds the one an earlier start built for the same
// key. Only the first call does anything; cancelling ctx stops the build (what it compiled so far
// is kept and the next start resumes from it).
func (s *Seeder) Start(ctx context.Context) {
	s.once.Do(func() {
		s.started.Store(true)
		go func() {
			defer close(s.ready)
			s.seed, s.err = s.build(ctx)
			if s.err != nil && ctx.Err() == nil {
				s.log.Warn("go build cache seed not built: first runs of Go projects compile the standard library", slog.Any("error", s.err))
			}
		}()
	})
}

// Wait waits until the build is over and returns the seed's go-build directory.
func (s *Seeder) Wait(ctx context.Context) (string, error) {
	if !s.started.Load() {
		return "", ErrNotStarted
	}
	select {
	case <-s.ready:
		return s.seed, s.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Key is the seed's key, once built: a hash of the toolchain (GOVERSION, GOOS, GOARCH and the
// rest of what changes the go command's cache keys), the environment and the package set.
func (s *Seeder) Key() string {
	select {
	case <-s.ready:
		return s.key
	default:
		return ""
	}
}

// Seed gives cacheDir a copy of the seed as its go-build directory (GOCACHE) when it has none,
// which is the project's first run; afterwards the project's cache is its own. It reports
// whether it copied. A build still running is waited for: the run would otherwise compile the
// same packages at the same time on the same cores, and finish no sooner.
//
// cacheDir's parent must be written by the server only: the copy is made there and renamed into
// place, so the sandboxed command, which may write cacheDir, never sees a partial copy and
// cannot redirect it.
func (s *Seeder) Seed(ctx context.Context, cacheDir string) (bool, error) {
	target := filepath.Join(cacheDir, "go-build")
	if _, err := os.Lstat(target); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("buildcache: %w", err)
	}
	seed, err := s.Wait(ctx)
	if err != nil {
		return false, err
	}
	staging, err := os.MkdirTemp(filepath.Dir(cacheDir), ".seeding-")
	if err != nil {
		return false, fmt.Errorf("buildcache: %w", err)
	}
	defer os.RemoveAll(staging)
	// os.CopyFS writes new files (copy_file_range, a reflink where the file system can): no
	// hard link ties the project's copy to the seed.
	if err := os.CopyFS(filepath.Join(staging, "go-build"), os.DirFS(seed)); err != nil {
		return false, fmt.Errorf("buildcache: copy the seed: %w", err)
	}
	if err := os.Rename(filepath.Join(staging, "go-build"), target); err != nil {
		if _, serr := os.Lstat(target); serr == nil {
			return false, nil // a concurrent run of the same project seeded it first
		}
		return false, fmt.Errorf("buildcache: %w", err)
	}
	return true, nil
}

// manifest is written into a finished seed.
type manifest struct {
	Key       string            `json:"key"`
	Toolchain map[string]string `json:"toolchain"`
	Packages  []string          `json:"packages"`
	Compiled  int               `json:"compiled"`
	Took      string            `json:"took"`
	Built     time.Time         `json:"built"`
}

// toolchainVars are the go env variables that enter the go command's cache keys (besides the
// source and the environment, hashed whole).
var toolchainVars = []string{"GOVERSION", "GOOS", "GOARCH", "GOROOT", "CGO_ENABLED", "CC", "CXX",
	"CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_FFLAGS", "CGO_LDFLAGS", "GOFLAGS",
	"GOEXPERIMENT", "GOAMD64", "GOARM64", "GO386", "GOARM", "GOPPC64", "GORISCV64", "GOMIPS",
	"GOMIPS64", "GOWASM", "GOFIPS140", "GODEBUG"}

// ownVars are set by the build to its own directories, and left out of the key.
var ownVars = []string{"HOME", "TMPDIR", "GOCACHE", "XDG_CACHE_HOME"}

func (s *Seeder) build(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return "", fmt.Errorf("buildcache: %w", err)
	}
	scratch, err := os.MkdirTemp(s.cfg.Dir, ".scratch-")
	if err != nil {
		return "", fmt.Errorf("buildcache: %w", err)
	}
	defer os.RemoveAll(scratch)

	key, tc, err := s.toolchainKey(ctx, scratch)
	if err != nil {
		return "", err
	}
	envFor := s.envFor
	s.key = key
	final := filepath.Join(s.cfg.Dir, key)
	log := s.log.With(slog.String("key", key), slog.String("go", tc["GOVERSION"]+" "+tc["GOOS"]+"/"+tc["GOARCH"]))

	// One builder per key at a time, across processes sharing the data dir.
	unlock, err := lockFile(ctx, final+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(final, "seed.json")); err == nil {
		log.Info("go build cache seed found", slog.String("dir", final))
		return filepath.Join(final, "go-build"), nil
	}

	// The build directory is kept when a build is interrupted: Go's cache is safe to resume.
	building := final + ".building"
	for _, d := range []string{"go-build", "home", "tmp", "probe"} {
		if err := os.MkdirAll(filepath.Join(building, d), 0o755); err != nil {
			return "", fmt.Errorf("buildcache: %w", err)
		}
	}
	env := envFor(building)
	log.Info("building go build cache seed", slog.Any("packages", s.cfg.Packages))

	pkgs, err := s.listPackages(ctx, scratch, env)
	if err != nil {
		return "", err
	}
	if err := writeProbe(filepath.Join(building, "probe"), tc["GOVERSION"], pkgs); err != nil {
		return "", err
	}
	// go test, not go build: it also leaves the vet facts of every dependency, computed with
	// the flags go test gives vet, and the test main's imports.
	if _, err := s.goCmd(ctx, filepath.Join(building, "probe"), env, "test", "-count=1", "."); err != nil {
		return "", err
	}
	for _, d := range []string{"home", "tmp", "probe"} {
		if err := os.RemoveAll(filepath.Join(building, d)); err != nil {
			return "", fmt.Errorf("buildcache: %w", err)
		}
	}
	took := time.Since(start)
	m, _ := json.MarshalIndent(manifest{Key: key, Toolchain: tc, Packages: s.cfg.Packages, Compiled: len(pkgs),
		Took: took.Round(time.Millisecond).String(), Built: time.Now().UTC()}, "", "  ")
	if err := os.WriteFile(filepath.Join(building, "seed.json"), m, 0o644); err != nil {
		return "", fmt.Errorf("buildcache: %w", err)
	}
	if err := os.Rename(building, final); err != nil {
		return "", fmt.Errorf("buildcache: %w", err)
	}
	size, files := du(filepath.Join(final, "go-build"))
	log.Info("go build cache seed built", slog.Int("packages", len(pkgs)), slog.Int64("bytes", size),
		slog.Int("files", files), slog.Duration("took", took), slog.String("dir", final))
	return filepath.Join(final, "go-build"), nil
}

// envFor is the sandbox's environment with the build's own HOME, TMPDIR and caches under dir.
func (s *Seeder) envFor(dir string) []string {
	env := maps.Clone(s.cfg.Env)
	env["HOME"] = filepath.Join(dir, "home")
	env["TMPDIR"] = filepath.Join(dir, "tmp")
	env["GOCACHE"] = filepath.Join(dir, "go-build")
	env["XDG_CACHE_HOME"] = dir
	var list []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	return list
}

// toolchainKey names the seed: what `go env` says with the sandbox's environment, the
// environment itself and the package set. It returns the toolchain's variables too.
func (s *Seeder) toolchainKey(ctx context.Context, scratch string) (string, map[string]string, error) {
	for _, d := range []string{"home", "tmp"} {
		if err := os.Mkdir(filepath.Join(scratch, d), 0o755); err != nil {
			return "", nil, fmt.Errorf("buildcache: %w", err)
		}
	}
	out, err := s.goCmd(ctx, scratch, s.envFor(scratch), append([]string{"env", "-json"}, toolchainVars...)...)
	if err != nil {
		return "", nil, err
	}
	var tc map[string]string
	if err := json.Unmarshal(out, &tc); err != nil {
		return "", nil, fmt.Errorf("buildcache: go env: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "vibecoder go build cache seed v1\n")
	for _, k := range slices.Sorted(maps.Keys(tc)) {
		fmt.Fprintf(h, "go env %s=%q\n", k, tc[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.cfg.Env)) {
		if !slices.Contains(ownVars, k) {
			fmt.Fprintf(h, "env %s=%q\n", k, s.cfg.Env[k])
		}
	}
	fmt.Fprintf(h, "packages %q\n", s.cfg.Packages)
	return hex.EncodeToString(h.Sum(nil))[:24], tc, nil
}

// listPackages expands the patterns to the importable packages they match: not internal, not
// vendored, not commands, buildable here.
func (s *Seeder) listPackages(ctx context.Context, dir string, env []string) ([]string, error) {
	args := append([]string{"list", "-e", "-f", "{{.ImportPath}} {{.Name}} {{.Standard}} {{if .Error}}error{{else}}ok{{end}}"}, s.cfg.Packages...)
	out, err := s.goCmd(ctx, dir, env, args...)
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		path, name, std, ok := f[0], f[1], f[2], f[3]
		if std != "true" {
			return nil, fmt.Errorf("buildcache: %s is not a standard library package", path)
		}
		internal := slices.Contains(strings.Split(path, "/"), "internal")
		if ok != "ok" || name == "main" || internal || strings.HasPrefix(path, "vendor/") {
			continue
		}
		pkgs = append(pkgs, path)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("buildcache: no importable packages match %q", s.cfg.Packages)
	}
	return pkgs, nil
}

// writeProbe makes the throwaway module: one file importing every package, and when testing is
// among them a test, so that the test main's own imports are compiled too.
func writeProbe(dir, goVersion string, pkgs []string) error {
	mod := "module vibecoder.invalid/seedprobe\n"
	// The language version of the toolchain (go1.26.8 -> 1.26); a devel toolchain gets none.
	if v, ok := strings.CutPrefix(goVersion, "go"); ok {
		if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 && !strings.ContainsAny(parts[1], "-+ ") {
			mod += "\ngo " + parts[0] + "." + parts[1] + "\n"
		}
	}
	var b bytes.Buffer
	b.WriteString("// Package seedprobe imports the packages of a build cache seed.\npackage seedprobe\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	b.WriteString(")\n")
	files := map[string][]byte{"go.mod": []byte(mod), "probe.go": b.Bytes()}
	if slices.Contains(pkgs, "testing") {
		files["probe_test.go"] = []byte("package seedprobe\n\nimport \"testing\"\n\nfunc TestSeed(t *testing.T) {}\n")
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("buildcache: %w", err)
		}
	}
	return nil
}

// goCmd runs the go command and returns its standard output; a failure carries the end of its
// output.
func (s *Seeder) goCmd(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.cfg.GoBin, args...)
	cmd.Dir, cmd.Env = dir, env
	// The go command starts compilers and linkers of its own; stopping the build must
	// stop them too, or they go on writing into the data directory after the server
	// has stopped. So the build is a process group, killed whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := stderr.String() + stdout.String()
		if len(tail) > 4000 {
			tail = "…" + tail[len(tail)-4000:]
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("buildcache: go %s: %w\n%s", args[0], err, tail)
	}
	return stdout.Bytes(), nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can end the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("buildcache: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("buildcache: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func du(dir string) (size int64, files int) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
				files++
			}
		}
		return nil
	})
	return size, files
}
