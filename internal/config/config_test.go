package config

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/ratelimit"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() || c.Addr != ":8080" || c.DataDir != "./data" || c.ShutdownTimeout != 30*time.Second || c.MaxBodyBytes != 1<<20 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.SQLitePath() != "data/vibecoder.db" {
		t.Fatalf("SQLitePath = %q", c.SQLitePath())
	}
	if c.HashConcurrency != max(2, runtime.GOMAXPROCS(0)) || c.HashWait != time.Second ||
		c.LoginAccountLimit != (ratelimit.Limit{Rate: 5, Period: 15 * time.Minute, Burst: 5}) ||
		c.LoginIPLimit != (ratelimit.Limit{Rate: 30, Period: 15 * time.Minute, Burst: 30}) {
		t.Fatalf("login defaults: hashing %d, wait %v, account %+v, ip %+v", c.HashConcurrency, c.HashWait, c.LoginAccountLimit, c.LoginIPLimit)
	}
}

// TestJobPollDefaults: an idle queue polls every second on SQLite, where the poll is
// only a fallback and costs a write transaction, and every 250 ms on PostgreSQL; a set
// value wins on both.
func TestJobPollDefaults(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want time.Duration
	}{
		{nil, time.Second},
		{map[string]string{"DATABASE_URL": "postgres://db/x"}, 250 * time.Millisecond},
		{map[string]string{"VIBECODER_JOB_POLL_INTERVAL": "300ms"}, 300 * time.Millisecond},
		{map[string]string{"DATABASE_URL": "postgres://db/x", "VIBECODER_JOB_POLL_INTERVAL": "2s"}, 2 * time.Second},
	} {
		c, err := Load(env(tc.vars))
		if err != nil {
			t.Fatal(err)
		}
		if c.JobPollInterval != tc.want {
			t.Errorf("%v: JobPollInterval %v, want %v", tc.vars, c.JobPollInterval, tc.want)
		}
	}
}

