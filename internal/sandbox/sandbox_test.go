package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// requireBwrap fails under CI=true and skips, loudly, elsewhere when bubblewrap is missing.
func requireBwrap(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("bwrap")
	msg := "bubblewrap (bwrap) is not installed: run scripts/install-deps.sh (apt-get install -y bubblewrap)"
	if err == nil && os.Geteuid() == 0 {
		_, err = exec.LookPath("setpriv")
		msg = "setpriv is not installed (needed as root): run scripts/install-deps.sh (apt-get install -y util-linux)"
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skipf("WARNING: SKIPPED, %s", msg)
}

func newSandboxed(t *testing.T, cfg Config) *Runner {
	t.Helper()
	requireBwrap(t)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Sandboxed() {
		t.Fatal("bwrap is in PATH but the runner is not sandboxed")
	}
	return r
}

func newUnsandboxed(t *testing.T, cfg Config) *Runner {
	t.Helper()
	cfg.BwrapPath = filepath.Join(t.TempDir(), "no-such-bwrap")
	cfg.AllowUnsandboxed = true
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sandboxed() {
		t.Fatal("runner is sandboxed with a bwrap path that does not exist")
	}
	return r
}

func run(t *testing.T, r *Runner, spec Spec) *Result {
	t.Helper()
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}
	if spec.Timeout == 0 {
		spec.Timeout = time.Minute
	}
	res, err := r.Run(t.Context(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestNoNetwork(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("needs bash for /dev/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	script := fmt.Sprintf(`if exec 3<>/dev/tcp/127.0.0.1/%d; then echo CONNECTED; else echo REFUSED; fi
		echo INTERFACES; tail -n +3 /proc/net/dev | cut -d: -f1`, port)

	// Control: the same script without the sandbox does reach the listener.
	res := run(t, newUnsandboxed(t, Config{}), Spec{Command: []string{"/bin/bash", "-c", script}})
	if !strings.Contains(res.Output, "CONNECTED") || accepted.Load() != 1 {
		t.Fatalf("control run could not connect (accepted %d):\n%s", accepted.Load(), res.Output)
	}

	res = run(t, newSandboxed(t, Config{}), Spec{Command: []string{"/bin/bash", "-c", script}})
	if !res.Sandboxed {
		t.Error("Result.Sandboxed = false")
	}
	if strings.Contains(res.Output, "CONNECTED") || !strings.Contains(res.Output, "REFUSED") {
		t.Errorf("sandboxed command reached the host's loopback:\n%s", res.Output)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("listener accepted %d connections, want only the control's", n)
	}
	_, ifaces, _ := strings.Cut(res.Output, "INTERFACES\n")
	if got := strings.Fields(ifaces); len(got) != 1 || got[0] != "lo" {
		t.Errorf("interfaces in the sandbox = %q, want only lo", got)
	}
}

// dataDir makes a stand-in for the server's data dir, outside /tmp when it can, since the
// sandbox's private /tmp would hide anything under the host's /tmp anyway.
func dataDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/var/tmp", "vibecoder-sandbox-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestFilesystemIsolation(t *testing.T) {
	r := newSandboxed(t, Config{})
	data := dataDir(t)
	ws := filepath.Join(data, "workspaces", "ws1")
	other := filepath.Join(data, "workspaces", "ws2")
	for _, d := range []string{ws, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	fileSecret, otherSecret, tmpSecret := "file-secret-"+randomHex(t), "other-ws-secret-"+randomHex(t), "host-tmp-"+randomHex(t)
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(data, "secrets.env"), fileSecret)
	write(filepath.Join(other, "secret.txt"), otherSecret)
	hostTmp, err := os.CreateTemp("", "vibecoder-sandbox-marker-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(hostTmp.Name())
	write(hostTmp.Name(), tmpSecret)
	home, _ := os.UserHomeDir()
	if home == "" {
		home = "/root"
	}
	name := "vibecoder-sandbox-escape-" + randomHex(t)

	targets := map[string]string{
		"etc":    "/etc/" + name,
		"usr":    "/usr/" + name,
		"root":   "/" + name,
		"home":   filepath.Join(home, name),
		"parent": filepath.Join(filepath.Dir(ws), name),
		"data":   filepath.Join(data, name),
		"other":  filepath.Join(other, name),
	}
	var script strings.Builder
	for label, p := range targets {
		fmt.Fprintf(&script, "if echo x 2>/dev/null >%q; then echo WROTE-%s; else echo denied-%s; fi\n", p, label, label)
	}
	fmt.Fprintf(&script, "echo inside > inside.txt && echo inside-ok\n")
	fmt.Fprintf(&script, "cat %q %q %q /etc/shadow 2>&1\n", filepath.Join(data, "secrets.env"), filepath.Join(other, "secret.txt"), hostTmp.Name())
	fmt.Fprintf(&script, "ls -a /root /home /var /run 2>&1; echo TMP-LISTING; ls -a /tmp\n")

	res := run(t, r, Spec{Dir: ws, Shell: script.String()})
	t.Logf("output:\n%s", res.Output)
	for label, p := range targets {
		if !strings.Contains(res.Output, "denied-"+label) {
			t.Errorf("write to %s (%s) was not refused", label, p)
		}
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("the sandbox created %s on the host", p)
		}
	}
	if got, err := os.ReadFile(filepath.Join(ws, "inside.txt")); err != nil || string(got) != "inside\n" {
		t.Errorf("write inside the workspace: %q, %v", got, err)
	}
	for _, s := range []string{fileSecret, otherSecret, tmpSecret} {
		if strings.Contains(res.Output, s) {
			t.Errorf("sandbox read %q", s)
		}
	}
	if strings.Contains(res.Output, "root:") {
		t.Error("sandbox read /etc/shadow")
	}
	if _, listing, _ := strings.Cut(res.Output, "TMP-LISTING\n"); strings.Contains(listing, filepath.Base(hostTmp.Name())) {
		t.Error("the host's /tmp is visible in the sandbox")
	}
}

func TestNoPrivileges(t *testing.T) {
	r := newSandboxed(t, Config{})
	ws := t.TempDir()
	res := run(t, r, Spec{Dir: ws, Shell: `id -u
		grep -E '^(CapEff|CapPrm|NoNewPrivs):' /proc/self/status
		for f in /proc/sys/kernel/core_pattern /proc/sys/vm/drop_caches /proc/sysrq-trigger; do
			if [ -w "$f" ]; then echo "WRITABLE $f"; fi
		done
		mkdir -p sub && echo x > sub/made-inside`})
	t.Logf("output:\n%s", res.Output)
	lines := strings.Split(res.Output, "\n")
	if lines[0] == "0" {
		t.Error("the command runs as uid 0")
	}
	for _, want := range []string{"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("missing %q: the command has capabilities", want)
		}
	}
	if strings.Contains(res.Output, "WRITABLE") {
		t.Error("the command can write kernel settings")
	}
	// Whatever the command made is the server's again afterwards.
	for _, p := range []string{ws, filepath.Join(ws, "sub"), filepath.Join(ws, "sub", "made-inside")} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
			t.Errorf("%s is owned by uid %d after the run, want %d", p, st.Uid, os.Geteuid())
		}
	}
}

// TestNoServerSecrets checks that the server's environment does not reach the command. What the
// command can read of other processes differs by mode: sandboxed, /proc is its own PID namespace, so
// it reads every environment it can see; unsandboxed it shares the host's /proc, where unrelated
// processes (other tests, other services) may hold any variable at all, so it reads only its own
// process tree's — which is exactly what the runner controls.
func TestNoServerSecrets(t *testing.T) {
	secret := "sk-secret-" + randomHex(t)
	t.Setenv("OPENAI_API_KEY", secret)
	t.Setenv("VIBECODER_TEST_SECRET", secret)
	script := func(procs string) string {
		// Read the child once it has become sleep: its environment reads empty mid-exec.
		return `sleep 30 & child=$!
		for i in $(seq 1 200); do tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null | grep -q '^sleep 30' && break; sleep 0.01; done
		env
		for p in ` + procs + `; do echo "PROC $p"; tr '\0' '\n' <"$p/environ"; echo; tr '\0' '\n' <"$p/cmdline"; echo; done
		kill $child`
	}
	check := func(t *testing.T, r *Runner, procs string) {
		res := run(t, r, Spec{Shell: script(procs), Env: map[string]string{"SPEC_VAR": "spec-marker"}})
		if strings.Contains(res.Output, secret) || strings.Contains(res.Output, "OPENAI_API_KEY") || strings.Contains(res.Output, "VIBECODER_TEST_SECRET") {
			t.Errorf("the server's secret leaked into the command:\n%s", res.Output)
		}
		// The scan works: it finds the variables the command was given, in env and in /proc, and
		// reads the background child's environment as well as its own.
		for _, want := range []string{"ALLOWED_VAR=visible-marker", "SPEC_VAR=spec-marker"} {
			if n := strings.Count(res.Output, want); n < 3 {
				t.Errorf("%s seen %d times, want env and at least two /proc/*/environ:\n%s", want, n, res.Output)
			}
		}
		if !strings.Contains(res.Output, "sleep\n30") {
			t.Errorf("the child's cmdline was not read:\n%s", res.Output)
		}
		if res.Sandboxed {
			// In its own PID namespace the command sees a handful of processes, not the host's.
			if n := strings.Count(res.Output, "PROC /proc/"); n > 8 {
				t.Errorf("sandbox sees %d processes", n)
			}
		}
	}
	cfg := Config{Env: map[string]string{"ALLOWED_VAR": "visible-marker"}}
	t.Run("unsandboxed", func(t *testing.T) {
		check(t, newUnsandboxed(t, cfg), `/proc/$$ /proc/self /proc/$child`)
	})
	t.Run("sandboxed", func(t *testing.T) {
		check(t, newSandboxed(t, cfg), `/proc/[0-9]*`)
	})
}

func TestTimeout(t *testing.T) {
	check := func(t *testing.T, r *Runner) {
		marker := strconv.Itoa(900000 + int(time.Now().UnixNano()%99999))
		// Ignores polite signals and leaves a child behind: both must die.
		res := run(t, r, Spec{
			Shell:   `trap "" TERM HUP INT; sleep ` + marker + ` & while :; do :; done`,
			Timeout: time.Second,
		})
		if !res.TimedOut || res.ExitCode != -1 {
			t.Fatalf("TimedOut=%v ExitCode=%d, want a timeout", res.TimedOut, res.ExitCode)
		}
		// The background sleep must be gone too; give the kernel a moment to reap it.
		for i := 0; ; i++ {
			if !hostProcessWithArg(marker) {
				break
			}
			if i == 100 {
				t.Fatalf("sleep %s outlived the timed-out command", marker)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Run("unsandboxed", func(t *testing.T) { check(t, newUnsandboxed(t, Config{})) })
	t.Run("sandboxed", func(t *testing.T) { check(t, newSandboxed(t, Config{})) })
}

func hostProcessWithArg(arg string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("\x00"+arg+"\x00")) {
			return true
		}
	}
	return false
}

func TestCancel(t *testing.T) {
	r := newSandboxed(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err := r.Run(ctx, Spec{Dir: t.TempDir(), Shell: "sleep 600", Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) || res == nil || res.TimedOut {
		t.Fatalf("Run = %+v, %v; want the partial result and context.Canceled", res, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	r := newSandboxed(t, Config{MemoryBytes: 256 << 20})
	if iso := r.Isolation(); iso.MemoryLimit == "none" {
		t.Skipf("WARNING: SKIPPED, no memory limit can be enforced here (%+v): install util-linux's prlimit", iso)
	}
	// tail keeps a line without newline in memory: 1 GiB of zeros needs 1 GiB. Bounded input,
	// so even without a limit this could not hurt the machine.
	hog := func(bytes int) string {
		return fmt.Sprintf("head -c %d /dev/zero | tail -n 1 | wc -c", bytes)
	}
	res := run(t, r, Spec{Shell: hog(16 << 20)})
	if res.ExitCode != 0 || strings.TrimSpace(res.Output) != strconv.Itoa(16<<20) {
		t.Fatalf("16 MiB under a 256 MiB limit: exit %d\n%s", res.ExitCode, res.Output)
	}
	res = run(t, r, Spec{Shell: fmt.Sprintf("head -c %d /dev/zero | tail -n 1 >/dev/null; echo tail exited $?", 1<<30)})
	t.Logf("exit %d killed %v memLimit %v:\n%s", res.ExitCode, res.Killed, res.MemoryLimitHit, res.Output)
	if strings.Contains(res.Output, "tail exited 0") {
		t.Fatal("1 GiB was allocated under a 256 MiB limit")
	}
	if res.TimedOut {
		t.Fatal("the hog ran into the time limit instead of the memory limit")
	}
	if !strings.Contains(res.Output, "memory exhausted") && !res.Killed && !res.MemoryLimitHit {
		t.Errorf("want tail to fail allocating or be killed:\n%s", res.Output)
	}
}

func TestProcessLimit(t *testing.T) {
	const maxProcs = 64
	r := newSandboxed(t, Config{MaxProcs: maxProcs})
	if iso := r.Isolation(); iso.ProcessLimit == "none" {
		t.Skipf("WARNING: SKIPPED, no process limit can be enforced here (%+v): it needs a writable pids cgroup or a non-root server", iso)
	}
	// First a bounded probe: at most 500 sleepers, counting how many start.
	res := run(t, r, Spec{Shell: `i=0; while [ $i -lt 500 ]; do sleep 60 & i=$((i+1)); echo "started $i"; done`, Timeout: 30 * time.Second})
	started := strings.Count(res.Output, "started ")
	if started >= maxProcs || res.ExitCode == 0 {
		t.Fatalf("started %d processes under a limit of %d (exit %d); not running the fork bomb", started, maxProcs, res.ExitCode)
	}
	if r.cg.kind != cgNone && !res.ProcLimitHit {
		t.Error("ProcLimitHit = false after forks were refused")
	}

	// The real thing, now that the limit is known to hold.
	res = run(t, r, Spec{Shell: `sleep 2 & b() { b | b & }; b; wait`, Timeout: 5 * time.Second})
	t.Logf("fork bomb: exit %d timedOut %v procLimit %v, %d bytes of output", res.ExitCode, res.TimedOut, res.ProcLimitHit, res.TotalBytes)
	if r.cg.kind != cgNone && !res.ProcLimitHit {
		t.Error("ProcLimitHit = false after a fork bomb")
	}
	// The machine still forks and the sandbox still works.
	if res := run(t, r, Spec{Shell: "echo alive"}); strings.TrimSpace(res.Output) != "alive" {
		t.Fatalf("after the fork bomb: %q", res.Output)
	}
}

func TestOutputCap(t *testing.T) {
	const capBytes = 64 << 10
	check := func(t *testing.T, r *Runner) {
		res := run(t, r, Spec{Shell: `echo START; echo ERR >&2; head -c 10485760 /dev/zero | tr '\0' x; echo; echo END`})
		want := int64(len("START\nERR\n") + 10485760 + len("\nEND\n"))
		if !res.Truncated || res.TotalBytes != want {
			t.Errorf("Truncated=%v TotalBytes=%d, want true and %d", res.Truncated, res.TotalBytes, want)
		}
		if len(res.Output) > capBytes+100 {
			t.Errorf("kept %d bytes of output, cap %d", len(res.Output), capBytes)
		}
		if !strings.HasPrefix(res.Output, "START\nERR\nxxx") || !strings.HasSuffix(res.Output, "xxx\nEND\n") {
			t.Errorf("head or tail lost: %q ... %q", res.Output[:20], res.Output[len(res.Output)-20:])
		}
		if !strings.Contains(res.Output, "bytes of output omitted") {
			t.Error("no truncation marker")
		}
		if res.ExitCode != 0 {
			t.Errorf("exit %d", res.ExitCode)
		}
	}
	t.Run("unsandboxed", func(t *testing.T) { check(t, newUnsandboxed(t, Config{MaxOutputBytes: capBytes})) })
	t.Run("sandboxed", func(t *testing.T) { check(t, newSandboxed(t, Config{MaxOutputBytes: capBytes})) })
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		spec   Spec
		code   int
		killed bool
		output string
	}{
		{name: "success", spec: Spec{Command: []string{"echo", "hello"}}, code: 0, output: "hello\n"},
		{name: "false", spec: Spec{Command: []string{"false"}}, code: 1},
		{name: "exit 42", spec: Spec{Shell: "exit 42"}, code: 42},
		{name: "SIGKILL", spec: Spec{Shell: "kill -9 $$"}, code: 137, killed: true},
		{name: "SIGTERM", spec: Spec{Shell: "kill -15 $$"}, code: 143},
	}
	runners := map[string]func(t *testing.T) *Runner{
		"unsandboxed": func(t *testing.T) *Runner { return newUnsandboxed(t, Config{}) },
		"sandboxed":   func(t *testing.T) *Runner { return newSandboxed(t, Config{}) },
	}
	for mode, mk := range runners {
		t.Run(mode, func(t *testing.T) {
			r := mk(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					res := run(t, r, c.spec)
					if res.ExitCode != c.code || res.Killed != c.killed || res.TimedOut {
						t.Errorf("ExitCode=%d Killed=%v TimedOut=%v, want %d %v false\n%s", res.ExitCode, res.Killed, res.TimedOut, c.code, c.killed, res.Output)
					}
					if c.output != "" && res.Output != c.output {
						t.Errorf("output %q, want %q", res.Output, c.output)
					}
					if res.Sandboxed != (mode == "sandboxed") {
						t.Errorf("Sandboxed = %v", res.Sandboxed)
					}
				})
			}
		})
	}
}

func TestUnsandboxedPolicy(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-bwrap")
	r, err := New(Config{BwrapPath: missing})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sandboxed() || r.Isolation().Sandboxed {
		t.Fatal("sandboxed without bwrap")
	}
	ws := t.TempDir()
	res, err := r.Run(t.Context(), Spec{Dir: ws, Shell: "echo ran > ran.txt"})
	if !errors.Is(err, ErrNoSandbox) || res != nil {
		t.Fatalf("Run = %v, %v; want ErrNoSandbox", res, err)
	}
	if _, err := os.Stat(filepath.Join(ws, "ran.txt")); err == nil {
		t.Fatal("the command ran although unsandboxed execution is not allowed")
	}

	r, err = New(Config{BwrapPath: missing, AllowUnsandboxed: true})
	if err != nil {
		t.Fatal(err)
	}
	res = run(t, r, Spec{Dir: ws, Shell: `echo ran > ran.txt; echo "HOME=$HOME"`})
	if res.Sandboxed || res.ExitCode != 0 {
		t.Fatalf("Sandboxed=%v ExitCode=%d, want an unsandboxed success\n%s", res.Sandboxed, res.ExitCode, res.Output)
	}
	if _, err := os.Stat(filepath.Join(ws, "ran.txt")); err != nil {
		t.Fatal("the command did not run in the workspace")
	}
	if home, _ := os.UserHomeDir(); home != "" && strings.Contains(res.Output, "HOME="+home+"\n") {
		t.Error("the unsandboxed command got the server's HOME")
	}
}

func TestSpecValidation(t *testing.T) {
	r := newUnsandboxed(t, Config{})
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]Spec{
		"no command":    {Dir: t.TempDir()},
		"both":          {Dir: t.TempDir(), Shell: "true", Command: []string{"true"}},
		"no dir":        {Shell: "true"},
		"missing dir":   {Dir: filepath.Join(t.TempDir(), "nope"), Shell: "true"},
		"file as dir":   {Dir: file, Shell: "true"},
		"root as dir":   {Dir: "/", Shell: "true"},
		"bad env name":  {Dir: t.TempDir(), Shell: "true", Env: map[string]string{"A=B": "c"}},
		"missing cache": {Dir: t.TempDir(), Shell: "true", CacheDir: filepath.Join(t.TempDir(), "nope")},
	} {
		if _, err := r.Run(t.Context(), spec); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(Config{MaxOutputBytes: -1}); err == nil {
		t.Error("negative MaxOutputBytes accepted")
	}
	if _, err := New(Config{ExtraReadOnly: []string{"relative"}}); err == nil {
		t.Error("relative ExtraReadOnly accepted")
	}
}

func TestGoTestInSandbox(t *testing.T) {
	requireBwrap(t)
	g, err := DetectGo(t.Context(), "")
	if err != nil {
		t.Skipf("no go toolchain: %v", err)
	}
	r := newSandboxed(t, Config{ExtraReadOnly: g.ReadOnly(), MaxProcs: 1024})
	cache := goTestCache(t)
	module := func(testBody string) string {
		ws := t.TempDir()
		files := map[string]string{
			"go.mod":        "module example.com/fixture\n\ngo 1.21\n",
			"add.go":        "package fixture\n\nfunc Add(a, b int) int { return a + b }\n",
			"add_test.go":   "package fixture\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n" + testBody + "}\n",
			"sub/sub.go":    "package sub\n",
			"sub/x_test.go": "package sub\n\nimport \"testing\"\n\nfunc TestSub(t *testing.T) {}\n",
		}
		testutil.WriteTree(t, ws, files)
		return ws
	}
	goTest := Spec{Command: []string{"go", "test", "./..."}, Env: g.Env(cache), CacheDir: cache, Timeout: 5 * time.Minute}

	pass := goTest
	pass.Dir = module("\tif Add(2, 3) != 5 {\n\t\tt.Fatal(\"bad sum\")\n\t}\n")
	res := run(t, r, pass)
	if res.ExitCode != 0 || !strings.Contains(res.Output, "ok  \texample.com/fixture") {
		t.Fatalf("go test in the sandbox: exit %d\n%s", res.ExitCode, res.Output)
	}

	fail := goTest
	fail.Dir = module("\tt.Fatal(\"deliberate-fixture-failure\")\n")
	res = run(t, r, fail)
	if res.ExitCode == 0 || !strings.Contains(res.Output, "deliberate-fixture-failure") || !strings.Contains(res.Output, "FAIL") {
		t.Fatalf("failing go test in the sandbox: exit %d\n%s", res.ExitCode, res.Output)
	}
}

// goTestCache is the writable build cache for the fixture runs: kept between test runs (a cold
// cache compiles the standard library, which takes most of a minute on a small machine) and used
// only by these sandboxed fixtures, never by the host's go command.
func goTestCache(t *testing.T) string {
	if base, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(base, "vibecoder", "sandbox-test-gocache")
		if err := os.MkdirAll(dir, 0o700); err == nil {
			return dir
		}
	}
	return t.TempDir()
}

// TestHandBackDoesNotFollowLinks: the command leaves links to files and directories
// outside the workspace (and a FIFO) behind; taking the workspace back changes the
// links themselves, never what they point to, and does not block.
func TestHandBackDoesNotFollowLinks(t *testing.T) {
	r := newSandboxed(t, Config{})
	if !r.root {
		t.Log("not root: the workspace is not lent to another uid, so there is nothing to hand back; checking the links only")
	}
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(victim, 4321, 4321); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	ws := t.TempDir()
	// The links are made on the host side (the sandbox cannot see outside), as a
	// repository would commit them; the command adds its own and a FIFO.
	for name, target := range map[string]string{"file-link": victim, "dir-link": outside, "etc": "/etc"} {
		if err := os.Symlink(target, filepath.Join(ws, name)); err != nil {
			t.Fatal(err)
		}
	}
	res := run(t, r, Spec{Dir: ws, Shell: `mkfifo hang.go && ln -s /etc/shadow shadow.go && mkdir d && ln -s .. d/up`})
	if res.ExitCode != 0 {
		t.Fatalf("command failed: %d\n%s", res.ExitCode, res.Output)
	}
	for _, p := range []string{victim, outside, "/etc", "/etc/shadow"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if p == victim && os.Geteuid() == 0 {
			want = 4321
		} else if p == outside {
			want = os.Geteuid()
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != want {
			t.Errorf("%s is owned by uid %d after the run, want %d: the hand-back followed a link", p, st.Uid, want)
		}
	}
}

// usernsProbe builds testdata/usernsprobe into a directory anyone may read.
func usernsProbe(t *testing.T) string {
	t.Helper()
	dir := dataDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "usernsprobe")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./testdata/usernsprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	return bin
}

// nestedUserNS tries every way to a user namespace: unshare(2) through the unshare command,
// clone(2) and clone3(2) through the probe, copied into the workspace (the one host directory
// the sandbox sees).
func nestedUserNS(t *testing.T, probe string) Spec {
	t.Helper()
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "usernsprobe"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	return Spec{Dir: ws, Shell: `unshare -Ur true; echo "unshare -Ur: $?"
		unshare --user true; echo "unshare --user: $?"
		./usernsprobe`}
}

func TestNoNestedUserNamespaces(t *testing.T) {
	probe := usernsProbe(t)

	// Control: without the sandbox every attempt succeeds, so the probe can tell.
	un := newUnsandboxed(t, Config{})
	if got := un.Isolation().UserNamespaces; got != "allowed" {
		t.Errorf("unsandboxed Isolation().UserNamespaces = %q, want allowed", got)
	}
	res := run(t, un, nestedUserNS(t, probe))
	for _, want := range []string{"unshare -Ur: 0", "unshare --user: 0", "clone: made a user namespace", "clone3: made a user namespace"} {
		if !strings.Contains(res.Output, want) {
			t.Fatalf("control run without the sandbox: no %q, so the probe proves nothing:\n%s", want, res.Output)
		}
	}

	checkNoNestedUserNS(t, newSandboxed(t, Config{}), nestedUserNS(t, probe))
}

func checkNoNestedUserNS(t *testing.T, r *Runner, spec Spec) {
	t.Helper()
	iso := r.Isolation()
	if iso.UserNamespaces == "allowed" {
		t.Fatalf("Isolation().UserNamespaces = allowed on %s (root %v): no way to refuse them here", runtime.GOARCH, os.Geteuid() == 0)
	}
	res := run(t, r, spec)
	t.Logf("isolation %+v:\n%s", iso, res.Output)
	for _, want := range []string{"clone: refused: operation not permitted", "clone3: refused: function not implemented"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("want %q", want)
		}
	}
	for _, bad := range []string{"unshare -Ur: 0", "unshare --user: 0", "made a user namespace"} {
		if strings.Contains(res.Output, bad) {
			t.Errorf("the sandboxed command made a user namespace (%q)", bad)
		}
	}
	if !strings.Contains(res.Output, "unshare -Ur: ") || !strings.Contains(res.Output, "unshare --user: ") {
		t.Error("the unshare attempts did not run")
	}
}

// TestNoNestedUserNamespacesNonRoot checks the other mode, bwrap in its own user namespace: as
// root, by running this test again as nobody.
func TestNoNestedUserNamespacesNonRoot(t *testing.T) {
	if probe := os.Getenv("VIBECODER_TEST_USERNS_PROBE"); probe != "" {
		if os.Geteuid() == 0 {
			t.Fatal("the non-root run is root")
		}
		checkNoNestedUserNS(t, newSandboxed(t, Config{}), nestedUserNS(t, probe))
		return
	}
	probe := usernsProbe(t)
	if os.Geteuid() != 0 {
		checkNoNestedUserNS(t, newSandboxed(t, Config{}), nestedUserNS(t, probe))
		return
	}
	requireBwrap(t)
	// The test binary may sit in a directory only root can enter: copy it beside the probe.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(probe), "sandbox.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "-test.run=^TestNoNestedUserNamespacesNonRoot$", "-test.count=1", "-test.v")
	cmd.Env = []string{"PATH=" + DefaultPath, "TMPDIR=/tmp", "HOME=/tmp", "VIBECODER_TEST_USERNS_PROBE=" + probe}
	if ci := os.Getenv("CI"); ci != "" {
		cmd.Env = append(cmd.Env, "CI="+ci)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("the non-root run failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestNoNestedUserNamespacesNonRoot")) {
		t.Fatal("the non-root run did not pass the test (skipped?)")
	}
}

// TestDiskLimit: a command writing far more than the disk limit, in files each under
// RLIMIT_FSIZE, in the workspace and the cache dir, is stopped near the limit, and the result
// says why.
func TestDiskLimit(t *testing.T) {
	const limit = 300 << 20
	check := func(t *testing.T, r *Runner) {
		ws, cache := dataDir(t), dataDir(t)
		// 20 files of 100 MiB, alternately in the workspace and the cache dir: 2000 MiB tried.
		script := fmt.Sprintf(`i=0; while [ $i -lt 20 ]; do
			dd if=/dev/zero of=%q/f$i bs=1M count=100 2>/dev/null || echo "dd $i failed"; i=$((i+1))
			dd if=/dev/zero of=f$i bs=1M count=100 2>/dev/null || echo "dd $i failed"; i=$((i+1))
		done; echo WROTE-ALL`, cache)
		res := run(t, r, Spec{Dir: ws, CacheDir: cache, Shell: script, Env: map[string]string{"LC_ALL": "C"}})
		used := diskUse(t, ws) + diskUse(t, cache)
		t.Logf("exit %d diskExceeded %v, %d MiB left on disk; output:\n%s", res.ExitCode, res.DiskExceeded, used>>20, res.Output)
		if !res.DiskExceeded || res.ExitCode != -1 || res.TimedOut {
			t.Errorf("DiskExceeded=%v ExitCode=%d TimedOut=%v, want the disk limit to stop it", res.DiskExceeded, res.ExitCode, res.TimedOut)
		}
		if strings.Contains(res.Output, "WROTE-ALL") {
			t.Error("the command finished writing 2000 MiB under a 300 MiB limit")
		}
		if !strings.Contains(res.Output, "over the 314572800-byte disk limit") {
			t.Error("the output does not say the disk limit stopped the command")
		}
		// Near the limit: an interval's worth of writing over it (page-cache speed, so allow
		// generously for a busy machine), not the 2000 MiB tried.
		if used < limit || used > limit+700<<20 {
			t.Errorf("%d MiB on disk after the run, want just over the %d MiB limit", used>>20, limit>>20)
		}
	}
	t.Run("unsandboxed", func(t *testing.T) { check(t, newUnsandboxed(t, Config{DiskBytes: limit})) })
	t.Run("sandboxed", func(t *testing.T) { check(t, newSandboxed(t, Config{DiskBytes: limit})) })
}

// TestDiskLimitHeldFiles: files deleted while still open take disk space no walk sees; the
// watcher finds them through the run's /proc/<pid>/fd.
func TestDiskLimitHeldFiles(t *testing.T) {
	const limit = 200 << 20
	check := func(t *testing.T, r *Runner) {
		if iso := r.Isolation(); iso.DiskLimit != "files+held" {
			t.Skipf("WARNING: SKIPPED, deleted open files are not counted here (%+v): the server needs CAP_SYS_PTRACE", iso)
		}
		ws := dataDir(t)
		res := run(t, r, Spec{Dir: ws, Timeout: 30 * time.Second, Shell: `exec 3>f3 4>f4 5>f5 6>f6; rm f3 f4 f5 f6
			for fd in 3 4 5 6; do dd if=/dev/zero bs=1M count=100 2>/dev/null >&$fd; done
			echo HELD; sleep 60; echo SLEPT`})
		t.Logf("exit %d diskExceeded %v timedOut %v; output:\n%s", res.ExitCode, res.DiskExceeded, res.TimedOut, res.Output)
		if !res.DiskExceeded || res.TimedOut || strings.Contains(res.Output, "SLEPT") {
			t.Errorf("DiskExceeded=%v TimedOut=%v: 400 MiB held in deleted files under a 200 MiB limit was not stopped", res.DiskExceeded, res.TimedOut)
		}
	}
	t.Run("unsandboxed", func(t *testing.T) { check(t, newUnsandboxed(t, Config{DiskBytes: limit})) })
	t.Run("sandboxed", func(t *testing.T) { check(t, newSandboxed(t, Config{DiskBytes: limit})) })
}

// diskUse is what the disk watcher counts under dir.
func diskUse(t *testing.T, dir string) int64 {
	t.Helper()
	m, err := newDiskMeter([]string{dir}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.measure()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDiskMeterWalk: the walk counts blocks, once per inode, and is not led astray by what
// a command can leave in a workspace: links out, FIFOs, sockets, trees too deep to walk.
func TestDiskMeterWalk(t *testing.T) {
	ws := t.TempDir()
	big := make([]byte, 4<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "big"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(ws, "big"), filepath.Join(ws, "big-again")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ws, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(ws, "big"), filepath.Join(ws, "sub", "big-third")); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"usr": "/usr", "root": "/", "loop": ".", "self": "sub/..", "dangling": "/no/such"} {
		if err := os.Symlink(target, filepath.Join(ws, "sub", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(ws, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(ws, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	done := make(chan int64, 1)
	go func() { done <- diskUse(t, ws) }()
	var n int64
	select {
	case n = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the walk is stuck (on the FIFO?)")
	}
	// One copy of the 4 MiB file plus a little for directories, links and special files.
	if n < 4<<20 || n > 4<<20+256<<10 {
		t.Errorf("measured %d bytes, want 4 MiB once and a little metadata (links followed or counted twice?)", n)
	}

	// A chain deeper than the walk goes is not counted as empty: it is an error.
	deep := t.TempDir()
	fd, err := syscall.Open(deep, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range diskMaxDepth + 5 {
		if err := syscall.Mkdirat(fd, "d", 0o700); err != nil {
			t.Fatal(err)
		}
		next, err := syscall.Openat(fd, "d", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		syscall.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	syscall.Close(fd)
	m, err := newDiskMeter([]string{deep}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.measure(); err == nil || !strings.Contains(err.Error(), "directories deep") {
		t.Errorf("a tree %d deep measured without error: %v", diskMaxDepth+5, err)
	}
	// t.TempDir's cleanup cannot remove a path that long by name.
	t.Cleanup(func() { _ = exec.Command("rm", "-rf", deep).Run() })
}
