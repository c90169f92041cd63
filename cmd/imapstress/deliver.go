package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// deliver writes messages into the Maildir dir as an MTA does: the whole
// file in tmp/, then a rename into new/ (Maildir's only promise to
// readers), rate times a second until ctx ends. Files get the owner of
// new/, so a server running as the mail user can rename them.
func deliver(ctx context.Context, dir string, rate float64, seed uint64, n *atomic.Int64) error {
	if rate <= 0 {
		return nil
	}
	fi, err := os.Stat(filepath.Join(dir, "new"))
	if err != nil {
		return err
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	rng := rand.New(rand.NewPCG(seed, 1<<40))
	host, _ := os.Hostname()
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		i := n.Load() + 1
		name := fmt.Sprintf("%d.M%dP%dQ%d.%s", time.Now().Unix(), time.Now().Nanosecond()/1000, os.Getpid(), i, host)
		var body []byte
		body = fmt.Appendf(body, "From: Delivery <postmaster@example.org>\nTo: stress@example.org\n"+
			"Subject: delivered %d %s\nDate: %s\nMessage-ID: <deliver.%d.%d@example.org>\n\n",
			i, words[rng.IntN(len(words))], time.Now().Format(time.RFC1123Z), i, seed)
		for j := 0; j < 1+rng.IntN(50); j++ {
			body = fmt.Appendf(body, "%s %s %s\n", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		}
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, body, 0o600); err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Chown(tmp, uid, gid); err != nil {
				return err
			}
		}
		if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
			return err
		}
		n.Add(1)
	}
}
