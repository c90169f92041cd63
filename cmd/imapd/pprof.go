//go:build pprof

// Built with -tags pprof, the daemon serves net/http/pprof on the address
// in IMAPD_PPROF (say 127.0.0.1:6060): for profiling a benchmark run, never
// in a release build.
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("IMAPD_PPROF")
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(10)
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
