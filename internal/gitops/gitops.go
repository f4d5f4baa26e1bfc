// Package gitops prepares the working copies agents change and publishes their work:
// isolated workspaces cloned from a project's repository, branches and commits made
// with the git CLI, pushes, and pull requests through GitHub's REST API, and snapshots
// (one commit's tree, read as an fs.FS) that outlive a workspace for the preview.
//
// A project's repository reaches git only as a Repository, which a RepoPolicy makes
// from its repo_url for a user: the policy owns the parsing, who may use which local
// path, which addresses a remote may have, and how git reaches it (pinned address,
// credentials). The indexer's clones go through the same runner (Sync, Run).
//
// Every git command runs with a timeout, never prompts, and ignores the system and
// user configuration (a developer's ~/.gitconfig, ~/.netrc or global excludes cannot
// change what is committed or pushed). A workspace keeps its repository outside the
// working copy, so code run in the working copy (the project's tests, in the sandbox)
// cannot plant hooks or configuration that git would later execute. Tokens travel to
// git through the environment, never on a command line, in a URL written to disk, in
// an error or in a log.
package gitops

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Errors callers can test for with errors.Is.
var (
	// ErrNothingToCommit means the working copy does not differ from the base commit.
	ErrNothingToCommit = errors.New("nothing to commit")
	// ErrPushRejected means the remote refused the push: the branch exists there with
	// other commits, or a hook or protection rule declined it.
	ErrPushRejected = errors.New("push rejected")
	// ErrInvalidBranch means a name git does not accept as a branch.
	ErrInvalidBranch = errors.New("invalid branch name")
)

// Defaults for Config.
const (
	DefaultTimeout        = 2 * time.Minute
	DefaultNetworkTimeout = 10 * time.Minute
	DefaultCloneDepth     = 1
)

// Config tunes how git is run.
type Config struct {
	// GitPath is the git executable (default "git", looked up in PATH).
	GitPath string
	// Timeout bounds one local git command: add, diff, commit (default 2 minutes).
	Timeout time.Duration
	// NetworkTimeout bounds a clone or a push (default 10 minutes).
	NetworkTimeout time.Duration
	// CloneDepth is how many commits of history a workspace cloned from a URL gets
	// (default 1; negative for the full history). A workspace cloned from a local
	// path always has the full history: a local clone copies objects, it does not
	// negotiate.
	CloneDepth int
}

func (c *Config) defaults() error {
	if c.GitPath == "" {
		c.GitPath = "git"
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.NetworkTimeout == 0 {
		c.NetworkTimeout = DefaultNetworkTimeout
	}
	if c.CloneDepth == 0 {
		c.CloneDepth = DefaultCloneDepth
	}
	if c.Timeout < 0 || c.NetworkTimeout < 0 {
		return errors.New("gitops: timeouts must be positive")
	}
	return nil
}

// Workspaces creates workspaces and runs git for them.
type Workspaces struct {
	log *slog.Logger
	cfg Config
}

// NewWorkspaces checks that git can be run and returns a Workspaces.
func NewWorkspaces(log *slog.Logger, cfg Config) (*Workspaces, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path, err := exec.LookPath(cfg.GitPath)
	if err != nil {
		return nil, fmt.Errorf("gitops: git executable: %w", err)
	}
	cfg.GitPath = path
	return &Workspaces{log: log, cfg: cfg}, nil
}

// gitRun is one git invocation.
type gitRun struct {
	dir     string        // working directory
	args    []string      // starting with the subcommand (global options go in global)
	global  []string      // options before the subcommand
	env     []string      // added to the sanitized environment
	stdin   io.Reader     //
	timeout time.Duration // 0: Config.Timeout
	secrets []string      // redacted from error messages
}

// run runs git and returns its standard output. Errors carry git's standard error,
// shortened and with secrets and URL credentials removed.
func (w *Workspaces) run(ctx context.Context, r gitRun) ([]byte, error) {
	timeout := r.timeout
	if timeout == 0 {
		timeout = w.cfg.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append(append(append([]string{}, r.global...), safetyOptions...), r.args...)
	cmd := exec.CommandContext(ctx, w.cfg.GitPath, args...)
	cmd.Dir = r.dir
	cmd.Env = append(gitEnv(os.Environ()), r.env...)
	cmd.Stdin = r.stdin
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	sub := r.args[0]
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(ctxErr, context.DeadlineExceeded) && context.Cause(ctx) == context.DeadlineExceeded {
				return nil, fmt.Errorf("git %s: timed out after %s: %w", sub, timeout, ctxErr)
			}
			return nil, fmt.Errorf("git %s: %w", sub, ctxErr)
		}
		msg := redact(strings.TrimSpace(stderr.String()), r.secrets)
		if len(msg) > 1000 {
			msg = msg[:1000] + "…"
		}
		if msg == "" {
			return nil, fmt.Errorf("git %s: %v", sub, err)
		}
		return nil, fmt.Errorf("git %s: %v: %s", sub, err, msg)
	}
	return stdout.Bytes(), nil
}

