package app_test

import (
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
