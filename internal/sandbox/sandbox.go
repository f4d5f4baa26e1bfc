// Package sandbox runs untrusted commands — a project's test command — under bubblewrap: no network,
// a read-only system, the workspace as the only writable mount, a clean environment, no privileges
// and limits on time, memory, processes and captured output. Without bubblewrap it runs commands
// only when the configuration explicitly allows unsandboxed execution, and every Result says which
// way it ran.
//
// Who the command is: when the server runs as root, bwrap runs privileged and setpriv drops the
// command to Config.UID (nobody by default) with no capabilities and no_new_privs; the workspace is
// lent to that uid for the run. bwrap's own user namespace is not used then, because it would map
// the command to host root, which passes every file-mode check (it could write /proc/sys and read
// root-only files). When the server is not root, bwrap's user namespace maps the command to the
// server's uid.
//
// How each limit is enforced:
//
//   - Wall clock: a context deadline; on expiry the whole process group is sent SIGKILL. Under
//     bubblewrap that kills bwrap, whose --die-with-parent kills the sandbox's init, and the kernel
//     then kills every process left in the sandbox's PID namespace.
//
//   - Processes: a pids cgroup (pids.max) created per run when a writable cgroup hierarchy is
//     available (cgroup v2 with the pids controller delegated to our cgroup, or cgroup v1's pids
//     hierarchy); otherwise RLIMIT_NPROC, which counts per sandbox only in bwrap's user namespace
//     and otherwise over all processes of the uid. [Runner.Isolation] says which is in force.
//
//   - Memory: RLIMIT_AS per process (util-linux prlimit, inside the sandbox), plus memory.max on
//     cgroup v2. The cgroup v1 memory hierarchy is left alone: it belongs to the container runtime.
//     The private /tmp and /dev/shm are tmpfs bounded by Config.TmpBytes each.
//
//   - Output: stdout and stderr share one pipe that is always drained; the first and last halves of
//     MaxOutputBytes are kept and the total is counted, so a command writing gigabytes never blocks.
//
//   - Nested user namespaces: refused by a seccomp filter (unshare and clone with CLONE_NEWUSER fail
//     with EPERM, clone3 with ENOSYS) on amd64 and arm64, in both modes, and also by bwrap's own
//     disable-userns when the server is not root. [Isolation.UserNamespaces] says which; on other
//     architectures a root server cannot refuse them, and unsandboxed runs never do.
//
//   - Disk: RLIMIT_FSIZE bounds each file; a watcher measures the workspace and the cache dir
//     (and files the run deleted but holds open) and kills the run past Config.DiskBytes
//     ([Result.DiskExceeded]; see disk.go for how, and [Isolation.DiskLimit]).
//
// Not enforced: CPU share and system calls other than those making user namespaces.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vibecoder/vibecoder/internal/safefs"
)

// ErrNoSandbox is returned by [Runner.Run] when bubblewrap is not available and the configuration
// does not allow running commands unsandboxed.
var ErrNoSandbox = errors.New("sandbox: bubblewrap (bwrap) is not installed and unsandboxed execution is not allowed; install bubblewrap (scripts/install-deps.sh) or set AllowUnsandboxed")

// Defaults for a zero Config.
const (
	DefaultTimeout        = 10 * time.Minute
	DefaultMemoryBytes    = 2 << 30
	DefaultMaxProcs       = 256
	DefaultMaxOutputBytes = 1 << 20
	DefaultTmpBytes       = 512 << 20
	DefaultMaxFileBytes   = 1 << 30
)

// DefaultPath is the PATH inside the sandbox unless Config.Env or Spec.Env sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sandboxHome is HOME inside the sandbox, on the private /tmp.
const sandboxHome = "/tmp/home"

