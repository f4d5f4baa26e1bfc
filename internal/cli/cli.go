// Package cli parses vibecoder's command line and runs its subcommands: serve,
// worker, migrate, the admin commands (user create, apikey create) and version.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/audit"
	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

const usage = `vibecoder — a self-hostable backend for AI coding agents

Usage:
  vibecoder serve                     run the API and dashboard (embedded SQLite unless DATABASE_URL is set)
  vibecoder serve                     (VIBECODER_WORKERS=false: API only, no background jobs)
  vibecoder worker                    work background jobs only (no HTTP); run any number against PostgreSQL
  vibecoder migrate                   apply database migrations and exit
  vibecoder user create --email E [--name N] [--admin] [--password-stdin]
                                      create an account; without --password-stdin a random password is printed once
  vibecoder user limits --email E [--rpm N] [--tpm N] [--budget USD] [--clear]
                                      set a user's own LLM limits (requests/min, tokens/min, monthly budget)
  vibecoder apikey create --email E --name N
                                      create an API key for a user and print it once
  vibecoder version                   print the version
  vibecoder help                      show this help

Configuration comes from the environment (DATABASE_URL, REDIS_URL, VIBECODER_DATA_DIR,
VIBECODER_ADDR, LOG_LEVEL, ...); see the README's configuration table.
`

// env bundles a command's inputs and outputs.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = e.serve(rest)
	case "worker":
		err = e.worker(rest)
	case "migrate":
		err = e.migrate(rest)
	case "user":
		err = e.user(rest)
	case "apikey":
		err = e.apikey(rest)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "vibecoder", app.Version)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "vibecoder: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "vibecoder: %v\n", err)
			return 2
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vibecoder: %s\n", printable(err, getenv))
		return 1
	}
	return 0
}

// printable is err's text redacted as a log line is: a failure to start can quote
// what it failed on (a connection string, an upstream's answer).
func printable(err error, getenv func(string) string) string {
	cfg, _ := config.Load(getenv) // invalid: no configured secrets, the patterns still apply
	return observe.NewRedactor(cfg.Secrets()).Redact(err.Error())
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// flushTimeout bounds each flush on the way out: spans, then shipped log lines.
const flushTimeout = 5 * time.Second

// setup loads the configuration and builds what every command shares: the logger,
// which writes JSON lines to stderr and, with LOGTAIL_SOURCE_TOKEN set, ships them to
// Logtail, both behind the one redactor; and the tracer provider (a no-op unless
// OTEL_EXPORTER_OTLP_ENDPOINT is set). The caller defers tel.close() before anything
// that logs, so that it runs after the last line.
func (e env) setup() (_ config.Config, _ *slog.Logger, tel *telemetry, _ error) {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	red := observe.NewRedactor(cfg.Secrets())
	// Every line to stderr goes through one buffer, which gathers the lines of
	// requests in flight (the access log) into few writes; close flushes it last.
	tel = &telemetry{stderr: observe.NewLogBuffer(e.stderr, 0)}
	tel.local = observe.NewLogger(tel.stderr, cfg.LogLevel, red)
	log := tel.local
	if cfg.LogtailToken != "" {
		tel.shipper, err = observe.NewShipper(observe.ShipperConfig{URL: cfg.LogtailURL, Token: cfg.LogtailToken,
			// Not through log: a failing shipper must not feed itself.
			OnError: func(err error) { tel.local.Warn("log shipping", slog.Any("error", err)) },
		})
		if err != nil {
			return cfg, nil, nil, err
		}
		log = observe.NewLogger(io.MultiWriter(tel.shipper, tel.stderr), cfg.LogLevel, red)
	}
	tel.tracer, tel.shutdownTracing, err = observe.NewTracing(context.Background(), cfg.OTelEndpoint, cfg.OTelServiceName, app.Version, red)
	if err != nil {
		tel.close()
		return cfg, nil, nil, err
	}
	// Libraries that print with the log package (OpenTelemetry's export errors among
	// them) go through the same redaction and shipping.
	slog.SetDefault(log)
	return cfg, log, tel, nil
}

// sampleAllocations turns the runtime's sampling of allocations off unless the
// process serves profiles (VIBECODER_PPROF_ADDR): nothing else reads the samples,
// and each new call stack sampled is kept for the life of the process, with a
// table of buckets that under load grows resident by a megabyte or two
// (docs/BENCHMARKS.md, Gateway at the floor, resident set).
func sampleAllocations(cfg config.Config) {
	if cfg.PprofAddr == "" {
		runtime.MemProfileRate = 0
	}
}

// telemetry is a command's log shipping and tracing.
type telemetry struct {
	stderr          *observe.LogBuffer   // in front of stderr
	local           *slog.Logger         // stderr only, for the shipper's own troubles
	shipper         *observe.Shipper     // nil unless LOGTAIL_SOURCE_TOKEN is set
	tracer          trace.TracerProvider // a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set
	shutdownTracing func(context.Context) error
}

// close flushes the spans, then the shipped log lines, each within flushTimeout,
// then the lines still buffered for stderr.
func (t *telemetry) close() {
	defer t.stderr.Close()
	if t.shutdownTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		if err := t.shutdownTracing(ctx); err != nil {
			t.local.Warn("tracing: flush on shutdown", slog.Any("error", err))
		}
		cancel()
	}
	if t.shipper != nil {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		err := t.shipper.Close(ctx)
		cancel()
		if st := t.shipper.Stats(); err != nil || st.Dropped > 0 {
			t.local.Warn("log shipping stopped with lines dropped", slog.Uint64("shipped", st.Shipped),
				slog.Uint64("dropped", st.Dropped), slog.Uint64("failed_batches", st.FailedBatches), slog.Any("error", err))
		}
	}
}

