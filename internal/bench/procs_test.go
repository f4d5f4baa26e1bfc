//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof" // the roles' profiles (EnvProfile)
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The processes of the side-by-side benchmark (sidebyside_test.go). The fake upstream
// and the bare reverse proxy are this test binary run again with envRole set:
// TestMain serves the role instead of running tests, so each target is a process of
// its own whose CPU time /proc counts apart from the load generator's.

const (
	envRole     = "VIBECODER_BENCH_ROLE"     // "upstream", "proxy" or "sdkproxy"
	envUpstream = "VIBECODER_BENCH_UPSTREAM" // the proxy roles' upstream base URL
	// streamChunks is how many content chunks the upstream streams for a request with
	// "stream": true (plus a final chunk with the usage), unless envStreamChunks says
	// otherwise (the cost of a chunk is the slope between two counts).
	streamChunks    = 50
	envStreamChunks = "VIBECODER_BENCH_STREAM_CHUNKS"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "":
		os.Exit(m.Run())
	case "upstream":
		serveRole(fastUpstream())
	case "proxy":
		u, err := url.Parse(os.Getenv(envUpstream))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
		serveRole(rp)
	case "sdkproxy":
		serveRole(sdkForwarder(os.Getenv(envUpstream)))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

// sdkForwarder forwards chat requests to upstream through openai-go, called as the
// gateway's OpenAI adapter calls it (Client.Post with the body as bytes, the answer
// taken back as the raw response), and copies the answer back, flushing each read of
// a stream: what a gateway built on the official SDK costs before it does anything
// else (no authentication, decoding, cache, limits, accounting or logging).
func sdkForwarder(upstream string) http.Handler {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	sdk := openai.Client{Options: []option.RequestOption{option.WithBaseURL(upstream + "/v1"),
		option.WithHTTPClient(&http.Client{Transport: tr}), option.WithMaxRetries(0), option.WithAPIKey("sk-bench")}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var resp *http.Response
		if err := sdk.Post(r.Context(), "chat/completions", body, &resp); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		ct := resp.Header.Get("Content-Type")
		w.Header().Set("Content-Type", ct)
		if cl := resp.Header.Get("Content-Length"); cl != "" {
			w.Header().Set("Content-Length", cl)
		}
		w.WriteHeader(resp.StatusCode)
		if !strings.HasPrefix(ct, "text/event-stream") {
			_, _ = io.Copy(w, resp.Body)
			return
		}
		rc := http.NewResponseController(w)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				_ = rc.Flush()
			}
			if err != nil {
				return
			}
		}
	})
}

// serveRole serves h on a free loopback port, telling the parent which on its first
// line of standard output, until it is killed.
func serveRole(h http.Handler) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if os.Getenv(EnvProfile) != "" {
		// Profiled as the gateways are (net/http/pprof on its own port), so that a
		// gateway's profile can be read against the floor's.
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("pprof on %s\n", pl.Addr())
		go func() { _ = http.Serve(pl, nil) }()
	} else {
		fmt.Println("pprof off")
	}
	err = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// fastUpstream is an OpenAI-compatible chat completions endpoint that answers at once:
// the ~1 KB completion of upstream(), pre-encoded, or for "stream": true the same text
// in streamChunks chunks, each written and flushed on its own as a provider does, then
// a usage chunk and [DONE].
func fastUpstream() http.Handler {
	whole, err := json.Marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "logprobs": nil, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": completion, "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": 96, "completion_tokens": 220, "total_tokens": 316},
	})
	if err != nil {
		panic(err)
	}
	chunks := streamEvents()
	length := strconv.Itoa(len(whole))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if !bytes.Contains(req, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", length)
			_, _ = w.Write(whole)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				return
			}
			_ = rc.Flush()
		}
	})
}

// streamEvents are the server-sent events of a streamed answer: streamChunks content
// chunks that together are completion, a usage chunk, and [DONE].
func streamEvents() [][]byte {
	chunk := func(delta map[string]any, finish any, usage any) []byte {
		choices := []any{}
		if delta != nil {
			choices = append(choices, map[string]any{"index": 0, "delta": delta, "finish_reason": finish})
		}
		b, err := json.Marshal(map[string]any{"id": "chatcmpl-bench", "object": "chat.completion.chunk",
			"created": 1767225600, "model": "gpt-4o-mini", "choices": choices, "usage": usage})
		if err != nil {
			panic(err)
		}
		return []byte("data: " + string(b) + "\n\n")
	}
	var out [][]byte
	n := streamChunks
	if v, err := strconv.Atoi(os.Getenv(envStreamChunks)); err == nil && v > 0 {
		n = v
	}
	step := (len(completion) + n - 1) / n
	for i := 0; i < n; i++ {
		part := completion[min(i*step, len(completion)):min((i+1)*step, len(completion))]
		delta := map[string]any{"content": part}
		if i == 0 {
			delta["role"] = "assistant"
		}
		var finish any
		if i == n-1 {
			finish = "stop"
		}
		out = append(out, chunk(delta, finish, nil))
	}
	out = append(out, chunk(nil, nil, map[string]any{"prompt_tokens": 96, "completion_tokens": 220, "total_tokens": 316}))
	return append(out, []byte("data: [DONE]\n\n"))
}

