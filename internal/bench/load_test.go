//go:build unix

package bench

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// run is the outcome of one load phase: every request's latency, sorted, the phase's
// wall-clock time, and the CPU time the whole process spent meanwhile (server, load
// generator and fake upstream together: they share the machine's cores).
type run struct {
	lat []time.Duration
	// own is every request's latency less the time the upstream spent serving it (its
	// fixed delay and that timer's jitter), sorted: what the path to the upstream and
	// back costs, without the upstream's own variance. Empty when no request went
	// upstream.
	own     []time.Duration
	elapsed time.Duration
	cpu     time.Duration
	// redis is the CPU time the Redis server used meanwhile (when the app uses one).
	redis time.Duration
	// others is the CPU time the rest of the machine (other processes, the hypervisor's
	// steal; not Redis) used meanwhile, or -1 when /proc/stat cannot be read. Anything
	// much above zero means the figures were taken on a busy machine.
	others time.Duration
}

// load sends n requests from c workers (a closed loop: each worker starts its next
// request when the previous one has answered) and times each one. do(i) sends request
// i, for a distinct i in [0, n), and returns how long the upstream spent serving it
// (0 when it did not go upstream). The load generator runs in the benchmark's process
// and so shares its CPUs with the server under test.
func load(n, c int, do func(i int) (time.Duration, error)) (run, error) {
	c = max(min(c, n), 1)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lats, owns := make([][]time.Duration, c), make([][]time.Duration, c)
	var wg sync.WaitGroup
	host0, cpu0, start := hostBusy(), cpuTime(), time.Now()
	for w := range c {
		lats[w] = make([]time.Duration, 0, n/c+1)
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				served, err := do(i)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("request %d: %w", i, err) })
					next.Store(int64(n)) // stop every worker
					return
				}
				lat := time.Since(t0)
				lats[w] = append(lats[w], lat)
				if served > 0 {
					owns[w] = append(owns[w], lat-served)
				}
			}
		})
	}
	wg.Wait()
	r := run{elapsed: time.Since(start), cpu: cpuTime() - cpu0, others: -1, lat: slices.Concat(lats...), own: slices.Concat(owns...)}
	if host1 := hostBusy(); host0 >= 0 && host1 >= 0 {
		r.others = max(host1-host0-r.cpu, 0)
	}
	slices.Sort(r.lat)
	slices.Sort(r.own)
	return r, firstErr
}

// pct returns the p-th percentile (0 < p ≤ 100) of the latencies by the nearest-rank
// method.
func (r run) pct(p float64) time.Duration { return percentile(r.lat, p) }

// ownPct is pct of the latencies less the upstream's service time.
func (r run) ownPct(p float64) time.Duration { return percentile(r.own, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func (r run) perSecond() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

// cpuPerRequest is the process's CPU time per request, in microseconds.
func (r run) cpuPerRequest() float64 { return micros(r.cpu) / float64(max(len(r.lat), 1)) }

// redisPerRequest is the Redis server's CPU time per request, in microseconds.
func (r run) redisPerRequest() float64 { return micros(r.redis) / float64(max(len(r.lat), 1)) }

// othersCores is how many cores, on average, the rest of the machine kept busy.
func (r run) othersCores() float64 { return r.others.Seconds() / r.elapsed.Seconds() }

// hostBusy is the CPU time every core of the machine has spent busy since boot (from
// /proc/stat, in clock ticks of 10 ms), or -1 where that is not available.
func hostBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return -1
		}
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// cpuTime is the CPU time (user and system) the process has used so far. getrusage is
// why these files build on Unix only.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// report attaches the run's percentiles to the benchmark result, each unit prefixed.
func report(b *testing.B, prefix string, r run) {
	b.ReportMetric(micros(r.pct(50)), prefix+"p50-µs")
	b.ReportMetric(micros(r.pct(99)), prefix+"p99-µs")
	if len(r.own) > 0 {
		b.ReportMetric(micros(r.ownPct(50)), prefix+"own-p50-µs")
	}
}

// reportOthers reports the busiest of the runs' machine contention.
func reportOthers(b *testing.B, runs ...run) {
	worst := 0.0
	for _, r := range runs {
		if r.others < 0 {
			return
		}
		worst = max(worst, r.othersCores())
	}
	b.ReportMetric(worst, "others-cores")
}
