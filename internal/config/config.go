// Package config reads Vibe Coder's configuration from the environment, applies
// defaults and validates it, so a bad value stops the start with a clear message.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vibecoder/vibecoder/internal/ratelimit"
)

// goPattern is a standard library package path or pattern (no flags, no spaces).
var goPattern = regexp.MustCompile(`^[a-z0-9_][a-zA-Z0-9_./-]*$`)

// Config is the whole configuration. Names of the environment variables are given
// beside each field; see the README's configuration table.
type Config struct {
	DatabaseURL string // DATABASE_URL: PostgreSQL; empty selects embedded SQLite
	RedisURL    string // REDIS_URL: Redis for cache, rate limits; empty keeps them in process
	DataDir     string // VIBECODER_DATA_DIR (./data)
	Addr        string // VIBECODER_ADDR (:8080)
	// WorkerAddr is where `vibecoder worker` serves /metrics, /health, /livez and
	// /readyz (VIBECODER_WORKER_ADDR; empty: nowhere).
	WorkerAddr string
	// PprofAddr is where the process serves net/http/pprof's /debug/pprof/ for profiling
	// (VIBECODER_PPROF_ADDR; empty: nowhere). Unauthenticated: bind it to loopback.
	PprofAddr   string
	LogLevel    slog.Level
	LogLevelRaw string // LOG_LEVEL (info)

	LogtailToken string // LOGTAIL_SOURCE_TOKEN
	LogtailURL   string // LOGTAIL_INGEST_URL (https://in.logs.betterstack.com)

	OTelEndpoint    string // OTEL_EXPORTER_OTLP_ENDPOINT: OTLP/HTTP base URL (http://collector:4318); empty: no tracing
	OTelServiceName string // OTEL_SERVICE_NAME (vibecoder)
	// OTelHeaders are OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS
	// ("key=value,…"), which the exporter reads itself; kept here so their values,
	// often a collector's API key, are redacted from logs.
	OTelHeaders string

	OpenAIKey     string // OPENAI_API_KEY
	OpenAIBaseURL string // OPENAI_BASE_URL: any OpenAI-compatible server
	AnthropicKey  string // ANTHROPIC_API_KEY
	GoogleKey     string // GOOGLE_API_KEY
	XAIKey        string // XAI_API_KEY
	GitHubToken   string // GITHUB_TOKEN

	AnthropicBaseURL string            // ANTHROPIC_BASE_URL (the provider's own)
	GoogleBaseURL    string            // GOOGLE_BASE_URL (the provider's own)
	XAIBaseURL       string            // XAI_BASE_URL (https://api.x.ai/v1)
	Compatible       map[string]string // VIBECODER_OPENAI_COMPATIBLE: name=base-url;... more OpenAI-compatible servers
	DefaultModel     string            // VIBECODER_DEFAULT_MODEL
	ModelAliases     map[string]string // VIBECODER_MODEL_ALIASES: alias=provider/model,...
	Fallbacks        map[string][]string
	LLMTimeout       time.Duration // VIBECODER_LLM_TIMEOUT (120s)
	LLMMaxAttempts   int           // VIBECODER_LLM_MAX_ATTEMPTS (3)
	CacheTTL         time.Duration // VIBECODER_CACHE_TTL (24h)
	CacheScope       string        // VIBECODER_CACHE_SCOPE (user | global)
	CacheMaxBytes    int64         // VIBECODER_CACHE_MAX_BYTES (256 MiB), in-process cache only
	CacheNearTTL     time.Duration // VIBECODER_CACHE_NEAR_TTL (5s): with Redis, hits kept in process this long (0: off)
	LLMRPM           int           // VIBECODER_LLM_RPM (20)
	LLMTPM           int           // VIBECODER_LLM_TPM (0: none)
	LLMBudgetUSD     float64       // VIBECODER_LLM_MONTHLY_BUDGET_USD (0: none)
	PricesFile       string        // VIBECODER_PRICES_FILE
	EmbeddingModel   string        // VIBECODER_EMBEDDING_MODEL: provider/model (or an alias) for vector search; empty: keyword search only

	// Background jobs.
	Workers         bool                         // VIBECODER_WORKERS (true): serve also works jobs
	JobQueues       map[string]map[string]string // VIBECODER_JOB_QUEUES: kind:key=value,...;kind2:...
	JobRescueAfter  time.Duration                // VIBECODER_JOB_RESCUE_AFTER (longest timeout + 5m)
	JobPollInterval time.Duration                // VIBECODER_JOB_POLL_INTERVAL (250ms; 1s on SQLite)
	JobSoftStop     time.Duration                // VIBECODER_JOB_SOFT_STOP (30s)

	// LocalRepoRoots are the directories under which projects may name a local path or
	// file:// repository (VIBECODER_LOCAL_REPO_ROOTS, colon-separated): a user their own
	// <root>/<user id>/…, an administrator anything below a root. Unset: only
	// administrators may use local repositories. gitops.RepoPolicy applies the rule.
	LocalRepoRoots []string
	// AllowPrivateRemotes lets remote repositories resolve to loopback, private and
	// other non-public addresses (VIBECODER_ALLOW_PRIVATE_REMOTES, false).
	AllowPrivateRemotes bool
	// IndexCloneTimeout bounds the index job's clone or fetch of a remote repository
	// (VIBECODER_INDEX_CLONE_TIMEOUT, 5m).
	IndexCloneTimeout time.Duration

	// The agent pipeline.
	AllowUnsandboxed bool          // VIBECODER_ALLOW_UNSANDBOXED (false): run tests without bubblewrap
	SandboxMemory    int64         // VIBECODER_SANDBOX_MEMORY_BYTES (2 GiB)
	SandboxProcs     int64         // VIBECODER_SANDBOX_PROCS (512)
	SandboxDisk      int64         // VIBECODER_SANDBOX_DISK_BYTES (2 GiB): a test run's workspace and build cache together
	TestTimeout      time.Duration // VIBECODER_TEST_TIMEOUT (10m)
	GoCacheSeed      []string      // VIBECODER_GO_CACHE_SEED (std): standard library patterns seeding a Go project's first build cache; off: none
	MaxRepairs       int           // VIBECODER_MAX_REPAIRS (2)
	MaxReviewRounds  int           // VIBECODER_MAX_REVIEW_ROUNDS (1)
	CoderContext     int           // VIBECODER_CODER_CONTEXT_TOKENS (48000): the coder prompt's context cap in tokens
	GitAuthorName    string        // VIBECODER_GIT_AUTHOR_NAME (Vibe Coder)
	GitAuthorEmail   string        // VIBECODER_GIT_AUTHOR_EMAIL (vibecoder@localhost)
	GitHubAPIURL     string        // GITHUB_API_URL (derived from the remote: api.github.com or https://host/api/v3)

	MaxBodyBytes    int64         // VIBECODER_MAX_BODY_BYTES (1 MiB)
	ShutdownTimeout time.Duration // VIBECODER_SHUTDOWN_TIMEOUT (30s)
	SessionTTL      time.Duration // VIBECODER_SESSION_TTL (168h)
	SecureCookies   bool          // VIBECODER_SECURE_COOKIES (false): set for HTTPS deployments

	// Passwords and logins.
	HashConcurrency   int             // VIBECODER_PASSWORD_HASH_CONCURRENCY (max(2, GOMAXPROCS)): argon2id computations at once
	HashWait          time.Duration   // VIBECODER_PASSWORD_HASH_WAIT (1s): wait for a hashing slot, then 503 (0: no wait)
	LoginAccountLimit ratelimit.Limit // VIBECODER_LOGIN_ACCOUNT_LIMIT (5/15m): failed logins per account
	LoginIPLimit      ratelimit.Limit // VIBECODER_LOGIN_IP_LIMIT (30/15m): failed logins per client address

	MetricsToken string        // VIBECODER_METRICS_TOKEN: when set, GET /metrics needs Authorization: Bearer <token>
	SlowRequest  time.Duration // VIBECODER_SLOW_REQUEST (2s): requests slower than this are logged as warnings
}

