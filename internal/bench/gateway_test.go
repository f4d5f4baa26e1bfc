//go:build unix

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// The LLM gateway benchmarks (docs/BENCHMARKS.md). Every request goes through the real
// production path: app.New, the HTTP handler with its middleware, API-key
// authentication against the database, the rate limiter, the cache and the
// OpenAI-compatible provider, talking to a local upstream that answers after
// upstreamDelay. One invocation produces every figure:
//
//	go test -run '^$' -bench . -benchtime 10s ./internal/bench/

const (
	upstreamDelay = 5 * time.Millisecond
	model         = "openai/gpt-4o-mini"
	// saturating is the concurrency of the throughput runs: enough closed-loop clients
	// to keep both cores busy.
	saturating = 64

	// EnvRedisURL names the Redis the Redis-backed benchmarks use. Its database is
	// flushed before and after: it must be one nothing else uses.
	EnvRedisURL     = "VIBECODER_BENCH_REDIS_URL"
	defaultRedisURL = "redis://127.0.0.1:6379/12"
)

// completion is the upstream's answer text: about 1 KB, a typical short completion.
var completion = strings.Repeat("Use a buffered channel and a WaitGroup to fan the work out. ", 18)

// serviceTimes records how long the upstream spent serving each request (from when
// it has read the request's body to just before it writes the answer: the fixed delay
// and that timer's jitter), by the tag that ends the request's prompt. A latency less
// its request's service time is what the path to the upstream and back costs; the
// timer's jitter, tens to hundreds of microseconds on this VM and the same whichever
// way a request came, then no longer hides what a gateway adds.
type serviceTimes struct{ m sync.Map }

// record notes d as the service time of the request whose body is body.
func (s *serviceTimes) record(body []byte, d time.Duration) {
	if tag, ok := promptTag(body); ok {
		s.m.Store(tag, d)
	}
}

// take returns, and forgets, the service time of the request tagged tag.
func (s *serviceTimes) take(tag string) (time.Duration, error) {
	d, ok := s.m.LoadAndDelete(tag)
	if !ok {
		return 0, fmt.Errorf("the upstream did not serve request %s", tag)
	}
	return d.(time.Duration), nil
}

// promptTag finds the tag that ends a benchmark prompt: the last "(…)" in the body.
func promptTag(body []byte) (string, bool) {
	i := bytes.LastIndexByte(body, '(')
	if i < 0 {
		return "", false
	}
	j := bytes.IndexByte(body[i:], ')')
	if j < 0 {
		return "", false
	}
	return string(body[i : i+j+1]), true
}

// upstream is an OpenAI-compatible chat completions endpoint that answers every
// request, after delay, with the same completion in OpenAI's wire format, recording
// each request's service time in served. It is deliberately cheaper than llmtest's
// scripted servers (a pre-encoded body), so the CPU it takes from the gateway under
// test stays small.
func upstream(delay time.Duration, served *serviceTimes) http.Handler {
	body, err := json.Marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "logprobs": nil, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": completion, "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": 96, "completion_tokens": 220, "total_tokens": 316,
			"prompt_tokens_details": map[string]any{"cached_tokens": 0}},
	})
	if err != nil {
		panic(err)
	}
	length := strconv.Itoa(len(body))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		req, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		start := time.Now() // the body's arrival is the path's, not the upstream's, time
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		served.record(req, time.Since(start))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	return mux
}

// fixture is a running Vibe Coder with a local upstream and an API key.
type fixture struct {
	rawMu    sync.Mutex
	raw      map[string]*rawClient // by base URL
	app      *app.App
	gateway  string // base URL
	upstream string // base URL
	client   *http.Client
	key      string
	// upstreamConns counts connections the upstream accepted; viaDials is how many it
	// accepted during compare's last phase through the gateway.
	upstreamConns atomic.Int64
	viaDials      int64
	served        serviceTimes
}

// measure is load, with the Redis server's CPU time (when the app uses Redis) counted
// apart from the rest of the machine's: Redis is part of the system under test.
func (f *fixture) measure(b *testing.B, n, c int, do func(int) (time.Duration, error)) run {
	b.Helper()
	r0 := f.redisCPU(b)
	r, err := load(n, c, do)
	if err != nil {
		b.Fatal(err)
	}
	if f.app != nil && f.app.Redis != nil {
		r.redis = f.redisCPU(b) - r0
		if r.others >= 0 {
			r.others = max(r.others-r.redis, 0)
		}
	}
	return r
}

