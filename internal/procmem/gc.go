package procmem

import (
	"runtime/debug"
	"strings"
)

// GCPercent is the garbage collector's target (GOGC) a server runs with when the
// environment sets none: the heap may grow to three times what is live rather than
// twice before a collection. A gateway's live heap is small (~10 MB) and nearly every
// byte it allocates is garbage within one request, so the collector's cost is
// proportional to how often it runs: 200 halves that, for ~10 MB more resident
// (docs/BENCHMARKS.md, issue 17: the collector was a tenth of a streamed call's CPU;
// RSS after 100,000 requests 41 -> 52 MB). GOGC, and GOMEMLIMIT, still rule when
// set.
const GCPercent = 200

// TuneGC sets the collector's target to GCPercent unless getenv("GOGC") names one,
// and returns the target in force.
func TuneGC(getenv func(string) string) int {
	if strings.TrimSpace(getenv("GOGC")) != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent
}
