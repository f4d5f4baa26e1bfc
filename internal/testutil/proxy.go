package testutil

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// CutProxy forwards TCP connections to a server until Cut, which closes its listener
// and every connection through it: what a client sees when the server goes away
// (connections reset, new ones refused), without touching the shared server.
type CutProxy struct {
	// Addr is where the proxy listens (127.0.0.1:port).
	Addr string

	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// NewCutProxy starts a proxy to target (host:port); it is cut when the test ends.
func NewCutProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{Addr: ln.Addr().String(), ln: ln}
	t.Cleanup(p.Cut)
	go p.serve(target)
	return p
}

// ProxyURL returns rawURL (a postgres:// or redis:// URL) with its host replaced by a
// new CutProxy to that host, and the proxy.
func ProxyURL(t testing.TB, rawURL string) (string, *CutProxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := NewCutProxy(t, u.Host)
	u.Host = p.Addr
	return u.String(), p
}

func (p *CutProxy) serve(target string) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Cut closes the listener and every connection. It may be called more than once.
func (p *CutProxy) Cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