// Config configures a Runner. Zero values take the defaults above; negative limits are rejected.
type Config struct {
	// BwrapPath is the bubblewrap binary. Empty looks up "bwrap" in PATH; a path that does not
	// exist means no sandbox (the unsandboxed rules apply).
	BwrapPath string
	// AllowUnsandboxed permits running commands without bubblewrap, with only the limits and the
	// clean environment. Results record Sandboxed=false.
	AllowUnsandboxed bool

	DefaultTimeout time.Duration
	// MemoryBytes bounds each process's address space (RLIMIT_AS) and, on cgroup v2, the whole
	// sandbox's memory.
	MemoryBytes int64
	// MaxProcs bounds the number of processes and threads in the sandbox.
	MaxProcs int64
	// MaxOutputBytes bounds the captured output kept in memory (head and tail).
	MaxOutputBytes int
	// TmpBytes is the size of the sandbox's private /tmp (which also holds HOME).
	TmpBytes int64
	// MaxFileBytes bounds the size of any single file written (RLIMIT_FSIZE).
	MaxFileBytes int64
	// DiskBytes bounds what a run keeps on the host's disk: the workspace and the cache dir
	// together, what they held before the run included (DefaultDiskBytes when zero).
	DiskBytes int64

	// ExtraReadOnly lists host paths bound read-only at the same place, e.g. a Go toolchain or a
	// module cache outside /usr.
	ExtraReadOnly []string
	// HidePaths lists host paths under the mounted system directories (chiefly /etc) that must not
	// be readable inside the sandbox, in addition to the built-in list (shadow files, SSH and TLS
	// private keys, database and Redis configuration).
	HidePaths []string
	// Env is the whole environment the command gets, besides PATH (DefaultPath unless set here),
	// HOME and TMPDIR. The server's own environment is never passed on.
	Env map[string]string

	// UID and GID are the host identity of sandboxed commands when the server runs as root
	// (default 65534, nobody; better a dedicated, otherwise unused uid). The workspace is handed
	// to it for the run and back to the server afterwards; Spec.CacheDir is handed to it for
	// good. A server that is not root runs commands as its own uid.
	UID, GID int

	// Logger receives warnings (unsandboxed runs). Nil discards.
	Logger *slog.Logger
}

// Spec is one command to run.
type Spec struct {
	// Dir is the workspace: the working directory and the only writable host directory.
	Dir string
	// Command is the program and its arguments; Shell, when set instead, runs with /bin/sh -c.
	Command []string
	Shell   string
	// Timeout overrides Config.DefaultTimeout.
	Timeout time.Duration
	// Env adds to (and overrides) Config.Env for this run.
	Env map[string]string
	// CacheDir, when set, is a host directory bound writable at the same path, for build caches
	// shared by runs of the same project (GOCACHE, say). Whatever one run leaves there is seen by
	// the next run that binds it, so never share one between projects.
	CacheDir string
}

// Result is what a run did.
type Result struct {
	// ExitCode is the command's exit status; a command killed by signal N reports 128+N, and -1
	// means it was killed on timeout, on cancellation or for its disk use.
	ExitCode int
	// Output is stdout and stderr interleaved as written, capped to MaxOutputBytes: when
	// Truncated, the middle is replaced by a line saying how many bytes were left out.
	Output     string
	Truncated  bool
	TotalBytes int64
	Duration   time.Duration
	// TimedOut reports that the time limit killed the command.
	TimedOut bool
	// Killed reports that the command died of SIGKILL it did not get from the time limit — in
	// practice the kernel's OOM killer.
	Killed bool
	// ProcLimitHit and MemoryLimitHit report that the kernel refused a fork or an allocation
	// because of the sandbox's cgroup limits (only known when a cgroup is in use).
	ProcLimitHit   bool
	MemoryLimitHit bool
	// DiskExceeded reports that the run was killed for its disk use (Config.DiskBytes), or
	// because that use could not be measured; Output ends with a line saying which.
	DiskExceeded bool
	// Sandboxed reports whether the command ran under bubblewrap.
	Sandboxed bool
}

// Isolation describes what a Runner enforces on this machine.
type Isolation struct {
	Sandboxed bool   // bubblewrap is used
	Bwrap     string // the bubblewrap binary, when Sandboxed
	// ProcessLimit and MemoryLimit name the mechanisms in force: "cgroup-v2", "cgroup-v1",
	// "rlimit" (RLIMIT_NPROC counted in the sandbox's own user namespace), "rlimit-per-uid"
	// (counted over every process of the uid, concurrent runs included), joined with "+", or
	// "none".
	ProcessLimit string
	MemoryLimit  string
	// UserNamespaces says what stops the command from making a user namespace: "seccomp",
	// "disable-userns" (bwrap's, non-root servers only), both joined with "+", or "allowed"
	// (unsandboxed, or a root server on an architecture without a filter here).
	UserNamespaces string
	// DiskLimit says what counts towards Config.DiskBytes: "files" (the workspace's and the
	// cache dir's) or "files+held" (also files the run deleted but keeps open, which needs
	// CAP_SYS_PTRACE when the server is root and the command is not).
	DiskLimit string
}

