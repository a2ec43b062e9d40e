package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// startPprof serves Go's profiler on addr ([DEFAULT] pprof_listen) until ctx ends; an empty addr
// serves nothing. It has its own mux, so the profiler never appears on the API's port.
func startPprof(ctx context.Context, addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log = log.With("component", "pprof")
	go func() {
		if err := serveHTTP(ctx, addr, mux, log); err != nil {
			log.Error("pprof listener", "addr", addr, "err", err)
		}
	}()
}
