package app

import (
	"context"
	"github.com/vibecoder/vibecoder/internal/audit"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/vibecoder/vibecoder/internal/buildcache"
	"github.com/vibecoder/vibecoder/internal/pipeline"
	"github.com/vibecoder/vibecoder/internal/sandbox"
)

// buildPipeline creates the agent pipeline: the sandbox (bubblewrap when installed,
// with the Go toolchain mounted read-only for Go projects), the Go build cache seed
// (built when the workers start), git workspaces and the step workers' dependencies.
func (a *App) buildPipeline(jobsCfg pipeline.Config) (*pipeline.Pipeline, error) {
	sbCfg := sandbox.Config{
		AllowUnsandboxed: a.Config.AllowUnsandboxed,
		DefaultTimeout:   a.Config.TestTimeout,
		MemoryBytes:      a.Config.SandboxMemory,
		MaxProcs:         a.Config.SandboxProcs,
		DiskBytes:        a.Config.SandboxDisk,
		MaxOutputBytes:   256 << 10,
		Env:              map[string]string{},
		Logger:           a.Log,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gt, goErr := sandbox.DetectGo(ctx, "")
	if goErr == nil {
		sbCfg.ExtraReadOnly = append(sbCfg.ExtraReadOnly, gt.ReadOnly()...)
		for k, v := range gt.Env("") {
			sbCfg.Env[k] = v
		}
	} else {
		a.Log.Info("no Go toolchain for sandboxed Go tests", slog.Any("error", goErr))
	}
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		return nil, err
	}
	var seeder *buildcache.Seeder
	if goErr == nil && len(a.Config.GoCacheSeed) > 0 {
		// The seed is compiled with the environment the test command gets (the sandbox's
		// and the pipeline's), outside the sandbox, into a directory no sandbox mounts.
		data, err := filepath.Abs(a.Config.DataDir)
		if err != nil {
			return nil, err
		}
		seeder, err = buildcache.New(buildcache.Config{Dir: filepath.Join(data, "gocache-seed"), Packages: a.Config.GoCacheSeed,
			Env: sb.Environ(pipeline.TestEnv(filepath.Join(data, "cache"))), Logger: a.Log})
		if err != nil {
			return nil, err
		}
	}
	iso := sb.Isolation()
	if a.Config.Workers { // only a process that runs tests needs the sandbox
		a.health.SetSandbox(iso.Sandboxed, a.Config.AllowUnsandboxed)
	}
	a.Log.Info("sandbox", slog.Bool("bubblewrap", iso.Sandboxed), slog.String("process_limit", iso.ProcessLimit),
		slog.String("memory_limit", iso.MemoryLimit), slog.String("user_namespaces", iso.UserNamespaces),
		slog.String("disk_limit", iso.DiskLimit), slog.Int64("disk_bytes", a.Config.SandboxDisk),
		slog.Bool("unsandboxed_allowed", a.Config.AllowUnsandboxed))
	return pipeline.New(pipeline.Deps{Store: a.Store, Queue: a.Jobs, Gateway: a.LLM, Index: a.Index, Sandbox: sb, Git: a.Git,
		Events: a.Events, Log: a.Log, Seeder: seeder, Audit: audit.New(a.Store, a.Log)}, jobsCfg), nil
}
