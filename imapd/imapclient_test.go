package imapd

// Tests in which an independent client, github.com/emersion/go-imap/v2's
// imapclient, drives the server (issue 3, "an independent client"). Every
// expected value is computed here from the fixtures; the helpers carry the
// prefix gic to stay clear of the other test files of the package.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"imapd/maildir"
)

// gicWait bounds every wait for unilateral data.
const gicWait = 2 * time.Second

// gicStateAfter returns c's state once it is want, or after a second.
// go-imap's client lets a command's Wait return before its reader has set
// the state the tagged OK gives (completeCommand: done, then setState).
func gicStateAfter(c *imapclient.Client, want imap.ConnState) imap.ConnState {
	deadline := time.Now().Add(time.Second)
	for c.State() != want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return c.State()
}

func TestIMAPClientLogin(t *testing.T) {
	ts := newTestServer(t)

	c := gicDial(t, ts, nil)
	caps := c.Caps()
	if !caps.Has(imap.CapIMAP4rev1) {
		t.Fatalf("capabilities %v lack IMAP4rev1", caps)
	}
	// Loopback counts as secure: no LOGINDISABLED, AUTH=PLAIN offered.
	if caps.Has(imap.CapLoginDisabled) {
		t.Fatalf("LOGINDISABLED on loopback: %v", caps)
	}
	var imapErr *imap.Error
	if err := c.Login("demo", "wrong").Wait(); !errors.As(err, &imapErr) || imapErr.Type != imap.StatusResponseTypeNo {
		t.Fatalf("LOGIN with a wrong password: %v, want NO", err)
	} else if imapErr.Code != imap.ResponseCodeAuthenticationFailed {
		t.Errorf("LOGIN failure code %q, want %q (RFC 5530)", imapErr.Code, imap.ResponseCodeAuthenticationFailed)
	}
	if err := c.Login("demo", "demo").Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	if st := gicStateAfter(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
		t.Fatalf("state after LOGIN: %v", st)
	}
	// The client asks for the capabilities again after login.
	if caps := c.Caps(); !caps.Has(imap.CapIdle) || !caps.Has(imap.CapUIDPlus) {
		t.Errorf("capabilities after login: %v", caps)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("LOGOUT: %v", err)
	}

	// AUTHENTICATE PLAIN, with SASL-IR when advertised.
	c = gicDial(t, ts, nil)
	caps = c.Caps()
	if !caps.Has(imap.AuthCap(sasl.Plain)) {
		t.Fatalf("AUTH=PLAIN not advertised on loopback: %v", caps)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "demo", "wrong")); !errors.As(err, &imapErr) || imapErr.Type != imap.StatusResponseTypeNo {
		t.Fatalf("AUTHENTICATE PLAIN with a wrong password: %v, want NO", err)
	} else if imapErr.Code != imap.ResponseCodeAuthenticationFailed {
		t.Errorf("AUTHENTICATE PLAIN failure code %q, want %q (RFC 5530)", imapErr.Code, imap.ResponseCodeAuthenticationFailed)
	}
	if st := c.State(); st != imap.ConnStateNotAuthenticated {
		t.Fatalf("state after a failed AUTHENTICATE: %v", st)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "demo", "demo")); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if st := gicStateAfter(c, imap.ConnStateAuthenticated); st != imap.ConnStateAuthenticated {
		t.Fatalf("state after AUTHENTICATE: %v", st)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after AUTHENTICATE: %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("LOGOUT: %v", err)
	}
}

