// Package testutil gives tests their real backing services: a Redis key prefix or a
// PostgreSQL schema of their own, and a clear failure (under CI=true) or a loud skip
// (elsewhere) when a service is missing.
package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Env names the tests read.
const (
	EnvRedisURL    = "VIBECODER_TEST_REDIS_URL"
	EnvPostgresURL = "VIBECODER_TEST_DATABASE_URL"
)

// Default service addresses, the ones the test script starts.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/9"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// Missing reports a service a test needs but cannot reach: under CI=true the test fails
// with how to fix it; elsewhere it is skipped with a message that says how to enable it.
func Missing(t testing.TB, service, env string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not reachable (%v); start it or set %s (see README, 'Running the tests')", service, err, env)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skipf("SKIPPED, NOT TESTED: %s", msg)
}

// RandomSuffix returns n random bytes in hex, for names no other test uses.
func RandomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RedisURL returns the URL of the test Redis, failing or skipping the test (see Missing)
// when nothing answers there. Tests isolate themselves with RedisPrefix.
func RedisURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvRedisURL)
	if raw == "" {
		raw = DefaultRedisURL
	}
	if err := dialURL(raw, "6379"); err != nil {
		Missing(t, "Redis", EnvRedisURL, err)
	}
	return raw
}

// RedisPrefix returns a key prefix unique to this test.
func RedisPrefix(t testing.TB) string {
	return "vctest:" + RandomSuffix(6) + ":"
}

func dialURL(raw, defPort string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "" {
		host = "127.0.0.1"
	}
	port := u.Port()
	if port == "" {
		port = defPort
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	return c.Close()
}