func TestLoginSettings(t *testing.T) {
	c, err := Load(env(map[string]string{
		"VIBECODER_PASSWORD_HASH_CONCURRENCY": "3",
		"VIBECODER_PASSWORD_HASH_WAIT":        "0",
		"VIBECODER_LOGIN_ACCOUNT_LIMIT":       "10/1h",
		"VIBECODER_LOGIN_IP_LIMIT":            " 100 / 30m ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HashConcurrency != 3 || c.HashWait != 0 ||
		c.LoginAccountLimit != (ratelimit.Limit{Rate: 10, Period: time.Hour, Burst: 10}) ||
		c.LoginIPLimit != (ratelimit.Limit{Rate: 100, Period: 30 * time.Minute, Burst: 100}) {
		t.Fatalf("hashing %d, wait %v, account %+v, ip %+v", c.HashConcurrency, c.HashWait, c.LoginAccountLimit, c.LoginIPLimit)
	}
	for key, raw := range map[string]string{
		"VIBECODER_PASSWORD_HASH_CONCURRENCY": "0",
		"VIBECODER_PASSWORD_HASH_WAIT":        "-1s",
		"VIBECODER_LOGIN_ACCOUNT_LIMIT":       "5",
		"VIBECODER_LOGIN_IP_LIMIT":            "0/15m",
	} {
		if _, err := Load(env(map[string]string{key: raw})); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v, want one naming %s", key, raw, err, key)
		}
	}
	for _, raw := range []string{"5/0s", "x/15m", "5/forever", "5/15m/2"} {
		if _, err := Load(env(map[string]string{"VIBECODER_LOGIN_ACCOUNT_LIMIT": raw})); err == nil {
			t.Errorf("VIBECODER_LOGIN_ACCOUNT_LIMIT=%q accepted", raw)
		}
	}
}

func TestInvalidValuesAllReported(t *testing.T) {
	_, err := Load(env(map[string]string{
		"DATABASE_URL":               "mysql://x",
		"REDIS_URL":                  "http://x",
		"VIBECODER_ADDR":             "eighty",
		"LOG_LEVEL":                  "loud",
		"VIBECODER_SHUTDOWN_TIMEOUT": "forever",
		"OPENAI_BASE_URL":            "ftp://x",
		"VIBECODER_MAX_BODY_BYTES":   "12",
		"VIBECODER_SECURE_COOKIES":   "maybe",
	}))
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"DATABASE_URL", "REDIS_URL", "VIBECODER_ADDR", "LOG_LEVEL", "VIBECODER_SHUTDOWN_TIMEOUT", "OPENAI_BASE_URL", "VIBECODER_MAX_BODY_BYTES", "VIBECODER_SECURE_COOKIES"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestScaleOutAndSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{
		"DATABASE_URL":                      "postgres://app:pw-secret@db:5432/vibe",
		"REDIS_URL":                         "redis://:redis-secret@cache:6379/0",
		"OPENAI_API_KEY":                    "sk-test",
		"LOG_LEVEL":                         "DEBUG",
		"OTEL_EXPORTER_OTLP_HEADERS":        "x-honeycomb-team=hc-secret,x-dataset=ds",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer%20otlp-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Embedded() {
		t.Fatal("DATABASE_URL set but embedded")
	}
	got := strings.Join(c.Secrets(), ",")
	for _, s := range []string{"pw-secret", "redis-secret", "sk-test", "hc-secret", "Bearer%20otlp-secret", "Bearer otlp-secret"} {
		if !strings.Contains(got, s) {
			t.Errorf("Secrets() misses %s", s)
		}
	}
	if strings.Contains(got, "ds") {
		t.Errorf("Secrets() holds the plain header value \"ds\": %s", got)
	}
}

// The repository settings are read and validated here; gitops.RepoPolicy applies them
// (its tests cover the rules).
func TestRepoSettings(t *testing.T) {
	root := t.TempDir()
	c, err := Load(env(map[string]string{"VIBECODER_LOCAL_REPO_ROOTS": root + ":" + root + "/b/", "VIBECODER_ALLOW_PRIVATE_REMOTES": "true",
		"VIBECODER_INDEX_CLONE_TIMEOUT": "90s"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LocalRepoRoots) != 2 || c.LocalRepoRoots[1] != root+"/b" || !c.AllowPrivateRemotes || c.IndexCloneTimeout != 90*time.Second {
		t.Fatalf("config = %v %v %v", c.LocalRepoRoots, c.AllowPrivateRemotes, c.IndexCloneTimeout)
	}
	d, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.AllowPrivateRemotes || d.IndexCloneTimeout != 5*time.Minute || len(d.LocalRepoRoots) != 0 {
		t.Fatalf("defaults = %v %v %v", d.LocalRepoRoots, d.AllowPrivateRemotes, d.IndexCloneTimeout)
	}
	for k, v := range map[string]string{"VIBECODER_LOCAL_REPO_ROOTS": "relative/dir", "VIBECODER_ALLOW_PRIVATE_REMOTES": "yes please",
		"VIBECODER_INDEX_CLONE_TIMEOUT": "1s"} {
		if _, err := Load(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err = %v", k, v, err)
		}
	}
}

func TestSandboxDisk(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SandboxDisk != 2<<30 {
		t.Errorf("default SandboxDisk = %d, want 2 GiB", c.SandboxDisk)
	}
	if c, err = Load(env(map[string]string{"VIBECODER_SANDBOX_DISK_BYTES": "10737418240"})); err != nil || c.SandboxDisk != 10<<30 {
		t.Errorf("10 GiB: %d, %v", c.SandboxDisk, err)
	}
	for _, bad := range []string{"-1", "0", "1048576", "lots"} {
		if _, err := Load(env(map[string]string{"VIBECODER_SANDBOX_DISK_BYTES": bad})); err == nil || !strings.Contains(err.Error(), "VIBECODER_SANDBOX_DISK_BYTES") {
			t.Errorf("VIBECODER_SANDBOX_DISK_BYTES=%s: %v", bad, err)
		}
	}
}

func TestGoCacheSeed(t *testing.T) {
	for raw, want := range map[string][]string{
		"":                               {"std"},
		"off":                            nil,
		"testing":                        {"testing"},
		"testing, net/http encoding/...": {"testing", "net/http", "encoding/..."},
	} {
		vars := map[string]string{}
		if raw != "" {
			vars["VIBECODER_GO_CACHE_SEED"] = raw
		}
		c, err := Load(env(vars))
		if err != nil || !slices.Equal(c.GoCacheSeed, want) {
			t.Errorf("VIBECODER_GO_CACHE_SEED=%q: %q, %v; want %q", raw, c.GoCacheSeed, err, want)
		}
	}
	for _, bad := range []string{",", "-toolexec=evil", "std;rm", `"std"`} {
		if _, err := Load(env(map[string]string{"VIBECODER_GO_CACHE_SEED": bad})); err == nil || !strings.Contains(err.Error(), "VIBECODER_GO_CACHE_SEED") {
			t.Errorf("VIBECODER_GO_CACHE_SEED=%s: %v", bad, err)
		}
	}
}

func TestCoderContext(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CoderContext != 48000 {
		t.Errorf("default CoderContext = %d, want 48000", c.CoderContext)
	}
	if c, err = Load(env(map[string]string{"VIBECODER_CODER_CONTEXT_TOKENS": "16000"})); err != nil || c.CoderContext != 16000 {
		t.Errorf("16000: %d, %v", c.CoderContext, err)
	}
	for _, bad := range []string{"0", "1000", "2000000", "many"} {
		if _, err := Load(env(map[string]string{"VIBECODER_CODER_CONTEXT_TOKENS": bad})); err == nil || !strings.Contains(err.Error(), "VIBECODER_CODER_CONTEXT_TOKENS") {
			t.Errorf("VIBECODER_CODER_CONTEXT_TOKENS=%s: %v", bad, err)
		}
	}
}
