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

// Report is the body of GET /health.
type Report struct {
	Healthy  bool        `json:"healthy"`
	Database Check       `json:"database"`
	Redis    Check       `json:"redis"`
	Memory   MemoryCheck `json:"memory"`
	Uptime   float64     `json:"uptime"` // seconds
}

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
	r.Healthy = r.Database.Status == "up" && r.Redis.Status != "down" && r.Memory.Status == "ok"
	return r
}

// Ready reports whether the process can serve traffic: its database and Redis answer.
func (h *Health) Ready(ctx context.Context) (bool, Report) {
	r := h.Check(ctx)
	return r.Database.Status == "up" && r.Redis.Status != "down", r
}
