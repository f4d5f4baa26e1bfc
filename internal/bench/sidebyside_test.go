//go:build linux

package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/faults/faultstest"
)

// BenchmarkSideBySide runs the same load against a bare httputil.ReverseProxy, a bare
// forwarder that calls through openai-go (the SDK the gateway's OpenAI adapter is built
// on, and nothing else), the Portkey gateway from npm and Vibe Coder, each in a process
// of its own in front of one
// fake upstream (another process, answering at once), and prints each target's CPU
// time per request (from /proc/<pid>/stat), its rate and its latency percentiles
// (docs/BENCHMARKS.md, "Gateway at the floor"). It needs node and npm, takes minutes,
// and runs only when asked:
//
//	VIBECODER_BENCH_SIDEBYSIDE=1 go test -run '^$' -bench SideBySide -benchtime 1x -timeout 1h ./internal/bench/
//
// Loads, every one sent to the targets in turn, in rounds, so that drift in the
// machine falls on all of them:
//
//   - c=64: cache bypassed (Cache-Control: no-cache; prompts cycle over 1,000, so the
//     cache stays small), and Vibe Coder's cache hits;
//   - c=1: the same, and the upstream directly: "added p50" is a target's median less
//     the direct one;
//   - stream, c=64: "stream": true, 50 chunks from the upstream;
//   - RSS: five rounds of cache-bypassed requests (100,000 in all), Vibe Coder's
//     resident set after each.
func BenchmarkSideBySide(b *testing.B) {
	if os.Getenv(EnvSideBySide) == "" {
		b.Skipf("set %s=1 to run the side-by-side comparison (it needs node and npm)", EnvSideBySide)
	}
	sb := newSideBySide(b)
	sb.header()
	n := envInt(b, EnvRequests, 10000)
	loads := os.Getenv(EnvLoads)
	run := func(name string) bool { return loads == "" || slices.Contains(strings.Split(loads, ","), name) }
	if run("bypass") {
		sb.phase("c=64 bypass", n, saturating, sb.bypassTargets())
	}
	if run("hit") {
		sb.phase("c=64 hit", n, saturating, sb.hitTargets())
	}
	if run("c1") {
		sb.phase("c=1", n/5, 1, append(append([]*target{sb.direct}, sb.bypassTargets()...), sb.hitTargets()...))
	}
	if run("stream") {
		sb.phase("stream c=64", n/5, saturating, sb.streamTargets())
	}
	if dir := os.Getenv(EnvProfile); dir != "" {
		for _, t := range slices.Concat([]*target{sb.proxy, sb.proxyStream}, sb.vibecoders, sb.hits, sb.vcStreams) {
			sb.profile(t, dir)
		}
	}
	sb.rssRounds(envInt(b, EnvRSSRounds, 5), envInt(b, EnvRSSRequests, 20000))
	fmt.Printf("\nload average at the end: %s\n", loadavg())
	b.ReportMetric(0, "ns/op")
}

const (
	// EnvSideBySide turns BenchmarkSideBySide on.
	EnvSideBySide = "VIBECODER_BENCH_SIDEBYSIDE"
	// EnvBinaries lists Vibe Coder binaries to compare, "name=path,name=path" (default:
	// this tree, built).
	EnvBinaries = "VIBECODER_BENCH_BINARIES"
	// EnvPortkey is the directory Portkey is installed into with npm (default: under
	// the user's cache directory), or "off".
	EnvPortkey = "VIBECODER_BENCH_PORTKEY"
	// EnvLoads, when set, names the loads to run, of "bypass", "hit", "c1" and
	// "stream", comma-separated (default: all; the RSS rounds always run).
	EnvLoads = "VIBECODER_BENCH_LOADS"
	// EnvRequests is the number of requests per target of each c=64 load (10,000).
	EnvRequests = "VIBECODER_BENCH_REQUESTS"
	// EnvRSSRounds and EnvRSSRequests shape the RSS run (5 rounds of 20,000).
	EnvRSSRounds   = "VIBECODER_BENCH_RSS_ROUNDS"
	EnvRSSRequests = "VIBECODER_BENCH_RSS_REQUESTS"
	// EnvProfile, when set, is a directory to write a CPU and an allocation profile of
	// each Vibe Coder into, taken under the c=64 cache-bypassed load and under the
	// c=64 streams.
	EnvProfile = "VIBECODER_BENCH_PROFILE"
	// EnvProfileClients is the concurrency of the profiled load (default 64; 1 to
	// profile a gateway serving one request at a time).
	EnvProfileClients = "VIBECODER_BENCH_PROFILE_CLIENTS"

	// portkeyVersion is the Portkey gateway measured (npm package @portkey-ai/gateway).
	portkeyVersion = "1.15.2"
	// bypassPrompts is how many distinct prompts the cache-bypassed loads cycle over.
	bypassPrompts = 1000
	// rounds is how many times each load goes round the targets.
	rounds = 5
)

