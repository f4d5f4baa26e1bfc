package gitops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// remote runs a git command that talks to repo: with the repository's options,
// environment and credentials. A remote's failure that is not a refusal by a git
// server that answered (a rejected push, a missing branch) becomes the one
// ErrRepoUnreachable error, whatever refused, reset or timed out: what git said is
// logged for the operator, not returned to the user, so that error text cannot tell
// one port or host from another.
func (w *Workspaces) remote(ctx context.Context, repo *Repository, r gitRun) ([]byte, error) {
	global, env, secrets := repo.gitOptions()
	r.global = append(append([]string{}, global...), r.global...)
	r.env = append(r.env, env...)
	r.secrets = append(r.secrets, secrets...)
	out, err := w.run(ctx, r)
	if err == nil || ctx.Err() != nil {
		return out, err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "[rejected]") || strings.Contains(msg, "[remote rejected]"):
		return nil, fmt.Errorf("%w: %v", ErrPushRejected, err)
	case repo.Local(), strings.Contains(msg, "not found in upstream"), strings.Contains(msg, "couldn't find remote ref"):
		return nil, err
	}
	w.log.Warn("git could not reach a remote", slog.String("remote", repo.String()), slog.String("git", r.args[0]),
		slog.String("error", msg))
	return nil, unreachable(repo.String())
}

// Run runs a git command that does not reach a remote (rev-parse, ls-files) in dir,
// with the sanitised environment and the safety options, bounded by Config.Timeout,
// and returns its standard output. Leading "-c name=value" pairs are global options.
func (w *Workspaces) Run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	var global []string
	for len(args) >= 2 && args[0] == "-c" {
		global, args = append(global, args[0], args[1]), args[2:]
	}
	if len(args) == 0 {
		return nil, errors.New("git: no command")
	}
	return w.run(ctx, gitRun{dir: dir, global: global, args: args})
}

// Sync makes dir a shallow clone of repo at branch (the remote's default branch when
// empty or missing): cloned when dir has no repository yet, else fetched and reset,
// untracked files removed. timeout bounds the clone or fetch (Config.NetworkTimeout
// when 0). The clone's recorded origin carries no credentials.
func (w *Workspaces) Sync(ctx context.Context, repo *Repository, branch, dir string, timeout time.Duration) error {
	if repo == nil {
		return errors.New("sync: no repository")
	}
	if timeout <= 0 {
		timeout = w.cfg.NetworkTimeout
	}
	if branch != "" {
		if err := w.CheckBranch(ctx, branch); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	local := func(args ...string) error {
		_, err := w.run(ctx, gitRun{dir: dir, args: args})
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		if err := local("remote", "set-url", "origin", repo.String()); err != nil {
			return err
		}
		fetch := func(ref string) error {
			_, err := w.remote(ctx, repo, gitRun{dir: dir, timeout: timeout,
				args: []string{"fetch", "--quiet", "--depth", "1", "--no-tags", "--", repo.url(), ref}})
			return err
		}
		err := fetch(orDefault(branch, "HEAD"))
		if err != nil && branch != "" && ctx.Err() == nil && strings.Contains(err.Error(), "couldn't find remote ref") {
			err = fetch("HEAD")
		}
		if err != nil {
			return err
		}
		if err := local("reset", "--hard", "--quiet", "FETCH_HEAD"); err != nil {
			return err
		}
		return local("clean", "-ffdxq")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return err
	}
	// Clone beside the final place and rename, so a failed clone leaves nothing behind.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "clone-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	clone := func(branch string) error {
		args := []string{"clone", "--depth", "1", "--no-tags", "--quiet"}
		if branch != "" {
			args = append(args, "--branch", branch)
		}
		_, err := w.remote(ctx, repo, gitRun{dir: tmp, timeout: timeout, args: append(args, "--", repo.url(), "repo")})
		return err
	}
	err = clone(branch)
	if err != nil && branch != "" && ctx.Err() == nil && strings.Contains(err.Error(), "not found in upstream") {
		// The project's branch (often the default "main") is not on the remote: take the
		// remote's default branch rather than fail.
		w.log.Warn("branch not found on the remote; cloning its default branch", slog.String("branch", branch),
			slog.String("remote", repo.String()))
		_ = os.RemoveAll(filepath.Join(tmp, "repo"))
		err = clone("")
	}
	if err != nil {
		return err
	}
	if _, err := w.run(ctx, gitRun{dir: filepath.Join(tmp, "repo"), args: []string{"remote", "set-url", "origin", repo.String()}}); err != nil {
		return err
	}
	return os.Rename(filepath.Join(tmp, "repo"), dir)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