// Runner runs commands with one Config. It is safe for concurrent use.
type Runner struct {
	cfg     Config
	log     *slog.Logger
	bwrap   string // empty: no sandbox
	prlimit string // empty: no rlimits
	setpriv string // drops root inside the sandbox; required when the server is root
	cg      cgroupManager
	root    bool   // the server runs as root: privileged bwrap, command dropped to cfg.UID
	held    bool   // the disk watcher can see the command's open files (see Isolation.DiskLimit)
	seccomp []byte // the user namespace filter for bwrap's --seccomp; nil: none for this GOARCH
}

// New checks the configuration and finds bubblewrap, prlimit and a usable cgroup hierarchy.
func New(cfg Config) (*Runner, error) {
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.MemoryBytes == 0 {
		cfg.MemoryBytes = DefaultMemoryBytes
	}
	if cfg.MaxProcs == 0 {
		cfg.MaxProcs = DefaultMaxProcs
	}
	if cfg.MaxOutputBytes == 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.TmpBytes == 0 {
		cfg.TmpBytes = DefaultTmpBytes
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.DiskBytes == 0 {
		cfg.DiskBytes = DefaultDiskBytes
	}
	switch {
	case cfg.DefaultTimeout < 0:
		return nil, errors.New("sandbox: DefaultTimeout must be positive")
	case cfg.MemoryBytes < 0, cfg.MaxProcs < 0, cfg.TmpBytes < 0, cfg.MaxFileBytes < 0, cfg.DiskBytes < 0:
		return nil, errors.New("sandbox: limits must be positive")
	case cfg.MaxOutputBytes < 2:
		return nil, errors.New("sandbox: MaxOutputBytes must be at least 2")
	}
	for _, p := range append(slices.Clone(cfg.ExtraReadOnly), cfg.HidePaths...) {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("sandbox: path %q must be absolute", p)
		}
	}
	for k := range cfg.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("sandbox: invalid environment variable name %q", k)
		}
	}
	if cfg.UID == 0 {
		cfg.UID = 65534
	}
	if cfg.GID == 0 {
		cfg.GID = 65534
	}
	if cfg.UID < 0 || cfg.GID < 0 {
		return nil, errors.New("sandbox: UID and GID must not be negative")
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, root: os.Geteuid() == 0}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}

	bwrap := cfg.BwrapPath
	if bwrap == "" {
		bwrap, _ = exec.LookPath("bwrap")
	}
	if bwrap != "" {
		if fi, err := os.Stat(bwrap); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			r.bwrap = bwrap
		}
	}
	if p, err := exec.LookPath("prlimit"); err == nil {
		r.prlimit, _ = filepath.Abs(p)
	}
	if r.bwrap != "" && r.root {
		p, err := exec.LookPath("setpriv")
		if err != nil {
			return nil, errors.New("sandbox: the server runs as root and bubblewrap is installed, but setpriv (util-linux) is not: it is needed to drop root inside the sandbox")
		}
		r.setpriv, _ = filepath.Abs(p)
	}
	r.cg = detectCgroups()
	r.seccomp = userNSFilter()
	// A root server's command runs as another uid (when sandboxed); reading its /proc/<pid>/fd
	// then takes CAP_SYS_PTRACE, which a container's root may lack.
	r.held = !r.root || r.bwrap == "" || canReadOthersFDs()
	return r, nil
}

// Sandboxed reports whether commands run under bubblewrap.
func (r *Runner) Sandboxed() bool { return r.bwrap != "" }

// Isolation reports what this Runner enforces here.
func (r *Runner) Isolation() Isolation {
	iso := Isolation{Sandboxed: r.bwrap != "", Bwrap: r.bwrap}
	var procs, mem []string
	switch {
	case r.cg.kind != cgNone:
		procs = append(procs, r.cg.kind.String())
	case r.prlimit == "":
	case r.bwrap != "" && !r.root:
		procs = append(procs, "rlimit") // counted per user namespace: this sandbox only
	case r.bwrap != "" || !r.root:
		procs = append(procs, "rlimit-per-uid") // shared with every process of that uid
	}
	if r.cg.memory {
		mem = append(mem, r.cg.kind.String())
	}
	if r.prlimit != "" {
		mem = append(mem, "rlimit")
	}
	join := func(s []string) string {
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, "+")
	}
	iso.ProcessLimit, iso.MemoryLimit = join(procs), join(mem)
	var userns []string
	if r.bwrap != "" && r.seccomp != nil {
		userns = append(userns, "seccomp")
	}
	if r.bwrap != "" && !r.root {
		userns = append(userns, "disable-userns")
	}
	iso.UserNamespaces = join(userns)
	if iso.UserNamespaces == "none" {
		iso.UserNamespaces = "allowed"
	}
	iso.DiskLimit = "files"
	if r.held {
		iso.DiskLimit = "files+held"
	}
	return iso
}

