package observe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func up(context.Context) error   { return nil }
func down(context.Context) error { return errors.New("connection refused") }

// TestHealthStatuses is the dependency table of docs/OPERATIONS.md ("Dependencies and
// readiness"), row by row: what each failing check does to the process's status and
// readiness, and that the report names it.
func TestHealthStatuses(t *testing.T) {
	jobs := func(w int, q int64, err error) JobsProbe {
		return func(context.Context) (int, int64, error) { return w, q, err }
	}
	disk := func(status string) func(string) DiskCheck {
		return func(string) DiskCheck { return DiskCheck{Status: status} }
	}
	for _, tc := range []struct {
		name    string
		dialect string
		db      Pinger
		redis   Pinger
		jobs    JobsProbe
		disk    func(string) DiskCheck
		sandbox func(h *Health)
		memHigh bool
		status  string
		named   string // the check the report names ("" for ok)
	}{
		{name: "all up, no redis", db: up, jobs: jobs(1, 5, nil), status: StatusOK},
		{name: "all up, redis", db: up, redis: up, status: StatusOK},
		{name: "database down", db: down, status: StatusDown, named: "database"},
		{name: "database down, redis down too", db: down, redis: down, status: StatusDown, named: "database"},
		{name: "redis down", db: up, redis: down, status: StatusDegraded, named: "redis"},
		{name: "disk low", db: up, disk: disk("low"), status: StatusDegraded, named: "disk"},
		{name: "disk critical, sqlite on it", dialect: "sqlite", db: up, disk: disk("critical"), status: StatusDown, named: "disk"},
		{name: "disk critical, postgres", dialect: "postgres", db: up, disk: disk("critical"), status: StatusDegraded, named: "disk"},
		{name: "jobs waiting, no worker", db: up, redis: up, jobs: jobs(0, 3, nil), status: StatusDegraded, named: "jobs"},
		{name: "no worker, nothing waiting", db: up, jobs: jobs(0, 0, nil), status: StatusOK},
		{name: "job check failing", db: up, jobs: jobs(0, 0, errors.New("boom")), status: StatusDegraded, named: "jobs"},
		{name: "sandbox missing", db: up, sandbox: func(h *Health) { h.SetSandbox(false, false) }, status: StatusDegraded, named: "sandbox"},
		{name: "unsandboxed, allowed", db: up, sandbox: func(h *Health) { h.SetSandbox(false, true) }, status: StatusOK},
		{name: "sandboxed", db: up, sandbox: func(h *Health) { h.SetSandbox(true, false) }, status: StatusOK},
		{name: "memory high", db: up, memHigh: true, status: StatusDegraded, named: "memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dialect := tc.dialect
			if dialect == "" {
				dialect = "sqlite"
			}
			h := NewHealth(dialect, tc.db, tc.redis)
			h.SetDisk(t.TempDir())
			if tc.disk != nil {
				h.statDisk = tc.disk
			}
			if tc.jobs != nil {
				h.SetJobs(tc.jobs)
			}
			if tc.sandbox != nil {
				tc.sandbox(h)
			}
			if tc.memHigh {
				h.memLimit = 1
			}
			r := h.Check(t.Context())
			if r.Status != tc.status || r.Healthy != (tc.status != StatusDown) {
				t.Fatalf("status %q healthy %v, want %q", r.Status, r.Healthy, tc.status)
			}
			if ready, _ := h.Ready(t.Context()); ready != (tc.status != StatusDown) {
				t.Fatalf("ready %v for %s", ready, tc.status)
			}
			switch tc.status {
			case StatusOK:
				if len(r.Down)+len(r.Degraded) > 0 {
					t.Errorf("ok, yet names down %v degraded %v", r.Down, r.Degraded)
				}
			case StatusDown:
				if !slices.Contains(r.Down, tc.named) {
					t.Errorf("down names %v, want %q", r.Down, tc.named)
				}
			case StatusDegraded:
				if !slices.Equal(r.Degraded, []string{tc.named}) || len(r.Down) > 0 {
					t.Errorf("degraded names %v (down %v), want [%s]", r.Degraded, r.Down, tc.named)
				}
			}
		})
	}
}

// TestHealthLogsChanges: a check going bad is logged once, as a warning naming it and
// its error, and its recovery once, as info.
func TestHealthLogsChanges(t *testing.T) {
	var buf bytes.Buffer
	redisUp := true
	h := NewHealth("postgres", up, func(context.Context) error {
		if redisUp {
			return nil
		}
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	})
	h.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	h.Check(t.Context())
	if buf.Len() != 0 {
		t.Fatalf("a healthy first check logged: %s", buf.String())
	}
	redisUp = false
	h.Check(t.Context())
	h.Check(t.Context())
	if got := strings.Count(buf.String(), `msg="health check failing" check=redis status=degraded`); got != 1 {
		t.Fatalf("want one warning naming redis, got %d:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), "connection refused") {
		t.Errorf("the warning does not carry the error:\n%s", buf.String())
	}
	redisUp = true
	h.Check(t.Context())
	h.Check(t.Context())
	if got := strings.Count(buf.String(), `msg="health check recovered" check=redis was=degraded`); got != 1 {
		t.Fatalf("want one recovery line, got %d:\n%s", got, buf.String())
	}
}

func TestDiskClassification(t *testing.T) {
	for _, tc := range []struct {
		free, total uint64
		want        string
	}{
		{50 << 30, 100 << 30, "ok"},
		{5 << 30, 100 << 30, "low"},
		{512 << 20, 2 << 30, "low"},
		{500 << 20, 100 << 30, "critical"},
		{50 << 20, 1 << 30, "critical"},
	} {
		if got := classifyDisk(DiskCheck{Status: "ok"}, tc.free, tc.total); got.Status != tc.want {
			t.Errorf("free %d of %d: %s, want %s", tc.free, tc.total, got.Status, tc.want)
		}
	}
	if d := checkDisk(t.TempDir()); d.Status == "" || d.FreeBytes == 0 {
		t.Fatalf("real disk check: %+v", d)
	}
}
