// Package app wires Vibe Coder's components together from the configuration: it opens
// the store for the selected mode (embedded SQLite or PostgreSQL), connects Redis when
// configured, builds the HTTP server and runs it until told to stop.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/pipeline"
	"github.com/vibecoder/vibecoder/internal/procmem"
	"github.com/vibecoder/vibecoder/internal/ratelimit"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/web"
)

// Version is the build's version, set with -ldflags "-X .../internal/app.Version=...".
var Version = "dev"

// App is a running Vibe Coder process's components.
type App struct {
	Config config.Config
	Log    *slog.Logger
	Store  store.Store
	Redis  *redis.Client // nil in embedded mode
	Auth   *auth.Service
	HTTP   *httpapi.Server
	LLM    *gateway.Gateway
	Jobs   *jobs.Queue
	Hub    *jobs.Hub
	Events *jobs.Events
	// Index indexes and searches repositories.
	Index    *index.Indexer
	Pipeline *pipeline.Pipeline
	// Repos is the repository policy every part uses (registration, index, pipeline);
	// Git runs git for the indexer and the pipeline.
	Repos *gitops.RepoPolicy
	Git   *gitops.Workspaces

	health *observe.Health
}

// OpenStore opens the database the configuration selects and applies pending
// migrations, the job queue's included, under the dialect's migration lock.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.Store, error) {
	var st store.Store
	if cfg.Embedded() {
		s, err := sqlite.Open(ctx, cfg.SQLitePath(), log)
		if err != nil {
			return nil, err
		}
		st = s
	} else {
		s, err := postgres.Open(ctx, cfg.DatabaseURL, log)
		if err != nil {
			return nil, err
		}
		st = s
	}
	n, err := st.Migrate(ctx)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate %s database: %w", st.Dialect(), err)
	}
	log.Info("database ready", slog.String("dialect", st.Dialect()), slog.Int("migrations_applied", n))
	return st, nil
}

