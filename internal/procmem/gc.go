package procmem

import (
	"runtime/debug"
	"runtime/metrics"
	"strings"
)

// GCPercent is the garbage collector's target (GOGC) a server runs with when the
// environment sets none: the heap may grow to three times what is live rather than
// twice before a collection. A gateway's live heap is small (~10 MB) and nearly every
// byte it allocates is garbage within one request, so the collector's cost is
// proportional to how often it runs: 200 halves that, for ~10 MB more resident
// (docs/BENCHMARKS.md, issue 17: the collector was a tenth of a streamed call's CPU;
// RSS after 100,000 requests ~42 -> 48-50 MB). GOGC, and GOMEMLIMIT, still rule when
// set.
const GCPercent = 200

// TuneGC sets the collector's target to GCPercent unless getenv("GOGC") names one
// (which the runtime has then applied, and which is left alone), and returns the
// target in force (-1 for GOGC=off).
func TuneGC(getenv func(string) string) int {
	if strings.TrimSpace(getenv("GOGC")) != "" {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return -1
		}
		v := int(s[0].Value.Uint64())
		if v == 0 && strings.EqualFold(strings.TrimSpace(getenv("GOGC")), "off") {
			return -1
		}
		return v
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent
}