// SQLitePath is the embedded database file under the data directory.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "vibecoder.db") }

// Embedded reports whether the embedded default (SQLite) is in use.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// Secrets returns every secret value of the configuration, for log redaction.
func (c Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.LogtailToken, c.OpenAIKey, c.AnthropicKey, c.GoogleKey, c.XAIKey, c.GitHubToken, c.MetricsToken} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, kv := range strings.Split(c.OTelHeaders, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if v = strings.TrimSpace(v); !ok || v == "" || !credentialHeader(k) && len(v) < 16 {
			continue // a plain setting (x-dataset=prod): redacting it would blank every "prod" in the logs
		}
		out = append(out, v)
		if dec, err := url.QueryUnescape(v); err == nil && dec != v {
			out = append(out, dec)
		}
	}
	for _, raw := range []string{c.DatabaseURL, c.RedisURL} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// credentialHeader reports whether an OTLP header's name says it carries a credential.
func credentialHeader(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"auth", "key", "token", "secret", "team", "password", "signature", "credential"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// Load reads the configuration through getenv (os.Getenv in production) and reports
// every invalid value at once.
func Load(getenv func(string) string) (Config, error) {
	l := &loader{getenv: getenv}
	c := Config{
		DatabaseURL:   l.get("DATABASE_URL", ""),
		RedisURL:      l.get("REDIS_URL", ""),
		DataDir:       l.get("VIBECODER_DATA_DIR", "./data"),
		Addr:          l.get("VIBECODER_ADDR", ":8080"),
		WorkerAddr:    l.get("VIBECODER_WORKER_ADDR", ""),
		PprofAddr:     l.get("VIBECODER_PPROF_ADDR", ""),
		LogLevelRaw:   strings.ToLower(l.get("LOG_LEVEL", "info")),
		LogtailToken:  l.get("LOGTAIL_SOURCE_TOKEN", ""),
		LogtailURL:    l.get("LOGTAIL_INGEST_URL", "https://in.logs.betterstack.com"),
		OpenAIKey:     l.get("OPENAI_API_KEY", ""),
		OpenAIBaseURL: l.get("OPENAI_BASE_URL", ""),
		AnthropicKey:  l.get("ANTHROPIC_API_KEY", ""),
		GoogleKey:     l.get("GOOGLE_API_KEY", ""),
		XAIKey:        l.get("XAI_API_KEY", ""),
		GitHubToken:   l.get("GITHUB_TOKEN", ""),

		AnthropicBaseURL: l.get("ANTHROPIC_BASE_URL", ""),
		GoogleBaseURL:    l.get("GOOGLE_BASE_URL", ""),
		XAIBaseURL:       l.get("XAI_BASE_URL", ""),
		DefaultModel:     l.get("VIBECODER_DEFAULT_MODEL", ""),
		CacheScope:       l.get("VIBECODER_CACHE_SCOPE", "user"),
		PricesFile:       l.get("VIBECODER_PRICES_FILE", ""),
		EmbeddingModel:   l.get("VIBECODER_EMBEDDING_MODEL", ""),
	}
	c.OTelEndpoint = l.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	c.OTelServiceName = l.get("OTEL_SERVICE_NAME", "vibecoder")
	c.OTelHeaders = strings.Trim(l.get("OTEL_EXPORTER_OTLP_HEADERS", "")+","+l.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS", ""), ",")
	l.server(&c)
	l.llm(&c)
	l.jobs(&c)
	l.pipeline(&c)
	l.auth(&c)
	if len(l.errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration:\n  %w", joinLines(l.errs))
	}
	return c, nil
}

// loader reads environment variables and collects every invalid one.
type loader struct {
	getenv func(string) string
	errs   []error
}

// get returns key's value, trimmed, or def when it is unset or blank.
func (l *loader) get(key, def string) string {
	if v := strings.TrimSpace(l.getenv(key)); v != "" {
		return v
	}
	return def
}

// bad records that key is invalid.
func (l *loader) bad(key, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
}

// server checks the process's own settings: database and Redis URLs, addresses, logs,
// telemetry, request limits, shutdown, sessions, metrics.
func (l *loader) server(c *Config) {
	var err error
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			l.bad("DATABASE_URL", "must be a postgres:// or postgresql:// URL")
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			l.bad("REDIS_URL", "must be a redis:// or rediss:// URL with a host")
		}
	}
	for _, a := range []struct{ name, v string }{{"VIBECODER_ADDR", c.Addr}, {"VIBECODER_WORKER_ADDR", c.WorkerAddr}, {"VIBECODER_PPROF_ADDR", c.PprofAddr}} {
		if a.v == "" && a.name != "VIBECODER_ADDR" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			l.bad(a.name, "must be host:port or :port, got %q", a.v)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			l.bad(a.name, "port %q is not a number in 0-65535", port)
		}
	}
	switch c.LogLevelRaw {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		l.bad("LOG_LEVEL", "must be one of debug, info, warn, error; got %q", c.LogLevelRaw)
	}
	for key, raw := range map[string]string{"LOGTAIL_INGEST_URL": c.LogtailURL, "OTEL_EXPORTER_OTLP_ENDPOINT": c.OTelEndpoint, "OPENAI_BASE_URL": c.OpenAIBaseURL,
		"ANTHROPIC_BASE_URL": c.AnthropicBaseURL, "GOOGLE_BASE_URL": c.GoogleBaseURL, "XAI_BASE_URL": c.XAIBaseURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.bad(key, "must be an http:// or https:// URL")
		}
	}

	if c.MaxBodyBytes, err = parseInt(l.get("VIBECODER_MAX_BODY_BYTES", "1048576"), 1024, 1<<30); err != nil {
		l.bad("VIBECODER_MAX_BODY_BYTES", "%v", err)
	}
	if c.ShutdownTimeout, err = parseDuration(l.get("VIBECODER_SHUTDOWN_TIMEOUT", "30s"), time.Second, time.Hour); err != nil {
		l.bad("VIBECODER_SHUTDOWN_TIMEOUT", "%v", err)
	}
	if c.SessionTTL, err = parseDuration(l.get("VIBECODER_SESSION_TTL", "168h"), time.Minute, 90*24*time.Hour); err != nil {
		l.bad("VIBECODER_SESSION_TTL", "%v", err)
	}
	if c.SecureCookies, err = strconv.ParseBool(l.get("VIBECODER_SECURE_COOKIES", "false")); err != nil {
		l.bad("VIBECODER_SECURE_COOKIES", "must be true or false")
	}
	c.MetricsToken = l.get("VIBECODER_METRICS_TOKEN", "")
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		l.bad("VIBECODER_METRICS_TOKEN", "must be at least 16 characters")
	}
	if c.SlowRequest, err = parseDuration(l.get("VIBECODER_SLOW_REQUEST", "2s"), time.Millisecond, time.Hour); err != nil {
		l.bad("VIBECODER_SLOW_REQUEST", "%v", err)
	}
}

