package procmem

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC the server collects at GCPercent; a GOGC in the
// environment (which the runtime has already applied) is left as it is, and read
// without being changed.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	for _, blank := range []string{"", "  "} {
		debug.SetGCPercent(100)
		if got := TuneGC(env(blank)); got != GCPercent || debug.SetGCPercent(GCPercent) != GCPercent {
			t.Fatalf("GOGC=%q: %d", blank, got)
		}
	}
	debug.SetGCPercent(50) // as the runtime does for GOGC=50
	if got := TuneGC(env("50")); got != 50 || debug.SetGCPercent(50) != 50 {
		t.Fatalf("with GOGC=50: %d", got)
	}
	debug.SetGCPercent(-1) // GOGC=off
	if got := TuneGC(env("off")); got != -1 || debug.SetGCPercent(-1) != -1 {
		t.Fatalf("with GOGC=off: %d", got)
	}
}
