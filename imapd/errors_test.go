package imapd

import (
	"fmt"
	"strings"
	"testing"

	"imapd/maildir"
)

// TestClassifyCannot checks that a refusal whose reason the user can act
// on (RENAME into its own child) says so, while other ErrCannot refusals
// keep the general text, and that neither carries the store's own words
// (folder names, paths).
func TestClassifyCannot(t *testing.T) {
	for _, tc := range []struct {
		err  error
		text string
	}{
		{fmt.Errorf("Work.Sub: %w", maildir.ErrRenameIntoChild), "Cannot rename a mailbox into itself or its own child"},
		{fmt.Errorf("rename /home/u/Maildir/.Work: %w", maildir.ErrRenameIntoChild), "Cannot rename a mailbox into itself or its own child"},
		{fmt.Errorf("INBOX: %w", maildir.ErrCannot), "Operation not permitted on this mailbox"},
	} {
		re, unexpected := classify(tc.err, false)
		if unexpected || re.status != "NO" || re.code != "CANNOT" || re.text != tc.text {
			t.Errorf("classify(%v) = %+v, %v; want NO [CANNOT] %s", tc.err, re, unexpected, tc.text)
		}
		if strings.Contains(re.text, "Work") || strings.Contains(re.text, "/") {
			t.Errorf("classify(%v) text %q leaks the store's details", tc.err, re.text)
		}
	}
}