// redisCPU is the CPU time the Redis server has used since it started (INFO cpu).
func (f *fixture) redisCPU(b *testing.B) time.Duration {
	if f.app == nil || f.app.Redis == nil {
		return 0
	}
	info, err := f.app.Redis.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatalf("redis INFO cpu: %v", err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("redis INFO cpu: %s: %v", line, err)
			}
			total += time.Duration(sec * float64(time.Second))
		}
	}
	return total
}

// newFixture starts the app with embedded SQLite in a temporary directory, and Redis
// for cache and rate limits when redisURL is set.
func newFixture(b *testing.B, redisURL string) *fixture {
	b.Helper()
	return newFixtureDelay(b, redisURL, upstreamDelay)
}

// newFixtureDelay is newFixture with an upstream that answers after delay.
func newFixtureDelay(b *testing.B, redisURL string, delay time.Duration) *fixture {
	b.Helper()
	ctx := context.Background()
	f := &fixture{}
	up := httptest.NewUnstartedServer(upstream(delay, &f.served))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.upstreamConns.Add(1)
		}
	}
	up.Start()
	b.Cleanup(up.Close)

	env := map[string]string{
		"VIBECODER_DATA_DIR": b.TempDir(),
		"OPENAI_BASE_URL":    up.URL + "/v1",
		"VIBECODER_LLM_RPM":  "1000000",
		"REDIS_URL":          redisURL,
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	// The production logger (JSON, redacting, info level), writing nowhere: the cost
	// of formatting the access log is part of the path, the cost of the terminal is not.
	log := observe.NewLogger(io.Discard, cfg.LogLevel, observe.NewRedactor(cfg.Secrets()))
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(a.HTTP.Handler())
	// Cleanups run last-in first-out: the server drains before the app flushes its
	// usage rows and closes the store.
	b.Cleanup(func() {
		if err := a.Close(); err != nil {
			b.Errorf("close app: %v", err)
		}
	})
	b.Cleanup(gw.Close)

	u, err := a.Auth.Signup(ctx, "bench@example.com", "Bench", "a long enough benchmark password", false)
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := a.Auth.CreateAPIKey(ctx, u.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	// One client for both the gateway and the direct calls: keep-alive, and an idle
	// pool large enough that no run at up to `saturating` clients opens connections.
	tr := &http.Transport{MaxIdleConns: 4 * saturating, MaxIdleConnsPerHost: 2 * saturating, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	f.app, f.gateway, f.upstream, f.client, f.key = a, gw.URL, up.URL, &http.Client{Transport: tr}, key
	b.Cleanup(f.closeRaw)
	f.check(b)
	return f
}

// check makes sure the gateway answers with the upstream's completion.
func (f *fixture) check(b *testing.B) {
	b.Helper()
	resp, err := f.post(f.gateway, chatBody("check"), true)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK ||
		len(out.Choices) != 1 || out.Choices[0].Message.Content != completion {
		b.Fatalf("gateway check: status %d, %+v, %v", resp.StatusCode, out, err)
	}
}

func (f *fixture) rawCall(base string, body []byte, noCache bool, wantCache string) error {
	f.rawMu.Lock()
	rc := f.raw[base]
	if rc == nil {
		var err error
		if rc, err = newRawClient(base, 2*saturating); err != nil {
			f.rawMu.Unlock()
			return err
		}
		if f.raw == nil {
			f.raw = map[string]*rawClient{}
		}
		f.raw[base] = rc
	}
	f.rawMu.Unlock()
	headers := []string{"Authorization: Bearer " + f.key}
	if noCache {
		headers = append(headers, "Cache-Control: no-cache")
	}
	want := ""
	if wantCache != "" {
		want = "X-Cache: " + wantCache
	}
	return rc.post("/v1/chat/completions", body, headers, want)
}

func (f *fixture) closeRaw() {
	f.rawMu.Lock()
	defer f.rawMu.Unlock()
	for _, rc := range f.raw {
		rc.close()
	}
}

// chatBodyParts are a chat request's JSON before and after its prompt suffix: the
// load generator builds each body by concatenation, not json.Marshal, to keep its own
// CPU (which it shares with the gateway) small.
var chatBodyParts = func() [2]string {
	const mark = "\x00PROMPT\x00"
	b, err := json.Marshal(map[string]any{
		"model": model, "max_tokens": 512, "temperature": 0,
		"messages": []map[string]string{
			{"role": "system", "content": "You are Vibe Coder's assistant. Answer with a short, correct Go snippet and one sentence of explanation."},
			{"role": "user", "content": "Write a function that downloads a list of URLs concurrently, at most eight at a time, and returns their sizes. " + mark},
		},
	})
	if err != nil {
		panic(err)
	}
	before, after, ok := strings.Cut(string(b), `\u0000PROMPT\u0000`)
	if !ok {
		panic("chatBodyParts: no prompt mark in " + string(b))
	}
	return [2]string{before, after}
}()

// chatBody is a chat request whose user message ends with prompt, which must need no
// JSON escaping (the benchmarks use digits, letters, '/', '(' and ')').
func chatBody(prompt string) []byte {
	return []byte(chatBodyParts[0] + prompt + chatBodyParts[1])
}

func (f *fixture) post(base string, body []byte, noCache bool) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/json")
	if noCache {
		req.Header.Set("Cache-Control", "no-cache")
	}
	return f.client.Do(req)
}

// EnvClient picks the load generator: "raw" (default; rawClient) or "nethttp"
// (net/http's client, as the figures before 2026-11-25 16:00 were taken).
const EnvClient = "VIBECODER_BENCH_CLIENT"

// call sends one request and reads the whole answer. wantCache, when set, is the
// X-Cache header the gateway must answer with.
func (f *fixture) call(base string, body []byte, noCache bool, wantCache string) error {
	if os.Getenv(EnvClient) != "nethttp" {
		return f.rawCall(base, body, noCache, wantCache)
	}
	resp, err := f.post(base, body, noCache)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d", resp.StatusCode)
	case wantCache != "" && resp.Header.Get("X-Cache") != wantCache:
		return fmt.Errorf("X-Cache %q, want %q", resp.Header.Get("X-Cache"), wantCache)
	}
	return nil
}