// safetyOptions turn off what could run a program or change behaviour from the
// repository side: hooks and a file-system monitor. The workspace's own configuration
// is ours, but a local project's repository (cloned from, pushed into) is not.
var safetyOptions = []string{
	"-c", "core.hooksPath=" + os.DevNull,
	"-c", "core.fsmonitor=false",
	"-c", "core.quotePath=false",
	"-c", "core.excludesFile=" + os.DevNull,
	"-c", "core.attributesFile=" + os.DevNull,
	"-c", "protocol.ext.allow=never",
}

// gitEnv returns the environment git runs with: the process environment without any
// GIT_* variable (a GIT_DIR or GIT_INDEX_FILE inherited from a hook would redirect
// every command) except an operator's SSH command, with the system and global
// configuration, HOME (~/.netrc, ~/.config/git) and every prompt turned off, and
// messages in English so they can be recognised.
func gitEnv(environ []string) []string {
	env := make([]string, 0, len(environ)+12)
	sshCommand := false
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GIT_SSH_COMMAND" || k == "GIT_SSH":
			sshCommand = true
		case strings.HasPrefix(k, "GIT_"), k == "HOME", k == "XDG_CONFIG_HOME", k == "SSH_ASKPASS",
			k == "LANG", k == "LANGUAGE", strings.HasPrefix(k, "LC_"), k == "EMAIL":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+os.DevNull,
		"XDG_CONFIG_HOME="+os.DevNull,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"LC_ALL=C",
	)
	if !sshCommand {
		// OpenSSH finds keys through the password database, not HOME, so SSH remotes
		// keep working; BatchMode makes a missing key an error instead of a prompt.
		env = append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	return env
}

// authEnv returns the environment that makes git send token to an HTTPS remote, and
// the strings to redact. The header is scoped to the remote's origin and passed
// through GIT_CONFIG_* variables, which neither a process listing nor .git/config
// shows. Other transports (ssh, file, paths) get nothing.
func authEnv(remote, token string) (env, secrets []string) {
	if token == "" {
		return nil, nil
	}
	secrets = []string{token}
	u, err := url.Parse(remote)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, secrets
	}
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	secrets = append(secrets, basic)
	prefix := u.Scheme + "://" + u.Host + "/"
	return []string{
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http." + prefix + ".extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic " + basic,
	}, secrets
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

var urlCredentials = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// redact removes secrets and the credentials of any URL in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return urlCredentials.ReplaceAllString(s, "${1}")
}

// RedactURL returns a remote URL without its user and password, for logs and for the
// clone's recorded origin.
func RedactURL(remote string) string {
	return urlCredentials.ReplaceAllString(remote, "${1}")
}

// CheckBranch reports whether git accepts name as a branch name.
func (w *Workspaces) CheckBranch(ctx context.Context, name string) error {
	if name == "" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("%w: %q", ErrInvalidBranch, name)
	}
	// Outside any repository, so "@{-1}" and friends cannot resolve to something else.
	if _, err := w.run(ctx, gitRun{dir: os.TempDir(), args: []string{"check-ref-format", "--branch", name}}); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %q", ErrInvalidBranch, name)
	}
	return nil
}