func TestIMAPClientMailboxes(t *testing.T) {
	ts := newTestServer(t)
	inbox := []*gicMsg{gicPlain(), gicLunch()}
	for _, m := range inbox {
		gicDeliver(t, ts, "INBOX", m.raw)
	}
	c := gicLogin(t, ts, nil)
	caps := c.Caps()

	// LIST "" "": the hierarchy delimiter.
	root, err := c.List("", "", nil).Collect()
	if err != nil || len(root) != 1 {
		t.Fatalf(`LIST "" "": %v %v`, root, err)
	}
	d := string(root[0].Delim)
	if d == "" || d == "\x00" {
		t.Fatalf("no hierarchy delimiter: %+v", root[0])
	}
	projects, alpha, beta := "Projects", "Projects"+d+"Alpha", "Projects"+d+"Beta"
	for _, name := range []string{projects, alpha, "Archive"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	var imapErr *imap.Error
	if err := c.Create("Archive", nil).Wait(); !errors.As(err, &imapErr) || imapErr.Type != imap.StatusResponseTypeNo {
		t.Errorf("CREATE of an existing mailbox: %v, want NO", err)
	}
	alphaMsg := gicLunch()
	gicDeliver(t, ts, alpha, alphaMsg.raw)

	list := func() map[string]*imap.ListData {
		t.Helper()
		var o *imap.ListOptions
		if caps.Has(imap.CapListStatus) {
			// An extended LIST gives \HasChildren and \HasNoChildren
			// when asked (RFC 5258 §4), as Dovecot's does.
			o = &imap.ListOptions{ReturnChildren: true,
				ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true}}
		}
		l, err := c.List("", "*", o).Collect()
		if err != nil {
			t.Fatalf(`LIST "" "*": %v`, err)
		}
		m := map[string]*imap.ListData{}
		for _, e := range l {
			if string(e.Delim) != d {
				t.Errorf("LIST %s: delimiter %q, want %q", e.Mailbox, e.Delim, d)
			}
			m[e.Mailbox] = e
		}
		return m
	}
	checkChildren := func(l map[string]*imap.ListData, name string, has bool) {
		t.Helper()
		e := l[name]
		if e == nil {
			t.Errorf("LIST lacks %s: %v", name, l)
			return
		}
		if !caps.Has(imap.CapChildren) {
			return
		}
		want, not := imap.MailboxAttrHasNoChildren, imap.MailboxAttrHasChildren
		if has {
			want, not = not, want
		}
		if !slices.Contains(e.Attrs, want) || slices.Contains(e.Attrs, not) {
			t.Errorf("LIST %s: attributes %v, want %s (RFC 3348)", name, e.Attrs, want)
		}
	}
	// STATUS of each mailbox, from LIST-STATUS if offered, else STATUS.
	checkStatus := func(l map[string]*imap.ListData, name string, msgs []*gicMsg) {
		t.Helper()
		st := l[name].Status
		if st == nil {
			if caps.Has(imap.CapListStatus) {
				t.Errorf("LIST-STATUS: no STATUS for %s", name)
			}
			st, err = c.Status(name, &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true}).Wait()
			if err != nil {
				t.Fatalf("STATUS %s: %v", name, err)
			}
		}
		want, err := ts.store().Status(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.NumMessages == nil || *st.NumMessages != uint32(len(msgs)) ||
			st.NumUnseen == nil || *st.NumUnseen != uint32(len(msgs)) ||
			st.UIDValidity != want.UIDValidity || uint32(st.UIDNext) != want.UIDNext {
			t.Errorf("STATUS %s: %+v, want %d messages, all unseen, UIDVALIDITY %d, UIDNEXT %d",
				name, st, len(msgs), want.UIDValidity, want.UIDNext)
		}
	}

	l := list()
	if len(l) != 4 {
		t.Errorf("LIST: %d mailboxes, want 4: %v", len(l), l)
	}
	checkChildren(l, "INBOX", false)
	checkChildren(l, projects, true)
	checkChildren(l, alpha, false)
	checkChildren(l, "Archive", false)
	checkStatus(l, "INBOX", inbox)
	checkStatus(l, alpha, []*gicMsg{alphaMsg})
	checkStatus(l, "Archive", nil)

	// LIST with % stops at the delimiter.
	top, err := c.List("", "%", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range top {
		names = append(names, e.Mailbox)
	}
	slices.Sort(names)
	if want := []string{"Archive", "INBOX", projects}; !slices.Equal(names, want) {
		t.Errorf(`LIST "" "%%": %v, want %v`, names, want)
	}

	// RENAME moves the messages along.
	if err := c.Rename(alpha, beta, nil).Wait(); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	l = list()
	if l[alpha] != nil {
		t.Errorf("%s still listed after RENAME", alpha)
	}
	checkChildren(l, projects, true)
	checkChildren(l, beta, false)
	checkStatus(l, beta, []*gicMsg{alphaMsg})

	// DELETE.
	if err := c.Delete(beta).Wait(); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	if err := c.Delete(beta).Wait(); !errors.As(err, &imapErr) || imapErr.Type != imap.StatusResponseTypeNo {
		t.Errorf("DELETE of a missing mailbox: %v, want NO", err)
	}
	l = list()
	if l[beta] != nil || len(l) != 3 {
		t.Errorf("LIST after DELETE: %v", l)
	}
	checkChildren(l, projects, false)
	if _, err := c.Select(beta, nil).Wait(); !errors.As(err, &imapErr) || imapErr.Type != imap.StatusResponseTypeNo {
		t.Errorf("SELECT of a deleted mailbox: %v, want NO", err)
	}
}

func TestIMAPClientFetch(t *testing.T) {
	ts := newTestServer(t)
	mixed, parts := gicMixed()
	msgs := []*gicMsg{gicPlain(), mixed, gicLunch()}
	var app []maildir.Appended
	for _, m := range msgs {
		app = append(app, gicDeliver(t, ts, "INBOX", m.raw))
	}
	c := gicLogin(t, ts, nil)

	sel := gicSelect(t, c, "INBOX")
	if sel.NumMessages != uint32(len(msgs)) {
		t.Errorf("SELECT: %d messages, want %d", sel.NumMessages, len(msgs))
	}
	if sel.UIDValidity != app[0].UIDValidity {
		t.Errorf("SELECT: UIDVALIDITY %d, want %d", sel.UIDValidity, app[0].UIDValidity)
	}
	if want := imap.UID(app[len(app)-1].UID + 1); sel.UIDNext != want {
		t.Errorf("SELECT: UIDNEXT %d, want %d", sel.UIDNext, want)
	}
	for _, f := range []imap.Flag{imap.FlagWildcard, imap.FlagSeen, imap.FlagDeleted, imap.FlagFlagged, imap.FlagAnswered, imap.FlagDraft} {
		if !gicHasFlag(sel.PermanentFlags, f) {
			t.Errorf("SELECT: PERMANENTFLAGS %v lack %s", sel.PermanentFlags, f)
		}
	}
	if mb := c.Mailbox(); mb == nil || mb.Name != "INBOX" || mb.NumMessages != uint32(len(msgs)) {
		t.Errorf("client's selected mailbox: %+v", mb)
	}

	// ENVELOPE, UID, FLAGS, RFC822.SIZE, BODYSTRUCTURE of every message.
	all := gicFetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		Envelope: true, UID: true, Flags: true, RFC822Size: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
	})
	if len(all) != len(msgs) {
		t.Fatalf("FETCH 1:3: %d messages", len(all))
	}
	slices.SortFunc(all, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.SeqNum) - int(b.SeqNum) })
	for i, got := range all {
		m := msgs[i]
		what := fmt.Sprintf("message %d", i+1)
		if got.SeqNum != uint32(i+1) || got.UID != imap.UID(app[i].UID) {
			t.Errorf("%s: seq %d uid %d, want %d %d", what, got.SeqNum, got.UID, i+1, app[i].UID)
		}
		if got.RFC822Size != int64(len(m.raw)) {
			t.Errorf("%s: RFC822.SIZE %d, want %d", what, got.RFC822Size, len(m.raw))
		}
		if len(gicFlags(got.Flags)) != 0 {
			t.Errorf("%s: flags %v, want none", what, got.Flags)
		}
		if got.InternalDate.IsZero() {
			t.Errorf("%s: no INTERNALDATE", what)
		}
		gicCheckEnvelope(t, what, got.Envelope, m)
	}

	// The plain message: one text/plain part in quoted-printable.
	p := gicSingle(t, "message 1", all[0].BodyStructure, "text", "plain")
	body1 := msgs[0].raw[strings.Index(msgs[0].raw, "\r\n\r\n")+4:]
	if p.Size != uint32(len(body1)) || !strings.EqualFold(p.Encoding, "quoted-printable") ||
		!strings.EqualFold(p.Params["charset"], "utf-8") {
		t.Errorf("message 1: body %+v, want size %d, quoted-printable, charset utf-8", p, len(body1))
	}
	if p.Text == nil || p.Text.NumLines != int64(strings.Count(body1, "\r\n")) {
		t.Errorf("message 1: lines %+v, want %d", p.Text, strings.Count(body1, "\r\n"))
	}

	// The mixed message.
	mp := gicMulti(t, "message 2", all[1].BodyStructure, "mixed", 3)
	if mp.Extended == nil || mp.Extended.Params["boundary"] != "outer-b" {
		t.Errorf("message 2: multipart extension data %+v, want boundary outer-b", mp.Extended)
	}
	p1 := gicSingle(t, "part 1", mp.Children[0], "text", "plain")
	gicCheckText(t, "part 1", p1, parts.text)
	if !strings.EqualFold(p1.Encoding, "7bit") {
		t.Errorf("part 1: encoding %q", p1.Encoding)
	}
	p2 := gicSingle(t, "part 2", mp.Children[1], "message", "rfc822")
	if p2.Size != uint32(len(parts.nested.raw)) {
		t.Errorf("part 2: size %d, want %d", p2.Size, len(parts.nested.raw))
	}
	if r := p2.MessageRFC822; r == nil {
		t.Errorf("part 2: no message/rfc822 data")
	} else {
		if want := int64(strings.Count(parts.nested.raw, "\r\n")); r.NumLines != want {
			t.Errorf("part 2: %d lines, want %d", r.NumLines, want)
		}
		gicCheckEnvelope(t, "part 2 (nested)", r.Envelope, parts.nested)
		alt := gicMulti(t, "part 2 body", r.BodyStructure, "alternative", 2)
		gicCheckText(t, "part 2.1", gicSingle(t, "part 2.1", alt.Children[0], "text", "plain"), parts.innerPlain)
		gicCheckText(t, "part 2.2", gicSingle(t, "part 2.2", alt.Children[1], "text", "html"), parts.innerHTML)
	}
	p3 := gicSingle(t, "part 3", mp.Children[2], "application", "pdf")
	if p3.Size != uint32(len(parts.attachB64)) || !strings.EqualFold(p3.Encoding, "base64") {
		t.Errorf("part 3: size %d encoding %q, want %d base64", p3.Size, p3.Encoding, len(parts.attachB64))
	}
	if p3.Filename() != parts.filename || p3.Params["name"] != parts.filename {
		t.Errorf("part 3: filename %q, params %v, want %q", p3.Filename(), p3.Params, parts.filename)
	}
	if dsp := p3.Disposition(); dsp == nil || !strings.EqualFold(dsp.Value, "attachment") || dsp.Params["filename"] != parts.filename {
		t.Errorf("part 3: disposition %+v", dsp)
	}

	// Sections of the mixed message: BODY.PEEK[1], [2.1] inside the
	// nested message, [3] (the attachment as sent), [2.HEADER].
	sec1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	sec21 := &imap.FetchItemBodySection{Part: []int{2, 1}, Peek: true}
	sec3 := &imap.FetchItemBodySection{Part: []int{3}, Peek: true}
	sec2h := &imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierHeader, Peek: true}
	got := gicFetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec1, sec21, sec3, sec2h}})
	if b := string(got.FindBodySection(sec1)); b != parts.text {
		t.Errorf("BODY[1] = %q, want %q", b, parts.text)
	}
	if b := string(got.FindBodySection(sec21)); b != parts.innerPlain {
		t.Errorf("BODY[2.1] = %q, want %q", b, parts.innerPlain)
	}
	if b := got.FindBodySection(sec3); string(b) != parts.attachB64 {
		t.Errorf("BODY[3] = %q, want %q", b, parts.attachB64)
	} else if dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", "")); err != nil || !bytes.Equal(dec, parts.attachment) {
		t.Errorf("BODY[3] does not decode to the attachment: %v", err)
	}
	if b, want := string(got.FindBodySection(sec2h)), parts.nested.raw[:strings.Index(parts.nested.raw, "\r\n\r\n")+4]; b != want {
		t.Errorf("BODY[2.HEADER] = %q, want %q", b, want)
	}

	// The plain message: HEADER.FIELDS (SUBJECT) with the encoded word as
	// sent, then BODY[TEXT]<0.10>, which sets \Seen.
	secSubj := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"SUBJECT"}, Peek: true}
	got = gicFetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{secSubj}, Flags: true})
	var subjLine string
	for _, l := range strings.SplitAfter(msgs[0].raw, "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "subject:") {
			subjLine = l
		}
	}
	if b := string(got.FindBodySection(secSubj)); b != subjLine+"\r\n" {
		t.Errorf("BODY[HEADER.FIELDS (SUBJECT)] = %q, want %q", b, subjLine+"\r\n")
	}
	if gicHasFlag(got.Flags, imap.FlagSeen) {
		t.Errorf("BODY.PEEK set \\Seen: %v", got.Flags)
	}
	secText := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 0, Size: 10}}
	got = gicFetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{secText}})
	if b := string(got.FindBodySection(secText)); b != body1[:10] {
		t.Errorf("BODY[TEXT]<0.10> = %q, want %q", b, body1[:10])
	}
	got = gicFetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})
	if !gicHasFlag(got.Flags, imap.FlagSeen) {
		t.Errorf("BODY[TEXT] did not set \\Seen: %v", got.Flags)
	}

	// UID FETCH of the whole message: the exact bytes delivered.
	secAll := &imap.FetchItemBodySection{Peek: true}
	got = gicFetchOne(t, c, imap.UIDSetNum(imap.UID(app[1].UID)), &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{secAll}})
	if got.UID != imap.UID(app[1].UID) || got.SeqNum != 2 || string(got.FindBodySection(secAll)) != mixed.raw || got.RFC822Size != int64(len(mixed.raw)) {
		t.Errorf("UID FETCH %d BODY.PEEK[]: uid %d seq %d size %d, body equal %v", app[1].UID, got.UID, got.SeqNum,
			got.RFC822Size, string(got.FindBodySection(secAll)) == mixed.raw)
	}
}