// benchAddedLatency sends b.N requests straight to the upstream, then b.N through the
// gateway (Cache-Control: no-cache and a distinct prompt each, so each one goes
// upstream), both from c clients, and reports both latency distributions and their
// difference: what the gateway adds.
func (f *fixture) benchAddedLatency(b *testing.B, c int) {
	calls := f.app.LLM.Stats().UpstreamCalls.Load()
	_, g := f.compare(b, c, f.upstream, f.gateway, "gw-")
	// Every request through the gateway went upstream: the warm-up's 2c, b.N, and at
	// c=1 the interleaved phase's b.N.
	want := int64(2*c + b.N)
	if c == 1 {
		want += int64(b.N)
	}
	if n := f.app.LLM.Stats().UpstreamCalls.Load() - calls; n != want {
		b.Fatalf("%d upstream calls for %d gateway requests", n, want)
	}
	b.ReportMetric(g.perSecond(), "gw-req/s")
	if f.app.Redis != nil {
		b.ReportMetric(g.redisPerRequest(), "gw-redis-cpu-µs/req")
	}
	// New upstream connections per gateway request: 0 when the gateway's client
	// keeps its connections alive, 1 when it dials for every call.
	b.ReportMetric(float64(f.viaDials)/float64(b.N), "dials/gw-req")
}

