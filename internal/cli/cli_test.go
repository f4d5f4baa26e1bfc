package cli

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/config"
)

func run(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := run(t, nil, "", "--help")
	if code != 0 || !strings.Contains(out, "vibecoder serve") || !strings.Contains(out, "apikey create") {
		t.Fatalf("--help: %d %q", code, out)
	}
	if code, out, _ := run(t, nil, "", "version"); code != 0 || !strings.HasPrefix(out, "vibecoder ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errOut := run(t, nil, ""); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Fatalf("no args: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

func TestInvalidConfigStopsStart(t *testing.T) {
	env := map[string]string{"VIBECODER_ADDR": "nowhere", "LOG_LEVEL": "shouty", "VIBECODER_DATA_DIR": t.TempDir()}
	code, _, errOut := run(t, env, "", "serve")
	if code != 1 || !strings.Contains(errOut, "VIBECODER_ADDR") || !strings.Contains(errOut, "LOG_LEVEL") {
		t.Fatalf("serve with bad config: exit %d, stderr %q", code, errOut)
	}
}

func TestAdminCommands(t *testing.T) {
	env := map[string]string{"VIBECODER_DATA_DIR": t.TempDir()}
	code, out, errOut := run(t, env, "", "migrate")
	if code != 0 || !strings.Contains(out, "sqlite database is up to date") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, env, "a-long-password\n", "user", "create", "--email", "Root@Example.com", "--name", "Root", "--admin", "--password-stdin")
	if code != 0 || !strings.Contains(out, "created user root@example.com") || !strings.Contains(out, "admin") || strings.Contains(out, "a-long-password") {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, env, "", "user", "create", "--email", "gen@example.com")
	if code != 0 || !strings.Contains(out, "password (shown once): ") {
		t.Fatalf("user create with generated password: %d %q", code, out)
	}
	code, out, errOut = run(t, env, "", "apikey", "create", "--email", "root@example.com", "--name", "deploy")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "vc_") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("apikey create: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, env, "", "apikey", "create", "--email", "nobody@example.com"); code != 1 || !strings.Contains(errOut, "no user with email") {
		t.Fatalf("apikey for unknown user: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, env, "", "user", "create", "--email", "root@example.com"); code != 1 || !strings.Contains(errOut, "already registered") {
		t.Fatalf("duplicate user: %d %q", code, errOut)
	}
	if code, _, _ := run(t, env, "short\n", "user", "create", "--email", "x@example.com", "--password-stdin"); code != 2 {
		t.Fatalf("short password accepted: %d", code)
	}
	code, out, errOut = run(t, env, "", "user", "limits", "--email", "root@example.com", "--rpm", "60", "--budget", "12.5")
	if code != 0 || !strings.Contains(out, "60 requests/min, default tokens/min, budget $12.50") {
		t.Fatalf("user limits: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, env, "", "user", "limits", "--email", "root@example.com", "--tpm", "1000")
	if code != 0 || !strings.Contains(out, "60 requests/min, 1000 tokens/min, budget $12.50") {
		t.Fatalf("user limits update keeps earlier values: %d %q", code, out)
	}
	code, out, _ = run(t, env, "", "user", "limits", "--email", "root@example.com", "--clear")
	if code != 0 || !strings.Contains(out, "default requests/min, default tokens/min, budget default") {
		t.Fatalf("user limits --clear: %d %q", code, out)
	}
	if _, err := filepath.Glob(filepath.Join(env["VIBECODER_DATA_DIR"], "vibecoder.db")); err != nil {
		t.Fatal(err)
	}
}

// TestSampleAllocations: a process that serves profiles keeps the runtime's
// allocation sampling; one that does not turns it off.
func TestSampleAllocations(t *testing.T) {
	saved := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = saved })
	runtime.MemProfileRate = 512 * 1024
	sampleAllocations(config.Config{PprofAddr: "127.0.0.1:6060"})
	if runtime.MemProfileRate != 512*1024 {
		t.Fatalf("with VIBECODER_PPROF_ADDR set the sampling rate is %d, want it kept", runtime.MemProfileRate)
	}
	sampleAllocations(config.Config{})
	if runtime.MemProfileRate != 0 {
		t.Fatalf("without VIBECODER_PPROF_ADDR the sampling rate is %d, want 0", runtime.MemProfileRate)
	}
}