// llm reads the gateway's settings: providers, aliases, fallbacks, timeouts, the cache,
// limits, the budget and the embedding model.
func (l *loader) llm(c *Config) {
	var err error
	if c.Compatible, err = parsePairs(l.get("VIBECODER_OPENAI_COMPATIBLE", ""), ";"); err != nil {
		l.bad("VIBECODER_OPENAI_COMPATIBLE", "%v (want name=http://host:port/v1;name2=...)", err)
	}
	for name, raw := range c.Compatible {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.bad("VIBECODER_OPENAI_COMPATIBLE", "%s: %q is not an http(s) URL", name, raw)
		}
		if strings.Contains(name, "/") {
			l.bad("VIBECODER_OPENAI_COMPATIBLE", "provider name %q must not contain /", name)
		}
	}
	if c.ModelAliases, err = parsePairs(l.get("VIBECODER_MODEL_ALIASES", ""), ","); err != nil {
		l.bad("VIBECODER_MODEL_ALIASES", "%v (want alias=provider/model,...)", err)
	}
	fb, err := parsePairs(l.get("VIBECODER_LLM_FALLBACKS", ""), ";")
	if err != nil {
		l.bad("VIBECODER_LLM_FALLBACKS", "%v (want provider/model=provider/model|provider/model;...)", err)
	}
	c.Fallbacks = map[string][]string{}
	for model, chain := range fb {
		c.Fallbacks[model] = strings.Split(chain, "|")
	}
	if c.LLMTimeout, err = parseDuration(l.get("VIBECODER_LLM_TIMEOUT", "120s"), time.Second, time.Hour); err != nil {
		l.bad("VIBECODER_LLM_TIMEOUT", "%v", err)
	}
	if n, err := parseInt(l.get("VIBECODER_LLM_MAX_ATTEMPTS", "3"), 1, 10); err != nil {
		l.bad("VIBECODER_LLM_MAX_ATTEMPTS", "%v", err)
	} else {
		c.LLMMaxAttempts = int(n)
	}
	if c.CacheTTL, err = parseDuration(l.get("VIBECODER_CACHE_TTL", "24h"), time.Second, 365*24*time.Hour); err != nil {
		l.bad("VIBECODER_CACHE_TTL", "%v", err)
	}
	if c.CacheScope != "user" && c.CacheScope != "global" {
		l.bad("VIBECODER_CACHE_SCOPE", "must be user or global, got %q", c.CacheScope)
	}
	if raw := l.get("VIBECODER_CACHE_NEAR_TTL", "5s"); raw == "0" {
		c.CacheNearTTL = 0
	} else if c.CacheNearTTL, err = parseDuration(raw, time.Millisecond, time.Hour); err != nil {
		l.bad("VIBECODER_CACHE_NEAR_TTL", "%v (0 turns the near cache off)", err)
	}
	if c.CacheMaxBytes, err = parseInt(l.get("VIBECODER_CACHE_MAX_BYTES", "268435456"), 1<<20, 1<<40); err != nil {
		l.bad("VIBECODER_CACHE_MAX_BYTES", "%v", err)
	}
	if n, err := parseInt(l.get("VIBECODER_LLM_RPM", "20"), 1, 1_000_000); err != nil {
		l.bad("VIBECODER_LLM_RPM", "%v", err)
	} else {
		c.LLMRPM = int(n)
	}
	if n, err := parseInt(l.get("VIBECODER_LLM_TPM", "0"), 0, 1_000_000_000); err != nil {
		l.bad("VIBECODER_LLM_TPM", "%v", err)
	} else {
		c.LLMTPM = int(n)
	}
	if c.LLMBudgetUSD, err = strconv.ParseFloat(l.get("VIBECODER_LLM_MONTHLY_BUDGET_USD", "0"), 64); err != nil || c.LLMBudgetUSD < 0 || c.LLMBudgetUSD != c.LLMBudgetUSD {
		l.bad("VIBECODER_LLM_MONTHLY_BUDGET_USD", "must be a non-negative number of dollars")
	}
	if m := c.EmbeddingModel; m != "" {
		prov, model, hasSlash := strings.Cut(m, "/")
		if strings.ContainsAny(m, " \t") || len(m) > 200 || (hasSlash && (prov == "" || model == "")) {
			l.bad("VIBECODER_EMBEDDING_MODEL", "must be provider/model (e.g. openai/text-embedding-3-small) or a model alias, got %q", m)
		}
	}
}

