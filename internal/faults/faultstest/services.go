package faultstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// Redis is a redis-server of the test's own, on a free port, with no persistence:
// Kill loses everything in it, as a crashed cache would.
type Redis struct {
	// Addr is 127.0.0.1:port; URL is redis://Addr/0.
	Addr, URL string

	t    testing.TB
	bin  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a private redis-server, stopped when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server", "Redis (Debian: apt-get install redis-server)")
	}
	addr := FreeAddr(t)
	r := &Redis{Addr: addr, URL: "redis://" + addr + "/0", t: t, bin: bin}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Start starts the server (again) on its port and waits until it accepts connections.
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatal("redis-server is already running")
	}
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.t.TempDir(), "--logfile", "")
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	if err := waitDial(r.Addr, 10*time.Second, done); err != nil {
		r.t.Fatalf("redis-server on %s: %v\n%s", r.Addr, err, out.String())
	}
}

// Kill ends the server with SIGKILL (a crash: clients see their connections reset and
// new ones refused) and waits for it. Killing a stopped server does nothing.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// waitDial waits until addr accepts a TCP connection, or timeout passes, or exited is
// closed (the server died).
func waitDial(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting connections")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Postgres is a PostgreSQL cluster of the test's own (initdb in a temporary
// directory, trust authentication, a free port), started and stopped with pg_ctl.
// Running as root, as CI does, its programs run as the postgres OS user (initdb
// refuses root).
type Postgres struct {
	// Addr is 127.0.0.1:port; URL connects to the postgres database as the
	// superuser postgres.
	Addr, URL string

	t       testing.TB
	bin     string // directory of initdb and pg_ctl
	dir     string // data directory (and socket directory)
	asUser  []string
	running bool
	mu      sync.Mutex
}

// StartPostgres creates and starts a private cluster, stopped and removed when the
// test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		Missing(t, "initdb and pg_ctl (/usr/lib/postgresql/*/bin or PATH)", "PostgreSQL (Debian: apt-get install postgresql)")
	}
	parent := "" // os.TempDir()
	if os.Geteuid() == 0 {
		parent = "/tmp" // the postgres user must reach it; root's TMPDIR may be private
	}
	root, err := os.MkdirTemp(parent, "vibecoder-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	p := &Postgres{t: t, bin: bin, dir: filepath.Join(root, "data")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Missing(t, "the postgres OS user (initdb refuses to run as root)", "PostgreSQL's server package, which creates it")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			Missing(t, "runuser (to run initdb as postgres)", "util-linux")
		}
		p.asUser = []string{runuser, "-u", "postgres", "--"}
	}
	addr := FreeAddr(t)
	p.Addr = addr
	p.URL = "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	if out, err := p.command("initdb", "-D", p.dir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(func() { p.stop("immediate") })
	return p
}

// postgresBin finds the directory holding initdb and pg_ctl: the newest
// /usr/lib/postgresql/*/bin (Debian), else wherever PATH has initdb.
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (p *Postgres) command(prog string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, p.asUser...), append([]string{filepath.Join(p.bin, prog)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Dir(p.dir)
	return cmd
}

// Start starts the server (again) and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	_, port, _ := net.SplitHostPort(p.Addr)
	opts := strings.Join([]string{"-p", port, "-k", filepath.Dir(p.dir), "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"}, " ")
	if out, err := p.command("pg_ctl", "-D", p.dir, "-o", opts, "-l", filepath.Join(filepath.Dir(p.dir), "log"),
		"-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(p.dir), "log"))
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	p.running = true
}

// Stop shuts the server down (pg_ctl -m fast: sessions are terminated, new
// connections refused) and waits until it has.
func (p *Postgres) Stop() {
	p.t.Helper()
	if err := p.stop("fast"); err != nil {
		p.t.Fatal(err)
	}
}

// Crash stops the server without a clean shutdown (pg_ctl -m immediate), as a power
// cut or an OOM kill would; Start recovers it.
func (p *Postgres) Crash() {
	p.t.Helper()
	if err := p.stop("immediate"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Postgres) stop(mode string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return nil
	}
	if out, err := p.command("pg_ctl", "-D", p.dir, "-m", mode, "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	p.running = false
	return nil
}

// NewDatabase creates an empty database owned by an ordinary role (row-level security
// applies to it, as in production) and returns its URL. Each call makes a new one.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatalf("connect to the private cluster: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE 'vibecoder%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("vibecoder%d", n+1)
	for _, sql := range []string{
		"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vibecoder') THEN CREATE ROLE vibecoder LOGIN; END IF; END$$",
		"CREATE DATABASE " + name + " OWNER vibecoder",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return "postgres://vibecoder@" + p.Addr + "/" + name + "?sslmode=disable"
}

// AsSuperuser returns url (of a database of this cluster) connecting as the superuser
// postgres, which row-level security does not hide rows from: the test's own view.
func (p *Postgres) AsSuperuser(url string) string {
	return strings.Replace(url, "postgres://vibecoder@", "postgres://postgres@", 1)
}

// Query runs a query returning one row on the database at url and scans it into
// dest. Use AsSuperuser's URL to see every tenant's rows.
func Query(t testing.TB, url, sql string, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