func (e env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func (e env) serve(args []string) error {
	fs := e.flags("serve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, tel, err := e.setup()
	if err != nil {
		return err
	}
	defer tel.close()
	sampleAllocations(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Requests and jobs run in contexts derived from this one: StartSpan finds the
	// tracer provider there.
	ctx = observe.WithTracerProvider(ctx, tel.tracer)
	ctx = observe.WithLogBuffer(ctx, tel.stderr)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("close", slog.Any("error", err))
		}
		log.Info("stopped")
	}()
	return a.Serve(ctx)
}

func (e env) worker(args []string) error {
	if err := e.flags("worker").Parse(args); err != nil {
		return err
	}
	cfg, log, tel, err := e.setup()
	if err != nil {
		return err
	}
	defer tel.close()
	sampleAllocations(cfg)
	cfg.Workers = true
	if cfg.Embedded() {
		log.Warn("a separate worker on the embedded SQLite database shares its single writer with the server; " +
			"for several processes use PostgreSQL (DATABASE_URL)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = observe.WithTracerProvider(ctx, tel.tracer)
	ctx = observe.WithLogBuffer(ctx, tel.stderr)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.RunWorkers(ctx)
}

func (e env) migrate(args []string) error {
	if err := e.flags("migrate").Parse(args); err != nil {
		return err
	}
	cfg, log, tel, err := e.setup()
	if err != nil {
		return err
	}
	defer tel.close()
	st, err := app.OpenStore(context.Background(), cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(e.stdout, "%s database is up to date\n", st.Dialect())
	return nil
}

// withAuth opens the store and the auth service for an admin command, with a recorder
// for its audit entry.
func (e env) withAuth(fn func(ctx context.Context, st store.Store, svc *auth.Service, rec audit.Recorder) error) error {
	cfg, log, tel, err := e.setup()
	if err != nil {
		return err
	}
	defer tel.close()
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := auth.New(st, log, auth.Config{SessionTTL: cfg.SessionTTL})
	if err != nil {
		return err
	}
	return fn(ctx, st, svc, audit.New(st, log))
}

// recordAdmin records an admin command. The actor is anonymous (the operator at the
// console has no account); the operating-system user is kept when known.
func (e env) recordAdmin(ctx context.Context, rec audit.Recorder, action, targetType, targetID string, meta map[string]any) {
	meta["via"] = "cli"
	if u := e.getenv("USER"); u != "" {
		meta["os_user"] = u
	}
	rec.Record(ctx, audit.Entry{Action: action, TargetType: targetType, TargetID: targetID, Metadata: meta})
}

func (e env) user(args []string) error {
	if len(args) > 0 && args[0] == "limits" {
		return e.userLimits(args[1:])
	}
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: vibecoder user create --email E [--name N] [--admin] [--password-stdin]\n       vibecoder user limits --email E [--rpm N] [--tpm N] [--budget USD] [--clear]"}
	}
	fs := e.flags("user create")
	email := fs.String("email", "", "email address (required)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "make the user an administrator")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || !strings.Contains(*email, "@") {
		return usageError{"user create: --email with a valid address is required"}
	}
	password := ""
	generated := false
	if *pwStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if len(password) < 8 {
			return usageError{"user create: the password must be at least 8 characters"}
		}
	} else {
		password = auth.NewSessionToken()[:24]
		generated = true
	}
	return e.withAuth(func(ctx context.Context, _ store.Store, svc *auth.Service, rec audit.Recorder) error {
		u, err := svc.Signup(ctx, *email, *name, password, *admin)
		if err != nil {
			return err
		}
		e.recordAdmin(ctx, rec, audit.ActionAdminUser, "user", u.ID.String(),
			map[string]any{"email": u.Email, "admin": u.IsAdmin, "generated_password": generated})
		fmt.Fprintf(e.stdout, "created user %s (%s)%s\n", u.Email, u.ID, map[bool]string{true: " with admin rights"}[u.IsAdmin])
		if generated {
			fmt.Fprintf(e.stdout, "password (shown once): %s\n", password)
		}
		return nil
	})
}

func (e env) apikey(args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: vibecoder apikey create --email E --name N"}
	}
	fs := e.flags("apikey create")
	email := fs.String("email", "", "the owner's email (required)")
	name := fs.String("name", "cli", "a name to recognise the key by")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"apikey create: --email is required"}
	}
	return e.withAuth(func(ctx context.Context, st store.Store, svc *auth.Service, rec audit.Recorder) error {
		u, err := st.GetUserByEmail(ctx, auth.NormalizeEmail(*email))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user with email %s", *email)
		}
		if err != nil {
			return err
		}
		key, k, err := svc.CreateAPIKey(ctx, u.ID, *name)
		if err != nil {
			return err
		}
		e.recordAdmin(ctx, rec, audit.ActionAdminAPIKey, "apikey", k.ID.String(),
			map[string]any{"user_id": u.ID.String(), "name": k.Name, "prefix": k.Prefix})
		fmt.Fprintf(e.stderr, "created API key %q (%s) for %s; it is shown once:\n", k.Name, k.ID, u.Email)
		fmt.Fprintln(e.stdout, key)
		return nil
	})
}