// compare sends b.N requests straight to the upstream at direct, then b.N through
// via (Cache-Control: no-cache and a distinct prompt each, so each one goes upstream),
// both from c clients, and reports both latency distributions, their difference (what
// via adds) and the process's CPU per request of each phase (the direct phase's is the
// load generator's and the upstream's share, so the difference is what via spends).
// At c=1 it then sends both kinds again interleaved in blocks from one client, so
// drift between the phases (the VM's neighbours, the heap) falls on both. The
// metrics of via are prefixed with prefix.
func (f *fixture) compare(b *testing.B, c int, direct, via, prefix string) (run, run) {
	nonce := time.Now().UnixNano()
	send := func(base, phase string, i int, noCache bool, want string) (time.Duration, error) {
		tag := fmt.Sprintf("(%d/%s/%d)", nonce, phase, i)
		if err := f.call(base, chatBody(tag), noCache, want); err != nil {
			return 0, err
		}
		return f.served.take(tag)
	}
	toDirect := func(i int) (time.Duration, error) { return send(direct, "d", i, false, "") }
	toVia := func(i int) (time.Duration, error) { return send(via, "v", i, true, "MISS") }
	// Warm the connection pools (ours, and via's to the upstream).
	for _, do := range []func(int) (time.Duration, error){toDirect, toVia} {
		if _, err := load(2*c, c, do); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	d := f.measure(b, b.N, c, toDirect)
	conns := f.upstreamConns.Load()
	v := f.measure(b, b.N, c, toVia)
	f.viaDials = f.upstreamConns.Load() - conns
	if c == 1 {
		di, vi := f.interleaved(b, b.N, toDirect, toVia)
		b.ReportMetric(micros(vi.ownPct(50)-di.ownPct(50)), "added-p50-interleaved-µs")
		b.ReportMetric(micros(vi.ownPct(99)-di.ownPct(99)), "added-p99-interleaved-µs")
	}
	b.StopTimer()
	report(b, "direct-", d)
	report(b, prefix, v)
	// What via adds: the difference of the latencies less the upstream's service time
	// (see serviceTimes), and, as before 2026-11-25 18:00, of the plain latencies, in
	// which the upstream timer's jitter moves the medians by up to ~150 µs a run.
	b.ReportMetric(micros(v.ownPct(50)-d.ownPct(50)), "added-p50-µs")
	b.ReportMetric(micros(v.ownPct(99)-d.ownPct(99)), "added-p99-µs")
	b.ReportMetric(micros(v.pct(50)-d.pct(50)), "added-total-p50-µs")
	b.ReportMetric(micros(v.pct(99)-d.pct(99)), "added-total-p99-µs")
	b.ReportMetric(d.cpuPerRequest(), "direct-cpu-µs/req")
	b.ReportMetric(v.cpuPerRequest(), prefix+"cpu-µs/req")
	reportOthers(b, d, v)
	b.ReportMetric(0, "ns/op") // an op is a request of each kind: not a useful figure
	return d, v
}

// interleaveBlock is how many requests of one kind interleaved sends in a row.
const interleaveBlock = 50

// interleaved sends n requests of each kind from one client, in alternating blocks of
// interleaveBlock, and returns the latencies of each kind.
func (f *fixture) interleaved(b *testing.B, n int, a, z func(int) (time.Duration, error)) (run, run) {
	b.Helper()
	var ra, rz run
	for len(ra.lat) < n || len(rz.lat) < n {
		for _, k := range []struct {
			do func(int) (time.Duration, error)
			r  *run
		}{{a, &ra}, {z, &rz}} {
			for range min(interleaveBlock, n-len(k.r.lat)) {
				t0 := time.Now()
				served, err := k.do(n + len(k.r.lat)) // distinct from the sequential phases' i
				if err != nil {
					b.Fatal(err)
				}
				lat := time.Since(t0)
				k.r.lat = append(k.r.lat, lat)
				k.r.own = append(k.r.own, lat-served)
			}
		}
	}
	for _, r := range []*run{&ra, &rz} {
		slices.Sort(r.lat)
		slices.Sort(r.own)
	}
	return ra, rz
}

// benchCacheHit warms one cache entry, then sends b.N identical requests from c
// clients, every one a hit, and reports their latency and the rate they were served at.
func (f *fixture) benchCacheHit(b *testing.B, c int) {
	body := chatBody("(cached)")
	if err := f.call(f.gateway, body, false, ""); err != nil {
		b.Fatal(err)
	}
	hit := func(int) (time.Duration, error) { return 0, f.call(f.gateway, body, false, "HIT") }
	if _, err := load(2*c, c, hit); err != nil {
		b.Fatal(err)
	}
	calls := f.app.LLM.Stats().UpstreamCalls.Load()
	b.ResetTimer()
	r := f.measure(b, b.N, c, hit)
	b.StopTimer()
	if n := f.app.LLM.Stats().UpstreamCalls.Load() - calls; n != 0 {
		b.Fatalf("%d upstream calls during a cache-hit run", n)
	}
	report(b, "", r)
	b.ReportMetric(r.perSecond(), "req/s")
	b.ReportMetric(r.cpuPerRequest(), "cpu-µs/req")
	if f.app.Redis != nil {
		b.ReportMetric(r.redisPerRequest(), "redis-cpu-µs/req")
	}
	if c >= runtime.NumCPU() {
		// What the machine would serve if this process and Redis had every core to
		// themselves and kept them busy: meaningful only when the clients saturate.
		b.ReportMetric(float64(runtime.NumCPU())*1e6/(r.cpuPerRequest()+r.redisPerRequest()), "cpu-bound-req/s")
	}
	reportOthers(b, r)
}

// BenchmarkGatewayMemory is the embedded deployment: SQLite, and the cache and rate
// limiter in process.
func BenchmarkGatewayMemory(b *testing.B) {
	f := newFixture(b, "")
	for _, c := range []int{1, saturating} {
		b.Run(fmt.Sprintf("AddedLatency/c=%d", c), func(b *testing.B) { f.benchAddedLatency(b, c) })
	}
	for _, c := range []int{1, saturating} {
		b.Run(fmt.Sprintf("CacheHit/c=%d", c), func(b *testing.B) { f.benchCacheHit(b, c) })
	}
}

// BenchmarkGatewayOverhead is the gateway's own cost per upstream call, without the
// network hop to it: each op calls the upstream (which answers at once) directly with
// net/http's client, then sends the same kind of request (no-cache, a distinct prompt)
// through the gateway's HTTP handler in process (httptest.ResponseRecorder; the
// gateway still calls the upstream over loopback). The difference of the two is what
// the gateway's code adds besides the call it forwards: authentication, limits, cache
// key, accounting, logging, request and answer encoding, the SDK.
//
// "hot" runs the calls back to back and reports mean times ("overhead-µs/req"): the
// figure gateways such as Bifrost report as their overhead. The "idle=…" runs pause
// that long before every call, as a client at concurrency 1 leaves the machine idle
// while the upstream thinks, and report medians ("overhead-p50-µs"): on a VM whose
// idle vCPUs are handed back to the host, the same code costs more the longer the
// machine slept before it (see docs/BENCHMARKS.md). AddedLatency is the figure the
// issue asks for.
func BenchmarkGatewayOverhead(b *testing.B) {
	f := newFixtureDelay(b, "", 0)
	h := f.app.HTTP.Handler()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	nonce := time.Now().UnixNano()
	var seq atomic.Int64 // distinct prompts across the sub-benchmarks
	direct := func() error {
		tag := fmt.Sprintf("(%d/o-d/%d)", nonce, seq.Add(1))
		resp, err := client.Post(f.upstream+"/v1/chat/completions", "application/json", bytes.NewReader(chatBody(tag)))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if _, terr := f.served.take(tag); err == nil {
			err = terr
		}
		return err
	}
	through := func() error {
		tag := fmt.Sprintf("(%d/o-g/%d)", nonce, seq.Add(1))
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(chatBody(tag)))
		req.Header.Set("Authorization", "Bearer "+f.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cache-Control", "no-cache")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != "MISS" {
			return fmt.Errorf("gateway: %d %s", rec.Code, rec.Body.String())
		}
		_, err := f.served.take(tag)
		return err
	}
	for range 200 { // warm both paths
		if err := errors.Join(direct(), through()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("hot", func(b *testing.B) {
		var dSum, gSum time.Duration
		for range b.N {
			t0 := time.Now()
			if err := direct(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := through(); err != nil {
				b.Fatal(err)
			}
			dSum, gSum = dSum+t1.Sub(t0), gSum+time.Since(t1)
		}
		b.StopTimer()
		b.ReportMetric(micros(dSum)/float64(b.N), "direct-µs/req")
		b.ReportMetric(micros(gSum)/float64(b.N), "gateway-µs/req")
		b.ReportMetric(micros(gSum-dSum)/float64(b.N), "overhead-µs/req")
		b.ReportMetric(0, "ns/op")
	})
	for _, idle := range []time.Duration{200 * time.Microsecond, time.Millisecond, upstreamDelay} {
		b.Run("idle="+idle.String(), func(b *testing.B) {
			timed := func(do func() error) time.Duration {
				time.Sleep(idle)
				t0 := time.Now()
				if err := do(); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			var d, g run
			for range b.N {
				d.lat = append(d.lat, timed(direct))
				g.lat = append(g.lat, timed(through))
			}
			b.StopTimer()
			slices.Sort(d.lat)
			slices.Sort(g.lat)
			b.ReportMetric(micros(d.pct(50)), "direct-p50-µs")
			b.ReportMetric(micros(g.pct(50)), "gateway-p50-µs")
			b.ReportMetric(micros(g.pct(50)-d.pct(50)), "overhead-p50-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkGatewayRedis keeps the cache and rate limiter in Redis (the database is
// still SQLite, so the figures differ from BenchmarkGatewayMemory only by Redis).
func BenchmarkGatewayRedis(b *testing.B) {
	f := newFixture(b, benchRedis(b))
	b.Run("AddedLatency/c=1", func(b *testing.B) { f.benchAddedLatency(b, 1) })
	for _, c := range []int{1, saturating} {
		b.Run(fmt.Sprintf("CacheHit/c=%d", c), func(b *testing.B) { f.benchCacheHit(b, c) })
	}
}

// benchRedis returns the benchmark Redis's URL with its database flushed, and flushes
// it again when the benchmark ends.
func benchRedis(b *testing.B) string {
	b.Helper()
	raw := os.Getenv(EnvRedisURL)
	if raw == "" {
		raw = defaultRedisURL
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		b.Fatalf("%s: %v", EnvRedisURL, err)
	}
	if opt.DB == 0 {
		b.Fatalf("%s must name a database other than 0 (it is flushed): %s", EnvRedisURL, raw)
	}
	rdb := redis.NewClient(opt)
	flush := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return rdb.FlushDB(ctx).Err()
	}
	if err := flush(); err != nil {
		rdb.Close()
		testutil.Missing(b, "Redis", EnvRedisURL, err)
	}
	b.Cleanup(func() {
		if err := errors.Join(flush(), rdb.Close()); err != nil {
			b.Errorf("flush benchmark Redis: %v", err)
		}
	})
	return raw
}

// BenchmarkProxyFloor is the reference for AddedLatency: the least any net/http
// gateway can add here. A bare forwarding handler (read the body, POST it upstream
// on a keep-alive client, copy the answer back; no authentication, JSON, cache,
// limits or logging) sits in front of the same upstream and is measured the same way,
// from the same process. SDK/AddedLatency/c=1 is the same forwarder making its
// upstream call through openai-go, as the gateway's OpenAI adapter does: the least a
// gateway built on the official SDK can add here.
func BenchmarkProxyFloor(b *testing.B) {
	f := &fixture{key: "unused"}
	up := httptest.NewServer(upstream(upstreamDelay, &f.served))
	b.Cleanup(up.Close)
	fwd := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * saturating}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, up.URL+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := fwd.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Header().Set("X-Cache", "MISS")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	b.Cleanup(proxy.Close)
	// The same forwarder with the upstream call made through openai-go, as the
	// gateway's OpenAI adapter makes it (Client.Post with the body as bytes, the
	// answer taken back as bytes): the least a gateway built on the official SDK
	// can add here.
	sdk := openai.Client{Options: []option.RequestOption{option.WithBaseURL(up.URL + "/v1"),
		option.WithHTTPClient(fwd), option.WithMaxRetries(0), option.WithAPIKey("unused")}}
	sdkProxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var answer []byte
		if err := sdk.Post(r.Context(), "chat/completions", body, &answer); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Cache", "MISS")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(sdkProxy.Close)
	tr := &http.Transport{MaxIdleConns: 4 * saturating, MaxIdleConnsPerHost: 2 * saturating, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	f.client = &http.Client{Transport: tr}
	b.Cleanup(f.closeRaw)
	for _, c := range []int{1, saturating} {
		b.Run(fmt.Sprintf("AddedLatency/c=%d", c), func(b *testing.B) { f.compare(b, c, up.URL, proxy.URL, "proxy-") })
	}
	b.Run("SDK/AddedLatency/c=1", func(b *testing.B) { f.compare(b, 1, up.URL, sdkProxy.URL, "proxy-") })
}

// TestChatBody keeps the benchmarks' hand-built request bodies valid JSON.
func TestChatBody(t *testing.T) {
	var v struct {
		Model    string
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(chatBody("(12/g/3)"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Model != model || len(v.Messages) != 2 || !strings.HasSuffix(v.Messages[1].Content, "sizes. (12/g/3)") {
		t.Fatalf("body %+v", v)
	}
}

// BenchmarkGatewayAllocs counts the heap allocations of a call through the gateway's
// HTTP handler, in process (runtime.MemStats.Mallocs over b.N calls, one at a time,
// less what building the request and recorder allocates): "hit" a cache hit; "bypass"
// a cache-bypassed call less a direct net/http call to the same upstream, whose
// allocations (the client's and the upstream's, which runs in this process) the
// bypassed call makes too, roughly. Background work the calls cause (the usage rows,
// the cache write) is counted if it ran by the end.
//
//	go test -run '^$' -bench GatewayAllocs -benchtime 5000x ./internal/bench/
func BenchmarkGatewayAllocs(b *testing.B) {
	f := newFixtureDelay(b, "", 0)
	h := f.app.HTTP.Handler()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	nonce := time.Now().UnixNano()
	var seq atomic.Int64
	request := func(body []byte, noCache bool) (*http.Request, *httptest.ResponseRecorder) {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.key)
		req.Header.Set("Content-Type", "application/json")
		if noCache {
			req.Header.Set("Cache-Control", "no-cache")
		}
		return req, httptest.NewRecorder()
	}
	serve := func(req *http.Request, rec *httptest.ResponseRecorder, want string) error {
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != want {
			return fmt.Errorf("gateway: %d %s", rec.Code, rec.Body.String())
		}
		return nil
	}
	hitBody := chatBody("(cached allocs)")
	if req, rec := request(hitBody, false); serve(req, rec, "MISS") != nil {
		b.Fatal("the first call of the cached prompt was not a miss")
	}
	time.Sleep(50 * time.Millisecond) // the cache write
	calls := map[string]func() error{
		"build": func() error { request(hitBody, false); return nil },
		"hit":   func() error { req, rec := request(hitBody, false); return serve(req, rec, "HIT") },
		"bypass": func() error {
			req, rec := request(chatBody(fmt.Sprintf("(%d/a-g/%d)", nonce, seq.Add(1))), true)
			return serve(req, rec, "MISS")
		},
		"direct": func() error {
			resp, err := client.Post(f.upstream+"/v1/chat/completions", "application/json",
				bytes.NewReader(chatBody(fmt.Sprintf("(%d/a-d/%d)", nonce, seq.Add(1)))))
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return err
		},
	}
	mallocs := func(n int, call func() error) (allocs, bytes float64) {
		for range 200 { // warm
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range n {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(150 * time.Millisecond) // let the usage writer's linger pass
		runtime.ReadMemStats(&m1)
		return float64(m1.Mallocs-m0.Mallocs) / float64(n), float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)
	}
	b.Run("hit", func(b *testing.B) {
		build, buildB := mallocs(b.N, calls["build"])
		hit, hitB := mallocs(b.N, calls["hit"])
		b.ReportMetric(hit-build, "allocs/call")
		b.ReportMetric(hitB-buildB, "bytes/call")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("bypass", func(b *testing.B) {
		build, buildB := mallocs(b.N, calls["build"])
		direct, directB := mallocs(b.N, calls["direct"])
		bypass, bypassB := mallocs(b.N, calls["bypass"])
		b.ReportMetric(bypass-build, "allocs/call")
		b.ReportMetric(bypassB-buildB, "bytes/call")
		b.ReportMetric(direct, "direct-allocs/call")
		b.ReportMetric(directB, "direct-bytes/call")
		b.ReportMetric(bypass-build-direct, "added-allocs/call")
		b.ReportMetric(bypassB-buildB-directB, "added-bytes/call")
		b.ReportMetric(0, "ns/op")
	})
}