// jobs reads the job system's settings.
func (l *loader) jobs(c *Config) {
	var err error
	if c.Workers, err = strconv.ParseBool(l.get("VIBECODER_WORKERS", "true")); err != nil {
		l.bad("VIBECODER_WORKERS", "must be true or false")
	}
	c.JobQueues = map[string]map[string]string{}
	for _, item := range strings.Split(l.get("VIBECODER_JOB_QUEUES", ""), ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		kind, settings, ok := strings.Cut(item, ":")
		kv, perr := parsePairs(settings, ",")
		if !ok || perr != nil || strings.TrimSpace(kind) == "" {
			l.bad("VIBECODER_JOB_QUEUES", "%q is not kind:key=value,... (keys: concurrency, timeout, attempts, backoff)", item)
			continue
		}
		c.JobQueues[strings.TrimSpace(kind)] = kv
	}
	if raw := l.get("VIBECODER_JOB_RESCUE_AFTER", ""); raw != "" {
		if c.JobRescueAfter, err = parseDuration(raw, time.Second, 7*24*time.Hour); err != nil {
			l.bad("VIBECODER_JOB_RESCUE_AFTER", "%v", err)
		}
	}
	// On SQLite the poll is a fallback twice over (the committing process wakes its
	// queues, River's outbox the others' within 50 ms), and every poll of every queue
	// is a write transaction whose SQL River parses afresh: at 250 ms, five queues cost
	// an idle server ~20 ms of CPU a second.
	poll := "250ms"
	if c.Embedded() {
		poll = "1s"
	}
	if c.JobPollInterval, err = parseDuration(l.get("VIBECODER_JOB_POLL_INTERVAL", poll), 100*time.Millisecond, time.Minute); err != nil {
		l.bad("VIBECODER_JOB_POLL_INTERVAL", "%v", err)
	}
	if c.JobSoftStop, err = parseDuration(l.get("VIBECODER_JOB_SOFT_STOP", "30s"), time.Second, time.Hour); err != nil {
		l.bad("VIBECODER_JOB_SOFT_STOP", "%v", err)
	}
}

