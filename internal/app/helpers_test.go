package app_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"sync"
)

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

// lockedWriter serialises writes from concurrent loggers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// String is what was written so far, when the underlying writer is a bytes.Buffer:
// read under the lock, since a request's access-log line may still be being written
// after its answer arrived.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*bytes.Buffer).String()
}
