package observe

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// Check is one dependency's state in a health report.
type Check struct {
	Status    string  `json:"status"` // up, down, not_configured
	Dialect   string  `json:"dialect,omitempty"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// MemoryCheck reports the process's memory against its soft limit.
type MemoryCheck struct {
	Status    string `json:"status"` // ok, high
	HeapBytes uint64 `json:"heap_bytes"`
	SysBytes  uint64 `json:"sys_bytes"`
	Limit     int64  `json:"limit_bytes,omitempty"`
}

// JobsCheck reports the background job system: live worker processes and queued jobs.
type JobsCheck struct {
	Status  string `json:"status"` // up, degraded (jobs waiting and no worker alive), down, not_configured
	Workers int    `json:"workers"`
	Queued  int64  `json:"queued"`
	Error   string `json:"error,omitempty"`
}

// DiskCheck reports free space where the data directory lives.
type DiskCheck struct {
	Status      string  `json:"status"` // ok, low, critical
	Path        string  `json:"path"`
	FreeBytes   uint64  `json:"free_bytes"`
	FreePercent float64 `json:"free_percent"`
	Error       string  `json:"error,omitempty"`
}

// Health statuses: ok (everything fine), degraded (serving, but something needs
// attention), down (cannot serve its traffic: not ready). Which dependency does what
// is decided in Check, and documented in docs/OPERATIONS.md ("Dependencies and
// readiness"):
//
//   - database unreachable: down.
//   - Redis (response cache, rate limiters) unreachable: degraded. The gateway fails
//     open (a miss, an admitted call), so requests keep working.
//   - disk critical: down when the database (SQLite) lives on it, else degraded;
//     disk low or unreadable: degraded.
//   - jobs waiting with no live worker, or the job check failing: degraded.
//   - sandbox missing on a process that works jobs (no bubblewrap and unsandboxed
//     runs not allowed): degraded; test runs fail until it is installed.
//   - memory near its limit: degraded.
//
// LLM providers and log shipping are not checked: an upstream outage is answered
// per request (and counted), and shipping drops lines rather than block.
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded"
	StatusDown     = "down"
)

// SandboxCheck reports the sandbox that runs project tests.
type SandboxCheck struct {
	// Status is up (bubblewrap), unsandboxed (no bubblewrap; VIBECODER_ALLOW_UNSANDBOXED
	// lets tests run without it), missing (no bubblewrap, test runs fail), or
	// not_configured (this process works no jobs).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Report is the body of GET /health.
type Report struct {
	Healthy  bool         `json:"healthy"` // status is not down
	Status   string       `json:"status"`
	Database Check        `json:"database"`
	Redis    Check        `json:"redis"`
	Jobs     JobsCheck    `json:"jobs"`
	Disk     DiskCheck    `json:"disk"`
	Sandbox  SandboxCheck `json:"sandbox"`
	Memory   MemoryCheck  `json:"memory"`
	Uptime   float64      `json:"uptime"` // seconds
	// Down and Degraded name the checks that make the status down or degraded.
	Down     []string `json:"down,omitempty"`
	Degraded []string `json:"degraded,omitempty"`
}

// JobsProbe reports live worker processes and queued jobs.
type JobsProbe func(ctx context.Context) (workers int, queued int64, err error)

// Pinger is something that answers a ping: the store, a Redis client.
type Pinger func(ctx context.Context) error

// Health runs the health checks.
type Health struct {
	started  time.Time
	dialect  string
	database Pinger
	redis    Pinger // nil when Redis is not configured
	// memLimit is the heap size above which memory is reported "high".
	memLimit uint64
	jobs     JobsProbe // nil: not configured
	diskPath string    // "": not checked
	statDisk func(path string) DiskCheck
	sandbox  SandboxCheck
	log      *slog.Logger

	mu   sync.Mutex
	last map[string]string // each check's last status (logLevel), to log changes
}

// SetSandbox adds the sandbox's check: sandboxed says whether bubblewrap runs the
// tests, allowUnsandboxed whether tests may run without it. A process that works no
// jobs leaves it unset.
func (h *Health) SetSandbox(sandboxed, allowUnsandboxed bool) {
	switch {
	case sandboxed:
		h.sandbox = SandboxCheck{Status: "up"}
	case allowUnsandboxed:
		h.sandbox = SandboxCheck{Status: "unsandboxed", Error: "bubblewrap is not installed; tests run unsandboxed (VIBECODER_ALLOW_UNSANDBOXED)"}
	default:
		h.sandbox = SandboxCheck{Status: "missing", Error: "bubblewrap is not installed: test runs fail until it is (or VIBECODER_ALLOW_UNSANDBOXED=true)"}
	}
}

// SetLogger makes Check log each change of a check's state: a warning when it goes
// degraded or down (with the error), an info line when it is ok again.
func (h *Health) SetLogger(log *slog.Logger) { h.log = log }

// SetJobs adds the job system's check.
func (h *Health) SetJobs(p JobsProbe) { h.jobs = p }

// SetDisk adds a free-space check of the file system holding path.
func (h *Health) SetDisk(path string) { h.diskPath = path }

func (h *Health) checkJobs(ctx context.Context) JobsCheck {
	if h.jobs == nil {
		return JobsCheck{Status: "not_configured"}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	w, q, err := h.jobs(ctx)
	c := JobsCheck{Status: "up", Workers: w, Queued: q}
	switch {
	case err != nil:
		c.Status, c.Error = "degraded", err.Error()
	case w == 0 && q > 0:
		c.Status, c.Error = "degraded", "jobs are waiting and no worker process is alive"
	}
	return c
}

// NewHealth returns a Health for the database (named by dialect) and, when configured, Redis.
func NewHealth(dialect string, database, redis Pinger) *Health {
	limit := uint64(2 << 30)
	if l := debugMemoryLimit(); l > 0 && l < int64(limit) {
		limit = uint64(l)
	}
	return &Health{started: time.Now(), dialect: dialect, database: database, redis: redis, memLimit: limit,
		statDisk: checkDisk, sandbox: SandboxCheck{Status: "not_configured"}}
}

func debugMemoryLimit() int64 {
	s := []metrics.Sample{{Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		v := s[0].Value.Uint64()
		if v < 1<<62 {
			return int64(v)
		}
	}
	return 0
}

func ping(ctx context.Context, p Pinger) Check {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err := p(ctx)
	c := Check{Status: "up", LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		c.Status, c.Error = "down", err.Error()
	}
	return c
}

// Check runs every check and classifies the process (see the statuses).
func (h *Health) Check(ctx context.Context) Report {
	r := Report{Uptime: time.Since(h.started).Seconds()}
	r.Database = ping(ctx, h.database)
	r.Database.Dialect = h.dialect
	if h.redis == nil {
		r.Redis = Check{Status: "not_configured"}
	} else {
		r.Redis = ping(ctx, h.redis)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.Memory = MemoryCheck{Status: "ok", HeapBytes: ms.HeapAlloc, SysBytes: ms.Sys, Limit: int64(h.memLimit)}
	if ms.HeapAlloc > h.memLimit*9/10 {
		r.Memory.Status = "high"
	}
	r.Jobs = h.checkJobs(ctx)
	r.Disk = h.statDisk(h.diskPath)
	r.Sandbox = h.sandbox

	// Each check's effect on the process; the order is the report's.
	diskDown := h.dialect == "sqlite" // the database lives on that disk
	for _, c := range []struct {
		name          string
		down, degrade bool
		err           string
	}{
		{"database", r.Database.Status != "up", false, r.Database.Error},
		{"redis", false, r.Redis.Status == "down", r.Redis.Error},
		{"disk", diskDown && r.Disk.Status == "critical", r.Disk.Status != "ok", r.Disk.Error},
		{"jobs", false, r.Jobs.Status == "degraded", r.Jobs.Error},
		{"sandbox", false, r.Sandbox.Status == "missing", r.Sandbox.Error},
		{"memory", false, r.Memory.Status != "ok", ""},
	} {
		switch {
		case c.down:
			r.Down = append(r.Down, c.name)
			h.logChange(c.name, StatusDown, c.err)
		case c.degrade:
			r.Degraded = append(r.Degraded, c.name)
			h.logChange(c.name, StatusDegraded, c.err)
		default:
			h.logChange(c.name, StatusOK, "")
		}
	}
	switch {
	case len(r.Down) > 0:
		r.Status = StatusDown
	case len(r.Degraded) > 0:
		r.Status = StatusDegraded
	default:
		r.Status = StatusOK
	}
	r.Healthy = r.Status != StatusDown
	return r
}

// logChange logs a check whose state differs from the last Check's. The first
// Check logs only what is not ok.
func (h *Health) logChange(name, status, errText string) {
	if h.log == nil {
		return
	}
	h.mu.Lock()
	if h.last == nil {
		h.last = map[string]string{}
	}
	prev, seen := h.last[name]
	h.last[name] = status
	h.mu.Unlock()
	if prev == status || (!seen && status == StatusOK) {
		return
	}
	if status == StatusOK {
		h.log.Info("health check recovered", slog.String("check", name), slog.String("was", prev))
		return
	}
	h.log.Warn("health check failing", slog.String("check", name), slog.String("status", status), slog.String("error", errText))
}

// Ready reports whether the process can serve traffic: it is not down.
func (h *Health) Ready(ctx context.Context) (bool, Report) {
	r := h.Check(ctx)
	return r.Status != StatusDown, r
}
