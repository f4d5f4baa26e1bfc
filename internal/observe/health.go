package observe

import (
	"context"
	"runtime"
	"runtime/metrics"
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
// attention: memory, disk getting low, jobs waiting with no worker), down (cannot
// serve: the database or a configured Redis is unreachable, or the disk is full).
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded"
	StatusDown     = "down"
)

// Report is the body of GET /health.
type Report struct {
	Healthy  bool        `json:"healthy"` // status is not down
	Status   string      `json:"status"`
	Database Check       `json:"database"`
	Redis    Check       `json:"redis"`
	Jobs     JobsCheck   `json:"jobs"`
	Disk     DiskCheck   `json:"disk"`
	Memory   MemoryCheck `json:"memory"`
	Uptime   float64     `json:"uptime"` // seconds
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
}

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
	return &Health{started: time.Now(), dialect: dialect, database: database, redis: redis, memLimit: limit}
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

// Check runs every check.
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
	r.Disk = checkDisk(h.diskPath)
	switch {
	case r.Database.Status != "up" || r.Redis.Status == "down" || r.Disk.Status == "critical":
		r.Status = StatusDown
	case r.Memory.Status != "ok" || r.Disk.Status == "low" || r.Jobs.Status == "degraded":
		r.Status = StatusDegraded
	default:
		r.Status = StatusOK
	}
	r.Healthy = r.Status != StatusDown
	return r
}

// Ready reports whether the process can serve traffic: it is not down.
func (h *Health) Ready(ctx context.Context) (bool, Report) {
	r := h.Check(ctx)
	return r.Status != StatusDown, r
}
