package imapd

import (
	"fmt"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// cmdCopy is COPY and UID COPY (RFC 3501 §6.4.7) with COPYUID (RFC
// 4315), and MOVE and UID MOVE (RFC 6851), whose COPYUID comes in an
// untagged OK before the EXPUNGEs.
func cmdCopy(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.CopyArgs)
	uids, err := s.resolveSet(a.Set, c.UID())
	if err != nil {
		return outcome{}, err
	}
	dst, err := mailboxName(a.Mailbox)
	if err != nil {
		return outcome{}, err
	}
	move := c.Name == "MOVE" || c.Name == "UID MOVE"
	if move && s.mbox.ReadOnly() {
		return outcome{}, no("READ-ONLY", "Mailbox is selected read-only")
	}
	if !s.store.Exists(dst) {
		return outcome{}, maildir.ErrNotFound
	}
	if len(uids) == 0 {
		return outcome{}, nil
	}
	var res maildir.Copied
	if move {
		res, err = s.mbox.Move(uids, dst)
	} else {
		res, err = s.mbox.Copy(uids, dst)
	}
	if err != nil {
		return outcome{}, err
	}
	if len(res.DstUIDs) == 0 {
		return outcome{}, nil
	}
	code := fmt.Sprintf("COPYUID %d %s %s", res.UIDValidity,
		wire.SeqSetOf(res.SrcUIDs).String(), wire.SeqSetOf(res.DstUIDs).String())
	if move {
		s.w.Status("", "OK", code, "Moved")
		return outcome{}, nil
	}
	return outcome{code: code, text: "COPY completed"}, nil
}