// Run runs spec and waits for it. A non-zero exit is not an error: the error is for runs that could
// not start (bad spec, ErrNoSandbox) or were cancelled through ctx, in which case the partial
// Result comes with it.
func (r *Runner) Run(ctx context.Context, spec Spec) (*Result, error) {
	if r.bwrap == "" && !r.cfg.AllowUnsandboxed {
		return nil, ErrNoSandbox
	}
	argv, dir, cacheDir, timeout, err := r.check(spec)
	if err != nil {
		return nil, err
	}

	env := r.Environ(spec.Env)
	if r.bwrap == "" {
		cleanup, err := r.unsandboxedScratch(env, argv, dir)
		if err != nil {
			return nil, err
		}
		defer cleanup()
	}

	full := append(r.rlimitArgs(r.cg.kind == cgNone), argv...)
	if r.bwrap != "" {
		if r.root {
			// Privileged bwrap sets the sandbox up as root; setpriv then becomes cfg.UID for good.
			full = append([]string{r.setpriv,
				"--reuid=" + strconv.Itoa(r.cfg.UID), "--regid=" + strconv.Itoa(r.cfg.GID), "--clear-groups",
				"--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"}, full...)
			// The command must be able to write the workspace: lend it for the run (one run per
			// workspace at a time). Deferred before the cgroup's destroy, so it runs after every
			// sandboxed process is dead. The cache dir is the sandbox's own and stays with it:
			// concurrent runs may share it.
			giveBack, err := r.lend(dir, cacheDir)
			if err != nil {
				return nil, err
			}
			defer giveBack()
		}
		full = append(append([]string{r.bwrap}, r.bwrapArgs(dir, cacheDir)...), full...)
	}
	var cg *cgroup
	if r.cg.kind != cgNone {
		if cg, err = r.cg.create(r.cfg.MaxProcs, r.cfg.MemoryBytes); err != nil {
			return nil, err
		}
		defer cg.destroy(r.log)
		// The shell joins the cgroup and then execs the rest, so nothing runs outside it.
		join := `echo $$ >"$0" || { echo "sandbox: cannot join cgroup $0" >&2; exit 125; }; exec "$@"`
		full = append([]string{"/bin/sh", "-c", join, cg.procsFile()}, full...)
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The disk watcher stops the command through cmdCtx, with a *DiskLimitError as the cause.
	cmdCtx, stop := context.WithCancelCause(runCtx)
	defer stop(nil)
	out := newCapBuffer(r.cfg.MaxOutputBytes)
	cmd, closeFiles, err := r.command(cmdCtx, full, env, dir, out)
	if err != nil {
		return nil, err
	}
	defer closeFiles()
	// Pdeathsig and bwrap's --die-with-parent fire when the forking thread exits, so keep this
	// goroutine on its thread until the command is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	procs := func() []int { return descendants(cmd.Process.Pid) }
	if cg != nil {
		procs = func() []int { return cgroupPids(cg.procsFile()) }
	}
	meter, err := newDiskMeter([]string{dir, cacheDir}, r.held, procs)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	runErr := cmd.Start()
	if runErr == nil {
		watchCtx, endWatch := context.WithCancel(cmdCtx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			watchDisk(watchCtx, meter, r.cfg.DiskBytes, func(e *DiskLimitError) { stop(e) })
		}()
		runErr = cmd.Wait()
		endWatch()
		<-watched
	}
	res := &Result{Duration: time.Since(start), Sandboxed: r.bwrap != ""}
	var diskErr *DiskLimitError
	if errors.As(context.Cause(cmdCtx), &diskErr) {
		res.DiskExceeded = true
		fmt.Fprintf(out, "\n[%v]\n", diskErr)
	}
	res.Output, res.Truncated, res.TotalBytes = out.result()
	if cg != nil {
		res.ProcLimitHit, res.MemoryLimitHit = cg.events()
	}

	return r.outcome(ctx, runCtx, cmd, runErr, argv[0], cg, res)
}

// command builds the command: its whole environment (bwrap hands its own environment to
// the command), its output, the seccomp filter on fd 3, its own process group killed
// whole on cancel. closeFiles releases the files it holds once the command has run.
func (r *Runner) command(ctx context.Context, full []string, env map[string]string, dir string, out io.Writer) (cmd *exec.Cmd, closeFiles func(), err error) {
	envList := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		envList = append(envList, k+"="+env[k])
	}
	cmd = exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Env = envList
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	closeFiles = func() {}
	if r.bwrap != "" && r.seccomp != nil {
		f, err := seccompFile(r.seccomp)
		if err != nil {
			return nil, nil, err
		}
		closeFiles = func() { _ = f.Close() }
		cmd.ExtraFiles = []*os.File{f} // fd 3: bwrapArgs's --seccomp 3
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd, closeFiles, nil
}

// lend gives the workspace and the cache dir to the sandbox's uid for a run; giveBack
// takes the workspace back (the cache dir stays the sandbox's).
func (r *Runner) lend(dir, cacheDir string) (giveBack func(), err error) {
	lend := []string{dir}
	if cacheDir != "" {
		lend = append(lend, cacheDir)
	}
	if err := chownTree(lend, r.cfg.UID, r.cfg.GID); err != nil {
		return nil, fmt.Errorf("sandbox: hand the workspace to uid %d: %w", r.cfg.UID, err)
	}
	return func() {
		if err := chownTree([]string{dir}, os.Geteuid(), os.Getegid()); err != nil {
			r.log.Error("sandbox: could not take the workspace back", slog.String("dir", dir), slog.Any("err", err))
		}
	}, nil
}

// check validates spec and returns its command, real workspace and cache directories,
// and timeout.
func (r *Runner) check(spec Spec) (argv []string, dir, cacheDir string, timeout time.Duration, err error) {
	argv, err = spec.argv()
	if err != nil {
		return nil, "", "", 0, err
	}
	dir, err = realDir(spec.Dir, "workspace")
	if err != nil {
		return nil, "", "", 0, err
	}
	if spec.CacheDir != "" {
		if cacheDir, err = realDir(spec.CacheDir, "cache dir"); err != nil {
			return nil, "", "", 0, err
		}
	}
	for k := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, "", "", 0, fmt.Errorf("sandbox: invalid environment variable name %q", k)
		}
	}
	timeout = spec.Timeout
	if timeout <= 0 {
		timeout = r.cfg.DefaultTimeout
	}
	return argv, dir, cacheDir, timeout, nil
}