func TestIMAPClientSearch(t *testing.T) {
	ts := newTestServer(t)
	mixed, _ := gicMixed()
	msgs := []*gicMsg{gicPlain(), mixed, gicLunch()}
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, imap.UID(gicDeliver(t, ts, "INBOX", m.raw).UID))
	}
	c := gicLogin(t, ts, nil)
	gicSelect(t, c, "INBOX")

	search := func(what string, crit *imap.SearchCriteria, want []uint32) {
		t.Helper()
		d, err := c.Search(crit, nil).Wait()
		if err != nil {
			t.Errorf("SEARCH %s: %v", what, err)
			return
		}
		if got := d.AllSeqNums(); !slices.Equal(got, want) {
			t.Errorf("SEARCH %s: %v, want %v", what, got, want)
		}
	}
	uidSearch := func(what string, crit *imap.SearchCriteria, want []imap.UID) {
		t.Helper()
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			t.Errorf("UID SEARCH %s: %v", what, err)
			return
		}
		if got := d.AllUIDs(); !slices.Equal(got, want) {
			t.Errorf("UID SEARCH %s: %v, want %v", what, got, want)
		}
	}

	search("ALL", &imap.SearchCriteria{}, gicMatch(msgs, func(*gicMsg) bool { return true }))
	// HEADER on a raw field, and on a decoded RFC 2047 subject.
	mid := msgs[1].messageID[:strings.Index(msgs[1].messageID, "@")]
	search("HEADER Message-ID", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: mid}}},
		gicMatch(msgs, func(m *gicMsg) bool { return strings.Contains(m.messageID, mid) }))
	search("HEADER Subject köln", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "KÖLN"}}},
		gicMatch(msgs, func(m *gicMsg) bool { return gicContainsFold(m.subject, "köln") }))
	// BODY with a UTF-8 term (the client sends CHARSET UTF-8) against a
	// quoted-printable body, case-insensitively.
	for _, term := range []string{"BRÖTCHEN", "käse zum", "bread", "attached"} {
		search("BODY "+term, &imap.SearchCriteria{Body: []string{term}},
			gicMatch(msgs, func(m *gicMsg) bool { return gicContainsFold(m.text, term) }))
	}
	search("TEXT frühstück", &imap.SearchCriteria{Text: []string{"frühstück"}},
		gicMatch(msgs, func(m *gicMsg) bool {
			return gicContainsFold(m.text, "frühstück") || gicContainsFold(m.subject, "frühstück")
		}))
	search("NOT BODY bread", &imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"bread"}}}},
		gicMatch(msgs, func(m *gicMsg) bool { return !gicContainsFold(m.text, "bread") }))

	// Flags: \Seen and a keyword on 1 and 3.
	const kw = imap.Flag("$Project")
	if _, err := c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagSeen, kw}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	flagged := map[uint32]bool{1: true, 3: true}
	search("KEYWORD $Project", &imap.SearchCriteria{Flag: []imap.Flag{kw}},
		gicMatch(msgs, func(m *gicMsg) bool { return flagged[uint32(slices.Index(msgs, m)+1)] }))
	search("UNSEEN", &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}},
		gicMatch(msgs, func(m *gicMsg) bool { return !flagged[uint32(slices.Index(msgs, m)+1)] }))
	search("SEEN BODY bread", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}, Body: []string{"bread"}},
		gicMatch(msgs, func(m *gicMsg) bool {
			return flagged[uint32(slices.Index(msgs, m)+1)] && gicContainsFold(m.text, "bread")
		}))

	// Sequence and UID ranges.
	var r imap.UIDSet
	r.AddRange(uids[1], uids[2])
	uidSearch("UID range", &imap.SearchCriteria{UID: []imap.UIDSet{r}}, uids[1:3])
	var open imap.UIDSet
	open.AddRange(uids[1], 0) // uid:*
	uidSearch("UID n:*", &imap.SearchCriteria{UID: []imap.UIDSet{open}}, uids[1:])
	uidSearch("UID beyond", &imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(uids[2] + 10)}}, nil)
	var seqs imap.SeqSet
	seqs.AddRange(2, 3)
	uidSearch("2:3 NOT KEYWORD", &imap.SearchCriteria{SeqNum: []imap.SeqSet{seqs}, NotFlag: []imap.Flag{kw}}, []imap.UID{uids[1]})
	search("OR", &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
		{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}},
		{UID: []imap.UIDSet{imap.UIDSetNum(uids[0])}},
	}}}, []uint32{1, 3})
}

