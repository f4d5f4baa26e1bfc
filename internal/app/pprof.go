package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves net/http/pprof on VIBECODER_PPROF_ADDR, when set, until ctx ends:
// profiles of the running server (docs/BENCHMARKS.md takes them under load). The
// handlers are registered on a mux of their own, never on the API's.
func (a *App) servePprof(ctx context.Context) error {
	if a.Config.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.PprofAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (VIBECODER_PPROF_ADDR): %w", a.Config.PprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	a.Log.Warn("serving pprof (unauthenticated)", slog.String("addr", ln.Addr().String()))
	return nil
}