// pipeline reads the repository, sandbox and agent-pipeline settings.
func (l *loader) pipeline(c *Config) {
	var err error
	for _, root := range strings.Split(l.get("VIBECODER_LOCAL_REPO_ROOTS", ""), ":") {
		if root = strings.TrimSpace(root); root == "" {
			continue
		}
		if !filepath.IsAbs(root) {
			l.bad("VIBECODER_LOCAL_REPO_ROOTS", "%q is not an absolute path", root)
			continue
		}
		c.LocalRepoRoots = append(c.LocalRepoRoots, filepath.Clean(root))
	}
	if c.AllowPrivateRemotes, err = strconv.ParseBool(l.get("VIBECODER_ALLOW_PRIVATE_REMOTES", "false")); err != nil {
		l.bad("VIBECODER_ALLOW_PRIVATE_REMOTES", "must be true or false")
	}
	if c.IndexCloneTimeout, err = parseDuration(l.get("VIBECODER_INDEX_CLONE_TIMEOUT", "5m"), 10*time.Second, 2*time.Hour); err != nil {
		l.bad("VIBECODER_INDEX_CLONE_TIMEOUT", "%v", err)
	}
	if c.AllowUnsandboxed, err = strconv.ParseBool(l.get("VIBECODER_ALLOW_UNSANDBOXED", "false")); err != nil {
		l.bad("VIBECODER_ALLOW_UNSANDBOXED", "must be true or false")
	}
	if c.SandboxMemory, err = parseInt(l.get("VIBECODER_SANDBOX_MEMORY_BYTES", "2147483648"), 64<<20, 1<<40); err != nil {
		l.bad("VIBECODER_SANDBOX_MEMORY_BYTES", "%v", err)
	}
	if c.SandboxProcs, err = parseInt(l.get("VIBECODER_SANDBOX_PROCS", "512"), 8, 100000); err != nil {
		l.bad("VIBECODER_SANDBOX_PROCS", "%v", err)
	}
	if c.SandboxDisk, err = parseInt(l.get("VIBECODER_SANDBOX_DISK_BYTES", "2147483648"), 64<<20, 1<<50); err != nil {
		l.bad("VIBECODER_SANDBOX_DISK_BYTES", "%v", err)
	}
	if c.TestTimeout, err = parseDuration(l.get("VIBECODER_TEST_TIMEOUT", "10m"), time.Second, 24*time.Hour); err != nil {
		l.bad("VIBECODER_TEST_TIMEOUT", "%v", err)
	}
	if raw := l.get("VIBECODER_GO_CACHE_SEED", "std"); raw != "off" {
		c.GoCacheSeed = strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' })
		for _, p := range c.GoCacheSeed {
			if !goPattern.MatchString(p) {
				l.bad("VIBECODER_GO_CACHE_SEED", "%q is not a standard library package pattern (std, net/http, encoding/...); off for none", p)
			}
		}
		if len(c.GoCacheSeed) == 0 {
			l.bad("VIBECODER_GO_CACHE_SEED", "empty: std, a list of standard library package patterns, or off")
		}
	}
	if n, err := parseInt(l.get("VIBECODER_MAX_REPAIRS", "2"), 0, 20); err != nil {
		l.bad("VIBECODER_MAX_REPAIRS", "%v", err)
	} else {
		c.MaxRepairs = int(n)
	}
	if n, err := parseInt(l.get("VIBECODER_MAX_REVIEW_ROUNDS", "1"), 0, 10); err != nil {
		l.bad("VIBECODER_MAX_REVIEW_ROUNDS", "%v", err)
	} else {
		c.MaxReviewRounds = int(n)
	}
	if n, err := parseInt(l.get("VIBECODER_CODER_CONTEXT_TOKENS", "48000"), 4096, 1000000); err != nil {
		l.bad("VIBECODER_CODER_CONTEXT_TOKENS", "%v", err)
	} else {
		c.CoderContext = int(n)
	}
	c.GitAuthorName = l.get("VIBECODER_GIT_AUTHOR_NAME", "Vibe Coder")
	c.GitAuthorEmail = l.get("VIBECODER_GIT_AUTHOR_EMAIL", "vibecoder@localhost")
	if !strings.Contains(c.GitAuthorEmail, "@") || strings.ContainsAny(c.GitAuthorEmail+c.GitAuthorName, "<>\n") {
		l.bad("VIBECODER_GIT_AUTHOR_EMAIL", "author name and email must be plain text and the email contain @")
	}
	c.GitHubAPIURL = l.get("GITHUB_API_URL", "")
	if c.GitHubAPIURL != "" {
		if u, err := url.Parse(c.GitHubAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.bad("GITHUB_API_URL", "must be an http(s) URL such as https://github.example.com/api/v3")
		}
	}
}