func TestIMAPClientStoreCopyExpunge(t *testing.T) {
	ts := newTestServer(t)
	mixed, _ := gicMixed()
	msgs := []*gicMsg{gicPlain(), mixed, gicLunch(), gicLunch()}
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, imap.UID(gicDeliver(t, ts, "INBOX", m.raw).UID))
	}
	c := gicLogin(t, ts, nil)
	if !c.Caps().Has(imap.CapUIDPlus) {
		t.Fatal("UIDPLUS not advertised")
	}
	if err := c.Create("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	gicSelect(t, c, "INBOX")

	// STORE +FLAGS (not silent): FETCH FLAGS for each message.
	const kw = imap.Flag("$Custom")
	res, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, kw}}, nil).Collect()
	if err != nil {
		t.Fatalf("STORE: %v", err)
	}
	if len(res) != 2 {
		t.Errorf("STORE 1:2 +FLAGS: %d FETCH responses, want 2", len(res))
	}
	for _, m := range res {
		if !gicHasFlag(m.Flags, imap.FlagSeen) || !gicHasFlag(m.Flags, kw) || len(gicFlags(m.Flags)) != 2 {
			t.Errorf("STORE: message %d flags %v", m.SeqNum, m.Flags)
		}
	}
	// UID STORE -FLAGS.SILENT: nothing back; the change shows in FETCH.
	res, err = c.Store(imap.UIDSetNum(uids[1]), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	if err != nil || len(res) != 0 {
		t.Errorf("UID STORE -FLAGS.SILENT: %v, %d FETCH responses, want none", err, len(res))
	}
	got := gicFetchOne(t, c, imap.UIDSetNum(uids[1]), &imap.FetchOptions{Flags: true, UID: true})
	if gicHasFlag(got.Flags, imap.FlagSeen) || !gicHasFlag(got.Flags, kw) {
		t.Errorf("after -FLAGS.SILENT: %v", got.Flags)
	}
	// UID STORE (not silent) names the UID in its FETCH (RFC 3501 §6.4.8).
	res, err = c.Store(imap.UIDSetNum(uids[2]), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil || len(res) != 1 || res[0].UID != uids[2] || len(gicFlags(res[0].Flags)) != 1 || !gicHasFlag(res[0].Flags, imap.FlagFlagged) {
		t.Errorf("UID STORE FLAGS: %v %+v", err, res)
	}

	// UID COPY with COPYUID.
	before, err := ts.store().Status("Archive")
	if err != nil {
		t.Fatal(err)
	}
	src := []imap.UID{uids[0], uids[2]}
	// RFC 3501 §6.4.7: the copies SHOULD keep flags and internal date.
	orig := map[imap.UID]*imapclient.FetchMessageBuffer{}
	for _, m := range gicFetch(t, c, imap.UIDSetNum(src...), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true}) {
		orig[m.UID] = m
	}
	cd, err := c.Copy(imap.UIDSetNum(src...), "Archive").Wait()
	if err != nil {
		t.Fatalf("UID COPY: %v", err)
	}
	wantDst := []imap.UID{imap.UID(before.UIDNext), imap.UID(before.UIDNext + 1)}
	if cd.UIDValidity != before.UIDValidity || !slices.Equal(gicUIDs(cd.SourceUIDs), src) || !slices.Equal(gicUIDs(cd.DestUIDs), wantDst) {
		t.Errorf("COPYUID %d %v %v, want %d %v %v", cd.UIDValidity, cd.SourceUIDs, cd.DestUIDs, before.UIDValidity, src, wantDst)
	}
	var imapErr *imap.Error
	if _, err := c.Copy(imap.SeqSetNum(1), "Nowhere").Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeTryCreate {
		t.Errorf("COPY to a missing mailbox: %v, want NO [TRYCREATE]", err)
	}

	// UID EXPUNGE removes only the UIDs named, EXPUNGE the rest.
	if _, err := c.Store(imap.SeqSetNum(1, 3, 4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	model := slices.Clone(uids)
	seqs, err := c.UIDExpunge(imap.UIDSetNum(uids[2])).Collect()
	if err != nil {
		t.Fatalf("UID EXPUNGE: %v", err)
	}
	if gone := gicApplyExpunges(t, &model, seqs); !slices.Equal(gone, []imap.UID{uids[2]}) {
		t.Errorf("UID EXPUNGE %d: expunged %v (seq %v)", uids[2], gone, seqs)
	}
	seqs, err = c.Expunge().Collect()
	if err != nil {
		t.Fatalf("EXPUNGE: %v", err)
	}
	if gone := gicApplyExpunges(t, &model, seqs); !slices.Equal(gone, []imap.UID{uids[0], uids[3]}) {
		t.Errorf("EXPUNGE: expunged %v (seq %v), want %v", gone, seqs, []imap.UID{uids[0], uids[3]})
	}
	if mb := c.Mailbox(); mb.NumMessages != uint32(len(model)) {
		t.Errorf("client counts %d messages, want %d", mb.NumMessages, len(model))
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil || !slices.Equal(d.AllUIDs(), model) {
		t.Errorf("UID SEARCH ALL after EXPUNGE: %v %v, want %v", d, err, model)
	}

	// The copies: same bytes, flags carried over.
	sel := gicSelect(t, c, "Archive")
	if sel.NumMessages != uint32(len(src)) {
		t.Errorf("Archive: %d messages, want %d", sel.NumMessages, len(src))
	}
	secAll := &imap.FetchItemBodySection{Peek: true}
	copies := gicFetch(t, c, imap.UIDSetNum(wantDst...), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{secAll}})
	if len(copies) != 2 {
		t.Fatalf("Archive: %d copies fetched", len(copies))
	}
	for _, m := range copies {
		i := slices.Index(wantDst, m.UID)
		if i < 0 {
			t.Errorf("Archive: unexpected UID %d", m.UID)
			continue
		}
		fixture := msgs[slices.Index(uids, src[i])]
		if string(m.FindBodySection(secAll)) != fixture.raw || m.RFC822Size != int64(len(fixture.raw)) {
			t.Errorf("Archive UID %d: not the bytes of UID %d", m.UID, src[i])
		}
		o := orig[src[i]]
		if o == nil {
			t.Errorf("UID %d was not fetched before COPY", src[i])
			continue
		}
		got, want := gicFlags(m.Flags), gicFlags(o.Flags)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Archive UID %d: flags %v, want those of UID %d at COPY time: %v", m.UID, m.Flags, src[i], o.Flags)
		}
		if !m.InternalDate.Equal(o.InternalDate) {
			t.Errorf("Archive UID %d: INTERNALDATE %v, want %v", m.UID, m.InternalDate, o.InternalDate)
		}
	}
}

func TestIMAPClientAppendMove(t *testing.T) {
	ts := newTestServer(t)
	msgs := []*gicMsg{gicPlain(), gicLunch()}
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, imap.UID(gicDeliver(t, ts, "INBOX", m.raw).UID))
	}
	c := gicLogin(t, ts, nil)
	if err := c.Create("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	gicSelect(t, c, "INBOX")

	// APPEND with flags and a date to the selected mailbox.
	mixed, _ := gicMixed()
	before, err := ts.store().Status("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2023, 11, 12, 13, 14, 15, 0, time.FixedZone("", -(3*3600+30*60)))
	const kw = imap.Flag("$Todo")
	ac := c.Append("INBOX", int64(len(mixed.raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged, kw}, Time: date})
	if _, err := ac.Write([]byte(mixed.raw)); err != nil {
		t.Fatal(err)
	}
	if err := ac.Close(); err != nil {
		t.Fatal(err)
	}
	ad, err := ac.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if ad.UIDValidity != before.UIDValidity || ad.UID != imap.UID(before.UIDNext) {
		t.Errorf("APPENDUID %d %d, want %d %d", ad.UIDValidity, ad.UID, before.UIDValidity, before.UIDNext)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if mb := c.Mailbox(); mb.NumMessages != uint32(len(msgs)+1) {
		t.Errorf("after APPEND the client counts %d messages, want %d", mb.NumMessages, len(msgs)+1)
	}
	secAll := &imap.FetchItemBodySection{Peek: true}
	got := gicFetchOne(t, c, imap.UIDSetNum(ad.UID), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		Envelope: true, BodySection: []*imap.FetchItemBodySection{secAll}})
	if !gicHasFlag(got.Flags, imap.FlagFlagged) || !gicHasFlag(got.Flags, kw) || gicHasFlag(got.Flags, imap.FlagSeen) {
		t.Errorf("appended flags %v, want \\Flagged %s", got.Flags, kw)
	}
	if !got.InternalDate.Equal(date) {
		t.Errorf("appended INTERNALDATE %v, want %v", got.InternalDate, date)
	}
	if got.RFC822Size != int64(len(mixed.raw)) || string(got.FindBodySection(secAll)) != mixed.raw || got.SeqNum != uint32(len(msgs)+1) {
		t.Errorf("appended message: seq %d size %d, want seq %d size %d and the same bytes", got.SeqNum, got.RFC822Size, len(msgs)+1, len(mixed.raw))
	}
	gicCheckEnvelope(t, "appended", got.Envelope, mixed)
	var imapErr *imap.Error
	ac = c.Append("Nowhere", int64(len(mixed.raw)), nil)
	ac.Write([]byte(mixed.raw))
	ac.Close()
	if _, err := ac.Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeTryCreate {
		t.Errorf("APPEND to a missing mailbox: %v, want NO [TRYCREATE]", err)
	}

	// UID MOVE with COPYUID; the source loses the message with EXPUNGE.
	if !c.Caps().Has(imap.CapMove) {
		t.Skip("MOVE not advertised")
	}
	dst, err := ts.store().Status("Archive")
	if err != nil {
		t.Fatal(err)
	}
	md, err := c.Move(imap.UIDSetNum(uids[0]), "Archive").Wait()
	if err != nil {
		t.Fatalf("UID MOVE: %v", err)
	}
	if md.UIDValidity != dst.UIDValidity || !slices.Equal(gicUIDs(md.SourceUIDs), []imap.UID{uids[0]}) ||
		!slices.Equal(gicUIDs(md.DestUIDs), []imap.UID{imap.UID(dst.UIDNext)}) {
		t.Errorf("MOVE COPYUID %d %v %v, want %d [%d] [%d]", md.UIDValidity, md.SourceUIDs, md.DestUIDs, dst.UIDValidity, uids[0], dst.UIDNext)
	}
	if mb := c.Mailbox(); mb.NumMessages != uint32(len(msgs)) {
		t.Errorf("after MOVE the client counts %d messages, want %d", mb.NumMessages, len(msgs))
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if want := []imap.UID{uids[1], ad.UID}; err != nil || !slices.Equal(d.AllUIDs(), want) {
		t.Errorf("UID SEARCH ALL after MOVE: %v %v, want %v", d, err, want)
	}
	gicSelect(t, c, "Archive")
	got = gicFetchOne(t, c, imap.UIDSetNum(imap.UID(dst.UIDNext)), &imap.FetchOptions{UID: true, Envelope: true, RFC822Size: true})
	if got.RFC822Size != int64(len(msgs[0].raw)) {
		t.Errorf("moved message: size %d, want %d", got.RFC822Size, len(msgs[0].raw))
	}
	gicCheckEnvelope(t, "moved", got.Envelope, msgs[0])
}

func TestIMAPClientIdle(t *testing.T) {
	ts := newTestServer(t)
	first := gicLunch()
	gicDeliver(t, ts, "INBOX", first.raw)

	exists := make(chan uint32, 64)
	expunges := make(chan uint32, 64)
	fetches := make(chan *imapclient.FetchMessageBuffer, 64)
	a := gicLogin(t, ts, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
		Expunge: func(seq uint32) { expunges <- seq },
		Fetch: func(m *imapclient.FetchMessageData) {
			if buf, err := m.Collect(); err == nil {
				fetches <- buf
			}
		},
	}})
	if !a.Caps().Has(imap.CapIdle) {
		t.Fatal("IDLE not advertised")
	}
	n := gicSelect(t, a, "INBOX").NumMessages
	if n != 1 {
		t.Fatalf("SELECT: %d messages, want 1", n)
	}
	idle, err := a.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	waitExists := func(what string, want uint32) {
		t.Helper()
		deadline := time.NewTimer(gicWait)
		defer deadline.Stop()
		for {
			select {
			case got := <-exists:
				if got == want {
					return
				}
				t.Errorf("%s: EXISTS %d, want %d", what, got, want)
			case <-deadline.C:
				t.Fatalf("%s: no EXISTS %d within %v", what, want, gicWait)
			}
		}
	}

	// Another client APPENDs.
	b := gicLogin(t, ts, nil)
	appended := gicPlain()
	ac := b.Append("INBOX", int64(len(appended.raw)), nil)
	if _, err := ac.Write([]byte(appended.raw)); err != nil {
		t.Fatal(err)
	}
	if err := ac.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Wait(); err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	waitExists("APPEND by another client", n+1)

	// Postfix writes into tmp/ and renames into new/, with LF line ends.
	external, _ := gicMixed()
	gicDeliverPostfix(t, ts.root, external.raw)
	waitExists("delivery into new/", n+2)

	// Another client's flag change and expunge reach the idler too.
	gicSelect(t, b, "INBOX")
	if _, err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-fetches:
		if m.SeqNum != 1 || !gicHasFlag(m.Flags, imap.FlagFlagged) {
			t.Errorf("unilateral FETCH %d %v, want 1 with \\Flagged", m.SeqNum, m.Flags)
		}
	case <-time.After(gicWait):
		t.Errorf("no unilateral FETCH for another client's STORE within %v", gicWait)
	}
	if _, err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if seqs, err := b.Expunge().Collect(); err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Fatalf("EXPUNGE by the other client: %v %v", seqs, err)
	}
	deadline := time.After(gicWait)
	for done := false; !done; {
		select {
		case m := <-fetches:
			// The \Deleted flag may be announced before the EXPUNGE.
			if m.SeqNum != 2 || !gicHasFlag(m.Flags, imap.FlagDeleted) {
				t.Errorf("unilateral FETCH %d %v before EXPUNGE", m.SeqNum, m.Flags)
			}
		case seq := <-expunges:
			if seq != 2 {
				t.Errorf("unilateral EXPUNGE %d, want 2", seq)
			}
			done = true
		case <-deadline:
			t.Fatalf("no unilateral EXPUNGE within %v", gicWait)
		}
	}

	if err := idle.Close(); err != nil {
		t.Fatalf("DONE: %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if mb := a.Mailbox(); mb.NumMessages != n+1 {
		t.Errorf("the idler counts %d messages, want %d", mb.NumMessages, n+1)
	}
	// The external delivery, now message 2: its size is that of its CRLF
	// form although the file has bare LFs.
	got := gicFetchOne(t, a, imap.SeqSetNum(2), &imap.FetchOptions{Envelope: true, RFC822Size: true})
	if got.RFC822Size != int64(len(external.raw)) {
		t.Errorf("delivered message: RFC822.SIZE %d, want %d", got.RFC822Size, len(external.raw))
	}
	gicCheckEnvelope(t, "delivered", got.Envelope, external)
	select {
	case e := <-exists:
		t.Errorf("unexpected EXISTS %d", e)
	default:
	}
	if err := a.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}
