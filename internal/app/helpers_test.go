package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
)

// startServer makes an app on cfg and serves it on a loopback port, as `vibecoder
// serve` does, at base. stop ends it as SIGTERM would, closes the app and returns
// ServeListener's error and Close's; a server still serving two minutes after stop is
// an error (and is left open) instead of a wait without end.
func startServer(t *testing.T, cfg config.Config) (a *app.App, base string, stop func() (serveErr, closeErr error)) {
	t.Helper()
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListener(ctx, ln) }()
	return a, "http://" + ln.Addr().String(), func() (error, error) {
		cancel()
		select {
		case err := <-done:
			return err, a.Close()
		case <-time.After(2 * time.Minute):
			return errors.New("the server did not stop within 2 minutes"), nil
		}
	}
}

// noSeed turns the Go build cache seed off unless get sets VIBECODER_GO_CACHE_SEED: the
// seed of the standard library would compile in the background of every test that starts
// workers. The end-to-end test builds a small one and checks its first run is seeded.
func noSeed(get func(string) string) func(string) string {
	return func(k string) string {
		if v := get(k); v != "" || k != "VIBECODER_GO_CACHE_SEED" {
			return v
		}
		return "off"
	}
}

func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}