// auth reads the password-hashing and login-throttling settings.
func (l *loader) auth(c *Config) {
	var err error
	if n, err := parseInt(l.get("VIBECODER_PASSWORD_HASH_CONCURRENCY", strconv.Itoa(max(2, runtime.GOMAXPROCS(0)))), 1, 1024); err != nil {
		l.bad("VIBECODER_PASSWORD_HASH_CONCURRENCY", "%v", err)
	} else {
		c.HashConcurrency = int(n)
	}
	if raw := l.get("VIBECODER_PASSWORD_HASH_WAIT", "1s"); raw == "0" {
		c.HashWait = 0
	} else if c.HashWait, err = parseDuration(raw, time.Millisecond, time.Minute); err != nil {
		l.bad("VIBECODER_PASSWORD_HASH_WAIT", "%v (0: refuse at once when every slot is busy)", err)
	}
	for _, r := range []struct {
		key, def string
		dst      *ratelimit.Limit
	}{{"VIBECODER_LOGIN_ACCOUNT_LIMIT", "5/15m", &c.LoginAccountLimit}, {"VIBECODER_LOGIN_IP_LIMIT", "30/15m", &c.LoginIPLimit}} {
		if *r.dst, err = parseRate(l.get(r.key, r.def)); err != nil {
			l.bad(r.key, "%v", err)
		}
	}
}