// target is one thing the load is sent to.
type target struct {
	name    string
	p       *proc // nil: the upstream directly (its CPU is not reported)
	rc      *rawClient
	headers []string
	want    string // "Name: value" every answer must carry, or ""
	body    func(i int) []byte
	stream  bool
}

// sideBySide is the running processes.
type sideBySide struct {
	b                                     *testing.B
	up                                    *proc
	direct, proxy, sdk, portkey           *target
	vibecoders, hits, vcStreams           []*target
	proxyStream, sdkStream, portkeyStream *target
	proxyProc, sdkProc, portkeyProc       *proc
	vcProcs                               []*proc
	seq                                   atomic.Int64
}

func newSideBySide(b *testing.B) *sideBySide {
	sb := &sideBySide{b: b}
	sb.up = startRole(b, "upstream")
	sb.proxyProc = startRole(b, "proxy", envUpstream+"="+sb.up.base)
	sb.proxyProc.name = "proxy"
	sb.direct = sb.newTarget("upstream", &proc{base: sb.up.base}, nil, "")
	sb.direct.p = nil
	sb.proxy = sb.newTarget("httputil.ReverseProxy", sb.proxyProc, nil, "")
	sb.proxyStream = sb.streamOf(sb.proxy)
	sb.sdkProc = startRole(b, "sdkproxy", envUpstream+"="+sb.up.base)
	sb.sdkProc.name = "sdkproxy"
	sb.sdk = sb.newTarget("openai-go forwarder", sb.sdkProc, nil, "")
	sb.sdkStream = sb.streamOf(sb.sdk)
	if pk := startPortkey(b); pk != nil {
		sb.portkeyProc = pk
		hs := []string{"x-portkey-provider: openai", "x-portkey-custom-host: " + sb.up.base + "/v1", "Authorization: Bearer sk-bench"}
		sb.portkey = sb.newTarget("portkey "+portkeyVersion, pk, hs, "")
		sb.portkeyStream = sb.streamOf(sb.portkey)
		// Portkey 1.15.2 on Node 20 answers every stream 500 ("TypeError: immutable"
		// when it sets its own headers on the upstream's answer): left out, and said so.
		if err := sb.send(sb.portkeyStream, 0); err != nil {
			fmt.Printf("portkey streams left out: %v\n", err)
			sb.portkeyStream = nil
		}
	}
	for _, bin := range vibecoderBinaries(b) {
		p, key := startVibecoder(b, bin[0], bin[1], sb.up.base)
		sb.vcProcs = append(sb.vcProcs, p)
		auth := "Authorization: Bearer " + key
		miss := sb.newTarget("vibecoder "+bin[0]+" bypass", p, []string{auth, "Cache-Control: no-cache"}, "X-Cache: MISS")
		sb.vibecoders = append(sb.vibecoders, miss)
		hit := sb.newTarget("vibecoder "+bin[0]+" hit", p, []string{auth}, "X-Cache: HIT")
		hit.body = func(int) []byte { return chatBody("(cached)") }
		if err := hit.rc.post("/v1/chat/completions", hit.body(0), hit.headers, ""); err != nil {
			b.Fatalf("warm %s: %v", hit.name, err)
		}
		sb.hits = append(sb.hits, hit)
		sb.vcStreams = append(sb.vcStreams, sb.streamOf(miss))
	}
	return sb
}

