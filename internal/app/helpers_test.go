package app_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"sync"
)

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