// parsePairs parses "k=v<sep>k2=v2" (spaces around items ignored).
func parsePairs(raw, sep string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(raw, sep) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not name=value", item)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// parseRate parses "count/period" (5/15m): count units per period, all of them at
// once if need be.
func parseRate(raw string) (ratelimit.Limit, error) {
	count, period, ok := strings.Cut(raw, "/")
	if !ok {
		return ratelimit.Limit{}, fmt.Errorf("%q is not count/period such as 5/15m", raw)
	}
	n, err := parseInt(strings.TrimSpace(count), 1, 100000)
	if err != nil {
		return ratelimit.Limit{}, err
	}
	d, err := parseDuration(strings.TrimSpace(period), time.Second, 7*24*time.Hour)
	if err != nil {
		return ratelimit.Limit{}, err
	}
	return ratelimit.Limit{Rate: int(n), Period: d, Burst: int(n)}, nil
}

func parseInt(raw string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", raw)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d-%d", n, lo, hi)
	}
	return n, nil
}

func parseDuration(raw string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 5m", raw)
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%s is outside %s-%s", d, lo, hi)
	}
	return d, nil
}

type lines []error

func (l lines) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n  ")
}

func (l lines) Unwrap() []error { return l }

func joinLines(errs []error) error { return lines(errs) }