// New builds every component. Close releases them.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: st, Repos: &gitops.RepoPolicy{LocalRoots: cfg.LocalRepoRoots,
		AllowPrivateRemotes: cfg.AllowPrivateRemotes, GitHubToken: cfg.GitHubToken}}
	if a.Git, err = gitops.NewWorkspaces(log, gitops.Config{}); err != nil {
		a.Close()
		return nil, err
	}
	var redisPing observe.Pinger
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		// Bounded waits everywhere: a Redis that stops answering must cost a request
		// milliseconds, not seconds. No automatic retries: a retried rate-limit call
		// could be counted twice.
		opt.ContextTimeoutEnabled = true
		opt.DialTimeout = 2 * time.Second
		opt.ReadTimeout = time.Second
		opt.WriteTimeout = time.Second
		opt.MaxRetries = -1
		// One dial per attempt (go-redis tries five): a Redis that drops packets
		// must cost a call one DialTimeout, not five.
		opt.DialerRetries = 1
		a.Redis = redis.NewClient(opt)
		// Redis down is degraded, not fatal, at start as later: the cache and the
		// limiters fail open and the client reconnects when it answers again. A
		// process that refused to start would turn a Redis restart into an outage.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = a.Redis.Ping(pctx).Err()
		cancel()
		if err != nil {
			log.Warn("Redis (REDIS_URL) does not answer; starting degraded: the LLM cache and rate limits fail open until it does",
				slog.Any("error", err))
		}
		redisPing = func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }
	}
	a.Auth, err = auth.New(st, log, AuthConfig(cfg, a.Redis))
	if err != nil {
		a.Close()
		return nil, err
	}
	health := observe.NewHealth(st.Dialect(), st.Ping, redisPing)
	health.SetDisk(cfg.DataDir)
	health.SetLogger(log)
	a.health = health
	a.HTTP = httpapi.New(st, a.Auth, health, log, httpapi.Config{
		MaxBodyBytes:  cfg.MaxBodyBytes,
		SecureCookies: cfg.SecureCookies,
		Version:       Version,
		Repos:         a.Repos,
		Tracer:        observe.TracerProviderFrom(ctx),
		LogBuffer:     observe.LogBufferFrom(ctx),
	})
	var cacheInfo func() httpapi.LLMCacheInfo
	a.LLM, cacheInfo, err = NewGateway(cfg, st, a.Redis, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.HTTP.EnableLLM(a.LLM, cacheInfo)
	ix, err := a.buildIndexer()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Index = ix
	a.HTTP.EnableSearch(ix)
	if err := a.buildJobs(cfg.Workers); err != nil {
		a.Close()
		return nil, err
	}
	previewKey, err := web.LoadPreviewKey(filepath.Join(cfg.DataDir, "preview.key"))
	if err != nil {
		a.Close()
		return nil, err
	}
	web.New(st, a.Auth, log, web.Config{SecureCookies: cfg.SecureCookies, Previews: a.Pipeline, PreviewKey: previewKey}).Register(a.HTTP.Handle)
	if err := a.enableMetrics(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// AuthConfig is the auth service's configuration: failed logins are counted in Redis
// when there is one, so every replica enforces one limit, and in process otherwise.
func AuthConfig(cfg config.Config, rdb *redis.Client) auth.Config {
	c := auth.Config{
		SessionTTL:      cfg.SessionTTL,
		HashConcurrency: cfg.HashConcurrency,
		HashWait:        cfg.HashWait,
		AccountLimit:    cfg.LoginAccountLimit,
		AddressLimit:    cfg.LoginIPLimit,
	}
	if c.HashWait == 0 {
		c.HashWait = -1 // configured as "do not wait"
	}
	if rdb != nil {
		c.Limiter = ratelimit.NewRedis(rdb, "vibecoder:login:")
	}
	return c
}

// Serve listens on the configured address until ctx is cancelled, then stops
// accepting, lets in-flight requests finish within the shutdown timeout, and returns.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.Config.Addr, err)
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener is Serve on an existing listener (tests pass one on a free port).
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.HTTP.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Shutdown waits for in-flight requests; event streams never finish on their own,
	// so they are told to end (with a final event) as soon as it starts.
	srv.RegisterOnShutdown(a.HTTP.Drain)
	go a.sweepSessions(ctx)
	if err := a.servePprof(ctx); err != nil {
		return err
	}
	stopJobs, err := a.StartBackground(ctx)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Log.Info("serving", slog.String("addr", ln.Addr().String()), slog.String("dialect", a.Store.Dialect()),
		slog.Bool("redis", a.Redis != nil), slog.String("version", Version))
	procmem.TuneGC(os.Getenv)
	a.releaseStartupPagesSoon(ctx)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", slog.Duration("timeout", a.Config.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	jobsDone := make(chan struct{})
	go func() { stopJobs(); close(jobsDone) }()
	defer func() { <-jobsDone }()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", a.Config.ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startupSettle is how long after the server starts its pages are given back a
// second time: the job system's services start on goroutines of their own and run
// their first rounds (River's elector, maintenance, producers and notifier; SQLite's
// statements prepared for them) meanwhile, faulting code and tables back in after the
// first release (11 MB of the executable resident at idle rather than 0, found when a
// change to the listener's start-up moved it later: docs/BENCHMARKS.md).
const startupSettle = 5 * time.Second

// releaseStartupPagesSoon gives back the executable's start-up pages now and once
// more when start-up has settled, unless ctx ends first.
func (a *App) releaseStartupPagesSoon(ctx context.Context) {
	twice(ctx, a.releaseStartupPages, startupSettle)
}

// twice calls f now and, on a goroutine of its own, once more after d unless ctx
// ends first.
func twice(ctx context.Context, f func(), d time.Duration) {
	f()
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			f()
		case <-ctx.Done():
		}
	}()
}

// releaseStartupPages gives back the executable's pages that only start-up used
// (procmem). Failing to is harmless: it is logged.
func (a *App) releaseStartupPages() {
	r, err := procmem.ReleaseStartupPages()
	if err != nil {
		a.Log.Warn("release start-up pages", slog.Any("error", err))
		return
	}
	a.Log.Debug("released start-up pages", slog.Int("mappings", r.Mappings), slog.Int64("resident_bytes", r.Bytes))
}

// sweepSessions deletes expired sessions every hour.
func (a *App) sweepSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.Store.DeleteExpiredSessions(ctx, store.Now()); err != nil && ctx.Err() == nil {
			a.Log.Warn("sweep expired sessions", slog.Any("error", err))
		} else if n > 0 {
			a.Log.Info("expired sessions removed", slog.Int64("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close releases the store and Redis.
func (a *App) Close() error {
	var errs []error
	if a.LLM != nil {
		a.LLM.Close() // flush usage rows while the store is still open
	}
	if a.Redis != nil {
		errs = append(errs, a.Redis.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}