// unsandboxedScratch gives an unsandboxed run (no private /tmp) its own HOME and TMPDIR
// on the host, in env, and resolves argv[0] in the run's PATH; cleanup removes them.
func (r *Runner) unsandboxedScratch(env map[string]string, argv []string, dir string) (cleanup func(), err error) {
	// No private /tmp: give the run its own HOME and TMPDIR on the host.
	scratch, err := os.MkdirTemp("", "vibecoder-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: scratch dir: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(scratch) }
	env["HOME"], env["TMPDIR"] = filepath.Join(scratch, "home"), filepath.Join(scratch, "tmp")
	for _, d := range []string{env["HOME"], env["TMPDIR"]} {
		if err := os.Mkdir(d, 0o700); err != nil {
			cleanup()
			return nil, fmt.Errorf("sandbox: scratch dir: %w", err)
		}
	}
	if !strings.Contains(argv[0], "/") {
		if argv[0], err = LookPath(argv[0], env["PATH"]); err != nil {
			cleanup()
			return nil, err
		}
	}
	r.log.Warn("running command WITHOUT a sandbox (bubblewrap not installed; AllowUnsandboxed is set)",
		slog.String("dir", dir), slog.String("program", argv[0]))
	return cleanup, nil
}

// outcome fills res from how the command ended: its exit code, and whether it was killed,
// timed out, stopped for its disk use, or cancelled (an error).
func (r *Runner) outcome(ctx, runCtx context.Context, cmd *exec.Cmd, runErr error, prog string, cg *cgroup, res *Result) (*Result, error) {
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
	case errors.Is(runErr, exec.ErrWaitDelay):
		// The command exited but something it started kept the output pipe open: stop it.
		if r.bwrap == "" {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	case errors.As(runErr, &exitErr):
	default:
		return nil, fmt.Errorf("sandbox: start %s: %w", prog, runErr)
	}
	if ps := cmd.ProcessState; ps != nil {
		ws, _ := ps.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			res.ExitCode = 128 + int(ws.Signal())
		default:
			res.ExitCode = ws.ExitStatus()
		}
	}
	if res.DiskExceeded && res.ExitCode == 128+int(syscall.SIGKILL) {
		res.ExitCode = -1
		return res, nil
	}
	if ctxErr := runCtx.Err(); ctxErr != nil && res.ExitCode == 128+int(syscall.SIGKILL) {
		res.ExitCode = -1
		if ctx.Err() != nil {
			return res, fmt.Errorf("sandbox: run cancelled: %w", ctx.Err())
		}
		res.TimedOut = true
		return res, nil
	}
	if res.ExitCode == 128+int(syscall.SIGKILL) || (cg != nil && res.MemoryLimitHit && res.ExitCode != 0) {
		// bwrap reports a child killed by signal N as exit 128+N, like a shell.
		res.Killed = true
	}
	return res, nil
}

