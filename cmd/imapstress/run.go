package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stress is what all sessions of one run share.
type stress struct {
	cfg    Config
	reg    *registry
	rec    *recorder
	stats  *stats
	msgSeq atomic.Int64 // numbers the messages this run writes
	// reconnects counts sessions that had to connect again after a
	// connection error.
	reconnects atomic.Int64
}

// Run sets the users' mailboxes up, runs the clients for cfg.Duration,
// checks that no message was lost, and reports. Its error is the
// harness's own (cannot connect or log in); everything the server did
// wrong is in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	st := &stress{cfg: cfg, reg: newRegistry(), rec: newRecorder(cfg.Examples, cfg.Verbose), stats: newStats()}
	if err := st.setup(); err != nil {
		return nil, err
	}
	st.stats.reset()
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var delivered atomic.Int64
	var dwg sync.WaitGroup
	var derr error
	if cfg.DeliverDir != "" {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			derr = deliver(runCtx, cfg.DeliverDir, cfg.DeliverRate, cfg.Seed, &delivered)
		}()
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.Clients)
	for i := 0; i < cfg.Clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.client(runCtx, i)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	dwg.Wait()
	if derr != nil {
		return nil, fmt.Errorf("delivery: %w", derr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := st.finalCheck(); err != nil {
		return nil, err
	}
	return st.report(elapsed, delivered.Load()), nil
}

func (st *stress) newSession(id int, c cred) *session {
	return &session{st: st, id: id, cred: c, rng: rand.New(rand.NewPCG(st.cfg.Seed, uint64(id)))}
}

// client is one connection's loop. It returns an error only when it
// never got a working session: the harness cannot reach the server.
func (st *stress) client(ctx context.Context, i int) error {
	s := st.newSession(i+1, st.cfg.Users[i%len(st.cfg.Users)])
	if err := s.connect(); err != nil {
		s.close()
		return fmt.Errorf("session %d: %w", s.id, err)
	}
	for ctx.Err() == nil {
		err := s.step()
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		s.violate(vConn, "%v", err)
		s.close()
		st.reconnects.Add(1)
		time.Sleep(100 * time.Millisecond)
		if err := s.connect(); err != nil {
			s.close()
			return fmt.Errorf("session %d: reconnect: %w", s.id, err)
		}
	}
	s.logout()
	return nil
}

// setup makes every user's mailboxes, puts a few messages in each, and
// registers every message there, so that the loss check covers them.
func (st *stress) setup() error {
	for i, u := range st.cfg.Users {
		s := st.newSession(-(i + 1), u)
		if err := s.connect(); err != nil {
			s.close()
			return fmt.Errorf("setup %s: %w", u.user, err)
		}
		for _, mb := range st.cfg.Mailboxes[1:] {
			// NO [ALREADYEXISTS] is fine: the run may be a second one.
			if err := s.do(&command{kind: "CREATE"}, "CREATE "+quote(mb), nil); err != nil {
				return fmt.Errorf("setup %s: %w", u.user, err)
			}
		}
		for _, mb := range st.cfg.Mailboxes {
			if err := s.doSelect(mb, false); err != nil {
				return fmt.Errorf("setup %s %s: %w", u.user, mb, err)
			}
			if s.sel == nil {
				return fmt.Errorf("setup %s: cannot select %s", u.user, mb)
			}
			for n := s.count(); n < 10; n++ {
				if err := s.doAppend(mb); err != nil {
					return fmt.Errorf("setup %s %s: %w", u.user, mb, err)
				}
			}
			if err := s.scan(); err != nil {
				return fmt.Errorf("setup %s %s: %w", u.user, mb, err)
			}
		}
		s.logout()
	}
	return nil
}

// scan fetches every UID, size and flags of the selected mailbox; the
// FETCH handler registers them (and \Deleted ones as removable).
func (s *session) scan() error {
	c := &command{kind: "UID FETCH", mustOK: true}
	if err := s.do(c, "UID FETCH 1:* (UID FLAGS RFC822.SIZE)", nil); err != nil {
		return err
	}
	if c.tagged.Type != "OK" {
		return fmt.Errorf("UID FETCH 1:*: %s", c.tagged.Summary)
	}
	return nil
}

// finalCheck looks, on fresh connections after all clients stopped, for
// every message that was seen and that no one deleted or moved.
func (st *stress) finalCheck() error {
	for i, u := range st.cfg.Users {
		s := st.newSession(-1000-i, u)
		if err := s.connect(); err != nil {
			s.close()
			return fmt.Errorf("final check %s: %w", u.user, err)
		}
		for _, mb := range st.cfg.Mailboxes {
			if err := s.doSelect(mb, true); err != nil {
				return fmt.Errorf("final check %s %s: %w", u.user, mb, err)
			}
			if s.sel == nil || s.sel.uidv == 0 {
				return fmt.Errorf("final check %s: cannot examine %s", u.user, mb)
			}
			present := map[uint32]bool{}
			for _, sl := range s.sel.slots {
				present[sl.uid] = true
			}
			var missing []string
			for _, uid := range st.reg.survivors(s.sel.key(u.user)) {
				if !present[uid] {
					missing = append(missing, strconv.FormatUint(uint64(uid), 10))
				}
			}
			if len(missing) > 0 {
				s.violate(vLost, "%d messages no session deleted or moved are gone: UIDs %s", len(missing), strings.Join(missing, ","))
			}
		}
		s.logout()
	}
	return nil
}
