package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/riverqueue/river"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/pipeline"
	"github.com/vibecoder/vibecoder/internal/procmem"
	"github.com/vibecoder/vibecoder/internal/store"
)

// jobsConfig is the job system's configuration from the process configuration.
func (a *App) jobsConfig() (jobs.Config, error) {
	kinds := append([]jobs.Kind{index.JobKind}, pipeline.JobKinds...)
	queues, err := jobs.ParseQueues(kinds, a.Config.JobQueues)
	if err != nil {
		return jobs.Config{}, err
	}
	host, _ := os.Hostname()
	return jobs.Config{
		Kinds:        kinds,
		Queues:       queues,
		RescueAfter:  a.Config.JobRescueAfter,
		PollInterval: a.Config.JobPollInterval,
		SoftStop:     a.Config.JobSoftStop,
		ID:           host + "-" + time.Now().UTC().Format("150405.000"),
	}, nil
}

// buildJobs creates the job queue — working jobs when work is true — and registers
// the jobs API and event streams.
func (a *App) buildJobs(work bool) error {
	cfg, err := a.jobsConfig()
	if err != nil {
		return err
	}
	a.Hub = jobs.NewHub()
	a.Events = jobs.NewEvents(a.Store, a.Hub)
	// The queue exists before its workers, which enqueue on it; Connect then makes the
	// River client that works them.
	a.Jobs = jobs.NewQueue(a.Store, a.Log, cfg)
	pl, err := a.buildPipeline(pipeline.Config{
		DataDir:         a.Config.DataDir,
		MaxRepairs:      a.Config.MaxRepairs,
		MaxReviewRounds: a.Config.MaxReviewRounds,
		ContextTokens:   a.Config.CoderContext,
		TestTimeout:     a.Config.TestTimeout,
		Author:          gitops.Author{Name: a.Config.GitAuthorName, Email: a.Config.GitAuthorEmail},
		GitHubToken:     a.Config.GitHubToken,
		GitHubAPI:       a.Config.GitHubAPIURL,
		Jobs:            cfg,
		Repos:           a.Repos,
	})
	if err != nil {
		return err
	}
	var workers *river.Workers
	if work {
		workers = river.NewWorkers()
		river.AddWorker(workers, index.NewWorker(cfg, a.Store, a.Index, a.Events, a.Log))
		pl.Register(workers)
	}
	if err := a.Jobs.Connect(workers); err != nil {
		return err
	}
	a.health.SetJobs(func(ctx context.Context) (int, int64, error) {
		workers, err := a.Store.LiveWorkers(ctx, time.Now().Add(-heartbeatTTL))
		if err != nil {
			return 0, 0, err
		}
		counts, err := a.Jobs.CountActive(ctx)
		if err != nil {
			return workers, 0, err
		}
		var queued int64
		for _, byState := range counts {
			for state, n := range byState {
				if state != "running" {
					queued += n
				}
			}
		}
		return workers, queued, nil
	})
	a.Pipeline = pl
	a.HTTP.EnableRuns(pl)
	deps := httpapi.JobsDeps{Queue: a.Jobs, Hub: a.Hub, Poll: a.Config.JobPollInterval}
	if a.Index != nil {
		deps.EnqueueIndex = func(ctx context.Context, p *store.Project) (*jobs.Job, error) { return index.Enqueue(ctx, a.Jobs, p) }
	}
	if a.Store.Queue().EventsAcrossProcesses() {
		deps.Poll = max(deps.Poll, 5*time.Second) // NOTIFY wakes streams; polling is the fallback
	}
	a.HTTP.EnableJobs(deps)
	return nil
}

// StartBackground starts working jobs and, on PostgreSQL, listening for events from other
// processes. The returned function stops both: running jobs get the soft-stop timeout
// to finish, then are cancelled and return to the queue.
func (a *App) StartBackground(ctx context.Context) (func(), error) {
	lctx, cancelListen := context.WithCancel(context.WithoutCancel(ctx))
	go a.Store.Queue().WatchEvents(lctx, a.Hub.Notify)
	if err := a.Jobs.Start(context.WithoutCancel(ctx)); err != nil {
		cancelListen()
		return nil, err
	}
	if a.Jobs.Working() {
		a.Log.Info("working jobs", slog.Any("kinds", a.Jobs.Kinds()))
		go a.heartbeat(lctx, a.Jobs.Config().ID)
		if a.Pipeline.Seeder != nil {
			a.Pipeline.Seeder.Start(lctx) // in the background; stopped with the workers
		}
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), a.Jobs.Config().SoftStop+10*time.Second)
		defer cancel()
		if err := a.Jobs.Stop(sctx); err != nil {
			a.Log.Warn("stop job queue", slog.Any("error", err))
		}
		cancelListen()
		a.waitSeeder()
	}, nil
}

// waitSeeder waits (briefly) for a Go build cache seed still building when the
// workers stop: its build was cancelled with them, and nothing may go on writing
// into the data directory once the process has stopped.
func (a *App) waitSeeder() {
	if a.Pipeline == nil || a.Pipeline.Seeder == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := a.Pipeline.Seeder.Wait(ctx); err != nil && ctx.Err() != nil {
		a.Log.Warn("the go build cache seed's build did not stop within 15s")
	}
}

// RunWorkers works jobs until ctx is cancelled (vibecoder worker): no HTTP server.
func (a *App) RunWorkers(ctx context.Context) error {
	var ln net.Listener
	if a.Config.WorkerAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", a.Config.WorkerAddr); err != nil {
			return fmt.Errorf("listen on %s (VIBECODER_WORKER_ADDR): %w", a.Config.WorkerAddr, err)
		}
	}
	return a.RunWorkersListener(ctx, ln)
}

// RunWorkersListener is RunWorkers serving the operational endpoints (OpsHandler) on
// ln, or on nothing when ln is nil.
func (a *App) RunWorkersListener(ctx context.Context, ln net.Listener) error {
	stop, err := a.StartBackground(ctx)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return err
	}
	var srv *http.Server
	errc := make(chan error, 1)
	if ln != nil {
		srv = &http.Server{Handler: a.HTTP.OpsHandler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
		go func() { errc <- srv.Serve(ln) }()
		a.Log.Info("worker serving metrics and health", slog.String("addr", ln.Addr().String()))
	}
	a.Log.Info("worker running", slog.String("dialect", a.Store.Dialect()))
	procmem.TuneGC(os.Getenv)
	a.releaseStartupPagesSoon(ctx)
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("worker ops server: %w", err)
	}
	a.Log.Info("worker stopping")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	stop()
	return err
}

// heartbeatTTL is how long a worker process counts as alive after its last heartbeat.
const heartbeatTTL = 30 * time.Second

// heartbeat tells the database, every 5 seconds, that this process works jobs.
func (a *App) heartbeat(ctx context.Context, id string) {
	started := time.Now()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if err := a.Store.Heartbeat(ctx, id, started, time.Now()); err != nil && ctx.Err() == nil {
			a.Log.Warn("worker heartbeat", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