func (sb *sideBySide) newTarget(name string, p *proc, headers []string, want string) *target {
	rc, err := newRawClient(p.base, 2*saturating)
	if err != nil {
		sb.b.Fatal(err)
	}
	sb.b.Cleanup(rc.close)
	nonce := time.Now().UnixNano()
	return &target{name: name, p: p, rc: rc, headers: headers, want: want,
		body: func(i int) []byte { return chatBody(fmt.Sprintf("(%d/%d)", nonce, i%bypassPrompts)) }}
}

// streamOf is t asking for streamed answers.
func (sb *sideBySide) streamOf(t *target) *target {
	s := *t
	s.name, s.stream, s.want = t.name+" stream", true, ""
	s.body = func(i int) []byte { return append([]byte(`{"stream":true,`), t.body(i)[1:]...) }
	return &s
}

func (sb *sideBySide) bypassTargets() []*target {
	return slices.DeleteFunc(append([]*target{sb.proxy, sb.sdk, sb.portkey}, sb.vibecoders...), func(t *target) bool { return t == nil })
}

func (sb *sideBySide) hitTargets() []*target { return sb.hits }

func (sb *sideBySide) streamTargets() []*target {
	return slices.DeleteFunc(append([]*target{sb.proxyStream, sb.sdkStream, sb.portkeyStream}, sb.vcStreams...), func(t *target) bool { return t == nil })
}

// tally is what one target's share of a load came to.
type tally struct {
	lat          []time.Duration
	elapsed, cpu time.Duration
	syscalls     int64         // the target's read and write system calls (/proc/<pid>/io)
	switches     int64         // times the target's threads were put on a CPU
	gen          time.Duration // the load generator's CPU meanwhile
}

// phase sends n requests to each target from c clients, in rounds, and prints a row
// per target.
func (sb *sideBySide) phase(name string, n, c int, targets []*target) {
	b := sb.b
	for _, t := range targets { // warm connections, both ours and the target's upstream ones
		if _, err := load(4*c, c, func(i int) (time.Duration, error) { return 0, sb.send(t, i) }); err != nil {
			b.Fatalf("%s %s warm-up: %v", name, t.name, err)
		}
	}
	tallies := make([]tally, len(targets))
	host0, procs0 := hostBusy(), sb.allCPU()
	gen0 := cpuTime()
	start := time.Now()
	for r := range rounds {
		for k, t := range targets {
			per := n / rounds
			if r == rounds-1 {
				per = n - per*(rounds-1)
			}
			var cpu0 time.Duration
			var sys0, sw0 int64
			if t.p != nil {
				cpu0, sys0, sw0 = t.p.cpu(), t.p.syscalls(), t.p.switches()
			}
			res, err := load(per, c, func(i int) (time.Duration, error) { return 0, sb.send(t, i) })
			if err != nil {
				b.Fatalf("%s %s: %v", name, t.name, err)
			}
			tl := &tallies[k]
			tl.lat = append(tl.lat, res.lat...)
			tl.elapsed += res.elapsed
			tl.gen += res.cpu
			if t.p != nil {
				tl.cpu += t.p.cpu() - cpu0
				tl.syscalls += t.p.syscalls() - sys0
				tl.switches += t.p.switches() - sw0
			}
		}
	}
	wall := time.Since(start)
	others := -1.0
	if host1 := hostBusy(); host0 >= 0 && host1 >= 0 {
		others = max(host1-host0-(sb.allCPU()-procs0)-(cpuTime()-gen0), 0).Seconds() / wall.Seconds()
	}
	var directP50 time.Duration
	for k, t := range targets {
		tl := &tallies[k]
		slices.Sort(tl.lat)
		if t == sb.direct {
			directP50 = percentile(tl.lat, 50)
		}
		sb.row(name, t, tl, directP50)
	}
	fmt.Printf("%-12s others-cores %.2f, load average %s\n", name, others, loadavg())
	for _, t := range targets {
		if n := t.rc.stale.Swap(0); n > 0 {
			fmt.Printf("%-12s %s: %d kept-alive connections found closed and redialled\n", name, t.name, n)
		}
	}
}

