//go:build unix

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// rawClient is a lean HTTP/1.1 load generator in the manner of wrk: keep-alive
// connections, requests written from prepared bytes, answers parsed just enough to
// check the status and one header and to find the end of the body. The load
// generator shares the machine's two cores with the server under test, and
// net/http's client spends about as much CPU per request as a cache hit does in the
// gateway; this one spends a fraction of it, so throughput figures measure the
// gateway rather than its client. Latency figures use it too, for the same reason.
type rawClient struct {
	addr  string
	conns chan *rawConn
	stale atomic.Int64 // pooled connections found closed by the server, and replaced
}

type rawConn struct {
	c net.Conn
	r *bufio.Reader
	w []byte
}

func newRawClient(base string, size int) (*rawClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return &rawClient{addr: u.Host, conns: make(chan *rawConn, size)}, nil
}

func (rc *rawClient) close() {
	for {
		select {
		case c := <-rc.conns:
			c.c.Close()
		default:
			return
		}
	}
}

// post sends one POST and reads the whole answer. header lines ("Name: value") are
// added to the request; want, when set, is "Name: value" the answer must carry.
func (rc *rawClient) post(path string, body []byte, headers []string, want string) error {
	var c *rawConn
	var err error
	pooled := true
	select {
	case c = <-rc.conns:
	default:
		pooled = false
		if c, err = rc.dial(); err != nil {
			return err
		}
	}
	err = c.roundTrip(rc.addr, path, body, headers, want)
	if err != nil && pooled && errors.Is(err, io.EOF) {
		// A kept-alive connection the server had closed while it sat in the pool
		// (net/http's client retries these too): once more on a new one.
		c.c.Close()
		rc.stale.Add(1)
		if c, err = rc.dial(); err != nil {
			return err
		}
		err = c.roundTrip(rc.addr, path, body, headers, want)
	}
	if err != nil {
		c.c.Close()
		return err
	}
	select {
	case rc.conns <- c:
	default:
		c.c.Close()
	}
	return nil
}

func (rc *rawClient) dial() (*rawConn, error) {
	conn, err := net.Dial("tcp", rc.addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: conn, r: bufio.NewReaderSize(conn, 16<<10)}, nil
}

func (c *rawConn) roundTrip(host, path string, body []byte, headers []string, want string) error {
	w := c.w[:0]
	w = append(w, "POST "...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, host...)
	w = append(w, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, "\r\n"...)
	for _, h := range headers {
		w = append(w, h...)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	c.w = w
	if _, err := c.c.Write(w); err != nil {
		return err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return fmt.Errorf("bad status line %q", line)
	}
	status := string(line[9:12])
	length, chunked, found := -1, false, want == ""
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
		if !found && strings.EqualFold(string(name)+": "+string(value), want) {
			found = true
		}
	}
	switch {
	case chunked:
		for {
			sz, err := c.r.ReadSlice('\n')
			if err != nil {
				return err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
			if err != nil {
				return err
			}
			if _, err := c.r.Discard(int(n) + 2); err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
	case length >= 0:
		if _, err := c.r.Discard(length); err != nil {
			return err
		}
	default:
		return errors.New("answer without a length")
	}
	if status != "200" {
		return fmt.Errorf("status %s", status)
	}
	if !found {
		return fmt.Errorf("answer lacks %q", want)
	}
	return nil
}