// proc is a target's process.
type proc struct {
	name string
	cmd  *exec.Cmd
	base string // http://host:port
	// pprof is the base URL of its net/http/pprof handlers, or "".
	pprof string

	mu      sync.Mutex
	threads map[string][2]int64 // each thread's CPU time in ns and times scheduled in, when last read, by thread id
}

// startRole runs this test binary as role, with env added, and waits for its address.
func startRole(b *testing.B, role string, env ...string) *proc {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{envRole + "=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &proc{name: role, cmd: cmd}
	b.Cleanup(p.stop)
	rd := bufio.NewReader(out)
	line, err := rd.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		b.Fatalf("%s: first line %q: %v", role, line, err)
	}
	line, err = rd.ReadString('\n')
	if err != nil {
		b.Fatalf("%s: second line %q: %v", role, line, err)
	}
	if pp, ok := strings.CutPrefix(strings.TrimSpace(line), "pprof on "); ok {
		p.pprof = "http://" + pp
	}
	go func() { _, _ = io.Copy(io.Discard, rd) }()
	p.base = "http://" + addr
	return p
}

// stop kills the process (only the one this benchmark started) and reaps it.
func (p *proc) stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// cpu is the CPU time (user and system, every thread) the process has used so far:
// the sum of its threads' time on a CPU from /proc/<pid>/task/<tid>/schedstat, which
// the scheduler keeps in nanoseconds (/proc/<pid>/stat's utime and stime count 10 ms
// ticks, which at a few hundred requests a round is a ±5 % error in a CPU time per
// request). A thread that has exited keeps the time it had when last read, so the sum
// never goes back; the few threads a Go program ever ends lose at most their time
// since the previous read. Where schedstat cannot be read, the ticks.
func (p *proc) cpu() time.Duration {
	if d, _, ok := p.sched(); ok {
		return d
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses: state is the first,
	// utime the 12th and stime the 13th.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// switches is how many times the process's threads have been put on a CPU so far
// (each wake-up of a sleeping thread is one), from their schedstat, or -1.
func (p *proc) switches() int64 {
	if _, n, ok := p.sched(); ok {
		return n
	}
	return -1
}

// sched sums the threads' schedstat: CPU time, and times put on a CPU; ok is false
// when it cannot be read.
func (p *proc) sched() (cpu time.Duration, slices int64, ok bool) {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tids, err := os.ReadDir(dir)
	if err != nil || len(tids) == 0 {
		return 0, 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.threads == nil {
		p.threads = map[string][2]int64{}
	}
	read := 0
	for _, t := range tids {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // exited since the listing: it keeps its last reading
		}
		read++
		// "<ns on a CPU> <ns waiting for one> <timeslices>"
		f := strings.Fields(string(b))
		if len(f) < 3 {
			return 0, 0, false
		}
		ns, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		old := p.threads[t.Name()]
		p.threads[t.Name()] = [2]int64{max(old[0], ns), max(old[1], n)}
	}
	if read == 0 {
		return 0, 0, false // no schedstat here (or every thread just exited): the ticks
	}
	var sum int64
	for _, v := range p.threads {
		sum += v[0]
		slices += v[1]
	}
	return time.Duration(sum), slices, true
}

// syscalls is how many read and write system calls (of every kind: read, readv,
// write, writev, ...) the process has made so far, from /proc/<pid>/io; the epoll and
// futex calls around them are not counted.
func (p *proc) syscalls() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		for _, k := range []string{"syscr:", "syscw:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// rss is the process's resident set size in bytes (VmRSS), and the part of it that
// is anonymous memory (RssAnon: the heap, stacks; the rest is mostly the binary's
// pages).
func (p *proc) rss() (total, anon int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	kb := func(v string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n << 10
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			total = kb(v)
		} else if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon = kb(v)
		}
	}
	return total, anon
}

// waitReady polls url until it answers 200 or the deadline passes.
func waitReady(b *testing.B, url string, within time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s not ready within %s: %v", url, within, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
