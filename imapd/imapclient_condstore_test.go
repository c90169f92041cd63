package imapd

import (
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestIMAPClientCondStore drives CONDSTORE (RFC 7162 §3.1) with every
// call go-imap v2's client has for it: SELECT (CONDSTORE) and its
// HIGHESTMODSEQ, FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE,
// SEARCH MODSEQ, STATUS HIGHESTMODSEQ, and MODSEQ in the FETCH of
// another session's change. (Its ENABLE refuses QRESYNC, so QRESYNC is
// left to the transcripts, the Dovecot differential test and
// imapstress.)
func TestIMAPClientCondStore(t *testing.T) {
	ts := newTestServer(t)
	for _, raw := range []string{gicPlain().raw, gicLunch().raw, gicLunch().raw} {
		gicDeliver(t, ts, "INBOX", raw)
	}
	fetches := make(chan *imapclient.FetchMessageBuffer, 16)
	a := gicLogin(t, ts, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Fetch: func(m *imapclient.FetchMessageData) {
			if buf, err := m.Collect(); err == nil {
				fetches <- buf
			}
		},
	}})
	if caps := a.Caps(); !caps.Has(imap.CapCondStore) || !caps.Has(imap.CapQResync) {
		t.Fatalf("capabilities %v lack CONDSTORE or QRESYNC", caps)
	}
	sel, err := a.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	h0 := sel.HighestModSeq
	if h0 == 0 {
		t.Fatal("SELECT (CONDSTORE) without HIGHESTMODSEQ")
	}
	msgs := gicFetch(t, a, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, ModSeq: true})
	seen := map[uint64]bool{}
	for _, m := range msgs {
		if m.ModSeq == 0 || m.ModSeq > h0 || seen[m.ModSeq] {
			t.Fatalf("message %d: MODSEQ %d (HIGHESTMODSEQ %d, seen %v)", m.SeqNum, m.ModSeq, h0, seen)
		}
		seen[m.ModSeq] = true
	}

	// A conditional STORE that passes gets a MODSEQ above every one before.
	stored, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}},
		&imap.StoreOptions{UnchangedSince: h0}).Collect()
	if err != nil || len(stored) != 1 || stored[0].ModSeq <= h0 || !gicHasFlag(stored[0].Flags, imap.FlagFlagged) {
		t.Fatalf("STORE (UNCHANGEDSINCE %d): %+v, %v", h0, stored, err)
	}
	h1 := stored[0].ModSeq
	// One that fails (message 1 changed since h0) changes nothing.
	if _, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}},
		&imap.StoreOptions{UnchangedSince: h0}).Collect(); err != nil {
		t.Fatal(err)
	}
	if m := gicFetchOne(t, a, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, ModSeq: true}); gicHasFlag(m.Flags, imap.FlagSeen) || m.ModSeq != h1 {
		t.Fatalf("after a failed conditional STORE: flags %v MODSEQ %d, want no \\Seen and %d", m.Flags, m.ModSeq, h1)
	}

	changed := gicFetch(t, a, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, ChangedSince: h0})
	if len(changed) != 1 || changed[0].SeqNum != 1 || changed[0].ModSeq != h1 {
		t.Fatalf("FETCH (CHANGEDSINCE %d): %+v", h0, changed)
	}

	sd, err := a.Search(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: h0 + 1}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllSeqNums(), []uint32{1}) || sd.ModSeq != h1 {
		t.Fatalf("SEARCH MODSEQ %d: %v (MODSEQ %d), %v", h0+1, sd.AllSeqNums(), sd.ModSeq, err)
	}

	// Another session's change reaches this one with its MODSEQ.
	b := gicLogin(t, ts, nil)
	gicSelect(t, b, "INBOX")
	if err := b.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status("INBOX", &imap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil || st.HighestModSeq <= h1 {
		t.Fatalf("STATUS HIGHESTMODSEQ: %+v, %v (was %d)", st, err, h1)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-fetches:
		if m.SeqNum != 3 || m.ModSeq != st.HighestModSeq || !gicHasFlag(m.Flags, imap.FlagAnswered) {
			t.Fatalf("the other session's STORE came as %+v, want message 3 with MODSEQ %d", m, st.HighestModSeq)
		}
	case <-time.After(gicWait):
		t.Fatal("the other session's STORE did not come")
	}
}
