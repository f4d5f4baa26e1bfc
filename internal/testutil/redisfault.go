package testutil

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FailFastRedisOptions are client options for a Redis expected to be unreachable: short
// timeouts, no retries, so a test of the failure path takes milliseconds.
func FailFastRedisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		DialTimeout:           200 * time.Millisecond,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		DialerRetries:         1,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
	}
}

// DeadAddr returns a local address nothing listens on.
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// UnreachableRedis returns a client (FailFastRedisOptions) of a local address nothing
// listens on, closed when the test ends.
func UnreachableRedis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(FailFastRedisOptions(DeadAddr(t)))
	t.Cleanup(func() { c.Close() })
	return c
}

// SilentRedis returns a client of a server that accepts connections and never answers,
// with the client's own timeouts disabled: only the caller's context deadline can end a
// call, so a hang (the test timing out) means the deadline was ignored. The client, the
// server and the connections it holds are closed when the test ends.
func SilentRedis(t testing.TB) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})

	opt := FailFastRedisOptions(ln.Addr().String())
	opt.ReadTimeout, opt.WriteTimeout, opt.DialTimeout = -1, -1, time.Hour
	opt.Protocol = 2 // no HELLO handshake, so the stall is in the command itself
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	return client
}