func (sb *sideBySide) send(t *target, _ int) error {
	i := int(sb.seq.Add(1))
	return t.rc.post("/v1/chat/completions", t.body(i), t.headers, t.want)
}

// allCPU is the CPU time of every process the benchmark started.
func (sb *sideBySide) allCPU() time.Duration {
	d := sb.up.cpu() + sb.proxyProc.cpu() + sb.sdkProc.cpu()
	if sb.portkeyProc != nil {
		d += sb.portkeyProc.cpu()
	}
	for _, p := range sb.vcProcs {
		d += p.cpu()
	}
	return d
}

func (sb *sideBySide) header() {
	fmt.Printf("\nside by side: %d cores, GOMAXPROCS %d, %s, load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadavg())
	fmt.Printf("%-12s %-34s %8s %12s %9s %9s %9s %10s %10s %10s\n", "load", "target", "requests", "CPU µs/req", "req/s", "p50 µs", "p99 µs", "added p50", "r+w /req", "runs /req")
}

func (sb *sideBySide) row(phase string, t *target, tl *tally, directP50 time.Duration) {
	n := float64(len(tl.lat))
	cpu, sys, sw := "—", "—", "—"
	if t.p != nil {
		cpu = strconv.FormatFloat(micros(tl.cpu)/n, 'f', 1, 64)
		if tl.syscalls > 0 { // 0: /proc/<pid>/io unreadable
			sys = strconv.FormatFloat(float64(tl.syscalls)/n, 'f', 1, 64)
		}
		if tl.switches > 0 { // 0: schedstat unreadable (switches -1 before and after)
			sw = strconv.FormatFloat(float64(tl.switches)/n, 'f', 1, 64)
		}
	}
	added := ""
	if directP50 > 0 && t != sb.direct {
		added = strconv.FormatFloat(micros(percentile(tl.lat, 50)-directP50), 'f', 0, 64)
	}
	fmt.Printf("%-12s %-34s %8d %12s %9.0f %9.0f %9.0f %10s %10s %10s\n", phase, t.name, len(tl.lat), cpu,
		n/tl.elapsed.Seconds(), micros(percentile(tl.lat, 50)), micros(percentile(tl.lat, 99)), added, sys, sw)
}

// rssRounds sends rounds × n cache-bypassed requests at c=64 to every Vibe Coder (and
// the bare proxy, for reference), printing each one's resident set after each round.
func (sb *sideBySide) rssRounds(rounds, n int) {
	targets := append([]*target{sb.proxy}, sb.vibecoders...)
	fmt.Printf("\nRSS (MB, total/anonymous) after each round of %d cache-bypassed requests at c=%d\n", n, saturating)
	mb := func(p *proc) string {
		total, anon := p.rss()
		return fmt.Sprintf(" %5.1f/%4.1f", float64(total)/(1<<20), float64(anon)/(1<<20))
	}
	for _, t := range targets {
		fmt.Printf("%-34s start%s", t.name, mb(t.p))
		for range rounds {
			if _, err := load(n, saturating, func(i int) (time.Duration, error) { return 0, sb.send(t, i) }); err != nil {
				sb.b.Fatalf("rss %s: %v", t.name, err)
			}
			fmt.Print(mb(t.p))
		}
		fmt.Println()
	}
}

// profile takes a CPU profile and the allocations of Vibe Coder target t under a
// c=64 load (EnvProfileClients) of t's requests, into dir.
func (sb *sideBySide) profile(t *target, dir string) {
	b := sb.b
	pprof := t.p.pprof
	if pprof == "" {
		return
	}
	get := func(path, file string) {
		resp, err := http.Get(pprof + path)
		if err != nil {
			b.Fatalf("profile %s: %v", t.name, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("profile %s: %d %v", t.name, resp.StatusCode, err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	name := strings.ReplaceAll(t.name, " ", "-")
	clients := envInt(b, EnvProfileClients, saturating)
	var done atomic.Bool
	go func() {
		for !done.Load() {
			_, _ = load(2000, clients, func(i int) (time.Duration, error) { return 0, sb.send(t, i) })
		}
	}()
	get("/debug/pprof/allocs", name+".allocs-before.pprof")
	get("/debug/pprof/profile?seconds=10", name+".cpu.pprof")
	get("/debug/pprof/allocs", name+".allocs.pprof")
	done.Store(true)
	time.Sleep(time.Second) // let the last load finish
	fmt.Printf("profiles of %s in %s\n", t.name, dir)
}

// vibecoderBinaries are the binaries to measure, [name, path] each: EnvBinaries, or
// this tree built into a temporary directory.
func vibecoderBinaries(b *testing.B) [][2]string {
	if raw := os.Getenv(EnvBinaries); raw != "" {
		var out [][2]string
		for _, item := range strings.Split(raw, ",") {
			name, path, ok := strings.Cut(item, "=")
			if !ok {
				b.Fatalf("%s: %q is not name=path", EnvBinaries, item)
			}
			out = append(out, [2]string{name, path})
		}
		return out
	}
	bin := filepath.Join(b.TempDir(), "vibecoder")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/vibecoder/vibecoder/cmd/vibecoder")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("build vibecoder: %v", err)
	}
	return [][2]string{{"tree", bin}}
}

// startVibecoder runs `vibecoder serve` from bin on embedded SQLite in a temporary
// directory, in front of upstream, with a user and an API key made by its own admin
// commands, and returns it with the key.
func startVibecoder(b *testing.B, name, bin, upstream string) (*proc, string) {
	b.Helper()
	dir := b.TempDir()
	addr := faultstest.FreeAddr(b)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "VIBECODER_DATA_DIR=" + dir,
		"VIBECODER_ADDR=" + addr, "OPENAI_BASE_URL=" + upstream + "/v1", "VIBECODER_LLM_RPM=1000000",
		"VIBECODER_GO_CACHE_SEED=off"}
	// Profiles are served only when asked for (EnvProfile), as in a default
	// deployment: a process serving them samples its allocations.
	pprof := ""
	if os.Getenv(EnvProfile) != "" {
		pprofAddr := faultstest.FreeAddr(b)
		env = append(env, "VIBECODER_PPROF_ADDR="+pprofAddr)
		pprof = "http://" + pprofAddr
	}
	admin := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader("a long enough benchmark password\n")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			b.Fatalf("vibecoder %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	admin("user", "create", "--email", "bench@example.com", "--password-stdin")
	key := admin("apikey", "create", "--email", "bench@example.com", "--name", "bench")
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, "serve")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, base: "http://" + addr, pprof: pprof}
	b.Cleanup(p.stop)
	waitReady(b, p.base+"/livez", time.Minute)
	return p, key
}

// startPortkey installs the Portkey gateway with npm (once, into EnvPortkey's
// directory) and runs it with node; nil when EnvPortkey is "off".
func startPortkey(b *testing.B) *proc {
	b.Helper()
	dir := os.Getenv(EnvPortkey)
	if dir == "off" {
		return nil
	}
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(cache, "vibecoder-bench", "portkey-"+portkeyVersion)
	}
	server := filepath.Join(dir, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
	if _, err := os.Stat(server); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "@portkey-ai/gateway@"+portkeyVersion)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("npm install @portkey-ai/gateway: %v", err)
		}
	}
	addr := faultstest.FreeAddr(b)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("node", server, "--port="+port, "--headless")
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &proc{name: "portkey", cmd: cmd, base: "http://" + addr}
	b.Cleanup(p.stop)
	waitReady(b, p.base+"/", time.Minute)
	return p
}

func envInt(b *testing.B, name string, def int) int {
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		b.Fatalf("%s: %q is not a positive number", name, raw)
	}
	return n
}