// Environ is the whole environment Run gives a command whose Spec.Env is extra: PATH, HOME,
// TMPDIR and LANG, then Config.Env, then extra. (Unsandboxed, HOME and TMPDIR then point to a
// scratch directory of the run's own.) A build cache seeded outside the sandbox is compiled
// with it, so that its keys are the ones the sandboxed command computes.
func (r *Runner) Environ(extra map[string]string) map[string]string {
	env := map[string]string{"PATH": DefaultPath, "HOME": sandboxHome, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
	maps.Copy(env, r.cfg.Env)
	maps.Copy(env, extra)
	return env
}

func (s Spec) argv() ([]string, error) {
	switch {
	case s.Shell != "" && len(s.Command) > 0:
		return nil, errors.New("sandbox: set Command or Shell, not both")
	case s.Shell != "":
		return []string{"/bin/sh", "-c", s.Shell}, nil
	case len(s.Command) == 0 || s.Command[0] == "":
		return nil, errors.New("sandbox: no command")
	}
	return slices.Clone(s.Command), nil
}

// rlimitArgs runs the command under prlimit: RLIMIT_AS, RLIMIT_FSIZE, no core dumps and, when no
// cgroup counts processes, RLIMIT_NPROC (a cgroup is exact and per run; RLIMIT_NPROC counts a uid's
// processes in a user namespace, which is per run only in bwrap's unprivileged mode).
func (r *Runner) rlimitArgs(nproc bool) []string {
	if r.prlimit == "" {
		return nil
	}
	a := []string{r.prlimit, "--core=0"}
	if r.cfg.MemoryBytes > 0 {
		a = append(a, fmt.Sprintf("--as=%d", r.cfg.MemoryBytes))
	}
	if nproc && r.cfg.MaxProcs > 0 {
		a = append(a, fmt.Sprintf("--nproc=%d", r.cfg.MaxProcs))
	}
	if r.cfg.MaxFileBytes > 0 {
		a = append(a, fmt.Sprintf("--fsize=%d", r.cfg.MaxFileBytes))
	}
	return append(a, "--")
}

func realDir(p, what string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("sandbox: no %s", what)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("sandbox: %s %q: %w", what, p, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("sandbox: %s %q: %w", what, p, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("sandbox: %s %q: %w", what, p, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("sandbox: %s %q is not a directory", what, p)
	}
	if real == "/" {
		return "", fmt.Errorf("sandbox: %s cannot be /", what)
	}
	return real, nil
}

// chownTree gives every entry under dirs to uid:gid. Each is changed where it is (a link itself,
// never its target) through an os.Root, so a link swapped in for a directory while the walk runs
// cannot lead it out of the tree. Changing the owner also clears set-uid and set-gid bits the
// command may have set on its files.
func chownTree(dirs []string, uid, gid int) error {
	for _, d := range dirs {
		t, err := safefs.Open(d)
		if err != nil {
			return err
		}
		err = t.Lchown(uid, gid)
		_ = t.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// LookPath finds a program in path, a sandbox's PATH rather than the server's.
func LookPath(prog, path string) (string, error) {
	for _, d := range filepath.SplitList(path) {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("sandbox: %q not found in PATH %s: %w", prog, path, exec.ErrNotFound)
}

var _ io.Writer = (*capBuffer)(nil)
