package main

import (
	"log/slog"

	"imapd/auth"
	"imapd/imapd"
)

// defaultThrottleState is [auth] throttle_state's default: under /run,
// which is emptied at boot, as the counts need not outlive it.
const defaultThrottleState = "/run/imapd/throttle"

// sharedThrottle is the failed-login throttle of a process that serves
// one connection (-inetd, and so each session process in PAM mode): its
// per-address counts live in the throttle_state file, shared by every
// such process, so that a client's next connection waits the doubled
// delay rather than starting again at one second. It must be called
// before the privilege drop: the file is opened as the daemon's user
// (root) and then used through that descriptor.
//
// An explicit throttle_state that cannot be opened is an error. The
// default one may not be writable by a user running -inetd by hand: then
// the counts are this process's alone, with a warning.
func sharedThrottle(cfg Config, authn auth.Authenticator, limits imapd.Limits, logger *slog.Logger) (*auth.Throttle, error) {
	path := cfg.Auth.ThrottleState
	if path == "" {
		path = defaultThrottleState
	}
	st, err := auth.OpenThrottleState(path)
	if err != nil {
		if cfg.Auth.ThrottleState != "" {
			return nil, err
		}
		logger.Warn("failed-login counts not shared with other processes", "err", err)
		st = nil
	}
	return auth.NewThrottle(authn, auth.ThrottleOptions{Logger: logger,
		Concurrency: limits.LoginConcurrency, State: st}), nil
}