func (e env) userLimits(args []string) error {
	fs := e.flags("user limits")
	email := fs.String("email", "", "the user's email (required)")
	rpm := fs.Int("rpm", -1, "LLM requests per minute (unset: server default)")
	tpm := fs.Int("tpm", -1, "LLM tokens per minute (unset: server default; 0: no limit)")
	budget := fs.Float64("budget", -1, "monthly LLM budget in USD (unset: server default; 0: none)")
	clear := fs.Bool("clear", false, "remove the user's own limits (back to the server defaults)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"user limits: --email is required"}
	}
	if *rpm == 0 {
		return usageError{"user limits: --rpm must be at least 1"}
	}
	return e.withAuth(func(ctx context.Context, st store.Store, _ *auth.Service, rec audit.Recorder) error {
		u, err := st.GetUserByEmail(ctx, auth.NormalizeEmail(*email))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user with email %s", *email)
		}
		if err != nil {
			return err
		}
		l := &store.UserLimits{UserID: u.ID}
		if !*clear {
			if cur, err := st.GetUserLimits(ctx, u.ID); err == nil {
				l = cur
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if *rpm > 0 {
				l.RequestsPerMinute = rpm
			}
			if *tpm >= 0 {
				l.TokensPerMinute = tpm
			}
			if *budget >= 0 {
				l.MonthlyBudgetUSD = budget
			}
		}
		if err := st.SetUserLimits(ctx, l); err != nil {
			return err
		}
		e.recordAdmin(ctx, rec, audit.ActionAdminLimits, "user", u.ID.String(), map[string]any{"cleared": *clear,
			"requests_per_minute": l.RequestsPerMinute, "tokens_per_minute": l.TokensPerMinute, "monthly_budget_usd": l.MonthlyBudgetUSD})
		show := func(p *int) string {
			if p == nil {
				return "default"
			}
			return fmt.Sprint(*p)
		}
		b := "default"
		if l.MonthlyBudgetUSD != nil {
			b = gateway.USD(*l.MonthlyBudgetUSD)
		}
		fmt.Fprintf(e.stdout, "limits for %s: %s requests/min, %s tokens/min, budget %s (running servers pick this up within 30s)\n",
			u.Email, show(l.RequestsPerMinute), show(l.TokensPerMinute), b)
		return nil
	})
}
